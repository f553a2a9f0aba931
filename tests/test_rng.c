/* Philox4x32-10 known-answer tests (Random123's kat_vectors) and the
 * statistical sanity of the dropout keep decision. */
#include "rng.h"
#include "testutil.h"

static void check_kat(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1,
                      uint32_t e0, uint32_t e1, uint32_t e2, uint32_t e3) {
    Philox4 c = {{c0, c1, c2, c3}};
    Philox4 r = philox4x32_10(c, k0, k1);
    CU_ASSERT_EQUAL(r.v[0], e0);
    CU_ASSERT_EQUAL(r.v[1], e1);
    CU_ASSERT_EQUAL(r.v[2], e2);
    CU_ASSERT_EQUAL(r.v[3], e3);
}

static void test_philox_kat(void) {
    check_kat(0, 0, 0, 0, 0, 0, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u);
    check_kat(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu,
              0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu);
    check_kat(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u,
              0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u);
}

static void test_keep_rate(void) {
    /* 1e6 draws at p = 0.1: the keep fraction is within 5 sigma of 0.9
     * (sigma = sqrt(p(1-p)/n) = 3e-4). */
    const int n = 1000000;
    int kept = 0;
    for (int i = 0; i < n; i++) kept += rng_keep(42, 7, 3, (uint64_t)i, 0.1f);
    double frac = (double)kept / n;
    CU_ASSERT(frac > 0.9 - 0.0015 && frac < 0.9 + 0.0015);
    /* different streams / steps / seeds give different masks */
    int diff_stream = 0, diff_step = 0, diff_seed = 0;
    for (int i = 0; i < 1000; i++) {
        diff_stream += rng_keep(42, 7, 3, i, 0.5f) != rng_keep(42, 7, 4, i, 0.5f);
        diff_step += rng_keep(42, 7, 3, i, 0.5f) != rng_keep(42, 8, 3, i, 0.5f);
        diff_seed += rng_keep(42, 7, 3, i, 0.5f) != rng_keep(43, 7, 3, i, 0.5f);
    }
    CU_ASSERT(diff_stream > 400 && diff_step > 400 && diff_seed > 400);
    /* p = 0 keeps everything */
    int all = 1;
    for (int i = 0; i < 1000; i++) all &= rng_keep(1, 1, 1, i, 0.0f);
    CU_ASSERT(all);
}

int main(void) {
    static const TestCase tests[] = {{"philox4x32_10 known answers", test_philox_kat},
                                     {"dropout keep rate and independence", test_keep_rate},
                                     {NULL, NULL}};
    testutil_add_suite("rng", tests);
    return testutil_run_all();
}

/* rng_keep.c — dropout keep decisions, many Philox blocks at a time.
 * Bit-for-bit the same decisions as rng_keep() in impl/rng.h (the tests check
 * it); written as a loop over independent lanes so gcc vectorises the 10
 * Philox rounds. */
#include "cpu_internal.h"
#include "rng.h"

enum { RNG_LANES = 16 };

/* Philox4x32-10 of counters (q0 + l, stream, step) for l < RNG_LANES. The
 * 32-bit words live in 64-bit lanes so that the 32x32->64 products and their
 * high halves are plain 64-bit vector operations. */
static void philox_lanes(uint32_t out[4 * RNG_LANES], uint64_t seed, uint32_t step,
                         uint32_t stream, uint64_t q0) {
    uint32_t ks0[10], ks1[10]; /* key schedule: bumped by the Weyl constants */
    ks0[0] = (uint32_t)seed;
    ks1[0] = (uint32_t)(seed >> 32);
    for (int r = 1; r < 10; r++) {
        ks0[r] = ks0[r - 1] + 0x9E3779B9u;
        ks1[r] = ks1[r - 1] + 0xBB67AE85u;
    }
#pragma omp simd
    for (int l = 0; l < RNG_LANES; l++) {
        uint64_t q = q0 + (uint64_t)l;
        uint64_t c0 = q & 0xFFFFFFFFu, c1 = q >> 32, c2 = stream, c3 = step;
        for (int r = 0; r < 10; r++) { /* one round, as philox_round() */
            uint64_t p0 = 0xD2511F53u * c0;
            uint64_t p1 = 0xCD9E8D57u * c2;
            c0 = (p1 >> 32) ^ c1 ^ ks0[r];
            c2 = (p0 >> 32) ^ c3 ^ ks1[r];
            c1 = p1 & 0xFFFFFFFFu;
            c3 = p0 & 0xFFFFFFFFu;
        }
        out[4 * l + 0] = (uint32_t)c0; /* element 4q + w gets word w */
        out[4 * l + 1] = (uint32_t)c1;
        out[4 * l + 2] = (uint32_t)c2;
        out[4 * l + 3] = (uint32_t)c3;
    }
}

void cpu_rng_keep(uint8_t *keep, uint64_t seed, uint32_t step, uint32_t stream, uint64_t first,
                  size_t n, float p) {
    if (n == 0) return;
    uint64_t end = first + n;
    uint32_t out[4 * RNG_LANES];
    for (uint64_t q0 = first >> 2; q0 * 4 < end; q0 += RNG_LANES) {
        philox_lanes(out, seed, step, stream, q0);
        /* elements [e0, e0 + 4*RNG_LANES) of this group, clipped to [first, end) */
        uint64_t e0 = q0 * 4, lo = first > e0 ? first - e0 : 0;
        uint64_t hi = end - e0 < 4 * RNG_LANES ? end - e0 : 4 * RNG_LANES;
        uint8_t *dst = keep + (e0 + lo - first);
        for (uint64_t k = lo; k < hi; k++)
            dst[k - lo] = rng_u32_to_unit(out[k]) >= p;
    }
}

/* The CPU backend's fp32 linear layer on frozen, packed weights
 * (kernels/cpu/cpu_packed.h) against a double-precision reference, its
 * fallbacks (weights outside a frozen region, the heads' narrow outputs) and
 * the invalidation of packed copies when their block is freed. Skipped, with
 * the reason, where the build has no oneDNN or the CPU no AVX-512. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu/cpu_bf16.h"
#include "cpu/cpu_packed.h"
#include "rng.h"
#include "testutil.h"

static void fill(float *x, size_t n, uint32_t stream) {
    for (size_t i = 0; i < n; i++) x[i] = 2.0f * rng_uniform(11, 0, stream, i) - 1.0f;
}

/* out[n,o] = sum_c inp[n,c] w[o,c] (+ bias[o]) in double. */
static void reference(double *out, const float *inp, const float *w, const float *bias, int N, int C, int OC) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = bias ? bias[o] : 0.0;
            for (int c = 0; c < C; c++) s += (double)inp[(size_t)n * C + c] * w[(size_t)o * C + c];
            out[(size_t)n * OC + o] = s;
        }
}

/* |out - ref| <= 1e-6 * sum_c |inp w| + 1e-6: fp32 accumulation of C terms. */
static int close_to_reference(const float *out, const float *inp, const float *w, const float *bias, int N,
                              int C, int OC) {
    double *ref = malloc((size_t)N * OC * sizeof *ref);
    reference(ref, inp, w, bias, N, C, OC);
    double worst = 0.0;
    int ok = 1;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double mag = 0.0;
            for (int c = 0; c < C; c++) mag += fabs((double)inp[(size_t)n * C + c] * w[(size_t)o * C + c]);
            double d = fabs(out[(size_t)n * OC + o] - ref[(size_t)n * OC + o]);
            worst = d > worst ? d : worst;
            if (!(d <= 1e-6 * mag + 1e-6)) ok = 0;
        }
    free(ref);
    if (!ok) printf("\n  N %d C %d OC %d: max |out - reference| %.3g\n", N, C, OC, worst);
    return ok;
}

typedef struct {
    Backend *be;
    float *params; /* backend memory: w [OC,C] then bias [OC] */
    float *inp, *out;
} Fixture;

static int fixture_open(Fixture *f, int N, int C, int OC, uint32_t stream) {
    f->be = backend_cpu(2);
    char why[200] = "";
    f->params = f->be->alloc(f->be, ((size_t)OC * C + OC) * sizeof(float));
    fill(f->params, (size_t)OC * C + OC, stream);
    if (!f->be->freeze_weights(f->be, f->params, ((size_t)OC * C + OC) * sizeof(float), why, sizeof why)) {
        testutil_skip("packed fp32 linear", why);
        f->be->free(f->be, f->params);
        f->be->destroy(f->be);
        return 0;
    }
    f->inp = malloc((size_t)N * C * sizeof(float));
    f->out = malloc((size_t)N * OC * sizeof(float));
    fill(f->inp, (size_t)N * C, stream + 1);
    return 1;
}

static void fixture_close(Fixture *f) {
    free(f->inp);
    free(f->out);
    f->be->free(f->be, f->params);
    f->be->destroy(f->be);
}

static void test_against_reference(void) {
    static const int shapes[][3] = {{1, 384, 1152}, {7, 384, 384}, {45, 40, 48}, {130, 1536, 384}, {3, 17, 33}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int N = shapes[s][0], C = shapes[s][1], OC = shapes[s][2];
        Fixture f;
        if (!fixture_open(&f, N, C, OC, (uint32_t)(10 * s))) return;
        const float *w = f.params, *bias = f.params + (size_t)OC * C;
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            memset(f.out, 0xff, (size_t)N * OC * sizeof(float)); /* NaNs: every element must be written */
            f.be->matmul_forward(f.be, f.out, f.inp, w, with_bias ? bias : NULL, N, C, OC);
            CU_ASSERT(close_to_reference(f.out, f.inp, w, with_bias ? bias : NULL, N, C, OC));
        }
        char what[160];
        f.be->gemm_describe(f.be, what, sizeof what);
        CU_ASSERT(strstr(what, "oneDNN") != NULL && strstr(what, "1 f32 weights packed") != NULL);
        fixture_close(&f);
    }
}

/* The same call twice: the same bits (fixed blocking for a fixed thread count). */
static void test_repeatable(void) {
    const int N = 77, C = 384, OC = 1536;
    Fixture f;
    if (!fixture_open(&f, N, C, OC, 50)) return;
    float *again = malloc((size_t)N * OC * sizeof *again);
    const float *bias = f.params + (size_t)OC * C;
    f.be->matmul_forward(f.be, f.out, f.inp, f.params, bias, N, C, OC);
    f.be->matmul_forward(f.be, again, f.inp, f.params, bias, N, C, OC);
    CU_ASSERT(memcmp(f.out, again, (size_t)N * OC * sizeof *again) == 0);
    free(again);
    fixture_close(&f);
}

/* A weight outside every frozen region, and a head's 2 outputs, take the
 * OpenBLAS path: bitwise what an unfrozen backend computes. */
static void test_fallbacks(void) {
    const int N = 9, C = 64, OC = 48;
    Fixture f;
    if (!fixture_open(&f, N, C, OC, 60)) return;
    Backend *plain = backend_cpu(2);
    float *w = malloc((size_t)OC * C * sizeof *w), *want = malloc((size_t)N * OC * sizeof *want);
    fill(w, (size_t)OC * C, 61);
    f.be->matmul_forward(f.be, f.out, f.inp, w, NULL, N, C, OC);
    plain->matmul_forward(plain, want, f.inp, w, NULL, N, C, OC);
    CU_ASSERT(memcmp(f.out, want, (size_t)N * OC * sizeof *want) == 0);
    f.be->matmul_forward(f.be, f.out, f.inp, f.params, NULL, N, C, 2);
    plain->matmul_forward(plain, want, f.inp, f.params, NULL, N, C, 2);
    CU_ASSERT(memcmp(f.out, want, (size_t)N * 2 * sizeof *want) == 0);
    char what[160];
    f.be->gemm_describe(f.be, what, sizeof what);
    CU_ASSERT(strstr(what, "0 f32 weights packed") != NULL);
    plain->destroy(plain);
    free(w);
    free(want);
    fixture_close(&f);
}

/* Freeing a frozen block drops its packed copies: new weights frozen later,
 * even at the same address, are packed afresh. */
static void test_free_forgets(void) {
    const int N = 5, C = 384, OC = 384;
    const size_t bytes = (size_t)OC * C * sizeof(float); /* >= 2 MiB: mapped, often at the same address again */
    Fixture f;
    if (!fixture_open(&f, N, C, OC, 70)) return;
    f.be->matmul_forward(f.be, f.out, f.inp, f.params, NULL, N, C, OC);
    CU_ASSERT(close_to_reference(f.out, f.inp, f.params, NULL, N, C, OC));
    f.be->free(f.be, f.params);
    f.params = f.be->alloc(f.be, bytes + (size_t)OC * sizeof(float));
    fill(f.params, (size_t)OC * C, 71);
    CU_ASSERT(f.be->freeze_weights(f.be, f.params, bytes, NULL, 0) == 1);
    f.be->matmul_forward(f.be, f.out, f.inp, f.params, NULL, N, C, OC);
    CU_ASSERT(close_to_reference(f.out, f.inp, f.params, NULL, N, C, OC));
    fixture_close(&f);
}

/* The fused epilogues against the separate ops on the same frozen weights:
 * + add bitwise residual_forward after matmul_forward; GELU within 2e-6 of
 * gelu_forward (two erf approximations). Neither fuses where it must not. */
static void test_fused(void) {
    const int N = 33, C = 384, OC = 96;
    Fixture f;
    if (!fixture_open(&f, N, C, OC, 80)) return;
    const size_t n = (size_t)N * OC;
    float *add = malloc(n * sizeof *add), *lin = malloc(n * sizeof *lin), *want = malloc(n * sizeof *want);
    fill(add, n, 81);
    const float *w = f.params, *bias = f.params + (size_t)OC * C;
    f.be->matmul_forward(f.be, lin, f.inp, w, bias, N, C, OC);
    f.be->residual_forward(f.be, want, add, lin, n);
    CU_ASSERT(f.be->linear_fused(f.be, f.out, f.inp, w, bias, add, 0, N, C, OC) == 1);
    CU_ASSERT(memcmp(f.out, want, n * sizeof *want) == 0);
    f.be->gelu_forward(f.be, want, lin, n);
    CU_ASSERT(f.be->linear_fused(f.be, f.out, f.inp, w, bias, NULL, 1, N, C, OC) == 1);
    CU_ASSERT(testutil_allclose("fused GELU vs gelu_forward", f.out, want, n, 2e-6, 2e-6));
    memset(f.out, 0, n * sizeof *f.out);
    CU_ASSERT(f.be->linear_fused(f.be, f.out, f.inp, w, bias, add, 1, N, C, OC) == 0);
    CU_ASSERT(f.be->linear_fused(f.be, f.out, f.inp, add, NULL, NULL, 1, N, C, OC) == 0); /* not frozen */
    int untouched = 1;
    for (size_t i = 0; i < n; i++) untouched &= f.out[i] == 0.0f;
    CU_ASSERT(untouched);
    free(add);
    free(lin);
    free(want);
    fixture_close(&f);
}

/* The bf16 backend packs frozen weights as bf16 (rounded once, by
 * bf16_round): its linear against a double reference on the bf16-rounded
 * input and weight, with and without the GELU epilogue's linear part. */
static void test_bf16(void) {
    const int N = 21, C = 384, OC = 64;
    char why[200] = "";
    Backend *be = backend_cpu_bf16(2, why, sizeof why);
    if (!be) {
        testutil_skip("packed bf16 linear", why);
        return;
    }
    const size_t nw = (size_t)OC * C + OC;
    float *params = be->alloc(be, nw * sizeof(float));
    fill(params, nw, 90);
    CU_ASSERT(be->freeze_weights(be, params, nw * sizeof(float), why, sizeof why) == 1);
    float *inp = malloc((size_t)N * C * sizeof *inp), *out = malloc((size_t)N * OC * sizeof *out);
    float *ri = malloc((size_t)N * C * sizeof *ri), *rw = malloc((size_t)OC * C * sizeof *rw);
    fill(inp, (size_t)N * C, 91);
    for (size_t i = 0; i < (size_t)N * C; i++) ri[i] = bf16_to_float(bf16_round(inp[i]));
    for (size_t i = 0; i < (size_t)OC * C; i++) rw[i] = bf16_to_float(bf16_round(params[i]));
    const float *bias = params + (size_t)OC * C;
    be->matmul_forward(be, out, inp, params, bias, N, C, OC);
    CU_ASSERT(close_to_reference(out, ri, rw, bias, N, C, OC));
    char what[160];
    be->gemm_describe(be, what, sizeof what);
    CU_ASSERT(strstr(what, "1 bf16 weights packed") != NULL);
    free(inp), free(out), free(ri), free(rw);
    be->free(be, params);
    be->destroy(be);
}

int main(void) {
    static const TestCase tests[] = {{"packed linear vs double reference, with and without bias", test_against_reference},
                                     {"packed linear: the same bits twice", test_repeatable},
                                     {"unfrozen weights and narrow heads keep OpenBLAS", test_fallbacks},
                                     {"freeing a frozen block forgets its packed weights", test_free_forgets},
                                     {"fused GELU and residual epilogues vs the separate ops", test_fused},
                                     {"bf16: weights packed once as bf16 vs a double reference", test_bf16},
                                     {NULL, NULL}};
    testutil_add_suite("packed", tests);
    return testutil_run_all();
}

/* The bf16 CPU path (kernels/cpu/cpu_bf16.h): the rounding against an
 * independent definition, the oneDNN GEMM and the bf16 matmul op against the
 * double-precision naive reference fed the same bf16-rounded inputs, and
 * determinism; the small tile products of the bf16 attention
 * (kernels/cpu/tile_bf16.h) in every implementation this build and CPU have,
 * against the same reference. Without native bf16 on this CPU the GEMM cases
 * SKIP (the rounding cases, the portable tile product and the fp32 fallback
 * still run).
 *
 * Tolerances: with both inputs rounded to bf16 the products are exact in
 * fp32 (8-bit x 8-bit significands), so against the naive reference on the
 * same rounded inputs only the fp32 accumulation differs: K-term sums, K <=
 * ~1000, as DOT of test_backend_ops.c (atol 1e-4, rtol 1e-4). Against the
 * unrounded fp32 inputs the error is ~2^-9 relative per input, i.e. about
 * sqrt(K) * 2^-8 * |x||w| on a K-term sum: those differences are asserted to
 * be present (so the test would notice a bf16 path that silently ran fp32). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu/cpu_bf16.h"
#include "cpu/cpu_blas.h"
#include "cpu/tile_bf16.h"
#include "naive.h"
#include "rng.h"
#include "testutil.h"

#define TOL_DOT 1e-4, 1e-4

static Backend *bf; /* the bf16 backend (2 threads), NULL without native bf16 */
static char no_bf16[256];

/* ---- rounding ---------------------------------------------------------- */

/* Round to the nearest bf16, ties to even, by its definition: 8 significant
 * bits for normal numbers, a fixed spacing of 2^-133 below 2^-126. */
static float ref_round(float xf) {
    double x = xf;
    if (x == 0 || !isfinite(x)) return xf;
    double r;
    if (fabs(x) < ldexp(1.0, -126)) {
        r = nearbyint(ldexp(x, 133)) * ldexp(1.0, -133);
    } else {
        int e;
        double m = frexp(x, &e); /* |m| in [0.5, 1): 8 bits = m * 2^8 */
        r = ldexp(nearbyint(ldexp(m, 8)), e - 8);
    }
    return (float)r; /* 2^128 becomes inf, as it must */
}

static uint32_t bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static float from_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static int rounds_like_ref(float x) {
    float got = bf16_to_float(bf16_round(x)), want = ref_round(x);
    if (isnan(x)) return isnan(got);
    return bits(got) == bits(want);
}

static void test_round_edges(void) {
    const float cases[] = {0.0f, -0.0f, 1.0f, -1.0f, 1.00390625f /* 1 + 2^-8: tie, to even (1) */,
                           1.01171875f /* 1 + 3*2^-8: tie, to even (1 + 2^-6) */, 3.14159265f,
                           1e-40f /* subnormal */, -1e-45f, 3.389e38f /* rounds to inf */,
                           3.38e38f, INFINITY, -INFINITY, NAN, from_bits(0x7f800001u) /* sNaN */,
                           from_bits(0xff800001u), 65504.0f, 1.17549435e-38f /* min normal */};
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        if (!rounds_like_ref(cases[i])) {
            printf("    bf16_round(%a) = %a, definition %a\n", (double)cases[i],
                   (double)bf16_to_float(bf16_round(cases[i])), (double)ref_round(cases[i]));
            bad++;
        }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(bf16_round(1.00390625f), 0x3f80); /* tie to even, down */
    CU_ASSERT_EQUAL(bf16_round(1.01171875f), 0x3f82); /* tie to even, up */
    CU_ASSERT(isnan(bf16_to_float(bf16_round(from_bits(0x7f800001u))))); /* NaN stays NaN */
}

/* Every bf16 value is its own rounding; 2^24 float bit patterns spread over
 * the whole range (every 256th pattern) round as the definition says. */
static void test_round_sweep(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536u; h++) {
        float x = bf16_to_float((bf16)h);
        if (!isnan(x) && bf16_round(x) != h) bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    long worse = 0;
    for (uint64_t u = 0; u < (1ull << 32); u += 256 + 1) /* odd stride: all low bits occur */
        if (!rounds_like_ref(from_bits((uint32_t)u))) worse++;
    printf("    65,536 bf16 values fixed; 16.7M float patterns: %ld differ from the definition\n",
           worse);
    CU_ASSERT_EQUAL(worse, 0);
}

/* The vector rounding of the packers and of every GEMM input copy
 * (tb_round_row) gives bf16_round's bits, NaN payloads included, on the
 * same 16.7M patterns and on lengths that leave a scalar tail. */
static void test_round_vector(void) {
    enum { N = 4099 }; /* 256 vectors of 16 and a tail of 3 */
    float *x = malloc(N * sizeof *x);
    bf16 *got = malloc(N * sizeof *got);
    long bad = 0;
    uint64_t u = 0;
    while (u < (1ull << 32)) {
        int n = 0;
        for (; n < N && u < (1ull << 32); n++, u += 256 + 1) x[n] = from_bits((uint32_t)u);
        tb_round_row(got, x, n, N);
        for (int i = 0; i < N; i++) bad += got[i] != (i < n ? bf16_round(x[i]) : 0);
    }
    printf("    16.7M float patterns: %ld differ from bf16_round\n", bad);
    CU_ASSERT_EQUAL(bad, 0);
    free(x), free(got);
}

/* ---- GEMM and matmul ----------------------------------------------------- */

static float *rnd(size_t n, uint32_t stream) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = 2.0f * rng_uniform(77, 0, stream, i) - 1.0f;
    return x;
}

/* double copy of x, optionally rounded to bf16 first */
static double *dbl(const float *x, size_t n, int round) {
    double *d = malloc((n ? n : 1) * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = round ? bf16_to_float(bf16_round(x[i])) : x[i];
    return d;
}

static int close_to(const char *label, const float *got, const double *ref, size_t n) {
    float *r = malloc((n ? n : 1) * sizeof *r);
    for (size_t i = 0; i < n; i++) r[i] = (float)ref[i];
    int ok = testutil_allclose(label, got, r, n, TOL_DOT);
    free(r);
    return ok;
}

static double max_abs_diff(const float *a, const double *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

static int skip_without_bf16(const char *what) {
    if (bf) return 0;
    testutil_skip(what, no_bf16);
    return 1;
}

/* C = alpha op(A) op(B) + beta C in double, cblas row-major conventions. */
static void ref_gemm(int tA, int tB, int M, int N, int K, double alpha, const double *A, int lda,
                     const double *B, int ldb, double beta, double *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++)
                s += (tA ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]) *
                     (tB ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j]);
            C[(size_t)i * ldc + j] = alpha * s + beta * C[(size_t)i * ldc + j];
        }
}

/* One bf16_gemm against ref_gemm: transposes, alpha, beta 0/1, ld > cols. */
static void check_gemm(int tA, int tB, int M, int N, int K, float alpha, float beta, int pad) {
    int ra = tA ? K : M, ca = tA ? M : K, rb = tB ? N : K, cb = tB ? K : N;
    int lda = ca + pad, ldb = cb + pad, ldc = N + pad;
    float *a = rnd((size_t)ra * lda, 1), *b = rnd((size_t)rb * ldb, 2), *c = rnd((size_t)M * ldc, 3);
    bf16 *ah = malloc((size_t)ra * lda * sizeof *ah), *bh = malloc((size_t)rb * ldb * sizeof *bh);
    cpu_bf16_round_matrix(ah, a, ra, lda, lda, 2);
    cpu_bf16_round_matrix(bh, b, rb, ldb, ldb, 2);
    double *ra_ = dbl(a, (size_t)ra * lda, 1), *rb_ = dbl(b, (size_t)rb * ldb, 1);
    double *rc = dbl(c, (size_t)M * ldc, 0);
    Bf16Gemm *g = bf16_gemm_create(2);
    bf16_gemm(g, tA, tB, M, N, K, alpha, ah, lda, bh, ldb, beta, c, ldc);
    ref_gemm(tA, tB, M, N, K, alpha, ra_, lda, rb_, ldb, beta, rc, ldc);
    char label[96];
    snprintf(label, sizeof label, "bf16 gemm tA%d tB%d %dx%dx%d alpha %g beta %g", tA, tB, M, N, K,
             (double)alpha, (double)beta);
    CU_ASSERT(close_to(label, c, rc, (size_t)M * ldc));
    bf16_gemm_destroy(g);
    free(a), free(b), free(c), free(ah), free(bh), free(ra_), free(rb_), free(rc);
}

/* ---- the tile products of the bf16 attention (tile_bf16.h) --------------- */

/* B[k][n] of a pair-layout operand (tile_bf16.h) */
static float pair_at(const bf16 *b, int ldb, int k, int n) {
    return bf16_to_float(b[(size_t)(k / 2) * ldb + 2 * (size_t)n + k % 2]);
}

/* tb_gemm of one implementation on M x N x K (logical sizes padded to 32 by
 * the packers) vs the double product of the bf16 inputs; B packed both ways
 * (from [K][N] down, from [N][K] across) must be the same operand. acc: a
 * second product onto the first. */
static void check_tiles(const char *impl, int M, int N, int K) {
    int Mp = (M + 31) / 32 * 32, Np = (N + 31) / 32 * 32, Kp = (K + 31) / 32 * 32;
    float *a = rnd((size_t)M * K, 30), *bkn = rnd((size_t)K * N, 31), *bnk = malloc((size_t)N * K * sizeof *bnk);
    for (int k = 0; k < K; k++)
        for (int n = 0; n < N; n++) bnk[(size_t)n * K + k] = bkn[(size_t)k * N + n];
    bf16 *ap = malloc((size_t)Mp * Kp * sizeof *ap), *bd = malloc((size_t)Kp * Np * sizeof *bd),
         *ba = malloc((size_t)Kp * Np * sizeof *ba);
    tb_pack_rows(ap, Kp, a, K, M, K, Mp, Kp);
    tb_pack_pairs_down(bd, bkn, N, K, N, Kp, Np);
    tb_pack_pairs_across(ba, bnk, K, N, K, Np, Kp);
    int same = memcmp(bd, ba, (size_t)Kp * Np * sizeof *bd) == 0, pad_ok = 1;
    for (int k = 0; k < Kp; k++)
        for (int n = 0; n < Np; n++)
            if ((k >= K || n >= N) && pair_at(bd, 2 * Np, k, n) != 0.0f) pad_ok = 0;
    float *c = malloc((size_t)Mp * Np * sizeof *c);
    double *ref = calloc((size_t)M * N, sizeof *ref);
    for (int i = 0; i < M; i++)
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++)
                ref[(size_t)i * N + n] += 2.0 * bf16_to_float(ap[(size_t)i * Kp + k]) * pair_at(bd, 2 * Np, k, n);
    tb_begin();
    tb_gemm(c, Np, ap, Kp, bd, 2 * Np, Mp, Np, Kp, 0);
    tb_gemm(c, Np, ap, Kp, ba, 2 * Np, Mp, Np, Kp, 1); /* C += the same product: 2 A B */
    tb_end();
    float *got = malloc((size_t)M * N * sizeof *got);
    for (int i = 0; i < M; i++) memcpy(got + (size_t)i * N, c + (size_t)i * Np, (size_t)N * sizeof *got);
    char label[96];
    snprintf(label, sizeof label, "tile product (%s) %dx%dx%d, then accumulated", impl, M, N, K);
    CU_ASSERT(same && pad_ok);
    CU_ASSERT(close_to(label, got, ref, (size_t)M * N));
    free(a), free(bkn), free(bnk), free(ap), free(bd), free(ba), free(c), free(ref), free(got);
}

static void test_tiles(void) {
    const char *best = tb_impl();
    static const char *const impls[] = {"amx", "avx512_bf16", "portable"};
    int ran = 0;
    for (int i = 0; i < 3; i++) {
        if (!tb_select(impls[i])) {
            printf("    %s: not in this build or CPU\n", impls[i]);
            continue;
        }
        ran++;
        check_tiles(impls[i], 32, 32, 32);
        check_tiles(impls[i], 45, 37, 50);   /* every size padded, scalar packing edges */
        check_tiles(impls[i], 130, 96, 384); /* several blocks, long k */
    }
    CU_ASSERT(ran >= 1 && tb_select(best));
}

static void test_gemm(void) {
    if (skip_without_bf16("bf16 gemm")) return;
    for (int tA = 0; tA < 2; tA++)
        for (int tB = 0; tB < 2; tB++) {
            check_gemm(tA, tB, 37, 29, 53, 1.0f, 0.0f, 0);
            check_gemm(tA, tB, 64, 96, 300, 0.125f, 1.0f, 5);
        }
}

static void check_matmul(int N, int C, int OC) {
    size_t ni = (size_t)N * C, nw = (size_t)OC * C, no = (size_t)N * OC;
    float *x = rnd(ni, 10), *w = rnd(nw, 11), *bias = rnd(OC, 12), *out = rnd(no, 13);
    double *rx = dbl(x, ni, 1), *rw = dbl(w, nw, 1), *rbias = dbl(bias, OC, 0);
    double *fx = dbl(x, ni, 0), *fw = dbl(w, nw, 0);
    double *rout = malloc(no * sizeof *rout), *fout = malloc(no * sizeof *fout);
    bf->matmul_forward(bf, out, x, w, bias, N, C, OC);
    naive_matmul_forward(rout, rx, rw, rbias, N, C, OC);
    naive_matmul_forward(fout, fx, fw, rbias, N, C, OC);
    CU_ASSERT(close_to("bf16 matmul out vs naive on bf16 inputs", out, rout, no));
    double d_fp32 = max_abs_diff(out, fout, no);
    printf("    N=%d C=%d OC=%d: max |bf16 - fp32 reference| = %.2e (bf16 rounding visible)\n", N,
           C, OC, d_fp32);
    CU_ASSERT(d_fp32 > 1e-3); /* the inputs really were rounded */

    float *dout = rnd(no, 14), *dx = rnd(ni, 15), *dw = rnd(nw, 16), *db = rnd(OC, 17);
    double *rdout = dbl(dout, no, 1), *rdx = dbl(dx, ni, 0), *rdw = dbl(dw, nw, 0);
    double *rdb = dbl(db, OC, 0), *fdout = dbl(dout, no, 0);
    bf->matmul_backward(bf, dx, dw, db, dout, x, w, N, C, OC);
    naive_matmul_backward(rdx, rdw, NULL, rdout, rx, rw, N, C, OC);
    for (int n = 0; n < N; n++) /* dbias sums the fp32 dout */
        for (int o = 0; o < OC; o++) rdb[o] += fdout[(size_t)n * OC + o];
    CU_ASSERT(close_to("bf16 matmul dinp (accumulated)", dx, rdx, ni));
    CU_ASSERT(close_to("bf16 matmul dw (accumulated)", dw, rdw, nw));
    CU_ASSERT(close_to("bf16 matmul dbias (fp32, accumulated)", db, rdb, OC));
    free(x), free(w), free(bias), free(out), free(rx), free(rw), free(rbias), free(fx), free(fw);
    free(rout), free(fout), free(dout), free(dx), free(dw), free(db), free(rdout), free(rdx);
    free(rdw), free(rdb), free(fdout);
}

static void test_matmul(void) {
    if (skip_without_bf16("bf16 matmul")) return;
    check_matmul(13, 20, 36);
    check_matmul(130, 100, 200);
    check_matmul(300, 384, 96);
}

/* Two calls of the bf16 op on the same inputs give the same bits. */
static void test_repeat_bitwise(void) {
    if (skip_without_bf16("bf16 determinism")) return;
    int N = 512, C = 384, OC = 1152;
    size_t no = (size_t)N * OC, nw = (size_t)OC * C;
    float *x = rnd((size_t)N * C, 20), *w = rnd(nw, 21), *dout = rnd(no, 22);
    float *o1 = calloc(no, sizeof *o1), *o2 = calloc(no, sizeof *o2);
    float *w1 = calloc(nw, sizeof *w1), *w2 = calloc(nw, sizeof *w2);
    bf->matmul_forward(bf, o1, x, w, NULL, N, C, OC);
    bf->matmul_backward(bf, NULL, w1, NULL, dout, x, w, N, C, OC);
    bf->matmul_forward(bf, o2, x, w, NULL, N, C, OC);
    bf->matmul_backward(bf, NULL, w2, NULL, dout, x, w, N, C, OC);
    CU_ASSERT(memcmp(o1, o2, no * sizeof *o1) == 0);
    CU_ASSERT(memcmp(w1, w2, nw * sizeof *w1) == 0);
    free(x), free(w), free(dout), free(o1), free(o2), free(w1), free(w2);
}

/* backend_open: bf16 where the CPU has it, else fp32 and a note; bf16 that
 * is slower than fp32 here (Intel without AMX) with a note on its speed; the
 * BLAS note (cpu_blas.h) after it when OPENBLAS_CORETYPE holds OpenBLAS
 * below this CPU, and nothing else. */
static void test_open(void) {
    char why[512];
    const char *blas = cpu_blas_note();
    Backend *be = backend_open(DEVICE_CPU, 1, 0, PREC_BF16, why, sizeof why);
    CU_ASSERT_PTR_NOT_NULL_FATAL(be);
    if (blas) CU_ASSERT(strstr(why, blas) != NULL);
    if (bf && !cpu_bf16_slower_than_fp32()) {
        CU_ASSERT_EQUAL(be->precision, PREC_BF16);
        CU_ASSERT_STRING_EQUAL(why, blas ? blas : "");
    } else if (bf) { /* bf16 as asked, with a note on its speed */
        CU_ASSERT_EQUAL(be->precision, PREC_BF16);
        CU_ASSERT(strstr(why, "no AMX") != NULL);
    } else {
        CU_ASSERT_EQUAL(be->precision, PREC_FP32);
        CU_ASSERT(strstr(why, "running fp32") != NULL);
    }
    be->destroy(be);
    be = backend_open(DEVICE_CPU, 1, 0, PREC_FP32, why, sizeof why);
    CU_ASSERT_EQUAL(be->precision, PREC_FP32);
    be->destroy(be);
    Backend *gpu = backend_open(DEVICE_CUDA, 1, 0, PREC_BF16, why, sizeof why); /* a GPU: bf16 */
    if (gpu) {
        CU_ASSERT_EQUAL(gpu->precision, PREC_BF16);
        gpu->destroy(gpu);
    }
    CU_ASSERT_STRING_EQUAL(precision_name(PREC_BF16), "bf16");
    int p = -1;
    CU_ASSERT_EQUAL(enum_value(PRECISION_NAMES, "fp32", &p), 0);
    CU_ASSERT_EQUAL(p, PREC_FP32);
    CU_ASSERT_EQUAL(enum_value(PRECISION_NAMES, "fp16", &p), -1);
}

int main(void) {
    bf = backend_cpu_bf16(2, no_bf16, sizeof no_bf16);
    if (bf) printf("bf16 backend: oneDNN ISA %s\n", cpu_bf16_isa());
    static const TestCase tests[] = {
        {"bf16 rounding: edge cases", test_round_edges},
        {"bf16 rounding: every bf16 value, 16.7M float patterns", test_round_sweep},
        {"bf16 rounding, 16 lanes at a time == bf16_round, 16.7M float patterns", test_round_vector},
        {"bf16 tile products (every implementation here) vs naive on bf16 inputs", test_tiles},
        {"bf16 gemm (transposes, alpha, beta, ld) vs naive on bf16 inputs", test_gemm},
        {"bf16 matmul fwd/bwd vs naive on bf16 inputs", test_matmul},
        {"bf16 matmul: repeated calls bitwise equal", test_repeat_bitwise},
        {"backend_open with --precision bf16 (or its fp32 fallback)", test_open},
        {NULL, NULL}};
    testutil_add_suite("bf16", tests);
    int rc = testutil_run_all();
    if (bf) bf->destroy(bf);
    return rc;
}

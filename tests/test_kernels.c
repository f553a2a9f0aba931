/* What the op table of tests/test_backend_ops.c (every op on every backend
 * vs the naive reference) does not cover on the CPU: the vectorised dropout
 * RNG against the scalar rng_keep on all SIMD paths, the vectorised GELU
 * against its scalar formulas, edge cases (an out-of-range cross-entropy
 * target, sumsq's double accumulation), the memory ops, and determinism
 * (repeated runs and 1 vs 2 threads bitwise equal). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu/cpu_blas.h"
#include "cpu/cpu_internal.h"
#include "cpu/cpu_math.h"
#include "naive.h"
#include "profile_backend.h"
#include "rng.h"
#include "testutil.h"

static Backend *be2; /* 2 threads: the default of the dev box */
static Backend *be1; /* 1 thread, for thread-count comparisons */

/* ---- data helpers --------------------------------------------------------- */

/* Deterministic uniform floats in [lo, hi) from Philox stream `stream`. */
static float *rnd(size_t n, uint32_t stream, float lo, float hi) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_uniform(1234, 0, stream, i);
    return x;
}

static double *dbl(const float *x, size_t n) {
    double *d = malloc((n ? n : 1) * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static int *rnd_ints(size_t n, uint32_t stream, int hi) {
    int *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (int)(rng_uniform(99, 0, stream, i) * (float)hi) % hi;
    return x;
}

/* ---- RNG ---------------------------------------------------------------- */

typedef void (*RngKeepFn)(uint8_t *, uint64_t, uint32_t, uint32_t, uint64_t, size_t, float);
/* rng_keep.c built again with AVX-512 off (its AVX2 path) and with AVX2 off
 * too (its portable path), so every build checks all three (Makefile). */
void cpu_rng_keep_avx2(uint8_t *keep, uint64_t seed, uint32_t step, uint32_t stream,
                       uint64_t first, size_t n, float p);
void cpu_rng_keep_portable(uint8_t *keep, uint64_t seed, uint32_t step, uint32_t stream,
                           uint64_t first, size_t n, float p);

/* Mismatches of fn against the scalar rng_keep() over offsets that start and
 * end inside and across groups, and p values at the edges of the threshold
 * (0, one step of 2^-24, just below 1, and 1 itself). */
static int rng_keep_mismatches(RngKeepFn fn) {
    /* the last two: counters q = first/4 at the 2^32 carry into the high word */
    const uint64_t firsts[] = {0, 1, 2, 3, 5, 63, 64, 65, 1000003, (1ull << 32) - 3,
                               (4ull << 32) - 6, (4ull << 32) + 1};
    const size_t ns[] = {1, 3, 4, 7, 64, 65, 200, 4099};
    /* the last p is replaced by the uniform of the middle element, which then
     * sits exactly on the threshold (kept: u >= p) */
    float ps[] = {0.0f, 0.1f, 0.3f, 0.5f, 1.0f / 16777216.0f, 0.99999994f, 1.0f, -1.0f};
    const size_t np = sizeof ps / sizeof ps[0];
    const uint64_t seed = 0x0123456789abcdefull;
    uint8_t keep[4099];
    int bad = 0;
    for (size_t c = 0; c < np; c++)
        for (size_t a = 0; a < sizeof firsts / sizeof firsts[0]; a++)
            for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++) {
                if (c == np - 1) ps[c] = rng_uniform(seed, 17, 5, firsts[a] + ns[b] / 2);
                fn(keep, seed, 17, 5, firsts[a], ns[b], ps[c]);
                for (size_t k = 0; k < ns[b]; k++)
                    bad += keep[k] != rng_keep(seed, 17, 5, firsts[a] + k, ps[c]);
            }
    return bad;
}

static void test_rng_keep_matches_scalar(void) {
    int bad = rng_keep_mismatches(cpu_rng_keep);
    printf("    vectorised keep (native build) vs rng_keep: %d mismatches\n", bad);
    CU_ASSERT_EQUAL(bad, 0);
    bad = rng_keep_mismatches(cpu_rng_keep_portable);
    printf("    portable keep vs rng_keep: %d mismatches\n", bad);
    CU_ASSERT_EQUAL(bad, 0);
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) {
        bad = rng_keep_mismatches(cpu_rng_keep_avx2);
        printf("    AVX2 keep vs rng_keep: %d mismatches\n", bad);
        CU_ASSERT_EQUAL(bad, 0);
    } else {
        printf("    AVX2 keep: not checked, this CPU has no AVX2\n");
    }
}


/* ---- GELU ------------------------------------------------------------------ */

/* Bits equal, or both NaN. */
static int same_float(float a, float b) {
    return (isnan(a) && isnan(b)) || !memcmp(&a, &b, sizeof a);
}

/* The backend's GELU (16 lanes at a time where AVX-512 is built in, blocks
 * over threads) against the scalar formulas of cpu_math.h, element by element
 * and bit for bit: specials, both tails, the exp cut-off near |x| = 13.2 and
 * random values; n is not a multiple of 16 or of the blocks, so every path
 * (vector body, scalar tail, a short last block) runs. */
static void test_gelu_matches_scalar(void) {
    const float specials[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-45f, -1e-45f, 0.5f, -0.5f,
                              1.0f, -1.0f, 3.0f, -3.0f, 5.5f, -5.5f, 9.0f, -9.0f, 13.2f, -13.2f,
                              13.3f, -13.3f, 20.0f, -20.0f, 1e10f, -1e10f, 3e38f, -3e38f,
                              INFINITY, -INFINITY, NAN, -NAN};
    const size_t nspec = sizeof specials / sizeof specials[0];
    const size_t n = 40000 + 37;
    float *x = rnd(n, 71, -16.0f, 16.0f), *dout = rnd(n, 72, -2.0f, 2.0f);
    for (size_t i = 0; i < nspec; i++) x[i * 997] = specials[i];
    float *y = malloc(n * sizeof *y), *dx = rnd(n, 73, -1.0f, 1.0f), *dx0 = malloc(n * sizeof *dx0);
    memcpy(dx0, dx, n * sizeof *dx);
    int bad_fwd = 0, bad_bwd = 0;
    Backend *bes[2] = {be1, be2};
    for (int k = 0; k < 2; k++) {
        memcpy(dx, dx0, n * sizeof *dx);
        bes[k]->gelu_forward(bes[k], y, x, n);
        bes[k]->gelu_backward(bes[k], dx, x, dout, n);
        for (size_t i = 0; i < n; i++) {
            float xi = x[i];
            bad_fwd += !same_float(y[i], xi * cpu_normcdf(xi));
            bad_bwd += !same_float(dx[i], dx0[i] + dout[i] * (cpu_normcdf(xi) + xi * cpu_normpdf(xi)));
        }
    }
    printf("    GELU vs the scalar formulas, %zu values x 2 thread counts: %d forward, %d backward mismatches\n",
           n, bad_fwd, bad_bwd);
    CU_ASSERT_EQUAL(bad_fwd, 0);
    CU_ASSERT_EQUAL(bad_bwd, 0);
    free(x), free(dout), free(y), free(dx), free(dx0);
}

/* ---- attention ------------------------------------------------------------- */

/* Mask patterns for batch row b: 0 all real, 1 padded tail, 2 only position
 * 0 real, 3 holes in the middle, 4 no real token at all. */
static int *make_mask(int B, int T, const int *pattern) {
    int *m = malloc((size_t)B * T * sizeof *m);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int v = 1;
            switch (pattern[b]) {
            case 1: v = t < (T + 1) / 2; break;
            case 2: v = t == 0; break;
            case 3: v = (t % 3) != 1 && t < T - 1; break;
            case 4: v = 0; break;
            default: v = 1;
            }
            m[b * T + t] = v;
        }
    return m;
}

/* ---- cross-entropy ------------------------------------------------------------ */

/* A target outside [0, V) gives NaN, not a crash (the values: test_backend_ops). */
static void test_crossentropy_bad_target(void) {
    float logits[3] = {1, 2, 3}, loss, probs[3], dl[3] = {0, 0, 0};
    int bad = 7;
    be2->crossentropy_forward(be2, &loss, probs, logits, &bad, 1, 3);
    be2->crossentropy_backward(be2, dl, probs, &bad, 1.0f, 1, 3);
    CU_ASSERT(isnan(loss));
    CU_ASSERT(dl[0] == 0 && dl[1] == 0 && dl[2] == 0);
}

/* ---- sum of squares ------------------------------------------------------- */

/* sumsq accumulates the float squares (exact in double) in double: equal to
 * the naive double sum to 1e-12 relative (the values of every op:
 * test_backend_ops). */
static void test_sumsq_double(void) {
    const size_t n = 100003;
    float *x = rnd(n, 90, -3, 3);
    double *rx = dbl(x, n);
    double s = be2->sumsq(be2, x, n), rs = naive_sumsq(rx, n);
    printf("    sumsq %.17g vs %.17g (rel %.2e)\n", s, rs, fabs(s - rs) / rs);
    CU_ASSERT(fabs(s - rs) <= 1e-12 * rs);
    CU_ASSERT(be2->sumsq(be2, x, 0) == 0.0);
    free(x), free(rx);
}

/* ---- memory ops -------------------------------------------------------------- */

static void test_memory(void) {
    float host[37], back[37];
    for (int i = 0; i < 37; i++) host[i] = (float)i * 0.5f;
    float *a = be2->alloc(be2, sizeof host), *b = be2->alloc(be2, sizeof host);
    int zeroed = 1;
    for (int i = 0; i < 37; i++) zeroed &= a[i] == 0.0f;
    CU_ASSERT(zeroed);
    be2->upload(be2, a, host, sizeof host);
    be2->copy(be2, b, a, sizeof host);
    be2->download(be2, back, b, sizeof host);
    be2->sync(be2);
    CU_ASSERT(memcmp(back, host, sizeof host) == 0);
    be2->zero(be2, b, sizeof host);
    CU_ASSERT(b[36] == 0.0f);
    be2->free(be2, a);
    be2->free(be2, b);
}

/* ---- determinism ------------------------------------------------------------ */

/* Runs a training-like sequence of ops on one backend and returns every output
 * concatenated, so that two runs can be compared bit for bit. */
enum { DB = 3, DT = 13, DC = 36, DNH = 3, DOC = 100 };

enum { MAX_OUTS = 64 };
typedef struct {
    float *buf;
    size_t n, cap;
    size_t start[MAX_OUTS]; /* where each kept output begins in buf */
    int count;
} Outs;

static void keep_out(Outs *o, const float *x, size_t n) {
    CU_ASSERT_FATAL(o->count < MAX_OUTS);
    o->start[o->count++] = o->n;
    if (o->n + n > o->cap) {
        o->cap = (o->n + n) * 2;
        o->buf = realloc(o->buf, o->cap * sizeof *o->buf);
    }
    memcpy(o->buf + o->n, x, n * sizeof *x);
    o->n += n;
}

/* Output blocks: [0] embed..layernorm (non-BLAS), [1] matmul + attention (BLAS),
 * [2] gelu, dropout, cross-entropy, sumsq (non-BLAS). */
typedef struct {
    size_t end_nonblas1, end_blas;
} Blocks;

/* A GEMM big enough to be split over threads (mini preset's QKV shape). */
static void keep_big_matmul(Backend *be, Outs *o) {
    enum { N = 256, C = 256, OC = 768 };
    float *x = rnd(N * C, 13, -1, 1), *w = rnd(OC * C, 14, -1, 1), *b = rnd(OC, 15, -1, 1);
    float *out = malloc(N * OC * 4), *dx = calloc(N * C, 4), *dw = calloc(OC * C, 4),
          *db = calloc(OC, 4);
    be->matmul_forward(be, out, x, w, b, N, C, OC);
    be->matmul_backward(be, dx, dw, db, out, x, w, N, C, OC);
    keep_out(o, out, N * OC), keep_out(o, dx, N * C), keep_out(o, dw, OC * C), keep_out(o, db, OC);
    free(x), free(w), free(b), free(out), free(dx), free(dw), free(db);
}

static Outs run_sequence(Backend *be, Blocks *blk) {
    Outs o = {0};
    const size_t N = DB * DT, n = N * DC, nqkv = n * 3, natt = (size_t)DB * DNH * DT * DT;
    static const int pat[DB] = {0, 1, 3};
    int *mask = make_mask(DB, DT, pat), *ids = rnd_ints(N, 1, 50), *tt = rnd_ints(N, 2, 2);
    float *wte = rnd(50 * DC, 3, -1, 1), *wpe = rnd(DT * DC, 4, -1, 1), *wtt = rnd(2 * DC, 5, -1, 1);
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *mean = malloc(N * 4),
          *rstd = malloc(N * 4);
    float *w = rnd(DC, 6, 0.5f, 1.5f), *bb = rnd(DC, 7, -1, 1), *dw = calloc(DC, 4),
          *db = calloc(DC, 4), *dx = calloc(n, 4), *dwte = calloc(50 * DC, 4),
          *dwpe = calloc(DT * DC, 4), *dwtt = calloc(2 * DC, 4);
    be->embed_forward(be, x, ids, tt, wte, wpe, wtt, DB, DT, DC);
    be->layernorm_forward(be, y, mean, rstd, x, w, bb, N, DC, 1e-12f);
    be->layernorm_backward(be, dx, dw, db, x, y, w, mean, rstd, N, DC);
    be->embed_backward(be, dwte, dwpe, dwtt, dx, ids, tt, DB, DT, DC);
    keep_out(&o, y, n), keep_out(&o, dx, n), keep_out(&o, dw, DC), keep_out(&o, db, DC);
    keep_out(&o, dwte, 50 * DC), keep_out(&o, dwpe, DT * DC), keep_out(&o, dwtt, 2 * DC);
    blk->end_nonblas1 = o.n;

    float *wq = rnd(3 * DC * DC, 8, -0.2f, 0.2f), *bq = rnd(3 * DC, 9, -0.1f, 0.1f);
    float *qkv = malloc(nqkv * 4), *att = malloc(natt * 4), *scr = malloc((4 * n + natt) * 4),
          *ao = malloc(n * 4), *dqkv = calloc(nqkv, 4), *dwq = calloc(3 * DC * DC, 4),
          *dbq = calloc(3 * DC, 4), *dy = calloc(n, 4);
    be->matmul_forward(be, qkv, y, wq, bq, N, DC, 3 * DC);
    be->attention_forward(be, ao, att, scr, qkv, mask, DB, DT, DC, DNH, 0.1f, 11, 2, 3, 0);
    be->attention_backward(be, dqkv, scr, x, qkv, att, mask, DB, DT, DC, DNH, 0.1f, 11, 2, 3, 0);
    be->matmul_backward(be, dy, dwq, dbq, dqkv, y, wq, N, DC, 3 * DC);
    keep_out(&o, qkv, nqkv), keep_out(&o, att, natt), keep_out(&o, ao, n);
    keep_out(&o, dqkv, nqkv), keep_out(&o, dy, n), keep_out(&o, dwq, 3 * DC * DC),
        keep_out(&o, dbq, 3 * DC);
    keep_big_matmul(be, &o);
    blk->end_blas = o.n;

    float *h = malloc(nqkv * 4), *dh = calloc(nqkv, 4), *probs = malloc(nqkv * 4),
          *loss = malloc(N * 3 * 4);
    int *tg = rnd_ints(N * 3, 12, DC);
    be->gelu_forward(be, h, qkv, nqkv);
    be->dropout_forward(be, h, h, nqkv, 0.1f, 1, 2, 3, 0);
    be->gelu_backward(be, dh, qkv, h, nqkv);
    be->dropout_backward(be, dh, h, nqkv, 0.1f, 1, 2, 4, 0);
    be->crossentropy_forward(be, loss, probs, h, tg, N * 3, DC);
    be->crossentropy_backward(be, dh, probs, tg, 0.5f, N * 3, DC);
    float ss = (float)be->sumsq(be, dh, nqkv);
    keep_out(&o, h, nqkv), keep_out(&o, dh, nqkv), keep_out(&o, probs, nqkv),
        keep_out(&o, loss, N * 3), keep_out(&o, &ss, 1);

    free(mask), free(ids), free(tt), free(wte), free(wpe), free(wtt), free(x), free(y);
    free(mean), free(rstd), free(w), free(bb), free(dw), free(db), free(dx), free(dwte);
    free(dwpe), free(dwtt), free(wq), free(bq), free(qkv), free(att), free(scr), free(ao);
    free(dqkv), free(dwq), free(dbq), free(dy), free(h), free(dh), free(probs), free(loss), free(tg);
    return o;
}

static int same_bits(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof *a) == 0;
}

/* Each kept output of a close to b's: |a - b| <= 1e-5 max(1, max|b|) + 1e-4 |b|
 * per element. A GEMM whose K-order changes with the thread count (OpenBLAS's
 * Haswell kernels, 1 vs 2 threads: 2.3e-5 on an element of 0.074 in a dx of
 * magnitude ~80, from cancellation) errs in proportion to its terms, which
 * max|b| stands for; a wrong block or a race errs by O(1) and still fails. */
static int outputs_close(const Outs *a, const Outs *b) {
    int ok = 1;
    for (int i = 0; i < b->count; i++) {
        size_t from = b->start[i], to = i + 1 < b->count ? b->start[i + 1] : b->n;
        double big = 1.0;
        for (size_t j = from; j < to; j++) big = fmax(big, fabs((double)b->buf[j]));
        char label[48];
        snprintf(label, sizeof label, "1 vs 2 threads, output %d", i);
        if (!same_bits(a->buf + from, b->buf + from, to - from))
            ok &= testutil_allclose(label, a->buf + from, b->buf + from, to - from, 1e-5 * big, 1e-4);
    }
    return ok;
}


static void test_determinism_repeat(void) {
    Blocks k1, k2;
    Outs a = run_sequence(be2, &k1), b = run_sequence(be2, &k2);
    CU_ASSERT_EQUAL(a.n, b.n);
    int same = a.n == b.n && same_bits(a.buf, b.buf, a.n);
    printf("    two runs, 2 threads: %zu outputs %s\n", a.n, same ? "bitwise identical" : "DIFFER");
    CU_ASSERT(same);
    free(a.buf), free(b.buf);
}

/* What holds across thread counts: every op we wrote ourselves is bitwise
 * independent of the thread count (fixed chunks, fixed per-element order), and
 * this is asserted. The GEMM blocks given to OpenBLAS change with the thread
 * count; OpenBLAS keeps each element's K-order for a row/column split, so the
 * BLAS ops are identical too on this machine's OpenBLAS; that part is printed,
 * and checked only to be close, since another BLAS build need not keep it. */
static void test_determinism_threads(void) {
    Blocks k1, k2;
    Outs a = run_sequence(be1, &k1), b = run_sequence(be2, &k2);
    CU_ASSERT_EQUAL(a.n, b.n);
    if (a.n != b.n) return;
    int same_pre = same_bits(a.buf, b.buf, k1.end_nonblas1);
    int same_blas = same_bits(a.buf + k1.end_nonblas1, b.buf + k1.end_nonblas1,
                              k1.end_blas - k1.end_nonblas1);
    printf("    1 vs 2 threads: non-BLAS ops %s; BLAS ops (matmul, attention) %s\n",
           same_pre ? "bitwise identical" : "DIFFER", same_blas ? "bitwise identical" : "differ");
    CU_ASSERT(same_pre);
    CU_ASSERT(outputs_close(&a, &b));
    if (same_blas) { /* with identical inputs the later non-BLAS ops must agree too */
        CU_ASSERT(same_bits(a.buf + k1.end_blas, b.buf + k1.end_blas, a.n - k1.end_blas));
    }
    free(a.buf), free(b.buf);
}

/* The LoRA ops, no BLAS among them (lora_merge, lora_forward with out NULL,
 * lora_backward with dinp and u NULL, as the model runs it on merged
 * weights), 1 vs 2 threads,
 * at a shape whose backward splits into several tasks of several chunks
 * (kernels/cpu/lora.c): bitwise the same. */
static void lora_outputs(Backend *be, float *out, int N, int C, int R, int OC) {
    float *x = rnd((size_t)N * C, 60, -1, 1), *a = rnd((size_t)R * C, 61, -1, 1);
    float *b = rnd((size_t)OC * R, 62, -1, 1), *w = rnd((size_t)OC * C, 63, -1, 1);
    float *dout = rnd((size_t)N * OC, 64, -1, 1);
    float *da = out, *db = da + (size_t)R * C, *du = db + (size_t)OC * R, *u2 = du + (size_t)N * R;
    float *w_eff = u2 + (size_t)N * R;
    memset(out, 0, ((size_t)R * C + (size_t)OC * R + 2 * (size_t)N * R) * sizeof *out);
    be->lora_merge(be, w_eff, w, a, b, OC, C, R, 2.0f);
    be->lora_forward(be, NULL, u2, x, a, b, N, C, R, OC, 2.0f);
    be->lora_backward(be, NULL, da, db, du, dout, x, NULL, a, b, N, C, R, OC, 2.0f);
    free(x), free(a), free(b), free(w), free(dout);
}

/* The backward without the saved u recomputes it bitwise as the forward
 * does, so its outputs equal those of the backward given the forward's u. */
static void test_lora_recomputed_u(void) {
    const int N = 1300, C = 100, R = 8, OC = 150;
    float *x = rnd((size_t)N * C, 60, -1, 1), *a = rnd((size_t)R * C, 61, -1, 1);
    float *b = rnd((size_t)OC * R, 62, -1, 1), *dout = rnd((size_t)N * OC, 64, -1, 1);
    float *u = malloc((size_t)N * R * sizeof *u);
    size_t n = (size_t)R * C + (size_t)OC * R + (size_t)N * R;
    float *g1 = calloc(n, sizeof *g1), *g2 = calloc(n, sizeof *g2);
    be2->lora_forward(be2, NULL, u, x, a, b, N, C, R, OC, 2.0f);
    be2->lora_backward(be2, NULL, g1, g1 + (size_t)R * C, g1 + (size_t)R * C + (size_t)OC * R, dout, x, u, a, b,
                       N, C, R, OC, 2.0f);
    be2->lora_backward(be2, NULL, g2, g2 + (size_t)R * C, g2 + (size_t)R * C + (size_t)OC * R, dout, x, NULL, a,
                       b, N, C, R, OC, 2.0f);
    int same = same_bits(g1, g2, n);
    printf("    da, db, du with u saved vs recomputed: %s\n", same ? "bitwise identical" : "DIFFER");
    CU_ASSERT(same);
    free(x), free(a), free(b), free(dout), free(u), free(g1), free(g2);
}

static void test_lora_threads(void) {
    const int N = 1300, C = 100, R = 8, OC = 150;
    size_t n = (size_t)R * C + (size_t)OC * R + 2 * (size_t)N * R + (size_t)OC * C;
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    lora_outputs(be1, a, N, C, R, OC);
    lora_outputs(be2, b, N, C, R, OC);
    int same = same_bits(a, b, n);
    printf("    LoRA merge, forward (u), backward, N %d: 1 vs 2 threads %s\n", N,
           same ? "bitwise identical" : "DIFFER");
    CU_ASSERT(same);
    free(a), free(b);
}

/* Every op of kernels/ops.h is filled by the CPU backend and by the profiler
 * wrapped around it; a missing one is named (the check can fail). */
static void test_every_op_filled(void) {
    CU_ASSERT_PTR_NULL(backend_missing_op(be1));
    Backend *prof = backend_profiled(backend_cpu(1));
    CU_ASSERT_PTR_NULL(backend_missing_op(prof));
    const ProfileOp *ops;
    CU_ASSERT_EQUAL(profile_ops(prof, &ops), NUM_OPS);
    for (int i = 0; i < NUM_OPS; i++) CU_ASSERT_STRING_EQUAL(ops[i].name, op_name(i));
    prof->destroy(prof);
    Backend copy = *be1;
    copy.attention_backward = NULL;
    const char *missing = backend_missing_op(&copy);
    CU_ASSERT(missing && !strcmp(missing, "attention_backward"));
    copy = *be1;
    copy.download = NULL;
    missing = backend_missing_op(&copy);
    CU_ASSERT(missing && !strcmp(missing, "download"));
    CU_ASSERT_STRING_EQUAL(op_name(OP_matmul_forward), "matmul_forward");
    CU_ASSERT_PTR_NULL(op_name(NUM_OPS));
}

/* Which OpenBLAS cores lack instructions the CPU has (the BLAS note and the
 * in-process fix): the pre-AVX2 fallbacks everywhere, the AVX2 cores only
 * where the CPU runs the AVX-512 (SkylakeX) kernels; none without an opinion. */
static void test_blas_core_below(void) {
    CU_ASSERT(cpu_blas_core_below("Prescott", "Haswell"));
    CU_ASSERT(cpu_blas_core_below("prescott", "SkylakeX"));
    CU_ASSERT(cpu_blas_core_below("Sandybridge", "SkylakeX"));
    CU_ASSERT(cpu_blas_core_below("Haswell", "SkylakeX"));
    CU_ASSERT(cpu_blas_core_below("Zen", "SkylakeX"));
    CU_ASSERT_FALSE(cpu_blas_core_below("Haswell", "Haswell"));
    CU_ASSERT_FALSE(cpu_blas_core_below("Zen", "Haswell"));
    CU_ASSERT_FALSE(cpu_blas_core_below("SkylakeX", "SkylakeX"));
    CU_ASSERT_FALSE(cpu_blas_core_below("Cooperlake", "SkylakeX"));
    CU_ASSERT_FALSE(cpu_blas_core_below("SapphireRapids", "SkylakeX"));
    CU_ASSERT_FALSE(cpu_blas_core_below("Prescott", NULL));
    CU_ASSERT_FALSE(cpu_blas_core_below(NULL, "SkylakeX"));
}

int main(void) {
    be1 = backend_cpu(1);
    be2 = backend_cpu(2);
    static const TestCase tests[] = {
        {"every op of kernels/ops.h filled (CPU, profiler)", test_every_op_filled},
        {"OpenBLAS cores below the CPU's", test_blas_core_below},
        {"vectorised dropout RNG == rng_keep", test_rng_keep_matches_scalar},
        {"vectorised GELU == the scalar formulas, bitwise", test_gelu_matches_scalar},
        {"cross-entropy: a target out of range gives NaN", test_crossentropy_bad_target},
        {"sumsq in double vs naive (1e-12)", test_sumsq_double},
        {"memory ops", test_memory},
        {"determinism: repeated runs bitwise equal", test_determinism_repeat},
        {"determinism: 1 vs 2 threads", test_determinism_threads},
        {"determinism: LoRA ops, 1 vs 2 threads", test_lora_threads},
        {"LoRA backward: u recomputed = u saved, bitwise", test_lora_recomputed_u},
        {NULL, NULL}};
    testutil_add_suite("kernels", tests);
    int rc = testutil_run_all();
    be1->destroy(be1);
    be2->destroy(be2);
    return rc;
}

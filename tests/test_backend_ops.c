/* One table of op cases (every op of kernels/ops.h, forward and backward,
 * odd sizes, masks, dropout, accumulation onto non-zero gradients) run on
 * every backend present and compared with the double-precision naive
 * reference behind the same Backend interface (reference/naive_backend.h):
 * ggml's test-backend-ops idea. Each backend also runs every case twice and
 * must give the same bits.
 *
 * Backends: the CPU with 1 and 2 threads; the CPU in bf16 (where the CPU has
 * native bf16); CUDA in fp32, TF32 and bf16 (where a GPU is usable). A bf16
 * backend is compared with the bf16 reference (the matmul inputs rounded to
 * bf16 before the double product), so only the fp32 sums' order differs. A
 * backend that is absent prints SKIP with the reason; tests/run_tests.sh
 * counts it.
 *
 * Tolerances (fp32 results vs the double reference on inputs of size ~1):
 *   ELEM  a few roundings:                                atol 1e-6, rtol 1e-5
 *   FUNC  vectorised / CUDA exp and erf (~2 ulp, Phi to 1.5e-7 absolute)
 *         times |x| <= 20 in GELU:                        atol 4e-6, rtol 1e-5
 *   DOT   K-term sums, K <= ~1000 (error ~ sqrt(K) eps |terms|, BLAS blocks
 *         the sum differently):                           atol 1e-4, rtol 1e-4
 *   TF32  DOT outputs of a TF32 backend (10-bit mantissa products):
 *                                                         atol 3e-2, rtol 1e-2
 *
 * Adding an op (kernels/ops.h's checklist, step 4): its naive version in
 * reference/naive.c, its nv_ wrapper in reference/naive_backend.c, and a run_
 * function with its cases in CASES below. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "naive_backend.h"
#include "rng.h"
#include "testutil.h"
#include "util.h"

typedef struct {
    double atol, rtol;
    int gemm; /* computed by GEMMs: the TF32 tolerance applies on a TF32 backend */
} Tol;

static const Tol ELEM = {1e-6, 1e-5, 0};
static const Tol FUNC = {4e-6, 1e-5, 0};
static const Tol DOT = {1e-4, 1e-4, 1};
static const Tol DOT_TF32 = {3e-2, 1e-2, 1};

/* ---- host data and backend buffers ------------------------------------------------ */

/* Deterministic uniform floats in [lo, hi) from Philox stream `stream`. */
static float *rnd(size_t n, uint32_t stream, float lo, float hi) {
    float *x = xmalloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_uniform(4321, 0, stream, i);
    return x;
}

/* Integers in [0, hi). */
static int *rnd_ints(size_t n, uint32_t stream, int hi) {
    int *x = xmalloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (int)(rng_uniform(77, 0, stream, i) * (float)hi) % hi;
    return x;
}

/* Buffers of one case on one backend, freed together. */
enum { MAX_BUFS = 16, MAX_OUTS = 8 };
typedef struct {
    Backend *be;
    void *p[MAX_BUFS];
    int k;
} Bufs;

static void *keep_buf(Bufs *b, void *p) {
    if (b->k == MAX_BUFS) die("test_backend_ops: too many buffers in one case");
    return b->p[b->k++] = p;
}

/* An uploaded copy of n host floats (the host copy is freed). */
static float *up_f(Bufs *b, float *host, size_t n) {
    float *d = keep_buf(b, b->be->alloc(b->be, (n ? n : 1) * sizeof *d));
    b->be->upload(b->be, d, host, n * sizeof *d);
    free(host);
    return d;
}

static int *up_i(Bufs *b, int *host, size_t n) {
    int *d = keep_buf(b, b->be->alloc(b->be, (n ? n : 1) * sizeof *d));
    b->be->upload(b->be, d, host, n * sizeof *d);
    free(host);
    return d;
}

static float *empty_f(Bufs *b, size_t n) {
    return keep_buf(b, b->be->alloc(b->be, (n ? n : 1) * sizeof(float)));
}

static void bufs_free(Bufs *b) {
    for (int i = b->k - 1; i >= 0; i--) b->be->free(b->be, b->p[i]);
    b->k = 0;
}

/* The outputs of one run of a case, downloaded, each with its tolerance. */
typedef struct {
    const char *name[MAX_OUTS];
    float *h[MAX_OUTS];
    size_t n[MAX_OUTS];
    Tol tol[MAX_OUTS];
    int k;
} Outs;

static void take(Outs *o, Backend *be, const char *name, const float *dev, size_t n, Tol tol) {
    if (o->k == MAX_OUTS) die("test_backend_ops: too many outputs in one case");
    o->name[o->k] = name;
    o->n[o->k] = n;
    o->tol[o->k] = tol;
    o->h[o->k] = xmalloc((n ? n : 1) * sizeof(float));
    be->download(be, o->h[o->k], dev, n * sizeof(float));
    o->k++;
}

/* A host value (sumsq's double) as an output. */
static void take_value(Outs *o, const char *name, double v, Tol tol) {
    if (o->k == MAX_OUTS) die("test_backend_ops: too many outputs in one case");
    o->name[o->k] = name;
    o->n[o->k] = 1;
    o->tol[o->k] = tol;
    o->h[o->k] = xmalloc(sizeof(float));
    o->h[o->k][0] = (float)v;
    o->k++;
}

static void outs_free(Outs *o) {
    for (int i = 0; i < o->k; i++) free(o->h[i]);
    o->k = 0;
}

/* ---- the cases -------------------------------------------------------------------- */

/* One case: its op family, printed shape and sizes p[] (meaning per family), a
 * dropout probability and RNG offset where the op has them, a flag. */
typedef struct OpCase {
    const char *family;
    void (*run)(const struct OpCase *c, Backend *be, Outs *o);
    int p[4];
    float f;
    uint64_t first;
    int flag;
} OpCase;

/* embed: p = B, T, C, V */
static void run_embed(const OpCase *c, Backend *be, Outs *o) {
    int B = c->p[0], T = c->p[1], C = c->p[2], V = c->p[3];
    size_t N = (size_t)B * T;
    Bufs b = {be, {0}, 0};
    int *ids = rnd_ints(N, 1, V);
    ids[N - 1] = ids[0]; /* a repeated id: the scatter adds both */
    int *d_ids = up_i(&b, ids, N), *d_tt = up_i(&b, rnd_ints(N, 2, 2), N);
    float *wte = up_f(&b, rnd((size_t)V * C, 3, -1, 1), (size_t)V * C);
    float *wpe = up_f(&b, rnd((size_t)T * C, 4, -1, 1), (size_t)T * C);
    float *wtt = up_f(&b, rnd(2 * (size_t)C, 5, -1, 1), 2 * (size_t)C);
    float *dout = up_f(&b, rnd(N * C, 6, -1, 1), N * C), *out = empty_f(&b, N * C);
    float *gte = up_f(&b, rnd((size_t)V * C, 7, -1, 1), (size_t)V * C);
    float *gpe = up_f(&b, rnd((size_t)T * C, 8, -1, 1), (size_t)T * C);
    float *gtt = up_f(&b, rnd(2 * (size_t)C, 9, -1, 1), 2 * (size_t)C);
    be->embed_forward(be, out, d_ids, d_tt, wte, wpe, wtt, B, T, C);
    be->embed_backward(be, gte, gpe, gtt, dout, d_ids, d_tt, B, T, C);
    take(o, be, "out", out, N * C, ELEM);
    take(o, be, "dwte (accumulated)", gte, (size_t)V * C, (Tol){1e-5, 1e-5, 0}); /* sums of up to B*T terms */
    take(o, be, "dwpe (accumulated)", gpe, (size_t)T * C, (Tol){1e-5, 1e-5, 0});
    take(o, be, "dwtt (accumulated)", gtt, 2 * (size_t)C, (Tol){1e-5, 1e-5, 0});
    bufs_free(&b);
}

/* layernorm: p = N, C; f = eps; flag 1 = frozen (dw, db NULL: they stay as they were) */
static void run_layernorm(const OpCase *c, Backend *be, Outs *o) {
    int N = c->p[0], C = c->p[1], frozen = c->flag & 1;
    size_t n = (size_t)N * C;
    Bufs b = {be, {0}, 0};
    float *x = up_f(&b, rnd(n, 10, -1.5f, 2.5f), n), *w = up_f(&b, rnd(C, 11, 0.5f, 1.5f), C);
    float *bb = up_f(&b, rnd(C, 12, -1, 1), C), *dout = up_f(&b, rnd(n, 13, -1, 1), n);
    float *gx = up_f(&b, rnd(n, 14, -1, 1), n), *gw = up_f(&b, rnd(C, 15, -1, 1), C);
    float *gb = up_f(&b, rnd(C, 16, -1, 1), C), *out = empty_f(&b, n);
    float *mean = empty_f(&b, N), *rstd = empty_f(&b, N);
    be->layernorm_forward(be, out, mean, rstd, x, w, bb, N, C, c->f);
    be->layernorm_backward(be, gx, frozen ? NULL : gw, frozen ? NULL : gb, dout, x, w, mean, rstd, N, C);
    take(o, be, "out", out, n, (Tol){1e-5, 1e-5, 0});
    take(o, be, "mean", mean, N, ELEM);
    take(o, be, "rstd", rstd, N, (Tol){1e-5, 1e-5, 0});
    take(o, be, "dinp (accumulated)", gx, n, DOT);
    take(o, be, "dw (accumulated)", gw, C, DOT);
    take(o, be, "db (accumulated)", gb, C, DOT);
    bufs_free(&b);
}

/* matmul: p = N, C, OC; flag bit 0 = bias, bit 1 = dinp, bit 2 = frozen (dw,
 * dbias NULL in the backward: they stay as they were) */
static void run_matmul(const OpCase *c, Backend *be, Outs *o) {
    int N = c->p[0], C = c->p[1], OC = c->p[2], bias = c->flag & 1, dinp = c->flag & 2, frozen = c->flag & 4;
    size_t ni = (size_t)N * C, nw = (size_t)OC * C, no = (size_t)N * OC;
    Bufs b = {be, {0}, 0};
    float *x = up_f(&b, rnd(ni, 20, -1, 1), ni), *w = up_f(&b, rnd(nw, 21, -1, 1), nw);
    float *bv = up_f(&b, rnd(OC, 22, -1, 1), OC), *out = up_f(&b, rnd(no, 23, -9, 9), no); /* overwritten */
    float *dout = up_f(&b, rnd(no, 24, -1, 1), no), *gx = up_f(&b, rnd(ni, 25, -1, 1), ni);
    float *gw = up_f(&b, rnd(nw, 26, -1, 1), nw), *gb = up_f(&b, rnd(OC, 27, -1, 1), OC);
    be->matmul_forward(be, out, x, w, bias ? bv : NULL, N, C, OC);
    be->matmul_backward(be, dinp ? gx : NULL, frozen ? NULL : gw, bias && !frozen ? gb : NULL, dout, x, w, N, C, OC);
    take(o, be, "out", out, no, DOT);
    take(o, be, "dinp (accumulated)", gx, ni, DOT);
    take(o, be, "dw (accumulated)", gw, nw, DOT);
    take(o, be, "dbias (accumulated)", gb, OC, (Tol){1e-4, 1e-4, 0});
    bufs_free(&b);
}

/* lora: p = N, C, R, OC; f = s; flag = dinp */
static void run_lora(const OpCase *c, Backend *be, Outs *o) {
    int N = c->p[0], C = c->p[1], R = c->p[2], OC = c->p[3];
    size_t ni = (size_t)N * C, na = (size_t)R * C, nb = (size_t)OC * R, no = (size_t)N * OC,
           nu = (size_t)N * R;
    Bufs b = {be, {0}, 0};
    float *x = up_f(&b, rnd(ni, 90, -1, 1), ni), *a = up_f(&b, rnd(na, 91, -1, 1), na);
    float *w = up_f(&b, rnd(nb, 92, -1, 1), nb), *out = up_f(&b, rnd(no, 93, -1, 1), no);
    float *u = up_f(&b, rnd(nu, 94, -9, 9), nu), *du = up_f(&b, rnd(nu, 99, -9, 9), nu); /* overwritten */
    float *dout = up_f(&b, rnd(no, 95, -1, 1), no), *gx = up_f(&b, rnd(ni, 96, -1, 1), ni);
    float *ga = up_f(&b, rnd(na, 97, -1, 1), na), *gb = up_f(&b, rnd(nb, 98, -1, 1), nb);
    be->lora_forward(be, out, u, x, a, w, N, C, R, OC, c->f);
    be->lora_backward(be, c->flag ? gx : NULL, ga, gb, du, dout, x, u, a, w, N, C, R, OC, c->f);
    take(o, be, "out (accumulated)", out, no, DOT);
    take(o, be, "u", u, nu, DOT);
    take(o, be, "du", du, nu, DOT);
    take(o, be, "dinp (accumulated)", gx, ni, DOT);
    take(o, be, "da (accumulated)", ga, na, DOT);
    take(o, be, "db (accumulated)", gb, nb, DOT);
    bufs_free(&b);
}

/* Mask row b: all real; padded tail; only position 0 real; holes; no real key. */
static int mask_value(int b, int t, int T) {
    switch (b % 5) {
    case 0: return 1;
    case 1: return t < T - 3;
    case 2: return t == 0;
    case 3: return t % 3 != 1;
    default: return 0;
    }
}

/* attention: p = B, T, C, NH; f = dropout p; first */
static void run_attention(const OpCase *c, Backend *be, Outs *o) {
    int B = c->p[0], T = c->p[1], C = c->p[2], NH = c->p[3];
    size_t BT = (size_t)B * T, BTC = BT * C, na = (size_t)B * NH * T * T;
    Bufs b = {be, {0}, 0};
    int *mask = xmalloc(BT * sizeof *mask);
    for (int r = 0; r < B; r++)
        for (int t = 0; t < T; t++) mask[(size_t)r * T + t] = mask_value(r, t, T);
    int *d_mask = up_i(&b, mask, BT);
    float *qkv = up_f(&b, rnd(3 * BTC, 30, -2, 2), 3 * BTC), *dout = up_f(&b, rnd(BTC, 31, -1, 1), BTC);
    float *g = up_f(&b, rnd(3 * BTC, 32, -1, 1), 3 * BTC), *out = up_f(&b, rnd(BTC, 33, -9, 9), BTC);
    float *att = up_f(&b, rnd(na, 34, -9, 9), na), *scr = empty_f(&b, 4 * BTC + na);
    uint64_t seed = 0x5eedULL;
    be->attention_forward(be, out, att, scr, qkv, d_mask, B, T, C, NH, c->f, seed, 3, 17, c->first);
    be->attention_backward(be, g, scr, dout, qkv, att, d_mask, B, T, C, NH, c->f, seed, 3, 17, c->first);
    take(o, be, "out", out, BTC, DOT);
    take(o, be, "att", att, na, ELEM);
    take(o, be, "dqkv (accumulated)", g, 3 * BTC, DOT);
    bufs_free(&b);
}

/* gelu, residual, qa_split, scale + adamw: p = n */
static void run_gelu(const OpCase *c, Backend *be, Outs *o) {
    size_t n = (size_t)c->p[0];
    Bufs b = {be, {0}, 0};
    float *hx = rnd(n, 40, -7, 7);
    const float special[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 20.0f, -20.0f, 9.0f, -9.0f, -13.0f, 0.5f};
    const size_t ns = sizeof special / sizeof special[0];
    memcpy(hx, special, (n < ns ? n : ns) * sizeof *hx);
    float *x = up_f(&b, hx, n), *dout = up_f(&b, rnd(n, 41, -1, 1), n);
    float *g = up_f(&b, rnd(n, 42, -1, 1), n), *out = empty_f(&b, n);
    be->gelu_forward(be, out, x, n);
    be->gelu_backward(be, g, x, dout, n);
    take(o, be, "out", out, n, FUNC);
    take(o, be, "dinp (accumulated)", g, n, FUNC);
    bufs_free(&b);
}

static void run_residual(const OpCase *c, Backend *be, Outs *o) {
    size_t n = (size_t)c->p[0];
    Bufs b = {be, {0}, 0};
    float *x = up_f(&b, rnd(n, 43, -1, 1), n), *y = up_f(&b, rnd(n, 44, -1, 1), n);
    float *dout = up_f(&b, rnd(n, 45, -1, 1), n), *out = empty_f(&b, n);
    be->residual_forward(be, out, x, y, n);
    take(o, be, "out", out, n, ELEM);
    be->residual_backward(be, x, y, dout, n); /* x and y double as the gradients */
    take(o, be, "da (accumulated)", x, n, ELEM);
    take(o, be, "db (accumulated)", y, n, ELEM);
    bufs_free(&b);
}

static void run_qa_split(const OpCase *c, Backend *be, Outs *o) {
    int B = c->p[0], T = c->p[1];
    size_t n = 2 * (size_t)B * T;
    Bufs b = {be, {0}, 0};
    float *qa = up_f(&b, rnd(n, 46, -1, 1), n), *ds = up_f(&b, rnd(n, 47, -1, 1), n);
    float *g = up_f(&b, rnd(n, 48, -1, 1), n), *split = empty_f(&b, n);
    be->qa_split_forward(be, split, qa, B, T);
    be->qa_split_backward(be, g, ds, B, T);
    take(o, be, "split", split, n, ELEM);
    take(o, be, "dqa (accumulated)", g, n, ELEM);
    bufs_free(&b);
}

static void run_optimizer(const OpCase *c, Backend *be, Outs *o) {
    size_t n = (size_t)c->p[0];
    Bufs b = {be, {0}, 0};
    float *p = up_f(&b, rnd(n, 50, -1, 1), n), *x = up_f(&b, rnd(n, 51, -3, 3), n);
    float *m = empty_f(&b, n), *v = empty_f(&b, n);
    take_value(o, "sumsq", be->sumsq(be, x, n), (Tol){1e-6, 1e-6, 0});
    be->scale(be, x, n, 0.37f);
    take(o, be, "scale", x, n, ELEM);
    for (int t = 1; t <= 3; t++) {
        float *g = up_f(&b, rnd(n, 52 + (uint32_t)t, -1, 1), n);
        be->adamw_update(be, p, g, m, v, n, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, t);
    }
    take(o, be, "adamw p (3 steps)", p, n, ELEM);
    take(o, be, "adamw m", m, n, ELEM);
    take(o, be, "adamw v", v, n, ELEM);
    bufs_free(&b);
}

/* dropout: p = n; f = p; first; flag = in place */
static void run_dropout(const OpCase *c, Backend *be, Outs *o) {
    size_t n = (size_t)c->p[0];
    Bufs b = {be, {0}, 0};
    float *x = up_f(&b, rnd(n, 60, 0.5f, 1.5f), n), *dout = up_f(&b, rnd(n, 61, 0.5f, 1.5f), n);
    float *g = up_f(&b, rnd(n, 62, -1, 1), n), *out = c->flag ? x : empty_f(&b, n);
    uint64_t seed = 0xfeedfacecafebeefULL;
    be->dropout_forward(be, out, x, n, c->f, seed, 12345u, 0x10005u, c->first);
    be->dropout_backward(be, g, dout, n, c->f, seed, 12345u, 0x10005u, c->first);
    take(o, be, "out", out, n, ELEM);
    take(o, be, "dinp (accumulated)", g, n, ELEM);
    bufs_free(&b);
}

/* crossentropy: p = N, V (every third target ignored) */
static void run_crossentropy(const OpCase *c, Backend *be, Outs *o) {
    int N = c->p[0], V = c->p[1];
    size_t n = (size_t)N * V;
    Bufs b = {be, {0}, 0};
    int *tg = rnd_ints((size_t)N, 72, V);
    for (int r = 0; r < N; r += 3) tg[r] = MTL_IGNORE_INDEX;
    int *d_tg = up_i(&b, tg, (size_t)N);
    float *logits = up_f(&b, rnd(n, 70, -5, 5), n), *g = up_f(&b, rnd(n, 71, -1, 1), n);
    float *losses = empty_f(&b, (size_t)N), *probs = empty_f(&b, n);
    be->crossentropy_forward(be, losses, probs, logits, d_tg, N, V);
    be->crossentropy_backward(be, g, probs, d_tg, 0.37f, N, V);
    take(o, be, "losses", losses, (size_t)N, (Tol){1e-5, 1e-5, 0});
    take(o, be, "probs", probs, n, ELEM);
    take(o, be, "dlogits (accumulated)", g, n, ELEM);
    bufs_free(&b);
}

static const OpCase CASES[] = {
    {"embed", run_embed, {2, 7, 20, 11}, 0, 0, 0},
    {"embed", run_embed, {3, 13, 36, 50}, 0, 0, 0},
    {"embed", run_embed, {4, 128, 36, 3}, 0, 0, 0}, /* > 64 positions per id */
    {"embed", run_embed, {1, 5, 3, 2}, 0, 0, 0},
    {"layernorm", run_layernorm, {13, 20}, 1e-5f, 0, 0},
    {"layernorm", run_layernorm, {7, 36}, 1e-12f, 0, 0},
    {"layernorm", run_layernorm, {300, 768}, 1e-12f, 0, 0},
    {"layernorm", run_layernorm, {3, 5}, 1e-5f, 0, 0},
    {"layernorm", run_layernorm, {300, 768}, 1e-12f, 0, 1}, /* frozen: no dw, db */
    {"matmul", run_matmul, {13, 20, 36}, 0, 0, 3},
    {"matmul", run_matmul, {7, 36, 20}, 0, 0, 2},
    {"matmul", run_matmul, {5, 3, 9}, 0, 0, 1},
    {"matmul", run_matmul, {130, 100, 200}, 0, 0, 3}, /* the threaded row split */
    {"matmul", run_matmul, {20, 300, 513}, 0, 0, 3},  /* ... and the column split */
    {"matmul", run_matmul, {300, 257, 2}, 0, 0, 3},
    {"matmul", run_matmul, {130, 100, 200}, 0, 0, 7}, /* frozen: dinp only */
    {"lora", run_lora, {13, 20, 4, 36}, 2.0f, 0, 1},
    {"lora", run_lora, {7, 36, 8, 20}, 0.5f, 0, 0},
    {"lora", run_lora, {1, 3, 1, 5}, 1.0f, 0, 1},
    {"lora", run_lora, {130, 100, 16, 300}, 2.0f, 0, 1},
    {"attention", run_attention, {2, 7, 20, 2}, 0.0f, 0, 0},
    {"attention", run_attention, {3, 13, 36, 4}, 0.0f, 0, 0},
    {"attention", run_attention, {5, 13, 36, 4}, 0.2f, 0, 0},
    {"attention", run_attention, {5, 33, 48, 3}, 0.5f, 0, 0},
    {"attention", run_attention, {4, 64, 64, 4}, 0.1f, 0, 0},
    {"attention", run_attention, {1, 1, 8, 2}, 0.0f, 0, 0},
    {"attention", run_attention, {3, 13, 36, 4}, 0.2f, 4 * 13 * 13 + 1, 0}, /* a slice's RNG offset */
    /* head sizes of the CPU kernel's vector paths: hs 32 (MiniLM: 2 vectors), 48 (2 + 1),
     * 64 (2 + 2), with T not a multiple of 16 and more than 8 rows (full row blocks + a tail) */
    {"attention", run_attention, {5, 45, 96, 3}, 0.1f, 0, 0},
    {"attention", run_attention, {5, 21, 96, 2}, 0.0f, 0, 0},
    {"attention", run_attention, {5, 40, 128, 2}, 0.3f, 0, 0},
    {"gelu", run_gelu, {1}, 0, 0, 0},
    {"gelu", run_gelu, {20011}, 0, 0, 0},
    {"residual", run_residual, {7}, 0, 0, 0},
    {"residual", run_residual, {20011}, 0, 0, 0},
    {"qa_split", run_qa_split, {3, 7}, 0, 0, 0},
    {"qa_split", run_qa_split, {1, 1001}, 0, 0, 0},
    {"sumsq, scale, adamw", run_optimizer, {1}, 0, 0, 0},
    {"sumsq, scale, adamw", run_optimizer, {4099}, 0, 0, 0},
    {"dropout", run_dropout, {20011}, 0.0f, 0, 0},
    {"dropout", run_dropout, {20011}, 0.1f, 0, 0},
    {"dropout", run_dropout, {13}, 0.5f, 0, 1},
    {"dropout", run_dropout, {4096 * 3 + 1}, 0.9f, 0, 0},
    {"dropout", run_dropout, {4099}, 0.1f, 6, 1},
    {"dropout", run_dropout, {1001}, 0.3f, (1ull << 33) + 3, 0},
    {"crossentropy", run_crossentropy, {1, 1}, 0, 0, 0},
    {"crossentropy", run_crossentropy, {13, 9}, 0, 0, 0},
    {"crossentropy", run_crossentropy, {130, 128}, 0, 0, 0},
    {"crossentropy", run_crossentropy, {64, 513}, 0, 0, 0},
};
enum { NUM_CASES = sizeof CASES / sizeof CASES[0] };

/* ---- the backends ------------------------------------------------------------------- */

typedef struct {
    const char *name;
    Backend *be;
    int bf16; /* compared with the bf16 reference */
    int tf32; /* GEMM outputs within DOT_TF32 */
} Target;

enum { MAX_TARGETS = 6 };
static Target g_targets[MAX_TARGETS];
static int g_ntargets;
static Backend *g_ref[2]; /* the naive reference: fp32, bf16 */

static void add_target(const char *name, Backend *be, int bf16, int tf32, const char *why) {
    if (!be) {
        char what[96];
        snprintf(what, sizeof what, "backend ops on %s", name);
        testutil_skip(what, why);
        return;
    }
    g_targets[g_ntargets++] = (Target){name, be, bf16, tf32};
}

static void open_targets(void) {
    char why[512];
    add_target("cpu, 1 thread", backend_cpu(1), 0, 0, "");
    add_target("cpu, 2 threads", backend_cpu(2), 0, 0, "");
    add_target("cpu bf16", backend_cpu_bf16(2, why, sizeof why), 1, 0, why);
    add_target("cuda", backend_cuda(0, why, sizeof why), 0, 0, why);
    add_target("cuda tf32", backend_cuda(1, why, sizeof why), 0, 1, why);
    add_target("cuda bf16", backend_cuda_bf16(why, sizeof why), 1, 0, why);
}

/* Every case on one backend: vs the reference within each output's tolerance,
 * and a second run bit for bit equal to the first. */
static void check_target(const Target *t) {
    int bad = 0, outputs = 0;
    for (int i = 0; i < NUM_CASES; i++) {
        const OpCase *c = &CASES[i];
        Outs ref = {0}, r1 = {0}, r2 = {0};
        c->run(c, g_ref[t->bf16], &ref);
        c->run(c, t->be, &r1);
        c->run(c, t->be, &r2);
        CU_ASSERT_FATAL(ref.k == r1.k && r1.k == r2.k);
        for (int j = 0; j < r1.k; j++) {
            char label[128];
            snprintf(label, sizeof label, "%s [%d %d %d %d] %s", c->family, c->p[0], c->p[1], c->p[2],
                     c->p[3], r1.name[j]);
            Tol tol = t->tf32 && r1.tol[j].gemm ? DOT_TF32 : r1.tol[j];
            int ok = testutil_allclose(label, r1.h[j], ref.h[j], r1.n[j], tol.atol, tol.rtol);
            int same = memcmp(r1.h[j], r2.h[j], r1.n[j] * sizeof(float)) == 0;
            if (!same) printf("    %s: two runs differ in their bits\n", label);
            CU_ASSERT(ok && same);
            bad += !(ok && same);
            outputs++;
        }
        outs_free(&ref);
        outs_free(&r1);
        outs_free(&r2);
    }
    printf("    %s: %d cases, %d outputs, %d failed\n", t->name, NUM_CASES, outputs, bad);
}

static int g_next; /* the target the next registered test checks */
static void test_target(void) {
    check_target(&g_targets[g_next++]);
}

int main(void) {
    g_ref[0] = backend_naive(0);
    g_ref[1] = backend_naive(1);
    open_targets();
    static char names[MAX_TARGETS][96];
    static TestCase tests[MAX_TARGETS + 1];
    for (int i = 0; i < g_ntargets; i++) {
        snprintf(names[i], sizeof names[i], "every op case on %s vs the naive reference, repeat bitwise",
                 g_targets[i].name);
        tests[i] = (TestCase){names[i], test_target};
    }
    tests[g_ntargets] = (TestCase){NULL, NULL};
    testutil_add_suite("backend ops", tests);
    int rc = testutil_run_all();
    for (int i = 0; i < g_ntargets; i++) g_targets[i].be->destroy(g_targets[i].be);
    g_ref[0]->destroy(g_ref[0]);
    g_ref[1]->destroy(g_ref[1]);
    return rc;
}

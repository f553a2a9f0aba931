/* naive_backend.c — reference/naive.c behind the Backend interface (naive_backend.h). */
#include "naive_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_bf16.h"
#include "naive.h"
#include "util.h"

typedef struct {
    int bf16;
} NaiveCtx;

/* A double copy of n floats (NULL stays NULL), rounded to bf16 first when asked. */
static double *to_d(const float *x, size_t n, int round_bf16) {
    if (!x) return NULL;
    double *d = xmalloc((n ? n : 1) * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = round_bf16 ? bf16_to_float(bf16_round(x[i])) : x[i];
    return d;
}

/* Round n doubles back into the float buffer y (NULL: nothing), and free them. */
static void back_f(float *y, double *d, size_t n) {
    if (y)
        for (size_t i = 0; i < n; i++) y[i] = (float)d[i];
    free(d);
}

static int bf16_of(Backend *be) {
    return ((NaiveCtx *)be->ctx)->bf16;
}

/* 1 + the largest of n ints (the rows of a table they index). */
static size_t rows_used(const int *idx, size_t n) {
    int mx = 0;
    for (size_t i = 0; i < n; i++) mx = idx[i] > mx ? idx[i] : mx;
    return (size_t)mx + 1;
}

/* ---- memory ------------------------------------------------------------------ */

static void *nv_alloc(Backend *be, size_t bytes) {
    (void)be;
    return xcalloc(1, bytes ? bytes : 1);
}
static void nv_free(Backend *be, void *p) {
    (void)be;
    free(p);
}
static void nv_sync(Backend *be) {
    (void)be;
}
static void nv_memcpy(Backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    memmove(dst, src, bytes);
}
static void nv_zero(Backend *be, void *p, size_t bytes) {
    (void)be;
    memset(p, 0, bytes);
}
static void nv_destroy(Backend *be) {
    free(be->ctx);
    free(be);
}

/* ---- compute ops --------------------------------------------------------------- */

static void nv_embed_forward(Backend *be, float *out, const int *ids, const int *tt, const float *wte,
                             const float *wpe, const float *wtt, int B, int T, int C) {
    size_t BT = (size_t)B * T, V = rows_used(ids, BT), NT = rows_used(tt, BT);
    double *dte = to_d(wte, V * C, 0), *dpe = to_d(wpe, (size_t)T * C, 0), *dtt = to_d(wtt, NT * C, 0);
    double *o = xmalloc(BT * C * sizeof *o);
    naive_embed_forward(o, ids, tt, dte, dpe, dtt, B, T, C);
    back_f(out, o, BT * C);
    free(dte), free(dpe), free(dtt);
}

static void nv_embed_backward(Backend *be, float *dwte, float *dwpe, float *dwtt, const float *dout,
                              const int *ids, const int *tt, int B, int T, int C) {
    size_t BT = (size_t)B * T, V = rows_used(ids, BT), NT = rows_used(tt, BT);
    double *gte = to_d(dwte, V * C, 0), *gpe = to_d(dwpe, (size_t)T * C, 0), *gtt = to_d(dwtt, NT * C, 0);
    double *d = to_d(dout, BT * C, 0);
    naive_embed_backward(gte, gpe, gtt, d, ids, tt, B, T, C);
    back_f(dwte, gte, V * C), back_f(dwpe, gpe, (size_t)T * C), back_f(dwtt, gtt, NT * C);
    free(d);
}

static void nv_layernorm_forward(Backend *be, float *out, float *mean, float *rstd, const float *inp,
                                 const float *w, const float *b, int N, int C, float eps) {
    size_t n = (size_t)N * C;
    double *x = to_d(inp, n, 0), *dw = to_d(w, C, 0), *db = to_d(b, C, 0);
    double *o = xmalloc(n * sizeof *o), *m = xmalloc(N * sizeof *m), *r = xmalloc(N * sizeof *r);
    naive_layernorm_forward(o, m, r, x, dw, db, N, C, eps);
    back_f(out, o, n), back_f(mean, m, N), back_f(rstd, r, N);
    free(x), free(dw), free(db);
}

static void nv_layernorm_backward(Backend *be, float *dinp, float *dw, float *db, const float *dout,
                                  const float *inp, const float *w, const float *mean,
                                  const float *rstd, int N, int C) {
    size_t n = (size_t)N * C;
    double *gx = to_d(dinp, n, 0), *gw = to_d(dw, C, 0), *gb = to_d(db, C, 0), *d = to_d(dout, n, 0);
    double *x = to_d(inp, n, 0), *ww = to_d(w, C, 0), *m = to_d(mean, N, 0), *r = to_d(rstd, N, 0);
    naive_layernorm_backward(gx, gw, gb, d, x, ww, m, r, N, C);
    back_f(dinp, gx, n), back_f(dw, gw, C), back_f(db, gb, C);
    free(d), free(x), free(ww), free(m), free(r);
}

static void nv_matmul_forward(Backend *be, float *out, const float *inp, const float *w,
                              const float *bias, int N, int C, int OC) {
    int r = bf16_of(be);
    double *x = to_d(inp, (size_t)N * C, r), *ww = to_d(w, (size_t)OC * C, r), *b = to_d(bias, OC, 0);
    double *o = xmalloc((size_t)N * OC * sizeof *o);
    naive_matmul_forward(o, x, ww, b, N, C, OC);
    back_f(out, o, (size_t)N * OC);
    free(x), free(ww), free(b);
}

static void nv_matmul_backward(Backend *be, float *dinp, float *dw, float *dbias, const float *dout,
                               const float *inp, const float *w, int N, int C, int OC) {
    int r = bf16_of(be);
    size_t ni = (size_t)N * C, nw = (size_t)OC * C, no = (size_t)N * OC;
    double *gx = to_d(dinp, ni, 0), *gw = to_d(dw, nw, 0), *gb = to_d(dbias, OC, 0);
    double *d = to_d(dout, no, r), *x = to_d(inp, ni, r), *ww = to_d(w, nw, r);
    naive_matmul_backward(gx, gw, r ? NULL : gb, d, x, ww, N, C, OC);
    if (r && gb) { /* the bf16 backends sum the fp32 dout for the bias: C = 0 leaves only that sum */
        double *d32 = to_d(dout, no, 0);
        naive_matmul_backward(NULL, gw, gb, d32, NULL, NULL, N, 0, OC);
        free(d32);
    }
    back_f(dinp, gx, ni), back_f(dw, gw, nw), back_f(dbias, gb, OC);
    free(d), free(x), free(ww);
}

static void nv_lora_forward(Backend *be, float *out, float *u, const float *inp, const float *a,
                            const float *b, int N, int C, int R, int OC, float s) {
    size_t no = (size_t)N * OC, nu = (size_t)N * R;
    double *o = to_d(out, no, 0), *du = xmalloc((nu ? nu : 1) * sizeof *du);
    double *x = to_d(inp, (size_t)N * C, 0), *da = to_d(a, (size_t)R * C, 0), *db = to_d(b, (size_t)OC * R, 0);
    naive_lora_forward(o, du, x, da, db, N, C, R, OC, s);
    back_f(out, o, no), back_f(u, du, nu);
    free(x), free(da), free(db);
}

static void nv_lora_backward(Backend *be, float *dinp, float *da, float *db, float *du, const float *dout,
                             const float *inp, const float *u, const float *a, const float *b, int N,
                             int C, int R, int OC, float s) {
    size_t ni = (size_t)N * C, na = (size_t)R * C, nb = (size_t)OC * R, nu = (size_t)N * R;
    double *gx = to_d(dinp, ni, 0), *ga = to_d(da, na, 0), *gb = to_d(db, nb, 0);
    double *gu = xmalloc((nu ? nu : 1) * sizeof *gu), *d = to_d(dout, (size_t)N * OC, 0);
    double *x = to_d(inp, ni, 0), *uu = to_d(u, nu, 0), *aa = to_d(a, na, 0), *bb = to_d(b, nb, 0);
    naive_lora_backward(gx, ga, gb, gu, d, x, uu, aa, bb, N, C, R, OC, s);
    back_f(dinp, gx, ni), back_f(da, ga, na), back_f(db, gb, nb), back_f(du, gu, nu);
    free(d), free(x), free(uu), free(aa), free(bb);
}

static void nv_attention_forward(Backend *be, float *out, float *att, float *scratch, const float *qkv,
                                 const int *mask, int B, int T, int C, int NH, float p, uint64_t seed,
                                 uint32_t step, uint32_t stream, uint64_t first) {
    (void)scratch;
    size_t nq = (size_t)B * T * 3 * C, no = (size_t)B * T * C, na = (size_t)B * NH * T * T;
    double *q = to_d(qkv, nq, 0), *o = xmalloc(no * sizeof *o), *a = xmalloc(na * sizeof *a);
    naive_attention_forward(o, a, q, mask, B, T, C, NH, p, seed, step, stream, first);
    back_f(out, o, no), back_f(att, a, na);
    free(q);
}

static void nv_attention_backward(Backend *be, float *dqkv, float *scratch, const float *dout,
                                  const float *qkv, const float *att, const int *mask, int B, int T,
                                  int C, int NH, float p, uint64_t seed, uint32_t step, uint32_t stream,
                                  uint64_t first) {
    (void)scratch;
    size_t nq = (size_t)B * T * 3 * C, no = (size_t)B * T * C, na = (size_t)B * NH * T * T;
    double *g = to_d(dqkv, nq, 0), *d = to_d(dout, no, 0), *q = to_d(qkv, nq, 0), *a = to_d(att, na, 0);
    naive_attention_backward(g, d, q, a, mask, B, T, C, NH, p, seed, step, stream, first);
    back_f(dqkv, g, nq);
    free(d), free(q), free(a);
}

static void nv_gelu_forward(Backend *be, float *out, const float *inp, size_t n) {
    double *x = to_d(inp, n, 0), *o = xmalloc((n ? n : 1) * sizeof *o);
    naive_gelu_forward(o, x, n);
    back_f(out, o, n);
    free(x);
}

static void nv_gelu_backward(Backend *be, float *dinp, const float *inp, const float *dout, size_t n) {
    double *g = to_d(dinp, n, 0), *x = to_d(inp, n, 0), *d = to_d(dout, n, 0);
    naive_gelu_backward(g, x, d, n);
    back_f(dinp, g, n);
    free(x), free(d);
}

static void nv_residual_forward(Backend *be, float *out, const float *a, const float *b, size_t n) {
    double *x = to_d(a, n, 0), *y = to_d(b, n, 0), *o = xmalloc((n ? n : 1) * sizeof *o);
    naive_residual_forward(o, x, y, n);
    back_f(out, o, n);
    free(x), free(y);
}

static void nv_residual_backward(Backend *be, float *da, float *db, const float *dout, size_t n) {
    double *ga = to_d(da, n, 0), *gb = to_d(db, n, 0), *d = to_d(dout, n, 0);
    naive_residual_backward(ga, gb, d, n);
    back_f(da, ga, n), back_f(db, gb, n);
    free(d);
}

static void nv_dropout_forward(Backend *be, float *out, const float *inp, size_t n, float p,
                               uint64_t seed, uint32_t step, uint32_t stream, uint64_t first) {
    double *x = to_d(inp, n, 0), *o = xmalloc((n ? n : 1) * sizeof *o);
    naive_dropout_forward(o, x, n, p, seed, step, stream, first);
    back_f(out, o, n);
    free(x);
}

static void nv_dropout_backward(Backend *be, float *dinp, const float *dout, size_t n, float p,
                                uint64_t seed, uint32_t step, uint32_t stream, uint64_t first) {
    double *g = to_d(dinp, n, 0), *d = to_d(dout, n, 0);
    naive_dropout_backward(g, d, n, p, seed, step, stream, first);
    back_f(dinp, g, n);
    free(d);
}

static void nv_crossentropy_forward(Backend *be, float *losses, float *probs, const float *logits,
                                    const int *targets, int N, int V) {
    size_t n = (size_t)N * V;
    double *x = to_d(logits, n, 0), *l = xmalloc((N ? N : 1) * sizeof *l), *p = xmalloc((n ? n : 1) * sizeof *p);
    naive_crossentropy_forward(l, p, x, targets, N, V);
    back_f(losses, l, N), back_f(probs, p, n);
    free(x);
}

static void nv_crossentropy_backward(Backend *be, float *dlogits, const float *probs, const int *targets,
                                     float dscale, int N, int V) {
    size_t n = (size_t)N * V;
    double *g = to_d(dlogits, n, 0), *p = to_d(probs, n, 0);
    naive_crossentropy_backward(g, p, targets, dscale, N, V);
    back_f(dlogits, g, n);
    free(p);
}

static void nv_qa_split_forward(Backend *be, float *split, const float *qa, int B, int T) {
    size_t n = 2 * (size_t)B * T;
    double *x = to_d(qa, n, 0), *o = xmalloc(n * sizeof *o);
    naive_qa_split_forward(o, x, B, T);
    back_f(split, o, n);
    free(x);
}

static void nv_qa_split_backward(Backend *be, float *dqa, const float *dsplit, int B, int T) {
    size_t n = 2 * (size_t)B * T;
    double *g = to_d(dqa, n, 0), *d = to_d(dsplit, n, 0);
    naive_qa_split_backward(g, d, B, T);
    back_f(dqa, g, n);
    free(d);
}

static double nv_sumsq(Backend *be, const float *x, size_t n) {
    double *d = to_d(x, n, 0), r = naive_sumsq(d, n);
    free(d);
    return r;
}

static void nv_scale(Backend *be, float *x, size_t n, float s) {
    double *d = to_d(x, n, 0);
    naive_scale(d, n, s);
    back_f(x, d, n);
}

static void nv_adamw_update(Backend *be, float *p, const float *g, float *m, float *v, size_t n, float lr,
                            float b1, float b2, float eps, float wd, int t) {
    double *dp = to_d(p, n, 0), *dg = to_d(g, n, 0), *dm = to_d(m, n, 0), *dv = to_d(v, n, 0);
    naive_adamw_update(dp, dg, dm, dv, n, lr, b1, b2, eps, wd, t);
    back_f(p, dp, n), back_f(m, dm, n), back_f(v, dv, n);
    free(dg);
}

Backend *backend_naive(int bf16) {
    Backend *be = xcalloc(1, sizeof *be);
    NaiveCtx *ctx = xcalloc(1, sizeof *ctx);
    ctx->bf16 = bf16;
    be->name = bf16 ? "naive-bf16" : "naive";
    be->precision = bf16 ? PREC_BF16 : PREC_FP32;
    be->ctx = ctx;
    be->alloc = nv_alloc;
    be->free = nv_free;
    be->sync = nv_sync;
    be->upload = nv_memcpy;
    be->download = nv_memcpy;
    be->copy = nv_memcpy;
    be->zero = nv_zero;
    be->destroy = nv_destroy;
#define NAIVE_OP_FILL(name, ret, params, args) be->name = nv_##name;
    MTL_COMPUTE_OPS(NAIVE_OP_FILL)
#undef NAIVE_OP_FILL
    return be;
}

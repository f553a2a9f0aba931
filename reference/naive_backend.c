/* naive_backend.c — the naive reference as a Backend (naive_backend.h): host
 * memory, the float <-> double helpers of the nv_ wrappers, and the op table,
 * filled from kernels/ops.h with the nv_<op> of each reference/naive_<family>.c. */
#include "naive_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_bf16.h"
#include "op_check.h"
#include "util.h"

typedef struct {
    int bf16;
} NaiveCtx;

/* ---- the nv_ wrappers' helpers (op_check.h) ------------------------------------ */

double *to_d(const float *x, size_t n, int round_bf16) {
    if (!x) return NULL;
    double *d = xmalloc((n ? n : 1) * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = round_bf16 ? bf16_to_float(bf16_round(x[i])) : x[i];
    return d;
}

void back_f(float *y, double *d, size_t n) {
    if (y)
        for (size_t i = 0; i < n; i++) y[i] = (float)d[i];
    free(d);
}

int bf16_of(Backend *be) {
    return ((NaiveCtx *)be->ctx)->bf16;
}

size_t rows_used(const int *idx, size_t n) {
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

Backend *backend_naive(int bf16) {
    Backend *be = xcalloc(1, sizeof *be);
    NaiveCtx *ctx = xcalloc(1, sizeof *ctx);
    ctx->bf16 = bf16;
    be->name = bf16 ? "naive-bf16" : "naive";
    be->precision = bf16 ? PREC_BF16 : PREC_FP32;
    be->attn_recompute_ok = 1;
    be->matmul_exact = !bf16;
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

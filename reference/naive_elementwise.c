/* naive_elementwise.c — the GELU, residual and dropout family
 * (kernels/cpu/elementwise.c, kernels/cuda/elementwise.cu): the double-precision
 * references, their Backend wrappers, the cases every backend is checked on
 * and the finite-difference checks of the references' backward
 * (reference/op_check.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "naive.h"
#include "op_check.h"
#include "util.h"

/* ---- the references ------------------------------------------------------------------ */

static void naive_gelu_forward(double *out, const double *inp, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = 0.5 * inp[i] * (1.0 + erf(inp[i] / sqrt(2.0)));
}

/* d/dx = 0.5 (1 + erf(x/sqrt2)) + x exp(-x^2/2) / sqrt(2 pi) */
static void naive_gelu_backward(double *dinp, const double *inp, const double *dout, size_t n) {
    const double inv_sqrt_2pi = 0.39894228040143267794;
    for (size_t i = 0; i < n; i++) {
        double x = inp[i];
        double g = 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) * inv_sqrt_2pi;
        dinp[i] += dout[i] * g;
    }
}

static void naive_residual_forward(double *out, const double *a, const double *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

static void naive_residual_backward(double *da, double *db, const double *dout, size_t n) {
    for (size_t i = 0; i < n; i++) {
        da[i] += dout[i];
        db[i] += dout[i];
    }
}

static void naive_dropout_forward(double *out, const double *inp, size_t n, float p, uint64_t seed,
                                  uint32_t step, uint32_t stream, uint64_t first) {
    for (size_t i = 0; i < n; i++)
        out[i] = inp[i] * naive_drop_factor(first + i, p, seed, step, stream);
}

static void naive_dropout_backward(double *dinp, const double *dout, size_t n, float p, uint64_t seed,
                                   uint32_t step, uint32_t stream, uint64_t first) {
    for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * naive_drop_factor(first + i, p, seed, step, stream);
}

/* ---- behind the Backend interface ------------------------------------------------------ */

void nv_gelu_forward(Backend *be, float *out, const float *inp, size_t n) {
    double *x = to_d(inp, n, 0), *o = xmalloc((n ? n : 1) * sizeof *o);
    naive_gelu_forward(o, x, n);
    back_f(out, o, n);
    free(x);
}

void nv_gelu_backward(Backend *be, float *dinp, const float *inp, const float *dout, size_t n) {
    double *g = to_d(dinp, n, 0), *x = to_d(inp, n, 0), *d = to_d(dout, n, 0);
    naive_gelu_backward(g, x, d, n);
    back_f(dinp, g, n);
    free(x), free(d);
}

void nv_residual_forward(Backend *be, float *out, const float *a, const float *b, size_t n) {
    double *x = to_d(a, n, 0), *y = to_d(b, n, 0), *o = xmalloc((n ? n : 1) * sizeof *o);
    naive_residual_forward(o, x, y, n);
    back_f(out, o, n);
    free(x), free(y);
}

void nv_residual_backward(Backend *be, float *da, float *db, const float *dout, size_t n) {
    double *ga = to_d(da, n, 0), *gb = to_d(db, n, 0), *d = to_d(dout, n, 0);
    naive_residual_backward(ga, gb, d, n);
    back_f(da, ga, n), back_f(db, gb, n);
    free(d);
}

void nv_dropout_forward(Backend *be, float *out, const float *inp, size_t n, float p,
                        uint64_t seed, uint32_t step, uint32_t stream, uint64_t first) {
    double *x = to_d(inp, n, 0), *o = xmalloc((n ? n : 1) * sizeof *o);
    naive_dropout_forward(o, x, n, p, seed, step, stream, first);
    back_f(out, o, n);
    free(x);
}

void nv_dropout_backward(Backend *be, float *dinp, const float *dout, size_t n, float p,
                         uint64_t seed, uint32_t step, uint32_t stream, uint64_t first) {
    double *g = to_d(dinp, n, 0), *d = to_d(dout, n, 0);
    naive_dropout_backward(g, d, n, p, seed, step, stream, first);
    back_f(dinp, g, n);
    free(d);
}

/* ---- the cases of tests/test_backend_ops.c ------------------------------------------------ */

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

const OpCase op_cases_elementwise[] = {
    {"gelu", run_gelu, {1}, 0, 0, 0},
    {"gelu", run_gelu, {20011}, 0, 0, 0},
    {"residual", run_residual, {7}, 0, 0, 0},
    {"residual", run_residual, {20011}, 0, 0, 0},
    {"dropout", run_dropout, {20011}, 0.0f, 0, 0},
    {"dropout", run_dropout, {20011}, 0.1f, 0, 0},
    {"dropout", run_dropout, {13}, 0.5f, 0, 1},
    {"dropout", run_dropout, {4096 * 3 + 1}, 0.9f, 0, 0},
    {"dropout", run_dropout, {4099}, 0.1f, 6, 1},
    {"dropout", run_dropout, {1001}, 0.3f, (1ull << 33) + 3, 0},
    {NULL, NULL, {0}, 0, 0, 0}};

/* ---- finite differences (tests/test_gradcheck.c) --------------------------------------- */

typedef struct {
    size_t n;
    int op; /* 0 gelu, 1 dropout */
    float p;
    double *x, *out, *r;
} ElemP;

static double elem_loss(void *p) {
    ElemP *e = p;
    if (e->op == 0)
        naive_gelu_forward(e->out, e->x, e->n);
    else
        naive_dropout_forward(e->out, e->x, e->n, e->p, 3, 4, 5, 0);
    return dotd(e->r, e->out, e->n);
}

static void test_fd_elementwise(void) {
    ElemP e = {301, 0, 0.0f, NULL, NULL, NULL};
    e.x = rndd(e.n, 20, -5, 5), e.out = zerosd(e.n), e.r = rndd(e.n, 21, -1, 1);
    double *dx = zerosd(e.n);
    naive_gelu_backward(dx, e.x, e.r, e.n);
    CU_ASSERT(fd_check("gelu d/dinp", elem_loss, &e, e.x, dx, e.n, FD_EPS, FD_TOL, FD_FLOOR));
    e.op = 1, e.p = 0.3f;
    memset(dx, 0, e.n * sizeof *dx);
    naive_dropout_backward(dx, e.r, e.n, e.p, 3, 4, 5, 0);
    CU_ASSERT(fd_check("dropout d/dinp (p=0.3)", elem_loss, &e, e.x, dx, e.n, FD_EPS, FD_TOL,
                       FD_FLOOR));
    /* residual: L = r.(a + b), dL/da = dL/db = r */
    double *da = zerosd(e.n), *db = zerosd(e.n);
    naive_residual_backward(da, db, e.r, e.n);
    int ok = 1;
    for (size_t i = 0; i < e.n; i++) ok &= da[i] == e.r[i] && db[i] == e.r[i];
    CU_ASSERT(ok);
    free(e.x), free(e.out), free(e.r), free(dx), free(da), free(db);
}

const TestCase op_fd_elementwise[] = {
    {"FD: gelu, dropout, residual (naive, double)", test_fd_elementwise},
    {NULL, NULL}};

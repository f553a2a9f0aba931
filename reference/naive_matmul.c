/* naive_matmul.c — the linear-layer family
 * (kernels/cpu/matmul.c, kernels/cuda/matmul.cu): the double-precision
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

void naive_matmul_forward(double *out, const double *inp, const double *w, const double *bias,
                          int N, int C, int OC) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = bias ? bias[o] : 0.0;
            for (int c = 0; c < C; c++) s += inp[(size_t)n * C + c] * w[(size_t)o * C + c];
            out[(size_t)n * OC + o] = s;
        }
}

void naive_matmul_backward(double *dinp, double *dw, double *dbias, const double *dout,
                           const double *inp, const double *w, int N, int C, int OC) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double d = dout[(size_t)n * OC + o];
            for (int c = 0; c < C; c++) {
                if (dinp) dinp[(size_t)n * C + c] += d * w[(size_t)o * C + c];
                if (dw) dw[(size_t)o * C + c] += d * inp[(size_t)n * C + c];
            }
            if (dbias) dbias[o] += d;
        }
}

/* ---- behind the Backend interface ------------------------------------------------------ */

void nv_matmul_forward(Backend *be, float *out, const float *inp, const float *w,
                       const float *bias, int N, int C, int OC) {
    int r = bf16_of(be);
    double *x = to_d(inp, (size_t)N * C, r), *ww = to_d(w, (size_t)OC * C, r), *b = to_d(bias, OC, 0);
    double *o = xmalloc((size_t)N * OC * sizeof *o);
    naive_matmul_forward(o, x, ww, b, N, C, OC);
    back_f(out, o, (size_t)N * OC);
    free(x), free(ww), free(b);
}

void nv_matmul_backward(Backend *be, float *dinp, float *dw, float *dbias, const float *dout,
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

/* ---- the cases of tests/test_backend_ops.c ------------------------------------------------ */

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

const OpCase op_cases_matmul[] = {
    {"matmul", run_matmul, {13, 20, 36}, 0, 0, 3},
    {"matmul", run_matmul, {7, 36, 20}, 0, 0, 2},
    {"matmul", run_matmul, {5, 3, 9}, 0, 0, 1},
    {"matmul", run_matmul, {130, 100, 200}, 0, 0, 3}, /* the threaded row split */
    {"matmul", run_matmul, {20, 300, 513}, 0, 0, 3},  /* ... and the column split */
    {"matmul", run_matmul, {300, 257, 2}, 0, 0, 3},
    {"matmul", run_matmul, {130, 100, 200}, 0, 0, 7}, /* frozen: dinp only */
    {NULL, NULL, {0}, 0, 0, 0}};

/* ---- finite differences (tests/test_gradcheck.c) --------------------------------------- */

typedef struct {
    int N, C, OC;
    double *x, *w, *b, *out, *r;
} MatmulP;

static double matmul_loss(void *p) {
    MatmulP *m = p;
    naive_matmul_forward(m->out, m->x, m->w, m->b, m->N, m->C, m->OC);
    return dotd(m->r, m->out, (size_t)m->N * m->OC);
}

static void test_fd_matmul(void) {
    MatmulP m = {5, 7, 6, NULL, NULL, NULL, NULL, NULL};
    size_t nx = m.N * m.C, nw = m.OC * m.C, no = m.N * m.OC;
    m.x = rndd(nx, 1, -1, 1), m.w = rndd(nw, 2, -1, 1), m.b = rndd(m.OC, 3, -1, 1);
    m.out = zerosd(no), m.r = rndd(no, 4, -1, 1);
    double *dx = zerosd(nx), *dw = zerosd(nw), *db = zerosd(m.OC);
    naive_matmul_backward(dx, dw, db, m.r, m.x, m.w, m.N, m.C, m.OC);
    CU_ASSERT(fd_check("matmul d/dinp", matmul_loss, &m, m.x, dx, nx, FD_EPS, FD_TOL, FD_FLOOR));
    CU_ASSERT(fd_check("matmul d/dw", matmul_loss, &m, m.w, dw, nw, FD_EPS, FD_TOL, FD_FLOOR));
    CU_ASSERT(fd_check("matmul d/dbias", matmul_loss, &m, m.b, db, m.OC, FD_EPS, FD_TOL, FD_FLOOR));
    free(m.x), free(m.w), free(m.b), free(m.out), free(m.r), free(dx), free(dw), free(db);
}

const TestCase op_fd_matmul[] = {
    {"FD: matmul (naive, double)", test_fd_matmul},
    {NULL, NULL}};

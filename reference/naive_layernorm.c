/* naive_layernorm.c — the LayerNorm family
 * (kernels/cpu/layernorm.c, kernels/cuda/layernorm.cu): the double-precision
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

static void naive_layernorm_forward(double *out, double *mean, double *rstd, const double *inp,
                                    const double *w, const double *b, int N, int C, double eps) {
    for (int n = 0; n < N; n++) {
        const double *x = inp + (size_t)n * C;
        double m = 0, v = 0;
        for (int c = 0; c < C; c++) m += x[c];
        m /= C;
        for (int c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
        v /= C;
        double s = 1.0 / sqrt(v + eps);
        for (int c = 0; c < C; c++) out[(size_t)n * C + c] = (x[c] - m) * s * w[c] + b[c];
        mean[n] = m;
        rstd[n] = s;
    }
}

/* xhat = (x - mean) rstd, g = dout w:
 *   dx = rstd (g - mean_c(g) - xhat mean_c(g xhat)), dw += dout xhat, db += dout */
static void naive_layernorm_backward(double *dinp, double *dw, double *db, const double *dout,
                                     const double *inp, const double *w, const double *mean,
                                     const double *rstd, int N, int C) {
    for (int n = 0; n < N; n++) {
        const double *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
        double mg = 0, mgx = 0;
        for (int c = 0; c < C; c++) {
            double xhat = (x[c] - mean[n]) * rstd[n];
            mg += dy[c] * w[c];
            mgx += dy[c] * w[c] * xhat;
        }
        mg /= C;
        mgx /= C;
        for (int c = 0; c < C; c++) {
            double xhat = (x[c] - mean[n]) * rstd[n];
            dinp[(size_t)n * C + c] += rstd[n] * (dy[c] * w[c] - mg - xhat * mgx);
            if (dw) dw[c] += dy[c] * xhat;
            if (db) db[c] += dy[c];
        }
    }
}

/* ---- behind the Backend interface ------------------------------------------------------ */

void nv_layernorm_forward(Backend *be, float *out, float *mean, float *rstd, const float *inp,
                          const float *w, const float *b, int N, int C, float eps) {
    size_t n = (size_t)N * C;
    double *x = to_d(inp, n, 0), *dw = to_d(w, C, 0), *db = to_d(b, C, 0);
    double *o = xmalloc(n * sizeof *o), *m = xmalloc(N * sizeof *m), *r = xmalloc(N * sizeof *r);
    naive_layernorm_forward(o, m, r, x, dw, db, N, C, eps);
    back_f(out, o, n), back_f(mean, m, N), back_f(rstd, r, N);
    free(x), free(dw), free(db);
}

void nv_layernorm_backward(Backend *be, float *dinp, float *dw, float *db, const float *dout,
                           const float *inp, const float *w, const float *mean,
                           const float *rstd, int N, int C) {
    size_t n = (size_t)N * C;
    double *gx = to_d(dinp, n, 0), *gw = to_d(dw, C, 0), *gb = to_d(db, C, 0), *d = to_d(dout, n, 0);
    double *x = to_d(inp, n, 0), *ww = to_d(w, C, 0), *m = to_d(mean, N, 0), *r = to_d(rstd, N, 0);
    naive_layernorm_backward(gx, gw, gb, d, x, ww, m, r, N, C);
    back_f(dinp, gx, n), back_f(dw, gw, C), back_f(db, gb, C);
    free(d), free(x), free(ww), free(m), free(r);
}

/* ---- the cases of tests/test_backend_ops.c ------------------------------------------------ */

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

const OpCase op_cases_layernorm[] = {
    {"layernorm", run_layernorm, {13, 20}, 1e-5f, 0, 0},
    {"layernorm", run_layernorm, {7, 36}, 1e-12f, 0, 0},
    {"layernorm", run_layernorm, {300, 768}, 1e-12f, 0, 0},
    {"layernorm", run_layernorm, {3, 5}, 1e-5f, 0, 0},
    {"layernorm", run_layernorm, {300, 768}, 1e-12f, 0, 1}, /* frozen: no dw, db */
    {NULL, NULL, {0}, 0, 0, 0}};

/* ---- finite differences (tests/test_gradcheck.c) --------------------------------------- */

typedef struct {
    int N, C;
    double *x, *w, *b, *out, *mean, *rstd, *r;
} LnP;

static double layernorm_loss(void *p) {
    LnP *l = p;
    naive_layernorm_forward(l->out, l->mean, l->rstd, l->x, l->w, l->b, l->N, l->C, 1e-5);
    return dotd(l->r, l->out, (size_t)l->N * l->C);
}

static void test_fd_layernorm(void) {
    LnP l = {4, 9, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    size_t n = (size_t)l.N * l.C;
    l.x = rndd(n, 10, -2, 2), l.w = rndd(l.C, 11, 0.5, 1.5), l.b = rndd(l.C, 12, -1, 1);
    l.out = zerosd(n), l.mean = zerosd(l.N), l.rstd = zerosd(l.N), l.r = rndd(n, 13, -1, 1);
    double *dx = zerosd(n), *dw = zerosd(l.C), *db = zerosd(l.C);
    layernorm_loss(&l); /* fills mean, rstd */
    naive_layernorm_backward(dx, dw, db, l.r, l.x, l.w, l.mean, l.rstd, l.N, l.C);
    CU_ASSERT(fd_check("layernorm d/dinp", layernorm_loss, &l, l.x, dx, n, FD_EPS, FD_TOL, FD_FLOOR));
    CU_ASSERT(fd_check("layernorm d/dw", layernorm_loss, &l, l.w, dw, l.C, FD_EPS, FD_TOL, FD_FLOOR));
    CU_ASSERT(fd_check("layernorm d/db", layernorm_loss, &l, l.b, db, l.C, FD_EPS, FD_TOL, FD_FLOOR));
    free(l.x), free(l.w), free(l.b), free(l.out), free(l.mean), free(l.rstd), free(l.r);
    free(dx), free(dw), free(db);
}

const TestCase op_fd_layernorm[] = {
    {"FD: layernorm (naive, double)", test_fd_layernorm},
    {NULL, NULL}};

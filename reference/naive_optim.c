/* naive_optim.c — the optimiser family (sumsq, scale, AdamW)
 * (kernels/cpu/optim.c, kernels/cuda/optim.cu): the double-precision
 * references, their Backend wrappers, the cases every backend is checked on
 * and, in place of a finite-difference check (there is no backward), AdamW
 * against a step computed by hand (reference/op_check.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "naive.h"
#include "op_check.h"
#include "util.h"

/* ---- the references ------------------------------------------------------------------ */

double naive_sumsq(const double *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i] * x[i];
    return s;
}

static void naive_scale(double *x, size_t n, double s) {
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

static void naive_adamw_update(double *p, const double *g, double *m, double *v, size_t n, double lr,
                               double b1, double b2, double eps, double wd, int t) {
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        double mhat = m[i] / (1 - pow(b1, t)), vhat = v[i] / (1 - pow(b2, t));
        p[i] -= lr * (mhat / (sqrt(vhat) + eps) + wd * p[i]);
    }
}

/* ---- behind the Backend interface ------------------------------------------------------ */

double nv_sumsq(Backend *be, const float *x, size_t n) {
    double *d = to_d(x, n, 0), r = naive_sumsq(d, n);
    free(d);
    return r;
}

void nv_scale(Backend *be, float *x, size_t n, float s) {
    double *d = to_d(x, n, 0);
    naive_scale(d, n, s);
    back_f(x, d, n);
}

void nv_adamw_update(Backend *be, float *p, const float *g, float *m, float *v, size_t n, float lr,
                     float b1, float b2, float eps, float wd, int t) {
    double *dp = to_d(p, n, 0), *dg = to_d(g, n, 0), *dm = to_d(m, n, 0), *dv = to_d(v, n, 0);
    naive_adamw_update(dp, dg, dm, dv, n, lr, b1, b2, eps, wd, t);
    back_f(p, dp, n), back_f(m, dm, n), back_f(v, dv, n);
    free(dg);
}

/* ---- the cases of tests/test_backend_ops.c ------------------------------------------------ */

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

const OpCase op_cases_optim[] = {
    {"sumsq, scale, adamw", run_optimizer, {1}, 0, 0, 0},
    {"sumsq, scale, adamw", run_optimizer, {4099}, 0, 0, 0},
    {NULL, NULL, {0}, 0, 0, 0}};

/* ---- a step by hand (tests/test_gradcheck.c) ------------------------------------------- */

/* p = 1, g = 0.5, m = v = 0, lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8,
 * wd = 0.01, t = 1:
 *   m = 0.1 * 0.5 = 0.05 ; v = 0.001 * 0.25 = 0.00025
 *   mhat = 0.05 / 0.1 = 0.5 ; vhat = 0.00025 / 0.001 = 0.25 ; sqrt = 0.5
 *   p = 1 - 0.1 * (0.5 / (0.5 + 1e-8) + 0.01 * 1) = 0.899000002 (to 1e-9)
 * then t = 2 with g = -0.5:
 *   m = 0.9*0.05 - 0.05 = -0.005 ; v = 0.999*0.00025 + 0.00025 = 0.00049975
 *   mhat = -0.005/0.19 = -0.0263157895 ; vhat = 0.00049975/0.001999 = 0.25
 *   p = 0.899000002 - 0.1 * (-0.0263157895/0.50000001 + 0.00899000002)
 *     = 0.899000002 + 0.00526315779 - 0.000899000002 = 0.90336416 */
static void test_adamw_by_hand(void) {
    double p = 1, g = 0.5, m = 0, v = 0;
    naive_adamw_update(&p, &g, &m, &v, 1, 0.1, 0.9, 0.999, 1e-8, 0.01, 1);
    printf("    naive step 1: p=%.10f m=%.6f v=%.8f\n", p, m, v);
    CU_ASSERT(fabs(p - 0.899000002) < 1e-9 && fabs(m - 0.05) < 1e-15 && fabs(v - 0.00025) < 1e-15);
    g = -0.5;
    naive_adamw_update(&p, &g, &m, &v, 1, 0.1, 0.9, 0.999, 1e-8, 0.01, 2);
    printf("    naive step 2: p=%.10f\n", p);
    CU_ASSERT(fabs(p - 0.90336416) < 1e-8);

    Backend *be = backend_cpu(1);
    float pf = 1, gf = 0.5f, mf = 0, vf = 0;
    be->adamw_update(be, &pf, &gf, &mf, &vf, 1, 0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, 1);
    gf = -0.5f;
    be->adamw_update(be, &pf, &gf, &mf, &vf, 1, 0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, 2);
    printf("    fast  step 2: p=%.8f\n", (double)pf);
    CU_ASSERT(fabs(pf - 0.90336416) < 1e-6); /* a few float ulps */
    be->destroy(be);
}

const TestCase op_fd_optim[] = {
    {"AdamW vs a hand-computed step", test_adamw_by_hand},
    {NULL, NULL}};

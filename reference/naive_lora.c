/* naive_lora.c — the LoRA adapter family
 * (kernels/cpu/lora.c, kernels/cuda/lora.cu): the double-precision
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

/* u[n,r] = sum_c inp[n,c] a[r,c] ; out[n,o] += s sum_r u[n,r] b[o,r] (out
 * may be NULL: u only) */
static void naive_lora_forward(double *out, double *u, const double *inp, const double *a, const double *b,
                               int N, int C, int R, int OC, double s) {
    for (int n = 0; n < N; n++) {
        for (int r = 0; r < R; r++) {
            double acc = 0;
            for (int c = 0; c < C; c++) acc += inp[(size_t)n * C + c] * a[(size_t)r * C + c];
            u[(size_t)n * R + r] = acc;
        }
        for (int o = 0; out && o < OC; o++) {
            double acc = 0;
            for (int r = 0; r < R; r++) acc += u[(size_t)n * R + r] * b[(size_t)o * R + r];
            out[(size_t)n * OC + o] += s * acc;
        }
    }
}

/* w_eff[o,c] = w[o,c] + s sum_r b[o,r] a[r,c] */
static void naive_lora_merge(double *w_eff, const double *w, const double *a, const double *b, int OC, int C,
                             int R, double s) {
    for (int o = 0; o < OC; o++)
        for (int c = 0; c < C; c++) {
            double acc = 0;
            for (int r = 0; r < R; r++) acc += b[(size_t)o * R + r] * a[(size_t)r * C + c];
            w_eff[(size_t)o * C + c] = w[(size_t)o * C + c] + s * acc;
        }
}

/* The chain rule through the two products: du = s dout b ; db += s dout^T u ;
 * da += du^T inp ; dinp += du a (dinp may be NULL). */
static void naive_lora_backward(double *dinp, double *da, double *db, double *du, const double *dout,
                                const double *inp, const double *u, const double *a, const double *b,
                                int N, int C, int R, int OC, double s) {
    for (int n = 0; n < N; n++)
        for (int r = 0; r < R; r++) {
            double acc = 0;
            for (int o = 0; o < OC; o++) acc += dout[(size_t)n * OC + o] * b[(size_t)o * R + r];
            du[(size_t)n * R + r] = s * acc;
        }
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++)
            for (int r = 0; r < R; r++)
                db[(size_t)o * R + r] += s * dout[(size_t)n * OC + o] * u[(size_t)n * R + r];
    for (int n = 0; n < N; n++)
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++) {
                double d = du[(size_t)n * R + r];
                da[(size_t)r * C + c] += d * inp[(size_t)n * C + c];
                if (dinp) dinp[(size_t)n * C + c] += d * a[(size_t)r * C + c];
            }
}

/* ---- behind the Backend interface ------------------------------------------------------ */

void nv_lora_forward(Backend *be, float *out, float *u, const float *inp, const float *a,
                     const float *b, int N, int C, int R, int OC, float s) {
    size_t no = (size_t)N * OC, nu = (size_t)N * R;
    double *o = to_d(out, no, 0), *du = xmalloc((nu ? nu : 1) * sizeof *du);
    double *x = to_d(inp, (size_t)N * C, 0), *da = to_d(a, (size_t)R * C, 0), *db = to_d(b, (size_t)OC * R, 0);
    naive_lora_forward(o, du, x, da, db, N, C, R, OC, s);
    back_f(out, o, no), back_f(u, du, nu);
    free(x), free(da), free(db);
}

void nv_lora_merge(Backend *be, float *w_eff, const float *w, const float *a, const float *b, int OC, int C,
                   int R, float s) {
    size_t nw = (size_t)OC * C;
    double *we = xmalloc((nw ? nw : 1) * sizeof *we), *dw = to_d(w, nw, 0);
    double *da = to_d(a, (size_t)R * C, 0), *db = to_d(b, (size_t)OC * R, 0);
    naive_lora_merge(we, dw, da, db, OC, C, R, s);
    back_f(w_eff, we, nw);
    free(dw), free(da), free(db);
}

void nv_lora_backward(Backend *be, float *dinp, float *da, float *db, float *du, const float *dout,
                      const float *inp, const float *u, const float *a, const float *b, int N,
                      int C, int R, int OC, float s) {
    size_t ni = (size_t)N * C, na = (size_t)R * C, nb = (size_t)OC * R, nu = (size_t)N * R;
    double *gx = to_d(dinp, ni, 0), *ga = to_d(da, na, 0), *gb = to_d(db, nb, 0);
    double *gu = xmalloc((nu ? nu : 1) * sizeof *gu), *d = to_d(dout, (size_t)N * OC, 0);
    double *x = to_d(inp, ni, 0), *uu = to_d(u, nu, 0), *aa = to_d(a, na, 0), *bb = to_d(b, nb, 0);
    if (!u) { /* ops.h: recomputed, u = inp a^T */
        uu = xmalloc((nu ? nu : 1) * sizeof *uu);
        naive_lora_forward(NULL, uu, x, aa, bb, N, C, R, OC, s);
    }
    naive_lora_backward(gx, ga, gb, gu, d, x, uu, aa, bb, N, C, R, OC, s);
    back_f(dinp, gx, ni), back_f(da, ga, na), back_f(db, gb, nb), back_f(du, gu, nu);
    free(d), free(x), free(uu), free(aa), free(bb);
}

/* ---- the cases of tests/test_backend_ops.c ------------------------------------------------ */

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
    float *u_only = up_f(&b, rnd(nu, 100, -9, 9), nu); /* overwritten */
    float *w0 = up_f(&b, rnd((size_t)OC * C, 101, -1, 1), (size_t)OC * C);
    float *w_eff = up_f(&b, rnd((size_t)OC * C, 102, -9, 9), (size_t)OC * C); /* overwritten */
    be->lora_forward(be, out, u, x, a, w, N, C, R, OC, c->f);
    be->lora_forward(be, NULL, u_only, x, a, w, N, C, R, OC, c->f);
    be->lora_merge(be, w_eff, w0, a, w, OC, C, R, c->f);
    be->lora_backward(be, c->flag ? gx : NULL, ga, gb, du, dout, x, u, a, w, N, C, R, OC, c->f);
    /* the same backward without the saved u (recomputed: inp a^T), onto the same starting gradients */
    float *ga2 = up_f(&b, rnd(na, 97, -1, 1), na), *gb2 = up_f(&b, rnd(nb, 98, -1, 1), nb);
    float *du2 = up_f(&b, rnd(nu, 99, -9, 9), nu);
    be->lora_backward(be, NULL, ga2, gb2, du2, dout, x, NULL, a, w, N, C, R, OC, c->f);
    take(o, be, "out (accumulated)", out, no, DOT);
    take(o, be, "u", u, nu, DOT);
    take(o, be, "u (out NULL)", u_only, nu, DOT);
    take(o, be, "merged weight w + s b a", w_eff, (size_t)OC * C, DOT);
    take(o, be, "du", du, nu, DOT);
    take(o, be, "dinp (accumulated)", gx, ni, DOT);
    take(o, be, "da (accumulated)", ga, na, DOT);
    take(o, be, "db (accumulated)", gb, nb, DOT);
    take(o, be, "du (u recomputed)", du2, nu, DOT);
    take(o, be, "da (u recomputed)", ga2, na, DOT);
    take(o, be, "db (u recomputed)", gb2, nb, DOT);
    bufs_free(&b);
}

const OpCase op_cases_lora[] = {
    {"lora", run_lora, {13, 20, 4, 36}, 2.0f, 0, 1},
    {"lora", run_lora, {7, 36, 8, 20}, 0.5f, 0, 0},
    {"lora", run_lora, {1, 3, 1, 5}, 1.0f, 0, 1},
    {"lora", run_lora, {130, 100, 16, 300}, 2.0f, 0, 1},
    {"lora", run_lora, {1100, 40, 12, 70}, 0.5f, 0, 0}, /* 3 backward tasks of 4 chunks (kernels/cpu/lora.c) */
    {NULL, NULL, {0}, 0, 0, 0}};

/* ---- finite differences (tests/test_gradcheck.c) --------------------------------------- */

typedef struct {
    int N, C, R, OC;
    double s;
    double *x, *a, *b, *out, *u, *r;
} LoraP;

static double lora_loss(void *p) {
    LoraP *l = p;
    memset(l->out, 0, (size_t)l->N * l->OC * sizeof *l->out); /* the forward accumulates */
    naive_lora_forward(l->out, l->u, l->x, l->a, l->b, l->N, l->C, l->R, l->OC, l->s);
    return dotd(l->r, l->out, (size_t)l->N * l->OC);
}

static void test_fd_lora(void) {
    LoraP l = {3, 5, 2, 4, 1.5, NULL, NULL, NULL, NULL, NULL, NULL};
    size_t ni = (size_t)l.N * l.C, na = (size_t)l.R * l.C, nb = (size_t)l.OC * l.R, no = (size_t)l.N * l.OC;
    l.x = rndd(ni, 100, -1, 1), l.a = rndd(na, 101, -1, 1), l.b = rndd(nb, 102, -1, 1);
    l.r = rndd(no, 103, -1, 1), l.out = zerosd(no), l.u = zerosd((size_t)l.N * l.R);
    double *dx = zerosd(ni), *da = zerosd(na), *db = zerosd(nb), *du = zerosd((size_t)l.N * l.R);
    lora_loss(&l); /* fills u */
    naive_lora_backward(dx, da, db, du, l.r, l.x, l.u, l.a, l.b, l.N, l.C, l.R, l.OC, l.s);
    CU_ASSERT(fd_check("lora d/dinp", lora_loss, &l, l.x, dx, ni, FD_EPS, FD_TOL, FD_FLOOR));
    CU_ASSERT(fd_check("lora d/da", lora_loss, &l, l.a, da, na, FD_EPS, FD_TOL, FD_FLOOR));
    CU_ASSERT(fd_check("lora d/db", lora_loss, &l, l.b, db, nb, FD_EPS, FD_TOL, FD_FLOOR));
    free(l.x), free(l.a), free(l.b), free(l.r), free(l.out), free(l.u);
    free(dx), free(da), free(db), free(du);
}

const TestCase op_fd_lora[] = {
    {"FD: lora (naive, double)", test_fd_lora},
    {NULL, NULL}};

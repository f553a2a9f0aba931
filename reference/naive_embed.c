/* naive_embed.c — the embeddings family
 * (kernels/cpu/embed.c, kernels/cuda/embed.cu): the double-precision
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

static void naive_embed_forward(double *out, const int *ids, const int *tt, const double *wte,
                                const double *wpe, const double *wtt, int B, int T, int C) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int i = b * T + t;
            for (int c = 0; c < C; c++)
                out[(size_t)i * C + c] = wte[(size_t)ids[i] * C + c] + wpe[(size_t)t * C + c] +
                                         wtt[(size_t)tt[i] * C + c];
        }
}

static void naive_embed_backward(double *dwte, double *dwpe, double *dwtt, const double *dout,
                                 const int *ids, const int *tt, int B, int T, int C) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int i = b * T + t;
            for (int c = 0; c < C; c++) {
                double d = dout[(size_t)i * C + c];
                dwte[(size_t)ids[i] * C + c] += d;
                dwpe[(size_t)t * C + c] += d;
                dwtt[(size_t)tt[i] * C + c] += d;
            }
        }
}

/* ---- behind the Backend interface ------------------------------------------------------ */

void nv_embed_forward(Backend *be, float *out, const int *ids, const int *tt, const float *wte,
                      const float *wpe, const float *wtt, int B, int T, int C) {
    size_t BT = (size_t)B * T, V = rows_used(ids, BT), NT = rows_used(tt, BT);
    double *dte = to_d(wte, V * C, 0), *dpe = to_d(wpe, (size_t)T * C, 0), *dtt = to_d(wtt, NT * C, 0);
    double *o = xmalloc(BT * C * sizeof *o);
    naive_embed_forward(o, ids, tt, dte, dpe, dtt, B, T, C);
    back_f(out, o, BT * C);
    free(dte), free(dpe), free(dtt);
}

void nv_embed_backward(Backend *be, float *dwte, float *dwpe, float *dwtt, const float *dout,
                       const int *ids, const int *tt, int B, int T, int C) {
    size_t BT = (size_t)B * T, V = rows_used(ids, BT), NT = rows_used(tt, BT);
    double *gte = to_d(dwte, V * C, 0), *gpe = to_d(dwpe, (size_t)T * C, 0), *gtt = to_d(dwtt, NT * C, 0);
    double *d = to_d(dout, BT * C, 0);
    naive_embed_backward(gte, gpe, gtt, d, ids, tt, B, T, C);
    back_f(dwte, gte, V * C), back_f(dwpe, gpe, (size_t)T * C), back_f(dwtt, gtt, NT * C);
    free(d);
}

/* ---- the cases of tests/test_backend_ops.c ------------------------------------------------ */

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

const OpCase op_cases_embed[] = {
    {"embed", run_embed, {2, 7, 20, 11}, 0, 0, 0},
    {"embed", run_embed, {3, 13, 36, 50}, 0, 0, 0},
    {"embed", run_embed, {4, 128, 36, 3}, 0, 0, 0}, /* > 64 positions per id */
    {"embed", run_embed, {1, 5, 3, 2}, 0, 0, 0},
    {NULL, NULL, {0}, 0, 0, 0}};

/* ---- finite differences (tests/test_gradcheck.c) --------------------------------------- */

typedef struct {
    int B, T, C;
    const int *ids, *tt;
    double *wte, *wpe, *wtt, *out, *r;
} EmbP;

static double embed_loss(void *p) {
    EmbP *e = p;
    naive_embed_forward(e->out, e->ids, e->tt, e->wte, e->wpe, e->wtt, e->B, e->T, e->C);
    return dotd(e->r, e->out, (size_t)e->B * e->T * e->C);
}

static void test_fd_embed(void) {
    static const int ids[] = {3, 1, 3, 0, 2, 3}, tt[] = {0, 0, 1, 1, 0, 1}; /* id 3 repeats */
    EmbP e = {2, 3, 5, ids, tt, NULL, NULL, NULL, NULL, NULL};
    size_t nte = 4 * 5, npe = 3 * 5, ntt = 2 * 5, no = 6 * 5;
    e.wte = rndd(nte, 30, -1, 1), e.wpe = rndd(npe, 31, -1, 1), e.wtt = rndd(ntt, 32, -1, 1);
    e.out = zerosd(no), e.r = rndd(no, 33, -1, 1);
    double *dte = zerosd(nte), *dpe = zerosd(npe), *dtt = zerosd(ntt);
    naive_embed_backward(dte, dpe, dtt, e.r, ids, tt, e.B, e.T, e.C);
    CU_ASSERT(fd_check("embed d/dwte", embed_loss, &e, e.wte, dte, nte, FD_EPS, FD_TOL, FD_FLOOR));
    CU_ASSERT(fd_check("embed d/dwpe", embed_loss, &e, e.wpe, dpe, npe, FD_EPS, FD_TOL, FD_FLOOR));
    CU_ASSERT(fd_check("embed d/dwtt", embed_loss, &e, e.wtt, dtt, ntt, FD_EPS, FD_TOL, FD_FLOOR));
    free(e.wte), free(e.wpe), free(e.wtt), free(e.out), free(e.r), free(dte), free(dpe), free(dtt);
}

const TestCase op_fd_embed[] = {
    {"FD: embeddings (naive, double)", test_fd_embed},
    {NULL, NULL}};

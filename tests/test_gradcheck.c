/* Finite-difference gradient checks.
 *
 * 1. Every naive (double) backward against central differences of its own
 *    forward: the op_fd_<family> tests of each reference/naive_<family>.c
 *    (reference/op_check.h gives the method and its tolerance), and the
 *    optimiser family's AdamW against a step computed by hand.
 * 2. A float check of a few fast kernels (eps = 1e-2 in float: round-off
 *    ~ 6e-8 |L| / eps ~ 6e-5, truncation ~ eps^2 ~ 1e-4) with tolerance 1e-2
 *    on the same relative measure with a floor of 1e-1. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "op_check.h"
#include "rng.h"
#include "testutil.h"

/* ---- float check of the fast kernels --------------------------------------- */

#define FFD_EPS 1e-2
#define FFD_TOL 1e-2
#define FFD_FLOOR 1e-1

typedef struct {
    Backend *be;
    int op; /* 0 gelu, 1 layernorm, 2 attention */
    int N, C, NH, T, B;
    const int *mask;
    float *x, *w, *b, *out, *mean, *rstd, *att, *scratch;
    double *r; /* functional weights */
    float *xf; /* float copy perturbed by the FD loop */
} FastP;

static double fast_loss(void *p) {
    FastP *f = p;
    size_t n = (size_t)f->N * f->C;
    if (f->op == 0) f->be->gelu_forward(f->be, f->out, f->x, n);
    if (f->op == 1)
        f->be->layernorm_forward(f->be, f->out, f->mean, f->rstd, f->x, f->w, f->b, f->N, f->C,
                                 1e-5f);
    if (f->op == 2)
        f->be->attention_forward(f->be, f->out, f->att, f->scratch, f->x, f->mask, f->B, f->T,
                                 f->C, f->NH, 0.1f, 1, 2, 3, 0);
    double s = 0;
    for (size_t i = 0; i < n; i++) s += f->r[i] * f->out[i];
    return s;
}

/* FD in float: perturb x through a double mirror, as fd_check works on doubles. */
typedef struct {
    FastP *f;
    double *xd;
    size_t nx;
} FastMirror;

static double mirror_loss(void *p) {
    FastMirror *m = p;
    for (size_t i = 0; i < m->nx; i++) m->f->x[i] = (float)m->xd[i];
    return fast_loss(m->f);
}

static void check_fast_fd(const char *label, FastP *f, size_t nx, const float *grad) {
    double *xd = malloc(nx * sizeof *xd), *gd = malloc(nx * sizeof *gd);
    for (size_t i = 0; i < nx; i++) xd[i] = f->x[i], gd[i] = grad[i];
    FastMirror m = {f, xd, nx};
    CU_ASSERT(fd_check(label, mirror_loss, &m, xd, gd, nx, FFD_EPS, FFD_TOL, FFD_FLOOR));
    free(xd), free(gd);
}

static float *rndf(size_t n, uint32_t stream, float lo, float hi) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_uniform(4321, 2, stream, i);
    return x;
}

static void test_fd_fast_kernels(void) {
    static const int mask[] = {1, 1, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0};
    Backend *be = backend_cpu(2);
    enum { B = 2, T = 6, C = 12, NH = 3, N = B * T };
    FastP f = {be, 0, N, C, NH, T, B, mask, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    f.x = rndf(N * 3 * C, 70, -2, 2), f.w = rndf(C, 71, 0.5f, 1.5f), f.b = rndf(C, 72, -1, 1);
    f.out = malloc(N * C * 4), f.mean = malloc(N * 4), f.rstd = malloc(N * 4);
    f.att = malloc(B * NH * T * T * 4), f.scratch = malloc((4 * N * C + B * NH * T * T) * 4);
    f.r = rndd(N * C, 73, -1, 1);
    float *rf = malloc(N * C * 4), *g = calloc(N * 3 * C, 4), *gw = calloc(C, 4), *gb = calloc(C, 4);
    for (int i = 0; i < N * C; i++) rf[i] = (float)f.r[i];

    fast_loss(&f);
    be->gelu_backward(be, g, f.x, rf, N * C);
    check_fast_fd("fast gelu (float FD)", &f, N * C, g);

    f.op = 1, memset(g, 0, N * 3 * C * 4);
    fast_loss(&f);
    be->layernorm_backward(be, g, gw, gb, rf, f.x, f.w, f.mean, f.rstd, N, C);
    check_fast_fd("fast layernorm (float FD)", &f, N * C, g);

    f.op = 2, memset(g, 0, N * 3 * C * 4);
    fast_loss(&f);
    be->attention_backward(be, g, f.scratch, rf, f.x, f.att, mask, B, T, C, NH, 0.1f, 1, 2, 3, 0);
    check_fast_fd("fast attention p=0.1 (float FD)", &f, N * 3 * C, g);

    free(f.x), free(f.w), free(f.b), free(f.out), free(f.mean), free(f.rstd), free(f.att);
    free(f.scratch), free(f.r), free(rf), free(g), free(gw), free(gb);
    be->destroy(be);
}

int main(void) {
    static const TestCase fast[] = {
        {"FD: fast gelu, layernorm, attention (float)", test_fd_fast_kernels},
        {NULL, NULL}};
#define OP_FAMILY_SUITE(f) testutil_add_suite("gradcheck: " #f, op_fd_##f);
    OP_FAMILIES(OP_FAMILY_SUITE)
#undef OP_FAMILY_SUITE
    testutil_add_suite("gradcheck: fast kernels", fast);
    return testutil_run_all();
}

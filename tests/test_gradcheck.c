/* Finite-difference gradient checks.
 *
 * 1. Every naive (double) backward against central differences of its own
 *    forward, through a random linear functional L = sum_i r_i y_i:
 *        dL/dx_k ~ (L(x + eps e_k) - L(x - eps e_k)) / (2 eps),  eps = 1e-6.
 *    Truncation error is O(eps^2) ~ 1e-12 and round-off ~ 1e-16 |y_k| / eps
 *    ~ 1e-9 (L itself is summed in long double), so we require
 *        |analytic - fd| / max(|analytic|, |fd|, 1e-2) < 1e-6
 *    (the 1e-2 floor keeps near-zero components from dividing round-off by
 *    almost nothing).
 * 2. A float check of a few fast kernels (eps = 1e-2 in float: round-off
 *    ~ 6e-8 |L| / eps ~ 6e-5, truncation ~ eps^2 ~ 1e-4) with tolerance 1e-2
 *    on the same relative measure with a floor of 1e-1.
 * 3. AdamW against a step computed by hand. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "naive.h"
#include "rng.h"
#include "testutil.h"

#define FD_EPS 1e-6
#define FD_TOL 1e-6
#define FD_FLOOR 1e-2

/* ---- helpers ----------------------------------------------------------- */

static double *rndd(size_t n, uint32_t stream, double lo, double hi) {
    double *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_uniform(4321, 1, stream, i);
    return x;
}

static double *zerosd(size_t n) { return calloc(n ? n : 1, sizeof(double)); }

/* L = r . y, summed in long double so that the rounding of the sum itself
 * (which does not cancel between L(x+eps) and L(x-eps)) stays far below the
 * round-off of the one term that changes. */
static double dotd(const double *a, const double *b, size_t n) {
    long double s = 0;
    for (size_t i = 0; i < n; i++) s += (long double)a[i] * b[i];
    return (double)s;
}

typedef double (*LossFn)(void *problem);

/* Compares grad (analytic) with central differences of loss() over x[0..n);
 * prints the worst relative error; returns 1 if below tol. */
static int fd_check(const char *label, LossFn loss, void *problem, double *x, const double *grad,
                    size_t n, double eps, double tol, double floor) {
    double worst = 0;
    size_t worst_at = 0;
    for (size_t k = 0; k < n; k++) {
        double keep = x[k];
        x[k] = keep + eps;
        double lp = loss(problem);
        x[k] = keep - eps;
        double lm = loss(problem);
        x[k] = keep;
        double fd = (lp - lm) / (2 * eps);
        double den = fmax(floor, fmax(fabs(fd), fabs(grad[k])));
        double err = fabs(fd - grad[k]) / den;
        if (err > worst || isnan(err)) worst = err, worst_at = k;
    }
    printf("    %-34s n=%-6zu worst rel err %.2e (at %zu)%s\n", label, n, worst, worst_at,
           worst < tol ? "" : "  TOO LARGE");
    return worst < tol;
}

/* ---- matmul ---------------------------------------------------------------- */

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

/* ---- layernorm ------------------------------------------------------------- */

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

/* ---- gelu, residual, dropout ------------------------------------------------ */

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

/* ---- embeddings ------------------------------------------------------------ */

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

/* ---- attention ------------------------------------------------------------- */

typedef struct {
    int B, T, C, NH;
    float p;
    const int *mask;
    double *qkv, *out, *att, *r;
} AttP;

static double attention_loss(void *p) {
    AttP *a = p; /* same seed/step/stream each call: the same dropout mask */
    naive_attention_forward(a->out, a->att, a->qkv, a->mask, a->B, a->T, a->C, a->NH, a->p, 9, 8, 7, 0);
    return dotd(a->r, a->out, (size_t)a->B * a->T * a->C);
}

static void check_fd_attention(float p) {
    /* batch 0: padded tail; batch 1: only position 0 real; holes in batch 2 */
    static const int mask[] = {1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 1, 1, 0};
    AttP a = {3, 5, 8, 2, p, mask, NULL, NULL, NULL, NULL};
    size_t nq = (size_t)a.B * a.T * 3 * a.C, no = (size_t)a.B * a.T * a.C;
    a.qkv = rndd(nq, 40, -1.5, 1.5), a.out = zerosd(no), a.r = rndd(no, 41, -1, 1);
    a.att = zerosd((size_t)a.B * a.NH * a.T * a.T);
    double *dq = zerosd(nq);
    attention_loss(&a);
    naive_attention_backward(dq, a.r, a.qkv, a.att, mask, a.B, a.T, a.C, a.NH, p, 9, 8, 7, 0);
    char label[64];
    snprintf(label, sizeof label, "attention d/dqkv (mask, p=%.1f)", (double)p);
    CU_ASSERT(fd_check(label, attention_loss, &a, a.qkv, dq, nq, FD_EPS, FD_TOL, FD_FLOOR));
    free(a.qkv), free(a.out), free(a.att), free(a.r), free(dq);
}

static void test_fd_attention(void) {
    check_fd_attention(0.0f);
    check_fd_attention(0.2f);
}

/* ---- cross-entropy, qa split ------------------------------------------------ */

typedef struct {
    int N, V;
    const int *tg;
    double scale;
    double *logits, *loss, *probs;
} CeP;

/* L = scale * sum_n loss_n: what crossentropy_backward differentiates */
static double ce_loss(void *p) {
    CeP *c = p;
    naive_crossentropy_forward(c->loss, c->probs, c->logits, c->tg, c->N, c->V);
    double s = 0;
    for (int n = 0; n < c->N; n++) s += c->loss[n];
    return c->scale * s;
}

static void test_fd_crossentropy(void) {
    static const int tg[] = {2, MTL_IGNORE_INDEX, 0, 6, MTL_IGNORE_INDEX, 3};
    CeP c = {6, 7, tg, 0.25, NULL, NULL, NULL};
    size_t n = (size_t)c.N * c.V;
    c.logits = rndd(n, 50, -4, 4), c.loss = zerosd(c.N), c.probs = zerosd(n);
    double *dl = zerosd(n);
    ce_loss(&c);
    naive_crossentropy_backward(dl, c.probs, tg, c.scale, c.N, c.V);
    CU_ASSERT(fd_check("crossentropy d/dlogits (ignored rows)", ce_loss, &c, c.logits, dl, n,
                       FD_EPS, FD_TOL, FD_FLOOR));
    int ignored_zero = 1;
    for (int v = 0; v < c.V; v++) ignored_zero &= dl[1 * c.V + v] == 0 && dl[4 * c.V + v] == 0;
    CU_ASSERT(ignored_zero);
    free(c.logits), free(c.loss), free(c.probs), free(dl);
}

typedef struct {
    int B, T;
    double *qa, *split, *r;
} QaP;

static double qa_loss(void *p) {
    QaP *q = p;
    naive_qa_split_forward(q->split, q->qa, q->B, q->T);
    return dotd(q->r, q->split, (size_t)q->B * q->T * 2);
}

static void test_fd_qa_split(void) {
    QaP q = {2, 5, NULL, NULL, NULL};
    size_t n = (size_t)q.B * q.T * 2;
    q.qa = rndd(n, 60, -1, 1), q.split = zerosd(n), q.r = rndd(n, 61, -1, 1);
    double *dqa = zerosd(n);
    naive_qa_split_backward(dqa, q.r, q.B, q.T);
    CU_ASSERT(fd_check("qa_split d/dqa", qa_loss, &q, q.qa, dqa, n, FD_EPS, FD_TOL, FD_FLOOR));
    free(q.qa), free(q.split), free(q.r), free(dqa);
}

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

/* ---- AdamW against a hand-computed step ----------------------------------- */

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

int main(void) {
    static const TestCase tests[] = {
        {"FD: matmul (naive, double)", test_fd_matmul},
        {"FD: layernorm (naive, double)", test_fd_layernorm},
        {"FD: gelu, dropout, residual (naive, double)", test_fd_elementwise},
        {"FD: embeddings (naive, double)", test_fd_embed},
        {"FD: attention with mask, dropout off/on (naive)", test_fd_attention},
        {"FD: cross-entropy with ignored rows (naive)", test_fd_crossentropy},
        {"FD: qa split (naive, double)", test_fd_qa_split},
        {"FD: fast gelu, layernorm, attention (float)", test_fd_fast_kernels},
        {"AdamW vs a hand-computed step", test_adamw_by_hand},
        {NULL, NULL}};
    testutil_add_suite("gradcheck", tests);
    return testutil_run_all();
}

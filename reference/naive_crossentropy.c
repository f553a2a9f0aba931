/* naive_crossentropy.c — the cross-entropy and QA-split family
 * (kernels/cpu/crossentropy.c, kernels/cuda/crossentropy.cu): the double-precision
 * references, their Backend wrappers, the cases every backend is checked on
 * and the finite-difference checks of the references' backward
 * (reference/op_check.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "naive.h"
#include "op_check.h"
#include "util.h"

/* ---- the references ------------------------------------------------------------------ */

static void naive_crossentropy_forward(double *losses, double *probs, const double *logits,
                                       const int *targets, int N, int V) {
    for (int n = 0; n < N; n++) {
        const double *x = logits + (size_t)n * V;
        double mx = -INFINITY, sum = 0;
        for (int v = 0; v < V; v++) mx = x[v] > mx ? x[v] : mx;
        for (int v = 0; v < V; v++) sum += exp(x[v] - mx);
        for (int v = 0; v < V; v++) probs[(size_t)n * V + v] = exp(x[v] - mx) / sum;
        int t = targets[n];
        if (t == MTL_IGNORE_INDEX)
            losses[n] = 0.0;
        else if (t < 0 || t >= V)
            losses[n] = NAN;
        else
            losses[n] = log(sum) + mx - x[t]; /* -log softmax(x)_t */
    }
}

static void naive_crossentropy_backward(double *dlogits, const double *probs, const int *targets,
                                        double dscale, int N, int V) {
    for (int n = 0; n < N; n++) {
        int t = targets[n];
        if (t == MTL_IGNORE_INDEX || t < 0 || t >= V) continue;
        for (int v = 0; v < V; v++)
            dlogits[(size_t)n * V + v] += dscale * (probs[(size_t)n * V + v] - (v == t ? 1.0 : 0.0));
    }
}

static void naive_qa_split_forward(double *split, const double *qa, int B, int T) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int k = 0; k < 2; k++)
                split[((size_t)k * B + b) * T + t] = qa[((size_t)b * T + t) * 2 + k];
}

static void naive_qa_split_backward(double *dqa, const double *dsplit, int B, int T) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int k = 0; k < 2; k++)
                dqa[((size_t)b * T + t) * 2 + k] += dsplit[((size_t)k * B + b) * T + t];
}

/* ---- behind the Backend interface ------------------------------------------------------ */

void nv_crossentropy_forward(Backend *be, float *losses, float *probs, const float *logits,
                             const int *targets, int N, int V) {
    size_t n = (size_t)N * V;
    double *x = to_d(logits, n, 0), *l = xmalloc((N ? N : 1) * sizeof *l), *p = xmalloc((n ? n : 1) * sizeof *p);
    naive_crossentropy_forward(l, p, x, targets, N, V);
    back_f(losses, l, N), back_f(probs, p, n);
    free(x);
}

void nv_crossentropy_backward(Backend *be, float *dlogits, const float *probs, const int *targets,
                              float dscale, int N, int V) {
    size_t n = (size_t)N * V;
    double *g = to_d(dlogits, n, 0), *p = to_d(probs, n, 0);
    naive_crossentropy_backward(g, p, targets, dscale, N, V);
    back_f(dlogits, g, n);
    free(p);
}

void nv_qa_split_forward(Backend *be, float *split, const float *qa, int B, int T) {
    size_t n = 2 * (size_t)B * T;
    double *x = to_d(qa, n, 0), *o = xmalloc(n * sizeof *o);
    naive_qa_split_forward(o, x, B, T);
    back_f(split, o, n);
    free(x);
}

void nv_qa_split_backward(Backend *be, float *dqa, const float *dsplit, int B, int T) {
    size_t n = 2 * (size_t)B * T;
    double *g = to_d(dqa, n, 0), *d = to_d(dsplit, n, 0);
    naive_qa_split_backward(g, d, B, T);
    back_f(dqa, g, n);
    free(d);
}

/* ---- the cases of tests/test_backend_ops.c ------------------------------------------------ */

/* crossentropy: p = N, V (every third target ignored) */
static void run_crossentropy(const OpCase *c, Backend *be, Outs *o) {
    int N = c->p[0], V = c->p[1];
    size_t n = (size_t)N * V;
    Bufs b = {be, {0}, 0};
    int *tg = rnd_ints((size_t)N, 72, V);
    for (int r = 0; r < N; r += 3) tg[r] = MTL_IGNORE_INDEX;
    int *d_tg = up_i(&b, tg, (size_t)N);
    float *logits = up_f(&b, rnd(n, 70, -5, 5), n), *g = up_f(&b, rnd(n, 71, -1, 1), n);
    float *losses = empty_f(&b, (size_t)N), *probs = empty_f(&b, n);
    be->crossentropy_forward(be, losses, probs, logits, d_tg, N, V);
    be->crossentropy_backward(be, g, probs, d_tg, 0.37f, N, V);
    take(o, be, "losses", losses, (size_t)N, (Tol){1e-5, 1e-5, 0});
    take(o, be, "probs", probs, n, ELEM);
    take(o, be, "dlogits (accumulated)", g, n, ELEM);
    bufs_free(&b);
}

static void run_qa_split(const OpCase *c, Backend *be, Outs *o) {
    int B = c->p[0], T = c->p[1];
    size_t n = 2 * (size_t)B * T;
    Bufs b = {be, {0}, 0};
    float *qa = up_f(&b, rnd(n, 46, -1, 1), n), *ds = up_f(&b, rnd(n, 47, -1, 1), n);
    float *g = up_f(&b, rnd(n, 48, -1, 1), n), *split = empty_f(&b, n);
    be->qa_split_forward(be, split, qa, B, T);
    be->qa_split_backward(be, g, ds, B, T);
    take(o, be, "split", split, n, ELEM);
    take(o, be, "dqa (accumulated)", g, n, ELEM);
    bufs_free(&b);
}

const OpCase op_cases_crossentropy[] = {
    {"qa_split", run_qa_split, {3, 7}, 0, 0, 0},
    {"qa_split", run_qa_split, {1, 1001}, 0, 0, 0},
    {"crossentropy", run_crossentropy, {1, 1}, 0, 0, 0},
    {"crossentropy", run_crossentropy, {13, 9}, 0, 0, 0},
    {"crossentropy", run_crossentropy, {130, 128}, 0, 0, 0},
    {"crossentropy", run_crossentropy, {64, 513}, 0, 0, 0},
    {NULL, NULL, {0}, 0, 0, 0}};

/* ---- finite differences (tests/test_gradcheck.c) --------------------------------------- */

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

const TestCase op_fd_crossentropy[] = {
    {"FD: cross-entropy with ignored rows (naive)", test_fd_crossentropy},
    {"FD: qa split (naive, double)", test_fd_qa_split},
    {NULL, NULL}};

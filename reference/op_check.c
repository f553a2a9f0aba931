/* op_check.c — the harness of the op checks (op_check.h). */
#include "op_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "util.h"

/* ---- backend cases ---------------------------------------------------------------------- */

float *rnd(size_t n, uint32_t stream, float lo, float hi) {
    float *x = xmalloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_uniform(4321, 0, stream, i);
    return x;
}

int *rnd_ints(size_t n, uint32_t stream, int hi) {
    int *x = xmalloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (int)(rng_uniform(77, 0, stream, i) * (float)hi) % hi;
    return x;
}

static void *keep_buf(Bufs *b, void *p) {
    if (b->k == MAX_BUFS) die("test_backend_ops: too many buffers in one case");
    return b->p[b->k++] = p;
}

float *up_f(Bufs *b, float *host, size_t n) {
    float *d = keep_buf(b, b->be->alloc(b->be, (n ? n : 1) * sizeof *d));
    b->be->upload(b->be, d, host, n * sizeof *d);
    free(host);
    return d;
}

int *up_i(Bufs *b, int *host, size_t n) {
    int *d = keep_buf(b, b->be->alloc(b->be, (n ? n : 1) * sizeof *d));
    b->be->upload(b->be, d, host, n * sizeof *d);
    free(host);
    return d;
}

float *empty_f(Bufs *b, size_t n) {
    return keep_buf(b, b->be->alloc(b->be, (n ? n : 1) * sizeof(float)));
}

void bufs_free(Bufs *b) {
    for (int i = b->k - 1; i >= 0; i--) b->be->free(b->be, b->p[i]);
    b->k = 0;
}

void take(Outs *o, Backend *be, const char *name, const float *dev, size_t n, Tol tol) {
    if (o->k == MAX_OUTS) die("test_backend_ops: too many outputs in one case");
    o->name[o->k] = name;
    o->n[o->k] = n;
    o->tol[o->k] = tol;
    o->h[o->k] = xmalloc((n ? n : 1) * sizeof(float));
    be->download(be, o->h[o->k], dev, n * sizeof(float));
    o->k++;
}

void take_value(Outs *o, const char *name, double v, Tol tol) {
    if (o->k == MAX_OUTS) die("test_backend_ops: too many outputs in one case");
    o->name[o->k] = name;
    o->n[o->k] = 1;
    o->tol[o->k] = tol;
    o->h[o->k] = xmalloc(sizeof(float));
    o->h[o->k][0] = (float)v;
    o->k++;
}

void outs_free(Outs *o) {
    for (int i = 0; i < o->k; i++) free(o->h[i]);
    o->k = 0;
}

/* ---- finite differences ------------------------------------------------------------------ */

double *rndd(size_t n, uint32_t stream, double lo, double hi) {
    double *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_uniform(4321, 1, stream, i);
    return x;
}

double *zerosd(size_t n) { return calloc(n ? n : 1, sizeof(double)); }

double dotd(const double *a, const double *b, size_t n) {
    long double s = 0;
    for (size_t i = 0; i < n; i++) s += (long double)a[i] * b[i];
    return (double)s;
}

int fd_check(const char *label, LossFn loss, void *problem, double *x, const double *grad,
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

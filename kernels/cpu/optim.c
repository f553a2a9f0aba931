/* optim.c — gradient norm, scaling, and the AdamW update. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "cpu_internal.h"
#include "util.h"

/* sumsq is cut into fixed chunks (independent of the thread count); each
 * chunk is summed in double with 8 lanes, then the chunk sums are added in
 * chunk order. So the result is the same for any thread count. */
enum { SUMSQ_CHUNK = 16384, SUMSQ_LANES = 8 };

static double chunk_sumsq(const float *x, size_t n) {
    double acc[SUMSQ_LANES] = {0};
    size_t i = 0;
    for (; i + SUMSQ_LANES <= n; i += SUMSQ_LANES)
        for (int l = 0; l < SUMSQ_LANES; l++) acc[l] += (double)x[i + l] * (double)x[i + l];
    double s = 0.0;
    for (int l = 0; l < SUMSQ_LANES; l++) s += acc[l];
    for (; i < n; i++) s += (double)x[i] * (double)x[i];
    return s;
}

double cpu_sumsq(Backend *be, const float *x, size_t n) {
    size_t nchunks = (n + SUMSQ_CHUNK - 1) / SUMSQ_CHUNK;
    if (nchunks <= 1) return chunk_sumsq(x, n);
    double *part = xmalloc(nchunks * sizeof *part);
    int nth = cpu_threads(be);
#pragma omp parallel for schedule(static) num_threads(nth)
    for (size_t c = 0; c < nchunks; c++) {
        size_t lo = c * SUMSQ_CHUNK, len = n - lo < SUMSQ_CHUNK ? n - lo : SUMSQ_CHUNK;
        part[c] = chunk_sumsq(x + lo, len);
    }
    double s = 0.0;
    for (size_t c = 0; c < nchunks; c++) s += part[c];
    free(part);
    return s;
}

void cpu_scale(Backend *be, float *x, size_t n, float s) {
    int nth = cpu_threads(be);
#pragma omp parallel for schedule(static) num_threads(nth) if (n > 16384)
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

/* AdamW, as backend.h:
 *   m = b1 m + (1-b1) g ;  v = b2 v + (1-b2) g^2
 *   p -= lr * (m / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps) + wd * p)
 * over elements [0, n) of one chunk; bc1, bc2 are the bias corrections.
 * (The Makefile builds kernels/cpu with -fno-math-errno so that this loop,
 * with its sqrtf, vectorises.) */
static void adamw_chunk(float *restrict p, const float *restrict g, float *restrict m,
                                      float *restrict v, size_t n, float lr, float b1, float b2,
                                      float eps, float wd, float bc1, float bc2) {
    for (size_t i = 0; i < n; i++) {
        float mi = b1 * m[i] + (1.0f - b1) * g[i];
        float vi = b2 * v[i] + (1.0f - b2) * (g[i] * g[i]);
        float mhat = mi / bc1, vhat = vi / bc2;
        p[i] -= lr * (mhat / (sqrtf(vhat) + eps) + wd * p[i]);
        m[i] = mi;
        v[i] = vi;
    }
}

enum { ADAMW_CHUNK = 16384 };

/* The bias corrections are computed once in double; chunks run in parallel. */
void cpu_adamw_update(Backend *be, float *p, const float *g, float *m, float *v, size_t n, float lr,
                      float b1, float b2, float eps, float wd, int t) {
    float bc1 = (float)(1.0 - pow((double)b1, (double)t));
    float bc2 = (float)(1.0 - pow((double)b2, (double)t));
    size_t nchunks = (n + ADAMW_CHUNK - 1) / ADAMW_CHUNK;
    int nth = cpu_threads(be);
#pragma omp parallel for schedule(static) num_threads(nth) if (nchunks > 1)
    for (size_t c = 0; c < nchunks; c++) {
        size_t lo = c * ADAMW_CHUNK, len = n - lo < ADAMW_CHUNK ? n - lo : ADAMW_CHUNK;
        adamw_chunk(p + lo, g + lo, m + lo, v + lo, len, lr, b1, b2, eps, wd, bc1, bc2);
    }
}

/* elementwise.c — GELU, residual add and dropout, each forward and backward.
 * Elementwise ops split [0, n) statically over threads; every element is a
 * pure function of its inputs, so the thread count never changes a bit. */
#include <omp.h>

#include "cpu_internal.h"
#include "cpu_math.h"

/* below this many elements a parallel region costs more than it saves */
#define PAR_MIN ((size_t)16384)

/* GELU works on blocks of GELU_BLOCK elements, split statically over
 * threads; within a block 16 lanes at a time where AVX-512 is there (gcc's
 * own vectorisation of the scalar loop stops at 8 lanes, and inside the
 * OpenMP outlined function not at all), the same operations in the same order
 * as the scalar tail (cpu_math.h), so the bits do not depend on the path. */
enum { GELU_BLOCK = 1024 };

/* y = x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)) */
static void gelu_forward_span(float *out, const float *inp, size_t n) {
    size_t i = 0;
#if defined(__AVX512F__)
    for (; i + CPU_LANES <= n; i += CPU_LANES) {
        __m512 x = _mm512_loadu_ps(inp + i);
        _mm512_storeu_ps(out + i, _mm512_mul_ps(x, cpu_normcdf16(x)));
    }
#endif
    for (; i < n; i++) out[i] = inp[i] * cpu_normcdf(inp[i]);
}

/* dy/dx = Phi(x) + x phi(x) = 0.5 (1 + erf(x/sqrt 2)) + x exp(-x^2/2) / sqrt(2 pi) */
static void gelu_backward_span(float *dinp, const float *inp, const float *dout, size_t n) {
    size_t i = 0;
#if defined(__AVX512F__)
    for (; i + CPU_LANES <= n; i += CPU_LANES) {
        __m512 x = _mm512_loadu_ps(inp + i);
        __m512 slope = _mm512_add_ps(cpu_normcdf16(x), _mm512_mul_ps(x, cpu_normpdf16(x)));
        __m512 g = _mm512_mul_ps(_mm512_loadu_ps(dout + i), slope);
        _mm512_storeu_ps(dinp + i, _mm512_add_ps(_mm512_loadu_ps(dinp + i), g));
    }
#endif
    for (; i < n; i++) {
        float x = inp[i];
        dinp[i] += dout[i] * (cpu_normcdf(x) + x * cpu_normpdf(x));
    }
}

void cpu_gelu_forward(Backend *be, float *out, const float *inp, size_t n) {
    int nth = cpu_threads(be);
    size_t nblocks = (n + GELU_BLOCK - 1) / GELU_BLOCK;
#pragma omp parallel for schedule(static) num_threads(nth) if (n > PAR_MIN)
    for (size_t b = 0; b < nblocks; b++) {
        size_t i0 = b * GELU_BLOCK;
        gelu_forward_span(out + i0, inp + i0, n - i0 < GELU_BLOCK ? n - i0 : GELU_BLOCK);
    }
}

void cpu_gelu_backward(Backend *be, float *dinp, const float *inp, const float *dout, size_t n) {
    int nth = cpu_threads(be);
    size_t nblocks = (n + GELU_BLOCK - 1) / GELU_BLOCK;
#pragma omp parallel for schedule(static) num_threads(nth) if (n > PAR_MIN)
    for (size_t b = 0; b < nblocks; b++) {
        size_t i0 = b * GELU_BLOCK;
        gelu_backward_span(dinp + i0, inp + i0, dout + i0, n - i0 < GELU_BLOCK ? n - i0 : GELU_BLOCK);
    }
}

void cpu_residual_forward(Backend *be, float *out, const float *a, const float *b, size_t n) {
    int nth = cpu_threads(be);
#pragma omp parallel for schedule(static) num_threads(nth) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/* da += dout; db += dout (da and db may be the same buffer) */
void cpu_residual_backward(Backend *be, float *da, float *db, const float *dout, size_t n) {
    int nth = cpu_threads(be);
#pragma omp parallel for schedule(static) num_threads(nth) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        da[i] += dout[i];
        db[i] += dout[i];
    }
}

/* Dropout works on blocks of DROP_BLOCK elements: keep bytes for the block
 * come from cpu_rng_keep, then dst = keep ? src / (1-p) : 0 (accumulated into
 * dst when `accumulate`). Blocks are multiples of 4 so no Philox call is
 * shared by two blocks. */
enum { DROP_BLOCK = 4096 };

static void dropout_apply(float *dst, const float *src, size_t n, float p, uint64_t seed,
                          uint32_t step, uint32_t stream, uint64_t first, int accumulate, int nth) {
    size_t nblocks = (n + DROP_BLOCK - 1) / DROP_BLOCK;
    float q = 1.0f - p;
#pragma omp parallel num_threads(nth) if (n > PAR_MIN)
    {
        uint8_t keep[DROP_BLOCK];
#pragma omp for schedule(static)
        for (size_t blk = 0; blk < nblocks; blk++) {
            size_t i0 = blk * DROP_BLOCK, len = n - i0 < DROP_BLOCK ? n - i0 : DROP_BLOCK;
            cpu_rng_keep(keep, seed, step, stream, first + i0, len, p);
            float *d = dst + i0;
            const float *s = src + i0;
            if (accumulate)
                for (size_t k = 0; k < len; k++) d[k] += keep[k] ? s[k] / q : 0.0f;
            else
                for (size_t k = 0; k < len; k++) d[k] = keep[k] ? s[k] / q : 0.0f;
        }
    }
}

/* out = keep ? inp / (1-p) : 0; p == 0 is the identity (out may alias inp). */
void cpu_dropout_forward(Backend *be, float *out, const float *inp, size_t n, float p,
                         uint64_t seed, uint32_t step, uint32_t stream, uint64_t first) {
    int nth = cpu_threads(be);
    if (p <= 0.0f) {
        if (out != inp) {
#pragma omp parallel for schedule(static) num_threads(nth) if (n > PAR_MIN)
            for (size_t i = 0; i < n; i++) out[i] = inp[i];
        }
        return;
    }
    dropout_apply(out, inp, n, p, seed, step, stream, first, 0, nth);
}

/* dinp += keep ? dout / (1-p) : 0, the same mask redrawn. */
void cpu_dropout_backward(Backend *be, float *dinp, const float *dout, size_t n, float p,
                          uint64_t seed, uint32_t step, uint32_t stream, uint64_t first) {
    int nth = cpu_threads(be);
    if (p <= 0.0f) {
#pragma omp parallel for schedule(static) num_threads(nth) if (n > PAR_MIN)
        for (size_t i = 0; i < n; i++) dinp[i] += dout[i];
        return;
    }
    dropout_apply(dinp, dout, n, p, seed, step, stream, first, 1, nth);
}

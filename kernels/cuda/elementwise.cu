/* elementwise.cu — elementwise ops: GELU, residual, dropout (the CUDA twin
 * of kernels/cpu/elementwise.c). One thread per element (grid-stride loops);
 * every output element is written by exactly one thread, so all of these are
 * deterministic. Pointers are not __restrict__: outputs may alias inputs
 * (in-place dropout, gradients that share buffers). */
#include <math.h>

#include "cuda_common.cuh"

/* ---- GELU, erf form -------------------------------------------------------- */

#define GELU_INV_SQRT2 0.70710678118654752f
#define GELU_INV_SQRT_2PI 0.39894228040143268f

/* y = 0.5 x (1 + erf(x / sqrt 2)) = x Phi(x) */
__global__ void gelu_forward_kernel(float *out, const float *inp, size_t n) {
    GRID_STRIDE(i, n) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + erff(x * GELU_INV_SQRT2));
    }
}

/* dy/dx = Phi(x) + x phi(x), Phi(x) = 0.5 (1 + erf(x/sqrt2)),
 * phi(x) = exp(-x^2/2) / sqrt(2 pi);  dinp += dout * dy/dx */
__global__ void gelu_backward_kernel(float *dinp, const float *inp, const float *dout, size_t n) {
    GRID_STRIDE(i, n) {
        float x = inp[i];
        float cdf = 0.5f * (1.0f + erff(x * GELU_INV_SQRT2));
        float pdf = GELU_INV_SQRT_2PI * expf(-0.5f * x * x);
        dinp[i] += dout[i] * (cdf + x * pdf);
    }
}

void cu_gelu_forward(Backend *be, float *out, const float *inp, size_t n) {
    if (!n) return;
    CudaCtx *ctx = cuda_ctx(be);
    gelu_forward_kernel<<<grid_for(n, CU_THREADS), CU_THREADS, 0, ctx->stream>>>(out, inp, n);
    LAUNCH_CHECK(ctx);
}

void cu_gelu_backward(Backend *be, float *dinp, const float *inp, const float *dout, size_t n) {
    if (!n) return;
    CudaCtx *ctx = cuda_ctx(be);
    gelu_backward_kernel<<<grid_for(n, CU_THREADS), CU_THREADS, 0, ctx->stream>>>(dinp, inp, dout,
                                                                                 n);
    LAUNCH_CHECK(ctx);
}

/* ---- residual ---------------------------------------------------------------- */

__global__ void residual_forward_kernel(float *out, const float *a, const float *b, size_t n) {
    GRID_STRIDE(i, n) out[i] = a[i] + b[i];
}

/* da += dout; db += dout (read dout once, so aliasing of da and dout cannot
 * change what db receives) */
__global__ void residual_backward_kernel(float *da, float *db, const float *dout, size_t n) {
    GRID_STRIDE(i, n) {
        float d = dout[i];
        da[i] += d;
        db[i] += d;
    }
}

void cu_residual_forward(Backend *be, float *out, const float *a, const float *b, size_t n) {
    if (!n) return;
    CudaCtx *ctx = cuda_ctx(be);
    residual_forward_kernel<<<grid_for(n, CU_THREADS), CU_THREADS, 0, ctx->stream>>>(out, a, b, n);
    LAUNCH_CHECK(ctx);
}

void cu_residual_backward(Backend *be, float *da, float *db, const float *dout, size_t n) {
    if (!n) return;
    CudaCtx *ctx = cuda_ctx(be);
    residual_backward_kernel<<<grid_for(n, CU_THREADS), CU_THREADS, 0, ctx->stream>>>(da, db, dout,
                                                                                     n);
    LAUNCH_CHECK(ctx);
}

/* ---- dropout ------------------------------------------------------------------
 * Index blk covers the 4 counters 4*blk..4*blk+3 that one Philox call covers
 * (rng_block), so each call is used fully; element i has counter first + i
 * (backend.h), so keep(i) is exactly rng_keep(first + i). */

/* forward: out = keep ? inp / q : 0;  backward: dinp += keep ? dout / q : 0
 * (q = 1 - p; a division, not a multiply by 1/q, so that the values are the
 * CPU's bit for bit) */
__global__ void dropout_kernel(float *dst, const float *src, size_t n, float p, float q,
                               uint64_t seed, uint32_t step, uint32_t stream, uint64_t first,
                               int accumulate) {
    uint64_t b0 = first / 4;
    size_t nq = (size_t)((first + n + 3) / 4 - b0);
    /* the loop index is `blk`, not `q`: a `q` here would shadow the divisor */
    GRID_STRIDE(blk, nq) {
        Philox4 r = rng_block(seed, step, stream, b0 + blk);
        for (int k = 0; k < 4; k++) {
            uint64_t c = 4 * (b0 + blk) + (uint64_t)k; /* counter; element c - first */
            if (c < first) continue;
            size_t i = (size_t)(c - first);
            if (i >= n) break;
            float v = rng_u32_to_unit(r.v[k]) >= p ? src[i] / q : 0.0f;
            dst[i] = accumulate ? dst[i] + v : v;
        }
    }
}

__global__ void add_kernel(float *dst, const float *src, size_t n) {
    GRID_STRIDE(i, n) dst[i] += src[i];
}

void cu_dropout_forward(Backend *be, float *out, const float *inp, size_t n, float p, uint64_t seed,
                        uint32_t step, uint32_t stream, uint64_t first) {
    if (!n) return;
    CudaCtx *ctx = cuda_ctx(be);
    if (p <= 0.0f) {
        if (out != inp)
            CUDA_CHECK(cudaMemcpyAsync(out, inp, n * sizeof(float), cudaMemcpyDeviceToDevice,
                                       ctx->stream));
        return;
    }
    size_t nq = (size_t)((first + n + 3) / 4 - first / 4);
    dropout_kernel<<<grid_for(nq, CU_THREADS), CU_THREADS, 0, ctx->stream>>>(
        out, inp, n, p, 1.0f - p, seed, step, stream, first, 0);
    LAUNCH_CHECK(ctx);
}

void cu_dropout_backward(Backend *be, float *dinp, const float *dout, size_t n, float p,
                         uint64_t seed, uint32_t step, uint32_t stream, uint64_t first) {
    if (!n) return;
    CudaCtx *ctx = cuda_ctx(be);
    if (p <= 0.0f) {
        add_kernel<<<grid_for(n, CU_THREADS), CU_THREADS, 0, ctx->stream>>>(dinp, dout, n);
        LAUNCH_CHECK(ctx);
        return;
    }
    size_t nq = (size_t)((first + n + 3) / 4 - first / 4);
    dropout_kernel<<<grid_for(nq, CU_THREADS), CU_THREADS, 0, ctx->stream>>>(
        dinp, dout, n, p, 1.0f - p, seed, step, stream, first, 1);
    LAUNCH_CHECK(ctx);
}

/* optim.cu — the optimiser's ops: sum of squares (gradient norm), scale and
 * the AdamW update (the CUDA twin of kernels/cpu/optim.c). Deterministic:
 * one thread per element, and the sum of squares has a fixed reduction shape
 * (no atomics). */
#include <math.h>

#include "cuda_common.cuh"

/* ---- sum of squares --------------------------------------------------------
 * SUMSQ_BLOCKS x 256 threads; thread g (global id) sums x[i]^2 in double for
 * i = g, g + G, g + 2G, ... (G = total threads), the block adds its 256
 * values by a fixed shared-memory tree, and the host adds the SUMSQ_BLOCKS
 * block sums in order. The shape does not depend on the GPU. */
enum { SUMSQ_BLOCKS = 1024, SUMSQ_THREADS = 256 };

__global__ void sumsq_partial_kernel(double *part, const float *x, size_t n) {
    __shared__ double sh[SUMSQ_THREADS];
    size_t stride = (size_t)SUMSQ_BLOCKS * SUMSQ_THREADS;
    double acc = 0.0;
    for (size_t i = (size_t)blockIdx.x * SUMSQ_THREADS + threadIdx.x; i < n; i += stride) {
        double v = (double)x[i];
        acc += v * v;
    }
    sh[threadIdx.x] = acc;
    __syncthreads();
    for (int half = SUMSQ_THREADS / 2; half > 0; half >>= 1) {
        if ((int)threadIdx.x < half) sh[threadIdx.x] += sh[threadIdx.x + half];
        __syncthreads();
    }
    if (threadIdx.x == 0) part[blockIdx.x] = sh[0];
}

double cu_sumsq(Backend *be, const float *x, size_t n) {
    if (n == 0) return 0.0;
    CudaCtx *ctx = cuda_ctx(be);
    double *part = (double *)cuda_work(ctx, SUMSQ_BLOCKS * sizeof(double), "sumsq");
    sumsq_partial_kernel<<<SUMSQ_BLOCKS, SUMSQ_THREADS, 0, ctx->stream>>>(part, x, n);
    LAUNCH_CHECK(ctx);
    if (!ctx->h_partials) ctx->h_partials = (double *)xmalloc(SUMSQ_BLOCKS * sizeof(double));
    CUDA_CHECK(cudaMemcpyAsync(ctx->h_partials, part, SUMSQ_BLOCKS * sizeof(double),
                               cudaMemcpyDeviceToHost, ctx->stream));
    CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
    double s = 0.0;
    for (int i = 0; i < SUMSQ_BLOCKS; i++) s += ctx->h_partials[i];
    return s;
}

/* ---- optimiser ----------------------------------------------------------------- */

__global__ void scale_kernel(float *x, size_t n, float s) {
    GRID_STRIDE(i, n) x[i] *= s;
}

void cu_scale(Backend *be, float *x, size_t n, float s) {
    if (!n) return;
    CudaCtx *ctx = cuda_ctx(be);
    scale_kernel<<<grid_for(n, CU_THREADS), CU_THREADS, 0, ctx->stream>>>(x, n, s);
    LAUNCH_CHECK(ctx);
}

/* AdamW, bias-corrected, decoupled weight decay (bc1 = 1 - b1^t, bc2 = 1 - b2^t,
 * computed on the host in double as the CPU backend does):
 *   m = b1 m + (1-b1) g ;  v = b2 v + (1-b2) g^2
 *   p -= lr * ((m / bc1) / (sqrt(v / bc2) + eps) + wd * p)          */
__global__ void adamw_kernel(float *p, const float *g, float *m, float *v, size_t n, float lr,
                             float b1, float b2, float eps, float wd, float bc1, float bc2) {
    GRID_STRIDE(i, n) {
        float gi = g[i];
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * (gi * gi);
        m[i] = mi;
        v[i] = vi;
        float mhat = mi / bc1, vhat = vi / bc2;
        float pi = p[i];
        p[i] = pi - lr * (mhat / (sqrtf(vhat) + eps) + wd * pi);
    }
}

void cu_adamw_update(Backend *be, float *p, const float *g, float *m, float *v, size_t n, float lr,
                     float b1, float b2, float eps, float wd, int t) {
    if (!n) return;
    CudaCtx *ctx = cuda_ctx(be);
    float bc1 = (float)(1.0 - pow((double)b1, (double)t));
    float bc2 = (float)(1.0 - pow((double)b2, (double)t));
    adamw_kernel<<<grid_for(n, CU_THREADS), CU_THREADS, 0, ctx->stream>>>(p, g, m, v, n, lr, b1, b2,
                                                                         eps, wd, bc1, bc2);
    LAUNCH_CHECK(ctx);
}

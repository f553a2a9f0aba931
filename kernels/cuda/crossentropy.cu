/* crossentropy.cu — softmax cross-entropy over the last dim with
 * ignore_index, forward (one warp per row) and backward (one thread per
 * element), and the QA logits' layout change (the CUDA twin of
 * kernels/cpu/crossentropy.c). */
#include <math.h>

#include "cuda_common.cuh"

enum { CE_WARPS = 8 }; /* rows per 256-thread block */

/* probs[n,:] = softmax(logits[n,:]) (stable: exp(l - max) / sum);
 * losses[n] = log(sum) - (l[t] - max) = -log softmax(l)[t], or 0 when
 * t == MTL_IGNORE_INDEX. A target outside [0, V) gives NaN (the model
 * validates targets; this keeps a bad one visible without reading out of
 * bounds). */
__global__ void crossentropy_forward_kernel(float *losses, float *probs, const float *logits,
                                            const int *targets, int N, int V) {
    int lane = threadIdx.x % CU_WARP;
    int row = blockIdx.x * CE_WARPS + threadIdx.x / CU_WARP;
    if (row >= N) return;
    const float *l = logits + (size_t)row * V;
    float *pr = probs + (size_t)row * V;
    float mx = -INFINITY;
    for (int j = lane; j < V; j += CU_WARP) mx = fmaxf(mx, l[j]);
    mx = warp_max(mx);
    float sum = 0.0f;
    for (int j = lane; j < V; j += CU_WARP) {
        float e = expf(l[j] - mx);
        pr[j] = e;
        sum += e;
    }
    sum = warp_sum(sum);
    float inv = 1.0f / sum;
    for (int j = lane; j < V; j += CU_WARP) pr[j] *= inv;
    if (lane == 0) {
        int t = targets[row];
        float loss;
        if (t == MTL_IGNORE_INDEX) loss = 0.0f;
        else if (t < 0 || t >= V) loss = NAN;
        else loss = logf(sum) - (l[t] - mx);
        losses[row] = loss;
    }
}

/* dlogits[n,v] += dscale * (probs[n,v] - [v == t_n]), rows with t_n ignored
 * (or out of range) get nothing. */
__global__ void crossentropy_backward_kernel(float *dlogits, const float *probs, const int *targets,
                                             float dscale, size_t N, int V) {
    size_t total = N * (size_t)V;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t n = i / (size_t)V;
        int v = (int)(i % (size_t)V);
        int t = targets[n];
        if (t < 0 || t >= V) continue;
        float ind = v == t ? 1.0f : 0.0f;
        dlogits[i] += dscale * (probs[i] - ind);
    }
}

void cu_crossentropy_forward(Backend *be, float *losses, float *probs, const float *logits,
                             const int *targets, int N, int V) {
    if (N <= 0 || V <= 0) return;
    CudaCtx *ctx = cuda_ctx(be);
    int blocks = (N + CE_WARPS - 1) / CE_WARPS;
    crossentropy_forward_kernel<<<blocks, CE_WARPS * CU_WARP, 0, ctx->stream>>>(losses, probs,
                                                                               logits, targets, N, V);
    LAUNCH_CHECK(ctx);
}

void cu_crossentropy_backward(Backend *be, float *dlogits, const float *probs, const int *targets,
                              float dscale, int N, int V) {
    if (N <= 0 || V <= 0) return;
    CudaCtx *ctx = cuda_ctx(be);
    size_t total = (size_t)N * V;
    crossentropy_backward_kernel<<<grid_for(total, CU_THREADS), CU_THREADS, 0, ctx->stream>>>(
        dlogits, probs, targets, dscale, (size_t)N, V);
    LAUNCH_CHECK(ctx);
}

/* ---- QA logits: qa [B,T,2] <-> split [2,B,T] -------------------------------- */

__global__ void qa_split_forward_kernel(float *split, const float *qa, size_t bt) {
    GRID_STRIDE(i, bt) {
        split[i] = qa[2 * i];
        split[bt + i] = qa[2 * i + 1];
    }
}

__global__ void qa_split_backward_kernel(float *dqa, const float *dsplit, size_t bt) {
    GRID_STRIDE(i, bt) {
        dqa[2 * i] += dsplit[i];
        dqa[2 * i + 1] += dsplit[bt + i];
    }
}

void cu_qa_split_forward(Backend *be, float *split, const float *qa, int B, int T) {
    size_t bt = (size_t)B * T;
    if (!bt) return;
    CudaCtx *ctx = cuda_ctx(be);
    qa_split_forward_kernel<<<grid_for(bt, CU_THREADS), CU_THREADS, 0, ctx->stream>>>(split, qa, bt);
    LAUNCH_CHECK(ctx);
}

void cu_qa_split_backward(Backend *be, float *dqa, const float *dsplit, int B, int T) {
    size_t bt = (size_t)B * T;
    if (!bt) return;
    CudaCtx *ctx = cuda_ctx(be);
    qa_split_backward_kernel<<<grid_for(bt, CU_THREADS), CU_THREADS, 0, ctx->stream>>>(dqa, dsplit,
                                                                                      bt);
    LAUNCH_CHECK(ctx);
}

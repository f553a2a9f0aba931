/* matmul.cu — linear layer (nn.Linear layout) with cuBLAS, forward and backward.
 *
 * Row-major to cuBLAS (column-major): a row-major [R, K] matrix is the
 * column-major [K, R] matrix with leading dimension K, i.e. its transpose.
 * So each row-major product below is written as the product of transposes:
 *   out[N,OC] = inp[N,C] . w[OC,C]^T   <=>  out^T = w . inp^T
 *   dinp[N,C] = dout[N,OC] . w[OC,C]   <=>  dinp^T = w^T . dout^T
 *   dw[OC,C]  = dout^T . inp           <=>  dw^T = inp^T . dout
 * (the ^T on the right-hand sides are the column-major views of the buffers).
 */
#include "cuda_common.cuh"

/* out[n, o] = bias[o] (the GEMM then accumulates onto it, as the CPU does). */
__global__ void bias_broadcast_kernel(float *out, const float *bias, size_t N, int OC) {
    size_t total = N * (size_t)OC;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = bias[i % (size_t)OC];
}

/* out = inp . w^T + bias */
void cu_matmul_forward(Backend *be, float *out, const float *inp, const float *w, const float *bias,
                       int N, int C, int OC) {
    CudaCtx *ctx = cuda_ctx(be);
    if (N <= 0 || OC <= 0) return;
    float beta = 0.0f;
    if (bias) {
        size_t total = (size_t)N * OC;
        bias_broadcast_kernel<<<grid_for(total, CU_THREADS), CU_THREADS, 0, ctx->stream>>>(
            out, bias, (size_t)N, OC);
        LAUNCH_CHECK(ctx);
        beta = 1.0f;
    }
    const float one = 1.0f;
    /* column-major: out^T [OC x N] = (w as [C x OC])^T . (inp as [C x N]) */
    CUBLAS_CHECK(cublasSgemm(ctx->cublas, CUBLAS_OP_T, CUBLAS_OP_N, OC, N, C, &one, w, C, inp, C,
                             &beta, out, OC));
}

/* dinp += dout . w ; dw += dout^T . inp ; dbias += column sums of dout */
void cu_matmul_backward(Backend *be, float *dinp, float *dw, float *dbias, const float *dout,
                        const float *inp, const float *w, int N, int C, int OC) {
    CudaCtx *ctx = cuda_ctx(be);
    if (N <= 0 || OC <= 0 || C <= 0) return;
    const float one = 1.0f;
    if (dinp) /* dinp^T [C x N] += (w as [C x OC]) . (dout as [OC x N]) */
        CUBLAS_CHECK(cublasSgemm(ctx->cublas, CUBLAS_OP_N, CUBLAS_OP_N, C, N, OC, &one, w, C, dout,
                                 OC, &one, dinp, C));
    /* dw^T [C x OC] += (inp as [C x N]) . (dout as [OC x N])^T */
    CUBLAS_CHECK(cublasSgemm(ctx->cublas, CUBLAS_OP_N, CUBLAS_OP_T, C, OC, N, &one, inp, C, dout, OC,
                             &one, dw, C));
    if (dbias) cu_colsum_add(ctx, dbias, dout, N, OC);
}

/* matmul.cu — linear layer (nn.Linear layout) with cuBLAS, forward and backward.
 *
 * Row-major to cuBLAS (column-major): a row-major [R, K] matrix is the
 * column-major [K, R] matrix with leading dimension K, i.e. its transpose.
 * So each row-major product below is written as the product of transposes:
 *   out[N,OC] = inp[N,C] . w[OC,C]^T   <=>  out^T = w . inp^T
 *   dinp[N,C] = dout[N,OC] . w[OC,C]   <=>  dinp^T = w^T . dout^T
 *   dw[OC,C]  = dout^T . inp           <=>  dw^T = inp^T . dout
 * (the ^T on the right-hand sides are the column-major views of the buffers).
 *
 * --precision bf16: the two inputs of each GEMM are rounded to bf16 (round to
 * nearest even, __float2bfloat16_rn: the CPU's bf16_round bit for bit) into
 * scratch, and cublasGemmEx multiplies them on the tensor cores with fp32
 * accumulation (CUBLAS_COMPUTE_32F) into the fp32 output.
 */
#include <cuda_bf16.h>

#include "cuda_common.cuh"

__global__ void round_bf16_kernel(__nv_bfloat16 *dst, const float *src, size_t n) {
    GRID_STRIDE(i, n) dst[i] = __float2bfloat16_rn(src[i]);
}

/* src (n floats) rounded to bf16 into scratch slot `slot` (grown on demand). */
static const __nv_bfloat16 *bf16_copy(CudaCtx *ctx, int slot, const float *src, size_t n) {
    if (n * sizeof(__nv_bfloat16) > ctx->bf16_cap[slot]) {
        CUDA_CHECK(cudaStreamSynchronize(ctx->stream)); /* the old buffer may be in use */
        if (ctx->bf16_buf[slot]) CUDA_CHECK(cudaFree(ctx->bf16_buf[slot]));
        ctx->bf16_cap[slot] = n * sizeof(__nv_bfloat16);
        CUDA_CHECK(cudaMalloc(&ctx->bf16_buf[slot], ctx->bf16_cap[slot]));
    }
    __nv_bfloat16 *dst = (__nv_bfloat16 *)ctx->bf16_buf[slot];
    round_bf16_kernel<<<grid_for(n, CU_THREADS), CU_THREADS, 0, ctx->stream>>>(dst, src, n);
    LAUNCH_CHECK(ctx);
    return dst;
}

/* Column-major C[m,n] = alpha op(A) op(B) + beta C, A and B bf16, C fp32. */
static void gemm_bf16(CudaCtx *ctx, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                      const __nv_bfloat16 *A, int lda, const __nv_bfloat16 *B, int ldb, float beta,
                      float *C, int ldc) {
    const float one = 1.0f;
    CUBLAS_CHECK(cublasGemmEx(ctx->cublas, ta, tb, m, n, k, &one, A, CUDA_R_16BF, lda, B,
                              CUDA_R_16BF, ldb, &beta, C, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F,
                              CUBLAS_GEMM_DEFAULT));
}

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
    if (ctx->bf16) {
        const __nv_bfloat16 *wb = bf16_copy(ctx, 0, w, (size_t)OC * C);
        const __nv_bfloat16 *xb = bf16_copy(ctx, 1, inp, (size_t)N * C);
        gemm_bf16(ctx, CUBLAS_OP_T, CUBLAS_OP_N, OC, N, C, wb, C, xb, C, beta, out, OC);
        return;
    }
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
    if (ctx->bf16) { /* the same products with bf16 inputs */
        const __nv_bfloat16 *db = bf16_copy(ctx, 0, dout, (size_t)N * OC);
        if (dinp) gemm_bf16(ctx, CUBLAS_OP_N, CUBLAS_OP_N, C, N, OC, bf16_copy(ctx, 1, w, (size_t)OC * C), C, db, OC, 1.0f, dinp, C);
        if (dw) gemm_bf16(ctx, CUBLAS_OP_N, CUBLAS_OP_T, C, OC, N, bf16_copy(ctx, 2, inp, (size_t)N * C), C, db, OC, 1.0f, dw, C);
        if (dbias) cu_colsum_add(ctx, dbias, dout, N, OC);
        return;
    }
    if (dinp) /* dinp^T [C x N] += (w as [C x OC]) . (dout as [OC x N]) */
        CUBLAS_CHECK(cublasSgemm(ctx->cublas, CUBLAS_OP_N, CUBLAS_OP_N, C, N, OC, &one, w, C, dout,
                                 OC, &one, dinp, C));
    /* dw^T [C x OC] += (inp as [C x N]) . (dout as [OC x N])^T */
    if (dw)
        CUBLAS_CHECK(cublasSgemm(ctx->cublas, CUBLAS_OP_N, CUBLAS_OP_T, C, OC, N, &one, inp, C, dout, OC,
                                 &one, dw, C));
    if (dbias) cu_colsum_add(ctx, dbias, dout, N, OC);
}

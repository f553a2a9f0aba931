/* lora.cu — the low-rank update of a frozen linear layer (ops.h: lora) with
 * cuBLAS, forward and backward, fp32 at every --precision (R is small).
 *
 * Row-major to column-major as in matmul.cu (a row-major [R, K] buffer is the
 * column-major [K, R] matrix, its transpose):
 *   u[N,R]     = inp[N,C] . a[R,C]^T     <=>  u^T    = a . inp^T
 *   out[N,OC] += s u[N,R] . b[OC,R]^T    <=>  out^T += s b . u^T
 *   du[N,R]    = s dout[N,OC] . b[OC,R]  <=>  du^T   = s b^T . dout^T
 *   db[OC,R]  += s dout^T . u            <=>  db^T  += s u^T . dout
 *   da[R,C]   += du^T . inp              <=>  da^T  += inp^T . du
 *   dinp[N,C] += du . a                  <=>  dinp^T += a^T . du^T
 *   w_eff[OC,C] = w + s b[OC,R] . a[R,C] <=>  w_eff^T = w^T + s a^T . b^T
 * (on the right, X^T is the column-major view of the row-major buffer X). */
#include "cuda_common.cuh"

static void sgemm(CudaCtx *ctx, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                  float alpha, const float *A, int lda, const float *B, int ldb, float beta,
                  float *C, int ldc) {
    CUBLAS_CHECK(cublasSgemm(ctx->cublas, ta, tb, m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc));
}

void cu_lora_forward(Backend *be, float *out, float *u, const float *inp, const float *a,
                     const float *b, int N, int C, int R, int OC, float s) {
    CudaCtx *ctx = cuda_ctx(be);
    if (N <= 0 || R <= 0) return;
    sgemm(ctx, CUBLAS_OP_T, CUBLAS_OP_N, R, N, C, 1.0f, a, C, inp, C, 0.0f, u, R);
    if (out) sgemm(ctx, CUBLAS_OP_T, CUBLAS_OP_N, OC, N, R, s, b, R, u, R, 1.0f, out, OC);
}

void cu_lora_merge(Backend *be, float *w_eff, const float *w, const float *a, const float *b, int OC,
                   int C, int R, float s) {
    CudaCtx *ctx = cuda_ctx(be);
    if (OC <= 0 || C <= 0) return;
    if (w_eff != w)
        CUDA_CHECK(cudaMemcpyAsync(w_eff, w, (size_t)OC * C * sizeof(float), cudaMemcpyDeviceToDevice, ctx->stream));
    if (R > 0) sgemm(ctx, CUBLAS_OP_N, CUBLAS_OP_N, C, OC, R, s, a, C, b, R, 1.0f, w_eff, C);
}

void cu_lora_backward(Backend *be, float *dinp, float *da, float *db, float *du, const float *dout,
                      const float *inp, const float *u, const float *a, const float *b, int N,
                      int C, int R, int OC, float s) {
    CudaCtx *ctx = cuda_ctx(be);
    if (N <= 0 || R <= 0) return;
    if (!u) { /* recomputed into du's buffer (ops.h): db takes it before du overwrites it */
        sgemm(ctx, CUBLAS_OP_T, CUBLAS_OP_N, R, N, C, 1.0f, a, C, inp, C, 0.0f, du, R);
        sgemm(ctx, CUBLAS_OP_N, CUBLAS_OP_T, R, OC, N, s, du, R, dout, OC, 1.0f, db, R);
    }
    sgemm(ctx, CUBLAS_OP_N, CUBLAS_OP_N, R, N, OC, s, b, R, dout, OC, 0.0f, du, R);
    if (u) sgemm(ctx, CUBLAS_OP_N, CUBLAS_OP_T, R, OC, N, s, u, R, dout, OC, 1.0f, db, R);
    sgemm(ctx, CUBLAS_OP_N, CUBLAS_OP_T, C, R, N, 1.0f, inp, C, du, R, 1.0f, da, C);
    if (dinp) sgemm(ctx, CUBLAS_OP_N, CUBLAS_OP_N, C, N, R, 1.0f, a, C, du, R, 1.0f, dinp, C);
}

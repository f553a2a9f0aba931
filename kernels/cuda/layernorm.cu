/* layernorm.cu — LayerNorm over the last dim, forward and backward.
 * One warp per row; lane l handles columns l, l+32, ...; sums are combined by
 * the fixed butterfly of warp_sum, so every row is deterministic. */
#include "cuda_common.cuh"

enum { LN_WARPS = 8 }; /* rows per 256-thread block */

/* y = (x - mean) * rstd * w + b, mean = sum(x)/C,
 * rstd = 1/sqrt(sum((x - mean)^2)/C + eps) (biased variance, two passes). */
__global__ void layernorm_forward_kernel(float *out, float *mean, float *rstd, const float *inp,
                                         const float *w, const float *b, int N, int C, float eps) {
    int lane = threadIdx.x % CU_WARP;
    int row = blockIdx.x * LN_WARPS + threadIdx.x / CU_WARP;
    if (row >= N) return;
    const float *x = inp + (size_t)row * C;
    float *y = out + (size_t)row * C;
    float s = 0.0f;
    for (int c = lane; c < C; c += CU_WARP) s += x[c];
    float m = warp_sum(s) / (float)C;
    float v = 0.0f;
    for (int c = lane; c < C; c += CU_WARP) {
        float d = x[c] - m;
        v += d * d;
    }
    float var = warp_sum(v) / (float)C;
    float r = 1.0f / sqrtf(var + eps);
    for (int c = lane; c < C; c += CU_WARP) y[c] = ((x[c] - m) * r) * w[c] + b[c];
    if (lane == 0) {
        mean[row] = m;
        rstd[row] = r;
    }
}

/* One row of dinp per warp. With xhat = (x - mean) rstd and g = dout * w:
 *   dx += rstd * (g - mean(g) - xhat * mean(g * xhat))            */
__global__ void layernorm_backward_dx_kernel(float *dinp, const float *dout, const float *inp,
                                             const float *w, const float *mean, const float *rstd,
                                             int N, int C) {
    int lane = threadIdx.x % CU_WARP;
    int row = blockIdx.x * LN_WARPS + threadIdx.x / CU_WARP;
    if (row >= N) return;
    const float *dy = dout + (size_t)row * C, *x = inp + (size_t)row * C;
    float *dx = dinp + (size_t)row * C;
    float m = mean[row], s = rstd[row];
    float sg = 0.0f, sgx = 0.0f;
    for (int c = lane; c < C; c += CU_WARP) {
        float g = dy[c] * w[c];
        sg += g;
        sgx += g * ((x[c] - m) * s);
    }
    float mean_g = warp_sum(sg) / (float)C, mean_gx = warp_sum(sgx) / (float)C;
    for (int c = lane; c < C; c += CU_WARP) {
        float xhat = (x[c] - m) * s;
        dx[c] += s * ((dy[c] * w[c] - mean_g) - xhat * mean_gx);
    }
}

enum { LN_TILE = 32, LN_ROWS = 8 };

/* Partial column sums of dw = sum_n dout*xhat and db = sum_n dout over the
 * rows of split blockIdx.y; same fixed shape as colsum_partial_kernel in
 * reduce.cu (block (32, 8), row phases added in order). */
__global__ void layernorm_dwdb_partial_kernel(float *part_dw, float *part_db, const float *dout,
                                              const float *inp, const float *mean,
                                              const float *rstd, int N, int C,
                                              int rows_per_split) {
    __shared__ float sw[LN_ROWS][LN_TILE], sb[LN_ROWS][LN_TILE];
    int c = blockIdx.x * LN_TILE + threadIdx.x;
    int n0 = blockIdx.y * rows_per_split;
    int n1 = min(N, n0 + rows_per_split);
    float aw = 0.0f, ab = 0.0f;
    if (c < C)
        for (int n = n0 + (int)threadIdx.y; n < n1; n += LN_ROWS) {
            size_t i = (size_t)n * C + c;
            float dy = dout[i];
            aw += dy * ((inp[i] - mean[n]) * rstd[n]);
            ab += dy;
        }
    sw[threadIdx.y][threadIdx.x] = aw;
    sb[threadIdx.y][threadIdx.x] = ab;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float tw = 0.0f, tb = 0.0f;
        for (int y = 0; y < LN_ROWS; y++) {
            tw += sw[y][threadIdx.x];
            tb += sb[y][threadIdx.x];
        }
        part_dw[(size_t)blockIdx.y * C + c] = tw;
        part_db[(size_t)blockIdx.y * C + c] = tb;
    }
}

void cu_layernorm_forward(Backend *be, float *out, float *mean, float *rstd, const float *inp,
                          const float *w, const float *b, int N, int C, float eps) {
    CudaCtx *ctx = cuda_ctx(be);
    if (N <= 0 || C <= 0) return;
    int blocks = (N + LN_WARPS - 1) / LN_WARPS;
    layernorm_forward_kernel<<<blocks, LN_WARPS * CU_WARP, 0, ctx->stream>>>(out, mean, rstd, inp, w,
                                                                            b, N, C, eps);
    LAUNCH_CHECK(ctx);
}

void cu_layernorm_backward(Backend *be, float *dinp, float *dw, float *db, const float *dout,
                           const float *inp, const float *w, const float *mean, const float *rstd,
                           int N, int C) {
    CudaCtx *ctx = cuda_ctx(be);
    if (N <= 0 || C <= 0) return;
    int blocks = (N + LN_WARPS - 1) / LN_WARPS;
    layernorm_backward_dx_kernel<<<blocks, LN_WARPS * CU_WARP, 0, ctx->stream>>>(
        dinp, dout, inp, w, mean, rstd, N, C);
    LAUNCH_CHECK(ctx);
    if (!dw && !db) return; /* frozen LayerNorm: only the input gradient */

    int rps = cu_colsum_rows_per_split(ctx, N, C, 2);
    int S = (N + rps - 1) / rps;
    float *part = (float *)cuda_work(ctx, 2 * (size_t)S * C * sizeof(float), "layernorm backward");
    float *part_dw = part, *part_db = part + (size_t)S * C;
    dim3 grid((C + LN_TILE - 1) / LN_TILE, S), block(LN_TILE, LN_ROWS);
    layernorm_dwdb_partial_kernel<<<grid, block, 0, ctx->stream>>>(part_dw, part_db, dout, inp, mean,
                                                                   rstd, N, C, rps);
    LAUNCH_CHECK(ctx);
    if (dw) cu_colsum_finish(ctx, dw, part_dw, S, C);
    if (db) cu_colsum_finish(ctx, db, part_db, S, C);
}

/* reduce.cu — deterministic column sums (bias and LayerNorm gradients). No
 * atomics: every partial sum has a fixed place and the partials are combined
 * in a fixed order. */
#include "cuda_common.cuh"

/* ---- column sums ---------------------------------------------------------- */

enum { COL_TILE = 32, COL_ROWS = 8, ROWS_PER_SPLIT = 128 };

/* part[s*C + c] = sum of x[n*C + c] over the rows n of split s
 *   (rows [s*rows_per_split, (s+1)*rows_per_split) ).
 * Block (32, 8): threadIdx.x picks the column (coalesced loads), threadIdx.y
 * the row phase; the 8 row phases are then added in order y = 0..7. */
__global__ void colsum_partial_kernel(float *part, const float *x, int N, int C,
                                      int rows_per_split) {
    __shared__ float sh[COL_ROWS][COL_TILE];
    int c = blockIdx.x * COL_TILE + threadIdx.x;
    int n0 = blockIdx.y * rows_per_split;
    int n1 = min(N, n0 + rows_per_split);
    float acc = 0.0f;
    if (c < C)
        for (int n = n0 + (int)threadIdx.y; n < n1; n += COL_ROWS) acc += x[(size_t)n * C + c];
    sh[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float s = 0.0f;
        for (int y = 0; y < COL_ROWS; y++) s += sh[y][threadIdx.x];
        part[(size_t)blockIdx.y * C + c] = s;
    }
}

/* out[c] += sum_s part[s*C + c], s = 0..S-1 in order. */
__global__ void colsum_finish_kernel(float *out, const float *part, int S, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float s = 0.0f;
    for (int k = 0; k < S; k++) s += part[(size_t)k * C + c];
    out[c] += s;
}

/* Rows per split: ROWS_PER_SPLIT, more if the partials would not fit in the
 * workspace (`outputs` partial arrays of S*C floats) or S would pass the
 * grid's y limit. Depends only on the
 * sizes, so the reduction shape is fixed for a given op shape. */
int cu_colsum_rows_per_split(const CudaCtx *ctx, int N, int C, int outputs) {
    size_t cap_splits = ctx->work_bytes / ((size_t)outputs * C * sizeof(float));
    if (cap_splits > 65535) cap_splits = 65535; /* gridDim.y limit */
    if (cap_splits < 1) cap_splits = 1;
    size_t rps = ROWS_PER_SPLIT;
    if (((size_t)N + rps - 1) / rps > cap_splits) rps = ((size_t)N + cap_splits - 1) / cap_splits;
    return (int)rps;
}

void cu_colsum_add(CudaCtx *ctx, float *out, const float *x, int N, int C) {
    if (N <= 0 || C <= 0) return;
    int rps = cu_colsum_rows_per_split(ctx, N, C, 1);
    int S = (N + rps - 1) / rps;
    float *part = (float *)cuda_work(ctx, (size_t)S * C * sizeof(float), "column sum");
    dim3 grid((C + COL_TILE - 1) / COL_TILE, S), block(COL_TILE, COL_ROWS);
    colsum_partial_kernel<<<grid, block, 0, ctx->stream>>>(part, x, N, C, rps);
    LAUNCH_CHECK(ctx);
    cu_colsum_finish(ctx, out, part, S, C);
}

void cu_colsum_finish(CudaCtx *ctx, float *out, const float *part, int S, int C) {
    colsum_finish_kernel<<<(C + CU_THREADS - 1) / CU_THREADS, CU_THREADS, 0, ctx->stream>>>(
        out, part, S, C);
    LAUNCH_CHECK(ctx);
}

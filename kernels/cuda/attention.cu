/* attention.cu — multi-head self-attention with a key padding mask and
 * attention-probability dropout (semantics: kernels/backend.h).
 *
 * The scratch (4*B*T*C + B*NH*T*T floats) is used as five regions:
 *   R0, R1, R2, R3: [B,NH,T,hs] each (B*T*C floats), R4: [B,NH,T,T].
 * Forward:  R0 = q, R1 = k, R2 = v (permuted out of qkv);
 *           att = softmax_masked(q k^T / sqrt(hs));  R4 = P' = dropout(att),
 *           and att = -P where dropped (ops.h: the sign marks them);
 *           R3 = y = P' v;  out = un-permute(y).
 * Backward: R3 = dy (permuted dout); R4 = P' (redrawn); R2 = v;
 *           R0 = dv = P'^T dy           -> dqkv[v part] +=
 *           R4 = dP' = dy v^T;  R4 = dS = P * (dP - rowsum(dP * P)), P = |att|,
 *                                with dP = dP' * keep / (1-p)
 *           R0 = q, R1 = k;  R2 = dq = dS k / sqrt(hs);  R3 = dk = dS^T q / sqrt(hs)
 *                                       -> dqkv[q part], dqkv[k part] +=
 * The batched products use cublasSgemmStridedBatched over the B*NH heads.
 * In column-major terms a row-major [T, hs] head matrix X is X^T with
 * leading dimension hs and a row-major [T, T] matrix S is S^T with leading
 * dimension T; each call below states the product it computes.
 */
#include <math.h>

#include "cuda_common.cuh"

/* For element i of a [B, NH, T, hs] tensor, its offset in the [B*T, row_stride]
 * matrix it was cut from: (b*T + t)*row_stride + col0 + h*hs + d. */
__device__ __forceinline__ size_t head_to_row_offset(size_t i, int T, int NH, int hs,
                                                     int row_stride, int col0) {
    int d = (int)(i % hs);
    size_t r = i / hs;
    int t = (int)(r % T);
    r /= T;
    int h = (int)(r % NH);
    int b = (int)(r / NH);
    return ((size_t)b * T + t) * row_stride + col0 + (size_t)h * hs + d;
}

/* dst[b,h,t,d] = src[(b*T + t)*row_stride + col0 + h*hs + d] */
__global__ void permute_heads_kernel(float *dst, const float *src, int B, int T, int NH, int hs,
                                     int row_stride, int col0) {
    size_t total = (size_t)B * NH * T * hs;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = src[head_to_row_offset(i, T, NH, hs, row_stride, col0)];
}

/* dst[(b*T + t)*row_stride + col0 + h*hs + d] (+)= src[b,h,t,d] */
__global__ void unpermute_heads_kernel(float *dst, const float *src, int B, int T, int NH, int hs,
                                       int row_stride, int col0, int accumulate) {
    size_t total = (size_t)B * NH * T * hs;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        float *o = dst + head_to_row_offset(i, T, NH, hs, row_stride, col0);
        *o = accumulate ? *o + src[i] : src[i];
    }
}

enum { SM_WARPS = 8 }; /* rows per 256-thread block */

/* In place on att rows (b,h,i), one warp per row: keys j with mask[b,j] == 0
 * get exactly 0, the rest softmax over the unmasked keys:
 *   P[j] = exp(S[j] - max) / sum_k exp(S[k] - max).
 * A row with every key masked becomes all zeros. */
__global__ void masked_softmax_kernel(float *att, const int *mask, int B, int NH, int T) {
    int lane = threadIdx.x % CU_WARP;
    size_t row = (size_t)blockIdx.x * SM_WARPS + threadIdx.x / CU_WARP;
    size_t rows = (size_t)B * NH * T;
    if (row >= rows) return;
    int b = (int)(row / ((size_t)NH * T));
    const int *mk = mask + (size_t)b * T;
    float *s = att + row * T;
    float mx = -INFINITY;
    for (int j = lane; j < T; j += CU_WARP)
        if (mk[j]) mx = fmaxf(mx, s[j]);
    mx = warp_max(mx);
    if (mx == -INFINITY) { /* no real key */
        for (int j = lane; j < T; j += CU_WARP) s[j] = 0.0f;
        return;
    }
    float sum = 0.0f;
    for (int j = lane; j < T; j += CU_WARP) {
        float e = mk[j] ? expf(s[j] - mx) : 0.0f;
        s[j] = e;
        sum += e;
    }
    float inv = 1.0f / warp_sum(sum);
    for (int j = lane; j < T; j += CU_WARP) s[j] *= inv;
}

/* In place on dp rows (dP' on entry, dS on exit), one warp per row:
 *   dP[j] = keep(idx_j) ? dP'[j] / (1-p) : 0      (dP = dP' when p == 0)
 *   dS[j] = P[j] * (dP[j] - sum_k dP[k] P[k])
 * idx_j = row*T + j is the dropout element index of backend.h. */
__global__ void softmax_backward_kernel(float *dp, const float *att, int rows, int T, float p,
                                        float q, uint64_t seed, uint32_t step,
                                        uint32_t stream, uint64_t first) {
    int lane = threadIdx.x % CU_WARP;
    size_t row = (size_t)blockIdx.x * SM_WARPS + threadIdx.x / CU_WARP;
    if (row >= (size_t)rows) return;
    float *g = dp + row * T;
    const float *A = att + row * T; /* P, or -P where dropped (ops.h) */
    float dot = 0.0f;
    for (int j = lane; j < T; j += CU_WARP) {
        float d = g[j];
        if (p > 0.0f) d = rng_keep(seed, step, stream, first + row * T + j, p) ? d / q : 0.0f;
        g[j] = d;
        dot += d * fabsf(A[j]);
    }
    dot = warp_sum(dot);
    for (int j = lane; j < T; j += CU_WARP) g[j] = fabsf(A[j]) * (g[j] - dot);
}

/* P'[i] = keep(i) ? |att[i]| / q : 0 over the whole [B,NH,T,T] tensor
 * (q = 1 - p, divided as the CPU does); with mark (the forward, mark == att),
 * the dropped elements of att also become -P (ops.h). Thread k handles the
 * 4 counters of one Philox call; element i has counter first + i, so keep(i)
 * is exactly rng_keep(first + i). */
__global__ void attn_dropout_kernel(float *out, const float *att, float *mark, size_t n, float p, float q,
                                    uint64_t seed, uint32_t step, uint32_t stream, uint64_t first) {
    uint64_t b0 = first / 4;
    size_t nq = (size_t)((first + n + 3) / 4 - b0);
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < nq;
         k += (size_t)gridDim.x * blockDim.x) {
        Philox4 r = rng_block(seed, step, stream, b0 + k);
        for (int l = 0; l < 4; l++) {
            uint64_t c = 4 * (b0 + k) + (uint64_t)l;
            if (c < first || c - first >= n) continue;
            size_t i = (size_t)(c - first);
            int kept = rng_u32_to_unit(r.v[l]) >= p;
            float P = fabsf(att[i]);
            out[i] = kept ? P / q : 0.0f;
            if (mark && !kept) mark[i] = -P;
        }
    }
}

typedef struct {
    int B, T, C, NH, hs;
    size_t btc, bnhtt;
    float *r0, *r1, *r2, *r3, *r4;
} AttnShape;

static AttnShape attn_shape(float *scratch, int B, int T, int C, int NH) {
    AttnShape s;
    s.B = B;
    s.T = T;
    s.C = C;
    s.NH = NH;
    s.hs = C / NH;
    s.btc = (size_t)B * T * C;
    s.bnhtt = (size_t)B * NH * T * T;
    s.r0 = scratch;
    s.r1 = s.r0 + s.btc;
    s.r2 = s.r1 + s.btc;
    s.r3 = s.r2 + s.btc;
    s.r4 = s.r3 + s.btc;
    return s;
}

/* region[b,h,t,:] = the `part`-th C-wide block (0 q, 1 k, 2 v) of qkv, or of a
 * [B,T,C] tensor with part 0 and row_stride C. */
static void permute_in(CudaCtx *ctx, float *dst, const float *src, const AttnShape *s,
                       int row_stride, int part) {
    permute_heads_kernel<<<grid_for(s->btc, CU_THREADS), CU_THREADS, 0, ctx->stream>>>(
        dst, src, s->B, s->T, s->NH, s->hs, row_stride, part * s->C);
    LAUNCH_CHECK(ctx);
}

static void permute_out(CudaCtx *ctx, float *dst, const float *src, const AttnShape *s,
                        int row_stride, int part, int accumulate) {
    unpermute_heads_kernel<<<grid_for(s->btc, CU_THREADS), CU_THREADS, 0, ctx->stream>>>(
        dst, src, s->B, s->T, s->NH, s->hs, row_stride, part * s->C, accumulate);
    LAUNCH_CHECK(ctx);
}

/* Batched C_h = alpha op(A_h) op(B_h) + beta C_h over the B*NH heads, in
 * cuBLAS (column-major) terms. */
static void gemm_heads(CudaCtx *ctx, const AttnShape *s, cublasOperation_t ta, cublasOperation_t tb,
                       int m, int n, int k, float alpha, const float *A, int lda, long long sa,
                       const float *Bm, int ldb, long long sb, float *Cm, int ldc, long long sc) {
    const float beta = 0.0f;
    CUBLAS_CHECK(cublasSgemmStridedBatched(ctx->cublas, ta, tb, m, n, k, &alpha, A, lda, sa, Bm,
                                           ldb, sb, &beta, Cm, ldc, sc, s->B * s->NH));
}

static void launch_attn_dropout(CudaCtx *ctx, float *out, const float *att, float *mark, size_t n, float p,
                                uint64_t seed, uint32_t step, uint32_t stream, uint64_t first) {
    attn_dropout_kernel<<<grid_for((size_t)((first + n + 3) / 4 - first / 4), CU_THREADS), CU_THREADS, 0,
                          ctx->stream>>>(out, att, mark, n, p, 1.0f - p, seed, step, stream, first);
    LAUNCH_CHECK(ctx);
}

void cu_attention_forward(Backend *be, float *out, float *att, float *scratch, const float *qkv,
                          const int *mask, int B, int T, int C, int NH, float p_drop, uint64_t seed,
                          uint32_t step, uint32_t stream, uint64_t first) {
    CudaCtx *ctx = cuda_ctx(be);
    if (B <= 0 || T <= 0) return;
    AttnShape s = attn_shape(scratch, B, T, C, NH);
    int hs = s.hs;
    long long sh = (long long)T * hs, stt = (long long)T * T;
    if (!att) { /* inference (ops.h): P lives in the scratch's P' slot, unused without dropout */
        if (p_drop > 0.0f) die("cu_attention_forward: att NULL needs p_drop 0 (ops.h)");
        att = s.r4;
    }
    permute_in(ctx, s.r0, qkv, &s, 3 * C, 0);
    permute_in(ctx, s.r1, qkv, &s, 3 * C, 1);
    permute_in(ctx, s.r2, qkv, &s, 3 * C, 2);
    /* S = q k^T / sqrt(hs): column-major S^T[T x T] = k . q^T, i.e. A = k^T
     * ([hs x T], transposed), B = q^T ([hs x T]) */
    gemm_heads(ctx, &s, CUBLAS_OP_T, CUBLAS_OP_N, T, T, hs, 1.0f / sqrtf((float)hs), s.r1, hs, sh,
               s.r0, hs, sh, att, T, stt);
    int rows = B * NH * T;
    masked_softmax_kernel<<<(rows + SM_WARPS - 1) / SM_WARPS, SM_WARPS * CU_WARP, 0, ctx->stream>>>(
        att, mask, B, NH, T);
    LAUNCH_CHECK(ctx);
    const float *pp = att;
    if (p_drop > 0.0f) {
        launch_attn_dropout(ctx, s.r4, att, att, s.bnhtt, p_drop, seed, step, stream, first);
        pp = s.r4;
    }
    /* y = P' v: column-major y^T[hs x T] = v^T[hs x T] . P'^T[T x T] */
    gemm_heads(ctx, &s, CUBLAS_OP_N, CUBLAS_OP_N, hs, T, T, 1.0f, s.r2, hs, sh, pp, T, stt, s.r3,
               hs, sh);
    permute_out(ctx, out, s.r3, &s, C, 0, 0);
}

void cu_attention_backward(Backend *be, float *dqkv, float *scratch, const float *dout,
                           const float *qkv, const float *att, const int *mask, int B, int T, int C,
                           int NH, float p_drop, uint64_t seed, uint32_t step, uint32_t stream,
                           uint64_t first) {
    (void)mask; /* masked entries have P = 0, hence dS = 0 */
    CudaCtx *ctx = cuda_ctx(be);
    if (B <= 0 || T <= 0) return;
    AttnShape s = attn_shape(scratch, B, T, C, NH);
    int hs = s.hs;
    long long sh = (long long)T * hs, stt = (long long)T * T;
    float inv_sqrt_hs = 1.0f / sqrtf((float)hs);
    permute_in(ctx, s.r3, dout, &s, C, 0); /* dy */
    const float *pp = att;
    if (p_drop > 0.0f) {
        launch_attn_dropout(ctx, s.r4, att, NULL, s.bnhtt, p_drop, seed, step, stream, first);
        pp = s.r4;
    }
    permute_in(ctx, s.r2, qkv, &s, 3 * C, 2); /* v */
    /* dv = P'^T dy: column-major dv^T[hs x T] = dy^T[hs x T] . P'[T x T]
     * (P' is stored as P'^T column-major, so it enters transposed) */
    gemm_heads(ctx, &s, CUBLAS_OP_N, CUBLAS_OP_T, hs, T, T, 1.0f, s.r3, hs, sh, pp, T, stt, s.r0,
               hs, sh);
    permute_out(ctx, dqkv, s.r0, &s, 3 * C, 2, 1);
    /* dP' = dy v^T: column-major dP'^T[T x T] = v . dy^T, A = v^T transposed */
    gemm_heads(ctx, &s, CUBLAS_OP_T, CUBLAS_OP_N, T, T, hs, 1.0f, s.r2, hs, sh, s.r3, hs, sh, s.r4,
               T, stt);
    int rows = B * NH * T;
    softmax_backward_kernel<<<(rows + SM_WARPS - 1) / SM_WARPS, SM_WARPS * CU_WARP, 0,
                              ctx->stream>>>(s.r4, att, rows, T, p_drop,
                                             1.0f - p_drop, seed,
                                             step, stream, first);
    LAUNCH_CHECK(ctx);
    permute_in(ctx, s.r0, qkv, &s, 3 * C, 0); /* q */
    permute_in(ctx, s.r1, qkv, &s, 3 * C, 1); /* k */
    /* dq = dS k / sqrt(hs): column-major dq^T[hs x T] = k^T[hs x T] . dS^T[T x T] */
    gemm_heads(ctx, &s, CUBLAS_OP_N, CUBLAS_OP_N, hs, T, T, inv_sqrt_hs, s.r1, hs, sh, s.r4, T, stt,
               s.r2, hs, sh);
    /* dk = dS^T q / sqrt(hs): column-major dk^T[hs x T] = q^T[hs x T] . dS[T x T] */
    gemm_heads(ctx, &s, CUBLAS_OP_N, CUBLAS_OP_T, hs, T, T, inv_sqrt_hs, s.r0, hs, sh, s.r4, T, stt,
               s.r3, hs, sh);
    permute_out(ctx, dqkv, s.r2, &s, 3 * C, 0, 1);
    permute_out(ctx, dqkv, s.r3, &s, 3 * C, 1, 1);
}

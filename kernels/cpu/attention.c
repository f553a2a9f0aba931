/* attention.c — multi-head self-attention with a key padding mask and
 * attention dropout, forward and backward (semantics in ops.h).
 *
 * Work is split over the B*NH (batch, head) pairs, one OpenMP thread each.
 * A head's six products are GEMMs with one side hs (32 in MiniLM): too thin
 * for BLAS, whose packing of the T x T operand costs as much as its
 * arithmetic at that shape (perf, minilm T 384: OpenBLAS's copy and beta
 * routines took as long as its sgemm kernel). One register-blocked kernel,
 *   block_sums  C[i][j] += sum_k A[i][k] B[k][j]  on an 8-row x 32-column block
 * (16 vector accumulators, k ascending: every element is one sum in a fixed
 * order, so the result does not depend on the thread count), does all six on
 * operands packed once per head into zero-padded, contiguous tiles (hs
 * rounded up to hsp, a multiple of 16 lanes): S = q k^T and dP' = dO v^T
 * (B = k^T, v^T: the sum runs over hs), out = P' v and dq = dS k (the sum
 * runs over the keys), and dv and dk transposed, dv^T = dO^T P' and
 * dk^T = q^T dS (the sum runs over the queries), so that the T x T operand
 * is always streamed row by row. Keys after the last real token of a
 * sequence (the padded tail) are skipped: their probabilities are exactly 0.
 *
 * Elementwise work rides on the products where that pays, while their blocks
 * are in registers: the forward takes each row's max from the epilogue of
 * S = q k^T (score_block), then runs softmax and dropout on 8 rows of S at a
 * time in L1 and computes those rows of out = P' v at once (P' is never read
 * back). P' = keep ? P / (1-p) : 0 is computed as P * (1 / (1-p)) (torch's
 * dropout does the same). The forward stores P as -P where dropout dropped
 * the element (ops.h), so the backward reads the keep decisions from the
 * sign instead of running the RNG again, in one elementwise sweep per row
 * (grad_row). The fusion keeps the sums and their order, so the results are
 * bitwise those of separate sweeps. (The backward's sweep was also tried in
 * the epilogue of dP' = dO v^T, reading the saved P there with prefetch:
 * bitwise the same and no faster, paired in one process on the 2-core Xeon.)
 *
 * Given att NULL, the forward never stores P: the backward then recomputes
 * each head's P (exp_rows and finish_row, the forward's own code, so bitwise
 * the same P) into a per-thread [T][Tp] tile (ops.h; --attention recompute):
 * the model then keeps no [B,NH,T,T] tensor, at the price of one more q k^T
 * product and softmax per head in the backward (README: +33% attention
 * backward, +5% step at minilm T 384, one thread). */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "cpu_internal.h"
#include "cpu_math.h"
#include "tile_bf16.h"
#include "util.h"

enum { AT_ROWS = 8, AT_VEC = CPU_LANES, BWD_ROWS = 64 };

typedef struct {
    int B, T, C, NH, hs;
    int hsp, Tp;          /* hs and T rounded up to a multiple of AT_VEC */
    float p, rq;          /* dropout probability, 1 / (1-p) */
    uint64_t seed;
    uint32_t step, stream;
    uint64_t first;       /* element index of P'[0,0,0,0] (ops.h) */
} AttnShape;

/* One thread's tiles, sized for any head of the call. */
typedef struct {
    float *kt, *vp;       /* forward: k^T [hs][Tp], v [Tp][hsp]; backward: v^T, k */
    float *qt, *dot;      /* backward: q^T, dO^T [hs][T] */
    float *s;             /* forward: AT_ROWS rows of S [AT_ROWS][Tp] */
    float *pd, *ds;       /* backward, a block of BWD_ROWS rows: P' [][Tp]; dP', then dS [][Tp] */
    float *pp;            /* backward with att NULL: P recomputed [T][Tp] */
    float *y;             /* a product's result ([Tp][hsp] or [hs][Tp]) before it goes to its strided home */
    float *dvt, *dkt;     /* backward: dv^T, dk^T [hs][Tp], summed over the row blocks */
    uint8_t *keep;        /* keep decisions [T][T] */
} HeadBufs;

static int round_up(int n, int m) { return (n + m - 1) / m * m; }

static AttnShape attn_shape(int B, int T, int C, int NH, float p, uint64_t seed, uint32_t step,
                            uint32_t stream, uint64_t first) {
    AttnShape a = {B, T, C, NH, C / NH, round_up(C / NH, AT_VEC), round_up(T, AT_VEC),
                   p, p > 0.0f ? 1.0f / (1.0f - p) : 1.0f, seed, step, stream, first};
    return a;
}

static HeadBufs head_bufs(const AttnShape *a) {
    size_t T = (size_t)a->T, Tp = (size_t)a->Tp, hsp = (size_t)a->hsp;
    HeadBufs w;
    w.kt = xmalloc(hsp * Tp * sizeof(float));
    w.vp = xmalloc(Tp * hsp * sizeof(float));
    w.qt = xmalloc(hsp * T * sizeof(float));
    w.dot = xmalloc(hsp * T * sizeof(float));
    w.s = xmalloc(AT_ROWS * Tp * sizeof(float));
    size_t rows = T < BWD_ROWS ? T : BWD_ROWS;
    w.pd = xmalloc(rows * Tp * sizeof(float));
    w.ds = xmalloc(rows * Tp * sizeof(float));
    w.pp = NULL; /* allocated by the first backward that recomputes P */
    w.y = xmalloc(Tp * hsp * sizeof(float));
    w.dvt = xmalloc(hsp * Tp * sizeof(float));
    w.dkt = xmalloc(hsp * Tp * sizeof(float));
    w.keep = xmalloc(T * T);
    return w;
}

static void head_bufs_free(HeadBufs *w) {
    free(w->kt); free(w->vp); free(w->qt); free(w->dot);
    free(w->s); free(w->pd); free(w->ds); free(w->pp); free(w->y); free(w->keep);
    free(w->dvt); free(w->dkt);
}

/* ---- the two product kernels ---------------------------------------------- */

static inline cpu_vf vsplat(float s) { return s - (cpu_vf){0}; } /* (s - 0 == s, also for -0) */

static inline void vstore(float *p, cpu_vf v) { memcpy(p, &v, sizeof v); }

/* a * b + c, one rounding where the ISA has the instruction */
static inline cpu_vf vfma(cpu_vf a, cpu_vf b, cpu_vf c) {
#if defined(__AVX512F__)
    return (cpu_vf)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
#else
    return a * b + c;
#endif
}

/* c[r][j] = alpha sum_{k<K} a[r][k] b[k][j] for r < R, j in [j0, j0 + 16 NV),
 * R and NV compile-time constants at each (inlined) call. With acc_in
 * (alpha 1 only) the sums go on from c's values: a product split along k
 * into calls gives the bits of one call over all k (each accumulator
 * leaves and re-enters as the same float). */
/* acc[r][v] += sum_{k<K} a[r][k] b[k][j0 + 16 v + lane], k ascending: an
 * R x 16 NV block of a product in registers (R <= 8, NV <= 2, constants at
 * each inlined call). Every kernel below computes its products with it. */
#if defined(__AVX512F__)
/* block_sums of a full block (R 8, NV 2) with the 16 accumulators and both
 * b vectors in named registers, in a function of its own (the same FMAs in
 * the same order, so the same bits). Inlined into its callers, gcc 12 kept
 * b's vectors in a misaligned stack slot and fed every FMA from there: the
 * products ran at 45% of a core's sgemm peak on an AMD Zen 5, and at ~90%
 * this way (attention backward 89 -> 54 ms per call, one thread, minilm
 * B 16, T 384, 2026-12-01). */
#define ROW_FMA(r)                                               \
    do {                                                         \
        __m512 s = _mm512_set1_ps(a[(size_t)(r) * lda + k]);     \
        c##r##0 = _mm512_fmadd_ps(s, b0, c##r##0);               \
        c##r##1 = _mm512_fmadd_ps(s, b1, c##r##1);               \
    } while (0)
static __attribute__((noinline)) void block_sums_8x2(cpu_vf acc[AT_ROWS][2], const float *a, int lda,
                                                     const float *b, int ldb, int j0, int K) {
    __m512 c00 = (__m512)acc[0][0], c01 = (__m512)acc[0][1], c10 = (__m512)acc[1][0], c11 = (__m512)acc[1][1],
           c20 = (__m512)acc[2][0], c21 = (__m512)acc[2][1], c30 = (__m512)acc[3][0], c31 = (__m512)acc[3][1],
           c40 = (__m512)acc[4][0], c41 = (__m512)acc[4][1], c50 = (__m512)acc[5][0], c51 = (__m512)acc[5][1],
           c60 = (__m512)acc[6][0], c61 = (__m512)acc[6][1], c70 = (__m512)acc[7][0], c71 = (__m512)acc[7][1];
    for (int k = 0; k < K; k++) {
        const float *bk = b + (size_t)k * ldb + j0;
        __m512 b0 = _mm512_loadu_ps(bk), b1 = _mm512_loadu_ps(bk + AT_VEC);
        ROW_FMA(0); ROW_FMA(1); ROW_FMA(2); ROW_FMA(3); ROW_FMA(4); ROW_FMA(5); ROW_FMA(6); ROW_FMA(7);
    }
    acc[0][0] = (cpu_vf)c00, acc[0][1] = (cpu_vf)c01, acc[1][0] = (cpu_vf)c10, acc[1][1] = (cpu_vf)c11;
    acc[2][0] = (cpu_vf)c20, acc[2][1] = (cpu_vf)c21, acc[3][0] = (cpu_vf)c30, acc[3][1] = (cpu_vf)c31;
    acc[4][0] = (cpu_vf)c40, acc[4][1] = (cpu_vf)c41, acc[5][0] = (cpu_vf)c50, acc[5][1] = (cpu_vf)c51;
    acc[6][0] = (cpu_vf)c60, acc[6][1] = (cpu_vf)c61, acc[7][0] = (cpu_vf)c70, acc[7][1] = (cpu_vf)c71;
}
#undef ROW_FMA
#endif

static inline __attribute__((always_inline)) void
block_sums(cpu_vf acc[AT_ROWS][2], const float *a, int lda, const float *b, int ldb, int j0, int K, const int R,
           const int NV) {
#if defined(__AVX512F__)
    if (R == AT_ROWS && NV == 2) {
        block_sums_8x2(acc, a, lda, b, ldb, j0, K);
        return;
    }
#endif
    for (int k = 0; k < K; k++) {
        const float *bk = b + (size_t)k * ldb + j0;
        cpu_vf b0 = cpu_vload(bk), b1 = NV > 1 ? cpu_vload(bk + AT_VEC) : b0;
        for (int r = 0; r < R; r++) {
            cpu_vf s = vsplat(a[(size_t)r * lda + k]);
            acc[r][0] = vfma(s, b0, acc[r][0]);
            if (NV > 1) acc[r][1] = vfma(s, b1, acc[r][1]);
        }
    }
}

static inline __attribute__((always_inline)) void
head_gemm_block(float *c, int ldc, const float *a, int lda, const float *b, int ldb, int j0, int K,
          float alpha, int acc_in, const int R, const int NV) {
    cpu_vf acc[AT_ROWS][2] = {{{0}}};
    if (acc_in)
        for (int r = 0; r < R; r++)
            for (int v = 0; v < NV; v++) acc[r][v] = cpu_vload(c + (size_t)r * ldc + j0 + v * AT_VEC);
    block_sums(acc, a, lda, b, ldb, j0, K, R, NV);
    for (int r = 0; r < R; r++)
        for (int v = 0; v < NV; v++) vstore(c + (size_t)r * ldc + j0 + v * AT_VEC, alpha * acc[r][v]);
}

static inline __attribute__((always_inline)) void
head_gemm_rows(float *c, int ldc, const float *a, int lda, const float *b, int ldb, int n, int K,
         float alpha, int acc_in, const int R) {
    int j = 0;
    for (; j + 2 * AT_VEC <= n; j += 2 * AT_VEC) head_gemm_block(c, ldc, a, lda, b, ldb, j, K, alpha, acc_in, R, 2);
    if (j < n) head_gemm_block(c, ldc, a, lda, b, ldb, j, K, alpha, acc_in, R, 1);
}

/* C = alpha A B (acc 0), or C += A B (acc 1, alpha 1; head_gemm_block):
 * c [M][ldc] for columns j < n (n a multiple of 16), a [M][lda] with K
 * columns, b [K][ldb]. */
static void head_gemm_acc(float *c, int ldc, const float *a, int lda, int M, const float *b,
                          int ldb, int n, int K, float alpha, int acc) {
    int i = 0;
    for (; i + AT_ROWS <= M; i += AT_ROWS)
        head_gemm_rows(c + (size_t)i * ldc, ldc, a + (size_t)i * lda, lda, b, ldb, n, K, alpha, acc, AT_ROWS);
    for (; i < M; i++)
        head_gemm_rows(c + (size_t)i * ldc, ldc, a + (size_t)i * lda, lda, b, ldb, n, K, alpha, acc, 1);
}

static void head_gemm(float *c, int ldc, const float *a, int lda, int M, const float *b,
                      int ldb, int n, int K, float alpha) {
    head_gemm_acc(c, ldc, a, lda, M, b, ldb, n, K, alpha, 0);
}

/* ---- packing --------------------------------------------------------------- */

/* dst [rows_p][hsp] = src rows < rows ([rows][ld], hs columns), zeros elsewhere */
static void pack_rows(float *dst, int rows_p, int hsp, const float *src, int ld, int rows, int hs) {
    for (int r = 0; r < rows_p; r++) {
        float *d = dst + (size_t)r * hsp;
        int n = r < rows ? hs : 0;
        if (n) memcpy(d, src + (size_t)r * ld, (size_t)hs * sizeof *d);
        memset(d + n, 0, (size_t)(hsp - n) * sizeof *d);
    }
}


/* dst[d * ldd + j] = src[j * lds + d] for j < rows, d < cols, 16 x 16 blocks
 * through registers where the ISA has them (a scalar transpose writes one
 * element per store: it took a quarter of the backward's time outside the
 * products, perf, minilm T 384), the edges element by element. */
static void transpose_block(float *dst, int ldd, const float *src, int lds, int rows, int cols) {
    int j0 = 0;
#if defined(__AVX512F__)
    for (; j0 + 16 <= rows; j0 += 16)
        for (int d0 = 0; d0 + 16 <= cols; d0 += 16) {
            __m512 r[16];
            for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + (size_t)(j0 + i) * lds + d0);
            cpu_transpose16(r);
            for (int i = 0; i < 16; i++) _mm512_storeu_ps(dst + (size_t)(d0 + i) * ldd + j0, r[i]);
        }
    for (int j = 0; j < j0; j++) /* columns past the last whole block of 16 */
        for (int d = cols / 16 * 16; d < cols; d++) dst[(size_t)d * ldd + j] = src[(size_t)j * lds + d];
#endif
    for (int j = j0; j < rows; j++)
        for (int d = 0; d < cols; d++) dst[(size_t)d * ldd + j] = src[(size_t)j * lds + d];
}

/* dst [hs][cols_p] = the transpose of src rows < rows, zeros for columns >= rows */
static void pack_transposed(float *dst, int cols_p, const float *src, int ld, int rows, int hs) {
    transpose_block(dst, cols_p, src, ld, rows, hs);
    for (int d = 0; d < hs; d++)
        memset(dst + (size_t)d * cols_p + rows, 0, (size_t)(cols_p - rows) * sizeof *dst);
}

/* ---- softmax and dropout rows ---------------------------------------------- */

/* Keys j >= span(mask) are padding: 1 + the last index with mask 1 (0 if none). */
static int key_span(const int *mask, int T) {
    int L = T;
    while (L > 0 && mask[L - 1] == 0) L--;
    return L;
}

/* max_j s[j] over j < L with mask[j] != 0 (-inf if none), 16 lanes at a
 * time; max is exact, so the order does not matter. */
static float masked_max(const float *s, const int *mask, int L) {
    const cpu_vf neg_inf = (cpu_vf){0} - INFINITY;
    cpu_vf acc = neg_inf;
    int j = 0;
    for (; j + CPU_LANES <= L; j += CPU_LANES) {
        cpu_vf v = cpu_vselect(cpu_vloadi(mask + j) != 0, cpu_vload(s + j), neg_inf);
        acc = cpu_vselect(v > acc, v, acc);
    }
    float mx = -INFINITY;
    for (int l = 0; l < CPU_LANES; l++) mx = acc[l] > mx ? acc[l] : mx;
    for (; j < L; j++)
        if (mask[j] && s[j] > mx) mx = s[j];
    return mx;
}


/* Softmax over the first L keys of one row of scores s, in place, but for the
 * last step: given mx, the max of s over the real keys, s_j becomes
 * e_j = exp(s_j - mx) (0 for keys with mask 0) and the row's 1 / sum_k e_k is
 * returned, so that P_j = e_j * inv. The caller multiplies while it stores P
 * (and P'), so the row is swept once here (exponentials and their sum) and
 * once there, all in L1; the max comes from the product's epilogue
 * (scores_rows) or, for a mask with holes, a sweep of its own (masked_max).
 * L > 0 implies a real key (mask[L-1] == 1). The scores are alpha * s_j, the
 * product taken here (the bf16 heads store their sums unscaled; the fp32
 * path passes alpha 1, which changes no bit). */
static float softmax_row_exp(float *s, const int *mask, int L, float mx, float alpha) {
    int j = 0;
    float sum = 0.0f;
#if defined(__AVX512F__)
    /* the exponentials and their sum in one sweep, the sum in cpu_sum's order */
    const __m512 vmx = _mm512_set1_ps(mx), va = _mm512_set1_ps(alpha);
    __m512 acc = _mm512_setzero_ps();
    for (; j + CPU_LANES <= L; j += CPU_LANES) {
        __mmask16 real = _mm512_test_epi32_mask(_mm512_loadu_si512(mask + j), _mm512_loadu_si512(mask + j));
        __m512 x = _mm512_mul_ps(va, _mm512_loadu_ps(s + j));
        __m512 e = _mm512_maskz_mov_ps(real, cpu_exp16(_mm512_sub_ps(x, vmx)));
        _mm512_storeu_ps(s + j, e);
        acc = _mm512_add_ps(acc, e);
    }
    cpu_vf a;
    memcpy(&a, &acc, sizeof a);
    sum = cpu_vhsum(a);
#endif
    for (int t = j; t < L; t++) s[t] = mask[t] ? cpu_expf(alpha * s[t] - mx) : 0.0f;
    if (j == 0) return 1.0f / cpu_sum(s, L);
    for (; j < L; j++) sum += s[j];
    return 1.0f / sum;
}

/* The keep decisions of head bh, rows of T bytes; element index
 * first + (bh*T + i)*T + j. Drawn for the whole tile in one call (keys j >= L
 * of all but the last row too, unused): row by row, every row start that is not
 * a multiple of the RNG's group cost a partly wasted group at each end. */
static void draw_keep(uint8_t *keep, const AttnShape *a, int bh, int L) {
    size_t T = (size_t)a->T;
    cpu_rng_keep(keep, a->seed, a->step, a->stream, a->first + (uint64_t)bh * T * T, (T - 1) * T + L, a->p);
}

/* dst[j][c] += scale yt[c][j] for j < rows, c < hs (dst strided by ld): yt
 * transposed into the rows of tmp [rows][hs] first, then added row by row. */
static void add_transposed(float *dst, int ld, const float *yt, int ldy, int rows, int hs, float scale,
                           float *tmp) {
    transpose_block(tmp, hs, yt, ldy, hs, rows);
    for (int j = 0; j < rows; j++) {
        float *d = dst + (size_t)j * ld;
        const float *t = tmp + (size_t)j * hs;
        for (int c = 0; c < hs; c++) d[c] += scale * t[c];
    }
}

/* dst[i][c] (+)= scale y[i][c] for i < rows, c < hs (dst strided by ld) */
static void store_rows(float *dst, int ld, const float *y, int ldy, int rows, int hs, float scale, int add) {
    for (int i = 0; i < rows; i++) {
        float *d = dst + (size_t)i * ld;
        const float *s = y + (size_t)i * ldy;
        if (add)
            for (int c = 0; c < hs; c++) d[c] += scale * s[c];
        else
            for (int c = 0; c < hs; c++) d[c] = scale * s[c];
    }
}

/* ---- forward ----------------------------------------------------------------- */

/* S = alpha q k^T for an R x 16 NV block of scores into s [R][lds] (the sums
 * of head_gemm_block), and the running max of each row over keys < L into
 * rowmax's lanes while the block is in registers (max is exact: any order
 * gives masked_max's value for a mask with no holes before L). */
static inline __attribute__((always_inline)) void
score_block(float *s, int lds, const float *a, int lda, const float *b, int ldb, int j0, int K, float alpha, int L,
            cpu_vf rowmax[AT_ROWS], const int R, const int NV) {
    static const int32_t lane[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    cpu_vf acc[AT_ROWS][2] = {{{0}}};
    block_sums(acc, a, lda, b, ldb, j0, K, R, NV);
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) {
            int j = j0 + v * AT_VEC;
            cpu_vf x = alpha * acc[r][v];
            vstore(s + (size_t)r * lds + j, x);
            cpu_vi live = x > rowmax[r];
            if (j + AT_VEC > L) live &= cpu_vloadi(lane) < L - j;
            rowmax[r] = cpu_vselect(live, x, rowmax[r]);
        }
}

static inline __attribute__((always_inline)) void
score_group(float *s, int lds, float *mx, const float *q, int ldq, const float *kt, int Lp, int hs, float alpha,
            int L, const int R) {
    cpu_vf rowmax[AT_ROWS];
    for (int r = 0; r < R; r++) rowmax[r] = (cpu_vf){0} - INFINITY;
    int j = 0;
    for (; j + 2 * AT_VEC <= Lp; j += 2 * AT_VEC) score_block(s, lds, q, ldq, kt, Lp, j, hs, alpha, L, rowmax, R, 2);
    if (j < Lp) score_block(s, lds, q, ldq, kt, Lp, j, hs, alpha, L, rowmax, R, 1);
    for (int r = 0; r < R; r++) {
        mx[r] = -INFINITY;
        for (int l = 0; l < AT_VEC; l++) mx[r] = rowmax[r][l] > mx[r] ? rowmax[r][l] : mx[r];
    }
}

/* S = alpha q k^T for R query rows (q [R][ldq], k^T packed in kt [hs][Lp])
 * into s [R][Lp], and each row's max over keys < L into mx */
static void scores_rows(float *s, float *mx, const float *q, int ldq, int R, const float *kt, int Lp, int hs,
                        float alpha, int L) {
    int i = 0;
    for (; i + AT_ROWS <= R; i += AT_ROWS)
        score_group(s + (size_t)i * Lp, Lp, mx + i, q + (size_t)i * ldq, ldq, kt, Lp, hs, alpha, L, AT_ROWS);
    for (; i < R; i++) score_group(s + (size_t)i * Lp, Lp, mx + i, q + (size_t)i * ldq, ldq, kt, Lp, hs, alpha, L, 1);
}

/* whether the keys before L are all real (the max then comes from scores_rows) */
static int mask_dense(const int *mask, int L) {
    for (int j = 0; j < L; j++)
        if (!mask[j]) return 0;
    return 1;
}

/* R rows of scores from R query rows q (ld ldq), S = q k^T / sqrt(hs) into s
 * [R][Lp] with k^T packed in kt [hs][Lp], turned into e by softmax_row_exp,
 * each row's 1 / sum in inv[r]; dense: mask_dense(mask, L). The forward and a
 * recomputing backward both call this and form P_j = e_j * inv the same
 * way, so their P are bitwise the same. */
static void exp_rows(float *s, float inv[AT_ROWS], const float *q, int ldq, int R, const float *kt,
                     const int *mask, int L, int Lp, int hs, int dense) {
    float alpha = 1.0f / sqrtf((float)hs), mx[AT_ROWS];
    if (dense) {
        scores_rows(s, mx, q, ldq, R, kt, Lp, hs, alpha, L);
    } else {
        head_gemm(s, Lp, q, ldq, R, kt, Lp, Lp, hs, alpha);
        for (int r = 0; r < R; r++) mx[r] = masked_max(s + (size_t)r * Lp, mask, L);
    }
    for (int r = 0; r < R; r++) inv[r] = softmax_row_exp(s + (size_t)r * Lp, mask, L, mx[r], 1.0f);
}

/* The saved probability of a key: P, or -P where dropout dropped it (ops.h),
 * so that the backward reads its keep decisions from the sign instead of
 * drawing them again (P >= 0: |att| = P, and att > 0 only where kept). */
static inline float marked_prob(float P, int kept) { return kept ? P : -P; }

#if defined(__AVX512F__)
/* The keep decisions of 16 keys (bytes 0/1) as a lane mask; all lanes kept
 * without dropout. */
static inline __mmask16 keep_mask16(const uint8_t *keep) {
    if (!keep) return (__mmask16)0xFFFF;
    __m128i k = _mm_loadu_si128((const __m128i *)keep);
    return _mm_test_epi8_mask(k, k);
}

/* finish_row for rows stored 64-byte aligned: 16 keys at a time, P (marked)
 * streamed to memory without first being read into the cache (the row is
 * not read again before the backward; the caller fences once per head).
 * The same products as the scalar loop, so the same bits. */
static void finish_row_avx512(float *P, float *s, const uint8_t *keep, int L, int T, float inv, float rq) {
    const __m512 vi = _mm512_set1_ps(inv), vq = _mm512_set1_ps(rq);
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    for (int j = 0; j < T; j += AT_VEC) {
        __mmask16 in = j + AT_VEC <= L ? (__mmask16)0xFFFF : j < L ? (__mmask16)((1u << (L - j)) - 1) : 0;
        __m512 p = _mm512_maskz_mul_ps(in, _mm512_maskz_loadu_ps(in, s + j), vi);
        __mmask16 kept = in & (j < L ? keep_mask16(keep ? keep + j : NULL) : 0);
        __m512 marked = _mm512_castsi512_ps(_mm512_mask_xor_epi32(_mm512_castps_si512(p), in & ~kept,
                                                                   _mm512_castps_si512(p), sign));
        _mm512_stream_ps(P + j, marked);
        if (j < L) _mm512_mask_storeu_ps(s + j, in, keep ? _mm512_maskz_mul_ps(kept, p, vq) : p);
    }
}
#endif

/* The last sweep of a forward row, e (in s) to P and P':
 *   P_j = e_j * inv into P [0, T) when P is not NULL, marked by its sign where
 *   dropped (marked_prob; 0 for keys >= L),
 *   s_j = P'_j = keep_j ? P_j / (1-p) : 0 with dropout (keep not NULL), P_j without. */
static void finish_row(float *P, float *s, const uint8_t *keep, int L, int T, float inv, float rq) {
#if defined(__AVX512F__)
    if (P && ((uintptr_t)P & 63) == 0 && T % AT_VEC == 0) {
        finish_row_avx512(P, s, keep, L, T, inv, rq);
        return;
    }
#endif
    for (int j = 0; j < L; j++) {
        float pj = s[j] * inv;
        int kept = !keep || keep[j];
        if (P) P[j] = marked_prob(pj, kept);
        s[j] = keep ? (kept ? pj * rq : 0.0f) : pj;
    }
    if (P) memset(P + L, 0, (size_t)(T - L) * sizeof *P);
}

/* One head, 8 query rows at a time, all in cache: S = q k^T / sqrt(hs), P
 * (into att, or, with att NULL, into a tile that is then dropped), P', and
 * those rows of out = P' v at once, so that P' is never read back from
 * memory. Each output element is the same sum in the same order (keys
 * ascending) as a product over all rows would be. */
static void attention_forward_head(float *out, float *att, const float *qkv, const int *mask,
                                   const AttnShape *a, int bh, HeadBufs *w) {
    int T = a->T, C = a->C, hs = a->hs, hsp = a->hsp, b = bh / a->NH, h = bh % a->NH;
    int ld = 3 * C;
    const float *q = qkv + (size_t)b * T * ld + (size_t)h * hs, *k = q + C, *v = q + 2 * C;
    const int *m = mask + (size_t)b * T;
    float *P = att ? att + (size_t)bh * T * T : NULL;
    float *o = out + (size_t)b * T * C + (size_t)h * hs;
    int L = key_span(m, T), Lp = round_up(L, AT_VEC);
    if (L == 0) { /* no real key: P and the output are 0 */
        if (P) memset(P, 0, (size_t)T * T * sizeof *P);
        for (int i = 0; i < T; i++) memset(o + (size_t)i * C, 0, (size_t)hs * sizeof *o);
        return;
    }
    pack_transposed(w->kt, Lp, k, ld, L, hs);
    int dense = mask_dense(m, L);
    pack_rows(w->vp, L, hsp, v, ld, L, hs);
    if (a->p > 0.0f) draw_keep(w->keep, a, bh, L);
    for (int i0 = 0; i0 < T; i0 += AT_ROWS) {
        int R = T - i0 < AT_ROWS ? T - i0 : AT_ROWS;
        float inv[AT_ROWS];
        exp_rows(w->s, inv, q + (size_t)i0 * ld, ld, R, w->kt, m, L, Lp, hs, dense);
        for (int r = 0; r < R; r++) { /* P to att, P' over S */
            size_t i = (size_t)(i0 + r);
            finish_row(P ? P + i * T : NULL, w->s + (size_t)r * Lp, a->p > 0.0f ? w->keep + i * T : NULL, L, T,
                       inv[r], a->rq);
        }
        head_gemm(w->y + (size_t)i0 * hsp, hsp, w->s, Lp, R, w->vp, hsp, hsp, L, 1.0f); /* out = P' v */
    }
#if defined(__AVX512F__)
    if (P) _mm_sfence(); /* finish_row's streaming stores are visible before anyone reads P */
#endif
    store_rows(o, C, w->y, hsp, T, hs, 1.0f, 0);
}

/* ---- backward ---------------------------------------------------------------- */

/* One row of the backward's elementwise work, from the saved row a (P marked
 * by its sign where dropped, ops.h) and dP' in d, for the first L keys (0 for
 * keys L..Lp):
 *   kept_j = a_j > 0 (with dropout; a P of 0 contributes nothing either way),
 *   pd_j = P'_j = kept_j ? P_j / (1-p) : 0   (for dv = P'^T dO),
 *   dP_j = kept_j ? dP'_j / (1-p) : 0,
 *   dS_j = P_j (dP_j - sum_k P_k dP_k)        (into d),
 * with P_j = |a_j|; the sum in 16 lanes as cpu_dot. Without dropout a = P
 * and pd = P, dP = dP'. */
static void grad_row(float *pd, float *d, const float *a, int L, int Lp, float rq, int dropout) {
    const cpu_vf zero = {0};
    const cpu_vi magnitude = (cpu_vi){0} + 0x7FFFFFFF;
    cpu_vf acc = zero;
    int j = 0;
    for (; j + CPU_LANES <= L; j += CPU_LANES) {
        cpu_vf va = cpu_vload(a + j), vd = cpu_vload(d + j);
        cpu_vf P = (cpu_vf)((cpu_vi)va & magnitude);
        if (dropout) {
            cpu_vi kept = va > zero;
            vd = cpu_vselect(kept, vd * rq, zero);
            va = cpu_vselect(kept, va * rq, zero);
        }
        memcpy(pd + j, &va, sizeof va);
        memcpy(d + j, &vd, sizeof vd);
        acc += P * vd;
    }
    float rowdot = cpu_vhsum(acc);
    for (int t = j; t < L; t++) {
        int kept = !dropout || a[t] > 0.0f;
        d[t] = kept ? (dropout ? d[t] * rq : d[t]) : 0.0f;
        pd[t] = kept ? (dropout ? a[t] * rq : a[t]) : 0.0f;
        rowdot += fabsf(a[t]) * d[t];
    }
    for (j = 0; j + CPU_LANES <= L; j += CPU_LANES) {
        cpu_vf P = (cpu_vf)((cpu_vi)cpu_vload(a + j) & magnitude);
        cpu_vf dS = P * (cpu_vload(d + j) - rowdot);
        memcpy(d + j, &dS, sizeof dS);
    }
    for (; j < L; j++) d[j] = fabsf(a[j]) * (d[j] - rowdot);
    memset(pd + L, 0, (size_t)(Lp - L) * sizeof *pd);
    memset(d + L, 0, (size_t)(Lp - L) * sizeof *d);
}

/* att NULL: P of the head (rows of T, keys < L) recomputed into w->pp as the
 * forward computed it, marked where dropped as the forward marks att (the
 * keep decisions drawn again into w->keep), k^T packed in w->y for the while. */
static const float *recompute_probs(HeadBufs *w, const float *q, int ld, const int *mask, const AttnShape *a,
                                    int L, int Lp) {
    int T = a->T;
    if (!w->pp) w->pp = xmalloc((size_t)T * a->Tp * sizeof(float));
    pack_transposed(w->y, Lp, q + a->C, ld, L, a->hs); /* k^T */
    int dense = mask_dense(mask, L);
    for (int i0 = 0; i0 < T; i0 += AT_ROWS) {
        int R = T - i0 < AT_ROWS ? T - i0 : AT_ROWS;
        float inv[AT_ROWS];
        exp_rows(w->s, inv, q + (size_t)i0 * ld, ld, R, w->y, mask, L, Lp, a->hs, dense);
        for (int r = 0; r < R; r++) {
            size_t i = (size_t)(i0 + r);
            finish_row(w->pp + i * T, w->s + (size_t)r * Lp, a->p > 0.0f ? w->keep + i * T : NULL, L, T, inv[r],
                       a->rq);
        }
    }
    return w->pp;
}

static void attention_backward_head(float *dqkv, const float *dout, const float *qkv,
                                    const float *att, const int *mask, const AttnShape *a, int bh,
                                    HeadBufs *w) {
    int T = a->T, C = a->C, hs = a->hs, hsp = a->hsp, b = bh / a->NH, h = bh % a->NH;
    int ld = 3 * C;
    int L = key_span(mask + (size_t)b * T, T), Lp = round_up(L, AT_VEC);
    if (L == 0) return; /* all probabilities 0: no gradient */
    if (!att && a->p > 0.0f) draw_keep(w->keep, a, bh, L); /* to mark the recomputed P */
    size_t off = (size_t)b * T * ld + (size_t)h * hs;
    const float *q = qkv + off, *k = q + C, *v = q + 2 * C;
    float *dq = dqkv + off, *dk = dq + C, *dv = dq + 2 * C;
    const float *dO = dout + (size_t)b * T * C + (size_t)h * hs;
    const float *P = att ? att + (size_t)bh * T * T : recompute_probs(w, q, ld, mask + (size_t)b * T, a, L, Lp);
    float scale = 1.0f / sqrtf((float)hs);
    pack_transposed(w->kt, Lp, v, ld, L, hs); /* v^T */
    pack_rows(w->vp, L, hsp, k, ld, L, hs);   /* k */
    pack_transposed(w->qt, T, q, ld, T, hs);
    pack_transposed(w->dot, T, dO, C, T, hs);
    /* BWD_ROWS query rows at a time, so that their dP', dS and P' stay in
     * cache from the product that makes them to the products that read
     * them; dv^T and dk^T sum over the blocks (head_gemm_acc: the bits of
     * one product over all rows) */
    for (int i0 = 0; i0 < T; i0 += BWD_ROWS) {
        int R = T - i0 < BWD_ROWS ? T - i0 : BWD_ROWS;
        head_gemm(w->ds, Lp, dO + (size_t)i0 * C, C, R, w->kt, Lp, Lp, hs, 1.0f); /* dP' = dO v^T */
        for (int r = 0; r < R; r++) /* P' for dv, and dS from dP' in place; keep from P's sign */
            grad_row(w->pd + (size_t)r * Lp, w->ds + (size_t)r * Lp, P + (size_t)(i0 + r) * T, L, Lp, a->rq,
                     a->p > 0.0f);
        head_gemm_acc(w->dvt, Lp, w->dot + i0, T, hs, w->pd, Lp, Lp, R, 1.0f, i0 > 0); /* dv^T = dO^T P' */
        head_gemm(w->y, hsp, w->ds, Lp, R, w->vp, hsp, hsp, L, 1.0f);                /* dq += dS k / sqrt(hs) */
        store_rows(dq + (size_t)i0 * ld, ld, w->y, hsp, R, hs, scale, 1);
        head_gemm_acc(w->dkt, Lp, w->qt + i0, T, hs, w->ds, Lp, Lp, R, 1.0f, i0 > 0); /* dk^T = q^T dS */
    }
    add_transposed(dv, ld, w->dvt, Lp, L, hs, 1.0f, w->dot); /* dO^T no longer needed */
    add_transposed(dk, ld, w->dkt, Lp, L, hs, scale, w->dot);
}

/* ---- bf16 heads (the bf16 backend) --------------------------------------------
 *
 * The same head-by-head flow, with every one of the six products in bf16
 * (tile_bf16.h: inputs rounded to bf16, nearest even; fp32 sums): S = q k^T
 * rounds q and k; out = P' v rounds P' and v; dP' = dO v^T rounds dO and v;
 * dv^T = dO^T P' rounds dO and P'; dq = dS k and dk^T = q^T dS round dS, k
 * and q. Everything between the products stays fp32 and is the fp32 path's
 * code: the scale 1/sqrt(hs), the max, softmax, dropout, the stored P (att,
 * fp32), grad_row's dS. Operands are packed once per head, zero padded to
 * multiples of 32 (the tile products' granule); query rows go 32 at a time in
 * the forward (two tile rows) and BWD_ROWS at a time in the backward. */

enum { BF_ROWS = 32 };

typedef struct {
    int T32, hk;            /* T and hs rounded up to 32 */
    bf16 *qb, *kt, *vd;     /* q rows [T32][hk]; k as B over hs [hk/2][T32][2]; v as B over keys [T32/2][hk][2] */
    bf16 *dob, *vt, *kd;    /* backward: dO rows; v as B over hs; k as B over keys */
    bf16 *qtb, *dotb;       /* backward: q^T, dO^T rows [hk][T32] */
    bf16 *pa, *pdv, *dsa, *dsv; /* P' rows [BF_ROWS][T32]; P' as B over queries; dS rows; dS as B over queries */
    float *qt, *dot;        /* fp32 q^T, dO^T [hs][T] before rounding */
    float *s, *dp, *pd;     /* scores rows [BF_ROWS][T32]; dP' then dS, P' [BWD_ROWS][T32] */
    float *y;               /* a product's result [T32][hk] (also add_transposed's tmp) */
    float *dvt, *dkt;       /* dv^T, dk^T [hk][T32], summed over the row blocks */
    float *pp;              /* P recomputed [T][T] (att NULL), allocated on first use */
    uint8_t *keep;
} BfBufs;

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
/* finish_row_avx512 with P' rounded to bf16 into pb instead of written over
 * s (and P optional: only keys < L are swept without it) */
static void finish_row_bf16_avx512(float *P, bf16 *pb, const float *s, const uint8_t *keep, int L, int T, float inv,
                                   float rq) {
    const __m512 vi = _mm512_set1_ps(inv), vq = _mm512_set1_ps(rq);
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    for (int j = 0; j < (P ? T : L); j += AT_VEC) {
        __mmask16 in = j + AT_VEC <= L ? (__mmask16)0xFFFF : j < L ? (__mmask16)((1u << (L - j)) - 1) : 0;
        __m512 p = _mm512_maskz_mul_ps(in, _mm512_maskz_loadu_ps(in, s + j), vi);
        __mmask16 kept = in & (j < L ? keep_mask16(keep ? keep + j : NULL) : 0);
        if (P)
            _mm512_stream_ps(P + j, _mm512_castsi512_ps(_mm512_mask_xor_epi32(
                                        _mm512_castps_si512(p), in & ~kept, _mm512_castps_si512(p), sign)));
        if (j < L) /* lanes >= L hold 0: the whole vector goes (pb has round_up(L, 32) slots) */
            _mm256_storeu_si256((__m256i *)(pb + j),
                                _mm512_cvtepi32_epi16(tb_round16(keep ? _mm512_maskz_mul_ps(kept, p, vq) : p)));
    }
}
#endif

/* finish_row for the bf16 heads: P into P as there, P' rounded to bf16 into
 * pb [0, L) and zeros up to Lb (s may be overwritten). */
static void finish_row_bf16(float *P, bf16 *pb, int Lb, float *s, const uint8_t *keep, int L, int T, float inv,
                            float rq) {
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
    if (!P || (((uintptr_t)P & 63) == 0 && T % AT_VEC == 0)) {
        finish_row_bf16_avx512(P, pb, s, keep, L, T, inv, rq);
        int done = round_up(L, AT_VEC);
        memset(pb + done, 0, (size_t)(Lb - done) * sizeof *pb);
        return;
    }
#endif
    finish_row(P, s, keep, L, T, inv, rq);
    tb_round_row(pb, s, L, Lb);
}

static BfBufs bf_bufs(const AttnShape *a) {
    BfBufs w;
    w.T32 = round_up(a->T, 32), w.hk = round_up(a->hs, 32);
    size_t T = (size_t)a->T, n = (size_t)w.T32 * w.hk, rows = (size_t)BWD_ROWS * w.T32;
    bf16 **bfs[] = {&w.qb, &w.kt, &w.vd, &w.dob, &w.vt, &w.kd, &w.qtb, &w.dotb};
    for (size_t i = 0; i < sizeof bfs / sizeof bfs[0]; i++) *bfs[i] = xmalloc(n * sizeof(bf16));
    w.pa = xmalloc((size_t)BF_ROWS * w.T32 * sizeof(bf16));
    w.pdv = xmalloc(rows * sizeof(bf16)), w.dsa = xmalloc(rows * sizeof(bf16)), w.dsv = xmalloc(rows * sizeof(bf16));
    w.qt = xmalloc((size_t)a->hs * T * sizeof(float)), w.dot = xmalloc((size_t)a->hs * T * sizeof(float));
    w.s = xmalloc((size_t)BF_ROWS * w.T32 * sizeof(float));
    w.dp = xmalloc(rows * sizeof(float)), w.pd = xmalloc(rows * sizeof(float));
    w.y = xmalloc(n * sizeof(float)), w.dvt = xmalloc(n * sizeof(float)), w.dkt = xmalloc(n * sizeof(float));
    w.pp = NULL;
    w.keep = xmalloc(T * T + AT_VEC); /* keep_mask16 reads 16 bytes at key j < L of any row */
    memset(w.keep + T * T, 0, AT_VEC);
    return w;
}

static void bf_bufs_free(BfBufs *w) {
    void *all[] = {w->qb, w->kt, w->vd, w->dob, w->vt, w->kd, w->qtb, w->dotb, w->pa, w->pdv, w->dsa, w->dsv,
                   w->qt, w->dot, w->s, w->dp, w->pd, w->y, w->dvt, w->dkt, w->pp, w->keep};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

/* q rows and k (as the B of S = q k^T) of a head, rounded into w */
static void bf_pack_qk(BfBufs *w, const float *q, int C, int T, int L, int hs) {
    int L32 = round_up(L, 32), ld = 3 * C;
    tb_pack_rows(w->qb, w->hk, q, ld, T, hs, w->T32, w->hk);
    tb_pack_pairs_across(w->kt, q + C, ld, L, hs, L32, w->hk);
}

/* R <= BF_ROWS query rows from i0: S = q k^T / sqrt(hs) into w->s [BF_ROWS][L32]
 * (bf16 product; the scores alpha * sum in fp32, as in the fp32 path, taken
 * by softmax_row_exp): e_j in s, 1 / sum_j e_j in inv[r]. The forward and a
 * recomputing backward both come here, so their P are bitwise the same. */
static void bf_exp_rows(BfBufs *w, float inv[BF_ROWS], int i0, int R, const int *mask, int L, int hs) {
    int L32 = round_up(L, 32);
    float alpha = 1.0f / sqrtf((float)hs);
    tb_gemm(w->s, L32, w->qb + (size_t)i0 * w->hk, w->hk, w->kt, 2 * L32, BF_ROWS, L32, w->hk, 0);
    for (int r = 0; r < R; r++) { /* max_j alpha s_j = alpha max_j s_j: rounding is monotonic */
        float *s = w->s + (size_t)r * L32;
        inv[r] = softmax_row_exp(s, mask, L, alpha * masked_max(s, mask, L), alpha);
    }
}

static void bf_forward_head(float *out, float *att, const float *qkv, const int *mask, const AttnShape *a, int bh,
                            BfBufs *w) {
    int T = a->T, C = a->C, hs = a->hs, b = bh / a->NH, h = bh % a->NH, ld = 3 * C;
    const float *q = qkv + (size_t)b * T * ld + (size_t)h * hs, *v = q + 2 * C;
    const int *m = mask + (size_t)b * T;
    float *P = att ? att + (size_t)bh * T * T : NULL;
    float *o = out + (size_t)b * T * C + (size_t)h * hs;
    int L = key_span(m, T), L32 = round_up(L, 32);
    if (L == 0) { /* no real key: P and the output are 0 */
        if (P) memset(P, 0, (size_t)T * T * sizeof *P);
        for (int i = 0; i < T; i++) memset(o + (size_t)i * C, 0, (size_t)hs * sizeof *o);
        return;
    }
    bf_pack_qk(w, q, C, T, L, hs);
    tb_pack_pairs_down(w->vd, v, ld, L, hs, L32, w->hk);
    if (a->p > 0.0f) draw_keep(w->keep, a, bh, L);
    for (int i0 = 0; i0 < T; i0 += BF_ROWS) {
        int R = T - i0 < BF_ROWS ? T - i0 : BF_ROWS;
        float inv[BF_ROWS];
        bf_exp_rows(w, inv, i0, R, m, L, hs);
        for (int r = 0; r < R; r++) { /* P to att, P' in bf16 to pa */
            size_t i = (size_t)(i0 + r);
            finish_row_bf16(P ? P + i * T : NULL, w->pa + (size_t)r * L32, L32, w->s + (size_t)r * L32,
                            a->p > 0.0f ? w->keep + i * T : NULL, L, T, inv[r], a->rq);
        }
        if (R < BF_ROWS) memset(w->pa + (size_t)R * L32, 0, (size_t)(BF_ROWS - R) * L32 * sizeof *w->pa);
        tb_gemm(w->y + (size_t)i0 * w->hk, w->hk, w->pa, L32, w->vd, 2 * w->hk, BF_ROWS, w->hk, L32, 0);
    }
#if defined(__AVX512F__)
    if (P) _mm_sfence(); /* finish_row's streaming stores are visible before anyone reads P */
#endif
    store_rows(o, C, w->y, w->hk, T, hs, 1.0f, 0);
}

/* att NULL: the head's P recomputed into w->pp as bf_forward_head computed it
 * (keep already drawn into w->keep), marked where dropped. */
static const float *bf_recompute_probs(BfBufs *w, const float *q, const int *mask, const AttnShape *a, int L) {
    int T = a->T, L32 = round_up(L, 32);
    if (!w->pp) w->pp = xmalloc((size_t)T * T * sizeof(float));
    bf_pack_qk(w, q, a->C, T, L, a->hs);
    for (int i0 = 0; i0 < T; i0 += BF_ROWS) {
        int R = T - i0 < BF_ROWS ? T - i0 : BF_ROWS;
        float inv[BF_ROWS];
        bf_exp_rows(w, inv, i0, R, mask, L, a->hs);
        for (int r = 0; r < R; r++) {
            size_t i = (size_t)(i0 + r);
            finish_row(w->pp + i * T, w->s + (size_t)r * L32, a->p > 0.0f ? w->keep + i * T : NULL, L, T, inv[r],
                       a->rq);
        }
    }
    return w->pp;
}

/* The backward's operands of one head, rounded: dO rows, v over hs (dP'),
 * k over keys (dq), q^T and dO^T rows (dk^T, dv^T). */
static void bf_pack_backward(BfBufs *w, const float *q, int ld, const float *dO, int C, int T, int L, int hs) {
    int L32 = round_up(L, 32);
    tb_pack_rows(w->dob, w->hk, dO, C, T, hs, w->T32, w->hk);
    tb_pack_pairs_across(w->vt, q + 2 * C, ld, L, hs, L32, w->hk);
    tb_pack_pairs_down(w->kd, q + C, ld, L, hs, L32, w->hk);
    transpose_block(w->qt, T, q, ld, T, hs);
    tb_pack_rows(w->qtb, w->T32, w->qt, T, hs, T, w->hk, w->T32);
    transpose_block(w->dot, T, dO, C, T, hs);
    tb_pack_rows(w->dotb, w->T32, w->dot, T, hs, T, w->hk, w->T32);
}

/* grad_row on R rows of dP' (w->dp, rows from P [R][T]), two rows at a time,
 * each pair rounded to bf16 while it is in L1: P' into pdv (B over the
 * queries), dS into dsa (rows) and dsv (B over the queries); zero rows up to
 * R32. */
static void bf_grad_rows(BfBufs *w, const float *P, int T, int R, int R32, int L, float rq, int dropout) {
    int L32 = round_up(L, 32);
    size_t ldb = 2 * (size_t)L32;
    for (int r = 0; r < R32; r += 2) {
        float *pd0 = w->pd + (size_t)r * L32, *ds0 = w->dp + (size_t)r * L32;
        float *pd1 = r + 1 < R ? pd0 + L32 : NULL, *ds1 = r + 1 < R ? ds0 + L32 : NULL;
        if (r >= R) {
            memset(w->pdv + (size_t)(r / 2) * ldb, 0, ldb * sizeof(bf16));
            memset(w->dsv + (size_t)(r / 2) * ldb, 0, ldb * sizeof(bf16));
            memset(w->dsa + (size_t)r * L32, 0, 2 * (size_t)L32 * sizeof(bf16));
            continue;
        }
        grad_row(pd0, ds0, P + (size_t)r * T, L, L32, rq, dropout);
        if (pd1) grad_row(pd1, ds1, P + (size_t)(r + 1) * T, L, L32, rq, dropout);
        tb_pair_rows(w->pdv + (size_t)(r / 2) * ldb, pd0, pd1, L32, L32);
        tb_pair_rows(w->dsv + (size_t)(r / 2) * ldb, ds0, ds1, L32, L32);
        tb_round_row(w->dsa + (size_t)r * L32, ds0, L32, L32);
        tb_round_row(w->dsa + (size_t)(r + 1) * L32, ds1 ? ds1 : ds0, ds1 ? L32 : 0, L32);
    }
}

static void bf_backward_head(float *dqkv, const float *dout, const float *qkv, const float *att, const int *mask,
                             const AttnShape *a, int bh, BfBufs *w) {
    int T = a->T, C = a->C, hs = a->hs, hk = w->hk, b = bh / a->NH, h = bh % a->NH, ld = 3 * C;
    int L = key_span(mask + (size_t)b * T, T), L32 = round_up(L, 32);
    if (L == 0) return; /* all probabilities 0: no gradient */
    if (!att && a->p > 0.0f) draw_keep(w->keep, a, bh, L); /* to mark the recomputed P */
    size_t off = (size_t)b * T * ld + (size_t)h * hs;
    const float *q = qkv + off;
    float *dq = dqkv + off, *dk = dq + C, *dv = dq + 2 * C;
    const float *dO = dout + (size_t)b * T * C + (size_t)h * hs;
    float scale = 1.0f / sqrtf((float)hs);
    const float *P = att ? att + (size_t)bh * T * T : bf_recompute_probs(w, q, mask + (size_t)b * T, a, L);
    bf_pack_backward(w, q, ld, dO, C, T, L, hs);
    for (int i0 = 0; i0 < T; i0 += BWD_ROWS) {
        int R = T - i0 < BWD_ROWS ? T - i0 : BWD_ROWS, R32 = round_up(R, 32);
        tb_gemm(w->dp, L32, w->dob + (size_t)i0 * hk, hk, w->vt, 2 * L32, R32, L32, hk, 0); /* dP' = dO v^T */
        bf_grad_rows(w, P + (size_t)i0 * T, T, R, R32, L, a->rq, a->p > 0.0f);
        tb_gemm(w->dvt, L32, w->dotb + i0, w->T32, w->pdv, 2 * L32, hk, L32, R32, i0 > 0); /* dv^T = dO^T P' */
        tb_gemm(w->y, hk, w->dsa, L32, w->kd, 2 * hk, R32, hk, L32, 0);                     /* dS k */
        store_rows(dq + (size_t)i0 * ld, ld, w->y, hk, R, hs, scale, 1);
        tb_gemm(w->dkt, L32, w->qtb + i0, w->T32, w->dsv, 2 * L32, hk, L32, R32, i0 > 0); /* dk^T = q^T dS */
    }
    add_transposed(dv, ld, w->dvt, L32, L, hs, 1.0f, w->y);
    add_transposed(dk, ld, w->dkt, L32, L, hs, scale, w->y);
}

/* ---- the ops ---------------------------------------------------------------------- */

/* The operands of one call: the forward writes out and att_out (may be
 * NULL); the backward reads att (NULL: recomputed) and dout, and adds into
 * dqkv. */
typedef struct {
    float *out, *att_out, *dqkv;
    const float *att, *qkv, *dout;
    const int *mask;
} HeadIO;

/* Every (batch, head) pair of a call, one OpenMP thread each, with the
 * thread's tiles of the backend's precision. */
static void run_heads(Backend *be, const AttnShape *a, const HeadIO *io, int backward) {
    int bf = be->precision == PREC_BF16;
#pragma omp parallel num_threads(cpu_threads(be))
    {
        HeadBufs w;
        BfBufs wb;
        if (bf) {
            wb = bf_bufs(a);
            tb_begin(); /* nothing else runs on this thread's tiles until tb_end */
        } else {
            w = head_bufs(a);
        }
#pragma omp for schedule(static)
        for (int bh = 0; bh < a->B * a->NH; bh++) {
            if (bf && backward)
                bf_backward_head(io->dqkv, io->dout, io->qkv, io->att, io->mask, a, bh, &wb);
            else if (bf)
                bf_forward_head(io->out, io->att_out, io->qkv, io->mask, a, bh, &wb);
            else if (backward)
                attention_backward_head(io->dqkv, io->dout, io->qkv, io->att, io->mask, a, bh, &w);
            else
                attention_forward_head(io->out, io->att_out, io->qkv, io->mask, a, bh, &w);
        }
        if (bf) {
            tb_end();
            bf_bufs_free(&wb);
        } else {
            head_bufs_free(&w);
        }
    }
}

void cpu_attention_forward(Backend *be, float *out, float *att, float *scratch, const float *qkv,
                           const int *mask, int B, int T, int C, int NH, float p_drop,
                           uint64_t seed, uint32_t step, uint32_t stream, uint64_t first) {
    (void)scratch; /* each thread keeps its own tiles */
    AttnShape a = attn_shape(B, T, C, NH, p_drop, seed, step, stream, first);
    HeadIO io = {out, att, NULL, NULL, qkv, NULL, mask};
    run_heads(be, &a, &io, 0);
}

void cpu_attention_backward(Backend *be, float *dqkv, float *scratch, const float *dout,
                            const float *qkv, const float *att, const int *mask, int B, int T,
                            int C, int NH, float p_drop, uint64_t seed, uint32_t step,
                            uint32_t stream, uint64_t first) {
    (void)scratch; /* each thread keeps its own tiles */
    AttnShape a = attn_shape(B, T, C, NH, p_drop, seed, step, stream, first);
    HeadIO io = {NULL, NULL, dqkv, att, qkv, dout, mask};
    run_heads(be, &a, &io, 1);
}

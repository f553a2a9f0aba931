/* lora.c — the low-rank update of a frozen linear layer (ops.h: lora), forward
 * and backward, always in fp32.
 *
 * Three of its products have R (4-16) as one side and N (B*T, thousands) as
 * the sum or the other side: u = inp a^T, du = s dout b, db += s dout^T u,
 * da += du^T inp. sgemm runs such skinny shapes far below its peak (OpenBLAS
 * 0.3.21 SkylakeX kernels, 1 thread, N 6144, R 8, minilm's projections, on
 * the 2-core Xeon (Emerald Rapids) of 2026-11-30, with two training runs
 * beside it: 10-30 GFLOP/s against a ~100 GFLOP/s sgemm peak; these kernels
 * 25-45 GFLOP/s, at the memory bandwidth for K >= 1152), so they are two
 * kernels here, both reading their big [N, K] operand once, in order:
 *   rows_dot:   z[n,r] = alpha sum_k x[n,k] w[r,k]   (u, du)
 *   rows_outer: y[r,k] += alpha sum_n p[n,r] x[n,k]  (da, and db transposed)
 * Each output element is one sum in a fixed order (16 lanes along k, then
 * the lanes in order, for rows_dot; n = 0, 1, ... for rows_outer), so the
 * results do not depend on the thread count. The two products with R as the
 * inner dimension (out += s u b^T, dinp += du a) are ordinary GEMMs: sgemm. */
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"
#include "cpu_math.h"
#include "util.h"

enum { RG = 8, COLS = 2 * CPU_LANES, PF = 16 }; /* adapter rows per register group; rows_outer's column strip and its prefetch distance (rows) */

static int imin(int a, int b) { return a < b ? a : b; }

/* z[n, r0 .. r0+rr) of one row x[0..K): rr <= RG dot products with w's rows */
static void dot_group(float *z, const float *x, const float *w, int K, int rr, float alpha) {
    cpu_vf acc[RG] = {0};
    int k = 0;
    if (rr == RG)
        for (; k + CPU_LANES <= K; k += CPU_LANES) {
            cpu_vf v = cpu_vload(x + k);
            for (int r = 0; r < RG; r++) acc[r] += v * cpu_vload(w + (size_t)r * K + k);
        }
    else
        for (; k + CPU_LANES <= K; k += CPU_LANES) {
            cpu_vf v = cpu_vload(x + k);
            for (int r = 0; r < rr; r++) acc[r] += v * cpu_vload(w + (size_t)r * K + k);
        }
    for (int r = 0; r < rr; r++) {
        float s = cpu_vhsum(acc[r]);
        for (int j = k; j < K; j++) s += x[j] * w[(size_t)r * K + j];
        z[r] = alpha * s;
    }
}

/* dot_group of two rows x0, x1 for a full group (RG rows of w): each w
 * vector loaded serves both rows (w's rows come from L2 when K is large).
 * The same sums, in the same order, as dot_group of each row. */
static void dot_group2(float *z0, float *z1, const float *x0, const float *x1, const float *w, int K, float alpha) {
    cpu_vf a0[RG], a1[RG];
    memset(a0, 0, sizeof a0);
    memset(a1, 0, sizeof a1);
    int k = 0;
    for (; k + CPU_LANES <= K; k += CPU_LANES) {
        cpu_vf v0 = cpu_vload(x0 + k), v1 = cpu_vload(x1 + k);
        for (int r = 0; r < RG; r++) {
            cpu_vf wv = cpu_vload(w + (size_t)r * K + k);
            a0[r] += v0 * wv;
            a1[r] += v1 * wv;
        }
    }
    for (int r = 0; r < RG; r++) {
        float s0 = cpu_vhsum(a0[r]), s1 = cpu_vhsum(a1[r]);
        for (int j = k; j < K; j++) {
            s0 += x0[j] * w[(size_t)r * K + j];
            s1 += x1[j] * w[(size_t)r * K + j];
        }
        z0[r] = alpha * s0;
        z1[r] = alpha * s1;
    }
}

/* z[n,r] = alpha sum_k x[n,k] w[r,k]: x [N,K], w [R,K], z [N,R]; rows in
 * pairs (a pair's sums are each row's own, so the pairing changes nothing) */
static void rows_dot(int nth, float *z, const float *x, const float *w, int N, int K, int R, float alpha) {
    int pairs = (N + 1) / 2;
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int i = 0; i < pairs; i++) {
        int n = 2 * i;
        for (int r0 = 0; r0 < R; r0 += RG) {
            int rr = imin(RG, R - r0);
            const float *x0 = x + (size_t)n * K, *wg = w + (size_t)r0 * K;
            float *z0 = z + (size_t)n * R + r0;
            if (rr == RG && n + 1 < N) {
                dot_group2(z0, z0 + R, x0, x0 + K, wg, K, alpha);
                continue;
            }
            dot_group(z0, x0, wg, K, rr, alpha);
            if (n + 1 < N) dot_group(z0 + R, x0 + K, wg, K, rr, alpha);
        }
    }
}

/* y[r0+r, c0 .. c0+COLS) += alpha sum_n p[n, r0+r] x[n, c0 ..] for r < rr:
 * the strip's 2 x rr vectors stay in registers while x streams by. */
/* (rows K floats apart leave the hardware prefetcher's page, so x is
 * prefetched PF rows ahead: 10x faster at K = 1536 on that Xeon) */
static void outer_strip(float *y, const float *p, const float *x, int N, int K, int R, int r0, int rr, int c0,
                        float alpha) {
    cpu_vf acc[RG][2];
    memset(acc, 0, sizeof acc);
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * K + c0, *pr = p + (size_t)n * R + r0;
        if (n + PF < N) {
            __builtin_prefetch(xr + (size_t)PF * K);
            __builtin_prefetch(xr + (size_t)PF * K + CPU_LANES);
        }
        cpu_vf x0 = cpu_vload(xr), x1 = cpu_vload(xr + CPU_LANES);
        for (int r = 0; r < RG; r++) {
            float s = r < rr ? pr[r] : 0.0f;
            acc[r][0] += s * x0;
            acc[r][1] += s * x1;
        }
    }
    for (int r = 0; r < rr; r++)
        for (int j = 0; j < COLS; j++)
            y[(size_t)(r0 + r) * K + c0 + j] += alpha * acc[r][j / CPU_LANES][j % CPU_LANES];
}

/* y[r,k] += alpha sum_n p[n,r] x[n,k]: p [N,R], x [N,K], y [R,K]; parallel
 * over column strips (the last, narrower one scalar). */
static void rows_outer(int nth, float *y, const float *p, const float *x, int N, int K, int R, float alpha) {
    int strips = (K + COLS - 1) / COLS;
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int st = 0; st < strips; st++) {
        int c0 = st * COLS;
        for (int r0 = 0; r0 < R; r0 += RG) {
            int rr = imin(RG, R - r0);
            if (c0 + COLS <= K) {
                outer_strip(y, p, x, N, K, R, r0, rr, c0, alpha);
                continue;
            }
            for (int r = r0; r < r0 + rr; r++)
                for (int c = c0; c < K; c++) {
                    float s = 0.0f;
                    for (int n = 0; n < N; n++) s += p[(size_t)n * R + r] * x[(size_t)n * K + c];
                    y[(size_t)r * K + c] += alpha * s;
                }
        }
    }
}

/* u = inp . a^T ; out += s * u . b^T (out NULL: u only) */
void cpu_lora_forward(Backend *be, float *out, float *u, const float *inp, const float *a,
                      const float *b, int N, int C, int R, int OC, float s) {
    if (N <= 0 || R <= 0) return;
    int nth = cpu_threads(be);
    rows_dot(nth, u, inp, a, N, C, R, 1.0f);
    if (out) cpu_sgemm(nth, 0, 1, N, OC, R, s, u, R, b, R, 1.0f, out, OC);
}

/* w_eff = w + s * b . a: a copy, then one GEMM accumulating onto it */
void cpu_lora_merge(Backend *be, float *w_eff, const float *w, const float *a, const float *b, int OC,
                    int C, int R, float s) {
    if (OC <= 0 || C <= 0) return;
    if (w_eff != w) memcpy(w_eff, w, (size_t)OC * C * sizeof(float));
    if (R > 0) cpu_sgemm(cpu_threads(be), 0, 0, OC, C, R, s, b, R, a, C, 1.0f, w_eff, C);
}

/* du = s * dout . b ; db += s * dout^T . u ; da += du^T . inp ; dinp += du . a.
 * b^T and db^T [R,OC] are staged so that both products read dout by rows. */
void cpu_lora_backward(Backend *be, float *dinp, float *da, float *db, float *du,
                       const float *dout, const float *inp, const float *u, const float *a,
                       const float *b, int N, int C, int R, int OC, float s) {
    if (N <= 0 || R <= 0) return;
    int nth = cpu_threads(be);
    size_t nb = (size_t)R * OC;
    float *bt = xmalloc(nb * sizeof *bt), *dbt = xcalloc(nb, sizeof *dbt);
    for (int o = 0; o < OC; o++)
        for (int r = 0; r < R; r++) bt[(size_t)r * OC + o] = b[(size_t)o * R + r];
    rows_dot(nth, du, dout, bt, N, OC, R, s);
    rows_outer(nth, dbt, u, dout, N, OC, R, s);
    for (int o = 0; o < OC; o++)
        for (int r = 0; r < R; r++) db[(size_t)o * R + r] += dbt[(size_t)r * OC + o];
    rows_outer(nth, da, du, inp, N, C, R, 1.0f);
    if (dinp) cpu_sgemm(nth, 0, 0, N, C, R, 1.0f, du, R, a, C, 1.0f, dinp, C);
    free(bt);
    free(dbt);
}

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
 * kernels here, both reading their big [N, K] operand by rows, in order:
 *   dot_pair (rows_dot over all rows): z[n,r] = alpha sum_k x[n,k] w[r,k]   (u, du)
 *   outer_rows: y[r,k] += alpha sum_n p[n,r] x[n,k]  (da, and db transposed)
 * The backward makes one pass over dout's rows, not two: chunks of CHUNK
 * rows (fixed, not per thread), each read from memory once for du and then
 * again from L2 for db; da reads inp once. db and da sum a fixed group of
 * chunks per task (SUPER rows) into that group's partial, and the partials
 * are added in group order, so each element is one sum in an order fixed by N
 * (16 lanes along k, then the lanes in order, for rows_dot; rows in order
 * within a chunk for the outer products): the results do not depend on the
 * thread count. The two products with R as the inner dimension
 * (out += s u b^T, dinp += du a) are ordinary GEMMs: sgemm. */
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"
#include "cpu_math.h"
#include "util.h"

enum {
    RG = 8,              /* adapter rows per register group */
    COLS = 2 * CPU_LANES, /* an outer product's column strip */
    PF = 16,             /* its prefetch distance (rows) */
    CHUNK = 128,         /* backward rows per chunk: dout's [CHUNK, OC] stays in L2 between its two uses */
    SUPER = 4 * CHUNK    /* backward rows per task (and per partial sum of db and da) */
};

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

/* z[n,r] = alpha sum_k x[n,k] w[r,k] for rows n, n+1 (n+1 only if < N) */
static void dot_pair(float *z, const float *x, const float *w, int n, int N, int K, int R, float alpha) {
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

/* z[n,r] = alpha sum_k x[n,k] w[r,k]: x [N,K], w [R,K], z [N,R]; rows in
 * pairs (a pair's sums are each row's own, so the pairing changes nothing) */
static void rows_dot(int nth, float *z, const float *x, const float *w, int N, int K, int R, float alpha) {
    int pairs = (N + 1) / 2;
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int i = 0; i < pairs; i++) dot_pair(z, x, w, 2 * i, N, K, R, alpha);
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

/* y[r,k] += alpha sum_n p[n,r] x[n,k]: p [N,R], x [N,K], y [R,K]; column
 * strip by strip (the last, narrower one scalar). */
static void outer_rows(float *y, const float *p, const float *x, int N, int K, int R, float alpha) {
    for (int c0 = 0; c0 < K; c0 += COLS) {
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

/* w_eff = w + s * b . a, row o: w_eff[o,c] = w[o,c] + s sum_r b[o,r] a[r,c],
 * the sum in r order; one pass over w and w_eff (a copy and then a GEMM
 * onto it took two), a [R,C] read from cache for every row. */
static void merge_row(float *we, const float *w, const float *a, const float *b, int C, int R, float s) {
    int c = 0;
    for (; c + CPU_LANES <= C; c += CPU_LANES) {
        cpu_vf acc = {0};
        for (int r = 0; r < R; r++) acc += b[r] * cpu_vload(a + (size_t)r * C + c);
        cpu_vf y = cpu_vload(w + c) + s * acc;
        memcpy(we + c, &y, sizeof y);
    }
    for (; c < C; c++) {
        float acc = 0.0f;
        for (int r = 0; r < R; r++) acc += b[r] * a[(size_t)r * C + c];
        we[c] = w[c] + s * acc;
    }
}

void cpu_lora_merge(Backend *be, float *w_eff, const float *w, const float *a, const float *b, int OC,
                    int C, int R, float s) {
    if (OC <= 0 || C <= 0) return;
    int nth = cpu_threads(be);
#pragma omp parallel for schedule(static) num_threads(nth) if ((size_t)OC * C > 65536)
    for (int o = 0; o < OC; o++)
        merge_row(w_eff + (size_t)o * C, w + (size_t)o * C, a, b + (size_t)o * R, C, R, s);
}

/* One task of the backward: rows [n0, n1) of dout, chunk by chunk: du of
 * the chunk's rows (dout read from memory), then its share of db^T (the
 * same rows again, from L2) and of da (inp read once) onto the task's
 * partials dbt [R,OC] and dap [R,C]. Without a saved u (u NULL), the chunk's
 * u = inp a^T goes into its rows of du first (inp read from memory, rows_dot's
 * own sums: bitwise the forward's u), serves db, and is then overwritten by
 * du; da then reads inp from L2. */
static void backward_rows(float *du, float *dbt, float *dap, const float *dout, const float *inp,
                          const float *u, const float *a, const float *bt, int n0, int n1, int C, int R, int OC,
                          float s) {
    for (int c0 = n0; c0 < n1; c0 += CHUNK) {
        int rows = imin(CHUNK, n1 - c0);
        if (!u)
            for (int n = c0; n < c0 + rows; n += 2) dot_pair(du, inp, a, n, c0 + rows, C, R, 1.0f);
        const float *uc = u ? u + (size_t)c0 * R : du + (size_t)c0 * R;
        if (!u) outer_rows(dbt, uc, dout + (size_t)c0 * OC, rows, OC, R, s);
        for (int n = c0; n < c0 + rows; n += 2) dot_pair(du, dout, bt, n, c0 + rows, OC, R, s);
        if (u) outer_rows(dbt, uc, dout + (size_t)c0 * OC, rows, OC, R, s);
        outer_rows(dap, du + (size_t)c0 * R, inp + (size_t)c0 * C, rows, C, R, 1.0f);
    }
}

/* du = s * dout . b ; db += s * dout^T . u ; da += du^T . inp ; dinp += du . a
 * (u NULL: recomputed, inp . a^T; see backward_rows).
 * b^T and the partials of db^T [R,OC] are staged so that every product reads
 * dout by rows; the partials of SUPER-row tasks are added in task order. */
void cpu_lora_backward(Backend *be, float *dinp, float *da, float *db, float *du,
                       const float *dout, const float *inp, const float *u, const float *a,
                       const float *b, int N, int C, int R, int OC, float s) {
    if (N <= 0 || R <= 0) return;
    int nth = cpu_threads(be), tasks = (N + SUPER - 1) / SUPER;
    size_t nb = (size_t)R * OC, na = (size_t)R * C;
    float *bt = xmalloc(nb * sizeof *bt), *dbt = xcalloc(nb * tasks, sizeof *dbt);
    float *dap = xcalloc(na * tasks, sizeof *dap);
    for (int o = 0; o < OC; o++)
        for (int r = 0; r < R; r++) bt[(size_t)r * OC + o] = b[(size_t)o * R + r];
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int t = 0; t < tasks; t++)
        backward_rows(du, dbt + nb * t, dap + na * t, dout, inp, u, a, bt, t * SUPER, imin(N, (t + 1) * SUPER),
                      C, R, OC, s);
    for (int t = 1; t < tasks; t++) {
        for (size_t i = 0; i < nb; i++) dbt[i] += dbt[nb * t + i];
        for (size_t i = 0; i < na; i++) dap[i] += dap[na * t + i];
    }
    for (int o = 0; o < OC; o++)
        for (int r = 0; r < R; r++) db[(size_t)o * R + r] += dbt[(size_t)r * OC + o];
    for (size_t i = 0; i < na; i++) da[i] += dap[i];
    if (dinp) cpu_sgemm(nth, 0, 0, N, C, R, 1.0f, du, R, a, C, 1.0f, dinp, C);
    free(bt);
    free(dbt);
    free(dap);
}

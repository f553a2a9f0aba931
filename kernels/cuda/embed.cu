/* embed.cu — token + position + token-type embeddings, forward and backward.
 *
 * Backward without atomics. dwpe: one thread per (t, c) adds dout[b,t,c] for
 * b = 0..B-1 in order (the CPU's order, bit for bit). dwte and dwtt: rows can
 * repeat, so the host downloads the ids, sorts the positions by (id,
 * position) and uploads a plan ("bucket" scheme, as llm.c's deterministic
 * encoder backward): one group per distinct id, holding its positions in
 * increasing order.
 *   - a group with at most EMB_SEG positions is summed directly onto the
 *     table row in position order (again the CPU's order, bit for bit);
 *   - a longer group (e.g. [PAD] or token type 0) is cut into segments of
 *     EMB_SEG positions whose partial sums are computed in parallel, then
 *     added onto the row in segment order.
 * The result is a pure function of (ids, dout). Costs one device-to-host copy
 * of the ids per call (a synchronisation point).
 */
#include <stdlib.h>
#include <string.h>

#include "cuda_common.cuh"

enum { EMB_SEG = 64, EMB_THREADS = 128 };

/* out[b,t,:] = (wte[ids[b,t]] + wpe[t]) + wtt[tt[b,t]]   (tt NULL: type 0) */
__global__ void embed_forward_kernel(float *out, const int *ids, const int *tt, const float *wte,
                                     const float *wpe, const float *wtt, int B, int T, int C) {
    size_t total = (size_t)B * T * C;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        int c = (int)(i % C);
        size_t bt = i / C;
        int t = (int)(bt % T);
        int type = tt ? tt[bt] : 0;
        out[i] = (wte[(size_t)ids[bt] * C + c] + wpe[(size_t)t * C + c]) + wtt[(size_t)type * C + c];
    }
}

void cu_embed_forward(Backend *be, float *out, const int *ids, const int *tt, const float *wte,
                      const float *wpe, const float *wtt, int B, int T, int C) {
    CudaCtx *ctx = cuda_ctx(be);
    size_t total = (size_t)B * T * C;
    if (!total) return;
    embed_forward_kernel<<<grid_for(total, CU_THREADS), CU_THREADS, 0, ctx->stream>>>(
        out, ids, tt, wte, wpe, wtt, B, T, C);
    LAUNCH_CHECK(ctx);
}

/* dwpe[t,c] += dout[0,t,c] + ... + dout[B-1,t,c], added one at a time. */
__global__ void embed_backward_pos_kernel(float *dwpe, const float *dout, int B, int T, int C) {
    size_t total = (size_t)T * C;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        float acc = dwpe[i];
        for (int b = 0; b < B; b++) acc += dout[(size_t)b * T * C + i];
        dwpe[i] = acc;
    }
}

/* ---- the plan ------------------------------------------------------------- *
 * ints: pos[N] positions sorted by (key, position);
 *       groups[ngroups][4] = {key, first (into pos), count, first segment};
 *       segs[nsegs][2] = {first (into pos), count}   (long groups only) */
typedef struct {
    int ngroups, nsegs;
    size_t nints;
} EmbedPlan;

typedef struct {
    int key, pos;
} KeyPos;

static int cmp_keypos(const void *a, const void *b) {
    const KeyPos *x = (const KeyPos *)a, *y = (const KeyPos *)b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

static int *host_ints(CudaCtx *ctx, size_t n) {
    if (n > ctx->h_ints_cap) {
        ctx->h_ints = (int *)xrealloc(ctx->h_ints, n * sizeof(int));
        ctx->h_ints_cap = n;
    }
    return ctx->h_ints;
}

/* Build the plan for keys[N] (host) into ctx->h_ints. Negative keys (invalid
 * ids; the model validates them) are skipped rather than written out of
 * bounds. */
static EmbedPlan build_plan(CudaCtx *ctx, const int *keys, int N) {
    KeyPos *kp = (KeyPos *)xmalloc((size_t)N * sizeof *kp);
    for (int n = 0; n < N; n++) {
        kp[n].key = keys[n];
        kp[n].pos = n;
    }
    qsort(kp, (size_t)N, sizeof *kp, cmp_keypos);
    /* worst case: N groups, and at most N/EMB_SEG + groups segments */
    size_t cap = (size_t)N + 4 * (size_t)N + 2 * ((size_t)N / EMB_SEG + (size_t)N + 1);
    int *h = host_ints(ctx, cap);
    int *pos = h;
    int first = 0;
    while (first < N && kp[first].key < 0) first++;
    int valid = N - first;
    for (int i = 0; i < valid; i++) pos[i] = kp[first + i].pos;
    int *groups = h + valid;
    EmbedPlan plan = {0, 0, 0};
    /* count groups first so that segments can follow them */
    for (int i = 0; i < valid; i++)
        if (i == 0 || kp[first + i].key != kp[first + i - 1].key) plan.ngroups++;
    int *segs = groups + 4 * (size_t)plan.ngroups;
    int g = 0;
    for (int i = 0; i < valid;) {
        int j = i;
        while (j < valid && kp[first + j].key == kp[first + i].key) j++;
        int count = j - i;
        int *gr = groups + 4 * (size_t)g++;
        gr[0] = kp[first + i].key;
        gr[1] = i;
        gr[2] = count;
        gr[3] = plan.nsegs;
        if (count > EMB_SEG)
            for (int s0 = i; s0 < j; s0 += EMB_SEG) {
                segs[2 * (size_t)plan.nsegs] = s0;
                segs[2 * (size_t)plan.nsegs + 1] = j - s0 < EMB_SEG ? j - s0 : EMB_SEG;
                plan.nsegs++;
            }
        i = j;
    }
    plan.nints = (size_t)valid + 4 * (size_t)plan.ngroups + 2 * (size_t)plan.nsegs;
    free(kp);
    return plan;
}

/* part[s*C + c] = sum over the positions of segment s, in order. */
__global__ void embed_segment_kernel(float *part, const float *dout, const int *pos,
                                     const int *segs, int C) {
    int s = blockIdx.x;
    int c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= C) return;
    int first = segs[2 * s], count = segs[2 * s + 1];
    float acc = 0.0f;
    for (int k = 0; k < count; k++) acc += dout[(size_t)pos[first + k] * C + c];
    part[(size_t)s * C + c] = acc;
}

/* table[key, c] += the group's terms: positions in order (short group) or
 * segment partial sums in order (long group). */
__global__ void embed_group_kernel(float *table, const float *dout, const int *pos,
                                   const int *groups, const float *part, int C) {
    int g = blockIdx.x;
    int c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= C) return;
    const int *gr = groups + 4 * (size_t)g;
    int key = gr[0], first = gr[1], count = gr[2], seg0 = gr[3];
    float *row = table + (size_t)key * C;
    float acc = row[c];
    if (count <= EMB_SEG) {
        for (int k = 0; k < count; k++) acc += dout[(size_t)pos[first + k] * C + c];
    } else {
        int nseg = (count + EMB_SEG - 1) / EMB_SEG;
        for (int s = 0; s < nseg; s++) acc += part[(size_t)(seg0 + s) * C + c];
    }
    row[c] = acc;
}

/* table[keys[n]] += dout[n] for every n, deterministically (see top). */
static void scatter_rows(CudaCtx *ctx, float *table, const float *dout, const int *keys_host, int N,
                         int C, const char *what) {
    EmbedPlan plan = build_plan(ctx, keys_host, N);
    if (plan.ngroups == 0) return;
    size_t int_bytes = (plan.nints * sizeof(int) + 255) / 256 * 256;
    size_t need = int_bytes + (size_t)plan.nsegs * C * sizeof(float);
    char *w = (char *)cuda_work(ctx, need, what);
    int *d_ints = (int *)w;
    float *part = (float *)(w + int_bytes);
    /* pageable source: returns once the data is staged, so h_ints may be reused */
    CUDA_CHECK(cudaMemcpyAsync(d_ints, ctx->h_ints, plan.nints * sizeof(int),
                               cudaMemcpyHostToDevice, ctx->stream));
    int valid = (int)(plan.nints - 4 * (size_t)plan.ngroups - 2 * (size_t)plan.nsegs);
    const int *pos = d_ints, *groups = d_ints + valid, *segs = groups + 4 * (size_t)plan.ngroups;
    unsigned cblocks = (unsigned)((C + EMB_THREADS - 1) / EMB_THREADS);
    if (plan.nsegs > 0) {
        embed_segment_kernel<<<dim3(plan.nsegs, cblocks), EMB_THREADS, 0, ctx->stream>>>(
            part, dout, pos, segs, C);
        LAUNCH_CHECK(ctx);
    }
    embed_group_kernel<<<dim3(plan.ngroups, cblocks), EMB_THREADS, 0, ctx->stream>>>(
        table, dout, pos, groups, part, C);
    LAUNCH_CHECK(ctx);
    /* the next plan reuses the workspace and h_ints: the copy above must not
     * be overtaken, which stream order guarantees on the device side; on the
     * host side cudaMemcpyAsync from pageable memory has already staged it */
}

void cu_embed_backward(Backend *be, float *dwte, float *dwpe, float *dwtt, const float *dout,
                       const int *ids, const int *tt, int B, int T, int C) {
    CudaCtx *ctx = cuda_ctx(be);
    int N = B * T;
    if (N <= 0 || C <= 0) return;
    size_t tc = (size_t)T * C;
    embed_backward_pos_kernel<<<grid_for(tc, CU_THREADS), CU_THREADS, 0, ctx->stream>>>(dwpe, dout,
                                                                                       B, T, C);
    LAUNCH_CHECK(ctx);

    int *keys = (int *)xmalloc((size_t)N * sizeof *keys);
    CUDA_CHECK(cudaMemcpyAsync(keys, ids, (size_t)N * sizeof *keys, cudaMemcpyDeviceToHost,
                               ctx->stream));
    CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
    scatter_rows(ctx, dwte, dout, keys, N, C, "embedding backward (word)");
    if (tt) {
        CUDA_CHECK(cudaMemcpyAsync(keys, tt, (size_t)N * sizeof *keys, cudaMemcpyDeviceToHost,
                                   ctx->stream));
        CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
    } else {
        memset(keys, 0, (size_t)N * sizeof *keys);
    }
    scatter_rows(ctx, dwtt, dout, keys, N, C, "embedding backward (type)");
    free(keys);
}

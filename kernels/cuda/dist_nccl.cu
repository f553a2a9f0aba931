/* dist_nccl.cu — the data-parallel gradient sum on GPUs (impl/train/dist.h) over
 * NCCL, in the same fixed order as the MPI sum on the host:
 *   1. all-to-all (grouped ncclSend/ncclRecv): rank r receives every rank's
 *      chunk r of the buffer, in rank order, into a scratch buffer;
 *   2. one kernel adds them in rank order: out[k] = ((p_0[k] + p_1[k]) + ...);
 *   3. all-gather (grouped send/recv) of the summed chunks.
 * NCCL's own ncclAllReduce is not used: its summation order depends on the
 * algorithm and protocol NCCL picks for the topology and message size, so it
 * would not be bitwise the same as the host path, or across machines. The
 * communicator is bootstrapped by impl/train/dist.c (ncclUniqueId sent over MPI).
 * Everything runs on the backend's stream. */
#include <nccl.h>

#include "cuda_common.cuh"
#include "cuda_dist.h"

static ncclComm_t g_comm;
static int g_rank, g_size;

/* out[k] = sum over i = 0..n_parts-1 of parts[i*stride + k], in order of i */
__global__ void sum_parts_kernel(float *out, const float *parts, int n_parts, size_t stride, size_t n) {
    GRID_STRIDE(k, n) {
        float s = parts[k];
        for (int i = 1; i < n_parts; i++) s += parts[(size_t)i * stride + k];
        out[k] = s;
    }
}

static int nccl_fail(char *why, size_t why_len, const char *what, ncclResult_t r) {
    if (why) snprintf(why, why_len, "%s: %s", what, ncclGetErrorString(r));
    return -1;
}

extern "C" size_t cu_dist_id_bytes(void) { return sizeof(ncclUniqueId); }

extern "C" int cu_dist_new_id(void *id, char *why, size_t why_len) {
    ncclResult_t r = ncclGetUniqueId((ncclUniqueId *)id);
    return r == ncclSuccess ? 0 : nccl_fail(why, why_len, "ncclGetUniqueId", r);
}

extern "C" int cu_dist_init(Backend *be, const void *id, int nranks, int rank, char *why, size_t why_len) {
    (void)be; /* the backend already made its device current */
    ncclUniqueId uid;
    memcpy(&uid, id, sizeof uid);
    ncclResult_t r = ncclCommInitRank(&g_comm, nranks, uid, rank);
    if (r != ncclSuccess) return nccl_fail(why, why_len, "ncclCommInitRank", r);
    g_rank = rank;
    g_size = nranks;
    return 0;
}

extern "C" void cu_dist_free(void) {
    if (g_comm) ncclCommDestroy(g_comm);
    g_comm = NULL;
}

#define NCCL_CHECK(call)                                                                     \
    do {                                                                                     \
        ncclResult_t r_ = (call);                                                            \
        if (r_ != ncclSuccess) die("NCCL: %s (%s:%d)", ncclGetErrorString(r_), __FILE__, __LINE__); \
    } while (0)

/* Chunk j of a len-float segment: [j*c, min((j+1)*c, len)). */
static size_t chunk_lo(int j, size_t c, size_t len) { return (size_t)j * c < len ? (size_t)j * c : len; }
static size_t chunk_len(int j, size_t c, size_t len) { return chunk_lo(j + 1, c, len) - chunk_lo(j, c, len); }

extern "C" void cu_dist_sum(Backend *be, float *x, size_t n) {
    if (g_size <= 1 || n == 0) return;
    CudaCtx *ctx = cuda_ctx(be);
    const size_t seg = (size_t)1 << 24; /* floats per round: scratch 64 MB */
    size_t c_max = ((n < seg ? n : seg) + g_size - 1) / g_size;
    float *scratch = (float *)be->alloc(be, c_max * g_size * sizeof(float));
    for (size_t off = 0; off < n; off += seg) {
        size_t len = n - off < seg ? n - off : seg, c = (len + g_size - 1) / g_size;
        float *s = x + off;
        size_t mine = chunk_len(g_rank, c, len);
        NCCL_CHECK(ncclGroupStart()); /* all-to-all: chunk j to rank j */
        for (int j = 0; j < g_size; j++) {
            NCCL_CHECK(ncclSend(s + chunk_lo(j, c, len), chunk_len(j, c, len), ncclFloat, j, g_comm, ctx->stream));
            NCCL_CHECK(ncclRecv(scratch + (size_t)j * c, mine, ncclFloat, j, g_comm, ctx->stream));
        }
        NCCL_CHECK(ncclGroupEnd());
        if (mine) {
            sum_parts_kernel<<<grid_for(mine, CU_THREADS), CU_THREADS, 0, ctx->stream>>>(
                s + chunk_lo(g_rank, c, len), scratch, g_size, c, mine);
            LAUNCH_CHECK(ctx);
        }
        NCCL_CHECK(ncclGroupStart()); /* all-gather: my summed chunk to every rank */
        for (int j = 0; j < g_size; j++) {
            if (j == g_rank) continue;
            NCCL_CHECK(ncclSend(s + chunk_lo(g_rank, c, len), mine, ncclFloat, j, g_comm, ctx->stream));
            NCCL_CHECK(ncclRecv(s + chunk_lo(j, c, len), chunk_len(j, c, len), ncclFloat, j, g_comm, ctx->stream));
        }
        NCCL_CHECK(ncclGroupEnd());
    }
    CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
    be->free(be, scratch);
}

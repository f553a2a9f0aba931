/* cuda_common.cuh — shared pieces of the CUDA backend (the .cu files in kernels/cuda):
 * the backend context, error checking, launch helpers and warp reductions.
 *
 * Every .cu file is compiled on its own (no relocatable device code), so the
 * device helpers here are __forceinline__.
 *
 * Error policy: every CUDA runtime and cuBLAS call goes through CUDA_CHECK /
 * CUBLAS_CHECK, which print the call site (file:line), the call text and the
 * error string, then exit(1) via die(). Kernel launches are followed by
 * LAUNCH_CHECK(ctx) (cudaGetLastError; with MTL_CUDA_SYNC=1 in the
 * environment it also synchronises, so that an asynchronous fault is reported
 * at the launch that caused it). Only backend_cuda() itself reports failures
 * by returning NULL (no device, no driver, unsupported GPU).
 *
 * Determinism: one stream, one cuBLAS handle with a fixed workspace
 * (cublasSetWorkspace) and atomics disallowed, and no atomics in any kernel:
 * every reduction has a fixed shape that depends only on the op's sizes.
 */
#ifndef MTL_CUDA_COMMON_CUH
#define MTL_CUDA_COMMON_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "backend.h"
#include "util.h"
}
#include "rng.h"

/* ---- error checking ----------------------------------------------------- */

static inline void cuda_check_at(cudaError_t e, const char *call, const char *file, int line) {
    if (e != cudaSuccess)
        die("CUDA error at %s:%d: %s -> %s (%s)", file, line, call, cudaGetErrorName(e),
            cudaGetErrorString(e));
}

static inline void cublas_check_at(cublasStatus_t s, const char *call, const char *file, int line) {
    if (s != CUBLAS_STATUS_SUCCESS)
        die("cuBLAS error at %s:%d: %s -> %s (%d)", file, line, call, cublasGetStatusString(s),
            (int)s);
}

#define CUDA_CHECK(call) cuda_check_at((call), #call, __FILE__, __LINE__)
#define CUBLAS_CHECK(call) cublas_check_at((call), #call, __FILE__, __LINE__)

/* ---- the backend context ------------------------------------------------ */

/* One region of device memory obtained with cudaMalloc; the arena carves
 * allocations out of chunks with a bump pointer. */
typedef struct {
    char *base;
    size_t size;
} ArenaChunk;

/* One live (or freed but not yet popped) allocation, in allocation order. */
typedef struct {
    char *ptr;
    size_t bytes; /* rounded up to the arena alignment */
    int chunk;
    size_t offset;
    int live;
} ArenaEntry;

typedef struct {
    ArenaChunk *chunks;
    int nchunks, cap_chunks;
    size_t chunk_bytes; /* size of a new chunk (or the request, if larger) */
    ArenaEntry *entries;
    size_t nentries, cap_entries;
    int cur_chunk;     /* bump position: chunk index ... */
    size_t cur_offset; /* ... and offset inside it */
    size_t live_bytes, peak_bytes;
} Arena;

typedef struct CudaCtx {
    int device;
    char gpu_name[256];
    int sm_count;
    size_t l2_bytes;
    int cc_major, cc_minor;
    int tf32;
    int bf16;       /* --precision bf16: matmul GEMM inputs rounded to bf16 */
    int sync_check; /* MTL_CUDA_SYNC=1: synchronise after every launch */
    void *bf16_buf[3]; /* bf16 copies of GEMM inputs (cudaMalloc, grown on demand) */
    size_t bf16_cap[3];

    cudaStream_t stream;
    cublasHandle_t cublas;
    Arena arena;

    void *cublas_ws; /* fixed cuBLAS workspace (from the arena) */
    size_t cublas_ws_bytes;
    char *work; /* scratch for partial sums and embedding plans (from the arena) */
    size_t work_bytes;

    /* host-side buffers reused by ops that need the host (grown on demand) */
    int *h_ints;
    size_t h_ints_cap;
    double *h_partials;
} CudaCtx;

static inline CudaCtx *cuda_ctx(Backend *be) { return (CudaCtx *)be->ctx; }

/* Kernel launch check (see the error policy above). */
static inline void launch_check_at(CudaCtx *ctx, const char *file, int line) {
    cuda_check_at(cudaGetLastError(), "kernel launch", file, line);
    if (ctx->sync_check)
        cuda_check_at(cudaStreamSynchronize(ctx->stream), "cudaStreamSynchronize after launch",
                      file, line);
}
#define LAUNCH_CHECK(ctx) launch_check_at((ctx), __FILE__, __LINE__)

/* Workspace slice: dies with a clear message when an op needs more scratch
 * than MTL_CUDA_WORKSPACE_MB provides. */
void *cuda_work(CudaCtx *ctx, size_t bytes, const char *op);

/* ---- launch geometry ---------------------------------------------------- */

enum { CU_THREADS = 256, CU_WARP = 32 };

/* Blocks for a grid-stride loop over n elements (capped: the loop covers the
 * rest). */
static inline unsigned grid_for(size_t n, int threads) {
    size_t blocks = (n + (size_t)threads - 1) / (size_t)threads;
    if (blocks < 1) blocks = 1;
    if (blocks > 65535u * 16u) blocks = 65535u * 16u;
    return (unsigned)blocks;
}

/* Grid-stride loop: thread-global index i over [0, n). */
#define GRID_STRIDE(i, n)                                                       \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (size_t)gridDim.x * blockDim.x)

/* ---- device helpers ----------------------------------------------------- */

/* Butterfly (xor) reductions: every lane ends with the same bits, and the
 * combination order is fixed, so the result is deterministic. */
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* ---- ops implemented across the .cu files: cu_<name> for every compute op
 * of kernels/ops.h ---------------------------------------------------------- */
#define CU_OP_DECL(name, ret, params, args) ret cu_##name(Backend *be, OPS_UNPAREN params);
MTL_COMPUTE_OPS(CU_OP_DECL)
#undef CU_OP_DECL

/* Column sums with a fixed reduction shape (reduce.cu):
 *   out[c] += sum_n x[n*C + c]          for n < N, c < C.
 * Partial sums over fixed row blocks go to the workspace, then are added in
 * block order. Used for bias gradients. */
void cu_colsum_add(CudaCtx *ctx, float *out, const float *x, int N, int C);
/* The pieces, for other column reductions (LayerNorm dw/db): rows per split
 * block for `outputs` partial arrays of S*C floats in the workspace
 * (S = ceil(N / rows_per_split)), and out[c] += sum_s part[s*C + c] in order. */
int cu_colsum_rows_per_split(const CudaCtx *ctx, int N, int C, int outputs);
void cu_colsum_finish(CudaCtx *ctx, float *out, const float *part, int S, int C);

#endif

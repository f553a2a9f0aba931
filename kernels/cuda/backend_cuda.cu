/* backend_cuda.cu — the CUDA Backend: device selection, the memory arena, the
 * cuBLAS handle, and the op table.
 *
 * Memory: everything the backend allocates comes from ONE arena, a bump
 * allocator over large cudaMalloc chunks (no managed memory):
 *   - MTL_CUDA_ARENA_MB (default 1024) is the chunk size; a request larger
 *     than a chunk gets a chunk of its own size. Set it to (nearly) the whole
 *     GPU to get exactly one cudaMalloc.
 *   - allocations are 256-byte aligned; be->free marks an allocation dead and
 *     pops dead allocations off the top of the stack, so memory freed in any
 *     order is reused once everything above it is freed (the usual pattern:
 *     a model allocates at start and frees at exit). Chunks are returned to
 *     the driver only by be->destroy.
 *   - out of memory: die with the requested bytes, the arena state and
 *     cudaMemGetInfo free/total.
 * The backend reserves from the arena at start: the cuBLAS workspace (32 MiB,
 * fixed: cublasSetWorkspace, for run-to-run determinism) and a scratch area
 * for partial sums and embedding plans, MTL_CUDA_WORKSPACE_MB (default 64).
 *
 * Other environment knobs: MTL_CUDA_DEVICE (device ordinal, default 0),
 * MTL_CUDA_SYNC=1 (synchronise and check after every kernel: slow, for
 * locating a faulting kernel), MTL_CUDA_PEDANTIC=1 (CUBLAS_PEDANTIC_MATH
 * instead of CUBLAS_DEFAULT_MATH when TF32 is off).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_common.cuh"

enum { ARENA_ALIGN = 256 };
static const size_t MIB = (size_t)1 << 20;

static size_t env_size_mb(const char *name, size_t dflt_mb) {
    const char *s = getenv(name);
    if (!s || !*s) return dflt_mb * MIB;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || v == 0) die("%s='%s': expected a positive number of MiB", name, s);
    return (size_t)v * MIB;
}

static int env_flag(const char *name) {
    const char *s = getenv(name);
    return s && *s && strcmp(s, "0") != 0;
}

/* ---- arena ---------------------------------------------------------------- */

static void arena_die_oom(const Arena *a, size_t request, size_t chunk) {
    size_t free_b = 0, total_b = 0;
    cudaError_t e = cudaMemGetInfo(&free_b, &total_b);
    size_t held = 0;
    for (int i = 0; i < a->nchunks; i++) held += a->chunks[i].size;
    if (e != cudaSuccess)
        die("CUDA out of memory: a request of %zu bytes needs a new arena chunk of %zu bytes "
            "(arena holds %zu bytes in %d chunks, %zu live); cudaMemGetInfo failed: %s",
            request, chunk, held, a->nchunks, a->live_bytes, cudaGetErrorString(e));
    die("CUDA out of memory: a request of %zu bytes needs a new arena chunk of %zu bytes "
        "(arena holds %zu bytes in %d chunks, %zu live); device memory free %zu of %zu bytes "
        "(MTL_CUDA_ARENA_MB sets the chunk size)",
        request, chunk, held, a->nchunks, a->live_bytes, free_b, total_b);
}

static void arena_add_chunk(Arena *a, size_t request) {
    size_t size = request > a->chunk_bytes ? request : a->chunk_bytes;
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, size);
    if (e == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError(); /* clear the sticky-free error state */
        arena_die_oom(a, request, size);
    }
    CUDA_CHECK(e);
    if (a->nchunks == a->cap_chunks) {
        a->cap_chunks = a->cap_chunks ? 2 * a->cap_chunks : 4;
        a->chunks = (ArenaChunk *)xrealloc(a->chunks, (size_t)a->cap_chunks * sizeof *a->chunks);
    }
    a->chunks[a->nchunks].base = (char *)p;
    a->chunks[a->nchunks].size = size;
    a->nchunks++;
}

/* Bump-allocate `bytes` (not zeroed here). */
static void *arena_alloc(Arena *a, size_t bytes) {
    size_t need = bytes ? bytes : 1;
    need = (need + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    int c = a->cur_chunk;
    size_t off = a->cur_offset;
    while (c < a->nchunks && (a->chunks[c].size < off || a->chunks[c].size - off < need)) {
        c++;
        off = 0;
    }
    if (c == a->nchunks) arena_add_chunk(a, need);
    if (a->nentries == a->cap_entries) {
        a->cap_entries = a->cap_entries ? 2 * a->cap_entries : 64;
        a->entries = (ArenaEntry *)xrealloc(a->entries, a->cap_entries * sizeof *a->entries);
    }
    ArenaEntry *e = &a->entries[a->nentries++];
    e->ptr = a->chunks[c].base + off;
    e->bytes = need;
    e->chunk = c;
    e->offset = off;
    e->live = 1;
    a->cur_chunk = c;
    a->cur_offset = off + need;
    a->live_bytes += need;
    if (a->live_bytes > a->peak_bytes) a->peak_bytes = a->live_bytes;
    return e->ptr;
}

/* Mark p dead, then pop every dead entry off the top of the stack. */
static void arena_free(Arena *a, void *p) {
    size_t i = a->nentries;
    while (i > 0 && !(a->entries[i - 1].ptr == (char *)p && a->entries[i - 1].live)) i--;
    if (i == 0) die("cuda backend: free of a pointer (%p) this backend did not allocate", p);
    a->entries[i - 1].live = 0;
    a->live_bytes -= a->entries[i - 1].bytes;
    while (a->nentries > 0 && !a->entries[a->nentries - 1].live) {
        const ArenaEntry *top = &a->entries[--a->nentries];
        a->cur_chunk = top->chunk;
        a->cur_offset = top->offset;
    }
    if (a->nentries == 0) {
        a->cur_chunk = 0;
        a->cur_offset = 0;
    }
}

static void arena_release(Arena *a) {
    for (int i = 0; i < a->nchunks; i++) CUDA_CHECK(cudaFree(a->chunks[i].base));
    free(a->chunks);
    free(a->entries);
    memset(a, 0, sizeof *a);
}

void *cuda_work(CudaCtx *ctx, size_t bytes, const char *op) {
    if (bytes > ctx->work_bytes)
        die("cuda backend: %s needs %zu bytes of scratch but the workspace has %zu "
            "(raise MTL_CUDA_WORKSPACE_MB)",
            op, bytes, ctx->work_bytes);
    return ctx->work;
}

/* ---- memory ops --------------------------------------------------------- */

static void *cu_alloc(Backend *be, size_t bytes) {
    CudaCtx *ctx = cuda_ctx(be);
    void *p = arena_alloc(&ctx->arena, bytes);
    if (bytes) CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, ctx->stream));
    return p;
}

static void cu_free(Backend *be, void *p) {
    if (!p) return;
    CudaCtx *ctx = cuda_ctx(be);
    /* memory may be reused by the next allocation: finish pending work first */
    CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
    arena_free(&ctx->arena, p);
}

static void cu_upload(Backend *be, void *dst, const void *host_src, size_t bytes) {
    if (!bytes) return;
    CudaCtx *ctx = cuda_ctx(be);
    CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, ctx->stream));
    CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
}

static void cu_download(Backend *be, void *host_dst, const void *src, size_t bytes) {
    if (!bytes) return;
    CudaCtx *ctx = cuda_ctx(be);
    CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, ctx->stream));
    CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
}

static void cu_zero(Backend *be, void *p, size_t bytes) {
    if (!bytes) return;
    CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, cuda_ctx(be)->stream));
}

static void cu_copy(Backend *be, void *dst, const void *src, size_t bytes) {
    if (!bytes || dst == src) return;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cuda_ctx(be)->stream));
}

static void cu_sync(Backend *be) { CUDA_CHECK(cudaStreamSynchronize(cuda_ctx(be)->stream)); }

static void cu_destroy(Backend *be) {
    if (!be) return;
    CudaCtx *ctx = cuda_ctx(be);
    CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
    for (int i = 0; i < 3; i++)
        if (ctx->bf16_buf[i]) CUDA_CHECK(cudaFree(ctx->bf16_buf[i]));
    CUBLAS_CHECK(cublasDestroy(ctx->cublas));
    CUDA_CHECK(cudaStreamDestroy(ctx->stream));
    arena_release(&ctx->arena);
    free(ctx->h_ints);
    free(ctx->h_partials);
    free(ctx);
    free(be);
}

/* ---- construction ------------------------------------------------------- */

/* A trivial kernel: launching it proves that this binary carries code for
 * the GPU's architecture. */
__global__ void probe_kernel(int *x) {
    if (x) *x = 1;
}

static int fail(char *why, size_t why_len, const char *what, cudaError_t e) {
    if (why) snprintf(why, why_len, "%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
    (void)cudaGetLastError();
    return -1;
}

/* This process's rank among the MPI ranks of its node (0 when not under
 * mpirun / srun). */
static int local_rank(void) {
    const char *vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) >= 0) return atoi(v);
    }
    return 0;
}

/* Pick the device (MTL_CUDA_DEVICE, else the node-local MPI rank) and check
 * that it is usable; fills ctx's device fields. */
static int open_device(CudaCtx *ctx, char *why, size_t why_len) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess)
        return fail(why, why_len, "no usable CUDA device (is there a GPU and an NVIDIA driver?): "
                                  "cudaGetDeviceCount", e);
    if (count < 1) {
        if (why) snprintf(why, why_len, "no CUDA device found");
        return -1;
    }
    const char *dev_env = getenv("MTL_CUDA_DEVICE");
    ctx->device = dev_env ? atoi(dev_env) : local_rank() % count; /* MPI ranks: one GPU each */
    if (ctx->device < 0 || ctx->device >= count) {
        if (why)
            snprintf(why, why_len, "MTL_CUDA_DEVICE=%s but there are %d device(s)", dev_env, count);
        return -1;
    }
    if ((e = cudaSetDevice(ctx->device)) != cudaSuccess) return fail(why, why_len, "cudaSetDevice", e);
    cudaDeviceProp prop;
    if ((e = cudaGetDeviceProperties(&prop, ctx->device)) != cudaSuccess)
        return fail(why, why_len, "cudaGetDeviceProperties", e);
    snprintf(ctx->gpu_name, sizeof ctx->gpu_name, "%s", prop.name);
    ctx->sm_count = prop.multiProcessorCount;
    ctx->l2_bytes = (size_t)prop.l2CacheSize;
    ctx->cc_major = prop.major;
    ctx->cc_minor = prop.minor;
    if (prop.major < 8) {
        if (why)
            snprintf(why, why_len,
                     "GPU %s has compute capability %d.%d; this build targets sm_80 and newer",
                     prop.name, prop.major, prop.minor);
        return -1;
    }
    probe_kernel<<<1, 1>>>(NULL);
    if ((e = cudaGetLastError()) != cudaSuccess) return fail(why, why_len, "probe kernel launch", e);
    if ((e = cudaDeviceSynchronize()) != cudaSuccess) return fail(why, why_len, "probe kernel", e);
    return 0;
}

/* Stream, cuBLAS handle (math mode, no atomics, fixed workspace), arena and
 * scratch. */
static int open_context(CudaCtx *ctx, int tf32, char *why, size_t why_len) {
    cudaError_t e = cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) return fail(why, why_len, "cudaStreamCreate", e);
    cublasStatus_t s = cublasCreate(&ctx->cublas);
    if (s != CUBLAS_STATUS_SUCCESS) {
        if (why) snprintf(why, why_len, "cublasCreate: %s", cublasGetStatusString(s));
        CUDA_CHECK(cudaStreamDestroy(ctx->stream));
        return -1;
    }
    CUBLAS_CHECK(cublasSetStream(ctx->cublas, ctx->stream));
    cublasMath_t math = tf32 ? CUBLAS_TF32_TENSOR_OP_MATH
                             : (env_flag("MTL_CUDA_PEDANTIC") ? CUBLAS_PEDANTIC_MATH
                                                              : CUBLAS_DEFAULT_MATH);
    CUBLAS_CHECK(cublasSetMathMode(ctx->cublas, math));
    CUBLAS_CHECK(cublasSetAtomicsMode(ctx->cublas, CUBLAS_ATOMICS_NOT_ALLOWED));
    CUBLAS_CHECK(cublasSetPointerMode(ctx->cublas, CUBLAS_POINTER_MODE_HOST));
    ctx->tf32 = tf32 ? 1 : 0;
    ctx->sync_check = env_flag("MTL_CUDA_SYNC");
    ctx->arena.chunk_bytes = env_size_mb("MTL_CUDA_ARENA_MB", 1024);
    ctx->cublas_ws_bytes = 32 * MIB;
    ctx->cublas_ws = arena_alloc(&ctx->arena, ctx->cublas_ws_bytes);
    CUBLAS_CHECK(cublasSetWorkspace(ctx->cublas, ctx->cublas_ws, ctx->cublas_ws_bytes));
    ctx->work_bytes = env_size_mb("MTL_CUDA_WORKSPACE_MB", 64);
    ctx->work = (char *)arena_alloc(&ctx->arena, ctx->work_bytes);
    return 0;
}

static void fill_memory_ops(Backend *be) {
    be->alloc = cu_alloc;
    be->free = cu_free;
    be->upload = cu_upload;
    be->download = cu_download;
    be->zero = cu_zero;
    be->copy = cu_copy;
    be->sync = cu_sync;
    be->destroy = cu_destroy;
}

static void fill_compute_ops(Backend *be) {
#define CU_OP_FILL(name, ret, params, args) be->name = cu_##name;
    MTL_COMPUTE_OPS(CU_OP_FILL)
#undef CU_OP_FILL
}

extern "C" Backend *backend_cuda(int tf32, char *why, size_t why_len) {
    CudaCtx *ctx = (CudaCtx *)xcalloc(1, sizeof *ctx);
    if (open_device(ctx, why, why_len) != 0 || open_context(ctx, tf32, why, why_len) != 0) {
        free(ctx);
        return NULL;
    }
    Backend *be = (Backend *)xcalloc(1, sizeof *be);
    be->name = "cuda";
    be->precision = PREC_FP32;
    be->matmul_exact = !tf32;
    be->attn_scratch = 1; /* attention.cu's five regions */
    be->ctx = ctx;
    fill_memory_ops(be);
    fill_compute_ops(be);
    return be;
}

/* Every GPU this build runs on (sm_80 and newer) has bf16 tensor cores. */
extern "C" Backend *backend_cuda_bf16(char *why, size_t why_len) {
    Backend *be = backend_cuda(0, why, why_len);
    if (!be) return NULL;
    cuda_ctx(be)->bf16 = 1;
    be->precision = PREC_BF16;
    be->matmul_exact = 0;
    return be;
}

/* bench_kernels_cuda.cu — the CUDA side of bench-kernels (bench_kernels_cuda.h)
 * in a CUDA build: the per-call timer on cudaEvents with an L2 flush, and the
 * roofline probes (sgemm FLOP/s, copy bandwidth). Without CUDA,
 * bench_kernels_cuda.c says so instead. */
#include <stdio.h>
#include <string.h>

#include "cuda/cuda_common.cuh" /* first: backend.h with C linkage */
#include "bench_kernels_cuda.h"

/* Two cudaEvents and an L2-flush buffer of max(2 x L2 size, 64 MiB). */
typedef struct {
    Backend *be;
    cudaEvent_t start, stop;
    float *flush;
    size_t flush_n; /* floats */
    unsigned pass;
} CudaBenchTimer;

struct BenchCuda {
    Backend *be;
    CudaBenchTimer *t;
    BenchTimer timer;
    char info[512];
};

static const size_t BENCH_MIB = (size_t)1 << 20;

/* buf[i] = value: plain stores over the whole buffer evict whatever L2 held */
__global__ void fill_kernel(float *buf, size_t n, float value) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        buf[i] = value;
}

static CudaBenchTimer *timer_create(Backend *be) {
    CudaCtx *ctx = cuda_ctx(be);
    CudaBenchTimer *t = (CudaBenchTimer *)xcalloc(1, sizeof *t);
    t->be = be;
    CUDA_CHECK(cudaEventCreate(&t->start));
    CUDA_CHECK(cudaEventCreate(&t->stop));
    size_t bytes = 2 * ctx->l2_bytes;
    if (bytes < 64 * BENCH_MIB) bytes = 64 * BENCH_MIB;
    t->flush_n = bytes / sizeof(float);
    t->flush = (float *)be->alloc(be, t->flush_n * sizeof(float));
    return t;
}

static void timer_free(CudaBenchTimer *t) {
    if (!t) return;
    t->be->free(t->be, t->flush);
    CUDA_CHECK(cudaEventDestroy(t->start));
    CUDA_CHECK(cudaEventDestroy(t->stop));
    free(t);
}

/* Overwrite the flush buffer so that the next op starts with a cold L2 (not timed). */
static void timer_flush_l2(CudaBenchTimer *t) {
    CudaCtx *ctx = cuda_ctx(t->be);
    fill_kernel<<<grid_for(t->flush_n, CU_THREADS), CU_THREADS, 0, ctx->stream>>>(
        t->flush, t->flush_n, (float)(++t->pass & 0xff));
    LAUNCH_CHECK(ctx);
}

static void timer_start(CudaBenchTimer *t) {
    CUDA_CHECK(cudaEventRecord(t->start, cuda_ctx(t->be)->stream));
}

/* Record the stop event, wait for it, return the seconds since timer_start. */
static double timer_stop(CudaBenchTimer *t) {
    CUDA_CHECK(cudaEventRecord(t->stop, cuda_ctx(t->be)->stream));
    CUDA_CHECK(cudaEventSynchronize(t->stop));
    float ms = 0.0f;
    CUDA_CHECK(cudaEventElapsedTime(&ms, t->start, t->stop));
    return (double)ms * 1e-3;
}

enum { PEAK_REPEATS = 5 };

/* Best-of-5 GFLOP/s of an n x n x n cuBLAS sgemm (2 n^3 FLOPs) after one warm-up
 * call, in the backend's math mode (TF32 tensor cores when it was made with tf32 = 1). */
static double sgemm_peak_gflops(Backend *be) {
    CudaCtx *ctx = cuda_ctx(be);
    const int n = BENCH_CUDA_PEAK_GEMM_N;
    size_t nn = (size_t)n * n;
    float *a = (float *)be->alloc(be, nn * sizeof(float));
    float *b = (float *)be->alloc(be, nn * sizeof(float));
    float *c = (float *)be->alloc(be, nn * sizeof(float));
    /* ordinary values (zeros could let hardware take shortcuts) */
    fill_kernel<<<grid_for(nn, CU_THREADS), CU_THREADS, 0, ctx->stream>>>(a, nn, 0.5f);
    LAUNCH_CHECK(ctx);
    fill_kernel<<<grid_for(nn, CU_THREADS), CU_THREADS, 0, ctx->stream>>>(b, nn, -0.25f);
    LAUNCH_CHECK(ctx);
    CudaBenchTimer *t = timer_create(be);
    const float one = 1.0f, zero = 0.0f;
    double best = 1e30;
    for (int r = 0; r <= PEAK_REPEATS; r++) { /* r == 0: warm-up */
        timer_start(t);
        CUBLAS_CHECK(cublasSgemm(ctx->cublas, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &one, a, n, b, n,
                                 &zero, c, n));
        double s = timer_stop(t);
        if (r > 0 && s < best) best = s;
    }
    timer_free(t);
    be->free(be, c);
    be->free(be, b);
    be->free(be, a);
    return 2.0 * (double)n * n * n / best * 1e-9;
}

/* dst[i] = src[i], 16-byte loads and stores */
__global__ void copy_kernel(float4 *dst, const float4 *src, size_t n4) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n4;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = src[i];
}

/* Best-of-5 device memory bandwidth in GB/s (bytes read plus written) of a copy kernel. */
static double copy_gbs(Backend *be) {
    CudaCtx *ctx = cuda_ctx(be);
    size_t bytes = BENCH_CUDA_PEAK_COPY_MIB * BENCH_MIB, n4 = bytes / sizeof(float4);
    float4 *src = (float4 *)be->alloc(be, bytes), *dst = (float4 *)be->alloc(be, bytes);
    /* enough blocks to fill every SM several times over; the loop covers the rest */
    unsigned blocks = (unsigned)(ctx->sm_count > 0 ? ctx->sm_count * 8 : 1024);
    CudaBenchTimer *t = timer_create(be);
    double best = 1e30;
    for (int r = 0; r <= PEAK_REPEATS; r++) {
        timer_start(t);
        copy_kernel<<<blocks, CU_THREADS, 0, ctx->stream>>>(dst, src, n4);
        LAUNCH_CHECK(ctx);
        double s = timer_stop(t);
        if (r > 0 && s < best) best = s;
    }
    timer_free(t);
    be->free(be, dst);
    be->free(be, src);
    return 2.0 * (double)bytes / best * 1e-9;
}

static void device_info(Backend *be, char *buf, size_t len) {
    CudaCtx *ctx = cuda_ctx(be);
    cudaDeviceProp p;
    CUDA_CHECK(cudaGetDeviceProperties(&p, ctx->device));
    int driver = 0, runtime = 0, clock_khz = 0, mem_clock_khz = 0;
    CUDA_CHECK(cudaDriverGetVersion(&driver));
    CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
    CUDA_CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, ctx->device));
    CUDA_CHECK(cudaDeviceGetAttribute(&mem_clock_khz, cudaDevAttrMemoryClockRate, ctx->device));
    int cublas_ver = 0;
    CUBLAS_CHECK(cublasGetVersion(ctx->cublas, &cublas_ver));
    snprintf(buf, len,
             "%s (cc %d.%d, %d SMs, L2 %zu MiB, %.1f GiB, SM clock %d MHz, mem clock %d MHz, "
             "driver %d, runtime %d, cuBLAS %d, TF32 %s)",
             p.name, p.major, p.minor, p.multiProcessorCount, (size_t)p.l2CacheSize / BENCH_MIB,
             (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), clock_khz / 1000,
             mem_clock_khz / 1000, driver, runtime, cublas_ver, ctx->tf32 ? "on" : "off");
}

/* ---- bench_kernels_cuda.h ------------------------------------------------------- */

static void bench_prepare(void *ctx) { timer_flush_l2((CudaBenchTimer *)ctx); }
static void bench_start(void *ctx) { timer_start((CudaBenchTimer *)ctx); }
static double bench_stop(void *ctx) { return timer_stop((CudaBenchTimer *)ctx); }

extern "C" BenchCuda *bench_cuda_open(Backend *be, Err *err) {
    if (!be || !be->name || strcmp(be->name, "cuda") != 0) {
        err_set(err, "bench-kernels: the CUDA timer needs the cuda backend (got %s)",
                be && be->name ? be->name : "none");
        return NULL;
    }
    BenchCuda *bc = (BenchCuda *)xcalloc(1, sizeof *bc);
    bc->be = be;
    bc->t = timer_create(be);
    bc->timer = (BenchTimer){bc->t, bench_prepare, bench_start, bench_stop};
    device_info(be, bc->info, sizeof bc->info);
    return bc;
}

extern "C" void bench_cuda_close(BenchCuda *bc) {
    if (!bc) return;
    timer_free(bc->t);
    free(bc);
}

extern "C" const BenchTimer *bench_cuda_timer(BenchCuda *bc) { return &bc->timer; }

extern "C" void bench_cuda_peaks(BenchCuda *bc, double *sgemm_gflops, double *copy_gbs_out) {
    *sgemm_gflops = sgemm_peak_gflops(bc->be);
    *copy_gbs_out = copy_gbs(bc->be);
}

extern "C" const char *bench_cuda_info(const BenchCuda *bc) { return bc->info; }

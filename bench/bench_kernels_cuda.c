/* bench_kernels_cuda.c — the CUDA timer and peaks for bench-kernels (see
 * bench_kernels_cuda.h). Compiles in every build; without MTL_CUDA it only
 * says that there is no CUDA. */
#include "bench_kernels_cuda.h"

#include <stdlib.h>
#include <string.h>

#ifdef MTL_CUDA

#include "cuda/cuda_bench.h"

struct BenchCuda {
    Backend *be;
    CudaBenchTimer *t;
    BenchTimer timer;
    char info[512];
};

static void timer_prepare(void *ctx) { cuda_bench_flush_l2(ctx); }
static void timer_start(void *ctx) { cuda_bench_start(ctx); }
static double timer_stop(void *ctx) { return cuda_bench_stop(ctx); }

BenchCuda *bench_cuda_open(Backend *be, Err *err) {
    if (!be || !be->name || strcmp(be->name, "cuda") != 0) {
        err_set(err, "bench-kernels: the CUDA timer needs the cuda backend (got %s)",
                be && be->name ? be->name : "none");
        return NULL;
    }
    BenchCuda *bc = xcalloc(1, sizeof *bc);
    bc->be = be;
    bc->t = cuda_bench_timer_create(be);
    bc->timer = (BenchTimer){bc->t, timer_prepare, timer_start, timer_stop};
    cuda_bench_device_info(be, bc->info, sizeof bc->info);
    return bc;
}

void bench_cuda_close(BenchCuda *bc) {
    if (!bc) return;
    cuda_bench_timer_free(bc->t);
    free(bc);
}

const BenchTimer *bench_cuda_timer(BenchCuda *bc) { return &bc->timer; }

void bench_cuda_peaks(BenchCuda *bc, double *sgemm_gflops, double *copy_gbs) {
    *sgemm_gflops = cuda_bench_sgemm_peak_gflops(bc->be);
    *copy_gbs = cuda_bench_copy_gbs(bc->be);
}

const char *bench_cuda_info(const BenchCuda *bc) { return bc->info; }

#else /* no CUDA in this build */

struct BenchCuda {
    int unused;
};

BenchCuda *bench_cuda_open(Backend *be, Err *err) {
    (void)be;
    err_set(err, "bench-kernels: this build has no CUDA backend (rebuild with USE_CUDA=1)");
    return NULL;
}

void bench_cuda_close(BenchCuda *bc) { free(bc); }

const BenchTimer *bench_cuda_timer(BenchCuda *bc) {
    (void)bc;
    return NULL;
}

void bench_cuda_peaks(BenchCuda *bc, double *sgemm_gflops, double *copy_gbs) {
    (void)bc;
    *sgemm_gflops = *copy_gbs = 0;
}

const char *bench_cuda_info(const BenchCuda *bc) {
    (void)bc;
    return "no CUDA";
}

#endif

/* bench_kernels_cuda.c — bench_kernels_cuda.h in a build without CUDA: it only
 * says that there is no CUDA (a CUDA build compiles bench_kernels_cuda.cu). */
#include "bench_kernels_cuda.h"

#include <stdlib.h>
#include <string.h>

#ifndef MTL_CUDA /* a CUDA build has bench_kernels_cuda.cu */

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

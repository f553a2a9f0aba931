/* bench_kernels_cuda.h — the CUDA side of `mtl bench-kernels --device cuda`:
 * a per-call timer on cudaEvents that overwrites a buffer of twice the L2
 * size before each timed call (so every op starts with a cold L2, as in a
 * training step where the previous op evicted its inputs), and the GPU's
 * peaks measured in the same run: a 8192^3 cuBLAS sgemm in the backend's
 * math mode (TF32 tensor cores when the backend was made with tf32 = 1) and a
 * device-to-device copy kernel over 512 MiB buffers
 * (bench_kernels_cuda.cu; without CUDA, bench_kernels_cuda.c). */
#ifndef MTL_BENCH_KERNELS_CUDA_H
#define MTL_BENCH_KERNELS_CUDA_H

#include <stddef.h>

#include "backend.h"
#include "bench_kernels.h"
#include "util.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct BenchCuda BenchCuda;

/* Sizes of the two GPU probes of bench_cuda_peaks (the CSV's peak rows name them). */
enum { BENCH_CUDA_PEAK_GEMM_N = 8192, BENCH_CUDA_PEAK_COPY_MIB = 512 };

/* For a backend made by backend_cuda(). Returns NULL with err filled in a
 * build without CUDA or when `be` is not the CUDA backend. */
BenchCuda *bench_cuda_open(Backend *be, Err *err);
void bench_cuda_close(BenchCuda *bc); /* NULL is fine */

/* The timer for BenchKernelsOpts.timer; valid until bench_cuda_close. */
const BenchTimer *bench_cuda_timer(BenchCuda *bc);

/* Measures the sgemm peak (GFLOP/s) and the copy bandwidth (GB/s). */
void bench_cuda_peaks(BenchCuda *bc, double *sgemm_gflops, double *copy_gbs);

/* One line describing the GPU (name, SMs, L2, clocks, versions, TF32). */
const char *bench_cuda_info(const BenchCuda *bc);

#ifdef __cplusplus
}
#endif

#endif

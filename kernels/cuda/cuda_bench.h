/* cuda_bench.h — GPU timing and roofline probes for the benchmarks
 * (mtl bench-kernels --device cuda). C API, implemented in
 * kernels/cuda/bench.cu; in a build without CUDA (no MTL_CUDA) these
 * functions do not exist, so callers guard them with #ifdef MTL_CUDA.
 *
 * Every function takes a Backend made by backend_cuda(); work runs on that
 * backend's stream, and buffers come from its arena.
 */
#ifndef MTL_CUDA_BENCH_H
#define MTL_CUDA_BENCH_H

#include <stddef.h>

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CudaBenchTimer CudaBenchTimer;

/* Sizes of the two GPU probes below (the CSV's peak rows name them). */
enum { CUDA_BENCH_PEAK_GEMM_N = 8192, CUDA_BENCH_PEAK_COPY_MIB = 512 };

/* Two cudaEvents and an L2-flush buffer of max(2 x L2 size, 64 MiB). */
CudaBenchTimer *cuda_bench_timer_create(Backend *be);
void cuda_bench_timer_free(CudaBenchTimer *t);

/* Overwrite the flush buffer so that the next op starts with a cold L2
 * (call it before cuda_bench_start: it is not timed). */
void cuda_bench_flush_l2(CudaBenchTimer *t);
/* Record the start event on the backend's stream. */
void cuda_bench_start(CudaBenchTimer *t);
/* Record the stop event, wait for it, return the seconds between the two. */
double cuda_bench_stop(CudaBenchTimer *t);

/* Best-of-5 GFLOP/s of an n x n x n cuBLAS sgemm (2 n^3 FLOPs; n = CUDA_BENCH_PEAK_GEMM_N)
 * after one warm-up call, in the backend's math mode (TF32 tensor cores
 * when the backend was made with tf32 = 1, plain fp32 otherwise). */
double cuda_bench_sgemm_peak_gflops(Backend *be);

/* Best-of-5 device memory bandwidth in GB/s (1e9 bytes/s, bytes read plus
 * bytes written) of a copy kernel over two CUDA_BENCH_PEAK_COPY_MIB buffers. */
double cuda_bench_copy_gbs(Backend *be);

/* One line: GPU name, compute capability, SMs, L2, memory, clocks, driver
 * and runtime versions, TF32 on/off. */
void cuda_bench_device_info(Backend *be, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif

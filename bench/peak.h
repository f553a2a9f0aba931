/* peak.h — what this machine can do at best, measured in the same run as the
 * benchmark so that "fraction of peak" compares like with like (the machine
 * may be shared, throttled, or have a different BLAS build). */
#ifndef MTL_PEAK_H
#define MTL_PEAK_H

/* Best-of-several GFLOP/s of a square fp32 sgemm (OpenBLAS, 2048^3,
 * 2*n^3 FLOPs) after one warm-up call, with the OpenBLAS core that the CPU
 * backend uses (cpu_blas_setup). threads > 0 sets OpenBLAS threads for
 * the measurement and restores the previous setting; 0 leaves the default. */
double bench_sgemm_peak_gflops(int threads);

/* The same for a square bf16 GEMM with fp32 accumulation (oneDNN matmul,
 * cpu_bf16.h), the bf16 backend's GEMM; 0 when this CPU has no native bf16. */
double bench_bf16_peak_gflops(int threads);

/* Sizes of the two CPU probes (the CSV's peak rows name them). */
enum { BENCH_CPU_PEAK_GEMM_N = 2048, BENCH_CPU_PEAK_COPY_MIB = 64 };

/* Best-of-several memory copy bandwidth in GB/s (1e9 bytes/s), counting the
 * bytes read plus the bytes written, over 64 MiB buffers split among
 * `threads` OpenMP threads (0 = the OpenMP default). */
double bench_copy_gbs(int threads);

#endif

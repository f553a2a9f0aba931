/* bench_kernels.h — time every Backend op at the shapes of one training step.
 *
 * The step is the joint multi-task step of impl/model/model.h: a NER pass and a QA
 * pass (forward + backward, the encoder ops twice), then the optimiser
 * (gradient norm, clipping scale, AdamW over all parameters). Each op is
 * timed per call: the median of `repeats` timed calls after two warm-up
 * calls, with be->sync() before the clock stops. The attention mask is all
 * ones (no padding), so attention does its full T x T work.
 *
 * Work counts per call:
 *   matmul forward   2 N C OC FLOPs; backward 4 N C OC (dinp and dw GEMMs)
 *   attention fwd    4 B T^2 C (S = q k^T and P v); backward 8 B T^2 C
 *   bytes, every op  every tensor read plus every tensor written (a +=
 *                    output is read and written), each counted once: for the
 *                    GEMM ops the compulsory traffic (their arithmetic
 *                    intensity is FLOPs / bytes, reports/roofline.gp).
 * pct_peak is GFLOP/s / sgemm peak for the GEMM ops and GB/s / copy
 * bandwidth for the others, both measured in the same run (bench/peak.h). */
#ifndef MTL_BENCH_KERNELS_H
#define MTL_BENCH_KERNELS_H

#include "backend.h"
#include "config.h"
#include "util.h"

typedef struct {
    char op[40];      /* e.g. "matmul_forward.qkv" */
    char shape[48];   /* e.g. "N=2048 C=256 OC=768" */
    int calls;        /* calls in one training step */
    double median_us; /* per call */
    double flops;     /* per call; 0 for memory-bound ops */
    double bytes;     /* per call (for GEMM ops the compulsory traffic) */
    double gflops;    /* flops / time / 1e9, or 0 */
    double gbs;       /* bytes / time / 1e9, or 0 */
    double pct_peak;  /* % of the matching peak, or -1 when no peak was given */
} KernelTiming;

/* Optional per-call timer (the CUDA path: cudaEvents, L2 flushed by
 * `prepare` before each timed call; bench/bench_kernels_cuda.h). */
typedef struct {
    void *ctx;
    void (*prepare)(void *ctx); /* before each timed call, not timed */
    void (*start)(void *ctx);
    double (*stop)(void *ctx); /* seconds since start, work finished */
} BenchTimer;

typedef struct {
    int B, T;    /* batch and sequence length of the step */
    int repeats; /* timed calls per op (>= 1); the median is reported */
    const BenchTimer *timer; /* NULL: wall clock with be->sync() */
    const char *ops; /* NULL: every op; else comma-separated parts of op names: the ops
                        whose name contains one of them (e.g. "attention,gelu") */
} BenchKernelsOpts;

/* Runs every op (or those o->ops selects) on `be` with random data at the
 * shapes of (cfg, B, T). On success (0) *rows (malloc'd; free() it) holds
 * *nrows entries; -1: err says why; -2: o->ops selects no op (a usage
 * error; err names every op). */
int bench_kernels_run(Backend *be, const ModelConfig *cfg, const BenchKernelsOpts *o,
                      KernelTiming **rows, int *nrows, Err *err);

/* Fills pct_peak from the peaks (<= 0 leaves -1: unknown). */
void bench_kernels_apply_peaks(KernelTiming *rows, int n, double sgemm_gflops, double copy_gbs);

/* Sum over ops of calls * median: the step time if the ops ran back to back;
 * *flops gets the GEMM FLOPs of the step. */
double bench_kernels_step_seconds(const KernelTiming *rows, int n, double *flops);

/* CSV with the header device,op,shape,calls,median_us,gflops,gbs,pct_peak
 * (empty fields where a number does not apply), written atomically. A
 * non-empty `provenance` (what ran where: commit, compiler, BLAS, device,
 * threads, date) comes first as one "# ..." comment line (newlines become
 * "; "). The two peak rows (calls 0) give the probes' sizes: on "cuda*"
 * devices those of bench_kernels_cuda.h, otherwise those of peak.h. */
int bench_kernels_write_csv(const char *path, const char *device, const char *provenance,
                            const KernelTiming *rows, int n, double sgemm_gflops, double copy_gbs,
                            Err *err);

#endif

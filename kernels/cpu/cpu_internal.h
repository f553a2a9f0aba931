/* cpu_internal.h — private helpers shared by the CPU kernels (kernels/cpu/).
 *
 * Threading model: every op runs an OpenMP region with the backend's thread
 * count (static schedule, each thread writes a disjoint part of the output).
 * GEMMs are split the same way into row or column blocks and each block is
 * one single-threaded cblas_sgemm: OpenBLAS's own pthread pool is kept at one
 * thread so that two spinning thread pools never fight over the same cores
 * (measured on the 2-core dev box: the OpenMP split is as fast as OpenBLAS's
 * threading for one GEMM, and faster when GEMMs alternate with OpenMP loops).
 */
#ifndef MTL_CPU_INTERNAL_H
#define MTL_CPU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "cpu_bf16.h"
#include "cpu_packed.h"

enum { CPU_BF16_SCRATCH = 3 }; /* bf16 copies one op needs at once (matmul backward) */

typedef struct CpuCtx {
    int threads;      /* OpenMP threads per op; 0 = the OpenMP default */
    Bf16Gemm *bgemm;  /* the bf16 GEMM (NULL for the fp32 backend) */
    PackedGemm *pgemm; /* fp32 linears on frozen weights (NULL until freeze_weights) */
    bf16 *scratch[CPU_BF16_SCRATCH]; /* bf16-rounded GEMM inputs, grown on demand */
    size_t scratch_cap[CPU_BF16_SCRATCH];
} CpuCtx;

/* Scratch slot `slot` of the bf16 backend holding at least n values. */
bf16 *cpu_bf16_scratch(Backend *be, int slot, size_t n);

/* The matrix [rows, cols] at src (leading dimension ld) rounded to bf16 into
 * scratch slot `slot`, compact (leading dimension cols). */
const bf16 *cpu_bf16_copy(Backend *be, int slot, const float *src, int rows, int cols, int ld);

/* Backend linear_fused (cpu_packed.h): 1 when the frozen, packed weight w
 * ran the linear, its input rounded to bf16 first on the bf16 backend. */
int cpu_packed_linear(Backend *be, float *out, const float *inp, const float *w, const float *bias,
                      const float *add, int gelu, int N, int C, int OC);

/* Number of threads an op of this backend uses (>= 1). */
int cpu_threads(const Backend *be);

/* Keep OpenBLAS single-threaded (the kernels parallelise around it). */
void cpu_blas_single_thread(void);

/* [lo, hi) of part `id` when [0, n) is cut into `parts` nearly equal pieces,
 * each starting at a multiple of `align` (keeps threads off each other's
 * cache lines when the pieces are columns). */
static inline void cpu_split(size_t n, int id, int parts, size_t align, size_t *lo, size_t *hi) {
    size_t units = (n + align - 1) / align;
    size_t a = units * (size_t)id / (size_t)parts, b = units * (size_t)(id + 1) / (size_t)parts;
    *lo = a * align < n ? a * align : n;
    *hi = b * align < n ? b * align : n;
}

/* C = alpha op(A) op(B) + beta C (row-major, cblas conventions), computed by
 * `threads` OpenMP threads, each running one single-threaded sgemm on a block
 * of rows of C (or of columns when C has fewer rows than columns). */
void cpu_sgemm(int threads, int transA, int transB, int M, int N, int K, float alpha,
               const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);


/* keep[k] = rng_keep(seed, step, stream, first + k, p) for k < n, computed
 * 16 Philox blocks at a time so the compiler can vectorise the rounds. */
void cpu_rng_keep(uint8_t *keep, uint64_t seed, uint32_t step, uint32_t stream, uint64_t first,
                  size_t n, float p);

/* ---- the ops: cpu_<name> for every compute op of kernels/ops.h ----------- */
#define CPU_OP_DECL(name, ret, params, args) ret cpu_##name(Backend *be, OPS_UNPAREN params);
MTL_COMPUTE_OPS(CPU_OP_DECL)
#undef CPU_OP_DECL

#endif

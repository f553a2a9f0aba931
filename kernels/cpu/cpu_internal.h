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

typedef struct CpuCtx {
    int threads; /* OpenMP threads per op; 0 = the OpenMP default */
} CpuCtx;

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

/* Single-threaded sgemm (for use inside an OpenMP region). */
void cpu_sgemm_serial(int transA, int transB, int M, int N, int K, float alpha, const float *A,
                      int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* keep[k] = rng_keep(seed, step, stream, first + k, p) for k < n, computed
 * 16 Philox blocks at a time so the compiler can vectorise the rounds. */
void cpu_rng_keep(uint8_t *keep, uint64_t seed, uint32_t step, uint32_t stream, uint64_t first,
                  size_t n, float p);

/* ---- the ops (signatures as in backend.h) ------------------------------- */
void cpu_embed_forward(Backend *be, float *out, const int *ids, const int *tt, const float *wte,
                       const float *wpe, const float *wtt, int B, int T, int C);
void cpu_embed_backward(Backend *be, float *dwte, float *dwpe, float *dwtt, const float *dout,
                        const int *ids, const int *tt, int B, int T, int C);
void cpu_layernorm_forward(Backend *be, float *out, float *mean, float *rstd, const float *inp,
                           const float *w, const float *b, int N, int C, float eps);
void cpu_layernorm_backward(Backend *be, float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, const float *mean, const float *rstd,
                            int N, int C);
void cpu_matmul_forward(Backend *be, float *out, const float *inp, const float *w,
                        const float *bias, int N, int C, int OC);
void cpu_matmul_backward(Backend *be, float *dinp, float *dw, float *dbias, const float *dout,
                         const float *inp, const float *w, int N, int C, int OC);
void cpu_attention_forward(Backend *be, float *out, float *att, float *scratch, const float *qkv,
                           const int *mask, int B, int T, int C, int NH, float p_drop,
                           uint64_t seed, uint32_t step, uint32_t stream, uint64_t first);
void cpu_attention_backward(Backend *be, float *dqkv, float *scratch, const float *dout,
                            const float *qkv, const float *att, const int *mask, int B, int T,
                            int C, int NH, float p_drop, uint64_t seed, uint32_t step,
                            uint32_t stream, uint64_t first);
void cpu_gelu_forward(Backend *be, float *out, const float *inp, size_t n);
void cpu_gelu_backward(Backend *be, float *dinp, const float *inp, const float *dout, size_t n);
void cpu_residual_forward(Backend *be, float *out, const float *a, const float *b, size_t n);
void cpu_residual_backward(Backend *be, float *da, float *db, const float *dout, size_t n);
void cpu_dropout_forward(Backend *be, float *out, const float *inp, size_t n, float p,
                         uint64_t seed, uint32_t step, uint32_t stream, uint64_t first);
void cpu_dropout_backward(Backend *be, float *dinp, const float *dout, size_t n, float p,
                          uint64_t seed, uint32_t step, uint32_t stream, uint64_t first);
void cpu_crossentropy_forward(Backend *be, float *losses, float *probs, const float *logits,
                              const int *targets, int N, int V);
void cpu_crossentropy_backward(Backend *be, float *dlogits, const float *probs, const int *targets,
                               float dscale, int N, int V);
void cpu_qa_split_forward(Backend *be, float *split, const float *qa, int B, int T);
void cpu_qa_split_backward(Backend *be, float *dqa, const float *dsplit, int B, int T);
double cpu_sumsq(Backend *be, const float *x, size_t n);
void cpu_scale(Backend *be, float *x, size_t n, float s);
void cpu_adamw_update(Backend *be, float *p, const float *g, float *m, float *v, size_t n, float lr,
                      float b1, float b2, float eps, float wd, int t);

#endif

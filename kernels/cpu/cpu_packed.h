/* cpu_packed.h — fp32 linear layers on frozen weights (inference) through
 * oneDNN's matmul primitive, the weights reordered once into its blocked
 * layout.
 *
 * Why: in training the weights change every step, so every GEMM packs its
 * operands (OpenBLAS spends ~15% of an inference forward in its packing
 * routines). Once a model is only read (mtl predict, bench-predict, eval),
 * each weight can be laid out once for the kernel: oneDNN's brgemm matmul
 * (brg:avx512_core) on weights in its own blocked layout, with the bias added
 * in the kernel's epilogue instead of a pass that pre-fills the output.
 * Measured per GEMM on the 2-core no-AMX Xeon, 1 thread, M 1300 / 4000 rows
 * of minilm's four linear shapes: 1.05-1.36x OpenBLAS's sgemm + bias pass.
 *
 * Numerics: exact fp32 like OpenBLAS (no input is rounded); the products
 * over K = 384 summed in the same order gave the same bits, K = 1536 differs
 * in the last bits (max |diff| 1.8e-5 on outputs of size ~10), so inference
 * is not bitwise the training forward. Fixed blocking for a fixed thread
 * count: the same call gives the same bits every time.
 *
 * Only weights inside a region registered with packed_gemm_freeze take this
 * path: the model registers its parameter block once it is loaded and never
 * writes it again; a LoRA model's merged weight (a scratch rewritten for every
 * projection) lies outside and keeps the plain path. */
#ifndef MTL_CPU_PACKED_H
#define MTL_CPU_PACKED_H
#include <stddef.h>

typedef struct PackedGemm PackedGemm;

/* NULL with why filled when this build has no oneDNN or the CPU has no
 * AVX-512 (oneDNN 2.6's f32 brgemm matmul needs avx512_core; elsewhere its
 * fallback would pack again on every call and gain nothing). bf16: the
 * weights are packed as bf16 (rounded once, by bf16_round) and the inputs
 * come rounded to bf16 (the bf16 backend's GEMMs, cpu_bf16.h), accumulation
 * in fp32: no weight is rounded again on each call. */
PackedGemm *packed_gemm_create(int threads, int bf16, char *why, size_t why_len);
int packed_gemm_bf16(const PackedGemm *g);
void packed_gemm_destroy(PackedGemm *g);

/* [p, p + bytes) holds weights that are never written again. */
void packed_gemm_freeze(PackedGemm *g, const void *p, size_t bytes);
/* The block at p is being freed: forget its region and the packed copies of
 * the weights in it. */
void packed_gemm_thaw(PackedGemm *g, const void *p);

/* out[N,OC] = f(inp[N,C] . w[OC,C]^T (+ bias[OC])) (+ add[N,OC]) when w lies
 * in a frozen region: returns 1. f is GELU (erf form, oneDNN's gelu_erf)
 * when gelu, else the identity; add, when given, is added last (a residual
 * connection: bitwise the separate add, fp32 addition being commutative).
 * Returns 0, touching nothing, otherwise (w not frozen, both gelu and add, or
 * OC below one 16-wide block: the heads' 2 and 9 columns stay with OpenBLAS). */
int packed_linear(PackedGemm *g, float *out, const void *inp, const float *w, const float *bias,
                  const float *add, int gelu, int N, int C, int OC);
/* 1 when packed_linear would take this call (inp is then f32, or bf16 for
 * a bf16 PackedGemm: the caller rounds it only when it will be used). */
int packed_linear_takes(const PackedGemm *g, const float *w, const float *add, int gelu, int N, int C, int OC);

/* "oneDNN 2.6.3 brg:avx512_core, 24 f32 weights packed (40.5 MiB)" — what ran. */
void packed_gemm_describe(const PackedGemm *g, char *out, size_t len);

#endif

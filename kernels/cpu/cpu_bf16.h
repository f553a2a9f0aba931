/* cpu_bf16.h — bf16 GEMM on the CPU through oneDNN's matmul primitive, and
 * the fp32 -> bf16 rounding every bf16 kernel uses. Public to bench/ and
 * impl/ (include as "cpu/cpu_bf16.h") for the ISA report and the peak probe.
 *
 * Design: tensors stay fp32 in memory; a bf16 GEMM rounds its two inputs to
 * bf16 (round to nearest even) into the backend's scratch and multiplies
 * them with fp32 accumulation. The product of two bf16 values (8-bit
 * significands) is exact in fp32, so the only differences from an fp32 GEMM
 * are the input rounding (relative error <= 2^-9 per input) and the
 * summation order of the library's kernel.
 *
 * Why the rounding is ours and not the CPU's VCVTNEPS2BF16: that instruction
 * flushes subnormal inputs to zero; the integer form below rounds them like
 * PyTorch's .to(torch.bfloat16), and gives the same bits on every x86 CPU,
 * so a bf16 run's inputs to the GEMM do not depend on the machine. */
#ifndef MTL_CPU_BF16_H
#define MTL_CPU_BF16_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef uint16_t bf16; /* the top 16 bits of an IEEE float32 */

/* fp32 -> bf16, round to nearest, ties to even; NaN stays a (quiet) NaN:
 *   bits(x) + 0x7FFF + (bit 16 of bits(x)), then the top 16 bits. */
static inline bf16 bf16_round(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (bf16)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (bf16)(u >> 16);
}

/* bf16 -> fp32 (exact). */
static inline float bf16_to_float(bf16 h) {
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* dst[r*cols + c] = bf16_round(src[r*ld + c]) for r < rows, c < cols (dst is
 * compact), split over `threads` OpenMP threads. */
void cpu_bf16_round_matrix(bf16 *dst, const float *src, int rows, int cols, int ld, int threads);

/* 1 when oneDNN can run a bf16 matmul on this CPU with a native bf16
 * instruction set (AVX512-BF16 or AMX), else 0 with why filled. Emulated
 * bf16 (plain AVX-512) is slower than fp32 and counts as unavailable. */
int cpu_bf16_native(char *why, size_t why_len);
/* 1 when oneDNN dispatches bf16 matmuls to AMX tiles; 0 on AVX512-BF16
 * alone, where a bf16 dot product does no more multiply-adds per cycle
 * than fp32 FMAs on Intel CPUs but twice as many on AMD Zen 4/5 (see
 * cpu_bf16_slower_than_fp32). */
int cpu_bf16_amx(void);

/* 1 where bf16 GEMMs are known to be slower than sgemm on this CPU (AVX512-
 * BF16 without AMX on an Intel CPU): bf16 is then the numerics asked for,
 * not a speed-up, and backend_open notes it. */
int cpu_bf16_slower_than_fp32(void);

/* The ISA oneDNN dispatches to ("avx512_core_amx", "avx512_core_bf16", ...)
 * and the implementation of the last bf16 matmul it created (e.g.
 * "brg:avx512_core_amx_bf16"; "none yet" before the first). */
const char *cpu_bf16_isa(void);
const char *cpu_bf16_impl(void);

/* "oneDNN 2.6.3, ISA avx512_core_amx": the library version and its ISA. */
const char *cpu_bf16_library(void);

/* One thread-count-bound oneDNN engine, stream and primitive cache. */
typedef struct Bf16Gemm Bf16Gemm;
Bf16Gemm *bf16_gemm_create(int threads);
void bf16_gemm_destroy(Bf16Gemm *g);

/* C[M,N] = alpha op(A) op(B) + beta C, row-major, A and B bf16, C fp32,
 * fp32 accumulation; beta is 0 or 1. op(A) = A [M,K] (lda) or, transposed,
 * A stored [K,M]; op(B) likewise ([K,N] or stored [N,K]). Runs on the
 * threads the Bf16Gemm was created with; the same call gives the same bits
 * every time (fixed blocking and reduction order for a fixed thread count).
 * Dies with the library's message if oneDNN refuses the shape. */
void bf16_gemm(Bf16Gemm *g, int transA, int transB, int M, int N, int K, float alpha,
               const bf16 *A, int lda, const bf16 *B, int ldb, float beta, float *C, int ldc);

#endif

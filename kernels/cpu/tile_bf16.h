/* tile_bf16.h — the small bf16 products of one attention head (bf16
 * backend, kernels/cpu/attention.c): operands packed into bf16 (rounded to
 * nearest even, cpu_bf16.h), products accumulated in fp32.
 *
 * Layouts. A is row-major bf16 [M][lda]. B is in "pair" layout (what Intel
 * calls VNNI, the operand layout of AMX's TDPBF16PS and AVX512-BF16's
 * VDPBF16PS): B[k][n] of a [K][N] matrix lives at b[(k/2)*ldb + 2n + k%2],
 * i.e. each row of b holds the 2 consecutive-k values of every column side by
 * side (ldb >= 2N). Every M, N and K given to tb_gemm is a multiple of 32:
 * the callers pack with zero padding (zeros add nothing to a sum).
 *
 * One product, three implementations, chosen once per process:
 *   AMX tiles (Sapphire Rapids and later; 16 x 16 fp32 blocks, 2 x 2 at a time),
 *   AVX512-BF16 (Zen 4/5, Cooper Lake; 16 fp32 lanes, 8 rows x 2 vectors),
 *   plain loops (builds without those ISAs, e.g. the sanitizer builds).
 * Each computes every C element as fp32 sums of exact bf16 x bf16 products
 * with k ascending in pairs; the instruction's internal rounding differs
 * between them (and AMX/AVX512-BF16 flush subnormals), so bits may differ
 * between machines, never between two runs or thread counts on one. */
#ifndef MTL_TILE_BF16_H
#define MTL_TILE_BF16_H

#include "cpu_bf16.h"

#if defined(__AVX512F__)
#include <immintrin.h>

/* bf16_round of 16 floats, in the low 16 bits of each 32-bit lane:
 *   NaN: (bits >> 16) | 0x40;  else (bits + 0x7FFF + bit 16 of bits) >> 16 */
static inline __m512i tb_round16(__m512 x) {
    const __m512i u = _mm512_castps_si512(x);
    const __m512i one = _mm512_set1_epi32(1);
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7FFF),
                                                       _mm512_and_si512(_mm512_srli_epi32(u, 16), one)));
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7FFFFFFF)),
                                            _mm512_set1_epi32(0x7F800000));
    return _mm512_mask_blend_epi32(nan, _mm512_srli_epi32(r, 16),
                                   _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40)));
}

#endif

/* The implementation this process uses: "amx", "avx512_bf16" or "portable".
 * The first call asks the kernel for permission to use AMX tile data
 * (arch_prctl ARCH_REQ_XCOMP_PERM) where the CPU has AMX. */
const char *tb_impl(void);

/* Use the implementation named ("amx", "avx512_bf16", "portable") from now
 * on in this process, if this build and CPU have it (tests and benchmarks
 * compare them): 1 done, 0 not available here (nothing changed). */
int tb_select(const char *name);

/* dst [rows_p][ldd] = bf16 of src [rows][cols] (leading dimension lds),
 * zeros in rows >= rows and columns cols .. cols_p. */
void tb_pack_rows(bf16 *dst, int ldd, const float *src, int lds, int rows, int cols, int rows_p, int cols_p);

/* src [rows][cols] (lds) as the B operand of a product whose k runs over the
 * rows (k = r, n = c): pair layout with ldb = 2 cols_p, k up to rows_p, zero
 * padded. */
void tb_pack_pairs_down(bf16 *dst, const float *src, int lds, int rows, int cols, int rows_p, int cols_p);

/* src [rows][cols] (lds) transposed, as the B operand of a product whose k
 * runs over the columns (k = c, n = r): pair layout with ldb = 2 rows_p, k up
 * to cols_p, zero padded. */
void tb_pack_pairs_across(bf16 *dst, const float *src, int lds, int rows, int cols, int rows_p, int cols_p);

/* d[0, n) = bf16 of s[0, n), zeros in d[n, n_p) */
void tb_round_row(bf16 *d, const float *s, int n, int n_p);

/* pair row of a B operand from two rows of its k: unit c = (bf16 of a[c],
 * bf16 of b[c]) at d[2c], d[2c + 1] for c < cols (b NULL: zeros), zero units
 * up to cols_p (tb_pack_pairs_down is this, row pair by row pair) */
void tb_pair_rows(bf16 *d, const float *a, const float *b, int cols, int cols_p);

/* Before and after the tile products of one thread: tb_gemm may only run in
 * between (AMX: loads the tile configuration, then releases the tiles so a
 * library's own AMX kernels start from a clean state). No-ops elsewhere. */
void tb_begin(void);
void tb_end(void);

/* C[M][N] = A[M][K] B[K][N] (acc 0) or C += A B (acc 1), c fp32 (ldc),
 * a bf16 row-major (lda), b bf16 in pair layout (ldb); M, N, K multiples of
 * 32 (the callers' padding). */
void tb_gemm(float *c, int ldc, const bf16 *a, int lda, const bf16 *b, int ldb, int M, int N, int K, int acc);

#endif

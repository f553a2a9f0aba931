/* cpu_math.h — branch-free float math that gcc can vectorise without
 * -ffast-math (libm's expf/erff are scalar calls), plus fixed-order lane sums.
 * Results depend only on the input, never on thread count or alignment.
 * Polynomials use fmaf (one rounding per step; a single instruction with
 * -march on FMA hardware, ~1.6x faster GELU than separate mul/add). */
#ifndef MTL_CPU_MATH_H
#define MTL_CPU_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

/* e^x, max error ~2 ulp for x in [-87.3, 88]; 0 below (no denormals),
 * saturating near 2^127 above 88 (our callers only pass x <= 0).
 *   n = round(x / ln2), r = x - n ln2 (Cody-Waite, ln2 split in two parts),
 *   e^x = 2^n e^r, e^r by its degree-7 Taylor polynomial (|r| <= ln2/2:
 *   truncation r^8/8! < 6e-9). Rounding uses the 1.5*2^23 trick. */
static inline float cpu_expf(float x) {
    const float shifter = 12582912.0f; /* 1.5 * 2^23 */
    float xc = x > 88.0f ? 88.0f : (x >= -87.3f ? x : -87.3f); /* NaN -> -87.3: no UB below */
    float n = (xc * 1.44269504088896341f + shifter) - shifter;
    float r = fmaf(-n, 0.693145751953125f, xc); /* ln2 high part */
    r = fmaf(-n, 1.42860682030941723e-6f, r);    /* ln2 low part */
    float p = 1.0f / 5040.0f;
    p = fmaf(p, r, 1.0f / 720.0f);
    p = fmaf(p, r, 1.0f / 120.0f);
    p = fmaf(p, r, 1.0f / 24.0f);
    p = fmaf(p, r, 1.0f / 6.0f);
    p = fmaf(p, r, 0.5f);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    int32_t bits = ((int32_t)n + 127) << 23;
    float two_n;
    memcpy(&two_n, &bits, sizeof two_n);
    float y = p * two_n;
    return x != x ? x : (x < -87.3f ? 0.0f : y); /* exp(NaN) = NaN */
}

/* Standard normal pdf phi(x) = exp(-x^2/2) / sqrt(2 pi). */
static inline float cpu_normpdf(float x) {
    return 0.398942280401432678f * cpu_expf(-0.5f * x * x);
}

/* Standard normal cdf Phi(x) = 0.5 (1 + erf(x / sqrt 2)) = 0.5 erfc(-x/sqrt 2).
 * erfc(z), z >= 0, by the Chebyshev-fitted form (fractional error < 1.2e-7):
 *   t = 1 / (1 + z/2)
 *   erfc(z) = t exp(-z^2 - 1.26551223 + t(1.00002368 + t(0.37409196 +
 *             t(0.09678418 + t(-0.18628806 + t(0.27886807 + t(-1.13520398 +
 *             t(1.48851587 + t(-0.82215223 + t 0.17087277)))))))))
 * Phi(x) = 1 - erfc(|x|/sqrt2)/2 for x >= 0, erfc(|x|/sqrt2)/2 for x < 0, so the
 * negative tail keeps its relative accuracy. */
static inline float cpu_normcdf(float x) {
    float z = (x < 0.0f ? -x : x) * 0.707106781186547524f;
    float t = 1.0f / (1.0f + 0.5f * z);
    float q = 0.17087277f;
    q = fmaf(q, t, -0.82215223f);
    q = fmaf(q, t, 1.48851587f);
    q = fmaf(q, t, -1.13520398f);
    q = fmaf(q, t, 0.27886807f);
    q = fmaf(q, t, -0.18628806f);
    q = fmaf(q, t, 0.09678418f);
    q = fmaf(q, t, 0.37409196f);
    q = fmaf(q, t, 1.00002368f);
    q = fmaf(q, t, -1.26551223f);
    float half_erfc = 0.5f * t * cpu_expf(q - z * z);
    return x < 0.0f ? half_erfc : 1.0f - half_erfc;
}

#if defined(__AVX512F__)
#include <immintrin.h>

/* cpu_expf on 16 lanes, bitwise the same for x <= 88 (every caller's x is
 * <= 0) and for NaN: n = round(x log2 e) by roundscale (cpu_expf's shifter
 * trick rounds the same product the same way), the same reduction and
 * polynomial, and p 2^n by scalef, one rounding as cpu_expf's multiply by the
 * exact power 2^n; 0 below -87.3 as there. */
static inline __m512 cpu_exp16(__m512 x) {
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860682030941723e-6f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    __mmask16 live = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.3f), _CMP_NLT_UQ); /* x >= -87.3 or NaN */
    return _mm512_maskz_scalef_ps(live, p, n);
}

/* cpu_normpdf on 16 lanes, the same operations in the same order. */
static inline __m512 cpu_normpdf16(__m512 x) {
    __m512 a = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(-0.5f), x), x);
    return _mm512_mul_ps(_mm512_set1_ps(0.398942280401432678f), cpu_exp16(a));
}

/* cpu_normcdf on 16 lanes, the same operations in the same order (|x| by
 * clearing the sign: only -0 differs, and it gives the same t = 1 and z^2). */
static inline __m512 cpu_normcdf16(__m512 x) {
    __m512 z = _mm512_mul_ps(_mm512_abs_ps(x), _mm512_set1_ps(0.707106781186547524f));
    __m512 one = _mm512_set1_ps(1.0f);
    __m512 t = _mm512_div_ps(one, _mm512_add_ps(one, _mm512_mul_ps(_mm512_set1_ps(0.5f), z)));
    __m512 q = _mm512_set1_ps(0.17087277f);
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(-0.82215223f));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(1.48851587f));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(-1.13520398f));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(0.27886807f));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(-0.18628806f));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(0.09678418f));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(0.37409196f));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(1.00002368f));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(-1.26551223f));
    __m512 e = cpu_exp16(_mm512_sub_ps(q, _mm512_mul_ps(z, z)));
    __m512 half_erfc = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), t), e);
    __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    return _mm512_mask_mov_ps(_mm512_sub_ps(one, half_erfc), neg, half_erfc);
}
#endif

/* Fixed-order reductions over 16 independent float lanes, written with GCC
 * vector types (also understood by clang) so that each step is one vector
 * operation; plain lane arrays let gcc vectorise the outer loop instead, with
 * a 16x16 transpose per step. Lane l sums x[l], x[l+16], ...; the lanes are
 * then added in lane order and the tail in index order, so the result is a
 * fixed function of the input (and more accurate than one running sum). */
enum { CPU_LANES = 16 };
/* 16 lanes in every build (the lane count fixes the summation order); without
 * AVX-512 gcc splits the vectors and warns, at every use, that passing 64-byte
 * vectors by value has another ABI there. That cannot matter for static
 * inline helpers, so the warning is off in the files that include this
 * header (the CPU kernels only). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef float cpu_vf __attribute__((vector_size(CPU_LANES * sizeof(float))));
typedef int32_t cpu_vi __attribute__((vector_size(CPU_LANES * sizeof(int32_t))));

static inline cpu_vf cpu_vload(const float *p) {
    cpu_vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline cpu_vi cpu_vloadi(const int32_t *p) {
    cpu_vi v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* lane-wise m ? a : b, m from a vector comparison (all ones or zero) */
static inline cpu_vf cpu_vselect(cpu_vi m, cpu_vf a, cpu_vf b) {
    return (cpu_vf)((m & (cpu_vi)a) | (~m & (cpu_vi)b));
}

static inline float cpu_vhsum(cpu_vf v) {
    float s = 0.0f;
    for (int l = 0; l < CPU_LANES; l++) s += v[l];
    return s;
}

/* sum_i x[i] */
static inline float cpu_sum(const float *x, int n) {
    cpu_vf acc = {0};
    int i = 0;
    for (; i + CPU_LANES <= n; i += CPU_LANES) acc += cpu_vload(x + i);
    float s = cpu_vhsum(acc);
    for (; i < n; i++) s += x[i];
    return s;
}

/* sum_i (x[i] - c)^2 */
static inline float cpu_sum_sqdev(const float *x, float c, int n) {
    cpu_vf acc = {0};
    int i = 0;
    for (; i + CPU_LANES <= n; i += CPU_LANES) {
        cpu_vf d = cpu_vload(x + i) - c;
        acc += d * d;
    }
    float s = cpu_vhsum(acc);
    for (; i < n; i++) s += (x[i] - c) * (x[i] - c);
    return s;
}

/* sum_i a[i] b[i] */
static inline float cpu_dot(const float *a, const float *b, int n) {
    cpu_vf acc = {0};
    int i = 0;
    for (; i + CPU_LANES <= n; i += CPU_LANES) acc += cpu_vload(a + i) * cpu_vload(b + i);
    float s = cpu_vhsum(acc);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

#if defined(__AVX512F__)
/* In-register transpose of a 16 x 16 block: r[i] holds row i on entry and
 * column i on exit. Three stages of the usual butterfly: unpack pairs of rows
 * (2 x 2 blocks per 128-bit lane), shuffle pairs of those (4 x 4 blocks per
 * lane), then two rounds of 128-bit lane shuffles that gather the four lanes
 * of each column. Pure data movement: the values are not changed. */
static inline void cpu_transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);     /* per lane: a0 b0 a1 b1 */
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]); /* a2 b2 a3 b3 */
    }
    for (int i = 0; i < 16; i += 4) { /* r[i + c] lane l: rows i..i+3 of column 4l + c */
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) { /* lanes 0 and 2 (0x88), 1 and 3 (0xDD) of row groups 0|4 and 8|12 */
        t[c] = _mm512_shuffle_f32x4(r[c], r[c + 4], 0x88);
        t[c + 4] = _mm512_shuffle_f32x4(r[c], r[c + 4], 0xDD);
        t[c + 8] = _mm512_shuffle_f32x4(r[c + 8], r[c + 12], 0x88);
        t[c + 12] = _mm512_shuffle_f32x4(r[c + 8], r[c + 12], 0xDD);
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm512_shuffle_f32x4(t[c], t[c + 8], 0x88);          /* column c */
        r[c + 4] = _mm512_shuffle_f32x4(t[c + 4], t[c + 12], 0x88); /* column c + 4 */
        r[c + 8] = _mm512_shuffle_f32x4(t[c], t[c + 8], 0xDD);      /* column c + 8 */
        r[c + 12] = _mm512_shuffle_f32x4(t[c + 4], t[c + 12], 0xDD);
    }
}
#endif

#endif

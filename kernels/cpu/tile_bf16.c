/* tile_bf16.c — bf16 products of one attention head (tile_bf16.h). */
#include "tile_bf16.h"

#include "cpu_math.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#if defined(__AMX_TILE__) && defined(__AMX_BF16__) && defined(SYS_arch_prctl)
#define TB_AMX 1
#endif

/* ---- which implementation ----------------------------------------------------- */

enum { TB_PORTABLE, TB_AVX512_BF16, TB_AMX_TILES };
static int g_impl = -1, g_best = -1; /* in use; the best this build and CPU have */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

#ifdef TB_AMX
enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
#endif

static void choose_impl(void) {
    g_impl = TB_PORTABLE;
#if defined(__AVX512BF16__)
    g_impl = TB_AVX512_BF16;
#endif
#ifdef TB_AMX
    /* Linux hands out AMX's 8 KiB of tile state only on request */
    if (__builtin_cpu_supports("amx-bf16") && syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0)
        g_impl = TB_AMX_TILES;
#endif
    g_best = g_impl;
}

static int impl(void) {
    pthread_once(&g_once, choose_impl);
    return g_impl;
}

static const char *const IMPL_NAMES[] = {"portable", "avx512_bf16", "amx"};

const char *tb_impl(void) { return IMPL_NAMES[impl()]; }

int tb_select(const char *name) {
    (void)impl();
    int best = g_best, want = -1;
    for (int i = 0; i < 3; i++)
        if (strcmp(name, IMPL_NAMES[i]) == 0) want = i;
    /* what this build and CPU have: every implementation up to the best one
     * found, except AVX512-BF16 when the build lacks it */
    int have = want >= 0 && want <= best;
#if !defined(__AVX512BF16__)
    if (want == TB_AVX512_BF16) have = 0;
#endif
    if (have) g_impl = want;
    return have;
}

/* ---- packing ------------------------------------------------------------------
 *
 * Each packer has a scalar form (every shape) and, with AVX-512, a vector
 * form for the whole blocks of the shapes attention uses; both round with
 * bf16_round's integer formula, so they give the same bits. */

#if defined(__AVX512F__)
/* 16 floats at s rounded, stored as 16 bf16 at d */
static inline void store_round16(bf16 *d, const float *s) {
    _mm256_storeu_si256((__m256i *)d, _mm512_cvtepi32_epi16(tb_round16(_mm512_loadu_ps(s))));
}

/* pairs (s[2u], s[2u+1]) of 32 floats as 16 32-bit units, s[2u] in the low half */
static inline __m512i pairs32(const float *s) {
    __m512i r0 = tb_round16(_mm512_loadu_ps(s)), r1 = tb_round16(_mm512_loadu_ps(s + 16));
    __m512i u0 = _mm512_or_si512(r0, _mm512_srli_epi64(r0, 16)), u1 = _mm512_or_si512(r1, _mm512_srli_epi64(r1, 16));
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(u0)), _mm512_cvtepi64_epi32(u1), 1);
}
#endif

void tb_round_row(bf16 *d, const float *s, int n, int n_p) {
    int c = 0;
#if defined(__AVX512F__)
    for (; c + 16 <= n; c += 16) store_round16(d + c, s + c);
#endif
    for (; c < n; c++) d[c] = bf16_round(s[c]);
    memset(d + n, 0, (size_t)(n_p - n) * sizeof *d);
}

void tb_pack_rows(bf16 *dst, int ldd, const float *src, int lds, int rows, int cols, int rows_p, int cols_p) {
    for (int r = 0; r < rows_p; r++)
        tb_round_row(dst + (size_t)r * ldd, src + (size_t)r * lds, r < rows ? cols : 0, cols_p);
}

void tb_pair_rows(bf16 *d, const float *a, const float *b, int cols, int cols_p) {
    int c = 0;
#if defined(__AVX512F__)
    for (; c + 16 <= cols; c += 16) {
        __m512i lo = tb_round16(_mm512_loadu_ps(a + c));
        __m512i hi = b ? _mm512_slli_epi32(tb_round16(_mm512_loadu_ps(b + c)), 16) : _mm512_setzero_si512();
        _mm512_storeu_si512(d + 2 * c, _mm512_or_si512(lo, hi));
    }
#endif
    for (; c < cols; c++) d[2 * c] = bf16_round(a[c]), d[2 * c + 1] = b ? bf16_round(b[c]) : 0;
    memset(d + 2 * cols, 0, 2 * (size_t)(cols_p - cols) * sizeof *d);
}

void tb_pack_pairs_down(bf16 *dst, const float *src, int lds, int rows, int cols, int rows_p, int cols_p) {
    size_t ldb = 2 * (size_t)cols_p;
    for (int r = 0; r < rows_p; r += 2) {
        bf16 *d = dst + (size_t)(r / 2) * ldb;
        if (r >= rows) {
            memset(d, 0, ldb * sizeof *d);
            continue;
        }
        tb_pair_rows(d, src + (size_t)r * lds, r + 1 < rows ? src + (size_t)(r + 1) * lds : NULL, cols, cols_p);
    }
}

/* the scalar form of tb_pack_pairs_across for rows [r0, r1) */
static void pairs_across_rows(bf16 *dst, size_t ldb, const float *src, int lds, int r0, int r1, int rows, int cols,
                              int cols_p) {
    for (int r = r0; r < r1; r++) {
        /* row r of src is column n = r of B: its values k = c go to pair row c/2, slot c%2 */
        const float *s = src + (size_t)r * lds;
        for (int c = 0; c < cols_p; c++)
            dst[(size_t)(c / 2) * ldb + 2 * (size_t)r + c % 2] = r < rows && c < cols ? bf16_round(s[c]) : 0;
    }
}

void tb_pack_pairs_across(bf16 *dst, const float *src, int lds, int rows, int cols, int rows_p, int cols_p) {
    size_t ldb = 2 * (size_t)rows_p;
    int r0 = 0;
#if defined(__AVX512F__)
    /* 16 rows x 32 columns at a time: each row's 16 pairs as 32-bit units,
     * then a 16 x 16 transpose of the units (column block c / 2 of rows r0..) */
    if (cols % 32 == 0)
        for (; r0 + 16 <= rows; r0 += 16)
            for (int c0 = 0; c0 < cols; c0 += 32) {
                __m512 u[16];
                for (int i = 0; i < 16; i++) u[i] = _mm512_castsi512_ps(pairs32(src + (size_t)(r0 + i) * lds + c0));
                cpu_transpose16(u);
                for (int i = 0; i < 16; i++)
                    _mm512_storeu_ps((float *)(dst + (size_t)(c0 / 2 + i) * ldb + 2 * (size_t)r0), u[i]);
            }
    if (r0 > 0)
        for (int c = cols; c < cols_p; c += 2) /* the k padding of the vector rows */
            for (int r = 0; r < r0; r++) dst[(size_t)(c / 2) * ldb + 2 * (size_t)r] = 0,
                                         dst[(size_t)(c / 2) * ldb + 2 * (size_t)r + 1] = 0;
#endif
    pairs_across_rows(dst, ldb, src, lds, r0, rows_p, rows, cols, cols_p);
}

/* ---- AMX tiles ------------------------------------------------------------------ */

#ifdef TB_AMX
/* Palette 1: tiles 0-3 hold a 2 x 2 block of C (16 rows x 16 fp32), 4-5 two
 * row blocks of A (16 rows x 32 bf16), 6-7 two column blocks of B (16 pair
 * rows x 16 columns x 2 bf16): every tile 16 rows of 64 bytes. */
typedef struct __attribute__((packed)) {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} TileConfig;

/* A static object: gcc 12 treats _tile_loadconfig as not reading memory and
 * dropped the stores that filled a configuration built on the stack. */
static const TileConfig TILE_CONFIG = {
    .palette = 1,
    .colsb = {64, 64, 64, 64, 64, 64, 64, 64},
    .rows = {16, 16, 16, 16, 16, 16, 16, 16},
};

static void amx_configure(void) { _tile_loadconfig(&TILE_CONFIG); }

/* One 32 x 32 block of C at c: 2 x 2 tiles, k ascending in steps of 32. */
static void amx_block(float *c, int ldc, const bf16 *a, int lda, const bf16 *b, int ldb, int K, int acc) {
    size_t sc = (size_t)ldc * sizeof(float), sa = (size_t)lda * sizeof(bf16), sb = (size_t)ldb * sizeof(bf16);
    float *c1 = c + (size_t)16 * ldc;
    if (acc) {
        _tile_loadd(0, c, sc);
        _tile_loadd(1, c + 16, sc);
        _tile_loadd(2, c1, sc);
        _tile_loadd(3, c1 + 16, sc);
    } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    }
    for (int k = 0; k < K; k += 32) {
        const bf16 *ak = a + k, *bk = b + (size_t)(k / 2) * ldb;
        _tile_loadd(4, ak, sa);
        _tile_loadd(5, ak + (size_t)16 * lda, sa);
        _tile_loadd(6, bk, sb);
        _tile_loadd(7, bk + 32, sb);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, c, sc);
    _tile_stored(1, c + 16, sc);
    _tile_stored(2, c1, sc);
    _tile_stored(3, c1 + 16, sc);
}

static void amx_gemm(float *c, int ldc, const bf16 *a, int lda, const bf16 *b, int ldb, int M, int N, int K,
                     int acc) {
    for (int i = 0; i < M; i += 32)
        for (int j = 0; j < N; j += 32)
            amx_block(c + (size_t)i * ldc + j, ldc, a + (size_t)i * lda, lda, b + 2 * (size_t)j, ldb, K, acc);
}
#endif

/* ---- AVX512-BF16 ------------------------------------------------------------------ */

#if defined(__AVX512BF16__)
/* 8 rows x 32 columns of C in 16 registers; per pair of k, each row's two A
 * values broadcast as one 32-bit lane pattern against B's two vectors. */
static void avx512_block(float *c, int ldc, const bf16 *a, int lda, const bf16 *b, int ldb, int K, int acc) {
    __m512 s[8][2];
    for (int r = 0; r < 8; r++)
        for (int v = 0; v < 2; v++)
            s[r][v] = acc ? _mm512_loadu_ps(c + (size_t)r * ldc + 16 * v) : _mm512_setzero_ps();
    for (int k = 0; k < K; k += 2) {
        const bf16 *bk = b + (size_t)(k / 2) * ldb;
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(bk), b1 = (__m512bh)_mm512_loadu_si512(bk + 32);
        for (int r = 0; r < 8; r++) {
            uint32_t pair;
            memcpy(&pair, a + (size_t)r * lda + k, sizeof pair);
            __m512bh ar = (__m512bh)_mm512_set1_epi32((int)pair);
            s[r][0] = _mm512_dpbf16_ps(s[r][0], ar, b0);
            s[r][1] = _mm512_dpbf16_ps(s[r][1], ar, b1);
        }
    }
    for (int r = 0; r < 8; r++)
        for (int v = 0; v < 2; v++) _mm512_storeu_ps(c + (size_t)r * ldc + 16 * v, s[r][v]);
}

static void avx512_gemm(float *c, int ldc, const bf16 *a, int lda, const bf16 *b, int ldb, int M, int N, int K,
                        int acc) {
    for (int i = 0; i < M; i += 8)
        for (int j = 0; j < N; j += 32)
            avx512_block(c + (size_t)i * ldc + j, ldc, a + (size_t)i * lda, lda, b + 2 * (size_t)j, ldb, K, acc);
}
#endif

/* ---- plain loops ------------------------------------------------------------------- */

static void portable_gemm(float *c, int ldc, const bf16 *a, int lda, const bf16 *b, int ldb, int M, int N, int K,
                          int acc) {
    for (int i = 0; i < M; i++) {
        float *ci = c + (size_t)i * ldc;
        if (!acc) memset(ci, 0, (size_t)N * sizeof *ci);
        for (int k = 0; k < K; k += 2) {
            float a0 = bf16_to_float(a[(size_t)i * lda + k]), a1 = bf16_to_float(a[(size_t)i * lda + k + 1]);
            const bf16 *bk = b + (size_t)(k / 2) * ldb;
            for (int j = 0; j < N; j++) ci[j] += a0 * bf16_to_float(bk[2 * j]) + a1 * bf16_to_float(bk[2 * j + 1]);
        }
    }
}

/* ---- dispatch ---------------------------------------------------------------------- */

void tb_begin(void) {
#ifdef TB_AMX
    if (impl() == TB_AMX_TILES) amx_configure();
#endif
}

void tb_end(void) {
#ifdef TB_AMX
    if (impl() == TB_AMX_TILES) _tile_release();
#endif
}

void tb_gemm(float *c, int ldc, const bf16 *a, int lda, const bf16 *b, int ldb, int M, int N, int K, int acc) {
    switch (impl()) {
#ifdef TB_AMX
    case TB_AMX_TILES: amx_gemm(c, ldc, a, lda, b, ldb, M, N, K, acc); return;
#endif
#if defined(__AVX512BF16__)
    case TB_AVX512_BF16: avx512_gemm(c, ldc, a, lda, b, ldb, M, N, K, acc); return;
#endif
    default: portable_gemm(c, ldc, a, lda, b, ldb, M, N, K, acc);
    }
}

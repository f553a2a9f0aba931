/* peak.c — sgemm and copy roofline numbers for this machine. */
#include "peak.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_bf16.h"
#include "cpu/cpu_blas.h"
#include "util.h"

enum { PEAK_REPEATS = 3 };

static void fill_pattern(float *x, size_t n) {
    /* deterministic, non-denormal values in [-0.5, 0.5) */
    for (size_t i = 0; i < n; i++) x[i] = (float)((i * 2654435761u) % 1000u) / 1000.0f - 0.5f;
}

static double time_one_sgemm(const float *a, const float *b, float *c, int n) {
    double t0 = now_seconds();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    return now_seconds() - t0;
}

double bench_sgemm_peak_gflops(int threads) {
    const int n = BENCH_CPU_PEAK_GEMM_N;
    size_t nn = (size_t)n * n;
    float *a = xmalloc(nn * sizeof *a), *b = xmalloc(nn * sizeof *b), *c = xmalloc(nn * sizeof *c);
    fill_pattern(a, nn);
    fill_pattern(b, nn);
    cpu_blas_setup(); /* the same OpenBLAS core as the CPU backend uses */
    int old_threads = openblas_get_num_threads();
    if (threads > 0) openblas_set_num_threads(threads);
    time_one_sgemm(a, b, c, n); /* warm-up: thread pool start, page faults */
    double best = 1e30;
    for (int r = 0; r < PEAK_REPEATS; r++) {
        double t = time_one_sgemm(a, b, c, n);
        if (t < best) best = t;
    }
    if (threads > 0) openblas_set_num_threads(old_threads);
    free(a);
    free(b);
    free(c);
    double flops = 2.0 * n * (double)n * n; /* one multiply + one add per term */
    return flops / best * 1e-9;
}

static double time_one_bf16(Bf16Gemm *g, const bf16 *a, const bf16 *b, float *c, int n) {
    double t0 = now_seconds();
    bf16_gemm(g, 0, 1, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    return now_seconds() - t0;
}

double bench_bf16_peak_gflops(int threads) {
    if (!cpu_bf16_native(NULL, 0)) return 0.0;
    const int n = BENCH_CPU_PEAK_GEMM_N;
    size_t nn = (size_t)n * n;
    float *x = xmalloc(nn * sizeof *x), *c = xmalloc(nn * sizeof *c);
    bf16 *a = xmalloc(nn * sizeof *a), *b = xmalloc(nn * sizeof *b);
    fill_pattern(x, nn);
    cpu_bf16_round_matrix(a, x, n, n, n, 1);
    cpu_bf16_round_matrix(b, x, n, n, n, 1);
    Bf16Gemm *g = bf16_gemm_create(threads > 0 ? threads : omp_get_max_threads());
    time_one_bf16(g, a, b, c, n); /* warm-up: primitive creation, page faults */
    double best = 1e30;
    for (int r = 0; r < PEAK_REPEATS; r++) {
        double t = time_one_bf16(g, a, b, c, n);
        if (t < best) best = t;
    }
    bf16_gemm_destroy(g);
    free(x), free(c), free(a), free(b);
    return 2.0 * n * (double)n * n / best * 1e-9;
}

static double time_one_copy(float *dst, const float *src, size_t n, int threads) {
    double t0 = now_seconds();
#pragma omp parallel num_threads(threads)
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        size_t chunk = (n + (size_t)nt - 1) / (size_t)nt;
        size_t lo = chunk * (size_t)id, hi = lo + chunk > n ? n : lo + chunk;
        if (lo < hi) memcpy(dst + lo, src + lo, (hi - lo) * sizeof *dst);
    }
    return now_seconds() - t0;
}

double bench_copy_gbs(int threads) {
    const size_t n = ((size_t)BENCH_CPU_PEAK_COPY_MIB << 20) / sizeof(float);
    float *src = xmalloc(n * sizeof *src), *dst = xmalloc(n * sizeof *dst);
    fill_pattern(src, n);
    memset(dst, 0, n * sizeof *dst);
    int nt = threads > 0 ? threads : omp_get_max_threads();
    time_one_copy(dst, src, n, nt); /* warm-up */
    double best = 1e30;
    for (int r = 0; r < PEAK_REPEATS; r++) {
        double t = time_one_copy(dst, src, n, nt);
        if (t < best) best = t;
    }
    free(src);
    free(dst);
    return 2.0 * (double)(n * sizeof(float)) / best * 1e-9; /* read + write */
}

/* gemm.c — OpenMP-blocked calls of single-threaded OpenBLAS sgemm. */
#include <cblas.h>
#include <omp.h>

#include "cpu_internal.h"

void cpu_blas_single_thread(void) {
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
}

/* One single-threaded sgemm (cblas conventions). */
static void cpu_sgemm_serial(int transA, int transB, int M, int N, int K, float alpha, const float *A,
                             int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* Rows [r0, r1) of C need rows r0.. of op(A): column r0 of A when A is
 * transposed. Columns [c0, c1) of C need columns c0.. of op(B): row c0 of B
 * when B is transposed. */
static const float *rows_of_opA(const float *A, int transA, int lda, size_t r0) {
    return transA ? A + r0 : A + r0 * (size_t)lda;
}
static const float *cols_of_opB(const float *B, int transB, int ldb, size_t c0) {
    return transB ? B + c0 * (size_t)ldb : B + c0;
}

void cpu_sgemm(int threads, int transA, int transB, int M, int N, int K, float alpha,
               const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    cpu_blas_single_thread();
    /* too little work to share: one call (2 M N K < ~4 MFLOP) */
    if (threads <= 1 || (double)M * N * K < 2e6) {
        cpu_sgemm_serial(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    int split_rows = M >= N;
#pragma omp parallel num_threads(threads)
    {
        int id = omp_get_thread_num(), nt = omp_get_num_threads();
        size_t lo, hi;
        if (split_rows) {
            cpu_split((size_t)M, id, nt, 16, &lo, &hi);
            if (hi > lo)
                cpu_sgemm_serial(transA, transB, (int)(hi - lo), N, K, alpha,
                                 rows_of_opA(A, transA, lda, lo), lda, B, ldb, beta,
                                 C + lo * (size_t)ldc, ldc);
        } else {
            cpu_split((size_t)N, id, nt, 16, &lo, &hi);
            if (hi > lo)
                cpu_sgemm_serial(transA, transB, M, (int)(hi - lo), K, alpha, A, lda,
                                 cols_of_opB(B, transB, ldb, lo), ldb, beta, C + lo, ldc);
        }
    }
}

/* naive.h — the naive references (reference/naive_<family>.c, op_check.h)
 * that other tests call directly in double precision. They take the
 * arguments of their kernels/ops.h op in the same order, as doubles, with no
 * Backend pointer; backward functions ACCUMULATE (+=) like the fast kernels.
 * Dropout decisions use rng_keep() from impl/base/rng.h with the same element
 * indices (from `first`, as kernels/ops.h), so with dropout on the naive and
 * fast results can be compared element by element. */
#ifndef MTL_NAIVE_H
#define MTL_NAIVE_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

/* The dropout factor of element idx: keep / (1 - p), 1 when p <= 0. */
static inline double naive_drop_factor(uint64_t idx, float p, uint64_t seed, uint32_t step,
                                       uint32_t stream) {
    if (p <= 0.0f) return 1.0;
    return rng_keep(seed, step, stream, idx, p) ? 1.0 / (1.0 - (double)p) : 0.0;
}

/* naive_matmul.c (tests/test_bf16.c) */
void naive_matmul_forward(double *out, const double *inp, const double *w, const double *bias,
                          int N, int C, int OC);
void naive_matmul_backward(double *dinp, double *dw, double *dbias, const double *dout,
                           const double *inp, const double *w, int N, int C, int OC);

/* naive_optim.c (tests/test_kernels.c) */
double naive_sumsq(const double *x, size_t n);

#endif

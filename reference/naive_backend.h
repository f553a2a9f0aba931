/* naive_backend.h — the naive references (reference/naive_<family>.c) as a
 * Backend (test-only): every op converts its float inputs to double, runs the
 * naive double-precision version, and rounds the results back to float.
 * Memory is host memory. tests/test_backend_ops.c runs every family's cases
 * on it and on every real backend and compares them.
 *
 * bf16 = 1 is the reference of a --precision bf16 backend: the matmul inputs
 * (inp, w, and dout in the backward) are rounded to bf16 (round to nearest
 * even, cpu/cpu_bf16.h) before the double-precision product, as the bf16
 * backends round them before their fp32-accumulating GEMM; so are the
 * inputs of attention's six products (reference/naive_attention.c); every
 * other op is the same as with bf16 = 0.
 */
#ifndef MTL_NAIVE_BACKEND_H
#define MTL_NAIVE_BACKEND_H

#include "backend.h"

Backend *backend_naive(int bf16);

#endif

/* op_check.h — how the ops of kernels/ops.h are checked (test-only C).
 *
 * One file per op family, reference/naive_<family>.c, beside
 * kernels/cpu/<family>.c and kernels/cuda/<family>.cu, holds everything that
 * says what the family's ops must compute:
 *   - the naive reference: plain loops in double precision, one per formula
 *     (static, unless another test calls it: then reference/naive.h declares it);
 *   - nv_<op>, that reference behind the Backend interface: float inputs to
 *     double (the GEMM inputs rounded to bf16 first for the bf16 reference),
 *     the naive op, the results rounded back (reference/naive_backend.h);
 *   - op_cases_<family>[]: the cases tests/test_backend_ops.c runs on every
 *     backend present and compares with the reference (ggml's
 *     test-backend-ops idea);
 *   - op_fd_<family>[]: the CUnit tests tests/test_gradcheck.c runs, which
 *     check the reference's backward against central differences of its own
 *     forward (see FD_EPS below).
 * Adding an op to a family touches that file only (kernels/ops.h's checklist);
 * a new family is a new file and its name in OP_FAMILIES. */
#ifndef MTL_OP_CHECK_H
#define MTL_OP_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "testutil.h"

/* The families, each with its reference/naive_<family>.c. */
#define OP_FAMILIES(X) \
    X(embed) X(layernorm) X(matmul) X(lora) X(attention) X(elementwise) X(crossentropy) X(optim)

/* ---- the wrappers (naive_backend.c) ------------------------------------------------- */

/* A double copy of n floats (NULL stays NULL), rounded to bf16 first when asked. */
double *to_d(const float *x, size_t n, int round_bf16);
/* Round n doubles back into the float buffer y (NULL: nothing), and free them. */
void back_f(float *y, double *d, size_t n);
/* 1 for the bf16 reference backend (backend_naive(1)). */
int bf16_of(Backend *be);
/* 1 + the largest of n ints (the rows of a table they index). */
size_t rows_used(const int *idx, size_t n);

#define NV_OP_DECL(name, ret, params, args) ret nv_##name(Backend *be, OPS_UNPAREN params);
MTL_COMPUTE_OPS(NV_OP_DECL)
#undef NV_OP_DECL

/* ---- backend cases (op_check.c) ----------------------------------------------------- */

/* Tolerances (fp32 results vs the double reference on inputs of size ~1):
 *   ELEM  a few roundings:                                atol 1e-6, rtol 1e-5
 *   FUNC  vectorised / CUDA exp and erf (~2 ulp, Phi to 1.5e-7 absolute)
 *         times |x| <= 20 in GELU:                        atol 4e-6, rtol 1e-5
 *   DOT   K-term sums, K <= ~1000 (error ~ sqrt(K) eps |terms|, BLAS blocks
 *         the sum differently):                           atol 1e-4, rtol 1e-4
 *   DOT_TF32  DOT outputs of a TF32 backend (10-bit mantissa products):
 *                                                         atol 3e-2, rtol 1e-2
 *   ATTN  attention's products: DOT, and on a bf16 backend DOT_BF16 below
 *   DOT_BF16  attention outputs of a bf16 backend against the bf16 reference.
 *         Both round the same product inputs to bf16, but some inputs (P' =
 *         P/(1-p), dS) are computed first, in fp32 there and in double here,
 *         and where such a value lies within an fp32 rounding of a bf16
 *         rounding boundary (~1 in 10^4 values) the two round it to
 *         neighbouring bf16 values: that term differs by one bf16 unit,
 *         2^-7 relative (8-bit significand), and the output by that term's
 *         share; with terms of size ~1/4 (P' v, dS k):  atol = rtol = 2^-8 */
typedef struct {
    double atol, rtol;
    int gemm; /* computed by GEMMs: the TF32 tolerance applies on a TF32 backend;
                 2: an attention product, DOT_BF16 on a bf16 backend */
} Tol;

static const Tol ELEM = {1e-6, 1e-5, 0};
static const Tol FUNC = {4e-6, 1e-5, 0};
static const Tol DOT = {1e-4, 1e-4, 1};
static const Tol ATTN = {1e-4, 1e-4, 2};
static const Tol DOT_TF32 = {3e-2, 1e-2, 1};
static const Tol DOT_BF16 = {0x1p-8, 0x1p-8, 2};

/* Deterministic uniform floats in [lo, hi) from Philox stream `stream`. */
float *rnd(size_t n, uint32_t stream, float lo, float hi);
/* Integers in [0, hi). */
int *rnd_ints(size_t n, uint32_t stream, int hi);

/* Buffers of one case on one backend, freed together. */
enum { MAX_BUFS = 20, MAX_OUTS = 12 };
typedef struct {
    Backend *be;
    void *p[MAX_BUFS];
    int k;
} Bufs;

/* An uploaded copy of n host floats / ints (the host copy is freed); an
 * uninitialised buffer of n floats. */
float *up_f(Bufs *b, float *host, size_t n);
int *up_i(Bufs *b, int *host, size_t n);
float *empty_f(Bufs *b, size_t n);
void bufs_free(Bufs *b);

/* The outputs of one run of a case, downloaded, each with its tolerance. */
typedef struct {
    const char *name[MAX_OUTS];
    float *h[MAX_OUTS];
    size_t n[MAX_OUTS];
    Tol tol[MAX_OUTS];
    int k;
} Outs;

void take(Outs *o, Backend *be, const char *name, const float *dev, size_t n, Tol tol);
/* A host value (sumsq's double) as an output. */
void take_value(Outs *o, const char *name, double v, Tol tol);
void outs_free(Outs *o);

/* One case: its op family, printed shape and sizes p[] (meaning per family), a
 * dropout probability and RNG offset where the op has them, a flag. A
 * family's table ends with a case whose family is NULL. */
typedef struct OpCase {
    const char *family;
    void (*run)(const struct OpCase *c, Backend *be, Outs *o);
    int p[4];
    float f;
    uint64_t first;
    int flag;
} OpCase;

/* ---- finite differences (op_check.c) ---------------------------------------------------- */

/* The naive (double) backward against central differences of its own forward,
 * through a random linear functional L = sum_i r_i y_i:
 *     dL/dx_k ~ (L(x + eps e_k) - L(x - eps e_k)) / (2 eps),  eps = 1e-6.
 * Truncation error is O(eps^2) ~ 1e-12 and round-off ~ 1e-16 |y_k| / eps
 * ~ 1e-9 (L itself is summed in long double), so we require
 *     |analytic - fd| / max(|analytic|, |fd|, 1e-2) < 1e-6
 * (the 1e-2 floor keeps near-zero components from dividing round-off by
 * almost nothing). */
#define FD_EPS 1e-6
#define FD_TOL 1e-6
#define FD_FLOOR 1e-2

/* n uniform doubles in [lo, hi) from Philox stream `stream`; n zeros. */
double *rndd(size_t n, uint32_t stream, double lo, double hi);
double *zerosd(size_t n);

/* L = r . y, summed in long double so that the rounding of the sum itself
 * (which does not cancel between L(x+eps) and L(x-eps)) stays far below the
 * round-off of the one term that changes. */
double dotd(const double *a, const double *b, size_t n);

typedef double (*LossFn)(void *problem);

/* Compares grad (analytic) with central differences of loss() over x[0..n);
 * prints the worst relative error; returns 1 if below tol. */
int fd_check(const char *label, LossFn loss, void *problem, double *x, const double *grad, size_t n,
             double eps, double tol, double floor);

/* ---- the families' tables ------------------------------------------------------------- */

#define OP_FAMILY_DECL(f) extern const OpCase op_cases_##f[]; extern const TestCase op_fd_##f[];
OP_FAMILIES(OP_FAMILY_DECL)
#undef OP_FAMILY_DECL

#endif

/* The CUDA backend against the CPU backend, op by op and for the whole model.
 *
 * Without a usable GPU (or in a build without CUDA) this prints
 *   SKIP cuda: <reason>
 * registers no test and exits 0: tests/run_tests.sh counts the skip, never a
 * pass.
 *
 * With a GPU (TF32 off unless stated):
 *   - every op of kernels/backend.h on random inputs, including odd sizes,
 *     forward and backward, backward on non-zero gradients (accumulation),
 *     vs backend_cpu(); and each GPU op run twice gives the same bits;
 *   - dropout: values and masks bitwise equal to the CPU's;
 *   - the model on the GPU vs reference/debug_state_tiny.bin (PyTorch);
 *   - 100 training steps CPU vs GPU from one seed (losses within 1e-3
 *     relative) and two GPU runs bitwise identical.
 *
 * Tolerances (GPU fp32 vs CPU fp32 on inputs of size ~1):
 *   TOL_EXACT  same IEEE operations on both sides (moves, one add/divide)
 *   TOL_ELEM   a few roundings, FMA contraction on the GPU:    atol 1e-6, rtol 1e-5
 *   TOL_FUNC   CUDA expf/erff vs the CPU's own exp/Phi (~2 ulp; Phi 1.5e-7
 *              absolute), times |x| <= 6 in GELU:               atol 4e-6, rtol 1e-5
 *   TOL_DOT    K-term sums in another order (cuBLAS/BLAS blocking, K <= ~400,
 *              error ~ sqrt(K) eps |terms|):                     atol 1e-4, rtol 1e-4
 *   TOL_TF32   TF32 tensor cores (10-bit mantissa products):    atol 3e-2, rtol 1e-2 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu/cpu_bf16.h"
#include "debugstate.h"
#include "gradnorm.h"
#include "model.h"
#include "rng.h"
#include "testutil.h"

typedef struct {
    double atol, rtol;
} Tol;

static const Tol TOL_EXACT = {0.0, 0.0};
static const Tol TOL_ELEM = {1e-6, 1e-5};
static const Tol TOL_FUNC = {4e-6, 1e-5};
static const Tol TOL_DOT = {1e-4, 1e-4};
static const Tol TOL_TF32 = {3e-2, 1e-2};

static Backend *g_cpu, *g_gpu;

/* ---- host data ------------------------------------------------------------ */

/* Deterministic uniform floats in [lo, hi) from Philox stream `stream`. */
static float *rnd(size_t n, uint32_t stream, float lo, float hi) {
    float *x = xmalloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_uniform(4321, 0, stream, i);
    return x;
}

/* Integers in [0, hi). */
static int *rnd_ints(size_t n, uint32_t stream, int hi) {
    int *x = xmalloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (int)(rng_uniform(77, 0, stream, i) * (float)hi) % hi;
    return x;
}

/* ---- backend buffers -------------------------------------------------------- */

static float *dev_f(Backend *be, const float *h, size_t n) {
    float *d = be->alloc(be, n * sizeof *d);
    be->upload(be, d, h, n * sizeof *d);
    return d;
}

static int *dev_i(Backend *be, const int *h, size_t n) {
    int *d = be->alloc(be, n * sizeof *d);
    be->upload(be, d, h, n * sizeof *d);
    return d;
}

/* Outputs of one run of an op, downloaded to the host, each with the
 * tolerance it is compared with. */
enum { MAX_OUTS = 8 };
typedef struct {
    const char *name[MAX_OUTS];
    float *h[MAX_OUTS];
    size_t n[MAX_OUTS];
    Tol tol[MAX_OUTS];
    int k;
} Outs;

static void take(Outs *o, Backend *be, const char *name, const float *dev, size_t n, Tol tol) {
    if (o->k == MAX_OUTS) {
        fprintf(stderr, "test_cuda: too many outputs\n");
        exit(2);
    }
    o->name[o->k] = name;
    o->n[o->k] = n;
    o->tol[o->k] = tol;
    o->h[o->k] = xmalloc((n ? n : 1) * sizeof(float));
    be->download(be, o->h[o->k], dev, n * sizeof(float));
    o->k++;
}

static void outs_free(Outs *o) {
    for (int i = 0; i < o->k; i++) free(o->h[i]);
    o->k = 0;
}

static int same_bits(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof *a) == 0;
}

/* Run `run` on the CPU and twice on the GPU: GPU vs CPU within each output's
 * tolerance, GPU run 1 vs run 2 bit for bit. */
typedef void (*RunFn)(Backend *be, const void *arg, Outs *out);

static void compare_backends(const char *what, RunFn run, const void *arg) {
    Outs c = {0}, g1 = {0}, g2 = {0};
    run(g_cpu, arg, &c);
    run(g_gpu, arg, &g1);
    run(g_gpu, arg, &g2);
    CU_ASSERT_FATAL(c.k == g1.k && g1.k == g2.k);
    for (int i = 0; i < c.k; i++) {
        char label[96];
        snprintf(label, sizeof label, "%s %s", what, c.name[i]);
        CU_ASSERT(testutil_allclose(label, g1.h[i], c.h[i], c.n[i], c.tol[i].atol, c.tol[i].rtol));
        if (!same_bits(g1.h[i], g2.h[i], c.n[i])) {
            printf("    %s: two GPU runs differ in their bits\n", label);
            CU_FAIL("GPU result not bitwise reproducible");
        }
    }
    outs_free(&c);
    outs_free(&g1);
    outs_free(&g2);
}

/* ---- embeddings --------------------------------------------------------------- */

typedef struct {
    int B, T, C, V;
} EmbCase;

static void run_embed(Backend *be, const void *arg, Outs *o) {
    const EmbCase *k = arg;
    size_t N = (size_t)k->B * k->T, C = (size_t)k->C;
    int *ids = rnd_ints(N, 1, k->V), *tt = rnd_ints(N, 2, 2);
    float *wte = rnd(k->V * C, 3, -1, 1), *wpe = rnd(k->T * C, 4, -1, 1), *wtt = rnd(2 * C, 5, -1, 1);
    float *dout = rnd(N * C, 6, -1, 1), *g_te = rnd(k->V * C, 7, -1, 1);
    float *g_pe = rnd(k->T * C, 8, -1, 1), *g_tt = rnd(2 * C, 9, -1, 1);
    int *d_ids = dev_i(be, ids, N), *d_tt = dev_i(be, tt, N);
    float *d_wte = dev_f(be, wte, k->V * C), *d_wpe = dev_f(be, wpe, k->T * C);
    float *d_wtt = dev_f(be, wtt, 2 * C), *d_dout = dev_f(be, dout, N * C);
    float *d_gte = dev_f(be, g_te, k->V * C), *d_gpe = dev_f(be, g_pe, k->T * C);
    float *d_gtt = dev_f(be, g_tt, 2 * C), *d_out = be->alloc(be, N * C * sizeof(float));
    be->embed_forward(be, d_out, d_ids, d_tt, d_wte, d_wpe, d_wtt, k->B, k->T, k->C);
    be->embed_backward(be, d_gte, d_gpe, d_gtt, d_dout, d_ids, d_tt, k->B, k->T, k->C);
    take(o, be, "out", d_out, N * C, TOL_EXACT);
    take(o, be, "dwte", d_gte, k->V * C, TOL_DOT);
    take(o, be, "dwpe", d_gpe, k->T * C, TOL_EXACT); /* same order as the CPU */
    take(o, be, "dwtt", d_gtt, 2 * C, TOL_DOT);
    void *dev[] = {d_ids, d_tt, d_wte, d_wpe, d_wtt, d_dout, d_gte, d_gpe, d_gtt, d_out};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) be->free(be, dev[i]);
    void *host[] = {ids, tt, wte, wpe, wtt, dout, g_te, g_pe, g_tt};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++) free(host[i]);
}

static void test_embed(void) {
    /* odd sizes; then V = 3 so every id has > 64 positions (the segmented
     * path of the GPU backward), as token type 0/1 always do at B*T = 512 */
    const EmbCase cases[] = {{2, 7, 20, 11}, {3, 13, 36, 50}, {4, 128, 36, 3}, {8, 64, 128, 1000}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) compare_backends("embed", run_embed, &cases[i]);
}

/* ---- LayerNorm -------------------------------------------------------------- */

typedef struct {
    int N, C;
    float eps;
} LnCase;

static void run_layernorm(Backend *be, const void *arg, Outs *o) {
    const LnCase *k = arg;
    size_t NC = (size_t)k->N * k->C;
    float *x = rnd(NC, 10, -1.5f, 2.5f), *w = rnd(k->C, 11, 0.5f, 1.5f), *b = rnd(k->C, 12, -1, 1);
    float *dout = rnd(NC, 13, -1, 1), *gx = rnd(NC, 14, -1, 1), *gw = rnd(k->C, 15, -1, 1);
    float *gb = rnd(k->C, 16, -1, 1);
    float *d_x = dev_f(be, x, NC), *d_w = dev_f(be, w, k->C), *d_b = dev_f(be, b, k->C);
    float *d_dout = dev_f(be, dout, NC), *d_gx = dev_f(be, gx, NC), *d_gw = dev_f(be, gw, k->C);
    float *d_gb = dev_f(be, gb, k->C), *d_out = be->alloc(be, NC * sizeof(float));
    float *d_mean = be->alloc(be, k->N * sizeof(float)), *d_rstd = be->alloc(be, k->N * sizeof(float));
    be->layernorm_forward(be, d_out, d_mean, d_rstd, d_x, d_w, d_b, k->N, k->C, k->eps);
    be->layernorm_backward(be, d_gx, d_gw, d_gb, d_dout, d_x, d_w, d_mean, d_rstd, k->N, k->C);
    take(o, be, "out", d_out, NC, TOL_ELEM);
    take(o, be, "mean", d_mean, k->N, TOL_ELEM);
    take(o, be, "rstd", d_rstd, k->N, TOL_ELEM);
    take(o, be, "dinp", d_gx, NC, TOL_ELEM);
    take(o, be, "dw", d_gw, k->C, TOL_DOT);
    take(o, be, "db", d_gb, k->C, TOL_DOT);
    void *dev[] = {d_x, d_w, d_b, d_dout, d_gx, d_gw, d_gb, d_out, d_mean, d_rstd};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) be->free(be, dev[i]);
    void *host[] = {x, w, b, dout, gx, gw, gb};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++) free(host[i]);
}

static void test_layernorm(void) {
    const LnCase cases[] = {{7, 20, 1e-5f}, {13, 36, 1e-12f}, {300, 768, 1e-12f}, {1030, 33, 1e-12f}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        compare_backends("layernorm", run_layernorm, &cases[i]);
}

/* ---- matmul ------------------------------------------------------------------- */

typedef struct {
    int N, C, OC, bias, dinp;
    Tol tol;
    int bf16_inputs; /* x, w and dout rounded to bf16 on the host first */
} MmCase;

static void round_to_bf16(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = bf16_to_float(bf16_round(x[i]));
}

static void run_matmul(Backend *be, const void *arg, Outs *o) {
    const MmCase *k = arg;
    size_t NC = (size_t)k->N * k->C, OCC = (size_t)k->OC * k->C, NO = (size_t)k->N * k->OC;
    float *x = rnd(NC, 20, -1, 1), *w = rnd(OCC, 21, -1, 1), *b = rnd(k->OC, 22, -1, 1);
    float *dout = rnd(NO, 23, -1, 1), *gx = rnd(NC, 24, -1, 1), *gw = rnd(OCC, 25, -1, 1);
    float *gb = rnd(k->OC, 26, -1, 1);
    if (k->bf16_inputs) round_to_bf16(x, NC), round_to_bf16(w, OCC), round_to_bf16(dout, NO);
    float *d_x = dev_f(be, x, NC), *d_w = dev_f(be, w, OCC), *d_b = dev_f(be, b, k->OC);
    float *d_dout = dev_f(be, dout, NO), *d_gx = dev_f(be, gx, NC), *d_gw = dev_f(be, gw, OCC);
    float *d_gb = dev_f(be, gb, k->OC), *d_out = be->alloc(be, NO * sizeof(float));
    be->matmul_forward(be, d_out, d_x, d_w, k->bias ? d_b : NULL, k->N, k->C, k->OC);
    be->matmul_backward(be, k->dinp ? d_gx : NULL, d_gw, k->bias ? d_gb : NULL, d_dout, d_x, d_w,
                        k->N, k->C, k->OC);
    take(o, be, "out", d_out, NO, k->tol);
    take(o, be, "dinp", d_gx, NC, k->tol);
    take(o, be, "dw", d_gw, OCC, k->tol);
    take(o, be, "dbias", d_gb, k->OC, TOL_DOT);
    void *dev[] = {d_x, d_w, d_b, d_dout, d_gx, d_gw, d_gb, d_out};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) be->free(be, dev[i]);
    void *host[] = {x, w, b, dout, gx, gw, gb};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++) free(host[i]);
}

static void test_matmul(void) {
    const MmCase cases[] = {{7, 20, 13, 1, 1, TOL_DOT, 0},   {39, 36, 9, 0, 1, TOL_DOT, 0},
                            {13, 36, 108, 1, 0, TOL_DOT, 0}, {256, 128, 384, 1, 1, TOL_DOT, 0},
                            {1, 5, 3, 1, 1, TOL_DOT, 0},     {300, 257, 2, 1, 1, TOL_DOT, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        compare_backends("matmul", run_matmul, &cases[i]);
}

/* ---- lora ------------------------------------------------------------------------ */

typedef struct {
    int N, C, R, OC, dinp;
    float s;
} LoraCase;

static void run_lora(Backend *be, const void *arg, Outs *o) {
    const LoraCase *k = arg;
    size_t ni = (size_t)k->N * k->C, na = (size_t)k->R * k->C, nb = (size_t)k->OC * k->R;
    size_t no = (size_t)k->N * k->OC, nu = (size_t)k->N * k->R;
    float *x = rnd(ni, 90, -1, 1), *a = rnd(na, 91, -1, 1), *b = rnd(nb, 92, -1, 1);
    float *out = rnd(no, 93, -1, 1), *dout = rnd(no, 94, -1, 1), *gx = rnd(ni, 95, -1, 1);
    float *ga = rnd(na, 96, -1, 1), *gb = rnd(nb, 97, -1, 1);
    float *d_x = dev_f(be, x, ni), *d_a = dev_f(be, a, na), *d_b = dev_f(be, b, nb);
    float *d_out = dev_f(be, out, no), *d_dout = dev_f(be, dout, no), *d_gx = dev_f(be, gx, ni);
    float *d_ga = dev_f(be, ga, na), *d_gb = dev_f(be, gb, nb);
    float *d_u = be->alloc(be, nu * sizeof(float)), *d_du = be->alloc(be, nu * sizeof(float));
    be->lora_forward(be, d_out, d_u, d_x, d_a, d_b, k->N, k->C, k->R, k->OC, k->s);
    be->lora_backward(be, k->dinp ? d_gx : NULL, d_ga, d_gb, d_du, d_dout, d_x, d_u, d_a, d_b, k->N,
                      k->C, k->R, k->OC, k->s);
    take(o, be, "out (accumulated)", d_out, no, TOL_DOT);
    take(o, be, "u", d_u, nu, TOL_DOT);
    take(o, be, "du", d_du, nu, TOL_DOT);
    take(o, be, "dinp", d_gx, ni, TOL_DOT);
    take(o, be, "da", d_ga, na, TOL_DOT);
    take(o, be, "db", d_gb, nb, TOL_DOT);
    void *dev[] = {d_x, d_a, d_b, d_out, d_dout, d_gx, d_ga, d_gb, d_u, d_du};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) be->free(be, dev[i]);
    void *host[] = {x, a, b, out, dout, gx, ga, gb};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++) free(host[i]);
}

static void test_lora(void) {
    const LoraCase cases[] = {{13, 20, 4, 36, 1, 2.0f}, {7, 36, 8, 20, 0, 0.5f}, {1, 3, 1, 5, 1, 1.0f},
                              {256, 384, 16, 1152, 1, 2.0f}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) compare_backends("lora", run_lora, &cases[i]);
}

/* TF32 tensor-core matmul: a second backend with tf32 = 1, loose tolerance. */
static void test_matmul_tf32(void) {
    char why[256];
    Backend *tf = backend_cuda(1, why, sizeof why);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tf);
    Backend *fp32 = g_gpu;
    const MmCase k = {256, 128, 384, 1, 1, TOL_TF32, 0};
    g_gpu = tf;
    compare_backends("matmul tf32", run_matmul, &k);
    g_gpu = fp32;
    tf->destroy(tf);
}

/* bf16 matmul: the GPU's bf16 backend vs the CPU's fp32 one, both fed inputs
 * already rounded to bf16 (the GPU's rounding of them is then the identity,
 * which the case also checks). The bf16 products are exact in fp32, so only
 * the K-order of the fp32 sums differs: TOL_DOT. Needs no bf16 on the CPU. */
static void test_matmul_bf16(void) {
    char why[256];
    Backend *gpu = backend_cuda_bf16(why, sizeof why);
    CU_ASSERT_PTR_NOT_NULL_FATAL(gpu);
    CU_ASSERT_EQUAL(gpu->precision, PREC_BF16);
    Backend *g0 = g_gpu;
    g_gpu = gpu;
    const MmCase cases[] = {{7, 20, 13, 1, 1, TOL_DOT, 1}, {256, 128, 384, 1, 1, TOL_DOT, 1},
                            {300, 257, 2, 1, 1, TOL_DOT, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        compare_backends("matmul bf16", run_matmul, &cases[i]);
    g_gpu = g0;
    gpu->destroy(gpu);
}

/* ---- attention ---------------------------------------------------------------- */

typedef struct {
    int B, T, C, NH;
    float p;
    uint64_t first; /* RNG counter of element 0 (a batch slice's offset) */
} AttCase;

/* Mask row b: all real; padded tail; only position 0 real; holes; no real key. */
static int mask_value(int b, int t, int T) {
    switch (b % 5) {
    case 0: return 1;
    case 1: return t < T - 3;
    case 2: return t == 0;
    case 3: return t % 3 != 1;
    default: return 0;
    }
}

static void run_attention(Backend *be, const void *arg, Outs *o) {
    const AttCase *k = arg;
    int B = k->B, T = k->T, C = k->C, NH = k->NH;
    size_t BT = (size_t)B * T, BTC = BT * C, att_n = (size_t)B * NH * T * T;
    float *qkv = rnd(3 * BTC, 30, -1, 1), *dout = rnd(BTC, 31, -1, 1), *g = rnd(3 * BTC, 32, -1, 1);
    int *mask = xmalloc(BT * sizeof *mask);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) mask[(size_t)b * T + t] = mask_value(b, t, T);
    float *d_qkv = dev_f(be, qkv, 3 * BTC), *d_dout = dev_f(be, dout, BTC), *d_g = dev_f(be, g, 3 * BTC);
    int *d_mask = dev_i(be, mask, BT);
    float *d_out = be->alloc(be, BTC * sizeof(float)), *d_att = be->alloc(be, att_n * sizeof(float));
    float *d_scr = be->alloc(be, (4 * BTC + att_n) * sizeof(float));
    uint64_t seed = 0x5eedULL;
    be->attention_forward(be, d_out, d_att, d_scr, d_qkv, d_mask, B, T, C, NH, k->p, seed, 3, 17, k->first);
    be->attention_backward(be, d_g, d_scr, d_dout, d_qkv, d_att, d_mask, B, T, C, NH, k->p, seed, 3,
                           17, k->first);
    take(o, be, "out", d_out, BTC, TOL_DOT);
    take(o, be, "att", d_att, att_n, TOL_ELEM);
    take(o, be, "dqkv", d_g, 3 * BTC, TOL_DOT);
    void *dev[] = {d_qkv, d_dout, d_g, d_mask, d_out, d_att, d_scr};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) be->free(be, dev[i]);
    free(qkv);
    free(dout);
    free(g);
    free(mask);
}

static void test_attention(void) {
    const AttCase cases[] = {{2, 7, 20, 2, 0.0f, 0},   {3, 13, 36, 4, 0.0f, 0}, {5, 13, 36, 4, 0.2f, 0},
                             {2, 64, 128, 4, 0.1f, 0}, {5, 33, 48, 3, 0.5f, 0}, {4, 128, 256, 4, 0.1f, 0},
                             {1, 1, 8, 2, 0.0f, 0},     {3, 13, 36, 4, 0.2f, 4 * 13 * 13 + 1},
                             {2, 64, 128, 4, 0.1f, 6}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        compare_backends("attention", run_attention, &cases[i]);
}

/* ---- elementwise ops ------------------------------------------------------------ */

typedef struct {
    size_t n;
} SizeCase;

static void run_gelu(Backend *be, const void *arg, Outs *o) {
    size_t n = ((const SizeCase *)arg)->n;
    float *x = rnd(n, 40, -6, 6), *dout = rnd(n, 41, -1, 1), *g = rnd(n, 42, -1, 1);
    float *d_x = dev_f(be, x, n), *d_dout = dev_f(be, dout, n), *d_g = dev_f(be, g, n);
    float *d_out = be->alloc(be, n * sizeof(float));
    be->gelu_forward(be, d_out, d_x, n);
    be->gelu_backward(be, d_g, d_x, d_dout, n);
    take(o, be, "out", d_out, n, TOL_FUNC);
    take(o, be, "dinp", d_g, n, TOL_FUNC);
    void *dev[] = {d_x, d_dout, d_g, d_out};
    for (size_t i = 0; i < 4; i++) be->free(be, dev[i]);
    free(x);
    free(dout);
    free(g);
}

static void run_residual(Backend *be, const void *arg, Outs *o) {
    size_t n = ((const SizeCase *)arg)->n;
    float *a = rnd(n, 43, -1, 1), *b = rnd(n, 44, -1, 1), *dout = rnd(n, 45, -1, 1);
    float *d_a = dev_f(be, a, n), *d_b = dev_f(be, b, n), *d_dout = dev_f(be, dout, n);
    float *d_out = be->alloc(be, n * sizeof(float));
    be->residual_forward(be, d_out, d_a, d_b, n);
    be->residual_backward(be, d_a, d_b, d_dout, n); /* a and b double as gradients */
    take(o, be, "out", d_out, n, TOL_EXACT);
    take(o, be, "da", d_a, n, TOL_EXACT);
    take(o, be, "db", d_b, n, TOL_EXACT);
    void *dev[] = {d_a, d_b, d_dout, d_out};
    for (size_t i = 0; i < 4; i++) be->free(be, dev[i]);
    free(a);
    free(b);
    free(dout);
}

static void run_qa_split(Backend *be, const void *arg, Outs *o) {
    size_t n = ((const SizeCase *)arg)->n; /* B*T with B = 1 */
    float *qa = rnd(2 * n, 46, -1, 1), *ds = rnd(2 * n, 47, -1, 1), *g = rnd(2 * n, 48, -1, 1);
    float *d_qa = dev_f(be, qa, 2 * n), *d_ds = dev_f(be, ds, 2 * n), *d_g = dev_f(be, g, 2 * n);
    float *d_split = be->alloc(be, 2 * n * sizeof(float));
    be->qa_split_forward(be, d_split, d_qa, 1, (int)n);
    be->qa_split_backward(be, d_g, d_ds, 1, (int)n);
    take(o, be, "split", d_split, 2 * n, TOL_EXACT);
    take(o, be, "dqa", d_g, 2 * n, TOL_EXACT);
    void *dev[] = {d_qa, d_ds, d_g, d_split};
    for (size_t i = 0; i < 4; i++) be->free(be, dev[i]);
    free(qa);
    free(ds);
    free(g);
}

static void run_scale_adamw(Backend *be, const void *arg, Outs *o) {
    size_t n = ((const SizeCase *)arg)->n;
    float *p = rnd(n, 50, -1, 1), *x = rnd(n, 51, -3, 3);
    float *d_p = dev_f(be, p, n), *d_x = dev_f(be, x, n);
    float *d_m = be->alloc(be, n * sizeof(float)), *d_v = be->alloc(be, n * sizeof(float));
    be->scale(be, d_x, n, 0.37f);
    take(o, be, "scale", d_x, n, TOL_EXACT);
    for (int t = 1; t <= 3; t++) {
        float *g = rnd(n, 52 + (uint32_t)t, -1, 1);
        float *d_g = dev_f(be, g, n);
        be->adamw_update(be, d_p, d_g, d_m, d_v, n, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, t);
        be->free(be, d_g);
        free(g);
    }
    take(o, be, "adamw p", d_p, n, TOL_ELEM);
    take(o, be, "adamw m", d_m, n, TOL_ELEM);
    take(o, be, "adamw v", d_v, n, TOL_ELEM);
    void *dev[] = {d_p, d_x, d_m, d_v};
    for (size_t i = 0; i < 4; i++) be->free(be, dev[i]);
    free(p);
    free(x);
}

static void test_elementwise(void) {
    const SizeCase sizes[] = {{1}, {7}, {1001}, {4099}, {(1u << 20) + 3}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        compare_backends("gelu", run_gelu, &sizes[i]);
        compare_backends("residual", run_residual, &sizes[i]);
        compare_backends("qa_split", run_qa_split, &sizes[i]);
        compare_backends("optim", run_scale_adamw, &sizes[i]);
    }
}

/* ---- dropout: bitwise equal to the CPU ----------------------------------------------- */

typedef struct {
    size_t n;
    float p;
    int in_place;
    uint64_t first; /* RNG counter of element 0 (a batch slice's offset) */
} DropCase;

static void run_dropout(Backend *be, const void *arg, Outs *o) {
    const DropCase *k = arg;
    size_t n = k->n;
    float *x = rnd(n, 60, 0.5f, 1.5f), *dout = rnd(n, 61, 0.5f, 1.5f), *g = rnd(n, 62, -1, 1);
    float *d_x = dev_f(be, x, n), *d_dout = dev_f(be, dout, n), *d_g = dev_f(be, g, n);
    float *d_out = k->in_place ? d_x : be->alloc(be, n * sizeof(float));
    uint64_t seed = 0xfeedfacecafebeefULL;
    be->dropout_forward(be, d_out, d_x, n, k->p, seed, 12345u, 0x10005u, k->first);
    be->dropout_backward(be, d_g, d_dout, n, k->p, seed, 12345u, 0x10005u, k->first);
    take(o, be, "out", d_out, n, TOL_EXACT);
    take(o, be, "dinp", d_g, n, TOL_EXACT);
    if (!k->in_place) be->free(be, d_out);
    be->free(be, d_g);
    be->free(be, d_dout);
    be->free(be, d_x);
    free(x);
    free(dout);
    free(g);
}

static void test_dropout_bitwise(void) {
    const DropCase cases[] = {{1, 0.1f, 0, 0},    {7, 0.5f, 0, 0},      {4099, 0.1f, 0, 0},
                              {4099, 0.1f, 1, 0}, {100003, 0.9f, 0, 0}, {1001, 0.0f, 0, 0},
                              {1001, 0.0f, 1, 0}, {4099, 0.1f, 0, 6}, {3, 0.5f, 1, 4097},
                              {100003, 0.3f, 0, (1ull << 33) + 3}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Outs c = {0}, g = {0};
        run_dropout(g_cpu, &cases[i], &c);
        run_dropout(g_gpu, &cases[i], &g);
        for (int j = 0; j < c.k; j++) {
            size_t n = c.n[j], zeros_c = 0, zeros_g = 0;
            for (size_t e = 0; e < n; e++) {
                zeros_c += c.h[j][e] == 0.0f;
                zeros_g += g.h[j][e] == 0.0f;
            }
            int same = same_bits(c.h[j], g.h[j], n);
            printf("    dropout n=%zu p=%.1f%s %s: dropped cpu %zu gpu %zu, %s\n", n,
                   (double)cases[i].p, cases[i].in_place ? " in place" : "", c.name[j], zeros_c,
                   zeros_g, same ? "bitwise equal" : "DIFFERENT BITS");
            CU_ASSERT(same);
        }
        outs_free(&c);
        outs_free(&g);
    }
}

/* ---- cross-entropy --------------------------------------------------------------- */

typedef struct {
    int N, V;
} CeCase;

static void run_crossentropy(Backend *be, const void *arg, Outs *o) {
    const CeCase *k = arg;
    size_t NV = (size_t)k->N * k->V;
    float *logits = rnd(NV, 70, -4, 4), *g = rnd(NV, 71, -1, 1);
    int *tg = rnd_ints((size_t)k->N, 72, k->V);
    for (int n = 0; n < k->N; n += 3) tg[n] = MTL_IGNORE_INDEX;
    float *d_l = dev_f(be, logits, NV), *d_g = dev_f(be, g, NV);
    int *d_t = dev_i(be, tg, (size_t)k->N);
    float *d_loss = be->alloc(be, (size_t)k->N * sizeof(float)), *d_p = be->alloc(be, NV * sizeof(float));
    be->crossentropy_forward(be, d_loss, d_p, d_l, d_t, k->N, k->V);
    be->crossentropy_backward(be, d_g, d_p, d_t, 0.37f, k->N, k->V);
    take(o, be, "losses", d_loss, (size_t)k->N, TOL_ELEM);
    take(o, be, "probs", d_p, NV, TOL_ELEM);
    take(o, be, "dlogits", d_g, NV, TOL_ELEM);
    void *dev[] = {d_l, d_g, d_t, d_loss, d_p};
    for (size_t i = 0; i < 5; i++) be->free(be, dev[i]);
    free(logits);
    free(g);
    free(tg);
}

static void test_crossentropy(void) {
    const CeCase cases[] = {{1, 1}, {7, 9}, {13, 384}, {4096, 9}, {64, 513}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        compare_backends("crossentropy", run_crossentropy, &cases[i]);
}

/* ---- sum of squares ------------------------------------------------------------------ */

static void test_sumsq(void) {
    const size_t sizes[] = {1, 7, 1001, (3u << 20) + 5};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        float *x = rnd(n, 80, -2, 2);
        float *dc = dev_f(g_cpu, x, n), *dg = dev_f(g_gpu, x, n);
        double c = g_cpu->sumsq(g_cpu, dc, n);
        double a = g_gpu->sumsq(g_gpu, dg, n), b = g_gpu->sumsq(g_gpu, dg, n);
        double rel = fabs(a - c) / (fabs(c) + 1e-300);
        printf("    sumsq n=%-9zu cpu %.17g gpu %.17g rel %.2e%s\n", n, c, a, rel,
               a == b ? "" : "  GPU REPEAT DIFFERS");
        CU_ASSERT(rel < 1e-12); /* double sums of float squares, other order */
        CU_ASSERT(memcmp(&a, &b, sizeof a) == 0);
        g_cpu->free(g_cpu, dc);
        g_gpu->free(g_gpu, dg);
        free(x);
    }
}

/* ---- memory ops ------------------------------------------------------------------------ */

static void test_memory(void) {
    Backend *be = g_gpu;
    size_t n = 100003;
    float *x = rnd(n, 90, -1, 1), *y = xmalloc(n * sizeof *y);
    float *a = be->alloc(be, n * sizeof(float)), *b = be->alloc(be, 3), *c = be->alloc(be, n * sizeof(float));
    be->download(be, y, a, n * sizeof(float));
    size_t nonzero = 0;
    for (size_t i = 0; i < n; i++) nonzero += y[i] != 0.0f;
    CU_ASSERT_EQUAL(nonzero, 0); /* alloc is zero-filled */
    be->upload(be, a, x, n * sizeof(float));
    be->copy(be, c, a, n * sizeof(float));
    be->download(be, y, c, n * sizeof(float));
    CU_ASSERT(same_bits(x, y, n));
    be->zero(be, c, n * sizeof(float) / 2);
    be->sync(be);
    be->download(be, y, c, n * sizeof(float));
    CU_ASSERT(y[0] == 0.0f && y[n / 2 - 1] == 0.0f && y[n - 1] == x[n - 1]);
    /* free out of order, allocate again (reused memory is zero-filled again) */
    be->free(be, b);
    be->free(be, a);
    float *d = be->alloc(be, 2 * n * sizeof(float));
    be->download(be, y, d, n * sizeof(float));
    nonzero = 0;
    for (size_t i = 0; i < n; i++) nonzero += y[i] != 0.0f;
    CU_ASSERT_EQUAL(nonzero, 0);
    be->free(be, c);
    be->free(be, d);
    be->free(be, NULL);
    free(x);
    free(y);
}

/* ---- the model vs the PyTorch golden state ------------------------------------------------- */

static const DsTensor *need(const DebugState *ds, const char *name) {
    const DsTensor *t = debugstate_get(ds, name);
    if (!t) printf("    debug state lacks %s\n", name);
    return t;
}

/* |a - b| <= atol + rtol |b| with atol = rel * (the tensor's largest |entry|)
 * + floor; the floor covers entries that are sums cancelling to ~0 (e.g. the
 * QA bias gradient, a sum of softmax - onehot rows), where fp32 leaves noise
 * of ~1e-8 whatever the scale. */
static int close_scaled(const char *label, const float *a, const float *ref, size_t n, double rel,
                        double floor) {
    double mx = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs((double)ref[i]));
    return testutil_allclose(label, a, ref, n, rel * mx + floor, rel);
}

static Model *model_from_state(const DebugState *ds, Backend *be, int *B, int *T, ModelConfig *cfg) {
    const DsTensor *c = need(ds, "config"), *hp = need(ds, "hparams");
    if (!c || !hp) return NULL;
    const int32_t *ci = c->data;
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->preset, sizeof cfg->preset, "debug");
    cfg->L = ci[0], cfg->C = ci[1], cfg->NH = ci[2], cfg->FFN = ci[3], cfg->V = ci[4];
    cfg->maxT = ci[5], cfg->type_vocab = ci[6], cfg->num_labels = ci[7];
    cfg->heads = HEAD_NER | HEAD_QA;
    cfg->ln_eps = ((const float *)hp->data)[0];
    cfg->p_drop = 0.0f;
    cfg->init_std = 0.02f;
    *B = ci[8], *T = ci[9];
    Err err;
    Model *m = model_create(cfg, be, *B, *T, &err);
    if (!m) {
        printf("    %s\n", err.msg);
        return NULL;
    }
    float *host = xcalloc(model_num_params(m), sizeof *host);
    for (int i = 0; i < model_num_tensors(m); i++) {
        const ParamInfo *pi = model_tensor(m, i);
        const DsTensor *t = need(ds, pi->name);
        if (t && (size_t)t->numel == pi->numel) memcpy(host + pi->offset, t->data, pi->numel * sizeof *host);
    }
    model_params_from_host(m, host);
    free(host);
    return m;
}

static void batch_from_state(const DebugState *ds, int task, int B, int T, Batch *b) {
    memset(b, 0, sizeof *b);
    b->task = task, b->B = B, b->T = T;
    b->ids = need(ds, "in.ids")->data;
    b->types = need(ds, "in.types")->data;
    b->mask = need(ds, "in.mask")->data;
    b->labels = need(ds, "in.ner_labels")->data;
    b->start = need(ds, "in.qa_start")->data;
    b->end = need(ds, "in.qa_end")->data;
}

static void test_model_debug_state(void) {
    const char *path = testutil_repo_path("reference/debug_state_tiny.bin");
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    Err err;
    DebugState *ds = debugstate_load(path, &err);
    if (!ds) printf("    %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    int B = 0, T = 0;
    ModelConfig cfg;
    Model *m = model_from_state(ds, g_gpu, &B, &T, &cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    const float *hp = need(ds, "hparams")->data;
    float lambda_ner = hp[7];
    Batch ner, qa;
    batch_from_state(ds, TASK_NER, B, T, &ner);
    batch_from_state(ds, TASK_QA, B, T, &qa);
    size_t BT = (size_t)B * T;
    float *buf = xmalloc(BT * (size_t)(cfg.C > cfg.num_labels ? cfg.C : cfg.num_labels) * sizeof *buf);
    float l_ner = 0, l_qa = 0;
    model_zero_grad(m);
    CU_ASSERT_FATAL(model_forward(m, &ner, 0, 0, 0, 0, &l_ner, &err) == 0);
    model_get_logits(m, buf);
    CU_ASSERT(close_scaled("ner logits", buf, need(ds, "out.ner_logits")->data, BT * cfg.num_labels, 1e-4, 0));
    model_get_hidden(m, buf);
    CU_ASSERT(close_scaled("hidden", buf, need(ds, "out.hidden")->data, BT * cfg.C, 1e-4, 0));
    model_backward(m, &ner, lambda_ner);
    CU_ASSERT_FATAL(model_forward(m, &qa, 0, 0, 0, 1, &l_qa, &err) == 0);
    model_get_logits(m, buf);
    CU_ASSERT(close_scaled("qa logits", buf, need(ds, "out.qa_logits")->data, BT * 2, 1e-4, 0));
    model_backward(m, &qa, 1.0f);
    float ref_ner = *(const float *)need(ds, "out.loss_ner")->data;
    float ref_qa = *(const float *)need(ds, "out.loss_qa")->data;
    printf("    loss ner %.7f (torch %.7f)  qa %.7f (torch %.7f)\n", (double)l_ner, (double)ref_ner,
           (double)l_qa, (double)ref_qa);
    CU_ASSERT(fabs(l_ner - ref_ner) <= 1e-5 * fabs(ref_ner) + 1e-6);
    CU_ASSERT(fabs(l_qa - ref_qa) <= 1e-5 * fabs(ref_qa) + 1e-6);
    float *grads = xmalloc(model_num_params(m) * sizeof *grads);
    model_grads_to_host(m, grads);
    int bad = 0;
    for (int i = 0; i < model_num_tensors(m); i++) {
        const ParamInfo *pi = model_tensor(m, i);
        char name[64];
        snprintf(name, sizeof name, "grad.%s", pi->name);
        const DsTensor *t = need(ds, name);
        /* gradients: 1e-3 of the tensor's largest entry + 1e-7 (fp32 backprop
         * through two layers, summation orders differ from PyTorch's) */
        if (!t || !close_scaled(name, grads + pi->offset, t->data, pi->numel, 1e-3, 1e-7)) bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    free(grads);
    free(buf);
    model_free(m);
    debugstate_free(ds);
}

/* The 10 AdamW steps of train.losses (same batch, dropout off, constant lr). */
static void test_model_debug_state_training(void) {
    const char *path = testutil_repo_path("reference/debug_state_tiny.bin");
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    Err err;
    DebugState *ds = debugstate_load(path, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    int B = 0, T = 0;
    ModelConfig cfg;
    Model *m = model_from_state(ds, g_gpu, &B, &T, &cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    const float *hp = need(ds, "hparams")->data;
    const DsTensor *ref = need(ds, "train.losses");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
    AdamWParams h = {.lr = hp[1], .beta1 = hp[2], .beta2 = hp[3], .eps = hp[4],
                     .weight_decay = hp[5], .clip = hp[6]};
    Batch ner, qa;
    batch_from_state(ds, TASK_NER, B, T, &ner);
    batch_from_state(ds, TASK_QA, B, T, &qa);
    int bad = 0;
    for (int s = 0; s < (int)ref->numel; s++) {
        float ln = 0, lq = 0;
        model_zero_grad(m);
        CU_ASSERT_FATAL(model_forward(m, &ner, 0, 0, (uint32_t)s, 0, &ln, &err) == 0);
        model_backward(m, &ner, hp[7]);
        CU_ASSERT_FATAL(model_forward(m, &qa, 0, 0, (uint32_t)s, 1, &lq, &err) == 0);
        model_backward(m, &qa, 1.0f);
        model_clip_grad(m, model_grad_norm(m), h.clip);
        model_adamw_step(m, &h, h.lr);
        float total = hp[7] * ln + lq, want = ((const float *)ref->data)[s];
        int ok = fabs(total - want) <= 1e-4 * fabs(want);
        printf("    step %d loss %.7f torch %.7f%s\n", s, (double)total, (double)want, ok ? "" : "  MISMATCH");
        bad += !ok;
    }
    CU_ASSERT_EQUAL(bad, 0);
    model_free(m);
    debugstate_free(ds);
}

/* ---- training: CPU vs GPU, GPU vs GPU ------------------------------------------------------ */

enum { TB = 4, TT = 32, TSTEPS = 100 };

static ModelConfig train_config(void) {
    ModelConfig c = {.preset = "cudatest", .L = 2, .C = 64, .NH = 4, .FFN = 128, .V = 200,
                     .maxT = TT, .type_vocab = 2, .num_labels = NER_NUM_LABELS,
                     .heads = HEAD_NER | HEAD_QA, .ln_eps = 1e-12f, .p_drop = 0.1f,
                     .init_std = 0.02f};
    return c;
}

typedef struct {
    int ids[TB * TT], types[TB * TT], mask[TB * TT], labels[TB * TT], start[TB], end[TB];
} TrainBatch;

static int draw(uint32_t step, uint32_t s, uint64_t i, int hi) {
    return (int)(rng_uniform(2024, step, 0x9000u + s, i) * (float)hi) % hi;
}

/* Lengths in [4, T], padding masked and labelled -100, spans inside the text. */
static void train_batch(TrainBatch *d, uint32_t step, int V) {
    for (int b = 0; b < TB; b++) {
        int len = 4 + draw(step, 0, (uint64_t)b, TT - 3);
        for (int t = 0; t < TT; t++) {
            int i = b * TT + t, real = t < len;
            d->ids[i] = draw(step, 1, (uint64_t)i, V);
            d->types[i] = t >= len / 2;
            d->mask[i] = real;
            d->labels[i] = real ? draw(step, 2, (uint64_t)i, NER_NUM_LABELS) : MTL_IGNORE_INDEX;
        }
        d->start[b] = draw(step, 3, (uint64_t)b, len);
        d->end[b] = d->start[b] + draw(step, 4, (uint64_t)b, len - d->start[b]);
    }
}

/* TSTEPS joint steps (NER pass, QA pass, clip, AdamW) with dropout on;
 * losses[2*TSTEPS]; *params malloc'd. */
static int train_run(Backend *be, float *losses, float **params, size_t *n) {
    ModelConfig cfg = train_config();
    Err err;
    Model *m = model_create(&cfg, be, TB, TT, &err);
    if (!m) {
        printf("    %s\n", err.msg);
        return -1;
    }
    model_init(m, 99);
    AdamWParams hp = adamw_defaults();
    TrainBatch d;
    int rc = 0;
    for (int s = 0; s < TSTEPS && rc == 0; s++) {
        train_batch(&d, (uint32_t)s, cfg.V);
        Batch ner = {.task = TASK_NER, .B = TB, .T = TT, .ids = d.ids, .types = d.types,
                     .mask = d.mask, .labels = d.labels};
        Batch qa = ner;
        qa.task = TASK_QA, qa.labels = NULL, qa.start = d.start, qa.end = d.end;
        model_zero_grad(m);
        rc |= model_forward(m, &ner, 1, 555, (uint32_t)s, 0, &losses[2 * s], &err);
        if (rc == 0) model_backward(m, &ner, 1.0f);
        if (rc == 0) rc |= model_forward(m, &qa, 1, 555, (uint32_t)s, 1, &losses[2 * s + 1], &err);
        if (rc == 0) model_backward(m, &qa, 1.0f);
        model_clip_grad(m, model_grad_norm(m), hp.clip);
        model_adamw_step(m, &hp, 1e-4f);
    }
    if (rc) printf("    %s\n", err.msg);
    *n = model_num_params(m);
    *params = xmalloc(*n * sizeof **params);
    model_params_to_host(m, *params);
    model_free(m);
    return rc;
}

static void test_training_cpu_vs_gpu(void) {
    float lc[2 * TSTEPS], lg[2 * TSTEPS], lg2[2 * TSTEPS];
    float *pc = NULL, *pg = NULL, *pg2 = NULL;
    size_t nc = 0, ng = 0, ng2 = 0;
    CU_ASSERT_FATAL(train_run(g_cpu, lc, &pc, &nc) == 0);
    CU_ASSERT_FATAL(train_run(g_gpu, lg, &pg, &ng) == 0);
    CU_ASSERT_FATAL(train_run(g_gpu, lg2, &pg2, &ng2) == 0);
    double worst = 0;
    int worst_i = 0;
    for (int i = 0; i < 2 * TSTEPS; i++) {
        double rel = fabs((double)lg[i] - lc[i]) / fabs((double)lc[i]);
        if (rel > worst || isnan(rel)) worst = rel, worst_i = i;
    }
    printf("    %d steps: first ner/qa cpu %.6f %.6f gpu %.6f %.6f; last cpu %.6f %.6f gpu %.6f %.6f\n",
           TSTEPS, lc[0], lc[1], lg[0], lg[1], lc[2 * TSTEPS - 2], lc[2 * TSTEPS - 1],
           lg[2 * TSTEPS - 2], lg[2 * TSTEPS - 1]);
    printf("    worst relative loss difference %.2e (step %d, %s)\n", worst, worst_i / 2,
           worst_i % 2 ? "qa" : "ner");
    CU_ASSERT(worst < 1e-3);
    CU_ASSERT_EQUAL(memcmp(lg, lg2, sizeof lg), 0);
    CU_ASSERT_EQUAL_FATAL(ng, ng2);
    CU_ASSERT_EQUAL(memcmp(pg, pg2, ng * sizeof *pg), 0);
    free(pc);
    free(pg);
    free(pg2);
}

/* GradNorm's per-task gradient norms (impl/train/gradnorm.h) from one joint
 * backward, measured on the GPU model vs the CPU model. */
static int gradnorm_measure(Backend *be, double G[2]) {
    ModelConfig cfg = train_config();
    Err err;
    Model *m = model_create(&cfg, be, TB, TT, &err);
    if (!m) return -1;
    model_init(m, 99);
    TrainBatch d;
    train_batch(&d, 0, cfg.V);
    Batch ner = {.task = TASK_NER, .B = TB, .T = TT, .ids = d.ids, .types = d.types,
                 .mask = d.mask, .labels = d.labels};
    Batch qa = ner;
    qa.task = TASK_QA, qa.labels = NULL, qa.start = d.start, qa.end = d.end;
    GradNorm g;
    int rc = gradnorm_init(&g, m, "", 0.16, 0.025, (const double[NUM_TASKS]){0.7, 1.3}, &err);
    float l;
    model_zero_grad(m);
    if (rc == 0) rc = model_forward(m, &ner, 1, 555, 0, 0, &l, &err);
    if (rc == 0) {
        model_backward(m, &ner, 0.7f);
        gradnorm_after_task(&g, m, TASK_NER);
        rc = model_forward(m, &qa, 1, 555, 0, 1, &l, &err);
    }
    if (rc == 0) {
        model_backward(m, &qa, 1.3f);
        gradnorm_after_task(&g, m, TASK_QA);
        memcpy(G, g.G, sizeof g.G);
    }
    if (rc) printf("    %s\n", err.msg);
    if (g.W) gradnorm_free(&g);
    model_free(m);
    return rc;
}

static void test_gradnorm_norms(void) {
    double gc[2], gg[2], gg2[2];
    CU_ASSERT_FATAL(gradnorm_measure(g_cpu, gc) == 0);
    CU_ASSERT_FATAL(gradnorm_measure(g_gpu, gg) == 0);
    CU_ASSERT_FATAL(gradnorm_measure(g_gpu, gg2) == 0);
    printf("    G ner/qa cpu %.9g %.9g gpu %.9g %.9g\n", gc[0], gc[1], gg[0], gg[1]);
    for (int i = 0; i < 2; i++) CU_ASSERT(fabs(gg[i] - gc[i]) <= 1e-4 * gc[i]);
    CU_ASSERT_EQUAL(memcmp(gg, gg2, sizeof gg), 0);
}

static void test_every_op_filled(void) {
    const char *missing = backend_missing_op(g_gpu);
    if (missing) printf("\n  the CUDA backend leaves %s NULL\n", missing);
    CU_ASSERT_PTR_NULL(missing);
}

int main(void) {
    char why[512];
    g_gpu = backend_cuda(0, why, sizeof why);
    if (!g_gpu) {
        testutil_skip("cuda", why);
        return 0;
    }
    g_cpu = backend_cpu(0);
    static const TestCase ops[] = {
        {"every op of kernels/ops.h filled", test_every_op_filled},
        {"memory: zero-filled alloc, upload/download/copy/zero, free out of order", test_memory},
        {"embeddings fwd+bwd vs CPU, GPU repeat bitwise", test_embed},
        {"layernorm fwd+bwd vs CPU, GPU repeat bitwise", test_layernorm},
        {"matmul fwd+bwd vs CPU, GPU repeat bitwise", test_matmul},
        {"matmul with TF32 vs CPU (loose)", test_matmul_tf32},
        {"matmul bf16 vs CPU bf16, GPU repeat bitwise", test_matmul_bf16},
        {"lora fwd+bwd vs CPU, GPU repeat bitwise", test_lora},
        {"attention fwd+bwd (mask, dropout) vs CPU, GPU repeat bitwise", test_attention},
        {"gelu/residual/qa_split/scale/adamw vs CPU, GPU repeat bitwise", test_elementwise},
        {"dropout values and masks bitwise equal to CPU", test_dropout_bitwise},
        {"cross-entropy fwd+bwd vs CPU, GPU repeat bitwise", test_crossentropy},
        {"sumsq vs CPU, GPU repeat bitwise", test_sumsq},
        {NULL, NULL}};
    static const TestCase model[] = {
        {"GPU model vs PyTorch debug state: logits, losses, gradients", test_model_debug_state},
        {"GPU model: 10 AdamW steps vs PyTorch train.losses", test_model_debug_state_training},
        {"100 training steps CPU vs GPU (1e-3), two GPU runs bitwise", test_training_cpu_vs_gpu},
        {"GradNorm per-task gradient norms GPU vs CPU (1e-4), GPU repeat bitwise", test_gradnorm_norms},
        {NULL, NULL}};
    testutil_add_suite("cuda ops", ops);
    testutil_add_suite("cuda model", model);
    int rc = testutil_run_all();
    g_cpu->destroy(g_cpu);
    g_gpu->destroy(g_gpu);
    return rc;
}

/* naive_attention.c — the self-attention family
 * (kernels/cpu/attention.c, kernels/cuda/attention.cu): the double-precision
 * references, their Backend wrappers, the cases every backend is checked on
 * and the finite-difference checks of the references' backward
 * (reference/op_check.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_bf16.h"
#include "naive.h"
#include "op_check.h"
#include "util.h"

/* ---- the references ------------------------------------------------------------------ */

/* Index helpers: q/k/v element d of head h at token t of batch b, and the
 * attention element (b, h, i, j). */
static size_t qkv_at(int b, int t, int part, int h, int d, int T, int C, int hs) {
    return ((size_t)b * T + t) * 3 * C + (size_t)part * C + (size_t)h * hs + d;
}
static size_t att_at(int b, int h, int i, int j, int NH, int T) {
    return (((size_t)b * NH + h) * T + i) * T + j;
}

/* An input of a product as the bf16 backend sees it (r16 1): computed in
 * fp32 there, then rounded to bf16 (nearest even). r16 0: x itself. */
static double rb(double x, int r16) {
    return r16 ? bf16_to_float(bf16_round((float)x)) : x;
}

/* r16 1: the bf16 backend's products (kernels/backend.h), every input of
 * S = q k^T and out = P' v rounded to bf16 first (rb). */
static void naive_attention_forward(double *out, double *att, const double *qkv, const int *mask, int B,
                                    int T, int C, int NH, float p_drop, uint64_t seed, uint32_t step,
                                    uint32_t stream, uint64_t first, int r16) {
    int hs = C / NH;
    double scale = 1.0 / sqrt((double)hs);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < T; i++) {
                double *P = att + att_at(b, h, i, 0, NH, T);
                double mx = -INFINITY;
                for (int j = 0; j < T; j++) {
                    double s = 0;
                    for (int d = 0; d < hs; d++)
                        s += rb(qkv[qkv_at(b, i, 0, h, d, T, C, hs)], r16) * rb(qkv[qkv_at(b, j, 1, h, d, T, C, hs)], r16);
                    P[j] = s * scale;
                    if (mask[b * T + j] && P[j] > mx) mx = P[j];
                }
                double sum = 0;
                for (int j = 0; j < T; j++) {
                    P[j] = mask[b * T + j] ? exp(P[j] - mx) : 0.0;
                    sum += P[j];
                }
                for (int j = 0; j < T; j++) P[j] = sum > 0 ? P[j] / sum : 0.0;
                for (int d = 0; d < hs; d++) {
                    double o = 0;
                    for (int j = 0; j < T; j++)
                        o += rb(P[j] * naive_drop_factor(first + att_at(b, h, i, j, NH, T), p_drop, seed, step, stream),
                                r16) *
                             rb(qkv[qkv_at(b, j, 2, h, d, T, C, hs)], r16);
                    out[((size_t)b * T + i) * C + (size_t)h * hs + d] = o;
                }
                for (int j = 0; j < T; j++) /* saved as -P where dropped (ops.h) */
                    if (naive_drop_factor(first + att_at(b, h, i, j, NH, T), p_drop, seed, step, stream) == 0.0)
                        P[j] = -P[j];
            }
}

/* With P' = P * f (f the dropout factor; P = |att|, the sign only marks the
 * dropped, and f is drawn again here):
 *   dv_j += sum_i P'_ij dO_i ;  dP_ij = f_ij (dO_i . v_j)
 *   dS_ij = P_ij (dP_ij - sum_k P_ik dP_ik)
 *   dq_i += sum_j dS_ij k_j / sqrt(hs) ;  dk_j += sum_i dS_ij q_i / sqrt(hs)
 * r16 1: the bf16 backend's products, every factor of the four sums rounded
 * to bf16 (rb: dO, v, P' = P f, dS, k, q); the rest in double. */
static void naive_attention_backward(double *dqkv, const double *dout, const double *qkv,
                                     const double *att, const int *mask, int B, int T, int C, int NH,
                                     float p_drop, uint64_t seed, uint32_t step, uint32_t stream,
                                     uint64_t first, int r16) {
    (void)mask; /* masked keys already have P = 0, hence dS = 0 */
    int hs = C / NH;
    double scale = 1.0 / sqrt((double)hs);
    double *dP = xmalloc((size_t)T * sizeof *dP), *P = xmalloc((size_t)T * sizeof *P);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < T; i++) {
                const double *A = att + att_at(b, h, i, 0, NH, T);
                for (int j = 0; j < T; j++) P[j] = fabs(A[j]);
                const double *dO = dout + ((size_t)b * T + i) * C + (size_t)h * hs;
                double rowdot = 0;
                for (int j = 0; j < T; j++) {
                    double f = naive_drop_factor(first + att_at(b, h, i, j, NH, T), p_drop, seed, step, stream);
                    double dpd = 0;
                    for (int d = 0; d < hs; d++) {
                        dpd += rb(dO[d], r16) * rb(qkv[qkv_at(b, j, 2, h, d, T, C, hs)], r16);
                        dqkv[qkv_at(b, j, 2, h, d, T, C, hs)] += rb(P[j] * f, r16) * rb(dO[d], r16);
                    }
                    dP[j] = f * dpd;
                    rowdot += P[j] * dP[j];
                }
                for (int j = 0; j < T; j++) {
                    double dS = rb(P[j] * (dP[j] - rowdot), r16);
                    for (int d = 0; d < hs; d++) {
                        dqkv[qkv_at(b, i, 0, h, d, T, C, hs)] +=
                            dS * rb(qkv[qkv_at(b, j, 1, h, d, T, C, hs)], r16) * scale;
                        dqkv[qkv_at(b, j, 1, h, d, T, C, hs)] +=
                            dS * rb(qkv[qkv_at(b, i, 0, h, d, T, C, hs)], r16) * scale;
                    }
                }
            }
    free(dP), free(P);
}

/* ---- behind the Backend interface ------------------------------------------------------ */

void nv_attention_forward(Backend *be, float *out, float *att, float *scratch, const float *qkv,
                          const int *mask, int B, int T, int C, int NH, float p, uint64_t seed,
                          uint32_t step, uint32_t stream, uint64_t first) {
    (void)scratch;
    size_t nq = (size_t)B * T * 3 * C, no = (size_t)B * T * C, na = (size_t)B * NH * T * T;
    double *q = to_d(qkv, nq, 0), *o = xmalloc(no * sizeof *o), *a = xmalloc(na * sizeof *a);
    naive_attention_forward(o, a, q, mask, B, T, C, NH, p, seed, step, stream, first, bf16_of(be));
    back_f(out, o, no);
    back_f(att, a, na); /* att NULL (inference, ops.h): only frees a */
    free(q);
}

void nv_attention_backward(Backend *be, float *dqkv, float *scratch, const float *dout,
                           const float *qkv, const float *att, const int *mask, int B, int T,
                           int C, int NH, float p, uint64_t seed, uint32_t step, uint32_t stream,
                           uint64_t first) {
    (void)scratch;
    size_t nq = (size_t)B * T * 3 * C, no = (size_t)B * T * C, na = (size_t)B * NH * T * T;
    double *g = to_d(dqkv, nq, 0), *d = to_d(dout, no, 0), *q = to_d(qkv, nq, 0), *a;
    if (att) {
        a = to_d(att, na, 0);
    } else { /* recomputed (ops.h): the forward's P */
        double *o = xmalloc(no * sizeof *o);
        a = xmalloc(na * sizeof *a);
        naive_attention_forward(o, a, q, mask, B, T, C, NH, p, seed, step, stream, first, bf16_of(be));
        for (size_t i = 0; i < na; i++) a[i] = (double)(float)a[i]; /* as a stored float P */
        free(o);
    }
    naive_attention_backward(g, d, q, a, mask, B, T, C, NH, p, seed, step, stream, first, bf16_of(be));
    back_f(dqkv, g, nq);
    free(d), free(q), free(a);
}

/* ---- the cases of tests/test_backend_ops.c ------------------------------------------------ */

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

/* The inputs every attention case starts from, p = B, T, C, NH: the masks
 * above, qkv, and out filled with junk (so that a kernel must write it). */
typedef struct {
    int B, T, C, NH;
    size_t BTC, na;
    int *mask;
    float *qkv, *out;
} AttnIn;

static AttnIn attn_inputs(const OpCase *c, Bufs *b) {
    AttnIn in = {c->p[0], c->p[1], c->p[2], c->p[3], 0, 0, NULL, NULL, NULL};
    size_t BT = (size_t)in.B * in.T;
    in.BTC = BT * in.C;
    in.na = (size_t)in.B * in.NH * in.T * in.T;
    int *mask = xmalloc(BT * sizeof *mask);
    for (int r = 0; r < in.B; r++)
        for (int t = 0; t < in.T; t++) mask[(size_t)r * in.T + t] = mask_value(r, t, in.T);
    in.mask = up_i(b, mask, BT);
    in.qkv = up_f(b, rnd(3 * in.BTC, 30, -2, 2), 3 * in.BTC);
    in.out = up_f(b, rnd(in.BTC, 33, -9, 9), in.BTC);
    return in;
}

/* attention: p = B, T, C, NH; f = dropout p; first */
static void run_attention(const OpCase *c, Backend *be, Outs *o) {
    Bufs b = {be, {0}, 0};
    AttnIn in = attn_inputs(c, &b);
    float *dout = up_f(&b, rnd(in.BTC, 31, -1, 1), in.BTC), *g = up_f(&b, rnd(3 * in.BTC, 32, -1, 1), 3 * in.BTC);
    float *att = up_f(&b, rnd(in.na, 34, -9, 9), in.na), *scr = empty_f(&b, 4 * in.BTC + in.na);
    uint64_t seed = 0x5eedULL;
    be->attention_forward(be, in.out, att, scr, in.qkv, in.mask, in.B, in.T, in.C, in.NH, c->f, seed, 3, 17, c->first);
    be->attention_backward(be, g, scr, dout, in.qkv, att, in.mask, in.B, in.T, in.C, in.NH, c->f, seed, 3, 17,
                           c->first);
    take(o, be, "out", in.out, in.BTC, ATTN);
    take(o, be, "att", att, in.na, ELEM);
    take(o, be, "dqkv (accumulated)", g, 3 * in.BTC, ATTN);
    bufs_free(&b);
}

/* Forward + backward into out, g (filled as attn_inputs / run_attention do) with P stored
 * in att, or, att NULL, recomputed by the backward. */
static void attention_pass(Backend *be, Bufs *b, const AttnIn *in, const OpCase *c, float *att, float **out,
                           float **g) {
    *out = up_f(b, rnd(in->BTC, 33, -9, 9), in->BTC);
    *g = up_f(b, rnd(3 * in->BTC, 32, -1, 1), 3 * in->BTC);
    float *dout = up_f(b, rnd(in->BTC, 31, -1, 1), in->BTC), *scr = empty_f(b, 4 * in->BTC + in->na);
    be->attention_forward(be, *out, att, scr, in->qkv, in->mask, in->B, in->T, in->C, in->NH, c->f, 0x5eedULL, 3,
                          17, c->first);
    be->attention_backward(be, *g, scr, dout, in->qkv, att, in->mask, in->B, in->T, in->C, in->NH, c->f, 0x5eedULL,
                           3, 17, c->first);
}

/* Training without a stored P (ops.h, attn_recompute_ok): forward and backward with att NULL,
 * with dropout, against the reference, and bit for bit against the same backend with P
 * stored. A backend that always stores P runs the stored path twice. */
static void run_attention_recompute(const OpCase *c, Backend *be, Outs *o) {
    Bufs b = {be, {0}, 0};
    AttnIn in = attn_inputs(c, &b);
    float *out1, *g1, *out2, *g2;
    attention_pass(be, &b, &in, c, be->attn_recompute_ok ? NULL : empty_f(&b, in.na), &out1, &g1);
    attention_pass(be, &b, &in, c, empty_f(&b, in.na), &out2, &g2);
    size_t n = 4 * in.BTC;
    float *h1 = xmalloc(n * sizeof *h1), *h2 = xmalloc(n * sizeof *h2);
    be->download(be, h1, out1, in.BTC * sizeof *h1), be->download(be, h1 + in.BTC, g1, 3 * in.BTC * sizeof *h1);
    be->download(be, h2, out2, in.BTC * sizeof *h2), be->download(be, h2 + in.BTC, g2, 3 * in.BTC * sizeof *h2);
    take(o, be, "out (att NULL)", out1, in.BTC, ATTN);
    take(o, be, "dqkv (P recomputed)", g1, 3 * in.BTC, ATTN);
    take_value(o, "recomputed == stored, bit for bit", memcmp(h1, h2, n * sizeof *h1) == 0, ELEM);
    free(h1), free(h2);
    bufs_free(&b);
}

/* the forward of inference (ops.h): att NULL, no dropout; only out exists */
static void run_attention_no_att(const OpCase *c, Backend *be, Outs *o) {
    Bufs b = {be, {0}, 0};
    AttnIn in = attn_inputs(c, &b);
    float *scr = empty_f(&b, 4 * in.BTC + in.na);
    be->attention_forward(be, in.out, NULL, scr, in.qkv, in.mask, in.B, in.T, in.C, in.NH, 0.0f, 0x5eedULL, 3, 17, 0);
    take(o, be, "out (att NULL)", in.out, in.BTC, ATTN);
    bufs_free(&b);
}

const OpCase op_cases_attention[] = {
    {"attention, att NULL", run_attention_no_att, {5, 45, 96, 3}, 0.0f, 0, 0},
    {"attention, att NULL", run_attention_no_att, {3, 13, 36, 4}, 0.0f, 0, 0},
    {"attention, P recomputed", run_attention_recompute, {5, 45, 96, 3}, 0.1f, 0, 0},
    {"attention, P recomputed", run_attention_recompute, {4, 32, 64, 4}, 0.1f, 0, 0},
    {"attention, P recomputed", run_attention_recompute, {5, 21, 96, 2}, 0.0f, 0, 0},
    {"attention, P recomputed", run_attention_recompute, {3, 13, 36, 4}, 0.2f, 4 * 13 * 13 + 1, 0},
    {"attention", run_attention, {2, 7, 20, 2}, 0.0f, 0, 0},
    {"attention", run_attention, {3, 13, 36, 4}, 0.0f, 0, 0},
    {"attention", run_attention, {5, 13, 36, 4}, 0.2f, 0, 0},
    {"attention", run_attention, {5, 33, 48, 3}, 0.5f, 0, 0},
    {"attention", run_attention, {4, 64, 64, 4}, 0.1f, 0, 0},
    {"attention", run_attention, {1, 1, 8, 2}, 0.0f, 0, 0},
    {"attention", run_attention, {3, 13, 36, 4}, 0.2f, 4 * 13 * 13 + 1, 0}, /* a slice's RNG offset */
    /* head sizes of the CPU kernel's vector paths: hs 32 (MiniLM: 2 vectors), 48 (2 + 1),
     * 64 (2 + 2), with T not a multiple of 16 and more than 8 rows (full row blocks + a tail) */
    {"attention", run_attention, {5, 45, 96, 3}, 0.1f, 0, 0},
    {"attention", run_attention, {5, 21, 96, 2}, 0.0f, 0, 0},
    {"attention", run_attention, {5, 40, 128, 2}, 0.3f, 0, 0},
    /* hs 24: 16 x 16 transposes with a column tail, on both sides of every transpose */
    {"attention", run_attention, {3, 40, 72, 3}, 0.1f, 0, 0},
    {"attention, P recomputed", run_attention_recompute, {3, 37, 72, 3}, 0.0f, 0, 0},
    /* T past the CPU backward's row block (64): several blocks and a partial one, whose
     * dv and dk sum over the blocks */
    {"attention", run_attention, {2, 150, 64, 2}, 0.1f, 0, 0},
    {"attention, P recomputed", run_attention_recompute, {2, 139, 64, 2}, 0.2f, 0, 0},
    {NULL, NULL, {0}, 0, 0, 0}};

/* ---- finite differences (tests/test_gradcheck.c) --------------------------------------- */

typedef struct {
    int B, T, C, NH;
    float p;
    const int *mask;
    double *qkv, *out, *att, *r;
} AttP;

static double attention_loss(void *p) {
    AttP *a = p; /* same seed/step/stream each call: the same dropout mask */
    naive_attention_forward(a->out, a->att, a->qkv, a->mask, a->B, a->T, a->C, a->NH, a->p, 9, 8, 7, 0, 0);
    return dotd(a->r, a->out, (size_t)a->B * a->T * a->C);
}

static void check_fd_attention(float p) {
    /* batch 0: padded tail; batch 1: only position 0 real; holes in batch 2 */
    static const int mask[] = {1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 1, 1, 0};
    AttP a = {3, 5, 8, 2, p, mask, NULL, NULL, NULL, NULL};
    size_t nq = (size_t)a.B * a.T * 3 * a.C, no = (size_t)a.B * a.T * a.C;
    a.qkv = rndd(nq, 40, -1.5, 1.5), a.out = zerosd(no), a.r = rndd(no, 41, -1, 1);
    a.att = zerosd((size_t)a.B * a.NH * a.T * a.T);
    double *dq = zerosd(nq);
    attention_loss(&a);
    naive_attention_backward(dq, a.r, a.qkv, a.att, mask, a.B, a.T, a.C, a.NH, p, 9, 8, 7, 0, 0);
    char label[64];
    snprintf(label, sizeof label, "attention d/dqkv (mask, p=%.1f)", (double)p);
    CU_ASSERT(fd_check(label, attention_loss, &a, a.qkv, dq, nq, FD_EPS, FD_TOL, FD_FLOOR));
    free(a.qkv), free(a.out), free(a.att), free(a.r), free(dq);
}

static void test_fd_attention(void) {
    check_fd_attention(0.0f);
    check_fd_attention(0.2f);
}

const TestCase op_fd_attention[] = {
    {"FD: attention with mask, dropout off/on (naive)", test_fd_attention},
    {NULL, NULL}};

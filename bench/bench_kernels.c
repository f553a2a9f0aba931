/* bench_kernels.c — per-op timings at the shapes of one training step
 * (see bench_kernels.h for what is counted). */
#include "bench_kernels.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_kernels_cuda.h"
#include "peak.h"

typedef OpId OpKind; /* kernels/ops.h */

/* One benchmarked op: which kernel, its name, calls per step and sizes.
 * Matmul: N, C, OC. Cross-entropy: N rows of OC classes. Elementwise and
 * optimiser ops: n elements. */
typedef struct {
    OpKind kind;
    const char *name;
    int calls;
    int N, C, OC;
    size_t n;
} OpSpec;

/* Model sizes of the step; R: LoRA rank (0: a full fine-tuning step). */
typedef struct {
    int B, T, N, C, NH, F, L, V, maxT, nl, R;
    size_t nparams;
    int keep_att; /* the backend stores P for the backward (no attn_recompute, ops.h) */
    int lora_merged; /* the model runs the projections on merged weights (matmul_exact):
                        lora_merge twice per projection and pass, no lora_forward, no out /
                        dinp pass, u recomputed by lora_backward (ops.h) */
} Dims;

/* Backend buffers, each sized for the largest op that uses it. */
typedef struct {
    float *x, *y, *dx, *dy, *w, *dw, *bias, *dbias;
    float *qkv, *dqkv, *att, *scratch;
    float *wte, *wpe, *wtt, *dwte, *dwpe, *dwtt;
    float *mean, *rstd, *lnw, *lnb, *dlnw, *dlnb;
    float *logits, *probs, *dlogits, *losses;
    float *p, *g, *m, *v;
    float *la, *lb, *lu, *ldu, *lda, *ldb; /* LoRA A, B, u, du, dA, dB (R > 0 only) */
    int *ids, *tt, *mask, *targets;
} Bufs;

/* ---- sizes ------------------------------------------------------------------ */

/* Parameter count in the layout of impl/model/model.h: embeddings (+ LN), L layers,
 * the heads the config carries. */
static size_t count_params(const ModelConfig *c) {
    size_t C = (size_t)c->C, F = (size_t)c->FFN;
    size_t emb = ((size_t)c->V + c->maxT + c->type_vocab) * C + 2 * C;
    size_t layer = (3 * C * C + 3 * C) + (C * C + C) + (C * F + F) + (F * C + C) + 4 * C;
    size_t heads = ((c->heads & HEAD_NER) ? (size_t)c->num_labels * (C + 1) : 0) +
                   ((c->heads & HEAD_QA) ? 2 * (C + 1) : 0);
    return emb + (size_t)c->L * layer + heads;
}

static Dims make_dims(const ModelConfig *c, int B, int T) {
    Dims d = {B, T, B * T, c->C, c->NH, c->FFN, c->L, c->V, c->maxT, c->num_labels, c->lora_rank, 0, 0, 0};
    d.nparams = count_params(c);
    return d;
}

static int imax(int a, int b) { return a > b ? a : b; }

/* ---- the ops of one joint step ------------------------------------------------ */

static int add_spec(OpSpec *s, int k, OpKind kind, const char *name, int calls, int N, int C,
                    int OC, size_t n) {
    s[k] = (OpSpec){kind, name, calls, N, C, OC, n};
    return k + 1;
}

/* Two passes (NER, QA) through the encoder, the two heads, the optimiser. */
static int build_specs(OpSpec *s, const Dims *d) {
    int k = 0, L2 = 2 * d->L, N = d->N, C = d->C, F = d->F;
    size_t NC = (size_t)N * C, NF = (size_t)N * F;
    k = add_spec(s, k, OP_embed_forward, "embed_forward", 2, N, C, 0, 0);
    k = add_spec(s, k, OP_embed_backward, "embed_backward", 2, N, C, 0, 0);
    k = add_spec(s, k, OP_layernorm_forward, "layernorm_forward", 2 + 2 * L2, N, C, 0, 0);
    k = add_spec(s, k, OP_layernorm_backward, "layernorm_backward", 2 + 2 * L2, N, C, 0, 0);
    const struct { const char *f, *b; int c, oc, calls; } mm[] = {
        {"matmul_forward.qkv", "matmul_backward.qkv", C, 3 * C, L2},
        {"matmul_forward.attproj", "matmul_backward.attproj", C, C, L2},
        {"matmul_forward.fc_up", "matmul_backward.fc_up", C, F, L2},
        {"matmul_forward.fc_down", "matmul_backward.fc_down", F, C, L2},
        {"matmul_forward.ner_head", "matmul_backward.ner_head", C, d->nl, 1},
        {"matmul_forward.qa_head", "matmul_backward.qa_head", C, 2, 1},
    };
    for (size_t i = 0; i < sizeof mm / sizeof mm[0]; i++) {
        k = add_spec(s, k, OP_matmul_forward, mm[i].f, mm[i].calls, N, mm[i].c, mm[i].oc, 0);
        k = add_spec(s, k, OP_matmul_backward, mm[i].b, mm[i].calls, N, mm[i].c, mm[i].oc, 0);
    }
    if (d->R > 0) { /* LoRA: each targeted projection's adapter, in both passes (n = R) */
        const struct { const char *f, *b, *m; int c, oc; } lo[] = {
            {"lora_forward.qkv", "lora_backward.qkv", "lora_merge.qkv", C, 3 * C},
            {"lora_forward.attproj", "lora_backward.attproj", "lora_merge.attproj", C, C},
            {"lora_forward.fc_up", "lora_backward.fc_up", "lora_merge.fc_up", C, F},
            {"lora_forward.fc_down", "lora_backward.fc_down", "lora_merge.fc_down", F, C}};
        for (size_t i = 0; i < sizeof lo / sizeof lo[0]; i++) {
            if (!d->lora_merged) k = add_spec(s, k, OP_lora_forward, lo[i].f, L2, N, lo[i].c, lo[i].oc, (size_t)d->R);
            k = add_spec(s, k, OP_lora_backward, lo[i].b, L2, N, lo[i].c, lo[i].oc, (size_t)d->R);
            if (d->lora_merged) k = add_spec(s, k, OP_lora_merge, lo[i].m, 2 * L2, N, lo[i].c, lo[i].oc, (size_t)d->R);
        }
    }
    k = add_spec(s, k, OP_attention_forward, "attention_forward", L2, N, C, 0, 0);
    k = add_spec(s, k, OP_attention_backward, "attention_backward", L2, N, C, 0, 0);
    k = add_spec(s, k, OP_gelu_forward, "gelu_forward", L2, 0, 0, 0, NF);
    k = add_spec(s, k, OP_gelu_backward, "gelu_backward", L2, 0, 0, 0, NF);
    k = add_spec(s, k, OP_residual_forward, "residual_forward", 2 * L2, 0, 0, 0, NC);
    k = add_spec(s, k, OP_residual_backward, "residual_backward", 2 * L2, 0, 0, 0, NC);
    /* sites: embeddings and 2 per layer in both passes, plus the NER head input */
    k = add_spec(s, k, OP_dropout_forward, "dropout_forward", 3 + 2 * L2, 0, 0, 0, NC);
    k = add_spec(s, k, OP_dropout_backward, "dropout_backward", 3 + 2 * L2, 0, 0, 0, NC);
    k = add_spec(s, k, OP_crossentropy_forward, "crossentropy_forward.ner", 1, N, 0, d->nl, 0);
    k = add_spec(s, k, OP_crossentropy_backward, "crossentropy_backward.ner", 1, N, 0, d->nl, 0);
    k = add_spec(s, k, OP_crossentropy_forward, "crossentropy_forward.qa", 1, 2 * d->B, 0, d->T, 0);
    k = add_spec(s, k, OP_crossentropy_backward, "crossentropy_backward.qa", 2, d->B, 0, d->T, 0);
    k = add_spec(s, k, OP_qa_split_forward, "qa_split_forward", 1, N, 0, 0, 0);
    k = add_spec(s, k, OP_qa_split_backward, "qa_split_backward", 1, N, 0, 0, 0);
    k = add_spec(s, k, OP_sumsq, "sumsq", 1, 0, 0, 0, d->nparams);
    k = add_spec(s, k, OP_scale, "scale", 1, 0, 0, 0, d->nparams);
    k = add_spec(s, k, OP_adamw_update, "adamw_update", 1, 0, 0, 0, d->nparams);
    return k;
}

enum { MAX_SPECS = 48 };

/* FLOPs of a GEMM op per call (0 for the others). */
static double spec_flops(const OpSpec *s, const Dims *d) {
    double gemm = 2.0 * s->N * (double)s->C * s->OC;
    double attn = 4.0 * d->B * (double)d->T * d->T * d->C; /* q k^T and P v */
    switch (s->kind) {
    case OP_matmul_forward: return gemm;
    case OP_matmul_backward: return 2 * gemm;
    /* u = x A^T, out += s u B^T: 2NR(C + OC); backward du, dB, dA, dx: twice that
     * (merged: no forward; the backward u again, du, dB, dA, no dx: 2NR(2 OC + 2 C);
     * the merge 2 OC R C) */
    case OP_lora_forward: return 2.0 * s->N * (double)s->n * (s->C + s->OC);
    case OP_lora_backward: return 2.0 * s->N * (double)s->n * (2.0 * s->OC + 2.0 * s->C);
    case OP_lora_merge: return 2.0 * s->OC * (double)s->n * s->C;
    case OP_attention_forward: return attn;
    case OP_attention_backward: return 2 * attn; /* model FLOPs: a recomputed S = q k^T not counted */
    default: return 0;
    }
}

/* Bytes read + written per call, each tensor of the op's interface once (a
 * += output read and written; for the GEMM ops this is the compulsory
 * traffic, the x of their roofline point: FLOPs / these bytes). */
static double spec_bytes(const OpSpec *s, const Dims *d) {
    double NC = (double)s->N * s->C, n = (double)s->n, N = s->N, C = s->C;
    double NV = (double)s->N * s->OC, W = (double)s->OC * s->C, OC = s->OC;
    double BTC = (double)d->B * d->T * d->C, P = (double)d->B * d->NH * d->T * d->T;
    switch (s->kind) {
    case OP_matmul_forward: return 4 * (NC + W + OC + NV);
    case OP_matmul_backward: return 4 * (NV + NC + W + 2 * NC + 2 * W + 2 * OC);
    /* R = n: x, A, B in, u out, out += ; dout, x, u, A, B in, du out, dA, dB, dx +=
     * (merged: no forward; the backward without u in and dx; the merge: W, A, B in, W' out) */
    case OP_lora_forward: return 4 * (NC + n * C + OC * n + N * n + 2 * NV);
    case OP_lora_backward:
        return 4 * (NV + NC + (d->lora_merged ? 1 : 2) * N * n + 3 * n * C + 3 * OC * n + (d->lora_merged ? 0 : 2 * NC));
    case OP_lora_merge: return 4 * (2 * W + n * C + OC * n);
    /* qkv in, out out (+ P out); dout, qkv in (+ P in), dqkv += */
    case OP_attention_forward: return 4 * (4 * BTC + (d->keep_att ? P : 0));
    case OP_attention_backward: return 4 * (10 * BTC + (d->keep_att ? P : 0));
    case OP_embed_forward: return 4 * (4 * NC + 2 * N);
    case OP_embed_backward: return 4 * (3 * NC + 2.0 * d->T * C + 4 * C + 2 * N);
    case OP_layernorm_forward: return 4 * (2 * NC + 2 * C + 2 * N);
    case OP_layernorm_backward: return 4 * (4 * NC + 5 * C + 2 * N);
    case OP_gelu_forward: return 4 * 2 * n;
    case OP_gelu_backward: return 4 * 4 * n;
    case OP_residual_forward: return 4 * 3 * n;
    case OP_residual_backward: return 4 * 5 * n;
    case OP_dropout_forward: return 4 * 2 * n;
    case OP_dropout_backward: return 4 * 3 * n;
    case OP_crossentropy_forward: return 4 * (2 * NV + 2 * N);
    case OP_crossentropy_backward: return 4 * (3 * NV + N);
    case OP_qa_split_forward: return 4 * 4 * N;
    case OP_qa_split_backward: return 4 * 6 * N;
    case OP_sumsq: return 4 * n;
    case OP_scale: return 4 * 2 * n;
    case OP_adamw_update: return 4 * 7 * n;
    default: return 0;
    }
}

static void spec_shape(char *buf, size_t len, const OpSpec *s, const Dims *d) {
    switch (s->kind) {
    case OP_matmul_forward:
    case OP_matmul_backward: snprintf(buf, len, "N=%d C=%d OC=%d", s->N, s->C, s->OC); break;
    case OP_lora_forward:
    case OP_lora_backward: snprintf(buf, len, "N=%d C=%d OC=%d R=%zu", s->N, s->C, s->OC, s->n); break;
    case OP_lora_merge: snprintf(buf, len, "OC=%d C=%d R=%zu", s->OC, s->C, s->n); break;
    case OP_attention_forward:
    case OP_attention_backward: snprintf(buf, len, "B=%d T=%d C=%d NH=%d", d->B, d->T, d->C, d->NH); break;
    case OP_crossentropy_forward:
    case OP_crossentropy_backward: snprintf(buf, len, "N=%d V=%d", s->N, s->OC); break;
    case OP_embed_forward:
    case OP_embed_backward: snprintf(buf, len, "B=%d T=%d C=%d", d->B, d->T, d->C); break;
    case OP_layernorm_forward:
    case OP_layernorm_backward: snprintf(buf, len, "N=%d C=%d", s->N, s->C); break;
    case OP_qa_split_forward:
    case OP_qa_split_backward: snprintf(buf, len, "B=%d T=%d", d->B, d->T); break;
    default: snprintf(buf, len, "n=%zu", s->n); break;
    }
}

/* ---- buffers ---------------------------------------------------------------- */

/* xorshift32: fast host-side fill, the values only need to be ordinary. */
static uint32_t xs_next(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static float *dev_floats(Backend *be, float *host, size_t n, float scale, uint32_t seed) {
    uint32_t s = seed | 1u;
    for (size_t i = 0; i < n; i++)
        host[i] = scale * ((float)(xs_next(&s) >> 8) * (2.0f / 16777216.0f) - 1.0f);
    float *p = be->alloc(be, n * sizeof *p);
    be->upload(be, p, host, n * sizeof *p);
    return p;
}

static int *dev_ints(Backend *be, int *host, size_t n, int hi, uint32_t seed) {
    uint32_t s = seed | 1u;
    for (size_t i = 0; i < n; i++) host[i] = hi > 1 ? (int)(xs_next(&s) % (uint32_t)hi) : hi;
    int *p = be->alloc(be, n * sizeof *p);
    be->upload(be, p, host, n * sizeof *p);
    return p;
}

static size_t max_floats(const Dims *d) {
    size_t NC = (size_t)d->N * d->C, big = (size_t)d->N * imax(3 * d->C, d->F);
    size_t att = (size_t)d->B * d->NH * d->T * d->T;
    size_t m = big > d->nparams ? big : d->nparams;
    m = m > 4 * NC + att ? m : 4 * NC + att;
    size_t tables = (size_t)d->V * d->C;
    return m > tables ? m : tables;
}

static void alloc_bufs(Backend *be, Bufs *b, const Dims *d) {
    memset(b, 0, sizeof *b); /* the LoRA buffers stay NULL without --lora-rank: free_bufs skips them */
    size_t N = d->N, NC = N * d->C, big = N * imax(3 * d->C, d->F), C = d->C;
    size_t wbig = C * imax(3 * d->C, d->F), att = (size_t)d->B * d->NH * d->T * d->T;
    size_t nlog = N * imax(d->nl, 2), np = d->nparams;
    float *h = xmalloc(max_floats(d) * sizeof *h);
    b->x = dev_floats(be, h, big, 1.0f, 1), b->y = dev_floats(be, h, big, 1.0f, 2);
    b->dx = dev_floats(be, h, big, 0.01f, 3), b->dy = dev_floats(be, h, big, 0.01f, 4);
    b->w = dev_floats(be, h, wbig, 0.05f, 5), b->dw = dev_floats(be, h, wbig, 0.01f, 6);
    b->bias = dev_floats(be, h, imax(3 * d->C, d->F), 0.05f, 7);
    b->dbias = dev_floats(be, h, imax(3 * d->C, d->F), 0.01f, 8);
    b->qkv = dev_floats(be, h, 3 * NC, 1.0f, 9), b->dqkv = dev_floats(be, h, 3 * NC, 0.01f, 10);
    b->att = dev_floats(be, h, att, 0.0f, 11), b->scratch = dev_floats(be, h, 4 * NC + att, 0.0f, 12);
    b->wte = dev_floats(be, h, (size_t)d->V * C, 0.05f, 13);
    b->dwte = dev_floats(be, h, (size_t)d->V * C, 0.01f, 14);
    b->wpe = dev_floats(be, h, (size_t)d->maxT * C, 0.05f, 15);
    b->dwpe = dev_floats(be, h, (size_t)d->maxT * C, 0.01f, 16);
    b->wtt = dev_floats(be, h, 2 * C, 0.05f, 17), b->dwtt = dev_floats(be, h, 2 * C, 0.01f, 18);
    b->mean = dev_floats(be, h, N, 0.1f, 19), b->rstd = dev_floats(be, h, N, 0.0f, 20);
    b->lnw = dev_floats(be, h, C, 1.0f, 21), b->lnb = dev_floats(be, h, C, 0.1f, 22);
    b->dlnw = dev_floats(be, h, C, 0.01f, 23), b->dlnb = dev_floats(be, h, C, 0.01f, 24);
    b->logits = dev_floats(be, h, nlog, 2.0f, 25), b->probs = dev_floats(be, h, nlog, 0.0f, 26);
    b->dlogits = dev_floats(be, h, nlog, 0.01f, 27), b->losses = dev_floats(be, h, N, 0.0f, 28);
    b->p = dev_floats(be, h, np, 0.05f, 29), b->g = dev_floats(be, h, np, 0.01f, 30);
    b->m = dev_floats(be, h, np, 0.001f, 31), b->v = dev_floats(be, h, np, 0.0f, 32);
    if (d->R > 0) { /* A [R, in], B [out, R], u / du [N, R] for the largest projection */
        size_t ar = (size_t)d->R * imax(3 * d->C, d->F), nr = N * (size_t)d->R;
        b->la = dev_floats(be, h, ar, 0.1f, 37), b->lb = dev_floats(be, h, ar, 0.05f, 38);
        b->lda = dev_floats(be, h, ar, 0.01f, 39), b->ldb = dev_floats(be, h, ar, 0.01f, 40);
        b->lu = dev_floats(be, h, nr, 0.1f, 41), b->ldu = dev_floats(be, h, nr, 0.0f, 42);
    }
    free(h);
    size_t nt = N > 2 * (size_t)d->B ? N : 2 * (size_t)d->B; /* NER rows, or 2B QA rows */
    int *hi = xmalloc(nt * sizeof *hi);
    b->ids = dev_ints(be, hi, N, d->V, 33), b->tt = dev_ints(be, hi, N, 2, 34);
    b->mask = dev_ints(be, hi, N, 1, 35); /* hi = 1: all ones, no padding */
    b->targets = dev_ints(be, hi, nt, d->nl < d->T ? d->nl : d->T, 36);
    free(hi);
}

static void free_bufs(Backend *be, Bufs *b) {
    void *all[] = {b->x, b->y, b->dx, b->dy, b->w, b->dw, b->bias, b->dbias, b->qkv, b->dqkv,
                   b->att, b->scratch, b->wte, b->wpe, b->wtt, b->dwte, b->dwpe, b->dwtt,
                   b->mean, b->rstd, b->lnw, b->lnb, b->dlnw, b->dlnb, b->logits, b->probs,
                   b->dlogits, b->losses, b->p, b->g, b->m, b->v, b->ids, b->tt, b->mask,
                   b->targets, b->la, b->lb, b->lu, b->ldu, b->lda, b->ldb};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]) be->free(be, all[i]);
}

/* ---- running ----------------------------------------------------------------- */

static void run_op(Backend *be, const OpSpec *s, const Dims *d, Bufs *b) {
    int N = s->N, C = s->C, B = d->B, T = d->T;
    switch (s->kind) {
    case OP_embed_forward: be->embed_forward(be, b->y, b->ids, b->tt, b->wte, b->wpe, b->wtt, B, T, C); break;
    case OP_embed_backward: be->embed_backward(be, b->dwte, b->dwpe, b->dwtt, b->dy, b->ids, b->tt, B, T, C); break;
    case OP_layernorm_forward: be->layernorm_forward(be, b->y, b->mean, b->rstd, b->x, b->lnw, b->lnb, N, C, 1e-12f); break;
    case OP_layernorm_backward:
        be->layernorm_backward(be, b->dx, b->dlnw, b->dlnb, b->dy, b->x, b->lnw, b->mean, b->rstd, N, C);
        break;
    case OP_matmul_forward: be->matmul_forward(be, b->y, b->x, b->w, b->bias, N, C, s->OC); break;
    case OP_matmul_backward: be->matmul_backward(be, b->dx, b->dw, b->dbias, b->dy, b->x, b->w, N, C, s->OC); break;
    case OP_attention_forward: /* as training calls it: P stored only where the backward needs it */
        be->attention_forward(be, b->y, d->keep_att ? b->att : NULL, b->scratch, b->qkv, b->mask, B, T, C, d->NH,
                              0.1f, 1, 1, 1, 0);
        break;
    case OP_attention_backward:
        be->attention_backward(be, b->dqkv, b->scratch, b->dy, b->qkv, d->keep_att ? b->att : NULL, b->mask, B, T,
                               C, d->NH, 0.1f, 1, 1, 1, 0);
        break;
    case OP_gelu_forward: be->gelu_forward(be, b->y, b->x, s->n); break;
    case OP_gelu_backward: be->gelu_backward(be, b->dx, b->x, b->dy, s->n); break;
    case OP_residual_forward: be->residual_forward(be, b->y, b->x, b->dx, s->n); break;
    case OP_residual_backward: be->residual_backward(be, b->dx, b->dqkv, b->dy, s->n); break;
    case OP_dropout_forward: be->dropout_forward(be, b->y, b->x, s->n, 0.1f, 1, 1, 2, 0); break;
    case OP_dropout_backward: be->dropout_backward(be, b->dx, b->dy, s->n, 0.1f, 1, 1, 2, 0); break;
    case OP_crossentropy_forward: be->crossentropy_forward(be, b->losses, b->probs, b->logits, b->targets, N, s->OC); break;
    case OP_crossentropy_backward: be->crossentropy_backward(be, b->dlogits, b->probs, b->targets, 0.01f, N, s->OC); break;
    case OP_qa_split_forward: be->qa_split_forward(be, b->y, b->logits, B, T); break;
    case OP_qa_split_backward: be->qa_split_backward(be, b->dlogits, b->dy, B, T); break;
    case OP_sumsq: (void)be->sumsq(be, b->g, s->n); break;
    case OP_scale: be->scale(be, b->g, s->n, 0.999f); break;
    case OP_adamw_update: be->adamw_update(be, b->p, b->g, b->m, b->v, s->n, 1e-4f, 0.9f, 0.999f, 1e-8f, 0.01f, 1); break;
    case OP_zero: case OP_copy: case OP_upload: case OP_download: case NUM_OPS:
        break; /* memory traffic, not kernels: not in build_specs */
    case OP_lora_forward: /* as the model calls it (model_pass.c lora_fwd, lora_bwd) */
        be->lora_forward(be, b->y, b->lu, b->x, b->la, b->lb, N, C, (int)s->n, s->OC, 2.0f);
        break;
    case OP_lora_backward:
        be->lora_backward(be, d->lora_merged ? NULL : b->dx, b->lda, b->ldb, b->ldu, b->dy, b->x,
                          d->lora_merged ? NULL : b->lu, b->la, b->lb, N, C, (int)s->n, s->OC, 2.0f);
        break;
    case OP_lora_merge: be->lora_merge(be, b->dw, b->w, b->la, b->lb, s->OC, C, (int)s->n, 2.0f); break;
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds per call over `repeats` timed calls after 2 warm-up calls. */
static double time_op(Backend *be, const OpSpec *s, const Dims *d, Bufs *b, int repeats,
                      const BenchTimer *timer) {
    for (int i = 0; i < 2; i++) run_op(be, s, d, b);
    be->sync(be);
    double *t = xmalloc((size_t)repeats * sizeof *t);
    for (int r = 0; r < repeats; r++) {
        if (timer) {
            timer->prepare(timer->ctx);
            timer->start(timer->ctx);
            run_op(be, s, d, b);
            t[r] = timer->stop(timer->ctx);
            continue;
        }
        double t0 = now_seconds();
        run_op(be, s, d, b);
        be->sync(be);
        t[r] = now_seconds() - t0;
    }
    qsort(t, (size_t)repeats, sizeof *t, cmp_double);
    double med = repeats % 2 ? t[repeats / 2] : 0.5 * (t[repeats / 2 - 1] + t[repeats / 2]);
    free(t);
    return med;
}

static void fill_row(KernelTiming *r, const OpSpec *s, const Dims *d, double sec) {
    memset(r, 0, sizeof *r);
    snprintf(r->op, sizeof r->op, "%s", s->name);
    spec_shape(r->shape, sizeof r->shape, s, d);
    r->calls = s->calls;
    r->median_us = sec * 1e6;
    r->flops = spec_flops(s, d);
    r->bytes = spec_bytes(s, d);
    r->gflops = r->flops / sec * 1e-9;
    r->gbs = r->bytes / sec * 1e-9;
    r->pct_peak = -1;
}

/* Does `name` contain one of the comma-separated, non-empty parts of `sel`? */
static int op_selected(const char *name, const char *sel) {
    for (const char *p = sel; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        for (const char *q = name; len > 0 && strlen(q) >= len; q++)
            if (!strncmp(q, p, len)) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

/* Keeps the specs whose name o->ops selects; returns how many remain, or
 * -1 with err naming every op when none does. */
static int select_specs(OpSpec *s, int n, const char *sel, Err *err) {
    if (!sel) return n;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (op_selected(s[i].name, sel)) s[k++] = s[i];
    if (k > 0) return k;
    char names[2048] = "";
    size_t used = 0;
    for (int i = 0; i < n && used + 1 < sizeof names; i++) {
        int w = snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", s[i].name);
        if (w < 0) break;
        used += (size_t)w;
    }
    err_set(err, "--ops '%s' matches no op of this step; the ops: %s", sel, names);
    return -1;
}

int bench_kernels_run(Backend *be, const ModelConfig *cfg, const BenchKernelsOpts *o,
                      KernelTiming **rows, int *nrows, Err *err) {
    if (config_validate(cfg, err)) return -1;
    if (o->B < 1 || o->T < 1 || o->T > cfg->maxT)
        return err_set(err, "need batch >= 1 and 1 <= seq <= %d for preset %s (got B=%d T=%d)",
                       cfg->maxT, cfg->preset, o->B, o->T);
    if (o->repeats < 1) return err_set(err, "repeats must be >= 1 (got %d)", o->repeats);
    Dims d = make_dims(cfg, o->B, o->T);
    d.keep_att = !be->attn_recompute;
    d.lora_merged = cfg->lora_rank > 0 && be->matmul_exact;
    OpSpec specs[MAX_SPECS];
    int n = select_specs(specs, build_specs(specs, &d), o->ops, err);
    if (n < 0) return -2;
    Bufs b;
    alloc_bufs(be, &b, &d);
    KernelTiming *out = xcalloc((size_t)n, sizeof *out);
    for (int i = 0; i < n; i++)
        fill_row(&out[i], &specs[i], &d, time_op(be, &specs[i], &d, &b, o->repeats, o->timer));
    free_bufs(be, &b);
    *rows = out;
    *nrows = n;
    return 0;
}

void bench_kernels_apply_peaks(KernelTiming *rows, int n, double sgemm_gflops, double copy_gbs) {
    for (int i = 0; i < n; i++) {
        KernelTiming *r = &rows[i];
        if (r->flops > 0)
            r->pct_peak = sgemm_gflops > 0 ? 100.0 * r->gflops / sgemm_gflops : -1;
        else
            r->pct_peak = copy_gbs > 0 ? 100.0 * r->gbs / copy_gbs : -1;
    }
}

double bench_kernels_step_seconds(const KernelTiming *rows, int n, double *flops) {
    double s = 0, f = 0;
    for (int i = 0; i < n; i++) {
        s += rows[i].calls * rows[i].median_us * 1e-6;
        f += rows[i].calls * rows[i].flops;
    }
    if (flops) *flops = f;
    return s;
}

/* ---- CSV ------------------------------------------------------------------ */

static void csv_num(char **p, size_t *left, double v, int show) {
    int k = show ? snprintf(*p, *left, ",%.6g", v) : snprintf(*p, *left, ",");
    if (k > 0 && (size_t)k < *left) *p += k, *left -= (size_t)k;
}

static void csv_row(char **p, size_t *left, const char *device, const char *op, const char *shape,
                    int calls, double us, double gflops, double gbs, double pct) {
    int k = snprintf(*p, *left, "%s,%s,%s,%d", device, op, shape, calls);
    if (k > 0 && (size_t)k < *left) *p += k, *left -= (size_t)k;
    csv_num(p, left, us, 1);
    csv_num(p, left, gflops, gflops > 0);
    csv_num(p, left, gbs, gbs > 0);
    csv_num(p, left, pct, pct >= 0);
    if (*left > 1) *(*p)++ = '\n', (*left)--;
}

/* "# text\n" with every newline of text turned into "; " */
static void csv_comment(char **p, size_t *left, const char *text) {
    if (!text || !*text || *left < 4) return;
    *(*p)++ = '#', *(*p)++ = ' ', *left -= 2;
    for (const char *c = text; *c && *left > 3; c++) {
        if (*c == '\n') {
            if (!c[1]) break;
            *(*p)++ = ';', *(*p)++ = ' ', *left -= 2;
        } else {
            *(*p)++ = *c, (*left)--;
        }
    }
    *(*p)++ = '\n', (*left)--;
}

int bench_kernels_write_csv(const char *path, const char *device, const char *provenance,
                            const KernelTiming *rows, int n, double sgemm_gflops, double copy_gbs,
                            Err *err) {
    size_t cap = 256 + (provenance ? 2 * strlen(provenance) : 0) + (size_t)(n + 2) * 256, left = cap;
    char *buf = xmalloc(cap), *p = buf;
    csv_comment(&p, &left, provenance);
    int k = snprintf(p, left, "device,op,shape,calls,median_us,gflops,gbs,pct_peak\n");
    p += k, left -= (size_t)k;
    for (int i = 0; i < n; i++)
        csv_row(&p, &left, device, rows[i].op, rows[i].shape, rows[i].calls, rows[i].median_us,
                rows[i].gflops, rows[i].gbs, rows[i].pct_peak);
    /* the peaks themselves, calls 0 so they never count in a step total:
     * time of one probe = 2 n^3 FLOPs / rate, 2 x MiB bytes (read + write) / rate */
    int gpu = !strncmp(device, "cuda", 4);
    double gemm_n = gpu ? BENCH_CUDA_PEAK_GEMM_N : BENCH_CPU_PEAK_GEMM_N;
    double copy_mib = gpu ? BENCH_CUDA_PEAK_COPY_MIB : BENCH_CPU_PEAK_COPY_MIB;
    char shape[32];
    if (sgemm_gflops > 0) {
        snprintf(shape, sizeof shape, "n=%.0f", gemm_n);
        int bf16 = strstr(device, "-bf16") != NULL; /* the peak is the bf16 GEMM's */
        csv_row(&p, &left, device, bf16 ? "peak_bf16_gemm" : "peak_sgemm", shape, 0,
                2.0 * gemm_n * gemm_n * gemm_n / sgemm_gflops * 1e-3, sgemm_gflops, 0, 100);
    }
    if (copy_gbs > 0) {
        snprintf(shape, sizeof shape, "%.0fMiB", copy_mib);
        csv_row(&p, &left, device, "peak_copy", shape, 0, 2.0 * copy_mib * 1048576 / copy_gbs * 1e-3,
                0, copy_gbs, 100);
    }
    int rc = atomic_write_file(path, buf, (size_t)(p - buf), err);
    free(buf);
    return rc;
}

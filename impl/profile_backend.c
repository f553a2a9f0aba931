/* profile_backend.c — timing wrapper around any Backend. */
#include "profile_backend.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

enum {
    OP_EMBED_F, OP_EMBED_B, OP_LN_F, OP_LN_B, OP_MATMUL_F, OP_MATMUL_B, OP_ATTN_F, OP_ATTN_B,
    OP_GELU_F, OP_GELU_B, OP_RESID_F, OP_RESID_B, OP_DROP_F, OP_DROP_B, OP_CE_F, OP_CE_B,
    OP_QASPLIT_F, OP_QASPLIT_B, OP_SUMSQ, OP_SCALE, OP_ADAMW, OP_ZERO, OP_COPY, OP_UPLOAD,
    OP_DOWNLOAD, NUM_OPS
};

static const char *const OP_NAMES[NUM_OPS] = {
    "embed_forward", "embed_backward", "layernorm_forward", "layernorm_backward",
    "matmul_forward", "matmul_backward", "attention_forward", "attention_backward",
    "gelu_forward", "gelu_backward", "residual_forward", "residual_backward",
    "dropout_forward", "dropout_backward", "crossentropy_forward", "crossentropy_backward",
    "qa_split_forward", "qa_split_backward", "sumsq", "scale", "adamw_update", "zero", "copy",
    "upload", "download"};

typedef struct {
    Backend *inner;
    int sync;    /* synchronise around each op (asynchronous inner backend) */
    int enabled; /* time ops at all */
    ProfileOp ops[NUM_OPS];
} ProfCtx;

static ProfCtx *ctx_of(Backend *be) { return (ProfCtx *)be->ctx; }

static double prof_begin(ProfCtx *pc) {
    if (!pc->enabled) return 0.0;
    if (pc->sync) pc->inner->sync(pc->inner);
    return now_seconds();
}

static void prof_end(ProfCtx *pc, int op, double t0) {
    if (!pc->enabled) return;
    if (pc->sync) pc->inner->sync(pc->inner);
    pc->ops[op].seconds += now_seconds() - t0;
    pc->ops[op].calls++;
}

/* Run `call` (an inner-backend member call with `in` as its backend) timed
 * under op. */
#define TIMED(op, call)                       \
    do {                                      \
        ProfCtx *pc = ctx_of(be);             \
        Backend *in = pc->inner;              \
        double t0 = prof_begin(pc);           \
        in->call;                             \
        prof_end(pc, op, t0);                 \
    } while (0)

static void *p_alloc(Backend *be, size_t bytes) {
    Backend *in = ctx_of(be)->inner;
    return in->alloc(in, bytes);
}
static void p_free(Backend *be, void *p) {
    Backend *in = ctx_of(be)->inner;
    in->free(in, p);
}
static void p_sync(Backend *be) {
    Backend *in = ctx_of(be)->inner;
    in->sync(in);
}
static void p_upload(Backend *be, void *dst, const void *src, size_t bytes) {
    TIMED(OP_UPLOAD, upload(in, dst, src, bytes));
}
static void p_download(Backend *be, void *dst, const void *src, size_t bytes) {
    TIMED(OP_DOWNLOAD, download(in, dst, src, bytes));
}
static void p_zero(Backend *be, void *p, size_t bytes) { TIMED(OP_ZERO, zero(in, p, bytes)); }
static void p_copy(Backend *be, void *dst, const void *src, size_t bytes) {
    TIMED(OP_COPY, copy(in, dst, src, bytes));
}

static void p_embed_f(Backend *be, float *out, const int *ids, const int *tt, const float *wte,
                      const float *wpe, const float *wtt, int B, int T, int C) {
    TIMED(OP_EMBED_F, embed_forward(in, out, ids, tt, wte, wpe, wtt, B, T, C));
}
static void p_embed_b(Backend *be, float *dwte, float *dwpe, float *dwtt, const float *dout,
                      const int *ids, const int *tt, int B, int T, int C) {
    TIMED(OP_EMBED_B, embed_backward(in, dwte, dwpe, dwtt, dout, ids, tt, B, T, C));
}
static void p_ln_f(Backend *be, float *out, float *mean, float *rstd, const float *inp,
                   const float *w, const float *b, int N, int C, float eps) {
    TIMED(OP_LN_F, layernorm_forward(in, out, mean, rstd, inp, w, b, N, C, eps));
}
static void p_ln_b(Backend *be, float *dinp, float *dw, float *db, const float *dout,
                   const float *inp, const float *w, const float *mean, const float *rstd, int N,
                   int C) {
    TIMED(OP_LN_B, layernorm_backward(in, dinp, dw, db, dout, inp, w, mean, rstd, N, C));
}
static void p_mm_f(Backend *be, float *out, const float *inp, const float *w, const float *bias,
                   int N, int C, int OC) {
    TIMED(OP_MATMUL_F, matmul_forward(in, out, inp, w, bias, N, C, OC));
}
static void p_mm_b(Backend *be, float *dinp, float *dw, float *dbias, const float *dout,
                   const float *inp, const float *w, int N, int C, int OC) {
    TIMED(OP_MATMUL_B, matmul_backward(in, dinp, dw, dbias, dout, inp, w, N, C, OC));
}
static void p_attn_f(Backend *be, float *out, float *att, float *scratch, const float *qkv,
                     const int *mask, int B, int T, int C, int NH, float p_drop, uint64_t seed,
                     uint32_t step, uint32_t stream, uint64_t first) {
    TIMED(OP_ATTN_F, attention_forward(in, out, att, scratch, qkv, mask, B, T, C, NH, p_drop, seed,
                                       step, stream, first));
}
static void p_attn_b(Backend *be, float *dqkv, float *scratch, const float *dout, const float *qkv,
                     const float *att, const int *mask, int B, int T, int C, int NH, float p_drop,
                     uint64_t seed, uint32_t step, uint32_t stream, uint64_t first) {
    TIMED(OP_ATTN_B, attention_backward(in, dqkv, scratch, dout, qkv, att, mask, B, T, C, NH,
                                        p_drop, seed, step, stream, first));
}
static void p_gelu_f(Backend *be, float *out, const float *inp, size_t n) {
    TIMED(OP_GELU_F, gelu_forward(in, out, inp, n));
}
static void p_gelu_b(Backend *be, float *dinp, const float *inp, const float *dout, size_t n) {
    TIMED(OP_GELU_B, gelu_backward(in, dinp, inp, dout, n));
}
static void p_res_f(Backend *be, float *out, const float *a, const float *b, size_t n) {
    TIMED(OP_RESID_F, residual_forward(in, out, a, b, n));
}
static void p_res_b(Backend *be, float *da, float *db, const float *dout, size_t n) {
    TIMED(OP_RESID_B, residual_backward(in, da, db, dout, n));
}
static void p_drop_f(Backend *be, float *out, const float *inp, size_t n, float p, uint64_t seed,
                     uint32_t step, uint32_t stream, uint64_t first) {
    TIMED(OP_DROP_F, dropout_forward(in, out, inp, n, p, seed, step, stream, first));
}
static void p_drop_b(Backend *be, float *dinp, const float *dout, size_t n, float p, uint64_t seed,
                     uint32_t step, uint32_t stream, uint64_t first) {
    TIMED(OP_DROP_B, dropout_backward(in, dinp, dout, n, p, seed, step, stream, first));
}
static void p_ce_f(Backend *be, float *losses, float *probs, const float *logits,
                   const int *targets, int N, int V) {
    TIMED(OP_CE_F, crossentropy_forward(in, losses, probs, logits, targets, N, V));
}
static void p_ce_b(Backend *be, float *dlogits, const float *probs, const int *targets,
                   float dscale, int N, int V) {
    TIMED(OP_CE_B, crossentropy_backward(in, dlogits, probs, targets, dscale, N, V));
}
static void p_qas_f(Backend *be, float *split, const float *qa, int B, int T) {
    TIMED(OP_QASPLIT_F, qa_split_forward(in, split, qa, B, T));
}
static void p_qas_b(Backend *be, float *dqa, const float *dsplit, int B, int T) {
    TIMED(OP_QASPLIT_B, qa_split_backward(in, dqa, dsplit, B, T));
}
static double p_sumsq(Backend *be, const float *x, size_t n) {
    ProfCtx *pc = ctx_of(be);
    double t0 = prof_begin(pc);
    double s = pc->inner->sumsq(pc->inner, x, n);
    prof_end(pc, OP_SUMSQ, t0);
    return s;
}
static void p_scale(Backend *be, float *x, size_t n, float s) { TIMED(OP_SCALE, scale(in, x, n, s)); }
static void p_adamw(Backend *be, float *p, const float *g, float *m, float *v, size_t n, float lr,
                    float b1, float b2, float eps, float wd, int t) {
    TIMED(OP_ADAMW, adamw_update(in, p, g, m, v, n, lr, b1, b2, eps, wd, t));
}

static void p_destroy(Backend *be) {
    ProfCtx *pc = ctx_of(be);
    pc->inner->destroy(pc->inner);
    free(pc);
    free(be);
}

Backend *backend_profiled(Backend *inner) {
    ProfCtx *pc = xcalloc(1, sizeof *pc);
    pc->inner = inner;
    pc->sync = strcmp(inner->name, "cuda") == 0;
    pc->enabled = 1;
    for (int i = 0; i < NUM_OPS; i++) {
        pc->ops[i].name = OP_NAMES[i];
        pc->ops[i].sgemm = i == OP_MATMUL_F || i == OP_MATMUL_B || i == OP_ATTN_F || i == OP_ATTN_B;
    }
    Backend *be = xcalloc(1, sizeof *be);
    *be = (Backend){.name = inner->name,
                    .ctx = pc,
                    .alloc = p_alloc,
                    .free = p_free,
                    .upload = p_upload,
                    .download = p_download,
                    .zero = p_zero,
                    .copy = p_copy,
                    .sync = p_sync,
                    .embed_forward = p_embed_f,
                    .embed_backward = p_embed_b,
                    .layernorm_forward = p_ln_f,
                    .layernorm_backward = p_ln_b,
                    .matmul_forward = p_mm_f,
                    .matmul_backward = p_mm_b,
                    .attention_forward = p_attn_f,
                    .attention_backward = p_attn_b,
                    .gelu_forward = p_gelu_f,
                    .gelu_backward = p_gelu_b,
                    .residual_forward = p_res_f,
                    .residual_backward = p_res_b,
                    .dropout_forward = p_drop_f,
                    .dropout_backward = p_drop_b,
                    .crossentropy_forward = p_ce_f,
                    .crossentropy_backward = p_ce_b,
                    .qa_split_forward = p_qas_f,
                    .qa_split_backward = p_qas_b,
                    .sumsq = p_sumsq,
                    .scale = p_scale,
                    .adamw_update = p_adamw,
                    .destroy = p_destroy};
    return be;
}

void profile_set_enabled(Backend *p, int on) { ctx_of(p)->enabled = on; }

void profile_reset(Backend *p) {
    ProfCtx *pc = ctx_of(p);
    for (int i = 0; i < NUM_OPS; i++) {
        pc->ops[i].calls = 0;
        pc->ops[i].seconds = 0.0;
    }
}

int profile_ops(Backend *p, const ProfileOp **ops) {
    *ops = ctx_of(p)->ops;
    return NUM_OPS;
}

static double sum_seconds(Backend *p, int sgemm_only) {
    const ProfCtx *pc = ctx_of(p);
    double s = 0.0;
    for (int i = 0; i < NUM_OPS; i++)
        if (!sgemm_only || pc->ops[i].sgemm) s += pc->ops[i].seconds;
    return s;
}
double profile_total_seconds(Backend *p) { return sum_seconds(p, 0); }
double profile_sgemm_seconds(Backend *p) { return sum_seconds(p, 1); }

static int by_seconds_desc(const void *a, const void *b) {
    double sa = (*(const ProfileOp *const *)a)->seconds, sb = (*(const ProfileOp *const *)b)->seconds;
    return (sa < sb) - (sa > sb);
}

void profile_report(Backend *p, FILE *f, double total_s) {
    ProfCtx *pc = ctx_of(p);
    const ProfileOp *sorted[NUM_OPS];
    for (int i = 0; i < NUM_OPS; i++) sorted[i] = &pc->ops[i];
    qsort(sorted, NUM_OPS, sizeof sorted[0], by_seconds_desc);
    double denom = total_s > 0.0 ? total_s : 1.0;
    fprintf(f, "  %-22s %8s %11s %10s %7s\n", "op", "calls", "total ms", "ms/call", "share");
    for (int i = 0; i < NUM_OPS; i++) {
        const ProfileOp *o = sorted[i];
        if (o->calls == 0) continue;
        fprintf(f, "  %-22s %8ld %11.2f %10.4f %6.1f%%\n", o->name, o->calls, 1e3 * o->seconds,
                1e3 * o->seconds / (double)o->calls, 100.0 * o->seconds / denom);
    }
    double ops = profile_total_seconds(p), sg = profile_sgemm_seconds(p);
    fprintf(f, "  %-22s %8s %11.2f %10s %6.1f%%\n", "(outside ops)", "", 1e3 * (total_s - ops), "",
            100.0 * (total_s - ops) / denom);
    fprintf(f, "  sgemm-based ops (matmul + attention): %.1f%% of the time\n", 100.0 * sg / denom);
}

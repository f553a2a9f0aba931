/* model_pass.c — forward and backward passes of the encoder and the heads,
 * batch validation, and the activation buffer layout. Every op goes through
 * the Backend (kernels/backend.h); nothing here touches tensor memory. */
#include <string.h>

#include "model_internal.h"

/* ---- activation layout -------------------------------------------------- */

/* Slots start on 64-float (256-byte) boundaries for vectorised kernels. */
static float *take(float *base, size_t *cur, size_t n) {
    float *p = base ? base + *cur : NULL;
    *cur += (n + 63) & ~(size_t)63;
    return p;
}

/* attn: the floats of P [B,NH,T,T], or 0 when no backward needs it
 * (inference: att NULL, ops.h) */
static void layout_layer(LayerActs *la, float *base, size_t *cur, const ModelConfig *c, size_t N,
                         size_t attn) {
    size_t C = (size_t)c->C, F = (size_t)c->FFN;
    la->qkv = take(base, cur, N * 3 * C);
    la->att = attn ? take(base, cur, attn) : NULL;
    la->atty = take(base, cur, N * C);
    la->attproj = take(base, cur, N * C);
    la->res1 = take(base, cur, N * C);
    la->ln1 = take(base, cur, N * C);
    la->ln1_mean = take(base, cur, N);
    la->ln1_rstd = take(base, cur, N);
    la->fch = take(base, cur, N * F);
    la->fch_gelu = take(base, cur, N * F);
    la->fcproj = take(base, cur, N * C);
    la->res2 = take(base, cur, N * C);
    la->ln2 = take(base, cur, N * C);
    la->ln2_mean = take(base, cur, N);
    la->ln2_rstd = take(base, cur, N);
    for (int s = 0; s < LORA_NSLOTS; s++)
        la->lora_u[s] = lora_slot_on(c, s) ? take(base, cur, N * (size_t)c->lora_rank) : NULL;
}

size_t model_layout_acts(Acts *a, float *base, const ModelConfig *c, int maxB, int maxT, int inference,
                         int keep_att, int scratch) {
    size_t cur = 0, B = (size_t)maxB, T = (size_t)maxT, N = B * T;
    size_t C = (size_t)c->C, F = (size_t)c->FFN, nl = (size_t)c->num_labels;
    size_t attn = B * (size_t)c->NH * T * T;
    size_t ncls = nl > 2 ? nl : 2;
    a->emb_sum = take(base, &cur, N * C);
    a->emb_ln = take(base, &cur, N * C);
    a->emb_mean = take(base, &cur, N);
    a->emb_rstd = take(base, &cur, N);
    for (int l = 0; l < c->L; l++) {
        if (inference && l > 0) a->layer[l] = a->layer[0]; /* one set, reused by every layer */
        else layout_layer(&a->layer[l], base, &cur, c, N, keep_att ? attn : 0);
    }
    a->ner_in = take(base, &cur, N * C);
    a->ner_logits = take(base, &cur, N * nl);
    a->ner_probs = take(base, &cur, N * nl);
    a->qa_logits = take(base, &cur, N * 2);
    a->qa_split = take(base, &cur, N * 2);
    a->qa_probs = take(base, &cur, N * 2);
    a->losses = take(base, &cur, N > 2 * B ? N : 2 * B);
    a->att_scratch = scratch ? take(base, &cur, 4 * N * C + attn) : NULL;
    a->lora_w = c->lora_rank > 0 ? take(base, &cur, (F > 3 * C ? F : 3 * C) * C) : NULL;
    if (inference) return cur; /* no gradients */
    a->g_a = take(base, &cur, N * C);
    a->g_b = take(base, &cur, N * C);
    a->g_res = take(base, &cur, N * C);
    a->g_t1 = take(base, &cur, N * C);
    a->g_t2 = take(base, &cur, N * C);
    a->g_ffn1 = take(base, &cur, N * F);
    a->g_ffn2 = take(base, &cur, N * F);
    a->g_qkv = take(base, &cur, N * 3 * C);
    a->g_logits = take(base, &cur, N * ncls);
    a->g_split = take(base, &cur, N * 2);
    a->g_lora_u = c->lora_rank > 0 ? take(base, &cur, N * (size_t)c->lora_rank) : NULL;
    return cur;
}

/* ---- batch slices (data parallelism) -------------------------------------- */

Batch batch_slice(const Batch *g, int lo, int hi) {
    Batch b = *g;
    int nv[2] = {0, 0};
    if (g->task == TASK_NER) {
        for (int i = 0; i < g->B * g->T; i++) nv[0] += g->labels[i] != MTL_IGNORE_INDEX;
    } else {
        for (int i = 0; i < g->B; i++) {
            nv[0] += g->start[i] != MTL_IGNORE_INDEX;
            nv[1] += g->end[i] != MTL_IGNORE_INDEX;
        }
    }
    size_t off = (size_t)lo * g->T;
    b.B = hi - lo;
    b.ids = g->ids + off;
    b.types = g->types ? g->types + off : NULL;
    b.mask = g->mask ? g->mask + off : NULL;
    b.labels = g->labels ? g->labels + off : NULL;
    b.start = g->start ? g->start + lo : NULL;
    b.end = g->end ? g->end + lo : NULL;
    b.sliced = 1;
    b.row0 = lo;
    b.global_valid[0] = nv[0];
    b.global_valid[1] = nv[1];
    return b;
}

/* ---- batch validation --------------------------------------------------- */

static int check_batch_shape(const Model *m, const Batch *b, Err *err) {
    if (b->task != TASK_NER && b->task != TASK_QA)
        return err_set(err, "batch: unknown task %d (expected 0 = ner or 1 = qa)", b->task);
    if (b->task == TASK_NER && !(m->cfg.heads & HEAD_NER))
        return err_set(err, "batch: task ner but the model has no NER head");
    if (b->task == TASK_QA && !(m->cfg.heads & HEAD_QA))
        return err_set(err, "batch: task qa but the model has no QA head");
    if (b->B < 1 || b->B > m->maxB)
        return err_set(err, "batch: batch size B=%d must be in [1, maxB=%d]", b->B, m->maxB);
    if (b->T < 1 || b->T > m->maxT)
        return err_set(err, "batch: sequence length T=%d must be in [1, maxT=%d]", b->T, m->maxT);
    if (!b->ids) return err_set(err, "batch: no token ids");
    if (b->task == TASK_NER && !b->labels) return err_set(err, "batch: NER batch without labels");
    if (b->task == TASK_QA && (!b->start || !b->end))
        return err_set(err, "batch: QA batch without start/end positions");
    return 0;
}

/* Check every [B,T] integer input; the message names the position. */
static int check_tokens(const Model *m, const Batch *b, Err *err) {
    const ModelConfig *c = &m->cfg;
    for (int i = 0; i < b->B * b->T; i++) {
        int bi = i / b->T, ti = i % b->T;
        if (b->ids[i] < 0 || b->ids[i] >= c->V)
            return err_set(err, "batch: token id %d at [b=%d, t=%d] is out of range [0, V=%d)",
                           b->ids[i], bi, ti, c->V);
        if (b->types && (b->types[i] < 0 || b->types[i] >= c->type_vocab))
            return err_set(err, "batch: token type %d at [b=%d, t=%d] is out of range [0, %d)",
                           b->types[i], bi, ti, c->type_vocab);
        if (b->mask && b->mask[i] != 0 && b->mask[i] != 1)
            return err_set(err, "batch: attention mask value %d at [b=%d, t=%d] is not 0 or 1",
                           b->mask[i], bi, ti);
    }
    return 0;
}

static int check_targets(Model *m, const Batch *b, Err *err) {
    int nv[2] = {0, 0};
    if (b->task == TASK_NER) {
        for (int i = 0; i < b->B * b->T; i++) {
            int y = b->labels[i];
            if (y == MTL_IGNORE_INDEX) continue;
            if (y < 0 || y >= m->cfg.num_labels)
                return err_set(err, "batch: NER label %d at [b=%d, t=%d] is out of range [0, %d) (or -100)",
                               y, i / b->T, i % b->T, m->cfg.num_labels);
            nv[0]++;
        }
    } else {
        for (int bi = 0; bi < b->B; bi++) {
            const int pos[2] = {b->start[bi], b->end[bi]};
            for (int k = 0; k < 2; k++) {
                if (pos[k] == MTL_IGNORE_INDEX) continue;
                if (pos[k] < 0 || pos[k] >= b->T)
                    return err_set(err, "batch: QA %s position %d of example b=%d is out of range [0, T=%d) (or -100)",
                                   k ? "end" : "start", pos[k], bi, b->T);
                nv[k]++;
            }
        }
    }
    if (b->sliced) {
        for (int k = 0; k < 2; k++)
            if (b->global_valid[k] < nv[k])
                return err_set(err, "batch: slice has %d valid %s, more than its global batch's %d",
                               nv[k], k ? "end positions" : "targets", b->global_valid[k]);
        if (b->row0 < 0) return err_set(err, "batch: slice starts at row %d", b->row0);
        nv[0] = b->global_valid[0];
        nv[1] = b->global_valid[1];
    }
    m->n_valid[0] = nv[0];
    m->n_valid[1] = nv[1];
    return 0;
}

/* ---- inputs ------------------------------------------------------------- */

static void upload_or_fill(Model *m, int *dst, const int *src, size_t n, int fill) {
    if (!src) {
        for (size_t i = 0; i < n; i++) m->h_ints[i] = fill;
        src = m->h_ints;
    }
    m->be->upload(m->be, dst, src, n * sizeof(int));
}

static void upload_batch(Model *m, const Batch *b) {
    size_t n = (size_t)b->B * b->T;
    upload_or_fill(m, m->d_ids, b->ids, n, 0);
    upload_or_fill(m, m->d_types, b->types, n, 0);
    upload_or_fill(m, m->d_mask, b->mask, n, 1);
    if (b->task == TASK_NER) {
        m->be->upload(m->be, m->d_labels, b->labels, n * sizeof(int));
    } else {
        m->be->upload(m->be, m->d_qa, b->start, (size_t)b->B * sizeof(int));
        m->be->upload(m->be, m->d_qa + b->B, b->end, (size_t)b->B * sizeof(int));
    }
}

/* ---- dropout helpers ---------------------------------------------------- */

enum { SITE_EMB = 0, SITE_NER = 0xFFFF };
static uint32_t site_attn_probs(int l) { return 1u + 3u * (uint32_t)l; }
static uint32_t site_attn_out(int l) { return 2u + 3u * (uint32_t)l; }
static uint32_t site_ffn_out(int l) { return 3u + 3u * (uint32_t)l; }
static uint32_t stream_of(const Model *m, uint32_t site) { return (m->pass << 16) | site; }

/* RNG counter of element 0 of an n-element [B, ...] tensor of this batch:
 * row0 * (elements per row), so that a batch slice draws the global masks. */
static uint64_t first_elem(const Model *m, size_t n) {
    return (uint64_t)m->row0 * (uint64_t)(n / (size_t)m->B);
}

/* In-place inverted dropout of x[n]; no-op when not training. */
static void drop_fwd(Model *m, float *x, size_t n, uint32_t site) {
    if (m->p_drop > 0.0f)
        m->be->dropout_forward(m->be, x, x, n, m->p_drop, m->seed, m->step, stream_of(m, site),
                               first_elem(m, n));
}

/* Gradient through a dropout: returns the buffer holding d(input). When
 * dropout is off that is dout itself; otherwise `dst` (zeroed here). */
static float *drop_bwd(Model *m, float *dst, float *dout, size_t n, uint32_t site) {
    if (!(m->p_drop > 0.0f)) return dout;
    m->be->zero(m->be, dst, n * sizeof(float));
    m->be->dropout_backward(m->be, dst, dout, n, m->p_drop, m->seed, m->step, stream_of(m, site),
                            first_elem(m, n));
    return dst;
}

/* ---- forward ------------------------------------------------------------ */

static const float *layer_input(const Model *m, int l) {
    return l == 0 ? m->a.emb_ln : m->a.layer[l - 1].ln2;
}

static const float *encoder_output(const Model *m) { return m->a.layer[m->cfg.L - 1].ln2; }

static void forward_embeddings(Model *m, int B, int T) {
    Backend *be = m->be;
    const ModelConfig *c = &m->cfg;
    int N = B * T;
    be->embed_forward(be, m->a.emb_sum, m->d_ids, m->d_types, model_p(m, ET_WORD),
                      model_p(m, ET_POS), model_p(m, ET_TYPE), B, T, c->C);
    be->layernorm_forward(be, m->a.emb_ln, m->a.emb_mean, m->a.emb_rstd, m->a.emb_sum,
                          model_p(m, ET_LN_W), model_p(m, ET_LN_B), N, c->C, c->ln_eps);
    drop_fwd(m, m->a.emb_ln, (size_t)N * c->C, SITE_EMB);
}

static float lora_scale(const ModelConfig *c) { return c->lora_alpha / (float)c->lora_rank; }

/* 1 when the projections of this pass run on merged weights (proj_weight) */
static int lora_merged(const Model *m) { return m->cfg.lora_rank > 0 && m->be->matmul_exact; }

/* The weight [OC,C] that projection `slot` of layer l (its weight tensor wt,
 * LT_*_W) runs on: with an adapter there for this pass's task, on a backend
 * that computes matmuls in exact fp32, W + (alpha/r) B A merged into the
 * scratch lora_w (ops.h lora_merge): the layer and its update in one GEMM,
 * forward and backward, with no pass of the adapter over the [N,OC] output
 * or the [N,C] input gradient. The backward merges again, bitwise alike. */
static const float *proj_weight(Model *m, int l, int slot, int wt, int OC, int C) {
    const float *w = model_p(m, model_layer_first(m, l) + wt);
    int a = model_lora_a(m, l, slot);
    if (a < 0 || !lora_merged(m)) return w;
    m->be->lora_merge(m->be, m->a.lora_w, w, model_p(m, a), model_p(m, a + 1), OC, C, m->cfg.lora_rank,
                      lora_scale(&m->cfg));
    return m->a.lora_w;
}

/* The adapter of `slot` of layer l for the task of this forward (no-op where
 * there is none, or where the projection ran on the merged weight: the
 * backward then recomputes u where it reads inp anyway, ops.h): u = inp A^T,
 * kept for the backward, and out[N,OC] += (alpha/r) u B^T. */
static void lora_fwd(Model *m, int l, int slot, float *out, const float *inp, int N, int C, int OC) {
    int a = model_lora_a(m, l, slot);
    if (a < 0 || lora_merged(m)) return;
    const ModelConfig *c = &m->cfg;
    m->be->lora_forward(m->be, out, m->a.layer[l].lora_u[slot], inp, model_p(m, a), model_p(m, a + 1), N, C,
                        c->lora_rank, OC, lora_scale(c));
}

/* out = f(inp w^T + b) (+ add) in one pass (Backend linear_fused: frozen
 * weights of an inference model), for projection `slot` of layer l when it
 * has no adapter and nothing is dropped out: returns 1. Returns 0 otherwise,
 * and the caller runs the separate ops. */
static int linear_fused(Model *m, int l, int slot, float *out, const float *inp, const float *w,
                        const float *b, const float *add, int gelu, int N, int C, int OC) {
    Backend *be = m->be;
    if (!be->linear_fused || m->p_drop > 0.0f || model_lora_a(m, l, slot) >= 0) return 0;
    return be->linear_fused(be, out, inp, w, b, add, gelu, N, C, OC);
}

/* res1 = x + dropout(atty W_out^T + b_out) */
static void attn_out_residual(Model *m, int l, LayerActs *la, const float *x, int N) {
    Backend *be = m->be;
    const int w = model_layer_first(m, l), C = m->cfg.C;
    const float *wo = proj_weight(m, l, LORA_SLOT_OUT, LT_OUT_W, C, C), *bo = model_p(m, w + LT_OUT_B);
    if (linear_fused(m, l, LORA_SLOT_OUT, la->res1, la->atty, wo, bo, x, 0, N, C, C)) return;
    be->matmul_forward(be, la->attproj, la->atty, wo, bo, N, C, C);
    lora_fwd(m, l, LORA_SLOT_OUT, la->attproj, la->atty, N, C, C);
    drop_fwd(m, la->attproj, (size_t)N * C, site_attn_out(l));
    be->residual_forward(be, la->res1, x, la->attproj, (size_t)N * C);
}

/* res2 = ln1 + dropout(GELU(ln1 W_up^T + b_up) W_down^T + b_down) */
static void ffn_residual(Model *m, int l, LayerActs *la, int N) {
    Backend *be = m->be;
    const ModelConfig *c = &m->cfg;
    const int w = model_layer_first(m, l), C = c->C, F = c->FFN;
    const float *wu = proj_weight(m, l, LORA_SLOT_UP, LT_UP_W, F, C), *bu = model_p(m, w + LT_UP_B);
    if (!linear_fused(m, l, LORA_SLOT_UP, la->fch_gelu, la->ln1, wu, bu, NULL, 1, N, C, F)) {
        be->matmul_forward(be, la->fch, la->ln1, wu, bu, N, C, F);
        lora_fwd(m, l, LORA_SLOT_UP, la->fch, la->ln1, N, C, F);
        be->gelu_forward(be, la->fch_gelu, la->fch, (size_t)N * F);
    }
    const float *wd = proj_weight(m, l, LORA_SLOT_DOWN, LT_DOWN_W, C, F), *bd = model_p(m, w + LT_DOWN_B);
    if (linear_fused(m, l, LORA_SLOT_DOWN, la->res2, la->fch_gelu, wd, bd, la->ln1, 0, N, F, C)) return;
    be->matmul_forward(be, la->fcproj, la->fch_gelu, wd, bd, N, F, C);
    lora_fwd(m, l, LORA_SLOT_DOWN, la->fcproj, la->fch_gelu, N, F, C);
    drop_fwd(m, la->fcproj, (size_t)N * C, site_ffn_out(l));
    be->residual_forward(be, la->res2, la->ln1, la->fcproj, (size_t)N * C);
}

/* Self-attention of layer l over the rows the layers run: the [B,T] batch
 * with its mask, or, with the padding skipped, each row alone on its real
 * tokens (B 1, T len[b], all of them unmasked). */
static void attention_rows(Model *m, int l, LayerActs *la, int B, int T) {
    Backend *be = m->be;
    const ModelConfig *c = &m->cfg;
    if (m->rows == B * T) {
        be->attention_forward(be, la->atty, la->att, m->a.att_scratch, la->qkv, m->d_mask, B, T, c->C,
                              c->NH, m->p_drop, m->seed, m->step, stream_of(m, site_attn_probs(l)),
                              first_elem(m, (size_t)B * c->NH * T * T));
        return;
    }
    for (int b = 0; b < B; b++) {
        size_t r = (size_t)m->h_off[b];
        be->attention_forward(be, la->atty + r * c->C, NULL, m->a.att_scratch, la->qkv + r * 3 * c->C,
                              m->d_mask + (size_t)b * T, 1, m->h_len[b], c->C, c->NH, 0.0f, 0, 0, 0, 0);
    }
    size_t n = (size_t)m->h_off[B - 1] + (size_t)m->h_len[B - 1]; /* then the rounding's zero rows */
    be->zero(be, la->atty + n * c->C, ((size_t)m->rows - n) * c->C * sizeof(float));
}

static void forward_layer(Model *m, int l, int B, int T) {
    Backend *be = m->be;
    const ModelConfig *c = &m->cfg;
    LayerActs *la = &m->a.layer[l];
    const int w = model_layer_first(m, l), N = m->rows, C = c->C;
    const float *x = layer_input(m, l);
    be->matmul_forward(be, la->qkv, x, proj_weight(m, l, LORA_SLOT_QKV, LT_QKV_W, 3 * C, C),
                       model_p(m, w + LT_QKV_B), N, C, 3 * C);
    lora_fwd(m, l, LORA_SLOT_QKV, la->qkv, x, N, C, 3 * C);
    attention_rows(m, l, la, B, T);
    attn_out_residual(m, l, la, x, N);
    be->layernorm_forward(be, la->ln1, la->ln1_mean, la->ln1_rstd, la->res1,
                          model_p(m, w + LT_LN1_W), model_p(m, w + LT_LN1_B), N, C, c->ln_eps);
    ffn_residual(m, l, la, N);
    be->layernorm_forward(be, la->ln2, la->ln2_mean, la->ln2_rstd, la->res2,
                          model_p(m, w + LT_LN2_W), model_p(m, w + LT_LN2_B), N, C, c->ln_eps);
}

/* ---- padding skipped (model_skip_padding) --------------------------------- */

/* Real tokens of a right-padded row: the length of the mask's leading 1s,
 * or -1 when a 1 follows a 0 (left padding, holes: the row keeps its layout). */
static int row_length(const int *mask, int T) {
    int n = 0;
    while (n < T && mask[n]) n++;
    for (int t = n; t < T; t++)
        if (mask[t]) return -1;
    return n;
}

/* Adds batch b's real tokens (its mask's 1s; all without a mask) and useful
 * FLOPs (each row's forward on its real tokens alone) to m->work. */
static void count_work(Model *m, const Batch *b) {
    for (int r = 0; r < b->B; r++) {
        int n = b->T;
        if (b->mask) {
            n = 0;
            for (int t = 0; t < b->T; t++) n += b->mask[(size_t)r * b->T + t] != 0;
        }
        m->work.tokens += n;
        m->work.flops += model_forward_flops(&m->cfg, b->task, 1, n);
    }
}

/* The rows the encoder layers run for batch b: B*T, or, with the padding
 * skipped, the real tokens of every row packed in row order (h_off, h_len),
 * rounded up to MODEL_PACK_ROWS (fewer distinct GEMM shapes, so the CPU's
 * oneDNN primitives are reused; the extra rows are zeros). */
static int rows_to_run(Model *m, const Batch *b) {
    const int all = b->B * b->T;
    if (!m->skip_padding || m->p_drop > 0.0f || !b->mask) return all;
    int n = 0;
    for (int r = 0; r < b->B; r++) {
        int len = row_length(b->mask + (size_t)r * b->T, b->T);
        if (len < 1) return all;
        m->h_off[r] = n;
        m->h_len[r] = len;
        n += len;
    }
    int run = (n + MODEL_PACK_ROWS - 1) / MODEL_PACK_ROWS * MODEL_PACK_ROWS;
    return run < all ? run : all;
}

/* emb_ln [B*T, C] -> its real rows packed into [rows, C], through emb_sum
 * (an inference forward needs it no more once LN has run). */
static void pack_rows(Model *m, int B, int T) {
    Backend *be = m->be;
    const size_t C = (size_t)m->cfg.C, n = (size_t)m->h_off[B - 1] + (size_t)m->h_len[B - 1];
    for (int b = 0; b < B; b++)
        be->copy(be, m->a.emb_sum + (size_t)m->h_off[b] * C, m->a.emb_ln + (size_t)b * T * C,
                 (size_t)m->h_len[b] * C * sizeof(float));
    be->zero(be, m->a.emb_sum + n * C, ((size_t)m->rows - n) * C * sizeof(float));
    be->copy(be, m->a.emb_ln, m->a.emb_sum, (size_t)m->rows * C * sizeof(float));
}

/* The packed encoder output back in [B*T, C] order, zero rows at the padding. */
static void unpack_rows(Model *m, int B, int T) {
    Backend *be = m->be;
    const size_t C = (size_t)m->cfg.C, all = (size_t)B * T * C;
    float *out = m->a.layer[m->cfg.L - 1].ln2;
    be->zero(be, m->a.emb_sum, all * sizeof(float));
    for (int b = 0; b < B; b++)
        be->copy(be, m->a.emb_sum + (size_t)b * T * C, out + (size_t)m->h_off[b] * C,
                 (size_t)m->h_len[b] * C * sizeof(float));
    be->copy(be, out, m->a.emb_sum, all * sizeof(float));
}

/* Sum losses[lo, hi) on the host in index order (double accumulator). */
static double host_loss_sum(const float *losses, int lo, int hi) {
    double s = 0.0;
    for (int i = lo; i < hi; i++) s += losses[i];
    return s;
}

/* Input of the NER classifier: the dropped-out encoder output in training,
 * the encoder output itself otherwise. */
static const float *ner_input(const Model *m) {
    return m->p_drop > 0.0f ? m->a.ner_in : encoder_output(m);
}

static float forward_ner(Model *m, int B, int T) {
    Backend *be = m->be;
    const ModelConfig *c = &m->cfg;
    int N = B * T, nl = c->num_labels;
    if (m->p_drop > 0.0f)
        be->dropout_forward(be, m->a.ner_in, encoder_output(m), (size_t)N * c->C, m->p_drop,
                            m->seed, m->step, stream_of(m, SITE_NER), first_elem(m, (size_t)N * c->C));
    be->matmul_forward(be, m->a.ner_logits, ner_input(m), model_p(m, m->ner_first),
                       model_p(m, m->ner_first + 1), N, c->C, nl);
    be->crossentropy_forward(be, m->a.losses, m->a.ner_probs, m->a.ner_logits, m->d_labels, N, nl);
    be->download(be, m->h_losses, m->a.losses, (size_t)N * sizeof(float));
    if (m->n_valid[0] == 0) return 0.0f;
    return (float)(host_loss_sum(m->h_losses, 0, N) / m->n_valid[0]);
}

/* QA: the [B,T,2] logits are split into 2B rows of T classes (starts, then
 * ends); loss = (mean start CE + mean end CE) / 2. */
static float forward_qa(Model *m, int B, int T) {
    Backend *be = m->be;
    const ModelConfig *c = &m->cfg;
    int N = B * T;
    be->matmul_forward(be, m->a.qa_logits, encoder_output(m), model_p(m, m->qa_first),
                       model_p(m, m->qa_first + 1), N, c->C, 2);
    be->qa_split_forward(be, m->a.qa_split, m->a.qa_logits, B, T);
    be->crossentropy_forward(be, m->a.losses, m->a.qa_probs, m->a.qa_split, m->d_qa, 2 * B, T);
    be->download(be, m->h_losses, m->a.losses, (size_t)(2 * B) * sizeof(float));
    double ls = m->n_valid[0] ? host_loss_sum(m->h_losses, 0, B) / m->n_valid[0] : 0.0;
    double le = m->n_valid[1] ? host_loss_sum(m->h_losses, B, 2 * B) / m->n_valid[1] : 0.0;
    return (float)((ls + le) / 2.0);
}

int model_forward(Model *m, const Batch *b, int train, uint64_t seed, uint32_t step, uint32_t pass,
                  float *loss, Err *err) {
    m->have_fwd = 0;
    if (check_batch_shape(m, b, err) || check_tokens(m, b, err) || check_targets(m, b, err))
        return -1;
    if (pass > 0xFFFFu) return err_set(err, "model_forward: pass %u exceeds 65535", pass);
    m->task = b->task;
    m->B = b->B;
    m->T = b->T;
    m->row0 = b->sliced ? b->row0 : 0;
    m->p_drop = train ? m->cfg.p_drop : 0.0f;
    m->seed = seed;
    m->step = step;
    m->pass = pass;
    upload_batch(m, b);
    forward_embeddings(m, b->B, b->T);
    m->rows = rows_to_run(m, b);
    m->work.rows += m->rows;
    count_work(m, b);
    if (m->rows < b->B * b->T) pack_rows(m, b->B, b->T);
    for (int l = 0; l < m->cfg.L; l++) forward_layer(m, l, b->B, b->T);
    if (m->rows < b->B * b->T) unpack_rows(m, b->B, b->T);
    float lv = b->task == TASK_NER ? forward_ner(m, b->B, b->T) : forward_qa(m, b->B, b->T);
    if (loss) *loss = lv;
    m->have_fwd = 1;
    return 0;
}

/* ---- backward ----------------------------------------------------------- */

/* d(weight * NER loss) into the encoder output gradient g_a. */
static void backward_ner(Model *m, float weight) {
    Backend *be = m->be;
    const ModelConfig *c = &m->cfg;
    int N = m->B * m->T, nl = c->num_labels;
    size_t NC = (size_t)N * c->C;
    be->zero(be, m->a.g_logits, (size_t)N * nl * sizeof(float));
    if (m->n_valid[0] > 0)
        be->crossentropy_backward(be, m->a.g_logits, m->a.ner_probs, m->d_labels,
                                  weight / (float)m->n_valid[0], N, nl);
    /* without dropout the classifier's input gradient goes straight to g_a */
    float *dx = m->p_drop > 0.0f ? m->a.g_t1 : m->a.g_a;
    be->zero(be, dx, NC * sizeof(float));
    be->matmul_backward(be, dx, model_g(m, m->ner_first), model_g(m, m->ner_first + 1),
                        m->a.g_logits, ner_input(m), model_p(m, m->ner_first), N, c->C, nl);
    drop_bwd(m, m->a.g_a, m->a.g_t1, NC, SITE_NER);
}

/* d(weight * QA loss) into g_a: scale weight/(2 n_valid) per half. */
static void backward_qa(Model *m, float weight) {
    Backend *be = m->be;
    const ModelConfig *c = &m->cfg;
    int B = m->B, T = m->T, N = B * T;
    be->zero(be, m->a.g_split, (size_t)2 * N * sizeof(float));
    for (int k = 0; k < 2; k++)
        if (m->n_valid[k] > 0)
            be->crossentropy_backward(be, m->a.g_split + (size_t)k * N, m->a.qa_probs + (size_t)k * N,
                                      m->d_qa + k * B, weight / (2.0f * (float)m->n_valid[k]), B, T);
    be->zero(be, m->a.g_logits, (size_t)2 * N * sizeof(float));
    be->qa_split_backward(be, m->a.g_logits, m->a.g_split, B, T);
    be->zero(be, m->a.g_a, (size_t)N * c->C * sizeof(float));
    be->matmul_backward(be, m->a.g_a, model_g(m, m->qa_first), model_g(m, m->qa_first + 1),
                        m->a.g_logits, encoder_output(m), model_p(m, m->qa_first), N, c->C, 2);
}

/* The adapter of `slot` of layer l (the last forward's task): dA, dB from
 * dout and the saved u, and dinp += its share (dinp may be NULL; so it is
 * with merged weights, whose matmul_backward gave dinp the share already). */
static void lora_bwd(Model *m, int l, int slot, float *dinp, const float *dout, const float *inp, int N, int C,
                     int OC) {
    int a = model_lora_a(m, l, slot);
    if (a < 0) return;
    const ModelConfig *c = &m->cfg;
    m->be->lora_backward(m->be, lora_merged(m) ? NULL : dinp, model_g(m, a), model_g(m, a + 1), m->a.g_lora_u,
                         dout, inp, lora_merged(m) ? NULL : m->a.layer[l].lora_u[slot], model_p(m, a),
                         model_p(m, a + 1), N, C,
                         c->lora_rank, OC, lora_scale(c));
}

/* FFN half of a layer: dout = d(ln2 out); leaves d(ln1 out) in g_res.
 * The residual res2 = ln1 + dropout(fcproj) passes d(res2) unchanged to both
 * operands, so g_res = d(res2) is read by the branch and then serves as the
 * accumulator of d(ln1) (the up-projection backward adds into it): no
 * residual_backward op and no copies. */
static void backward_ffn(Model *m, int l, const float *dout) {
    Backend *be = m->be;
    const ModelConfig *c = &m->cfg;
    LayerActs *la = &m->a.layer[l];
    Acts *a = &m->a;
    const int w = model_layer_first(m, l), N = m->B * m->T, C = c->C, F = c->FFN;
    const size_t NC = (size_t)N * C, NF = (size_t)N * F;
    be->zero(be, a->g_res, NC * sizeof(float));
    be->layernorm_backward(be, a->g_res, model_g(m, w + LT_LN2_W), model_g(m, w + LT_LN2_B), dout,
                           la->res2, model_p(m, w + LT_LN2_W), la->ln2_mean, la->ln2_rstd, N, C);
    float *dproj = drop_bwd(m, a->g_t2, a->g_res, NC, site_ffn_out(l));
    be->zero(be, a->g_ffn2, NF * sizeof(float));
    be->matmul_backward(be, a->g_ffn2, model_g(m, w + LT_DOWN_W), model_g(m, w + LT_DOWN_B), dproj,
                        la->fch_gelu, proj_weight(m, l, LORA_SLOT_DOWN, LT_DOWN_W, C, F), N, F, C);
    lora_bwd(m, l, LORA_SLOT_DOWN, a->g_ffn2, dproj, la->fch_gelu, N, F, C);
    be->zero(be, a->g_ffn1, NF * sizeof(float));
    be->gelu_backward(be, a->g_ffn1, la->fch, a->g_ffn2, NF);
    be->matmul_backward(be, a->g_res, model_g(m, w + LT_UP_W), model_g(m, w + LT_UP_B), a->g_ffn1,
                        la->ln1, proj_weight(m, l, LORA_SLOT_UP, LT_UP_W, F, C), N, C, F);
    lora_bwd(m, l, LORA_SLOT_UP, a->g_res, a->g_ffn1, la->ln1, N, C, F);
}

/* Attention half: d(ln1 out) in g_res; writes d(layer input) into dinp.
 * As in the FFN half, dinp first receives d(res1) from LN1's backward, the
 * branch reads it, and the qkv-projection backward then adds the branch's
 * contribution to it. */
static void backward_attn(Model *m, int l, float *dinp) {
    Backend *be = m->be;
    const ModelConfig *c = &m->cfg;
    LayerActs *la = &m->a.layer[l];
    Acts *a = &m->a;
    const int w = model_layer_first(m, l), N = m->B * m->T, C = c->C;
    const size_t NC = (size_t)N * C;
    be->zero(be, dinp, NC * sizeof(float));
    be->layernorm_backward(be, dinp, model_g(m, w + LT_LN1_W), model_g(m, w + LT_LN1_B), a->g_res,
                           la->res1, model_p(m, w + LT_LN1_W), la->ln1_mean, la->ln1_rstd, N, C);
    float *dproj = drop_bwd(m, a->g_t2, dinp, NC, site_attn_out(l));
    be->zero(be, a->g_t1, NC * sizeof(float));
    be->matmul_backward(be, a->g_t1, model_g(m, w + LT_OUT_W), model_g(m, w + LT_OUT_B), dproj,
                        la->atty, proj_weight(m, l, LORA_SLOT_OUT, LT_OUT_W, C, C), N, C, C);
    lora_bwd(m, l, LORA_SLOT_OUT, a->g_t1, dproj, la->atty, N, C, C);
    be->zero(be, a->g_qkv, NC * 3 * sizeof(float));
    be->attention_backward(be, a->g_qkv, a->att_scratch, a->g_t1, la->qkv, la->att, m->d_mask, m->B,
                           m->T, C, c->NH, m->p_drop, m->seed, m->step,
                           stream_of(m, site_attn_probs(l)), first_elem(m, (size_t)m->B * c->NH * m->T * m->T));
    /* a frozen encoder's layer 0 passes no gradient on: the embeddings have none */
    float *dx = l == 0 && m->g0 > 0 ? NULL : dinp;
    const float *wqkv = dx ? proj_weight(m, l, LORA_SLOT_QKV, LT_QKV_W, 3 * C, C) : model_p(m, w + LT_QKV_W);
    be->matmul_backward(be, dx, model_g(m, w + LT_QKV_W), model_g(m, w + LT_QKV_B), a->g_qkv,
                        layer_input(m, l), wqkv, N, C, 3 * C);
    lora_bwd(m, l, LORA_SLOT_QKV, dx, a->g_qkv, layer_input(m, l), N, C, 3 * C);
}

/* Embeddings: dout = d(embedding output after dropout). */
static void backward_embeddings(Model *m, float *dout, float *spare) {
    Backend *be = m->be;
    const ModelConfig *c = &m->cfg;
    const int N = m->B * m->T;
    const size_t NC = (size_t)N * c->C;
    float *dln = drop_bwd(m, spare, dout, NC, SITE_EMB);
    be->zero(be, m->a.g_res, NC * sizeof(float));
    be->layernorm_backward(be, m->a.g_res, model_g(m, ET_LN_W), model_g(m, ET_LN_B), dln,
                           m->a.emb_sum, model_p(m, ET_LN_W), m->a.emb_mean, m->a.emb_rstd, N, c->C);
    be->embed_backward(be, model_g(m, ET_WORD), model_g(m, ET_POS), model_g(m, ET_TYPE), m->a.g_res,
                       m->d_ids, m->d_types, m->B, m->T, c->C);
    /* The [PAD] row never learns (HF's nn.Embedding(padding_idx=pad_token_id)):
     * every contribution to it came from a [PAD] token, so clearing the row
     * after each backward equals never adding them. */
    be->zero(be, model_g(m, ET_WORD) + (size_t)MODEL_PAD_ID * (size_t)c->C, (size_t)c->C * sizeof(float));
}

static void grads_done(Model *m, int first, int last) {
    if (m->grads_done) m->grads_done(m->grads_done_ctx, first, last);
}

void model_backward(Model *m, const Batch *b, float loss_weight) {
    if (!m->have_fwd) die("model_backward called without a successful model_forward");
    if (b && (b->task != m->task || b->B != m->B || b->T != m->T))
        die("model_backward: batch (task %d, B=%d, T=%d) differs from the last forward (task %d, B=%d, T=%d)",
            b->task, b->B, b->T, m->task, m->B, m->T);
    int head = m->task == TASK_NER ? m->ner_first : m->qa_first;
    if (m->task == TASK_NER)
        backward_ner(m, loss_weight);
    else
        backward_qa(m, loss_weight);
    grads_done(m, head, head + 2); /* w, b */
    /* frozen encoder: only the adapters (if any) need the gradient inside it */
    if (m->g0 > 0 && m->cfg.lora_rank == 0) return;
    float *dout = m->a.g_a, *dinp = m->a.g_b;
    for (int l = m->cfg.L - 1; l >= 0; l--) {
        backward_ffn(m, l, dout);
        backward_attn(m, l, dinp);
        if (m->g0 == 0) grads_done(m, model_layer_first(m, l), model_layer_first(m, l) + LAYER_NTENSORS);
        float *t = dout;
        dout = dinp;
        dinp = t;
    }
    if (m->g0 > 0) return;
    backward_embeddings(m, dout, dinp);
    grads_done(m, 0, EMB_NTENSORS);
}

void model_set_grads_done(Model *m, ModelGradsDone fn, void *ctx) {
    m->grads_done = fn;
    m->grads_done_ctx = ctx;
}

/* ---- outputs ------------------------------------------------------------ */

void model_get_logits(const Model *m, float *host_out) {
    size_t N = (size_t)m->B * m->T;
    if (m->task == TASK_NER)
        m->be->download(m->be, host_out, m->a.ner_logits, N * m->cfg.num_labels * sizeof(float));
    else
        m->be->download(m->be, host_out, m->a.qa_logits, N * 2 * sizeof(float));
}

void model_get_hidden(const Model *m, float *host_out) {
    size_t N = (size_t)m->B * m->T;
    m->be->download(m->be, host_out, encoder_output(m), N * m->cfg.C * sizeof(float));
}

/* model.c — parameter table, allocation, BERT init, optimiser step,
 * checkpoint I/O and counts. The forward/backward passes are in
 * model_pass.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "rng.h"

/* ---- parameter table --------------------------------------------------- */

typedef struct {
    ParamInfo *tab;
    int *kind, *src;
    int n, cap;
    size_t total;
    int task; /* ParamInfo.task of the tensors added now */
} TableBuilder;

/* Append a tensor [d0] (d1 == 0) or [d0, d1]. Weights (INIT_NORMAL) decay;
 * biases and LayerNorm parameters do not (BERT's no_decay list). */
static void table_add(TableBuilder *tb, const char *name, int d0, int d1, int kind) {
    if (tb->n == tb->cap) {
        tb->cap = tb->cap ? 2 * tb->cap : 64;
        tb->tab = xrealloc(tb->tab, (size_t)tb->cap * sizeof *tb->tab);
        tb->kind = xrealloc(tb->kind, (size_t)tb->cap * sizeof *tb->kind);
        tb->src = xrealloc(tb->src, (size_t)tb->cap * sizeof *tb->src);
    }
    ParamInfo *p = &tb->tab[tb->n];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = d1 > 0 ? 2 : 1;
    p->shape[0] = d0;
    p->shape[1] = d1 > 0 ? d1 : 0;
    p->numel = (size_t)d0 * (size_t)(d1 > 0 ? d1 : 1);
    p->offset = tb->total;
    p->decay = kind == INIT_NORMAL;
    p->task = tb->task;
    tb->kind[tb->n] = kind;
    tb->src[tb->n] = tb->n;
    tb->total += p->numel;
    tb->n++;
}

/* The 12 tensors of layer l, named prefix + "layer{l}." + suffix. */
static void table_add_layer(TableBuilder *tb, const char *prefix, int l, int C, int FFN) {
    char name[40];
#define ADD(suffix, d0, d1, kind)                                          \
    do {                                                                   \
        snprintf(name, sizeof name, "%slayer%d.%s", prefix, l, suffix);    \
        table_add(tb, name, d0, d1, kind);                                 \
    } while (0)
    ADD("attn.qkv.w", 3 * C, C, INIT_NORMAL);
    ADD("attn.qkv.b", 3 * C, 0, INIT_ZERO);
    ADD("attn.out.w", C, C, INIT_NORMAL);
    ADD("attn.out.b", C, 0, INIT_ZERO);
    ADD("ln1.w", C, 0, INIT_ONE);
    ADD("ln1.b", C, 0, INIT_ZERO);
    ADD("ffn.up.w", FFN, C, INIT_NORMAL);
    ADD("ffn.up.b", FFN, 0, INIT_ZERO);
    ADD("ffn.down.w", C, FFN, INIT_NORMAL);
    ADD("ffn.down.b", C, 0, INIT_ZERO);
    ADD("ln2.w", C, 0, INIT_ONE);
    ADD("ln2.b", C, 0, INIT_ZERO);
#undef ADD
}

/* The QA copies of layers K..L-1 ("qa.layer{l}.*"), each drawing the init
 * stream of its NER twin, so that both copies start equal. */
static void table_add_qa_copies(TableBuilder *tb, Model *m) {
    const ModelConfig *c = &m->cfg;
    m->qa_copy_first = tb->n;
    tb->task = TASK_QA;
    for (int l = m->K; l < c->L; l++) {
        table_add_layer(tb, MODEL_QA_COPY_PREFIX, l, c->C, c->FFN);
        for (int j = 0; j < LAYER_NTENSORS; j++)
            tb->src[tb->n - LAYER_NTENSORS + j] = EMB_NTENSORS + LAYER_NTENSORS * l + j;
    }
}

/* LoRA adapters, after the heads: for each task with a head, for each layer,
 * for each enabled slot, "lora.<task>.layer{l}.<proj>.a" [r, in] (N(0, 1/r))
 * then ".b" [out, r] (zero); both decay (as peft's adapters under HF's
 * Trainer, whose no-decay list is biases and LayerNorm weights only). */
static void table_add_lora(TableBuilder *tb, Model *m) {
    const ModelConfig *c = &m->cfg;
    static const char *const proj[LORA_NSLOTS] = {"attn.qkv", "attn.out", "ffn.up", "ffn.down"};
    const int in[LORA_NSLOTS] = {c->C, c->C, c->C, c->FFN}, out[LORA_NSLOTS] = {3 * c->C, c->C, c->FFN, c->C};
    m->lora_nslots = 0;
    for (int s = 0; s < LORA_NSLOTS; s++) m->lora_slot_rank[s] = lora_slot_on(c, s) ? m->lora_nslots++ : -1;
    for (int task = 0; task < 2; task++) {
        m->lora_first[task] = -1;
        if (!(c->heads & (1 << task))) continue;
        m->lora_first[task] = tb->n;
        tb->task = task;
        for (int l = 0; l < c->L; l++)
            for (int s = 0; s < LORA_NSLOTS; s++) {
                if (m->lora_slot_rank[s] < 0) continue;
                char name[40];
                snprintf(name, sizeof name, "lora.%s.layer%d.%s.a", task_name(task), l, proj[s]);
                table_add(tb, name, c->lora_rank, in[s], INIT_LORA_A);
                tb->tab[tb->n - 1].decay = 1;
                snprintf(name, sizeof name, "lora.%s.layer%d.%s.b", task_name(task), l, proj[s]);
                table_add(tb, name, out[s], c->lora_rank, INIT_ZERO);
                tb->tab[tb->n - 1].decay = 1;
            }
    }
}

/* The first trainable float: everything from the first head on when the
 * encoder is frozen (heads, then LoRA adapters), else 0. Marks the table. */
static void mark_trainable(Model *m) {
    int first = m->ner_first >= 0 ? m->ner_first : m->qa_first;
    m->g0 = m->cfg.frozen_encoder ? m->tab[first].offset : 0;
    for (int i = 0; i < m->ntab; i++) m->tab[i].trainable = m->tab[i].offset >= m->g0;
}

/* The order of reference/DEBUG_STATE.md: embeddings, layers, ner, qa, then
 * the QA copies of the top layers when K < L, or the LoRA adapters. */
static void build_table(Model *m) {
    const ModelConfig *c = &m->cfg;
    TableBuilder tb = {0};
    tb.task = -1;
    m->K = config_shared_layers(c);
    m->qa_copy_first = -1;
    table_add(&tb, "emb.word", c->V, c->C, INIT_NORMAL);
    table_add(&tb, "emb.pos", c->maxT, c->C, INIT_NORMAL);
    table_add(&tb, "emb.type", c->type_vocab, c->C, INIT_NORMAL);
    table_add(&tb, "emb.ln.w", c->C, 0, INIT_ONE);
    table_add(&tb, "emb.ln.b", c->C, 0, INIT_ZERO);
    for (int l = 0; l < c->L; l++) {
        tb.task = l >= m->K ? TASK_NER : -1; /* the NER copy of a top layer */
        table_add_layer(&tb, "", l, c->C, c->FFN);
    }
    m->ner_first = m->qa_first = -1;
    if (c->heads & HEAD_NER) {
        m->ner_first = tb.n;
        tb.task = TASK_NER;
        table_add(&tb, "ner.w", c->num_labels, c->C, INIT_NORMAL);
        table_add(&tb, "ner.b", c->num_labels, 0, INIT_ZERO);
    }
    if (c->heads & HEAD_QA) {
        m->qa_first = tb.n;
        tb.task = TASK_QA;
        table_add(&tb, "qa.w", 2, c->C, INIT_NORMAL);
        table_add(&tb, "qa.b", 2, 0, INIT_ZERO);
    }
    if (m->K < c->L) table_add_qa_copies(&tb, m);
    m->lora_first[0] = m->lora_first[1] = -1;
    for (int s = 0; s < LORA_NSLOTS; s++) m->lora_slot_rank[s] = -1;
    if (c->lora_rank > 0) table_add_lora(&tb, m);
    m->tab = tb.tab;
    m->init_kind = tb.kind;
    m->init_src = tb.src;
    m->ntab = tb.n;
    m->nparams = tb.total;
    mark_trainable(m);
}

/* ---- create / free ----------------------------------------------------- */

static int check_sizes(const ModelConfig *cfg, int maxB, int maxT, Err *err) {
    if (config_validate(cfg, err) != 0) return -1;
    if (maxB < 1) return err_set(err, "model: max batch size maxB=%d must be >= 1", maxB);
    if (maxT < 1 || maxT > cfg->maxT)
        return err_set(err, "model: max sequence length maxT=%d must be in [1, %d] (the position table)",
                       maxT, cfg->maxT);
    if (cfg->L > 21843) return err_set(err, "model: L=%d layers exceeds the dropout stream space", cfg->L);
    return 0;
}

static void alloc_inputs(Model *m) {
    size_t n = (size_t)m->maxB * m->maxT;
    m->ibuf = m->be->alloc(m->be, (4 * n + 2 * (size_t)m->maxB) * sizeof(int));
    m->d_ids = m->ibuf;
    m->d_types = m->d_ids + n;
    m->d_mask = m->d_types + n;
    m->d_labels = m->d_mask + n;
    m->d_qa = m->d_labels + n;
    m->h_ints = xmalloc(n * sizeof *m->h_ints);
    m->h_len = xmalloc((size_t)m->maxB * sizeof *m->h_len);
    m->h_off = xmalloc((size_t)m->maxB * sizeof *m->h_off);
    size_t nl = n > 2 * (size_t)m->maxB ? n : 2 * (size_t)m->maxB;
    m->h_losses = xmalloc(nl * sizeof *m->h_losses);
}

static Model *create_model(const ModelConfig *cfg, Backend *be, int maxB, int maxT, int inference,
                           Err *err) {
    if (check_sizes(cfg, maxB, maxT, err) != 0) return NULL;
    Model *m = xcalloc(1, sizeof *m);
    m->cfg = *cfg;
    m->be = be;
    m->maxB = maxB;
    m->maxT = maxT;
    m->inference = inference;
    build_table(m);
    m->params = be->alloc(be, m->nparams * sizeof(float));
    if (!inference) {
        size_t bytes = model_num_trainable(m) * sizeof(float);
        m->grads = be->alloc(be, bytes);
        m->adam_m = be->alloc(be, bytes);
        m->adam_v = be->alloc(be, bytes);
    }
    m->a.layer = xcalloc((size_t)cfg->L, sizeof *m->a.layer);
    int keep_att = !inference && !be->attn_recompute; /* P for the backward (ops.h) */
    m->act_floats = model_layout_acts(&m->a, NULL, cfg, maxB, maxT, inference, keep_att, be->attn_scratch);
    m->actbuf = be->alloc(be, m->act_floats * sizeof(float));
    model_layout_acts(&m->a, m->actbuf, cfg, maxB, maxT, inference, keep_att, be->attn_scratch);
    alloc_inputs(m);
    return m;
}

Model *model_create(const ModelConfig *cfg, Backend *be, int maxB, int maxT, Err *err) {
    return create_model(cfg, be, maxB, maxT, 0, err);
}

Model *model_create_inference(const ModelConfig *cfg, Backend *be, int maxB, int maxT, Err *err) {
    return create_model(cfg, be, maxB, maxT, 1, err);
}

int model_is_inference(const Model *m) { return m->inference; }

void model_skip_padding(Model *m, int on) {
    if (on && !m->inference) die("model_skip_padding: a training forward keeps the padded layout");
    m->skip_padding = on != 0;
}

int model_rows_run(const Model *m) { return m->rows; }

ModelWork model_work_done(const Model *m) { return m->work; }

int model_freeze_weights(Model *m, char *note, size_t note_len) {
    if (!m->inference) die("model_freeze_weights: a training model's weights change every step");
    Backend *be = m->be;
    if (!be->freeze_weights) {
        if (note) snprintf(note, note_len, "the %s backend keeps one layout", be->name);
        return 0;
    }
    if (m->frozen) return 1;
    m->frozen = be->freeze_weights(be, m->params, m->nparams * sizeof(float), note, note_len);
    return m->frozen;
}

/* The parameters are about to be written: the backend forgets what it kept
 * of them (its packed copies would be stale). */
static void model_params_written(Model *m) {
    if (!m->frozen) return;
    m->be->thaw_weights(m->be, m->params);
    m->frozen = 0;
}

void model_free(Model *m) {
    if (!m) return;
    Backend *be = m->be;
    be->free(be, m->params);
    if (!m->inference) {
        be->free(be, m->grads);
        be->free(be, m->adam_m);
        be->free(be, m->adam_v);
    }
    be->free(be, m->actbuf);
    be->free(be, m->ibuf);
    free(m->a.layer);
    free(m->h_ints);
    free(m->h_losses);
    free(m->h_len);
    free(m->h_off);
    free(m->tab);
    free(m->init_kind);
    free(m->init_src);
    free(m);
}

const ModelConfig *model_config(const Model *m) { return &m->cfg; }

/* ---- init -------------------------------------------------------------- */

/* Box-Muller on Philox uniforms: for the pair (2k, 2k+1) of a tensor,
 *   r = sqrt(-2 ln(1 - u1)), z0 = r cos(2 pi u2), z1 = r sin(2 pi u2)
 * with u1, u2 the uniforms of elements 2k and 2k+1 (1 - u1 is in (0, 1]). */
static void fill_normal(float *x, size_t n, float std, uint64_t seed, uint32_t stream) {
    const double two_pi = 6.283185307179586;
    for (size_t k = 0; 2 * k < n; k++) {
        double u1 = rng_uniform(seed, 0, stream, 2 * k);
        double u2 = rng_uniform(seed, 0, stream, 2 * k + 1);
        double r = sqrt(-2.0 * log(1.0 - u1));
        x[2 * k] = (float)(std * r * cos(two_pi * u2));
        if (2 * k + 1 < n) x[2 * k + 1] = (float)(std * r * sin(two_pi * u2));
    }
}

void model_init(Model *m, uint64_t seed) {
    float *host = xmalloc(m->nparams * sizeof *host);
    for (int i = 0; i < m->ntab; i++) {
        float *x = host + m->tab[i].offset;
        size_t n = m->tab[i].numel;
        if (m->init_kind[i] == INIT_NORMAL)
            fill_normal(x, n, m->cfg.init_std, seed, 0x1000u + (uint32_t)m->init_src[i]);
        else if (m->init_kind[i] == INIT_LORA_A)
            fill_normal(x, n, 1.0f / (float)m->cfg.lora_rank, seed, 0x1000u + (uint32_t)m->init_src[i]);
        else
            for (size_t j = 0; j < n; j++) x[j] = m->init_kind[i] == INIT_ONE ? 1.0f : 0.0f;
    }
    model_params_from_host(m, host);
    free(host);
    m->t = 0;
    if (m->inference) return;
    size_t bytes = model_num_trainable(m) * sizeof(float);
    m->be->zero(m->be, m->grads, bytes);
    m->be->zero(m->be, m->adam_m, bytes);
    m->be->zero(m->be, m->adam_v, bytes);
}

/* ---- gradients and optimiser ------------------------------------------- */

size_t model_num_trainable(const Model *m) { return m->nparams - m->g0; }
size_t model_trainable_offset(const Model *m) { return m->g0; }

void model_zero_grad(Model *m) { m->be->zero(m->be, m->grads, model_num_trainable(m) * sizeof(float)); }

double model_grad_sumsq_range(Model *m, size_t lo, size_t hi) {
    return hi > lo ? m->be->sumsq(m->be, m->grads + lo, hi - lo) : 0.0;
}
double model_grad_norm(Model *m) { return sqrt(model_grad_sumsq_range(m, 0, model_num_trainable(m))); }

void model_clip_grad_range(Model *m, double norm, float max_norm, size_t lo, size_t hi) {
    if (max_norm <= 0.0f || !(norm > max_norm) || hi <= lo) return;
    float coef = (float)(max_norm / (norm + 1e-6));
    m->be->scale(m->be, m->grads + lo, hi - lo, coef);
}
void model_clip_grad(Model *m, double norm, float max_norm) {
    model_clip_grad_range(m, norm, max_norm, 0, model_num_trainable(m));
}

/* One kernel call per run of consecutive trainable tensors with the same
 * decay flag (elementwise update, so the grouping does not change any
 * value), cut to [lo, hi) of the gradient buffer (offsets minus g0). */
static void adamw_range(Model *m, const AdamWParams *hp, float lr, size_t lo, size_t hi) {
    int i = 0;
    while (i < m->ntab && !m->tab[i].trainable) i++;
    while (i < m->ntab) {
        int j = i + 1;
        while (j < m->ntab && m->tab[j].decay == m->tab[i].decay) j++;
        size_t a = m->tab[i].offset - m->g0, b = m->tab[j - 1].offset + m->tab[j - 1].numel - m->g0;
        a = a > lo ? a : lo;
        b = b < hi ? b : hi;
        float wd = m->tab[i].decay ? hp->weight_decay : 0.0f;
        if (b > a)
            m->be->adamw_update(m->be, m->params + m->g0 + a, m->grads + a, m->adam_m + a, m->adam_v + a, b - a,
                                lr, hp->beta1, hp->beta2, hp->eps, wd, m->t);
        i = j;
    }
}
void model_adamw_step_ranges(Model *m, const AdamWParams *hp, float lr, const size_t *lohi, int nranges) {
    m->t++;
    for (int k = 0; k < nranges; k++) adamw_range(m, hp, lr, lohi[2 * k], lohi[2 * k + 1]);
}
void model_adamw_step(Model *m, const AdamWParams *hp, float lr) {
    size_t all[2] = {0, model_num_trainable(m)};
    model_adamw_step_ranges(m, hp, lr, all, 1);
}

/* ---- table access and I/O ---------------------------------------------- */

int model_num_tensors(const Model *m) { return m->ntab; }
const ParamInfo *model_tensor(const Model *m, int i) {
    return i >= 0 && i < m->ntab ? &m->tab[i] : NULL;
}
const ParamInfo *model_find_tensor(const Model *m, const char *name) {
    for (int i = 0; i < m->ntab; i++)
        if (!strcmp(m->tab[i].name, name)) return &m->tab[i];
    return NULL;
}
size_t model_num_params(const Model *m) { return m->nparams; }

const char *model_layer_name(const char *name) {
    size_t k = strlen(MODEL_QA_COPY_PREFIX);
    return !strncmp(name, MODEL_QA_COPY_PREFIX, k) && !strncmp(name + k, "layer", 5) ? name + k : name;
}
int model_name_is_head(const char *name) {
    return !strncmp(name, "ner.", 4) || (!strncmp(name, "qa.", 3) && model_layer_name(name) == name);
}

int model_name_is_adapter(const char *name) { return !strncmp(name, "lora.", 5); }

int model_task_encoders_differ(const ModelConfig *c) { return c->task_layers > 0 || c->lora_rank > 0; }

/* W[out, in] += s * B[out, r] A[r, in] for one adapter. */
static void merge_one(float *w, const float *a, const float *b, int out, int in, int r, double s) {
    for (int o = 0; o < out; o++)
        for (int c = 0; c < in; c++) {
            double acc = 0.0;
            for (int k = 0; k < r; k++) acc += (double)b[(size_t)o * r + k] * a[(size_t)k * in + c];
            w[(size_t)o * in + c] = (float)(w[(size_t)o * in + c] + s * acc);
        }
}

void model_merge_adapters(const Model *m, int task, float *host) {
    const ModelConfig *c = &m->cfg;
    if (c->lora_rank <= 0 || m->lora_first[task] < 0) return;
    static const int weight_of[LORA_NSLOTS] = {LT_QKV_W, LT_OUT_W, LT_UP_W, LT_DOWN_W};
    const double s = (double)c->lora_alpha / c->lora_rank;
    for (int l = 0; l < c->L; l++)
        for (int slot = 0; slot < LORA_NSLOTS; slot++) {
            if (m->lora_slot_rank[slot] < 0) continue;
            int a = m->lora_first[task] + 2 * (l * m->lora_nslots + m->lora_slot_rank[slot]);
            const ParamInfo *w = &m->tab[EMB_NTENSORS + LAYER_NTENSORS * l + weight_of[slot]];
            merge_one(host + w->offset, host + m->tab[a].offset, host + m->tab[a + 1].offset, w->shape[0],
                      w->shape[1], c->lora_rank, s);
        }
}

int weights_check_finite(const void *x, size_t n, const char *file, const char *tensor,
                         const char *what, Err *err) {
    const unsigned char *b = x;
    for (size_t i = 0; i < n; i++) {
        float f;
        memcpy(&f, b + i * sizeof f, sizeof f); /* x may be unaligned (a file image) */
        if (isfinite(f)) continue;
        return err_set(err, "%s: tensor '%s'%s element %zu is %s (the weights must be finite)", file,
                       tensor, what, i, isnan(f) ? "nan" : f > 0 ? "inf" : "-inf");
    }
    return 0;
}

void model_params_to_host(const Model *m, float *dst) {
    m->be->download(m->be, dst, m->params, m->nparams * sizeof(float));
}
void model_params_from_host(Model *m, const float *src) {
    model_params_written(m);
    m->be->upload(m->be, m->params, src, m->nparams * sizeof(float));
}
void model_grads_to_host(const Model *m, float *dst) {
    memset(dst, 0, m->g0 * sizeof(float)); /* frozen: no gradient */
    m->be->download(m->be, dst + m->g0, m->grads, model_num_trainable(m) * sizeof(float));
}
void model_buffer_apply(Model *m, int which, void (*fn)(Backend *be, float *x, size_t n, void *ctx), void *ctx) {
    float *bufs[] = {m->params, m->grads, m->adam_m, m->adam_v};
    if (which < 0 || which > MODEL_ADAM_V || (m->inference && which != MODEL_PARAMS))
        die("model_buffer_apply: no buffer %d in this model", which);
    if (which == MODEL_PARAMS) model_params_written(m);
    fn(m->be, bufs[which], which == MODEL_PARAMS ? m->nparams : model_num_trainable(m), ctx);
}
void model_grad_tensor_to_host(const Model *m, const ParamInfo *p, float *dst) {
    if (!p->trainable) memset(dst, 0, p->numel * sizeof(float));
    else m->be->download(m->be, dst, m->grads + (p->offset - m->g0), p->numel * sizeof(float));
}
void model_optstate_to_host(const Model *m, float *m_dst, float *v_dst, int *t) {
    m->be->download(m->be, m_dst, m->adam_m, model_num_trainable(m) * sizeof(float));
    m->be->download(m->be, v_dst, m->adam_v, model_num_trainable(m) * sizeof(float));
    *t = m->t;
}
void model_optstate_from_host(Model *m, const float *m_src, const float *v_src, int t) {
    m->t = t;
    if (m->inference) return; /* a forward-only model keeps no optimiser state */
    m->be->upload(m->be, m->adam_m, m_src, model_num_trainable(m) * sizeof(float));
    m->be->upload(m->be, m->adam_v, v_src, model_num_trainable(m) * sizeof(float));
}

/* ---- counts ------------------------------------------------------------ */

ModelCounts model_counts(const ModelConfig *c, int maxB, int maxT) {
    ModelCounts k;
    memset(&k, 0, sizeof k);
    size_t C = (size_t)c->C, F = (size_t)c->FFN;
    k.embeddings = ((size_t)c->V + (size_t)c->maxT + (size_t)c->type_vocab) * C + 2 * C;
    /* qkv (3C*C + 3C) + out (C*C + C) + up (F*C + F) + down (C*F + C) + 2 LNs (4C) */
    k.per_layer = 3 * C * C + 3 * C + C * C + C + F * C + F + C * F + C + 4 * C;
    k.encoder = k.embeddings + (size_t)c->L * k.per_layer;
    k.shared = k.embeddings + (size_t)config_shared_layers(c) * k.per_layer;
    k.task_layers = (size_t)c->task_layers * k.per_layer;
    k.ner_head = (size_t)c->num_labels * C + (size_t)c->num_labels;
    k.qa_head = 2 * C + 2;
    k.lora = (size_t)c->L * (size_t)config_lora_per_layer(c);
    /* task_layers > 0 only with both heads (config_validate) */
    size_t heads = ((c->heads & HEAD_NER) ? k.ner_head : 0) + ((c->heads & HEAD_QA) ? k.qa_head : 0);
    size_t adapters = (size_t)config_num_heads(c) * k.lora;
    k.total = k.shared + 2 * k.task_layers + heads + adapters;
    k.trainable = c->frozen_encoder ? heads + adapters : k.total;
    k.param_bytes = k.total * sizeof(float);
    k.grad_bytes = k.trainable * sizeof(float);
    k.optim_bytes = 2 * k.grad_bytes;
    if (maxB > 0 && maxT > 0) {
        Acts a;
        memset(&a, 0, sizeof a);
        a.layer = xcalloc((size_t)(c->L > 0 ? c->L : 1), sizeof *a.layer);
        k.act_bytes = model_layout_acts(&a, NULL, c, maxB, maxT, 0, 0, 1) * sizeof(float);
        k.att_bytes = model_layout_acts(&a, NULL, c, maxB, maxT, 0, 1, 1) * sizeof(float) - k.act_bytes;
        k.scratch_bytes = k.act_bytes - model_layout_acts(&a, NULL, c, maxB, maxT, 0, 0, 0) * sizeof(float);
        k.infer_act_bytes = model_layout_acts(&a, NULL, c, maxB, maxT, 1, 0, 1) * sizeof(float);
        free(a.layer);
    }
    return k;
}

size_t model_counts_act_bytes(const ModelCounts *k, const Backend *be) {
    return k->act_bytes - (be->attn_scratch ? 0 : k->scratch_bytes) + (be->attn_recompute ? 0 : k->att_bytes);
}

size_t model_counts_infer_act_bytes(const ModelCounts *k, const Backend *be) {
    return k->infer_act_bytes - (be->attn_scratch ? 0 : k->scratch_bytes);
}

size_t model_act_bytes(const Model *m) { return m->act_floats * sizeof(float); }

/* Forward FLOPs, counting a multiply-add as 2 and N = B*T rows:
 *   per layer  2N(3C*C + C*C + 2*C*FFN)      qkv, out, up, down matmuls
 *            + 4*B*NH*T*T*hs                 q.k^T and P.v (2 each)
 *            + 2N * (one task's LoRA weights of the layer)
 *   NER head   2N*C*num_labels ; QA head 2N*C*2
 * Softmax, LayerNorm, GELU etc. are not counted (as in MFU conventions). */
double model_forward_flops(const ModelConfig *c, int task, int B, int T) {
    double N = (double)B * T, C = c->C, F = c->FFN, hs = (double)c->C / c->NH;
    double layer = 2.0 * N * (3 * C * C + C * C + 2 * C * F) + 4.0 * B * c->NH * (double)T * T * hs;
    layer += 2.0 * N * (double)config_lora_per_layer(c); /* x A^T then u B^T: 2 flops per adapter weight */
    double head = task == TASK_NER ? 2.0 * N * C * c->num_labels : 2.0 * N * C * 2;
    return c->L * layer + head;
}


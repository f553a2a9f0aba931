/* model_internal.h — the Model struct, shared by impl/model/model.c (parameters,
 * init, optimiser, I/O, counts) and impl/model/model_pass.c (forward, backward).
 * Not part of the public API: include model.h instead. */
#ifndef MTL_MODEL_INTERNAL_H
#define MTL_MODEL_INTERNAL_H

#include "model.h"

/* Index of each tensor within one encoder layer's 12 table entries. */
enum {
    LT_QKV_W,
    LT_QKV_B,
    LT_OUT_W,
    LT_OUT_B,
    LT_LN1_W,
    LT_LN1_B,
    LT_UP_W,
    LT_UP_B,
    LT_DOWN_W,
    LT_DOWN_B,
    LT_LN2_W,
    LT_LN2_B,
    LAYER_NTENSORS
};
/* Embedding tensors come first: word, pos, type, ln.w, ln.b. */
enum { ET_WORD, ET_POS, ET_TYPE, ET_LN_W, ET_LN_B, EMB_NTENSORS };

/* How model_init fills a tensor: N(0, init_std), 0, 1, or N(0, 1/r) (a
 * LoRA A, as peft's init_lora_weights="gaussian"). */
enum { INIT_NORMAL, INIT_ZERO, INIT_ONE, INIT_LORA_A };

/* The linear layers of an encoder layer a LoRA adapter can sit on, in table
 * order (one task's adapters of layer l: a then b of each enabled slot). */
enum { LORA_SLOT_QKV, LORA_SLOT_OUT, LORA_SLOT_UP, LORA_SLOT_DOWN, LORA_NSLOTS };
/* Does cfg put an adapter on `slot` (LORA_FFN covers both FFN projections)? */
static inline int lora_slot_on(const ModelConfig *c, int slot) {
    static const int target_of[LORA_NSLOTS] = {LORA_QKV, LORA_OUT, LORA_FFN, LORA_FFN};
    return c->lora_rank > 0 && (c->lora_targets & target_of[slot]) != 0;
}

/* Activations of one encoder layer (prefix of each slot used for B*T rows). */
typedef struct {
    float *qkv;        /* [N,3C] */
    float *att;        /* [B,NH,T,T] softmax probabilities */
    float *atty;       /* [N,C] attention output (input of the out projection) */
    float *attproj;    /* [N,C] out projection, dropped in place */
    float *res1;       /* [N,C] x + dropout(attproj): LN1 input */
    float *ln1;        /* [N,C] */
    float *ln1_mean;   /* [N] */
    float *ln1_rstd;   /* [N] */
    float *fch;        /* [N,FFN] up projection (GELU input) */
    float *fch_gelu;   /* [N,FFN] */
    float *fcproj;     /* [N,C] down projection, dropped in place */
    float *res2;       /* [N,C] LN2 input */
    float *ln2;        /* [N,C] layer output */
    float *ln2_mean;   /* [N] */
    float *ln2_rstd;   /* [N] */
    float *lora_u[LORA_NSLOTS]; /* [N,r] x A^T of each LoRA slot (NULL: no adapter there) */
} LayerActs;

typedef struct {
    float *emb_sum, *emb_ln, *emb_mean, *emb_rstd; /* emb_ln: after dropout */
    LayerActs *layer;                              /* [L] */
    float *ner_in, *ner_logits, *ner_probs;        /* [N,C], [N,nl], [N,nl] */
    float *qa_logits, *qa_split, *qa_probs;        /* [N,2], [2,B,T], [2B,T] */
    float *losses;                                 /* [max(N, 2B)] */
    float *att_scratch;                            /* 4*B*T*C + B*NH*T*T */
    /* gradients of activations */
    float *g_a, *g_b, *g_res, *g_t1, *g_t2; /* [N,C] */
    float *g_ffn1, *g_ffn2;                 /* [N,FFN] */
    float *g_qkv;                           /* [N,3C] */
    float *g_logits;                        /* [N, max(nl,2)] */
    float *g_split;                         /* [2N] */
    float *g_lora_u;                        /* [N,r] LoRA backward scratch (NULL without LoRA) */
    float *lora_w; /* [OC,C] of the largest projection: the merged weight being run
                      (model_pass.c proj_weight; NULL without LoRA) */
} Acts;

struct Model {
    ModelConfig cfg;
    Backend *be;
    int maxB, maxT;
    int inference; /* model_create_inference: no grads, no Adam state, shared layer activations */
    int frozen;    /* params registered with the backend's freeze_weights (model_freeze_weights) */
    int skip_padding; /* model_skip_padding: an inference forward runs the real tokens only */
    int *h_len, *h_off; /* host [maxB]: real tokens of each row of the last forward, their first packed row */
    int rows;           /* rows the encoder layers ran in the last forward: B*T, or the packed real tokens */
    ModelWork work;     /* over every forward: rows run, real tokens, useful FLOPs (model_work_done) */

    ParamInfo *tab;
    int *init_kind;
    int *init_src; /* table index whose init stream a tensor draws (a QA copy: its NER twin's) */
    int ntab;
    size_t nparams;
    int ner_first, qa_first; /* table index of ner.w / qa.w, or -1 */
    int K;                   /* shared layers: L - cfg.task_layers */
    int qa_copy_first;       /* table index of qa.layer{K}.attn.qkv.w, or -1 (K = L) */
    int lora_first[2];       /* per task: table index of its first LoRA tensor, or -1 */
    int lora_nslots;         /* enabled LoRA slots per layer (0 without LoRA) */
    int lora_slot_rank[LORA_NSLOTS]; /* a slot's position among the enabled ones, or -1 */
    /* The trainable parameters are the suffix [g0, nparams) of the table's
     * buffer (g0 = 0 unless the encoder is frozen: then the heads and the
     * LoRA adapters, which come after every frozen tensor). Gradients and
     * the Adam moments exist for it only: grads[i - g0] is parameter i's. */
    size_t g0;

    float *params, *grads, *adam_m, *adam_v; /* backend memory, nparams each */
    int t;                                   /* AdamW updates done */

    float *actbuf; /* backend memory */
    size_t act_floats;
    Acts a;

    int *ibuf;                                       /* backend int inputs */
    int *d_ids, *d_types, *d_mask, *d_labels, *d_qa; /* d_qa: [2B] starts then ends */
    int *h_ints;                                     /* host scratch [maxB*maxT] */
    float *h_losses;                                 /* host [max(N, 2B)] */

    /* state of the last successful forward, used by backward */
    int have_fwd, task, B, T;
    float p_drop; /* 0 when not training */
    uint64_t seed;
    uint32_t step, pass;
    int n_valid[2]; /* NER: valid positions; QA: valid starts, valid ends (of the global batch when sliced) */
    int row0;       /* the batch's first row within its global batch (0 unless sliced) */
    ModelGradsDone grads_done; /* model_set_grads_done */
    void *grads_done_ctx;
};

/* Pointers into the parameter / gradient buffers by table index. */
static inline float *model_p(const Model *m, int i) { return m->params + m->tab[i].offset; }
/* A frozen tensor's gradient pointer is NULL: the kernels then skip it. */
static inline float *model_g(const Model *m, int i) {
    return m->tab[i].offset < m->g0 ? NULL : m->grads + (m->tab[i].offset - m->g0);
}
/* Table index of LoRA tensor a (b = a + 1) of `slot` in layer l for the task
 * of the last forward, or -1 when that slot has no adapter. */
static inline int model_lora_a(const Model *m, int l, int slot) {
    int first = m->lora_first[m->task];
    if (first < 0 || m->lora_slot_rank[slot] < 0) return -1;
    return first + 2 * (l * m->lora_nslots + m->lora_slot_rank[slot]);
}
/* Table index of the first tensor of layer l as the task of the last forward
 * (m->task) sees it: its own QA copy for l >= K, else layer{l}. */
static inline int model_layer_first(const Model *m, int l) {
    if (l >= m->K && m->task == TASK_QA && m->qa_copy_first >= 0)
        return m->qa_copy_first + LAYER_NTENSORS * (l - m->K);
    return EMB_NTENSORS + LAYER_NTENSORS * l;
}

/* Lay the activations out from base (NULL: just count); returns floats.
 * inference: one layer's set shared by every layer and no gradient buffers
 * (safe for the forward: layer l reads its input, layer l-1's ln2, only
 * before it writes its own ln2, the same buffer). keep_att: each layer keeps
 * its attention probabilities P for the backward (a backend without
 * attn_recompute); else LayerActs.att is NULL. scratch: the attention
 * scratch of ops.h (a backend with attn_scratch); else att_scratch is NULL. */
size_t model_layout_acts(Acts *a, float *base, const ModelConfig *cfg, int maxB, int maxT, int inference,
                         int keep_att, int scratch);

#endif

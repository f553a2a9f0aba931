/* model.h — the shared BERT encoder (post-LN) with an NER head and a QA head.
 *
 * Math (exactly reference/DEBUG_STATE.md and kernels/backend.h):
 *   x   = dropout(LN(wte[ids] + wpe[t] + wtt[types]))   (wte[0], [PAD], gets no gradient)
 *   per layer:  qkv = x Wqkv^T + b ; a = attention(qkv, mask, attn-prob dropout)
 *               h = LN1(x + dropout(a Wo^T + bo))
 *               x = LN2(h + dropout(GELU(h Wup^T + bup) Wdown^T + bdown))
 *   NER: logits = dropout(x) Wner^T + bner ; loss = mean over positions whose
 *        label != -100 of CE(logits, label)        (0 if no position is valid)
 *   QA:  [start|end] logits = x Wqa^T + bqa ; loss = (Ls + Le) / 2 where Ls
 *        (Le) is the mean over the batch of CE over the T positions of the
 *        start (end) target; a target of -100 is ignored, as in PyTorch
 *        (where every target of a batch is ignored the loss is 0, not NaN).
 *
 * Partial sharing (cfg.task_layers = L - K > 0, `mtl train --shared-layers
 * K`): the embeddings and layers 0..K-1 are shared; each task has its own
 * copy of layers K..L-1. The NER copy keeps the names "layer{l}.*", the QA
 * copy is "qa.layer{l}.*" (l = K..L-1), appended after the heads, so that the
 * K = L table is a prefix of every K < L table. A task's forward and backward
 * use its own copy for l >= K (the activation buffer is the same: only
 * parameters, gradients and Adam moments grow). A step that trains one task
 * leaves the other copy's gradient 0; AdamW still updates it (as PyTorch's
 * AdamW does for every parameter of the optimiser that has a gradient): its
 * moments decay and weight decay shrinks it.
 *
 * LoRA (cfg.lora_rank = r > 0, `mtl train --lora-rank r`; needs
 * cfg.frozen_encoder): each task has its own adapters (A [r, in], B [out, r])
 * on the targeted projections of every layer ("lora.<task>.layer{l}.<proj>.a|b",
 * after the heads); task t's forward computes each targeted projection as
 *   y = x W^T + bias + (alpha / r) (x A_t^T) B_t^T
 * (kernels/ops.h lora_forward), before that projection's dropout. A frozen
 * encoder (`--freeze-encoder`, or LoRA) gets no gradient: its matmuls and
 * LayerNorms skip their weight gradients, the embeddings their backward, and
 * without adapters the backward stops at the encoder output.
 *
 * Memory: every parameter lives in ONE contiguous backend buffer, in the
 * order and with the names of reference/DEBUG_STATE.md (a head the config
 * does not carry has no entry). Gradients and the Adam moments m and v use
 * the same layout, for the trainable suffix of the table only
 * (model_trainable_offset .. model_num_params; all of it unless frozen). Activations (and their gradients) live in one buffer sized
 * for (maxB, maxT), reused by every forward; a batch with B <= maxB and
 * T <= maxT uses a prefix of each activation slot.
 *
 * Training step with joint sampling (one optimiser step over both tasks):
 *   model_zero_grad; model_forward(NER, pass 0); model_backward(l_ner);
 *   model_forward(QA, pass 1); model_backward(l_qa);
 *   model_clip_grad(m, model_grad_norm(m), clip); model_adamw_step(...)
 *
 * Dropout streams (Philox, impl/base/rng.h), for (seed, step) given to
 * model_forward:  stream = (pass << 16) | site, where site is
 *   0                  embedding output
 *   1 + 3*l + 0        layer l attention probabilities
 *   1 + 3*l + 1        layer l attention output projection
 *   1 + 3*l + 2        layer l FFN output
 *   0xFFFF             NER head input
 * so two passes (NER, QA) of one step, and every layer and site, draw
 * independent masks; the backward redraws the same masks. L < 21844.
 * Element i of a [B, ...] tensor uses counter i + row0 * (its elements per
 * row), so a slice of a batch (Batch.sliced) draws the whole batch's masks.
 *
 * Differences from the suggested API (for the harness):
 *   - model_counts() takes maxB and maxT (for the activation bytes).
 *   - Batch.types == NULL means all type 0, Batch.mask == NULL means no
 *     padding.
 *   - model_create copies *cfg; the model does not own `be`.
 */
#ifndef MTL_MODEL_H
#define MTL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "config.h"
#include "optim.h"
#include "tasks.h"
#include "util.h"

/* The [PAD] token id: its word-embedding row gets no gradient, as with
 * Hugging Face's BertEmbeddings (nn.Embedding(padding_idx=pad_token_id = 0));
 * only QA's loss, whose softmax runs over padded positions too, reaches it. */
#define MODEL_PAD_ID 0

/* Host memory; uploaded by model_forward. */
typedef struct {
    int task; /* TASK_NER or TASK_QA */
    int B, T;
    const int *ids;    /* [B,T] token ids < V */
    const int *types;  /* [B,T] token types < type_vocab, or NULL (all 0) */
    const int *mask;   /* [B,T] 1 real token, 0 padding, or NULL (all 1) */
    const int *labels; /* [B,T] NER labels in [0, num_labels) or -100 */
    const int *start;  /* [B] QA start position in [0, T) or -100 */
    const int *end;    /* [B] QA end position in [0, T) or -100 */
    /* A slice of a larger batch (data parallelism, impl/train/dist.h): these B rows
     * are rows row0 .. row0+B-1 of a global batch whose valid targets number
     * global_valid[0] (NER: labels != -100; QA: starts != -100) and
     * global_valid[1] (QA: ends). The loss is then normalised by the global
     * counts (so the slices' losses and gradients sum to the global batch's)
     * and dropout draws the global batch's masks for these rows. A
     * zero-initialised Batch (sliced 0) is a whole batch. */
    int row0;
    int global_valid[2];
    int sliced; /* 1: row0 and global_valid apply */
} Batch;

/* Rows [lo, hi) of the whole batch g as a slice (sliced = 1, row0 = lo,
 * global_valid = g's counts of valid targets), pointing into g's arrays. */
Batch batch_slice(const Batch *g, int lo, int hi);

/* One named tensor of the parameter table. */
typedef struct {
    char name[40];
    size_t offset; /* in floats, into params / grads / m / v */
    size_t numel;
    int ndim;     /* 1 or 2 */
    int shape[2]; /* PyTorch layout: Linear weight [out, in] */
    int decay;    /* 1 if AdamW weight decay applies (not biases, not LayerNorm) */
    int task;     /* -1: shared by both tasks; else the task (TASK_NER / TASK_QA)
                     whose head, own copy of a top layer or LoRA adapter it is */
    int trainable; /* 0: frozen (ModelConfig.frozen_encoder): no gradient, no Adam state */
} ParamInfo;

/* The prefix of the QA copy of a top layer: "qa.layer5.ffn.up.w". */
#define MODEL_QA_COPY_PREFIX "qa."
/* The name of the layer tensor a QA copy copies ("layer5.ffn.up.w" for
 * "qa.layer5.ffn.up.w"), else name itself: what --init and the Hugging Face
 * names map both copies from. */
const char *model_layer_name(const char *name);
/* 1 for a task head's tensor (ner.*, qa.w, qa.b), 0 otherwise (a QA layer copy too). */
int model_name_is_head(const char *name);
/* 1 for a LoRA adapter tensor ("lora.*"): never in a Hugging Face file or a
 * checkpoint of another run; --init keeps its seeded init. */
int model_name_is_adapter(const char *name);
/* 1 when the two tasks' encoders differ (per-task top layers or LoRA
 * adapters): one forward's encoder output then serves only its task. */
int model_task_encoders_differ(const ModelConfig *cfg);

/* Parameter counts (numbers of floats) and memory (bytes). */
typedef struct {
    size_t embeddings; /* word + position + type + embedding LayerNorm */
    size_t per_layer;  /* one encoder layer */
    size_t encoder;    /* embeddings + L * per_layer: one task's path */
    size_t shared;     /* embeddings + K * per_layer (= encoder when K = L) */
    size_t task_layers; /* (L - K) * per_layer: each task's own top layers */
    size_t ner_head;   /* num_labels*C + num_labels */
    size_t qa_head;    /* 2*C + 2 */
    size_t lora;       /* one task's LoRA adapters (all layers; 0 without LoRA) */
    size_t total;      /* shared + 2 * task_layers + the heads the config carries + every task's adapters */
    size_t trainable;  /* total, or with a frozen encoder the heads + adapters */
    size_t param_bytes, grad_bytes, optim_bytes; /* optim = Adam m + v; grads and optim: trainable only */
    size_t act_bytes; /* activations + their gradients + attention scratch (maxB, maxT), without
                         the stored attention probabilities (--attention recompute) */
    size_t att_bytes; /* what storing them adds (the default): L x [maxB, NH, maxT, maxT] floats */
    size_t infer_act_bytes; /* the same for model_create_inference (never stores them) */
    size_t scratch_bytes;   /* of act_bytes and of infer_act_bytes: the attention scratch
                               (4 maxB maxT C + maxB NH maxT^2 floats), which only a backend
                               with attn_scratch (CUDA) needs */
} ModelCounts;

typedef struct Model Model;

/* Validates cfg (config_validate) and 1 <= maxB, 1 <= maxT <= cfg->maxT,
 * allocates everything (parameters zero until model_init or
 * model_params_from_host). Returns NULL with err filled on bad shapes. */
Model *model_create(const ModelConfig *cfg, Backend *be, int maxB, int maxT, Err *err);
/* Forward only (eval, predict, export): no gradients, no Adam moments, and
 * one layer's activations reused by every layer (~1/(2L) of the training
 * activations). Its forward gives the same bits as a training model's.
 * model_backward, model_adamw_step and the gradient / optimiser-state
 * functions must not be called on it (model_optstate_from_host keeps only t). */
Model *model_create_inference(const ModelConfig *cfg, Backend *be, int maxB, int maxT, Err *err);
int model_is_inference(const Model *m);
/* An inference model's parameters are final (loaded, never written again):
 * the backend may keep its linear weights in a faster layout (Backend
 * freeze_weights; CPU: oneDNN on weights packed once). Returns 1 when it
 * does, 0 when not; note says which library or why not. */
int model_freeze_weights(Model *m, char *note, size_t note_len);
/* An inference model's forward may skip the padding (on: 1): each row of a
 * right-padded batch (mask = its leading 1s) keeps only its real tokens, the
 * encoder layers run on them packed one after the other (rows rounded up to
 * MODEL_PACK_ROWS), attention per row on its own length, and the encoder
 * output is put back in [B,T] order with zero rows at the padding. The real
 * tokens' outputs equal the padded forward's up to the GEMMs' blocking (the
 * masked keys' weights are exactly 0 either way). Off by default; a training
 * forward (dropout, backward) always runs the padded layout. */
enum { MODEL_PACK_ROWS = 32 };
void model_skip_padding(Model *m, int on);
/* Rows the encoder layers ran in the last forward (B*T when nothing was skipped). */
int model_rows_run(const Model *m);
/* What every forward of m so far did: the rows its encoder layers ran, the
 * real tokens among them (the mask's 1s; 1 - tokens / rows is the padding),
 * and the useful FLOPs, model_forward_flops of each row on its real tokens
 * alone (B 1, T = the row's 1s): the least any forward of those inputs has to
 * compute, whatever it pads. */
typedef struct {
    long long rows, tokens;
    double flops;
} ModelWork;
ModelWork model_work_done(const Model *m);
void model_free(Model *m);

const ModelConfig *model_config(const Model *m);

/* BERT init: weights and embeddings N(0, init_std) (Box-Muller on Philox
 * uniforms, stream 0x1000 + tensor index; a QA layer copy draws its NER
 * twin's stream, so both copies start equal), biases 0, LayerNorm w 1 / b 0.
 * Also resets the Adam moments and step counter. */
void model_init(Model *m, uint64_t seed);

/* Forward pass on one batch. train != 0 enables dropout with (seed, step,
 * pass) as described above. Writes the mean loss of the batch's task to
 * *loss (may be NULL). Returns -1 with a message naming the offending
 * position on a bad batch (shape, token id, type, mask, label, span, or a
 * task whose head the model lacks); nothing is computed then. */
int model_forward(Model *m, const Batch *b, int train, uint64_t seed, uint32_t step, uint32_t pass,
                  float *loss, Err *err);

/* Accumulate into the gradients d(loss_weight * loss)/d(params), using the
 * activations of the last successful forward (same batch, same dropout). */
void model_backward(Model *m, const Batch *b, float loss_weight);

void model_zero_grad(Model *m);
/* The trainable parameters: the table's suffix from offset
 * model_trainable_offset (0 unless the encoder is frozen) on. The gradient,
 * Adam m and v buffers hold model_num_trainable floats: element i of them
 * belongs to parameter model_trainable_offset + i. */
size_t model_num_trainable(const Model *m);
size_t model_trainable_offset(const Model *m);
/* Global L2 norm of all gradients (one fixed-order reduction). */
double model_grad_norm(Model *m);
/* Sum of squares of the gradients [lo, hi) of the gradient buffer (a data-
 * parallel rank's shard; model_grad_norm = sqrt of the whole range). */
double model_grad_sumsq_range(Model *m, size_t lo, size_t hi);
/* PyTorch clip_grad_norm_: if norm > max_norm, grads *= max_norm/(norm+1e-6).
 * max_norm <= 0 disables. */
void model_clip_grad(Model *m, double norm, float max_norm);
void model_clip_grad_range(Model *m, double norm, float max_norm, size_t lo, size_t hi);
/* One AdamW step with this step's learning rate lr (what the schedule makes
 * of the peak hp->lr); weight decay hp->weight_decay on tensors with
 * decay = 1 only. Increments the step counter first (1-based t). */
void model_adamw_step(Model *m, const AdamWParams *hp, float lr);
/* The same step (counted once) on the parameters of nranges ranges
 * [lohi[2k], lohi[2k+1]) of the gradient buffer only: a data-parallel rank
 * updates its shard (impl/train/dist.h). */
void model_adamw_step_ranges(Model *m, const AdamWParams *hp, float lr, const size_t *lohi, int nranges);

/* Logits of the last forward: NER [B,T,num_labels], QA [B,T,2]. */
void model_get_logits(const Model *m, float *host_out);
/* Encoder output of the last forward, [B,T,C]. */
void model_get_hidden(const Model *m, float *host_out);

/* Data-parallel overlap (impl/train/dist.h): during model_backward,
 * fn(ctx, first, last) each time the table's tensors [first, last) have
 * received this pass's last gradient contribution: the task's head, then
 * each encoder layer as the task sees it, from the top, then the
 * embeddings (a frozen encoder: the head only). NULL fn: none. */
typedef void (*ModelGradsDone)(void *ctx, int first, int last);
void model_set_grads_done(Model *m, ModelGradsDone fn, void *ctx);

/* Parameter table and checkpoint I/O (host arrays of model_num_params). */
int model_num_tensors(const Model *m);
const ParamInfo *model_tensor(const Model *m, int i);
const ParamInfo *model_find_tensor(const Model *m, const char *name); /* NULL if absent */
size_t model_num_params(const Model *m);
void model_params_to_host(const Model *m, float *dst);
void model_params_from_host(Model *m, const float *src);
/* model_num_params floats, the table's layout (a frozen tensor's are 0). */
void model_grads_to_host(const Model *m, float *dst);
/* fn on one whole flat buffer (backend memory, in the table's layout), in
 * place: the data-parallel sums and gathers (impl/train/dist.h). The
 * parameters are model_num_params floats, the others model_num_trainable. */
enum { MODEL_PARAMS, MODEL_GRADS, MODEL_ADAM_M, MODEL_ADAM_V };
void model_buffer_apply(Model *m, int which, void (*fn)(Backend *be, float *x, size_t n, void *ctx), void *ctx);
/* The gradient of one tensor of the table (p->numel floats; 0 if frozen). */
void model_grad_tensor_to_host(const Model *m, const ParamInfo *p, float *dst);
/* Adam moments (model_num_trainable floats each) and the step counter t
 * (number of updates done). */
void model_optstate_to_host(const Model *m, float *m_dst, float *v_dst, int *t);
void model_optstate_from_host(Model *m, const float *m_src, const float *v_src, int t);

/* host (model_num_params floats, the table's layout) with task's LoRA
 * adapters merged into the weights they adapt: W += (alpha/r) B A (double
 * accumulation), so that a plain BERT with these weights computes what the
 * task's forward does (`mtl export`). No-op without LoRA. */
void model_merge_adapters(const Model *m, int task, float *host);

/* Weights read from a file must be finite: -1 with err = "<file>: tensor
 * '<tensor>'<what> element I is nan|inf|-inf (...)" at the first of the n
 * float32 values at x (no alignment needed) that is not finite, else 0.
 * what: "" or e.g. " (Adam first moment)". */
int weights_check_finite(const void *x, size_t n, const char *file, const char *tensor,
                         const char *what, Err *err);

/* Counts from a config alone (no allocation). */
ModelCounts model_counts(const ModelConfig *cfg, int maxB, int maxT);
/* The activation bytes of a training model on be: act_bytes, less the
 * attention scratch unless be has attn_scratch, + att_bytes unless be
 * recomputes P; of an inference model (model_create_inference): infer_act_bytes
 * less the scratch likewise. Both are what model_act_bytes gives on be. */
size_t model_counts_act_bytes(const ModelCounts *k, const Backend *be);
size_t model_counts_infer_act_bytes(const ModelCounts *k, const Backend *be);

/* The bytes of m's activation buffer (allocated by model_create*). */
size_t model_act_bytes(const Model *m);

/* Model FLOPs of one forward pass on a (B, T) batch of `task` (matmuls and
 * attention only; formula in model.c). Backward = 2x. */
double model_forward_flops(const ModelConfig *cfg, int task, int B, int T);

#endif

/* config.h — model configuration and the size presets (one place). */
#ifndef MTL_CONFIG_H
#define MTL_CONFIG_H

#include "util.h"

/* Which task heads a model carries (hard parameter sharing: one encoder). */
enum { HEAD_NER = 1, HEAD_QA = 2 }; /* 1 << TASK_NER, 1 << TASK_QA (model.h) */
#define HEAD_ALL (HEAD_NER | HEAD_QA)

#define CONFIG_MAX_LAYERS 256 /* the bound of L (num_hidden_layers) */
#define CONFIG_MAX_LORA_RANK 1024 /* the bound of --lora-rank */

/* The linear layers a LoRA adapter may target (ModelConfig.lora_targets):
 * the fused q|k|v projection (one adapter, A shared by q, k and v), the
 * attention output projection, and both FFN projections. */
enum { LORA_QKV = 1, LORA_OUT = 2, LORA_FFN = 4 };
#define LORA_ALL (LORA_QKV | LORA_OUT | LORA_FFN)
#define NER_NUM_LABELS 9 /* O, B-/I- x {PER, LOC, ORG, MISC} (IOB2) */
/* The most optimiser steps a run may take: --max-steps' upper bound, and what
 * a checkpoint's step and AdamW counters are checked against on load (so that
 * a forged counter cannot overflow the int step arithmetic). */
#define TRAIN_MAX_STEPS 100000000L

typedef struct ModelConfig {
    char preset[32];
    int L;            /* encoder layers */
    int C;            /* hidden size (channels) */
    int NH;           /* attention heads; C % NH == 0 */
    int FFN;          /* feed-forward inner size */
    int V;            /* vocabulary size */
    int maxT;         /* max positions */
    int type_vocab;   /* token types (2 for BERT) */
    int num_labels;   /* NER classes */
    int heads;        /* HEAD_NER | HEAD_QA bitmask */
    /* Partial sharing (--shared-layers K): the embeddings and layers
     * 0..K-1 are shared, and each task has its own copy of the top
     * task_layers = L - K layers (model.h names them). 0 (the default of a
     * zeroed config) is hard sharing: every layer shared, K = L. Needs both
     * heads when > 0. */
    int task_layers;
    /* Frozen encoder: the embeddings and every encoder layer get no gradient
     * and no optimiser state; the heads train (`--freeze-encoder`, the
     * heads-only baseline), and so do the LoRA adapters when lora_rank > 0. */
    int frozen_encoder;
    /* LoRA (Hu et al., ICLR 2022; `--lora-rank r`): per task, a low-rank
     * update (alpha / r) B A of each targeted linear layer of every encoder
     * layer (model.h names them). Needs frozen_encoder, both heads' tasks
     * get their own adapters, and no per-task layers (task_layers 0). */
    int lora_rank;    /* r; 0: none */
    float lora_alpha; /* alpha: the update is scaled by alpha / r */
    int lora_targets; /* LORA_QKV | LORA_OUT | LORA_FFN */
    float ln_eps;     /* 1e-12 as BERT */
    float p_drop;     /* hidden and attention dropout */
    float init_std;   /* N(0, init_std) weights, as BERT's initializer_range */
} ModelConfig;

/* Fill cfg from a preset name: tiny, mini, minilm, base. Returns 0 or -1
 * (unknown preset; err lists the valid names). heads defaults to both. */
int config_from_preset(ModelConfig *cfg, const char *name, Err *err);

/* The accepted range of one size field of ModelConfig: the one place every
 * reader of a model config (checkpoint.bin, config.json) and model_create
 * takes its bounds from. */
typedef struct {
    const char *field;  /* the ModelConfig member ("V") */
    const char *hf_key; /* its config.json key ("vocab_size") */
    int lo, hi;
} ConfigBound;

/* The bound of a config.json key, or NULL when the key is not a size. */
const ConfigBound *config_bound(const char *hf_key);

/* K = L - task_layers: the encoder layers both tasks share. */
int config_shared_layers(const ModelConfig *cfg);

/* The most parameters a model may have (16 GiB of float32 weights). */
#define CONFIG_MAX_PARAMS (1ull << 32)
/* The number of parameters cfg describes (both heads when heads has them). */
unsigned long long config_param_count(const ModelConfig *cfg);

/* LoRA's default alpha (peft users' usual; with r = 8 a scale of 2). */
#define CONFIG_LORA_ALPHA_DEFAULT 16.0f
/* cfg with the frozen encoder and rank-r adapters on every projection, alpha
 * CONFIG_LORA_ALPHA_DEFAULT (what model-info, bench-step and bench-kernels
 * mean by --lora-rank r). */
void config_set_lora(ModelConfig *cfg, int r);

/* "qkv,out,ffn" (any non-empty comma list of those, each once) -> *mask of
 * LORA_*; -1 with err naming the bad word and the accepted ones. */
int config_lora_targets_parse(const char *s, int *mask, Err *err);
/* The comma list of a mask, in the order qkv, out, ffn. */
void config_lora_targets_name(int mask, char *buf, size_t n);

/* One task's LoRA adapter parameters in one encoder layer (0 without LoRA). */
unsigned long long config_lora_per_layer(const ModelConfig *cfg);
/* The number of task heads (and LoRA adapter sets) cfg carries: 1 or 2. */
int config_num_heads(const ModelConfig *cfg);

/* Check shapes: every size in its ConfigBound range (the message names the
 * field, its config.json key, the value and the range), at most
 * CONFIG_MAX_PARAMS parameters, C % NH == 0, num_labels >= 1, heads != 0,
 * dropout in [0, 1), eps > 0, 0 <= task_layers <= L and task layers only
 * with both heads; LoRA: 1 <= rank <= min(C, CONFIG_MAX_LORA_RANK), alpha >
 * 0 and finite, targets a non-empty subset of LORA_ALL, a frozen encoder,
 * no task layers. Returns 0 or -1 with a message saying which
 * constraint fails. */
int config_validate(const ModelConfig *cfg, Err *err);

/* Names of the presets, NULL-terminated (for --help). */
extern const char *const CONFIG_PRESET_NAMES[];

#endif

/* config.h — model configuration and the size presets (one place). */
#ifndef MTL_CONFIG_H
#define MTL_CONFIG_H

#include "util.h"

/* Which task heads a model carries (hard parameter sharing: one encoder). */
enum { HEAD_NER = 1, HEAD_QA = 2 }; /* 1 << TASK_NER, 1 << TASK_QA (model.h) */
#define HEAD_ALL (HEAD_NER | HEAD_QA)

#define CONFIG_MAX_LAYERS 256 /* the bound of L (num_hidden_layers) */
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

/* Check shapes: every size in its ConfigBound range (the message names the
 * field, its config.json key, the value and the range), at most
 * CONFIG_MAX_PARAMS parameters, C % NH == 0, num_labels >= 1, heads != 0,
 * dropout in [0, 1), eps > 0, 0 <= task_layers <= L and task layers only
 * with both heads. Returns 0 or -1 with a message saying which
 * constraint fails. */
int config_validate(const ModelConfig *cfg, Err *err);

/* Names of the presets, NULL-terminated (for --help). */
extern const char *const CONFIG_PRESET_NAMES[];

#endif

#include "config.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "conll.h"

_Static_assert(CONLL_NUM_LABELS == NER_NUM_LABELS, "config.h and conll.h disagree on the NER label count");

typedef struct {
    const char *name;
    int L, C, NH, FFN;
} Preset;

/* The model sizes. All use BERT's vocabulary (30522), 512 positions, two
 * token types. `tiny` keeps the same vocab so that real tokenized data runs
 * through it; the debug-state test uses its own explicit small config. */
static const Preset PRESETS[] = {
    {"tiny", 2, 64, 4, 256},
    {"mini", 4, 256, 4, 1024},
    {"minilm", 6, 384, 12, 1536},
    {"base", 12, 768, 12, 3072},
};

const char *const CONFIG_PRESET_NAMES[] = {"tiny", "mini", "minilm", "base", NULL};

int config_from_preset(ModelConfig *cfg, const char *name, Err *err) {
    for (size_t i = 0; i < sizeof PRESETS / sizeof PRESETS[0]; i++) {
        if (strcmp(PRESETS[i].name, name) != 0) continue;
        memset(cfg, 0, sizeof *cfg);
        snprintf(cfg->preset, sizeof cfg->preset, "%s", name);
        cfg->L = PRESETS[i].L;
        cfg->C = PRESETS[i].C;
        cfg->NH = PRESETS[i].NH;
        cfg->FFN = PRESETS[i].FFN;
        cfg->V = 30522;
        cfg->maxT = 512;
        cfg->type_vocab = 2;
        cfg->num_labels = NER_NUM_LABELS;
        cfg->heads = HEAD_ALL;
        cfg->ln_eps = 1e-12f;
        cfg->p_drop = 0.1f;
        cfg->init_std = 0.02f;
        return 0;
    }
    return err_set(err, "unknown preset '%s' (valid: tiny, mini, minilm, base)", name);
}

/* ---- bounds ------------------------------------------------------------- */

/* Generous for any BERT (base: 12 / 768 / 12 / 3072 / 30522 / 512 / 2), small
 * enough that a forged size is refused before anything is allocated. */
static const struct {
    ConfigBound b;
    size_t offset;
} BOUNDS[] = {
    {{"L", "num_hidden_layers", 1, CONFIG_MAX_LAYERS}, offsetof(ModelConfig, L)},
    {{"C", "hidden_size", 1, 16384}, offsetof(ModelConfig, C)},
    {{"NH", "num_attention_heads", 1, 1024}, offsetof(ModelConfig, NH)},
    {{"FFN", "intermediate_size", 1, 65536}, offsetof(ModelConfig, FFN)},
    {{"V", "vocab_size", 5, 1 << 20}, offsetof(ModelConfig, V)},
    {{"maxT", "max_position_embeddings", 2, 1 << 16}, offsetof(ModelConfig, maxT)},
    {{"type_vocab", "type_vocab_size", 1, 1024}, offsetof(ModelConfig, type_vocab)},
};
#define N_BOUNDS (sizeof BOUNDS / sizeof BOUNDS[0])

const ConfigBound *config_bound(const char *hf_key) {
    for (size_t i = 0; i < N_BOUNDS; i++)
        if (!strcmp(BOUNDS[i].b.hf_key, hf_key)) return &BOUNDS[i].b;
    return NULL;
}

int config_shared_layers(const ModelConfig *c) { return c->L - c->task_layers; }

static const struct {
    const char *name;
    int bit;
} LORA_TARGETS[] = {{"qkv", LORA_QKV}, {"out", LORA_OUT}, {"ffn", LORA_FFN}};

int config_lora_targets_parse(const char *s, int *mask, Err *err) {
    *mask = 0;
    const char *p = s;
    for (;;) {
        size_t n = strcspn(p, ",");
        int bit = 0;
        for (size_t i = 0; i < sizeof LORA_TARGETS / sizeof *LORA_TARGETS; i++)
            if (strlen(LORA_TARGETS[i].name) == n && !strncmp(p, LORA_TARGETS[i].name, n)) bit = LORA_TARGETS[i].bit;
        if (!bit)
            return err_set(err, "'%.*s' in '%.100s' is not a LoRA target (accepted: a comma list of qkv, out, ffn)",
                           (int)(n < 60 ? n : 60), p, s);
        if (*mask & bit) return err_set(err, "'%.*s' is listed twice in '%.100s'", (int)n, p, s);
        *mask |= bit;
        if (!p[n]) return 0;
        p += n + 1;
    }
}

void config_set_lora(ModelConfig *c, int r) {
    c->frozen_encoder = 1;
    c->lora_rank = r;
    c->lora_alpha = CONFIG_LORA_ALPHA_DEFAULT;
    c->lora_targets = LORA_ALL;
}

void config_lora_targets_name(int mask, char *buf, size_t n) {
    size_t k = 0;
    if (n) buf[0] = '\0';
    for (size_t i = 0; i < sizeof LORA_TARGETS / sizeof *LORA_TARGETS; i++)
        if ((mask & LORA_TARGETS[i].bit) && k < n)
            k += (size_t)snprintf(buf + k, n - k, "%s%s", k ? "," : "", LORA_TARGETS[i].name);
}

/* One task's adapters of one layer: r (in + out) per targeted projection,
 * qkv [3C, C], out [C, C], up [FFN, C], down [C, FFN]. */
unsigned long long config_lora_per_layer(const ModelConfig *c) {
    if (c->lora_rank <= 0) return 0;
    unsigned long long C = (unsigned)c->C, F = (unsigned)c->FFN, r = (unsigned)c->lora_rank, n = 0;
    if (c->lora_targets & LORA_QKV) n += r * (C + 3 * C);
    if (c->lora_targets & LORA_OUT) n += r * (C + C);
    if (c->lora_targets & LORA_FFN) n += 2 * r * (C + F);
    return n;
}

int config_num_heads(const ModelConfig *c) { return !!(c->heads & HEAD_NER) + !!(c->heads & HEAD_QA); }

/* embeddings + L layers + heads, + one more copy of the task_layers top
 * layers (the QA copy; the NER copy is among the L) */
unsigned long long config_param_count(const ModelConfig *c) {
    unsigned long long C = (unsigned)c->C, F = (unsigned)c->FFN;
    unsigned long long emb = ((unsigned long long)(unsigned)c->V + (unsigned)c->maxT + (unsigned)c->type_vocab + 2) * C;
    unsigned long long layer = 4 * C * C + 2 * C * F + 9 * C + F; /* qkv, out, up, down, 2 LayerNorms */
    unsigned long long heads = ((c->heads & HEAD_NER) ? ((unsigned long long)(unsigned)c->num_labels) * (C + 1) : 0) +
                               ((c->heads & HEAD_QA) ? 2 * (C + 1) : 0);
    unsigned long long copies = c->task_layers > 0 ? (unsigned long long)(unsigned)c->task_layers : 0;
    unsigned long long lora = (unsigned long long)config_num_heads(c) * (unsigned)c->L * config_lora_per_layer(c);
    return emb + ((unsigned long long)(unsigned)c->L + copies) * layer + heads + lora;
}

static int check_bounds(const ModelConfig *c, Err *err) {
    for (size_t i = 0; i < N_BOUNDS; i++) {
        const ConfigBound *b = &BOUNDS[i].b;
        int v = *(const int *)((const char *)c + BOUNDS[i].offset);
        if (v < b->lo || v > b->hi)
            return err_set(err, "config: %s=%d (%s) must be in [%d, %d]", b->field, v, b->hf_key, b->lo, b->hi);
    }
    return 0;
}

static int check_lora(const ModelConfig *c, Err *err) {
    if (c->frozen_encoder != 0 && c->frozen_encoder != 1)
        return err_set(err, "config: frozen_encoder=%d must be 0 or 1", c->frozen_encoder);
    if (c->frozen_encoder && c->task_layers > 0)
        return err_set(err, "config: a frozen encoder and per-task top layers (--shared-layers K < L) do not combine");
    if (c->lora_rank == 0) return 0;
    int hi = c->C < CONFIG_MAX_LORA_RANK ? c->C : CONFIG_MAX_LORA_RANK;
    if (c->lora_rank < 1 || c->lora_rank > hi)
        return err_set(err, "config: LoRA rank r=%d must be in [1, %d] (at most the hidden size C=%d)",
                       c->lora_rank, hi, c->C);
    if (!(c->lora_alpha > 0.0f) || !isfinite(c->lora_alpha))
        return err_set(err, "config: LoRA alpha=%g must be a finite number > 0", c->lora_alpha);
    if (c->lora_targets == 0 || (c->lora_targets & ~LORA_ALL))
        return err_set(err, "config: LoRA targets %d must be a non-empty subset of {qkv, out, ffn}", c->lora_targets);
    if (!c->frozen_encoder) return err_set(err, "config: LoRA (rank %d) needs the frozen encoder", c->lora_rank);
    return 0;
}

int config_validate(const ModelConfig *c, Err *err) {
    if (check_bounds(c, err)) return -1;
    if (c->C % c->NH != 0)
        return err_set(err, "config: hidden size C=%d is not divisible by the number of heads NH=%d",
                       c->C, c->NH);
    if (c->heads == 0 || (c->heads & ~(HEAD_ALL)))
        return err_set(err, "config: heads must be a non-empty subset of {ner, qa}");
    if ((c->heads & HEAD_NER) && (c->num_labels < 1 || c->num_labels > 1024))
        return err_set(err, "config: num_labels=%d must be in [1, 1024] for the NER head", c->num_labels);
    if (c->task_layers < 0 || c->task_layers > c->L)
        return err_set(err, "config: shared layers K=%d (L - task_layers %d) must be in [0, L=%d]",
                       c->L - c->task_layers, c->task_layers, c->L);
    if (c->task_layers > 0 && c->heads != HEAD_ALL)
        return err_set(err, "config: shared layers K=%d < L=%d (per-task top layers) needs both heads (ner and qa)",
                       c->L - c->task_layers, c->L);
    if (check_lora(c, err)) return -1;
    if (config_param_count(c) > CONFIG_MAX_PARAMS)
        return err_set(err, "config: L=%d C=%d FFN=%d V=%d maxT=%d make %llu parameters (at most %llu)",
                       c->L, c->C, c->FFN, c->V, c->maxT, config_param_count(c), CONFIG_MAX_PARAMS);
    if (!(c->p_drop >= 0.0f && c->p_drop < 1.0f))
        return err_set(err, "config: dropout p=%g must be in [0, 1)", c->p_drop);
    if (!(c->ln_eps > 0.0f))
        return err_set(err, "config: layernorm eps=%g must be > 0", c->ln_eps);
    return 0;
}

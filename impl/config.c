#include "config.h"

#include <string.h>

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

int config_validate(const ModelConfig *c, Err *err) {
    if (c->L < 1 || c->C < 1 || c->NH < 1 || c->FFN < 1 || c->V < 1 || c->maxT < 1 ||
        c->type_vocab < 1)
        return err_set(err, "config: all sizes must be positive (L=%d C=%d NH=%d FFN=%d V=%d maxT=%d types=%d)",
                       c->L, c->C, c->NH, c->FFN, c->V, c->maxT, c->type_vocab);
    if (c->C % c->NH != 0)
        return err_set(err, "config: hidden size C=%d is not divisible by the number of heads NH=%d",
                       c->C, c->NH);
    if (c->heads == 0 || (c->heads & ~(HEAD_ALL)))
        return err_set(err, "config: heads must be a non-empty subset of {ner, qa}");
    if ((c->heads & HEAD_NER) && c->num_labels < 1)
        return err_set(err, "config: num_labels=%d must be >= 1 for the NER head", c->num_labels);
    if (!(c->p_drop >= 0.0f && c->p_drop < 1.0f))
        return err_set(err, "config: dropout p=%g must be in [0, 1)", c->p_drop);
    if (!(c->ln_eps > 0.0f))
        return err_set(err, "config: layernorm eps=%g must be > 0", c->ln_eps);
    return 0;
}

/* cmd_model_info.c — `mtl model-info`: parameter counts per group and the
 * memory a training run needs, from the config alone (nothing allocated). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model.h"
#include "opts.h"

typedef struct {
    const char *preset;
    int tasks; /* the heads: 1 << TASK_NER | 1 << TASK_QA */
    int B, T;
    int K; /* shared layers; -1 = all */
    int freeze, lora_rank; /* a frozen encoder: heads only, or LoRA adapters of rank r */
} MiOpts;

#define OS MiOpts
static const OptSpec MI_OPTS[] = {
    {OPT_ARG(OS, "preset", preset, "model size: tiny | mini | minilm | base")},
    {OPT_ENUM(OS, "task", tasks, TASK_SET_NAMES, "which heads the model carries (mtl = both)")},
    {OPT_INT(OS, "batch", B, 1, 1000000, "sequences the activation memory is sized for")},
    {OPT_INT(OS, "seq", T, 1, 1000000, "tokens per sequence the activation memory is sized for")},
    {OPT_INT(OS, "shared-layers", K, 0, CONFIG_MAX_LAYERS, "layers both tasks share, at most L (the rest: one copy per task; default: all L)")},
    {OPT_FLAG(OS, "freeze-encoder", freeze, "the heads-only baseline: gradients and AdamW state for the heads only")},
    {OPT_INT(OS, "lora-rank", lora_rank, 1, CONFIG_MAX_LORA_RANK, "LoRA adapters of rank r per task on every projection of a frozen encoder")},
};
#undef OS

static const OptTable MI_TABLE = {
    .cmd = "model-info",
    .synopsis = "usage: mtl model-info [--preset tiny|mini|minilm|base] [--task ner|qa|mtl] [--batch B] [--seq T] [--shared-layers K] [--freeze-encoder] [--lora-rank r]",
    .about = "Parameter counts per group and the memory of a training run, from the config alone.\n",
    .specs = MI_OPTS,
    .n = (int)(sizeof MI_OPTS / sizeof MI_OPTS[0]),
};

static void print_counts(const ModelConfig *c, const ModelCounts *k, const MiOpts *o) {
    const double MB = 1048576.0;
    printf("preset %s: L=%d C=%d NH=%d FFN=%d V=%d maxT=%d types=%d, heads %s\n", c->preset, c->L,
           c->C, c->NH, c->FFN, c->V, c->maxT, c->type_vocab, enum_name(TASK_SET_NAMES, o->tasks));
    printf("  %-28s %14zu\n", "embeddings", k->embeddings);
    printf("  %-28s %14zu\n", "per encoder layer", k->per_layer);
    printf("  %-28s %14zu  (embeddings + %d layers)\n", "encoder", k->encoder, c->L);
    if (c->heads & HEAD_NER) printf("  %-28s %14zu\n", "NER head", k->ner_head);
    if (c->heads & HEAD_QA) printf("  %-28s %14zu\n", "QA head", k->qa_head);
    int K = config_shared_layers(c);
    printf("  %-28s %14zu  (embeddings + %d layers)\n", "shared", k->shared, K);
    char own[64] = "LoRA adapters + head";
    if (c->lora_rank == 0) snprintf(own, sizeof own, "%d own layers + head", c->L - K);
    if (c->heads & HEAD_NER)
        printf("  %-28s %14zu  (%s)\n", "NER only", k->task_layers + k->lora + k->ner_head, own);
    if (c->heads & HEAD_QA)
        printf("  %-28s %14zu  (%s)\n", "QA only", k->task_layers + k->lora + k->qa_head, own);
    if (c->lora_rank > 0)
        printf("  %-28s %14zu  (rank %d on qkv, out, ffn of %d layers: %.2f%% of the encoder)\n",
               "LoRA adapters per task", k->lora, c->lora_rank, c->L, 100.0 * (double)k->lora / (double)k->encoder);
    printf("  %-28s %14zu\n", "total", k->total);
    if (c->frozen_encoder) printf("  %-28s %14zu  (frozen encoder: heads%s)\n", "trained", k->trainable,
                                  c->lora_rank > 0 ? " + adapters" : " only");
    printf("memory (fp32):\n");
    printf("  %-28s %12.1f MB\n", "parameters", k->param_bytes / MB);
    printf("  %-28s %12.1f MB\n", "gradients", k->grad_bytes / MB);
    printf("  %-28s %12.1f MB\n", "AdamW m + v", k->optim_bytes / MB);
    printf("  activations B=%-4d T=%-5d   %12.1f MB  (forward + their gradients)\n", o->B, o->T,
           (k->act_bytes + k->att_bytes) / MB);
    printf("  %-28s %12.1f MB  (not kept with --attention recompute, CPU)\n", "  of which attention probs",
           k->att_bytes / MB);
    printf("  %-28s %12.1f MB  (CUDA only: the CPU's attention keeps per-thread tiles)\n",
           "  of which attention scratch", k->scratch_bytes / MB);
    printf("  %-28s %12.1f MB\n", "total",
           (k->param_bytes + k->grad_bytes + k->optim_bytes + k->act_bytes + k->att_bytes) / MB);
}

int cmd_model_info(int argc, char **argv) {
    MiOpts o = {"mini", ALL_TASKS, 16, 128, -1, 0, 0};
    int rc = opts_command(&MI_TABLE, &o, argc, argv, NULL);
    if (rc >= 0) return rc;
    ModelConfig cfg;
    Err err = {{0}};
    if (config_from_preset(&cfg, o.preset, &err)) {
        fprintf(stderr, "mtl model-info: %s\n", err.msg);
        return 2;
    }
    cfg.heads = o.tasks; /* HEAD_* = 1 << TASK_* */
    if (o.K > cfg.L || (o.K >= 0 && o.K < cfg.L && cfg.heads != HEAD_ALL)) {
        fprintf(stderr, "mtl model-info: option --shared-layers: %d must be in [0, L=%d] (below L only with --task mtl)\n",
                o.K, cfg.L);
        return 2;
    }
    cfg.task_layers = o.K >= 0 ? cfg.L - o.K : 0;
    cfg.frozen_encoder = o.freeze || o.lora_rank > 0;
    if (o.lora_rank > 0) config_set_lora(&cfg, o.lora_rank);
    if (config_validate(&cfg, &err)) {
        fprintf(stderr, "mtl model-info: %s\n", err.msg);
        return 2;
    }
    if (o.T > cfg.maxT) {
        fprintf(stderr, "mtl model-info: --seq %d exceeds the %d positions of preset %s\n", o.T,
                cfg.maxT, cfg.preset);
        return 2;
    }
    ModelCounts k = model_counts(&cfg, o.B, o.T);
    print_counts(&cfg, &k, &o);
    return 0;
}

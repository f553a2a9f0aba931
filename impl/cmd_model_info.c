/* cmd_model_info.c — `mtl model-info`: parameter counts per group and the
 * memory a training run needs, from the config alone (nothing allocated). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model.h"

static void mi_usage(FILE *f) {
    fprintf(f,
            "usage: mtl model-info [--preset tiny|mini|minilm|base] [--task ner|qa|mtl]\n"
            "                      [--batch B] [--seq T]\n"
            "  --preset  model size (default mini)\n"
            "  --task    which heads the model carries (default mtl = both)\n"
            "  --batch, --seq  shape the activation memory is sized for (default 16, 128)\n");
}

typedef struct {
    const char *preset, *task;
    int B, T;
} MiOpts;

static int parse_dim(const char *opt, const char *s, int *v) {
    char *end = NULL;
    long x = strtol(s, &end, 10);
    if (!*s || *end || x < 1 || x > 1000000) {
        fprintf(stderr, "mtl model-info: %s wants a positive integer, got '%s'\n", opt, s);
        return -1;
    }
    *v = (int)x;
    return 0;
}

/* Returns -1 to go on, else the exit status. */
static int parse_mi_args(int argc, char **argv, MiOpts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            mi_usage(stdout);
            return 0;
        }
        const char *v = i + 1 < argc ? argv[++i] : NULL;
        int bad = !v;
        if (bad) fprintf(stderr, "mtl model-info: option '%s' needs a value\n", a);
        else if (!strcmp(a, "--preset")) o->preset = v;
        else if (!strcmp(a, "--task")) o->task = v;
        else if (!strcmp(a, "--batch")) bad = parse_dim(a, v, &o->B);
        else if (!strcmp(a, "--seq")) bad = parse_dim(a, v, &o->T);
        else {
            fprintf(stderr, "mtl model-info: unknown option '%s'\n", a);
            bad = 1;
        }
        if (bad) {
            mi_usage(stderr);
            return 2;
        }
    }
    return -1;
}

static int heads_of(const char *task) {
    if (!strcmp(task, "ner")) return HEAD_NER;
    if (!strcmp(task, "qa")) return HEAD_QA;
    if (!strcmp(task, "mtl")) return HEAD_ALL;
    return 0;
}

static void print_counts(const ModelConfig *c, const ModelCounts *k, const MiOpts *o) {
    const double MB = 1048576.0;
    printf("preset %s: L=%d C=%d NH=%d FFN=%d V=%d maxT=%d types=%d, heads %s\n", c->preset, c->L,
           c->C, c->NH, c->FFN, c->V, c->maxT, c->type_vocab, o->task);
    printf("  %-28s %14zu\n", "embeddings", k->embeddings);
    printf("  %-28s %14zu\n", "per encoder layer", k->per_layer);
    printf("  %-28s %14zu  (embeddings + %d layers)\n", "encoder", k->encoder, c->L);
    if (c->heads & HEAD_NER) printf("  %-28s %14zu\n", "NER head", k->ner_head);
    if (c->heads & HEAD_QA) printf("  %-28s %14zu\n", "QA head", k->qa_head);
    printf("  %-28s %14zu\n", "total", k->total);
    printf("memory (fp32):\n");
    printf("  %-28s %12.1f MB\n", "parameters", k->param_bytes / MB);
    printf("  %-28s %12.1f MB\n", "gradients", k->grad_bytes / MB);
    printf("  %-28s %12.1f MB\n", "AdamW m + v", k->optim_bytes / MB);
    printf("  activations B=%-4d T=%-5d   %12.1f MB  (forward + their gradients)\n", o->B, o->T,
           k->act_bytes / MB);
    printf("  %-28s %12.1f MB\n", "total",
           (k->param_bytes + k->grad_bytes + k->optim_bytes + k->act_bytes) / MB);
}

int cmd_model_info(int argc, char **argv) {
    MiOpts o = {"mini", "mtl", 16, 128};
    int rc = parse_mi_args(argc, argv, &o);
    if (rc >= 0) return rc;
    ModelConfig cfg;
    Err err = {{0}};
    if (config_from_preset(&cfg, o.preset, &err)) {
        fprintf(stderr, "mtl model-info: %s\n", err.msg);
        return 2;
    }
    cfg.heads = heads_of(o.task);
    if (!cfg.heads) {
        fprintf(stderr, "mtl model-info: --task must be ner, qa or mtl, got '%s'\n", o.task);
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

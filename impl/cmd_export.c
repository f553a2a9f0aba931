/* cmd_export.c — `mtl export RUN_DIR --out DIR`: the run's model as Hugging
 * Face checkpoints, DIR/ner (BertForTokenClassification) and DIR/qa
 * (BertForQuestionAnswering), each loadable by transformers' from_pretrained. */
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "cli.h"
#include "hf_bert.h"
#include "model_open.h"

static void export_usage(FILE *f) {
    fprintf(f,
            "usage: mtl export RUN_DIR --out DIR [--task ner|qa|all]\n"
            "  writes DIR/ner and DIR/qa (the heads the model has trained; --task picks one):\n"
            "  config.json, model.safetensors, vocab.txt, tokenizer_config.json\n"
            "  RUN_DIR may also be a Hugging Face BERT directory (re-export).\n");
}

typedef struct {
    const char *run, *out, *task;
} ExportOpts;

/* Returns -1 to go on, else the exit status. */
static int parse_export_args(int argc, char **argv, ExportOpts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            export_usage(stdout);
            return 0;
        }
        if (a[0] != '-' && !o->run) {
            o->run = a;
            continue;
        }
        const char *v = i + 1 < argc ? argv[++i] : NULL;
        if (!v) fprintf(stderr, "mtl export: option '%s' needs a value\n", a);
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--task") && (!strcmp(v, "ner") || !strcmp(v, "qa") || !strcmp(v, "all"))) o->task = v;
        else if (!strcmp(a, "--task")) fprintf(stderr, "mtl export: --task must be ner, qa or all, got '%s'\n", v);
        else fprintf(stderr, "mtl export: unknown option '%s'\n", a);
        if (!v || (strcmp(a, "--out") && o->task != v)) {
            export_usage(stderr);
            return 2;
        }
    }
    if (!o->run || !o->out) {
        fprintf(stderr, "mtl export: RUN_DIR and --out DIR are required\n");
        export_usage(stderr);
        return 2;
    }
    if (!o->out[0]) {
        fprintf(stderr, "mtl export: --out must name a directory (got an empty string)\n");
        export_usage(stderr);
        return 2;
    }
    return -1;
}

static int export_one(const ModelOpen *mo, int task, const char *out, Err *err) {
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/%s", out, task == TASK_NER ? "ner" : "qa");
    if (hf_export_task(mo->m, task, mo->vocab_path, vocab_lower_case(mo->vocab),
                       vocab_strip_accents(mo->vocab), dir, err))
        return -1;
    printf("mtl export: %s -> %s (%s)\n", mo->dir, dir,
           task == TASK_NER ? "BertForTokenClassification" : "BertForQuestionAnswering");
    return 0;
}

/* The heads worth exporting: those trained (a run's), or read from the file
 * (an HF directory's; one without them would be written with random heads). */
static int trained_heads(const ModelOpen *mo) {
    int heads = model_config(mo->m)->heads;
    if (!mo->ner_head_trained) heads &= ~HEAD_NER;
    if (!mo->qa_head_trained) heads &= ~HEAD_QA;
    return heads;
}

int cmd_export(int argc, char **argv) {
    ExportOpts o = {NULL, NULL, "all"};
    int rc = parse_export_args(argc, argv, &o);
    if (rc >= 0) return rc;
    Backend *be = backend_cpu(1);
    ModelOpen mo;
    Err err;
    if (model_open(o.run, be, 1, 1, 1, &mo, &err)) {
        fprintf(stderr, "mtl export: %s\n", err.msg);
        be->destroy(be);
        return 1;
    }
    int heads = trained_heads(&mo), n = 0;
    rc = heads ? 0 : err_set(&err, "%s has no trained head (neither classifier.* nor qa_outputs.*): nothing to export", o.run);
    for (int task = TASK_NER; task <= TASK_QA && rc == 0; task++) {
        int want = !strcmp(o.task, "all") || !strcmp(o.task, task == TASK_NER ? "ner" : "qa");
        if (!want || !(heads & (task == TASK_NER ? HEAD_NER : HEAD_QA))) continue;
        rc = export_one(&mo, task, o.out, &err);
        n++;
    }
    if (rc == 0 && n == 0) rc = err_set(&err, "%s has no trained %s head to export", o.run, o.task);
    if (rc) fprintf(stderr, "mtl export: %s\n", err.msg);
    model_open_free(&mo);
    be->destroy(be);
    return rc ? 1 : 0;
}

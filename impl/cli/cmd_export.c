/* cmd_export.c — `mtl export RUN_DIR --out DIR`: the run's model as Hugging
 * Face checkpoints, DIR/ner (BertForTokenClassification) and DIR/qa
 * (BertForQuestionAnswering), each loadable by transformers' from_pretrained. */
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "cli.h"
#include "hf_bert.h"
#include "model_open.h"
#include "opts.h"

typedef struct {
    const char *out;
    int tasks; /* 1 << TASK_NER | 1 << TASK_QA */
} ExportOpts;

#define OS ExportOpts
static const OptSpec EXPORT_OPTS[] = {
    {OPT_ARG(OS, "out", out, "DIR (required): DIR/ner and DIR/qa are written")},
    {OPT_ENUM(OS, "task", tasks, HEAD_SET_NAMES, "the heads to export")},
};
#undef OS

static const OptTable EXPORT_TABLE = {
    .cmd = "export",
    .synopsis = "usage: mtl export RUN_DIR --out DIR [--task ner|qa|all]",
    .about = "  writes DIR/ner and DIR/qa (the heads the model has trained; --task picks one):\n"
             "  config.json, model.safetensors, vocab.txt, tokenizer_config.json\n"
             "  RUN_DIR may also be a Hugging Face BERT directory (re-export).\n",
    .specs = EXPORT_OPTS,
    .n = (int)(sizeof EXPORT_OPTS / sizeof EXPORT_OPTS[0]),
    .max_positional = 1,
};

/* Returns -1 to go on, else the exit status; *run: RUN_DIR. */
static int parse_export_args(int argc, char **argv, ExportOpts *o, const char **run) {
    OptArgs args;
    int rc = opts_command(&EXPORT_TABLE, o, argc, argv, &args);
    if (rc >= 0) return rc;
    *run = args.npos ? args.pos[0] : NULL;
    if (!*run || !o->out) return opts_usage_error(&EXPORT_TABLE, "RUN_DIR and --out DIR are required");
    if (!o->out[0]) return opts_usage_error(&EXPORT_TABLE, "--out must name a directory (got an empty string)");
    return -1;
}

static int export_one(const ModelOpen *mo, int task, const char *out, Err *err) {
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/%s", out, task_name(task));
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
    ExportOpts o = {NULL, ALL_TASKS};
    const char *run;
    int rc = parse_export_args(argc, argv, &o, &run);
    if (rc >= 0) return rc;
    Backend *be = backend_cpu(1);
    ModelOpen mo;
    Err err;
    if (model_open(run, be, 1, 1, 1, &mo, &err)) {
        fprintf(stderr, "mtl export: %s\n", err.msg);
        be->destroy(be);
        return 1;
    }
    int heads = trained_heads(&mo), n = 0;
    rc = heads ? 0 : err_set(&err, "%s has no trained head (neither classifier.* nor qa_outputs.*): nothing to export", run);
    for (int task = TASK_NER; task <= TASK_QA && rc == 0; task++) {
        if (!(o.tasks & heads & 1 << task)) continue; /* HEAD_* = 1 << TASK_* */
        rc = export_one(&mo, task, o.out, &err);
        n++;
    }
    if (rc == 0 && n == 0) rc = err_set(&err, "%s has no trained %s head to export", run,
                                          enum_name(HEAD_SET_NAMES, o.tasks));
    if (rc) fprintf(stderr, "mtl export: %s\n", err.msg);
    model_open_free(&mo);
    be->destroy(be);
    return rc ? 1 : 0;
}

/* cmd_dump_forward.c — `mtl dump-forward`: run a model (run directory or
 * Hugging Face directory) in eval mode on the first N windows of a real
 * split, one window per forward (no padding), and write what it computed as
 * a safetensors file that reference/hf_check.py compares with transformers:
 *
 *   ids.I, types.I  [T]      the window's tokens (stored as F32: exact, ids < 2^24)
 *   labels.I        [T]      NER: gold label on first pieces, -100 elsewhere
 *   hidden.I        [T, C]   encoder output
 *   logits.I        [T, K]   the task head's logits (K = 9 NER, 2 QA)
 *
 * Tokenisation is the C pipeline's (already checked against HF's tokenizer
 * by reference/golden_tokens.py); this checks the model math. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "squad.h"
#include "backend.h"
#include "cli.h"
#include "model_open.h"
#include "opts.h"
#include "paths.h"
#include "safetensors.h"
#include "train_internal.h"

/* --data: the split whose first windows are dumped. */
typedef enum { DF_DATA_NONE = 0, DF_NER_DEV, DF_NER_TEST, DF_QA_DEV } DfData;
static const EnumName DF_DATA_NAMES[] = {{"ner-dev", DF_NER_DEV}, {"ner-test", DF_NER_TEST}, {"qa-dev", DF_QA_DEV}, {NULL, 0}};

typedef struct {
    const char *model, *out;
    DfData data;
    int n, threads, seq_ner, seq_qa, stride, max_query;
} DfOpts;

#define OS DfOpts
static const OptSpec DF_OPTS[] = {
    {OPT_ARG(OS, "model", model, "RUN_DIR or HF_DIR (required)")},
    {OPT_ENUM(OS, "data", data, DF_DATA_NAMES, "the split (required)")},
    {OPT_ARG(OS, "out", out, "FILE.safetensors (required)")},
    {OPT_INT(OS, "n", n, 1, 100000, "the first N windows")},
    {OPT_INT(OS, "threads", threads, 0, 1024, "CPU threads (0 = library default)")},
    {OPT_INT(OS, "seq-ner", seq_ner, 8, 4096, "NER window length in tokens")},
    {OPT_INT(OS, "seq-qa", seq_qa, SQUAD_MIN_SEQ, 4096, "QA window length in tokens")},
    {OPT_INT(OS, "stride", stride, 1, 4096, "QA window overlap in tokens")},
    {OPT_INT(OS, "max-query", max_query, 1, 4096, "QA question tokens kept")},
};
#undef OS

static const OptTable DF_TABLE = {
    .cmd = "dump-forward",
    .synopsis = "usage: mtl dump-forward --model RUN_DIR|HF_DIR --data ner-dev|ner-test|qa-dev --out FILE.safetensors [options]",
    .about = "Encoder output and logits of the model on the first N windows of a split, one window per forward.\n",
    .specs = DF_OPTS,
    .n = (int)(sizeof DF_OPTS / sizeof DF_OPTS[0]),
};

static void dump_ints(StList *d, const char *kind, int win, const int *v, int T) {
    char name[64];
    snprintf(name, sizeof name, "%s.%d", kind, win);
    st_list_add_ints(d, name, v, T);
}

static float *dump_add(StList *d, const char *kind, int win, int rows, int cols) {
    char name[64];
    snprintf(name, sizeof name, "%s.%d", kind, win);
    return st_list_add(d, name, rows, cols);
}

static int dump_window(Model *m, const Batch *b, int win, StList *d, Err *err) {
    if (model_forward(m, b, 0, 0, 0, 0, NULL, err)) return -1;
    const ModelConfig *c = model_config(m);
    int K = b->task == TASK_NER ? c->num_labels : 2;
    dump_ints(d, "ids", win, b->ids, b->T);
    dump_ints(d, "types", win, b->types, b->T);
    if (b->task == TASK_NER) dump_ints(d, "labels", win, b->labels, b->T);
    model_get_hidden(m, dump_add(d, "hidden", win, b->T, c->C));
    model_get_logits(m, dump_add(d, "logits", win, b->T, K));
    return 0;
}

static int dump_ner(const DfOpts *o, ModelOpen *mo, StList *d, Err *err) {
    char path[4096];
    const char *rel = o->data == DF_NER_DEV ? "conll2003/valid.txt" : "conll2003/test.txt";
    ConllCorpus c;
    NerFeatures f;
    if (dataset_path(rel, path, sizeof path, err) || conll_load(path, &c, err)) return -1;
    int rc = ner_featurize(&c, mo->vocab, o->seq_ner, &f, err);
    BatchBuf bb;
    batchbuf_init(&bb, 1, o->seq_ner);
    for (int i = 0; rc == 0 && i < o->n && i < f.n; i++) {
        Batch b;
        gather_ner(&f, &i, 1, &bb, &b);
        rc = dump_window(mo->m, &b, i, d, err);
    }
    batchbuf_free(&bb);
    if (rc == 0) ner_features_free(&f);
    conll_free(&c);
    return rc;
}

static int dump_qa(const DfOpts *o, ModelOpen *mo, StList *d, Err *err) {
    char path[4096];
    SquadDataset ds;
    SquadFeatures fs;
    if (dataset_path("squad/dev-v1.1.json", path, sizeof path, err) || squad_load(path, &ds, err))
        return -1;
    SquadFeatParams p;
    squad_feat_defaults(&p);
    p.max_seq = o->seq_qa;
    p.doc_stride = o->stride;
    p.max_query = o->max_query;
    p.max_examples = o->n;
    p.threads = 1;
    int rc = squad_featurize(&ds, mo->vocab, &p, &fs, err);
    BatchBuf bb;
    batchbuf_init(&bb, 1, o->seq_qa);
    for (int i = 0; rc == 0 && i < o->n && i < fs.n; i++) {
        Batch b;
        gather_qa(&fs, &i, 1, &bb, &b);
        rc = dump_window(mo->m, &b, i, d, err);
    }
    batchbuf_free(&bb);
    if (rc == 0) squad_features_free(&fs);
    squad_free(&ds);
    return rc;
}

int cmd_dump_forward(int argc, char **argv) {
    DfOpts o = {NULL, NULL, DF_DATA_NONE, 200, 0, 128, 384, 128, 64};
    int rc = opts_command(&DF_TABLE, &o, argc, argv, NULL);
    if (rc >= 0) return rc;
    if (!o.model || !o.out || o.data == DF_DATA_NONE)
        return opts_usage_error(&DF_TABLE, "--model, --out and --data ner-dev|ner-test|qa-dev are required");
    Backend *be = backend_cpu(o.threads);
    int maxT = o.seq_ner > o.seq_qa ? o.seq_ner : o.seq_qa;
    ModelOpen mo;
    Err err;
    StList d = {0};
    rc = model_open(o.model, be, 1, maxT, 1, &mo, &err);
    int ner = o.data != DF_QA_DEV;
    int head = ner ? HEAD_NER : HEAD_QA;
    if (rc == 0 && !(model_config(mo.m)->heads & head))
        rc = err_set(&err, "%s has no %s head", o.model, ner ? "NER" : "QA");
    if (rc == 0) rc = ner ? dump_ner(&o, &mo, &d, &err) : dump_qa(&o, &mo, &d, &err);
    if (rc == 0) rc = st_list_write(&d, o.out, &err);
    if (rc == 0) printf("mtl dump-forward: %d windows of %s through %s -> %s\n", d.n / (ner ? 5 : 4), enum_name(DF_DATA_NAMES, o.data), mo.dir, o.out);
    else fprintf(stderr, "mtl dump-forward: %s\n", err.msg);
    st_list_free(&d);
    if (mo.m) model_open_free(&mo);
    be->destroy(be);
    return rc ? 1 : 0;
}

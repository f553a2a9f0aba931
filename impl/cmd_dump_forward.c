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

#include "backend.h"
#include "cli.h"
#include "model_open.h"
#include "paths.h"
#include "safetensors.h"
#include "train_internal.h"

static void df_usage(FILE *f) {
    fprintf(f,
            "usage: mtl dump-forward --model RUN_DIR|HF_DIR --data ner-dev|ner-test|qa-dev\n"
            "                        --out FILE.safetensors [--n 200] [--threads 0]\n"
            "                        [--seq-ner 128] [--seq-qa 384] [--stride 128] [--max-query 64]\n");
}

typedef struct {
    const char *model, *data, *out;
    int n, threads, seq_ner, seq_qa, stride, max_query;
} DfOpts;

static int df_int(const char *opt, const char *v, int lo, int hi, int *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) {
        fprintf(stderr, "mtl dump-forward: %s must be an integer in [%d, %d], got '%s'\n", opt, lo, hi, v);
        return -1;
    }
    *out = (int)x;
    return 0;
}

/* Returns -1 to go on, else the exit status. */
static int parse_df_args(int argc, char **argv, DfOpts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            df_usage(stdout);
            return 0;
        }
        const char *v = i + 1 < argc ? argv[++i] : NULL;
        int bad = !v;
        if (bad) fprintf(stderr, "mtl dump-forward: option '%s' needs a value\n", a);
        else if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--data")) o->data = v;
        else if (!strcmp(a, "--n")) bad = df_int(a, v, 1, 100000, &o->n);
        else if (!strcmp(a, "--threads")) bad = df_int(a, v, 0, 1024, &o->threads);
        else if (!strcmp(a, "--seq-ner")) bad = df_int(a, v, 8, 4096, &o->seq_ner);
        else if (!strcmp(a, "--seq-qa")) bad = df_int(a, v, 32, 4096, &o->seq_qa);
        else if (!strcmp(a, "--stride")) bad = df_int(a, v, 1, 4096, &o->stride);
        else if (!strcmp(a, "--max-query")) bad = df_int(a, v, 1, 4096, &o->max_query);
        else {
            fprintf(stderr, "mtl dump-forward: unknown option '%s'\n", a);
            bad = 1;
        }
        if (bad) {
            df_usage(stderr);
            return 2;
        }
    }
    int ok_data = o->data && (!strcmp(o->data, "ner-dev") || !strcmp(o->data, "ner-test") ||
                              !strcmp(o->data, "qa-dev"));
    if (!o->model || !o->out || !ok_data) {
        fprintf(stderr, "mtl dump-forward: --model, --out and --data ner-dev|ner-test|qa-dev are required\n");
        df_usage(stderr);
        return 2;
    }
    return -1;
}

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
    const char *rel = !strcmp(o->data, "ner-dev") ? "conll2003/valid.txt" : "conll2003/test.txt";
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
    DfOpts o = {NULL, NULL, NULL, 200, 0, 128, 384, 128, 64};
    int rc = parse_df_args(argc, argv, &o);
    if (rc >= 0) return rc;
    Backend *be = backend_cpu(o.threads);
    int maxT = o.seq_ner > o.seq_qa ? o.seq_ner : o.seq_qa;
    ModelOpen mo;
    Err err;
    StList d = {0};
    rc = model_open(o.model, be, 1, maxT, 1, &mo, &err);
    int ner = o.data[0] == 'n';
    int head = ner ? HEAD_NER : HEAD_QA;
    if (rc == 0 && !(model_config(mo.m)->heads & head))
        rc = err_set(&err, "%s has no %s head", o.model, ner ? "NER" : "QA");
    if (rc == 0) rc = ner ? dump_ner(&o, &mo, &d, &err) : dump_qa(&o, &mo, &d, &err);
    if (rc == 0) rc = st_list_write(&d, o.out, &err);
    if (rc == 0) printf("mtl dump-forward: %d windows of %s through %s -> %s\n", d.n / (ner ? 5 : 4), o.data, mo.dir, o.out);
    else fprintf(stderr, "mtl dump-forward: %s\n", err.msg);
    st_list_free(&d);
    if (mo.m) model_open_free(&mo);
    be->destroy(be);
    return rc ? 1 : 0;
}

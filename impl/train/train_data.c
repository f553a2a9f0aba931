/* train_data.c — loading the corpora for a run, and batch gathering. */
#include <stdlib.h>
#include <string.h>

#include "paths.h"
#include "train_internal.h"

#define QA_TRAIN_FILE "squad/train-v1.1-subset44.json"
#define QA_DEV_FILE "squad/dev-v1.1.json"

static int resolve_and_hash(const char *rel, char *path, size_t n, Manifest *mf, Err *err) {
    if (dataset_path(rel, path, n, err)) return -1;
    return manifest_add_file(mf, rel, path, err);
}

/* Load one CoNLL split and featurise it. */
static int load_conll_split(const char *rel, const Vocab *v, int max_seq, ConllCorpus *c,
                            NerFeatures *f, Manifest *mf, Err *err) {
    char path[4096];
    if (resolve_and_hash(rel, path, sizeof path, mf, err)) return -1;
    if (conll_load(path, c, err)) return -1;
    if (c->n_sentences == 0) {
        conll_free(c);
        return err_set(err, "%s: no sentences (an empty split cannot be trained on or scored)", path);
    }
    return ner_featurize(c, v, max_seq, f, err);
}

/* Windows are in sentence order: the first `limit` sentences are a prefix. */
static int windows_of_first_sentences(const NerFeatures *f, int limit) {
    if (limit <= 0) return f->n;
    int n = 0;
    while (n < f->n && f->sent[n] < limit) n++;
    return n;
}

static int load_ner(TrainData *d, const TrainOptions *o, Manifest *mf, Err *err) {
    if (load_conll_split("conll2003/train.txt", d->vocab, o->seq_ner, &d->ner_train_c,
                         &d->ner_train, mf, err) ||
        load_conll_split("conll2003/valid.txt", d->vocab, o->seq_ner, &d->ner_dev_c, &d->ner_dev,
                         mf, err) ||
        load_conll_split("conll2003/test.txt", d->vocab, o->seq_ner, &d->ner_test_c, &d->ner_test,
                         mf, err))
        return -1;
    d->n_ner_train = windows_of_first_sentences(&d->ner_train, o->ner_train_limit);
    d->n_ner_train_sents = o->ner_train_limit > 0 && o->ner_train_limit < d->ner_train_c.n_sentences
                               ? o->ner_train_limit
                               : d->ner_train_c.n_sentences;
    if (d->n_ner_train == 0) return err_set(err, "NER: no training windows");
    return 0;
}

static int load_squad_split(const char *rel, const Vocab *v, const TrainOptions *o, int limit,
                            SquadDataset *ds, SquadFeatures *fs, Manifest *mf, Err *err) {
    char path[4096];
    if (resolve_and_hash(rel, path, sizeof path, mf, err)) return -1;
    if (squad_load(path, ds, err)) return -1;
    if (ds->n_examples == 0) {
        squad_free(ds);
        return err_set(err, "%s: no questions (an empty split cannot be trained on or scored)", path);
    }
    SquadFeatParams p;
    squad_feat_defaults(&p);
    p.max_seq = o->seq_qa;
    p.doc_stride = o->stride;
    p.max_query = o->max_query;
    p.max_examples = limit;
    p.threads = 1; /* tokenisation order does not matter, but keep one thread simple */
    return squad_featurize(ds, v, &p, fs, err);
}

static int load_qa(TrainData *d, const TrainOptions *o, Manifest *mf, Err *err) {
    if (load_squad_split(QA_TRAIN_FILE, d->vocab, o, o->qa_train_limit, &d->qa_train_ds,
                         &d->qa_train, mf, err) ||
        load_squad_split(QA_DEV_FILE, d->vocab, o, o->qa_dev_limit, &d->qa_dev_ds, &d->qa_dev,
                         mf, err))
        return -1;
    if (d->qa_train.n == 0) return err_set(err, "QA: no training windows");
    if (o->qa_train_limit > 0 && o->qa_train_limit < d->qa_train_ds.n_examples)
        snprintf(d->qa_train_desc, sizeof d->qa_train_desc,
                 "SQuAD v1.1 train, 44-article subset (11,877 q): first %d questions",
                 d->qa_train.n_examples);
    else
        snprintf(d->qa_train_desc, sizeof d->qa_train_desc,
                 "SQuAD v1.1 train, 44-article subset (11,877 q)");
    return 0;
}

static int row_length(const int *mask, int S);

/* Real tokens of every training window (group-by-length, padding figures). */
static void window_lengths(TrainData *d) {
    if (d->has_ner) {
        const NerFeatures *f = &d->ner_train;
        d->len[0] = xmalloc((size_t)(f->n > 0 ? f->n : 1) * sizeof(int));
        for (int i = 0; i < f->n; i++) d->len[0][i] = row_length(f->mask + (size_t)i * f->max_seq, f->max_seq);
    }
    if (d->has_qa) {
        const SquadFeatures *f = &d->qa_train;
        d->len[1] = xmalloc((size_t)(f->n > 0 ? f->n : 1) * sizeof(int));
        for (int i = 0; i < f->n; i++) d->len[1][i] = f->f[i].n_tokens;
    }
}

int eval_data_load(TrainData *d, const TrainOptions *o, Vocab *v, Manifest *mf, Err *err) {
    memset(d, 0, sizeof *d);
    d->has_ner = (o->tasks & 1 << TASK_NER) != 0;
    d->has_qa = (o->tasks & 1 << TASK_QA) != 0;
    d->vocab = v;
    if (d->has_ner &&
        (load_conll_split("conll2003/valid.txt", v, o->seq_ner, &d->ner_dev_c, &d->ner_dev, mf, err) ||
         (!o->no_test && load_conll_split("conll2003/test.txt", v, o->seq_ner, &d->ner_test_c,
                                          &d->ner_test, mf, err))))
        return -1;
    if (d->has_qa &&
        load_squad_split(QA_DEV_FILE, v, o, o->qa_dev_limit, &d->qa_dev_ds, &d->qa_dev, mf, err))
        return -1;
    return 0;
}

void eval_data_free(TrainData *d) {
    d->vocab = NULL; /* the model's */
    train_data_free(d);
}

int train_data_load(TrainData *d, const TrainOptions *o, const HfInfo *hf, Manifest *mf, Err *err) {
    memset(d, 0, sizeof *d);
    d->has_ner = (o->tasks & 1 << TASK_NER) != 0;
    d->has_qa = (o->tasks & 1 << TASK_QA) != 0;
    if (hf) snprintf(d->vocab_path, sizeof d->vocab_path, "%s/vocab.txt", hf->dir);
    else if (vocab_path(d->vocab_path, sizeof d->vocab_path, err)) return -1;
    if (manifest_add_file(mf, "vocab", d->vocab_path, err)) return -1;
    d->vocab = vocab_load(d->vocab_path, err);
    if (!d->vocab) return -1;
    if (hf) vocab_set_case(d->vocab, hf->lower, hf->strip_accents);
    if (d->has_ner && load_ner(d, o, mf, err)) return -1;
    if (d->has_qa && load_qa(d, o, mf, err)) return -1;
    window_lengths(d);
    return 0;
}

void train_data_free(TrainData *d) {
    if (d->has_ner) {
        ner_features_free(&d->ner_train);
        ner_features_free(&d->ner_dev);
        ner_features_free(&d->ner_test);
        conll_free(&d->ner_train_c);
        conll_free(&d->ner_dev_c);
        conll_free(&d->ner_test_c);
    }
    if (d->has_qa) {
        squad_features_free(&d->qa_train);
        squad_features_free(&d->qa_dev);
        squad_free(&d->qa_train_ds);
        squad_free(&d->qa_dev_ds);
    }
    if (d->vocab) vocab_free(d->vocab);
    free(d->len[0]);
    free(d->len[1]);
    memset(d, 0, sizeof *d);
}

/* ---- batches ------------------------------------------------------------ */

void batchbuf_init(BatchBuf *bb, int maxB, int maxT) {
    size_t n = (size_t)maxB * (size_t)maxT;
    bb->ids = xmalloc(n * sizeof(int));
    bb->types = xmalloc(n * sizeof(int));
    bb->mask = xmalloc(n * sizeof(int));
    bb->labels = xmalloc(n * sizeof(int));
    bb->start = xmalloc((size_t)maxB * sizeof(int));
    bb->end = xmalloc((size_t)maxB * sizeof(int));
    bb->maxB = maxB;
    bb->maxT = maxT;
}

void batchbuf_free(BatchBuf *bb) {
    free(bb->ids);
    free(bb->types);
    free(bb->mask);
    free(bb->labels);
    free(bb->start);
    free(bb->end);
    memset(bb, 0, sizeof *bb);
}

/* Real length of a row: position after its last mask-1 token. */
static int row_length(const int *mask, int max_seq) {
    int n = max_seq;
    while (n > 1 && mask[n - 1] == 0) n--;
    return n;
}

static void copy_rows(int *dst, const int *src, const int *rows, int B, int T, int stride) {
    for (int b = 0; b < B; b++)
        memcpy(dst + (size_t)b * T, src + (size_t)rows[b] * stride, (size_t)T * sizeof(int));
}

long gather_ner(const NerFeatures *f, const int *rows, int B, BatchBuf *bb, Batch *out) {
    int S = f->max_seq, T = 1;
    long real = 0;
    for (int b = 0; b < B; b++) {
        int len = row_length(f->mask + (size_t)rows[b] * S, S);
        T = len > T ? len : T;
        for (int t = 0; t < len; t++) real += f->mask[(size_t)rows[b] * S + t];
    }
    copy_rows(bb->ids, f->ids, rows, B, T, S);
    copy_rows(bb->types, f->types, rows, B, T, S);
    copy_rows(bb->mask, f->mask, rows, B, T, S);
    copy_rows(bb->labels, f->labels, rows, B, T, S);
    *out = (Batch){.task = TASK_NER, .B = B, .T = T, .ids = bb->ids, .types = bb->types,
                   .mask = bb->mask, .labels = bb->labels};
    return real;
}

long gather_qa(const SquadFeatures *f, const int *rows, int B, BatchBuf *bb, Batch *out) {
    int S = f->max_seq, T = 1;
    long real = 0;
    for (int b = 0; b < B; b++) {
        const SquadFeature *ft = &f->f[rows[b]];
        T = ft->n_tokens > T ? ft->n_tokens : T;
        real += ft->n_tokens;
        bb->start[b] = ft->start;
        bb->end[b] = ft->end;
    }
    copy_rows(bb->ids, f->ids, rows, B, T, S);
    copy_rows(bb->types, f->types, rows, B, T, S);
    copy_rows(bb->mask, f->mask, rows, B, T, S);
    *out = (Batch){.task = TASK_QA, .B = B, .T = T, .ids = bb->ids, .types = bb->types,
                   .mask = bb->mask, .start = bb->start, .end = bb->end};
    return real;
}

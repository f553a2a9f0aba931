/* mtl data-stats — CoNLL-2003 statistics (documents, sentences, tokens,
 * entities per type by conlleval's chunk rules) and the BERT featurisation
 * counts (windows at --max-seq, sentences split into several windows).
 *
 *   mtl data-stats [--max-seq N] [--no-features] [FILE...]
 *
 * Without FILE: train/valid/test found via dataset_path (impl/base/paths.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "conll.h"
#include "conlleval.h"
#include "opts.h"
#include "paths.h"
#include "tokenizer.h"

typedef struct {
    int max_seq, no_features;
} DataStatsOpts;

#define OS DataStatsOpts
static const OptSpec DS_OPTS[] = {
    {OPT_INT(OS, "max-seq", max_seq, 3, 4096, "WordPiece window length in tokens")},
    {OPT_FLAG(OS, "no-features", no_features, "counts only, no WordPiece windows")},
};
#undef OS

static const OptTable DS_TABLE = {
    .cmd = "data-stats",
    .synopsis = "usage: mtl data-stats [--max-seq N] [--no-features] [FILE...]",
    .about = "CoNLL-2003 counts (default files: conll2003/{train,valid,test}.txt via $DATASETS_DIR,\n"
             "datasets/data/, ../shared/datasets/) and WordPiece window counts; at most 16 FILEs.\n",
    .specs = DS_OPTS,
    .n = (int)(sizeof DS_OPTS / sizeof DS_OPTS[0]),
    .max_positional = 16,
};

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static void print_counts(const char *label, const ConllStats *s) {
    printf("%-10s %9ld %9ld %9ld %9ld %7ld %7ld %7ld %7ld\n", label, s->documents, s->sentences,
           s->tokens, s->entities, s->per_type[ENT_PER], s->per_type[ENT_LOC], s->per_type[ENT_ORG],
           s->per_type[ENT_MISC]);
}

static void print_features(const char *label, const NerFeatures *f) {
    printf("%-10s %9d %9d %9ld %9d %9d\n", label, f->n, f->n_multi_window_sentences, f->n_pieces,
           f->n_empty_words, f->n_truncated_words);
}

typedef struct {
    const char *label;
    ConllCorpus c;
} Split;

static int load_splits(Split *sp, int n, Err *err) {
    for (int i = 0; i < n; i++) {
        char path[4096];
        const char *p = sp[i].label;
        if (access(p, R_OK) != 0) { /* not a file here: a dataset name */
            if (dataset_path(sp[i].label, path, sizeof path, err)) return -1;
            p = path;
        }
        if (conll_load(p, &sp[i].c, err)) return -1;
    }
    return 0;
}

static int report_features(Split *sp, int n, int max_seq, Err *err) {
    char vpath[4096];
    if (vocab_path(vpath, sizeof vpath, err)) { /* counts above still stand */
        printf("\n(WordPiece windows skipped: %s)\n", err->msg);
        return 0;
    }
    Vocab *v = vocab_load(vpath, err);
    if (!v) return -1;
    printf("\nWordPiece windows at max_seq %d ([CLS] + up to %d pieces + [SEP], split on word boundaries)\n",
           max_seq, max_seq - 2);
    printf("%-10s %9s %9s %9s %9s %9s\n", "file", "windows", "multi-win", "pieces", "empty-wd", "cut-wd");
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        NerFeatures f;
        rc = ner_featurize(&sp[i].c, v, max_seq, &f, err);
        if (rc == 0) print_features(base_name(sp[i].label), &f);
        ner_features_free(&f);
    }
    vocab_free(v);
    return rc;
}

int cmd_data_stats(int argc, char **argv) {
    DataStatsOpts o = {NER_DEFAULT_MAX_SEQ, 0};
    OptArgs args;
    int rc = opts_command(&DS_TABLE, &o, argc, argv, &args);
    if (rc >= 0) return rc;
    Split sp[16];
    memset(sp, 0, sizeof sp);
    int n = args.npos;
    for (int i = 0; i < n; i++) sp[i].label = args.pos[i];
    if (n == 0) {
        sp[0].label = "conll2003/train.txt", sp[1].label = "conll2003/valid.txt";
        sp[2].label = "conll2003/test.txt", n = 3;
    }
    Err err;
    rc = load_splits(sp, n, &err);
    if (rc == 0) {
        printf("%-10s %9s %9s %9s %9s %7s %7s %7s %7s\n", "file", "documents", "sentences", "tokens",
               "entities", "PER", "LOC", "ORG", "MISC");
        for (int i = 0; i < n; i++) {
            ConllStats s;
            conll_stats(&sp[i].c, &s);
            print_counts(base_name(sp[i].label), &s);
        }
        if (!o.no_features) rc = report_features(sp, n, o.max_seq, &err);
    }
    for (int i = 0; i < n; i++) conll_free(&sp[i].c);
    if (rc != 0) fprintf(stderr, "mtl data-stats: %s\n", err.msg);
    return rc == 0 ? 0 : 1;
}

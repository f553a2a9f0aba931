/* mtl prep-squad — featurise a whole SQuAD file and report throughput.
 *
 *   mtl prep-squad [--file PATH] [--max-seq 384] [--stride 128] [--max-query 64]
 *                  [--threads 1] [--max-examples N] [--vocab PATH] [--dump OUT.tsv]
 *
 * Times tokenisation + featurisation alone (the file already parsed) and the
 * total (read + decompress + JSON parse + vocab load + featurisation).
 * --dump writes one line per window: "example window start end n_tokens
 * idshash" with idshash = FNV-1a over the max_seq ids (h = (h ^ id) *
 * 16777619 mod 2^32, h0 = 2166136261), for comparison with
 * reference/bench_prep.py --dump.
 * --oracle writes the predictions that qa_decode makes from one-hot logits
 * at the labelled start/end of every window: scoring them with
 * `mtl score-squad` gives the EM/F1 ceiling of the windows + labels + offset
 * map (answers that do not fall on token boundaries lose). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jsonw.h"
#include "paths.h"
#include "qa_decode.h"
#include "squad.h"

typedef struct {
    const char *file, *vocab, *dump, *oracle;
    SquadFeatParams fp;
} PrepOpts;

static void prep_usage(FILE *f) {
    fprintf(f, "usage: mtl prep-squad [--file PATH] [--max-seq 384] [--stride 128] [--max-query 64]\n"
               "                      [--threads 1] [--max-examples N] [--vocab PATH] [--dump OUT.tsv]\n"
               "                      [--oracle PRED.json]\n"
               "Featurise a SQuAD file (default squad/dev-v1.1.json) into run_qa-style windows and\n"
               "print examples, windows and examples/s, windows/s.\n");
}

static int parse_int_arg(const char *name, const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno || v < lo || v > hi) {
        fprintf(stderr, "mtl prep-squad: %s must be an integer in [%d, %d], got '%s'\n", name, lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Returns 0 ok, 1 --help shown, 2 usage error. */
static int parse_prep_args(int argc, char **argv, PrepOpts *o) {
    squad_feat_defaults(&o->fp);
    struct { const char *name; int *dst; int lo, hi; } ints[] = {
        {"--max-seq", &o->fp.max_seq, 8, 4096},       {"--stride", &o->fp.doc_stride, 0, 4096},
        {"--max-query", &o->fp.max_query, 1, 4096},   {"--threads", &o->fp.threads, 1, 1024},
        {"--max-examples", &o->fp.max_examples, 0, 1000000000}};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return prep_usage(stdout), 1;
        if (i + 1 >= argc) return fprintf(stderr, "mtl prep-squad: bad or incomplete option '%s'\n", argv[i]), 2;
        const char *val = argv[++i];
        if (!strcmp(argv[i - 1], "--file")) { o->file = val; continue; }
        if (!strcmp(argv[i - 1], "--vocab")) { o->vocab = val; continue; }
        if (!strcmp(argv[i - 1], "--dump")) { o->dump = val; continue; }
        if (!strcmp(argv[i - 1], "--oracle")) { o->oracle = val; continue; }
        int found = 0;
        for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++)
            if (!strcmp(argv[i - 1], ints[k].name)) {
                if (parse_int_arg(ints[k].name, val, ints[k].lo, ints[k].hi, ints[k].dst)) return 2;
                found = 1;
            }
        if (!found) return fprintf(stderr, "mtl prep-squad: unknown option '%s'\n", argv[i - 1]), 2;
    }
    Err err;
    if (squad_window_check("--max-seq", o->fp.max_seq, o->fp.doc_stride, o->fp.max_query, &err))
        return fprintf(stderr, "mtl prep-squad: %s\n", err.msg), 2;
    return 0;
}

static uint32_t ids_hash(const int32_t *ids, int n) {
    uint32_t h = 2166136261u;
    for (int i = 0; i < n; i++) h = (h ^ (uint32_t)ids[i]) * 16777619u;
    return h;
}

/* One line per window: example, window, start, end, tokens, id hash (atomic). */
static int write_dump(const char *path, const SquadFeatures *fs, Err *err) {
    StrBuf b = {0};
    for (int i = 0; i < fs->n; i++) {
        const SquadFeature *ft = &fs->f[i];
        sb_printf(&b, "%d\t%d\t%d\t%d\t%d\t%u\n", ft->example, ft->window, ft->start, ft->end,
                  ft->n_tokens, ids_hash(squad_feature_ids(fs, i), fs->max_seq));
    }
    int rc = atomic_write_file(path, b.buf ? b.buf : "", b.len, err);
    sb_free(&b);
    return rc;
}

/* Decode one-hot label logits (10 at start and end) and write predictions. */
static int write_oracle(const char *path, const SquadDataset *ds, const SquadFeatures *fs, Err *err) {
    size_t T = (size_t)fs->max_seq;
    float *st = xcalloc((size_t)fs->n * T, sizeof *st), *en = xcalloc((size_t)fs->n * T, sizeof *en);
    for (int i = 0; i < fs->n; i++) {
        st[i * T + (size_t)fs->f[i].start] = 10.0f;
        en[i * T + (size_t)fs->f[i].end] = 10.0f;
    }
    QaDecodeParams dp;
    qa_decode_defaults(&dp);
    SquadPredictions p;
    squad_predictions_init(&p);
    int rc = qa_decode(ds, fs, st, en, &dp, &p, err);
    if (rc == 0) rc = squad_predictions_write(path, &p, err);
    squad_predictions_free(&p);
    free(st);
    free(en);
    return rc;
}

static int run_prep(const PrepOpts *o, Err *err) {
    char path[4096], vpath[4096];
    double t0 = now_seconds();
    if (o->file) snprintf(path, sizeof path, "%s", o->file);
    else if (dataset_path("squad/dev-v1.1.json", path, sizeof path, err)) return -1;
    if (o->vocab) snprintf(vpath, sizeof vpath, "%s", o->vocab);
    else if (vocab_path(vpath, sizeof vpath, err)) return -1;
    SquadDataset ds;
    if (squad_load(path, &ds, err)) return -1;
    Vocab *v = vocab_load(vpath, err);
    if (!v) return squad_free(&ds), -1;
    double t1 = now_seconds();
    SquadFeatures fs;
    int rc = squad_featurize(&ds, v, &o->fp, &fs, err);
    double t2 = now_seconds();
    if (rc == 0) {
        double feat = t2 - t1, total = t2 - t0;
        printf("file:        %s (SQuAD %s)\n", path, ds.is_v2 ? "v2.0" : "v1.1");
        printf("params:      max_seq %d, doc_stride %d (overlap, HF semantics), max_query %d, threads %d\n",
               o->fp.max_seq, o->fp.doc_stride, o->fp.max_query, o->fp.threads);
        printf("examples:    %d (of %d; %d contexts in file)\n", fs.n_examples, ds.n_examples, ds.n_contexts);
        printf("windows:     %d\n", fs.n);
        printf("featurise:   %.3f s  %.0f examples/s  %.0f windows/s (tokenise + windows, file already parsed)\n",
               feat, fs.n_examples / feat, fs.n / feat);
        printf("total:       %.3f s  %.0f examples/s (read + parse + vocab + featurise)\n", total,
               fs.n_examples / total);
        if (o->dump) rc = write_dump(o->dump, &fs, err);
        if (rc == 0 && o->oracle) rc = write_oracle(o->oracle, &ds, &fs, err);
        squad_features_free(&fs);
    }
    vocab_free(v);
    squad_free(&ds);
    return rc;
}

int cmd_prep_squad(int argc, char **argv) {
    PrepOpts o = {0};
    int a = parse_prep_args(argc, argv, &o);
    if (a == 1) return 0;
    if (a == 2) return prep_usage(stderr), 2;
    Err err;
    if (run_prep(&o, &err)) {
        fprintf(stderr, "mtl prep-squad: %s\n", err.msg);
        return 1;
    }
    return 0;
}

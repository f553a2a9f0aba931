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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jsonw.h"
#include "opts.h"
#include "paths.h"
#include "qa_decode.h"
#include "squad.h"

typedef struct {
    const char *file, *vocab, *dump, *oracle;
    SquadFeatParams fp;
} PrepOpts;

#define OS PrepOpts
static const OptSpec PREP_OPTS[] = {
    {OPT_ARG(OS, "file", file, "SQuAD file [squad/dev-v1.1.json]")},
    {OPT_INT(OS, "max-seq", fp.max_seq, 8, 4096, "window length in tokens")},
    {OPT_INT(OS, "stride", fp.doc_stride, 0, 4096, "window overlap in tokens (HF doc_stride)")},
    {OPT_INT(OS, "max-query", fp.max_query, 1, 4096, "question tokens kept")},
    {OPT_INT(OS, "threads", fp.threads, 1, 1024, "featurisation threads")},
    {OPT_INT(OS, "max-examples", fp.max_examples, 0, 1000000000, "the first N questions (0 = all)")},
    {OPT_ARG(OS, "vocab", vocab, "vocab.txt [the default bert-base-uncased one]")},
    {OPT_ARG(OS, "dump", dump, "write one line per window to OUT.tsv")},
    {OPT_ARG(OS, "oracle", oracle, "write the oracle predictions to PRED.json")},
};
#undef OS

static const OptTable PREP_TABLE = {
    .cmd = "prep-squad",
    .synopsis = "usage: mtl prep-squad [--file PATH] [--max-seq 384] [--stride 128] [--max-query 64] [options]",
    .about = "Featurise a SQuAD file (default squad/dev-v1.1.json) into run_qa-style windows and\n"
             "print examples, windows and examples/s, windows/s.\n",
    .specs = PREP_OPTS,
    .n = (int)(sizeof PREP_OPTS / sizeof PREP_OPTS[0]),
};

/* Returns -1 to go on, else the exit status. */
static int parse_prep_args(int argc, char **argv, PrepOpts *o) {
    squad_feat_defaults(&o->fp);
    int rc = opts_command(&PREP_TABLE, o, argc, argv, NULL);
    if (rc >= 0) return rc;
    Err err;
    if (squad_window_check("--max-seq", o->fp.max_seq, o->fp.doc_stride, o->fp.max_query, &err))
        return opts_usage_error(&PREP_TABLE, err.msg);
    return -1;
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
    int rc = parse_prep_args(argc, argv, &o);
    if (rc >= 0) return rc;
    Err err;
    if (run_prep(&o, &err)) {
        fprintf(stderr, "mtl prep-squad: %s\n", err.msg);
        return 1;
    }
    return 0;
}

/* train_internal.h — pieces of the training harness shared by train*.c. */
#ifndef MTL_TRAIN_INTERNAL_H
#define MTL_TRAIN_INTERNAL_H

#include <stdint.h>

#include "checkpoint.h"
#include "conll.h"
#include "dist.h"
#include "gradnorm.h"
#include "hf_bert.h"
#include "jsonw.h"
#include "loss_weighting.h"
#include "manifest.h"
#include "model.h"
#include "rundir.h"
#include "safetensors.h"
#include "sampler.h"
#include "squad.h"
#include "tokenizer.h"
#include "train.h"

/* The data of a run: corpora, datasets and their features. Only the sets the
 * task needs are loaded. */
typedef struct {
    int has_ner, has_qa;
    Vocab *vocab;
    char vocab_path[4096];
    ConllCorpus ner_train_c, ner_dev_c, ner_test_c;
    NerFeatures ner_train, ner_dev, ner_test;
    int n_ner_train;      /* training windows used (prefix of ner_train) */
    int n_ner_train_sents;
    SquadDataset qa_train_ds, qa_dev_ds;
    SquadFeatures qa_train, qa_dev;
    char qa_train_desc[160]; /* for metrics.json: what QA trained on */
    int *len[NUM_TASKS];     /* real tokens of each training window, per task */
} TrainData;

/* Load and featurise what o->task needs; every file is also hashed into the
 * manifest. The vocab is the Hugging Face checkpoint's (hf != NULL: its
 * vocab.txt and case settings) or the default bert-base-uncased one.
 * Returns -1 with err (missing data says how to get it). */
int train_data_load(TrainData *d, const TrainOptions *o, const HfInfo *hf, Manifest *mf, Err *err);
void train_data_free(TrainData *d);
/* Only the evaluation splits (NER dev, and test unless o->no_test; QA dev,
 * first o->qa_dev_limit questions), tokenised with v (the model's; not
 * freed by eval_data_free). Unloaded splits stay zeroed. */
int eval_data_load(TrainData *d, const TrainOptions *o, Vocab *v, Manifest *mf, Err *err);
void eval_data_free(TrainData *d);

/* Host buffers for one batch of up to maxB rows of up to maxT tokens. */
typedef struct {
    int *ids, *types, *mask, *labels, *start, *end;
    int maxB, maxT;
} BatchBuf;

void batchbuf_init(BatchBuf *bb, int maxB, int maxT);
void batchbuf_free(BatchBuf *bb);
/* Gather feature rows into a batch trimmed to its longest sequence (dynamic
 * padding: positions past every row's last real token are dropped, which
 * changes nothing for NER and only the padded softmax positions for QA).
 * Returns the number of real (mask 1) tokens. */
long gather_ner(const NerFeatures *f, const int *rows, int B, BatchBuf *bb, Batch *out);
long gather_qa(const SquadFeatures *f, const int *rows, int B, BatchBuf *bb, Batch *out);

/* ---- evaluation (train_eval.c) ---------------------------------------- */

typedef struct {
    double precision, recall, f1, accuracy, macro_f1, loss;
    double type_p[CONLL_NUM_TYPES], type_r[CONLL_NUM_TYPES], type_f1[CONLL_NUM_TYPES];
    long type_support[CONLL_NUM_TYPES];
    int sentences;
} NerScores;

typedef struct {
    double exact_match, f1, bleu4, rouge_l, coverage, mean_answer_len, loss;
    int questions, full; /* full: the complete official dev set */
} QaScores;

/* Evaluate on the first `limit` sentences (0 = all), words decoded by
 * decode; write conlleval input to pred_path when non-NULL. */
int eval_ner(Model *m, BatchBuf *bb, int batch, const ConllCorpus *c, const NerFeatures *f,
             int limit, NerDecode decode, const char *pred_path, NerScores *s, Err *err);
/* Evaluate on the first `limit` questions (0 = all); write the official
 * predictions JSON to pred_path when non-NULL. */
int eval_qa(Model *m, BatchBuf *bb, int batch, const SquadDataset *ds, const SquadFeatures *f,
            int limit, const char *pred_path, QaScores *s, Err *err);

void ner_scores_json(JsonW *w, const char *key, const NerScores *s);
void qa_scores_json(JsonW *w, const char *key, const QaScores *s);

/* ---- the trainer (train.c) ------------------------------------------- */

/* One training run: its data, model, schedule, logs and run directory. */
typedef struct {
    const TrainOptions *o;
    TrainData d;
    Manifest mf;
    Backend *be;
    Model *m;
    TaskSampler ts;
    DataOrder order[NUM_TASKS];
    BatchBuf bb;
    int *rows;
    long total, warmup, per_epoch, start_step;
    double wall0;          /* now_seconds() when this process started training */
    double wall_before;    /* training seconds of earlier processes (resume) */
    double train_s;        /* training seconds of this process (loop only) */
    double *loss_hist[NUM_TASKS];  /* per-step losses (NaN where the task did not run) */
    StrBuf log, evlog;
    int use_gn;            /* --loss-weighting gradnorm */
    GradNorm gn;
    StrBuf gnlog;          /* gradnorm.csv */
    UncertaintyState unc;  /* --loss-weighting uncertainty */
    DwaState dwa;          /* --loss-weighting dwa */
    StrBuf wlog;           /* weights.csv (uncertainty, dwa) */
    char dir[1024], ckpt[1100];
    long last_ckpt_step;   /* -1: none saved yet */
    char *options;         /* canonical options text */
    int hf;                /* --init is a Hugging Face BERT directory */
    HfInfo hfi;
    ModelConfig hf_cfg;    /* the model config from its config.json */
    StList dump;           /* --dump-batches */
    double tok_real[NUM_TASKS], tok_all[NUM_TASKS]; /* real / computed (B x padded T) tokens this process */
    RunDir rd;             /* the locked run directory */
    int header_written;    /* anything written into rd yet */
    int finished;          /* --resume of a run that had already finished */
    int rank, nranks;      /* data parallel (impl/train/dist.h): rank 0 owns the run directory */
    int stop_sig;          /* the stop signal all ranks agreed on (nranks > 1) */
    double sum_s;          /* seconds in the ranks' sums (gradients, GradNorm, step scalars) */
    uint8_t *id_seen;      /* data parallel: [V] token ids of this step's global batches ... */
    int *id_rows, n_ids;   /* ... listed in order of first appearance (the same on every rank) */
    int sharded;           /* data parallel on the host: each rank updates its shard (ZeRO-1) */
    size_t E;              /* the word-embedding table's floats (first in the flat buffer) */
    size_t *shard_emb;     /* [nranks + 1]: rank r owns [shard_emb[r], shard_emb[r+1]) of [0, E) ... */
    size_t *shard_rest;    /* ... and E + [shard_rest[r], shard_rest[r+1]) of the rest: balanced */
    int opt_stale;         /* the Adam moments of the other ranks' shards are old here */
    DistOverlap *ovl;      /* sharded, unless --no-overlap: the rest's reduce-scatter, one bucket per tensor */
    int ovl_armed;         /* this pass is the step's last: its finished tensors are sent */
    double ovl_ready_s, ovl_finish_s; /* seconds in dist_overlap_ready / _finish (this process) */
} Trainer;

/* Progress and notes on stderr, unless --quiet (rank 0 only). */
void train_note(const Trainer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the learned task weights (train_weighting.c; GradNorm: train.c) --- */

/* The weight of task k's backward pass in the next step: the lambda, or the
 * learned weight of --loss-weighting gradnorm | uncertainty | dwa. */
double train_task_weight(const Trainer *t, int task);
/* Uncertainty / DWA (after make_schedule set t->per_epoch): the initial state. */
void train_weighting_init(Trainer *t);
/* Uncertainty / DWA, after a step's losses are known (reduced over the
 * ranks): one weights.csv row (the weights the step used, the state after)
 * and the update. A no-op for the other methods. */
void train_weighting_step(Trainer *t, long done, int tasks, const double loss[NUM_TASKS]);
/* Uncertainty / DWA state into / out of a checkpoint's aux values (other
 * methods: n_aux untouched / 0 expected). unpack: -1 with err naming what is wrong. */
void train_weighting_pack(const Trainer *t, TrainState *st);
int train_weighting_unpack(Trainer *t, const TrainState *st, Err *err);
/* weights.csv's header for this run's method ("" when it has none). */
void train_weighting_header(const Trainer *t, char *out, size_t n);

/* ---- the run directory (train_rundir.c) ------------------------------- */

/* out = the run directory's file `name`. */
void train_path(const Trainer *t, const char *name, char *out, size_t n);
/* config.json, manifest.json and the tokenizer files (--overwrite: the old
 * run's files removed first), then log.csv, eval.csv and gradnorm.csv
 * reloaded up to the resumed step (or just their headers). */
int train_write_run_header(Trainer *t, Err *err);
/* Whether the run directory has a metrics.json (a finished run). */
int train_run_has_metrics(const Trainer *t);
/* One log.csv row for optimiser step `step` (1-based), in memory. */
void train_log_step(Trainer *t, long step, int tasks, const double loss[NUM_TASKS], float lr, double gnorm,
                    double tok_s);
/* log.csv, eval.csv (and gradnorm.csv) rewritten from memory. */
int train_flush_logs(Trainer *t, Err *err);
/* The final evaluation (predictions/, eval.csv rows, sum's scores) and
 * metrics.json. */
int train_write_metrics(Trainer *t, RunSummary *sum, Err *err);
/* timing.json after `done` steps (eval_s: NAN when there was no final
 * evaluation). */
int train_write_timing(Trainer *t, RunSummary *sum, long done, double eval_s, Err *err);
/* params.json and memory.json (sum's parameter count and peak RSS). */
int train_write_params_memory(Trainer *t, RunSummary *sum, Err *err);
/* manifest.json marked finished. */
int train_write_final_manifest(Trainer *t, Err *err);

#endif

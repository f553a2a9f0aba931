/* train_internal.h — pieces of the training harness shared by train*.c. */
#ifndef MTL_TRAIN_INTERNAL_H
#define MTL_TRAIN_INTERNAL_H

#include "conll.h"
#include "hf_bert.h"
#include "jsonw.h"
#include "manifest.h"
#include "model.h"
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

#endif

/* squad.h — SQuAD v1.1 / v2.0: loading, run_qa-style featurisation into
 * fixed-length windows, and the predictions file {"id": "answer", ...}.
 *
 * Loading validates everything it reads; any problem gives -1 and an Err that
 * names the file and either the byte offset (broken JSON, invalid UTF-8) or
 * the JSON path of the bad field ("data[3].paragraphs[7].qas[2].answers[0].
 * answer_start: missing"). Offsets in answers are Unicode code points (Python
 * string indices), as in the official files.
 *
 * Featurisation follows Hugging Face's run_qa.py (prepare_train_features):
 *   [CLS] question [SEP] context [SEP]   token types 0 0..0 0 1..1 1
 * The question is truncated to max_query tokens (BERT's run_squad rule; HF
 * does not truncate, and no SQuAD dev question is longer than 38 tokens).
 * Long contexts are cut into windows exactly like the HF tokenizers'
 * `return_overflowing_tokens=True, stride=doc_stride` with
 * truncation="only_second": every window holds w = max_seq - qlen - 3
 * context tokens, window k starts at context token k*(w - doc_stride), so
 * doc_stride is the OVERLAP between consecutive windows (not the step, as in
 * Google's original run_squad.py), and windows stop with the first one that
 * reaches the end of the context.
 */
#ifndef MTL_SQUAD_H
#define MTL_SQUAD_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"
#include "util.h"

typedef struct {
    char *text;
    int answer_start; /* code points into the context */
    int length;       /* code points of text */
} SquadAnswer;

typedef struct {
    char *id;
    char *question;
    int context;           /* index into SquadDataset.ctx */
    int is_impossible;     /* v2.0 "is_impossible": true */
    int n_answers;         /* gold answers (0 for v2.0 impossible questions) */
    SquadAnswer *answers;
    int n_plausible;       /* v2.0 "plausible_answers" (may be 0) */
    SquadAnswer *plausible;
} SquadExample;

typedef struct {
    char *text;  /* UTF-8, NUL-terminated */
    int nbytes;
    int ncp;     /* length in code points */
    int article; /* index into SquadDataset.titles */
} SquadContext;

typedef struct {
    int n_examples; /* questions, in file order */
    SquadExample *ex;
    int n_contexts; /* paragraphs */
    SquadContext *ctx;
    int n_articles;
    char **titles;
    int is_v2;         /* version starts with "v2"/"2", or any is_impossible key */
    char version[32];  /* the file's "version" string ("" if absent) */
    int n_misaligned;  /* gold answers whose text is not the context at answer_start */
} SquadDataset;

/* Parse a SQuAD JSON document held in memory (need not be NUL-terminated).
 * name is used in messages. On failure ds is left empty (nothing to free). */
int squad_parse(const char *buf, size_t len, const char *name, SquadDataset *ds, Err *err);
/* Read path (.json or .json.gz) and parse it. */
int squad_load(const char *path, SquadDataset *ds, Err *err);
void squad_free(SquadDataset *ds);

/* ---- featurisation ------------------------------------------------------ */

typedef struct {
    int max_seq;      /* 384 */
    int doc_stride;   /* 128, overlap between windows (HF semantics) */
    int max_query;    /* 64 */
    int max_examples; /* 0: all; N: only the first N examples (short runs) */
    int threads;      /* OpenMP threads for tokenisation (1 = serial) */
} SquadFeatParams;

void squad_feat_defaults(SquadFeatParams *p);

/* The shortest QA window any command accepts (--seq-qa, --max-seq): room for
 * [CLS], a few question tokens, [SEP], some context and [SEP]. */
enum { SQUAD_MIN_SEQ = 16 };

/* The QA window rule, for every command that takes it (train, predict,
 * prep-squad): a window of seq tokens is [CLS] question [SEP] context [SEP],
 * so 1 <= max_query <= seq - 4, and the context part of the worst case,
 * seq - max_query - 3 tokens, must exceed the stride (the overlap of two
 * windows): 0 <= stride <= seq - max_query - 4. seq_opt names the option
 * that gives seq ("--seq-qa", "--max-seq") in the message. */
int squad_window_check(const char *seq_opt, int seq, int stride, int max_query, Err *err);

typedef struct {
    int example;   /* index into SquadDataset.ex */
    int context;   /* = ds->ex[example].context */
    int window;    /* 0, 1, ... within the example */
    int start;     /* answer start token position; 0 ([CLS]) if not inside */
    int end;       /* answer end token position (inclusive); 0 if not inside */
    int ctx_first; /* position of the first context token (= qlen + 2) */
    int ctx_len;   /* context tokens in this window */
    int ctx_tok0;  /* index of the first of them in the context's token list */
    int n_tokens;  /* real tokens (mask 1) = ctx_first + ctx_len + 1 */
} SquadFeature;

typedef struct {
    int32_t cstart, cend; /* code points [cstart, cend) in the context */
    int32_t bstart, bend; /* bytes [bstart, bend) in the context */
} SquadSpan;

typedef struct {
    int n;          /* windows */
    int max_seq;
    int n_examples; /* examples featurised: ds->ex[0 .. n_examples) */
    SquadFeature *f;
    int32_t *ids;   /* [n][max_seq] token ids, [PAD] after n_tokens */
    int32_t *types; /* [n][max_seq] 0 for [CLS] q [SEP], 1 for context + [SEP], 0 padding */
    int32_t *mask;  /* [n][max_seq] 1 for real tokens, 0 for padding */
    /* token spans of each tokenised context (NULL/0 for contexts not used) */
    int n_contexts;
    int *ctx_ntok;
    SquadSpan **ctx_spans;
} SquadFeatures;

/* Tokenise and window the first max_examples examples (all if 0). Returns 0,
 * or -1 (bad parameters, e.g. doc_stride >= the window length). */
int squad_featurize(const SquadDataset *ds, const Vocab *v, const SquadFeatParams *p,
                    SquadFeatures *fs, Err *err);
void squad_features_free(SquadFeatures *fs);

/* The offset map: span of token position pos (0..max_seq-1) of window i in
 * its context. Returns 1 and fills *span for context tokens, 0 for [CLS],
 * question, [SEP] and padding positions. */
int squad_feature_offset(const SquadFeatures *fs, int i, int pos, SquadSpan *span);

/* Row pointers into the flat arrays. */
static inline const int32_t *squad_feature_ids(const SquadFeatures *fs, int i) {
    return fs->ids + (size_t)i * (size_t)fs->max_seq;
}

/* ---- predictions file: {"id": "answer text", ...} ----------------------- */

typedef struct {
    int n;
    char **id;   /* owned */
    char **text; /* owned; "" for no answer */
} SquadPredictions;

void squad_predictions_init(SquadPredictions *p);
/* Append (copies both strings). */
void squad_predictions_add(SquadPredictions *p, const char *id, const char *text);
void squad_predictions_free(SquadPredictions *p);
/* Parse / load a predictions object; every value must be a string. A repeated
 * id is refused (jsonr.h: a duplicate key; Python's json.load would keep its
 * last value, cJSON its first). */
int squad_predictions_parse(const char *buf, size_t len, const char *name, SquadPredictions *p,
                            Err *err);
int squad_predictions_load(const char *path, SquadPredictions *p, Err *err);
/* Write {"id": "text", ...} in insertion order, atomically. */
int squad_predictions_write(const char *path, const SquadPredictions *p, Err *err);


#endif

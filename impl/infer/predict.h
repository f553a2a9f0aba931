/* predict.h — a trained model on a user's text (`mtl predict`): the entities
 * of a text, and the answer to a question about a context together with the
 * context's entities from the same encoder pass.
 *
 * Entities (like transformers' token-classification pipeline with
 * aggregation "first"): the text is WordPiece-tokenised as in training,
 * cut into windows of seq_ner tokens ([CLS] .. [SEP]) overlapping by
 * ner_stride tokens when it is longer; each word takes the logits of its
 * first piece from the window where that piece has the most context on
 * both sides (as SQuAD's "max context"); the words are decoded like
 * `mtl train` decodes CoNLL sentences (Viterbi over valid IOB2 by default)
 * and each B-X I-X.. run is one entity, its offsets those of its first and
 * last pieces in the ORIGINAL text. score = the mean over its words of the
 * softmax probability of the word's label.
 *
 * Answers (like the question-answering pipeline): the SQuAD windows of
 * training ([CLS] question [SEP] context [SEP], seq_qa tokens, doc stride
 * qa_stride, the question cut to max_query tokens); in each window
 *   p_start = softmax of the start logits over [CLS] and the context tokens,
 *   p_end likewise, and a span (s, e) of context tokens with s <= e and
 *   e - s + 1 <= max_answer_len scores p_start[s] * p_end[e];
 * every such span of every window is scored (the exact maximum, as the
 * pipeline's search of the start x end band), and the n_best best over all
 * windows are returned (ties: earlier window, start, end), one per distinct
 * span.
 *
 * The single pass: when the model has both heads, the NER head is applied
 * to the encoder output of the QA windows at the context positions (the
 * hidden states of [CLS] question [SEP] context [SEP], token types 1), so the
 * context's entities cost one 9 x C matrix product per token and no second
 * encoder pass. NER was trained on bare sentences with token type 0, so
 * these entities can differ from predict_entities() on the bare context;
 * README measures how often. A model with per-task top layers (shared
 * layers K < L) needs NER's copy of them: the QA windows then run a second
 * pass as task NER (the same windows and token types), whose encoder output
 * the NER head reads. */
#ifndef MTL_PREDICT_H
#define MTL_PREDICT_H

#include "model_open.h"
#include "ner_decode.h"

typedef struct {
    int seq_ner, ner_stride;        /* NER window and overlap (tokens) [128, 64] */
    int seq_qa, qa_stride, max_query; /* [384, 128, 64] as training */
    int n_best, max_answer_len;     /* answers returned [1], span limit [30] */
    int batch;                      /* windows per forward pass [32] */
    NerDecode decode;               /* [viterbi] */
    int skip_padding;               /* the model's forward runs real tokens only
                                       (model_skip_padding), so a forward takes
                                       `batch` windows of any lengths [1] */
    int heads;                      /* the heads to use, HEAD_NER | HEAD_QA (only
                                       trained ones are); 0 = every trained head [0] */
} PredictParams;

/* --skip-padding's help (mtl predict, mtl bench-predict) */
#define SKIP_PADDING_HELP "on: each forward runs the real tokens of its windows only (packed one after the other, attention per window; equal to the padded forward up to the GEMMs' last bits), so it takes --batch windows of any lengths; off: windows of similar length per forward, padded to the longest"

void predict_defaults(PredictParams *p);
/* Ranges: seq >= 8 (NER) / 32 (QA), 0 <= ner_stride < seq_ner - 2,
 * 1 <= qa_stride < seq_qa, 1 <= max_query < seq_qa - 3, n_best, max_answer_len
 * and batch >= 1; the window options only of the heads in `heads`
 * (HEAD_NER | HEAD_QA). Returns 0 or -1 naming the option. */
int predict_params_check(const PredictParams *p, int heads, Err *err);

typedef struct {
    int type;         /* ENT_PER, ENT_LOC, ENT_ORG, ENT_MISC (conll.h) */
    int start, end;   /* code points [start, end) of the original text */
    int bstart, bend; /* the same span in bytes */
    float score;
} PredEntity;

typedef struct {
    int start, end, bstart, bend; /* as PredEntity, in the context */
    float score;
} PredAnswer;

typedef struct {
    PredEntity *ent;
    int n_ent;
    PredAnswer *ans; /* best first */
    int n_ans;
    int n_windows;   /* windows (forward rows) the input took */
} PredOut;

void pred_out_free(PredOut *o);

typedef struct Predictor Predictor;

/* mo stays owned by the caller and must outlive the predictor; its model
 * must have been opened with maxB >= p->batch and maxT >= the windows of the
 * heads used (its trained heads among p->heads), which must fit its positions;
 * only the window options of those heads are checked. */
Predictor *predictor_new(ModelOpen *mo, const PredictParams *p, Err *err);
void predictor_free(Predictor *pr);
/* Does the predictor use a (trained) NER / QA head? */
int predictor_has_ner(const Predictor *pr);
int predictor_has_qa(const Predictor *pr);

/* Entities of text (UTF-8, len bytes). -1 with err on invalid UTF-8, a text
 * with no token, or a model without a trained NER head. */
int predict_entities(Predictor *pr, const char *text, size_t len, PredOut *out, Err *err);

typedef struct {
    const char *text;
    size_t len;
} PredText;

/* The same for n texts at once, their windows batched together (rows of up
 * to p.batch windows, each forward padded to its longest row): out[i], and
 * rc[i] = 0 or -1 with errs[i] for each text on its own. */
void predict_entities_many(Predictor *pr, const PredText *x, int n, PredOut *out, int *rc, Err *errs);

/* Answers to question about context (NUL-terminated UTF-8); with
 * with_entities (and a trained NER head) also the context's entities from
 * the same pass. -1 with err on empty/invalid input or no QA head. */
int predict_answer(Predictor *pr, const char *question, const char *context, int with_entities,
                   PredOut *out, Err *err);

typedef struct {
    const char *question, *context;
} PredQuestion;

/* The same for n questions at once, their windows batched together:
 * out[i], and rc[i] = 0 or -1 with errs[i] for each question on its own. */
void predict_answer_many(Predictor *pr, const PredQuestion *q, int n, int with_entities, PredOut *out,
                         int *rc, Err *errs);

#endif

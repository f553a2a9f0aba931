/* qa_decode.h — start/end logits of every window -> one answer string per
 * SQuAD example, as Hugging Face's postprocess_qa_predictions (run_qa.py):
 *
 *   for each window of the example:
 *     the n_best highest start logits and n_best highest end logits (over all
 *     max_seq positions; ties: lower position first),
 *     every pair (s, e) with both positions on context tokens of that window,
 *     e >= s and e - s + 1 <= max_answer_len, scores start[s] + end[e];
 *   the answer is the best-scoring pair over all windows (the first found on a
 *   tie: windows in order, starts then ends in rank order), returned as the
 *   EXACT substring of the original context from the start of token s to the
 *   end of token e (the offset map).
 *   v2.0: null = min over windows of start[0] + end[0] ([CLS]); the answer is
 *   "" when null - best > null_threshold.
 * No valid pair at all gives "" (HF writes the placeholder "empty"). */
#ifndef MTL_QA_DECODE_H
#define MTL_QA_DECODE_H

#include "squad.h"

typedef struct {
    int n_best;           /* 20 */
    int max_answer_len;   /* 30 tokens */
    int version2;         /* allow the null answer (SQuAD v2.0) */
    float null_threshold; /* 0.0 */
} QaDecodeParams;

void qa_decode_defaults(QaDecodeParams *p);

/* start_logits, end_logits: [fs->n][fs->max_seq] row-major, one row per
 * window of fs. Appends one prediction per example ds->ex[0 .. fs->n_examples)
 * to out (id, answer text), in example order. Returns 0, or -1 on bad
 * parameters (n_best < 1, max_answer_len < 1). */
int qa_decode(const SquadDataset *ds, const SquadFeatures *fs, const float *start_logits,
              const float *end_logits, const QaDecodeParams *p, SquadPredictions *out, Err *err);

/* The n_best highest entries of x[0..n) (NaN counts as -inf; ties: lower
 * index first) written to idx in descending order. Returns how many (min(k, n)). */
int qa_top_k(const float *x, int n, int k, int *idx);

#endif

/* squad_eval.h — SQuAD metrics equal to the official evaluate scripts.
 *
 * v1.1 (evaluate-v1.1.py): normalize_answer(s) = white_space_fix(
 * remove_articles(remove_punc(lower(s)))), i.e. Python's str.lower() (full
 * Unicode lower case, including U+0130 -> "i\u0307" and the final-sigma
 * rule), dropping the 32 ASCII characters of string.punctuation, replacing
 * every match of re.sub(r'\b(a|an|the)\b', ' ') with a space (\b: Python's
 * Unicode word boundary, word chars = letters, numbers and '_'), then
 * splitting on Python's str.isspace() characters and joining with ' '.
 *   EM = [norm(pred) == norm(gold)],
 *   F1 = 2PR/(P+R) over the multiset overlap of the normalised tokens (0 when
 *        nothing overlaps),
 * each maxed over the gold answers and averaged over ALL questions x100; a
 * question without a prediction scores 0 and is reported on the warn stream
 * as "Unanswered question <id> will receive score 0.".
 * v2.0 (evaluate-v2.0.py): gold answers are those whose normalised text is
 * non-empty, or [""] when none (impossible questions); F1 = [pred tokens ==
 * gold tokens] when either side has no tokens; HasAns/NoAns split by whether
 * the question lists answers. Difference to the official v2.0 script: a
 * missing prediction counts as 0 in the totals (the official script leaves it
 * out of "exact"/"f1" and fails with a KeyError in the HasAns/NoAns split).
 *
 * Extra fields (not in the official scripts; all on normalised tokens, with
 * a missing prediction taken as ""):
 *   bleu4    corpus BLEU-4 x100: for each question the reference is the ONE
 *            gold answer with the highest F1 against the prediction (the
 *            first on ties); clipped n-gram matches m_n and candidate n-gram
 *            counts t_n are summed over the corpus; p_1 = m_1/t_1 and, as
 *            smoothing, p_n = (m_n + 1)/(t_n + 1) for n = 2..4 (add-one,
 *            Lin & Och 2004); BLEU = BP * exp(sum_n log(p_n) / 4) with
 *            BP = 1 if c > r else exp(1 - r/c) (c, r: candidate and
 *            reference token totals); 0 when m_1 = 0 or c = 0.
 *   rouge_l  mean over questions of max over gold answers of ROUGE-L F x100:
 *            L = LCS length, P = L/|pred|, R = L/|gold|,
 *            F = (1 + b^2) P R / (R + b^2 P) with b = 1.2 (the beta of the
 *            coco-caption / MS MARCO scorer; we take the best F per gold
 *            rather than coco's max-P/max-R pairing); two empty sides give 1.
 *   coverage       % of questions with a non-empty prediction string.
 *   mean_pred_len  mean number of normalised tokens over those predictions.
 */
#ifndef MTL_SQUAD_EVAL_H
#define MTL_SQUAD_EVAL_H

#include <stdio.h>

#include "squad.h"

typedef struct {
    int is_v2;          /* scored with the v2.0 rules */
    int total;          /* questions scored */
    int missing;        /* questions without a prediction (scored 0) */
    double exact_match; /* x100 */
    double f1;          /* x100 */
    double bleu4;       /* x100 */
    double rouge_l;     /* x100 */
    double coverage;    /* % */
    double mean_pred_len;
    /* v2.0 only */
    int has_ans_total, no_ans_total;
    double has_ans_exact, has_ans_f1, no_ans_exact, no_ans_f1;
} SquadMetrics;

/* Score predictions against the first n_examples questions of ds (all when
 * n_examples <= 0 or > ds->n_examples), in file order. v2.0 rules when
 * ds->is_v2. Warnings about unanswered questions go to warn (NULL: silent).
 * Always succeeds (returns 0); err is for future use. */
int squad_evaluate(const SquadDataset *ds, int n_examples, const SquadPredictions *p, FILE *warn,
                   SquadMetrics *m, Err *err);

/* The official normalize_answer (malloc'd UTF-8). Invalid UTF-8 bytes are
 * read as U+FFFD. */
char *squad_normalize_answer(const char *s);
/* Official v1.1 exact_match_score / f1_score for one pair. */
int squad_exact_match(const char *pred, const char *gold);
double squad_f1_score(const char *pred, const char *gold);
/* Official v2.0 compute_f1 (empty-aware). */
double squad_f1_score_v2(const char *pred, const char *gold);
/* ROUGE-L F (beta 1.2) of one pair, on normalised tokens, in [0, 1]. */
double squad_rouge_l(const char *pred, const char *gold);

/* Format a double as Python's repr() does for the values printed here
 * (shortest round-trip digits, ".0" for whole numbers). */
void squad_format_double(char *buf, size_t n, double v);

#endif

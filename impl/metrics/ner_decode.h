/* ner_decode.h — per-word NER labels from the logits of each word's first
 * WordPiece, and the conlleval-format prediction file.
 *
 * Labels are the 9 IOB2 ids of conll.h. Two decoders:
 *  - argmax: the highest logit per word, then IOB2 repair (an I-X after O or
 *    after a label of another type becomes B-X);
 *  - viterbi: the label sequence with the highest sum of log-softmax scores
 *    among the sequences with valid IOB2 transitions (I-X only right after
 *    B-X or I-X; a sentence cannot start with I-X). No learned transition
 *    scores: allowed transitions cost 0, forbidden ones -inf.
 * Both always return valid IOB2. Ties go to the lower label id. */
#ifndef MTL_NER_DECODE_H
#define MTL_NER_DECODE_H

#include <stdint.h>

#include "conll.h"
#include "names.h"
#include "util.h"

typedef enum { NER_DECODE_ARGMAX = 0, NER_DECODE_VITERBI = 1 } NerDecode;

/* Their words: argmax, viterbi. */
extern const EnumName NER_DECODE_NAMES[];

/* 1 if label cur may follow label prev in IOB2 (prev = -1: sentence start). */
int ner_transition_allowed(int prev, int cur);

/* In place: every I-X that does not follow B-X/I-X becomes B-X. */
void ner_iob2_repair(uint8_t *labels, int n);

/* logits: [n][CONLL_NUM_LABELS] row-major, one row per word. out: [n]. */
void ner_decode_argmax(const float *logits, int n, uint8_t *out);
void ner_decode_viterbi(const float *logits, int n, uint8_t *out);
void ner_decode_words(NerDecode mode, const float *logits, int n, uint8_t *out);

/* Map window logits [f->n][f->max_seq][CONLL_NUM_LABELS] back to words:
 * word_logits[corpus token index][CONLL_NUM_LABELS] gets the logits of the
 * word's first piece. has[token] is set to 1 for each word that got logits
 * (every word does for features made by ner_featurize); has may be NULL. */
void ner_gather_word_logits(const ConllCorpus *c, const NerFeatures *f, const float *window_logits,
                            float *word_logits, uint8_t *has);

/* Decode every sentence of c: pred[corpus token index]. */
void ner_decode_corpus(NerDecode mode, const ConllCorpus *c, const float *word_logits, uint8_t *pred);

/* Write "token gold pred" lines (gold = IOB2 tags), a blank line after each
 * sentence, atomically (temp file + rename). Score it with `mtl score-ner`. */
int ner_write_conlleval(const char *path, const ConllCorpus *c, const uint8_t *pred, Err *err);

#endif

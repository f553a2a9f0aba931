/* ner_decode.c — argmax + IOB2 repair, constrained Viterbi, and the
 * conlleval prediction file. See ner_decode.h. */
#include "ner_decode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define K CONLL_NUM_LABELS

const EnumName NER_DECODE_NAMES[] = {{"argmax", NER_DECODE_ARGMAX}, {"viterbi", NER_DECODE_VITERBI}, {NULL, 0}};

int ner_transition_allowed(int prev, int cur) {
    if (!conll_label_is_inside(cur)) return 1;
    return prev >= 0 && prev != NER_O && conll_label_type(prev) == conll_label_type(cur);
}

void ner_iob2_repair(uint8_t *labels, int n) {
    for (int i = 0; i < n; i++)
        if (!ner_transition_allowed(i > 0 ? labels[i - 1] : -1, labels[i])) labels[i]--; /* I-X -> B-X */
}

void ner_decode_argmax(const float *logits, int n, uint8_t *out) {
    for (int w = 0; w < n; w++) {
        const float *x = logits + (size_t)w * K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (x[k] > x[best]) best = k;
        out[w] = (uint8_t)best;
    }
    ner_iob2_repair(out, n);
}

/* log_softmax(x)_k = x_k - max - log(sum_j exp(x_j - max)) */
static void log_softmax_row(const float *x, double *y) {
    double m = x[0], s = 0;
    for (int k = 1; k < K; k++) m = x[k] > m ? x[k] : m;
    for (int k = 0; k < K; k++) s += exp((double)x[k] - m);
    double lse = m + log(s);
    for (int k = 0; k < K; k++) y[k] = (double)x[k] - lse;
}

/* Viterbi: score[w][k] = emit[w][k] + max over allowed j of score[w-1][j];
 * back[w][k] = that argmax (lowest j on ties). B-X and O are allowed after
 * anything, so some path is always finite. */
void ner_decode_viterbi(const float *logits, int n, uint8_t *out) {
    if (n <= 0) return;
    double *score = xmalloc((size_t)n * K * sizeof *score);
    uint8_t *back = xmalloc((size_t)n * K);
    double emit[K];
    log_softmax_row(logits, emit);
    for (int k = 0; k < K; k++) score[k] = ner_transition_allowed(-1, k) ? emit[k] : -INFINITY;
    for (int w = 1; w < n; w++) {
        log_softmax_row(logits + (size_t)w * K, emit);
        for (int k = 0; k < K; k++) {
            double best = -INFINITY;
            int arg = 0;
            for (int j = 0; j < K; j++) {
                double s = score[(size_t)(w - 1) * K + j];
                if (ner_transition_allowed(j, k) && s > best) best = s, arg = j;
            }
            score[(size_t)w * K + k] = best + emit[k];
            back[(size_t)w * K + k] = (uint8_t)arg;
        }
    }
    int last = 0;
    for (int k = 1; k < K; k++)
        if (score[(size_t)(n - 1) * K + k] > score[(size_t)(n - 1) * K + last]) last = k;
    for (int w = n - 1; w >= 0; w--) {
        out[w] = (uint8_t)last;
        if (w > 0) last = back[(size_t)w * K + last];
    }
    free(score);
    free(back);
}

void ner_decode_words(NerDecode mode, const float *logits, int n, uint8_t *out) {
    if (mode == NER_DECODE_VITERBI) ner_decode_viterbi(logits, n, out);
    else ner_decode_argmax(logits, n, out);
}

void ner_gather_word_logits(const ConllCorpus *c, const NerFeatures *f, const float *window_logits,
                            float *word_logits, uint8_t *has) {
    if (has) memset(has, 0, (size_t)c->n_tokens);
    for (int r = 0; r < f->n; r++) {
        int tok0 = c->sents[f->sent[r]].start;
        const int *word_of = f->word_of + (size_t)r * f->max_seq;
        for (int t = 0; t < f->max_seq; t++) {
            if (word_of[t] < 0) continue;
            memcpy(word_logits + (size_t)(tok0 + word_of[t]) * K,
                   window_logits + ((size_t)r * f->max_seq + t) * K, K * sizeof(float));
            if (has) has[tok0 + word_of[t]] = 1;
        }
    }
}

void ner_decode_corpus(NerDecode mode, const ConllCorpus *c, const float *word_logits, uint8_t *pred) {
    for (int k = 0; k < c->n_sentences; k++) {
        const ConllSentence *s = &c->sents[k];
        ner_decode_words(mode, word_logits + (size_t)s->start * K, s->n, pred + s->start);
    }
}

int ner_write_conlleval(const char *path, const ConllCorpus *c, const uint8_t *pred, Err *err) {
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem) return err_set(err, "%s: cannot allocate the output buffer", path);
    for (int k = 0; k < c->n_sentences; k++) {
        const ConllSentence *s = &c->sents[k];
        for (int i = s->start; i < s->start + s->n; i++)
            fprintf(mem, "%s %s %s\n", c->words[i], CONLL_LABELS[c->tag_iob2[i]],
                    CONLL_LABELS[pred[i] < K ? pred[i] : NER_O]);
        fputc('\n', mem);
    }
    fclose(mem);
    int rc = atomic_write_file(path, buf, len, err);
    free(buf);
    return rc;
}

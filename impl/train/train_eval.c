/* train_eval.c — dev/test evaluation of a model during and after training:
 * NER (per-word decoding + conlleval) and QA (span decoding + the official
 * SQuAD metrics). The model runs in eval mode (no dropout), in batches of at
 * most `batch` windows trimmed to their longest sequence. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conlleval.h"
#include "ner_decode.h"
#include "qa_decode.h"
#include "squad_eval.h"
#include "train_internal.h"

/* ---- NER ---------------------------------------------------------------- *
 * Per word: the logits of its first WordPiece, decoded per sentence
 * (ner_decode.h: argmax + IOB2 repair, or constrained Viterbi), scored with
 * conlleval rules against the IOB2 gold tags (the chunks equal those of the
 * original IOB1 tags). The prediction file is conlleval input (token gold
 * pred), for `mtl score-ner`. */

/* Windows of the first `limit` sentences (windows are in sentence order). */
static int ner_window_prefix(const NerFeatures *f, int limit) {
    int n = 0;
    while (n < f->n && (limit <= 0 || f->sent[n] < limit)) n++;
    return n;
}

/* Run windows [0, nw) and copy the logits of each word's first piece into
 * wl[corpus token index][num_labels]. *loss = the mean loss over labelled
 * positions (each batch's mean weighted by its labelled count; a model whose
 * outputs are not finite gives NaN, which is a score, not an error).
 * Returns 0, or -1 with err. */
static int ner_word_logits(Model *m, BatchBuf *bb, int batch, const ConllCorpus *c,
                           const NerFeatures *f, int nw, float *wl, double *loss_out, Err *err) {
    int K = NER_NUM_LABELS;
    int *rows = xmalloc((size_t)batch * sizeof(int));
    float *logits = xmalloc((size_t)batch * f->max_seq * K * sizeof(float));
    double loss_sum = 0;
    long labelled = 0;
    int rc = 0;
    for (int i0 = 0; i0 < nw && rc == 0; i0 += batch) {
        int B = nw - i0 < batch ? nw - i0 : batch;
        for (int b = 0; b < B; b++) rows[b] = i0 + b;
        Batch bt;
        gather_ner(f, rows, B, bb, &bt);
        float loss;
        if ((rc = model_forward(m, &bt, 0, 0, 0, 0, &loss, err)) != 0) break;
        long nl = 0;
        for (long i = 0; i < (long)B * bt.T; i++) nl += bt.labels[i] != NER_IGNORE_LABEL;
        loss_sum += (double)loss * nl;
        labelled += nl;
        model_get_logits(m, logits);
        for (int b = 0; b < B; b++) {
            const int *word_of = f->word_of + (size_t)rows[b] * f->max_seq;
            int tok0 = c->sents[f->sent[rows[b]]].start;
            for (int t = 0; t < bt.T; t++)
                if (word_of[t] >= 0)
                    memcpy(wl + (size_t)(tok0 + word_of[t]) * K,
                           logits + ((size_t)b * bt.T + t) * K, (size_t)K * sizeof(float));
        }
    }
    free(rows);
    free(logits);
    *loss_out = labelled > 0 ? loss_sum / (double)labelled : loss_sum;
    return rc;
}

static void fill_ner_scores(const Conlleval *ce, NerScores *s) {
    PRF o = conlleval_overall(ce);
    s->precision = o.precision;
    s->recall = o.recall;
    s->f1 = o.f1;
    s->accuracy = conlleval_accuracy(ce);
    s->macro_f1 = conlleval_macro_f1(ce);
    for (int t = 0; t < CONLL_NUM_TYPES; t++)
        for (int i = 0; i < ce->n_types; i++) {
            if (strcmp(ce->types[i].name, CONLL_TYPES[t]) != 0) continue;
            PRF p = conlleval_type_scores(&ce->types[i]);
            s->type_p[t] = p.precision;
            s->type_r[t] = p.recall;
            s->type_f1[t] = p.f1;
            s->type_support[t] = ce->types[i].found_correct;
        }
}

int eval_ner(Model *m, BatchBuf *bb, int batch, const ConllCorpus *c, const NerFeatures *f,
             int limit, NerDecode decode, const char *pred_path, NerScores *s, Err *err) {
    memset(s, 0, sizeof *s);
    int nw = ner_window_prefix(f, limit);
    int nsent = limit > 0 && limit < c->n_sentences ? limit : c->n_sentences;
    size_t ntok = nsent > 0 ? (size_t)(c->sents[nsent - 1].start + c->sents[nsent - 1].n) : 0;
    float *wl = xcalloc(ntok ? ntok * NER_NUM_LABELS : 1, sizeof(float));
    uint8_t *pred = xcalloc(ntok ? ntok : 1, 1);
    if (ner_word_logits(m, bb, batch, c, f, nw, wl, &s->loss, err)) {
        free(wl);
        free(pred);
        return -1;
    }
    Conlleval ce;
    conlleval_init(&ce);
    StrBuf out = {0};
    for (int k = 0; k < nsent; k++) {
        const ConllSentence *st = &c->sents[k];
        ner_decode_words(decode, wl + (size_t)st->start * NER_NUM_LABELS, st->n, pred + st->start);
        for (int w = st->start; w < st->start + st->n; w++) {
            conlleval_add_ids(&ce, c->tag_iob2[w], pred[w]);
            if (pred_path)
                sb_printf(&out, "%s %s %s\n", c->words[w], CONLL_LABELS[c->tag_iob2[w]],
                          CONLL_LABELS[pred[w]]);
        }
        conlleval_boundary(&ce);
        if (pred_path) sb_printf(&out, "\n");
    }
    conlleval_finish(&ce);
    fill_ner_scores(&ce, s);
    s->sentences = nsent;
    int rc = pred_path ? atomic_write_file(pred_path, out.buf ? out.buf : "", out.len, err) : 0;
    sb_free(&out);
    conlleval_free(&ce);
    free(wl);
    free(pred);
    return rc;
}

void ner_scores_json(JsonW *w, const char *key, const NerScores *s) {
    jw_obj(w, key);
    jw_num(w, "precision", s->precision);
    jw_num(w, "recall", s->recall);
    jw_num(w, "f1", s->f1);
    jw_num(w, "micro_f1", s->f1);
    jw_num(w, "macro_f1", s->macro_f1);
    jw_num(w, "accuracy", s->accuracy);
    jw_num(w, "loss", s->loss);
    jw_int(w, "sentences", s->sentences);
    jw_obj(w, "per_type");
    for (int t = 0; t < CONLL_NUM_TYPES; t++) {
        jw_obj(w, CONLL_TYPES[t]);
        jw_num(w, "precision", s->type_p[t]);
        jw_num(w, "recall", s->type_r[t]);
        jw_num(w, "f1", s->type_f1[t]);
        jw_int(w, "support", s->type_support[t]);
        jw_end(w);
    }
    jw_end(w);
    jw_end(w);
}

/* ---- QA --------------------------------------------------------------------- */

/* Windows belonging to the first `limit` examples (windows are in example order). */
static int qa_window_prefix(const SquadFeatures *f, int limit) {
    if (limit <= 0 || limit >= f->n_examples) return f->n;
    int n = 0;
    while (n < f->n && f->f[n].example < limit) n++;
    return n;
}

/* Run the model over windows [0, nw) and scatter start/end logits into
 * [nw][max_seq] rows (positions past the trimmed length stay -1e30, they are
 * padding). *loss_out = the mean loss over windows (NaN is a score, as in
 * ner_word_logits). Returns 0, or -1 with err. */
static int qa_logits(Model *m, BatchBuf *bb, int batch, const SquadFeatures *f, int nw,
                     float *start, float *end, double *loss_out, Err *err) {
    int S = f->max_seq;
    int *rows = xmalloc((size_t)batch * sizeof(int));
    float *logits = xmalloc((size_t)batch * S * 2 * sizeof(float));
    double loss_sum = 0;
    for (size_t i = 0; i < (size_t)nw * S; i++) start[i] = end[i] = -1e30f;
    for (int i0 = 0; i0 < nw; i0 += batch) {
        int B = nw - i0 < batch ? nw - i0 : batch;
        for (int b = 0; b < B; b++) rows[b] = i0 + b;
        Batch bt;
        gather_qa(f, rows, B, bb, &bt);
        float loss;
        if (model_forward(m, &bt, 0, 0, 0, 0, &loss, err)) {
            free(logits);
            free(rows);
            return -1;
        }
        loss_sum += (double)loss * B;
        model_get_logits(m, logits);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < bt.T; t++) {
                start[(size_t)(i0 + b) * S + t] = logits[((size_t)b * bt.T + t) * 2];
                end[(size_t)(i0 + b) * S + t] = logits[((size_t)b * bt.T + t) * 2 + 1];
            }
    }
    free(logits);
    free(rows);
    *loss_out = nw > 0 ? loss_sum / nw : 0.0;
    return 0;
}

int eval_qa(Model *m, BatchBuf *bb, int batch, const SquadDataset *ds, const SquadFeatures *f,
            int limit, const char *pred_path, QaScores *s, Err *err) {
    memset(s, 0, sizeof *s);
    SquadFeatures sub = *f; /* shallow view of the first `limit` examples */
    sub.n = qa_window_prefix(f, limit);
    if (limit > 0 && limit < f->n_examples) sub.n_examples = limit;
    size_t cells = (size_t)(sub.n > 0 ? sub.n : 1) * f->max_seq;
    float *start = xmalloc(cells * sizeof(float)), *end = xmalloc(cells * sizeof(float));
    SquadPredictions preds;
    squad_predictions_init(&preds);
    QaDecodeParams dp;
    qa_decode_defaults(&dp);
    SquadMetrics sm;
    int rc = -1;
    if (qa_logits(m, bb, batch, &sub, sub.n, start, end, &s->loss, err)) goto out;
    if (qa_decode(ds, &sub, start, end, &dp, &preds, err)) goto out;
    if (squad_evaluate(ds, sub.n_examples, &preds, stderr, &sm, err)) goto out;
    if (pred_path && squad_predictions_write(pred_path, &preds, err)) goto out;
    s->exact_match = sm.exact_match;
    s->f1 = sm.f1;
    s->bleu4 = sm.bleu4;
    s->rouge_l = sm.rouge_l;
    s->coverage = sm.coverage;
    s->mean_answer_len = sm.mean_pred_len;
    s->questions = sm.total;
    s->full = sm.total == ds->n_examples;
    rc = 0;
out:
    squad_predictions_free(&preds);
    free(start);
    free(end);
    return rc;
}

void qa_scores_json(JsonW *w, const char *key, const QaScores *s) {
    jw_obj(w, key);
    jw_num(w, "exact_match", s->exact_match);
    jw_num(w, "f1", s->f1);
    jw_num(w, "bleu4", s->bleu4);
    jw_num(w, "rouge_l", s->rouge_l);
    jw_num(w, "coverage", s->coverage);
    jw_num(w, "mean_answer_len", s->mean_answer_len);
    jw_num(w, "loss", s->loss);
    jw_int(w, "questions", s->questions);
    jw_bool(w, "full_official_dev_set", s->full);
    jw_end(w);
}

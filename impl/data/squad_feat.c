/* squad_feat.c — SQuAD examples -> fixed-length windows, as Hugging Face's
 * run_qa.py prepare_train_features (see squad.h for the window rule).
 *
 * Each context is tokenised once (many questions share a paragraph), each
 * question once; then every example's windows are laid out:
 *   pos 0            [CLS]                type 0
 *   pos 1..q         question tokens      type 0
 *   pos q+1          [SEP]                type 0
 *   pos q+2..        context tokens       type 1
 *   next             [SEP]                type 1
 *   rest             [PAD]                type 0, mask 0
 * Labels (the first gold answer, chars [sc, ec) with ec = sc + length):
 * if the window's context covers [sc, ec), start = the last context token
 * whose span starts at or before sc and end = the first context token whose
 * span ends at or after ec (HF's two scanning loops); otherwise both 0.
 * HF's forward loop does not stop at the end of the context: when sc lies in
 * the window's last context token it runs over [SEP] and padding and labels
 * max_seq-1. We stop at the last context token (a deliberate fix). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "squad.h"

void squad_feat_defaults(SquadFeatParams *p) {
    p->max_seq = 384;
    p->doc_stride = 128;
    p->max_query = 64;
    p->max_examples = 0;
    p->threads = 1;
}

int squad_window_check(const char *seq_opt, int seq, int stride, int max_query, Err *err) {
    if (max_query < 1 || max_query > seq - 4)
        return err_set(err, "--max-query must be in [1, %s - 4 = %d] (got %d): a window holds [CLS] "
                            "question [SEP] context [SEP]", seq_opt, seq - 4, max_query);
    int hi = seq - max_query - 4;
    if (stride < 0 || stride > hi)
        return err_set(err, "--stride must be in [0, %s - max-query - 4 = %d] (got %d): the context "
                            "part of a window (at least %d tokens) must exceed the overlap",
                       seq_opt, hi, stride, seq - max_query - 3);
    return 0;
}

static int check_params(const SquadFeatParams *p, Err *err) {
    if (p->max_query < 1 || p->doc_stride < 0 || p->threads < 1 || p->max_examples < 0)
        return err_set(err, "squad features: need max_query >= 1, doc_stride >= 0, threads >= 1, "
                            "max_examples >= 0");
    if (p->max_seq < 4) return err_set(err, "squad features: max_seq %d < 4", p->max_seq);
    return 0;
}

/* Tokenised text: ids and spans. */
typedef struct {
    int n;
    int32_t *ids;
    SquadSpan *spans;
} TokSeq;

static int tokenize_text(const Vocab *v, const char *text, int max_tokens, int want_spans,
                         TokSeq *out, Err *err) {
    WpTokens t = {0};
    if (wordpiece_tokenize(v, text, strlen(text), &t, err)) {
        wptokens_free(&t);
        return -1;
    }
    int n = max_tokens > 0 && t.n > max_tokens ? max_tokens : t.n;
    out->n = n;
    out->ids = xmalloc((size_t)n * sizeof *out->ids);
    out->spans = want_spans ? xmalloc((size_t)n * sizeof *out->spans) : NULL;
    for (int i = 0; i < n; i++) {
        out->ids[i] = t.tok[i].id;
        if (want_spans)
            out->spans[i] = (SquadSpan){t.tok[i].cstart, t.tok[i].cend, t.tok[i].start, t.tok[i].end};
    }
    wptokens_free(&t);
    return 0;
}

/* First failure of a parallel loop: the lowest failing index wins so that
 * the message does not depend on the thread count. */
typedef struct {
    int index;
    Err err;
} FirstFail;

static void record_failure(FirstFail *ff, int index, const Err *e) {
#pragma omp critical(squad_feat_fail)
    {
        if (index < ff->index) {
            ff->index = index;
            ff->err = *e;
        }
    }
}

static void tokenize_contexts(const SquadDataset *ds, const Vocab *v, const char *used, TokSeq *ctx,
                              int threads, FirstFail *ff) {
    (void)threads; /* unused without OpenMP */
#pragma omp parallel for num_threads(threads) schedule(dynamic, 4)
    for (int c = 0; c < ds->n_contexts; c++) {
        if (!used[c]) continue;
        Err e;
        if (tokenize_text(v, ds->ctx[c].text, 0, 1, &ctx[c], &e)) record_failure(ff, c, &e);
    }
}

static void tokenize_questions(const SquadDataset *ds, const Vocab *v, int n_ex, int max_query,
                               TokSeq *q, int threads, FirstFail *ff) {
    (void)threads;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 16)
    for (int i = 0; i < n_ex; i++) {
        Err e;
        if (tokenize_text(v, ds->ex[i].question, max_query, 0, &q[i], &e))
            record_failure(ff, ds->n_contexts + i, &e);
    }
}

/* Windows of w context tokens advancing by step = w - stride, until one
 * reaches the end: 1 + ceil((clen - w) / step) when clen > w. */
static int window_count(int clen, int w, int step) {
    if (clen <= w) return 1;
    return 1 + (clen - w + step - 1) / step;
}

static void label_window(const SquadExample *ex, const SquadSpan *sp, int lo, int hi,
                         int ctx_first, int *start, int *end) {
    *start = *end = 0;
    if (ex->is_impossible || ex->n_answers == 0 || hi <= lo) return;
    int sc = ex->answers[0].answer_start;
    int ec = sc + ex->answers[0].length;
    if (!(sp[lo].cstart <= sc && sp[hi - 1].cend >= ec)) return;
    int t = lo;
    while (t + 1 < hi && sp[t + 1].cstart <= sc) t++;
    int u = hi - 1;
    while (u - 1 >= lo && sp[u - 1].cend >= ec) u--;
    *start = ctx_first + (t - lo);
    *end = ctx_first + (u - lo);
}

typedef struct {
    const SquadDataset *ds;
    const TokSeq *ctx, *q;
    int cls, sep, pad, stride;
} Layout;

/* Fill window k of example e into feature slot i. */
static void fill_window(SquadFeatures *fs, const Layout *L, int i, int e, int k) {
    const SquadExample *ex = &L->ds->ex[e];
    const TokSeq *q = &L->q[e], *c = &L->ctx[ex->context];
    int T = fs->max_seq, w = T - q->n - 3, step = w - L->stride;
    int lo = k * step, hi = lo + w < c->n ? lo + w : c->n;
    int32_t *ids = fs->ids + (size_t)i * T, *tt = fs->types + (size_t)i * T,
            *mask = fs->mask + (size_t)i * T;
    int p = 0;
    ids[p] = L->cls, tt[p++] = 0;
    for (int j = 0; j < q->n; j++) ids[p] = q->ids[j], tt[p++] = 0;
    ids[p] = L->sep, tt[p++] = 0;
    int ctx_first = p;
    for (int j = lo; j < hi; j++) ids[p] = c->ids[j], tt[p++] = 1;
    ids[p] = L->sep, tt[p++] = 1;
    for (int j = 0; j < T; j++) mask[j] = j < p;
    for (int j = p; j < T; j++) ids[j] = L->pad, tt[j] = 0;
    SquadFeature *f = &fs->f[i];
    *f = (SquadFeature){.example = e, .context = ex->context, .window = k, .ctx_first = ctx_first,
                        .ctx_len = hi - lo, .ctx_tok0 = lo, .n_tokens = p};
    label_window(ex, c->spans, lo, hi, ctx_first, &f->start, &f->end);
}

/* Count windows per example; first[e] = index of its first window. A
 * context that needs several windows must leave w > doc_stride tokens per
 * window (else the windows would not advance; HF refuses this too). */
static int layout_windows(const SquadDataset *ds, const TokSeq *ctx, const TokSeq *q, int n_ex,
                          const SquadFeatParams *p, int *first, Err *err) {
    int total = 0;
    for (int e = 0; e < n_ex; e++) {
        int w = p->max_seq - q[e].n - 3, clen = ctx[ds->ex[e].context].n;
        if (clen > w && w <= p->doc_stride)
            return err_set(err,
                           "squad features: question '%s': max_seq %d - %d question tokens - 3 "
                           "leaves %d context tokens per window, which must exceed doc_stride %d",
                           ds->ex[e].id, p->max_seq, q[e].n, w, p->doc_stride);
        first[e] = total;
        total += window_count(clen, w, w - p->doc_stride);
    }
    first[n_ex] = total;
    return total;
}

static void free_tokseqs(TokSeq *s, int n, int keep_spans) {
    for (int i = 0; i < n; i++) {
        free(s[i].ids);
        if (!keep_spans) free(s[i].spans);
    }
    free(s);
}

static void alloc_features(SquadFeatures *fs, int n, int T) {
    size_t cells = (size_t)n * (size_t)T;
    fs->n = n;
    fs->max_seq = T;
    fs->f = xcalloc((size_t)n, sizeof *fs->f);
    fs->ids = xmalloc(cells * sizeof *fs->ids);
    fs->types = xmalloc(cells * sizeof *fs->types);
    fs->mask = xmalloc(cells * sizeof *fs->mask);
}

int squad_featurize(const SquadDataset *ds, const Vocab *v, const SquadFeatParams *p,
                    SquadFeatures *fs, Err *err) {
    memset(fs, 0, sizeof *fs);
    if (check_params(p, err)) return -1;
    int n_ex = p->max_examples && p->max_examples < ds->n_examples ? p->max_examples : ds->n_examples;
    char *used = xcalloc((size_t)ds->n_contexts + 1, 1);
    for (int e = 0; e < n_ex; e++) used[ds->ex[e].context] = 1;
    TokSeq *ctx = xcalloc((size_t)ds->n_contexts + 1, sizeof *ctx);
    TokSeq *q = xcalloc((size_t)n_ex + 1, sizeof *q);
    FirstFail ff = {.index = INT_MAX};
    tokenize_contexts(ds, v, used, ctx, p->threads, &ff);
    tokenize_questions(ds, v, n_ex, p->max_query, q, p->threads, &ff);
    free(used);
    if (ff.index != INT_MAX) {
        int is_ctx = ff.index < ds->n_contexts;
        err_set(err, "squad features: %s %d: %s", is_ctx ? "context" : "question",
                is_ctx ? ff.index : ff.index - ds->n_contexts, ff.err.msg);
        free_tokseqs(ctx, ds->n_contexts, 0);
        free_tokseqs(q, n_ex, 0);
        return -1;
    }
    int *first = xmalloc(((size_t)n_ex + 1) * sizeof *first);
    int n_windows = layout_windows(ds, ctx, q, n_ex, p, first, err);
    if (n_windows < 0) {
        free_tokseqs(ctx, ds->n_contexts, 0);
        free_tokseqs(q, n_ex, 0);
        free(first);
        return -1;
    }
    alloc_features(fs, n_windows, p->max_seq);
    fs->n_examples = n_ex;
    Layout L = {ds, ctx, q, vocab_cls_id(v), vocab_sep_id(v), vocab_pad_id(v), p->doc_stride};
#pragma omp parallel for num_threads(p->threads) schedule(dynamic, 16)
    for (int e = 0; e < n_ex; e++)
        for (int i = first[e]; i < first[e + 1]; i++) fill_window(fs, &L, i, e, i - first[e]);
    /* keep the context spans (the offset map), drop the rest */
    fs->n_contexts = ds->n_contexts;
    fs->ctx_ntok = xcalloc((size_t)ds->n_contexts + 1, sizeof *fs->ctx_ntok);
    fs->ctx_spans = xcalloc((size_t)ds->n_contexts + 1, sizeof *fs->ctx_spans);
    for (int c = 0; c < ds->n_contexts; c++) {
        fs->ctx_ntok[c] = ctx[c].n;
        fs->ctx_spans[c] = ctx[c].spans;
    }
    free_tokseqs(ctx, ds->n_contexts, 1);
    free_tokseqs(q, n_ex, 0);
    free(first);
    return 0;
}

void squad_features_free(SquadFeatures *fs) {
    for (int c = 0; c < fs->n_contexts; c++) free(fs->ctx_spans[c]);
    free(fs->ctx_spans);
    free(fs->ctx_ntok);
    free(fs->f);
    free(fs->ids);
    free(fs->types);
    free(fs->mask);
    memset(fs, 0, sizeof *fs);
}

int squad_feature_offset(const SquadFeatures *fs, int i, int pos, SquadSpan *span) {
    if (i < 0 || i >= fs->n) return 0;
    const SquadFeature *f = &fs->f[i];
    if (pos < f->ctx_first || pos >= f->ctx_first + f->ctx_len) return 0;
    *span = fs->ctx_spans[f->context][f->ctx_tok0 + (pos - f->ctx_first)];
    return 1;
}

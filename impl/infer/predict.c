/* predict.c — entities and answers from a trained model (see predict.h). */
#include "predict.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conll.h"
#include "squad.h"
#include "tokenizer.h"

void predict_defaults(PredictParams *p) {
    p->seq_ner = 128;
    p->ner_stride = 64;
    p->seq_qa = 384;
    p->qa_stride = 128;
    p->max_query = 64;
    p->n_best = 1;
    p->max_answer_len = 30;
    p->batch = 32;
    p->decode = NER_DECODE_VITERBI;
    p->skip_padding = 1;
    p->heads = 0;
}

int predict_params_check(const PredictParams *p, int heads, Err *err) {
    if ((heads & HEAD_NER) && (p->seq_ner < 8 || p->seq_ner > 4096))
        return err_set(err, "--seq-ner must be in [8, 4096] (got %d)", p->seq_ner);
    if ((heads & HEAD_NER) && (p->ner_stride < 0 || p->ner_stride >= p->seq_ner - 2))
        return err_set(err, "--ner-stride must be in [0, seq_ner - 3 = %d] (got %d)", p->seq_ner - 3,
                       p->ner_stride);
    if ((heads & HEAD_QA) && (p->seq_qa < SQUAD_MIN_SEQ || p->seq_qa > 4096))
        return err_set(err, "--seq-qa must be in [%d, 4096] (got %d)", SQUAD_MIN_SEQ, p->seq_qa);
    if ((heads & HEAD_QA) && p->qa_stride < 1)
        return err_set(err, "--stride must be >= 1 for predict (got %d)", p->qa_stride);
    if ((heads & HEAD_QA) && squad_window_check("--seq-qa", p->seq_qa, p->qa_stride, p->max_query, err))
        return -1;
    if (p->n_best < 1 || p->n_best > 1000) return err_set(err, "--n-best must be in [1, 1000] (got %d)", p->n_best);
    if (p->max_answer_len < 1 || p->max_answer_len > 4096)
        return err_set(err, "--max-answer-len must be in [1, 4096] (got %d)", p->max_answer_len);
    if (p->batch < 1 || p->batch > 4096) return err_set(err, "--batch must be in [1, 4096] (got %d)", p->batch);
    return 0;
}

void pred_out_free(PredOut *o) {
    free(o->ent);
    free(o->ans);
    memset(o, 0, sizeof *o);
}

struct Predictor {
    ModelOpen *mo;
    PredictParams p;
    int heads; /* the heads used: trained, and among p.heads */
    int C, nl, maxT;
    int skips; /* the model skips the padding (p.skip_padding on an inference model) */
    int *ids, *types, *mask, *labels, *pos; /* one forward's batch [batch * maxT] (pos: [batch]) */
    float *logits, *hidden;                 /* its NER/QA logits, encoder output */
    float *ner_w, *ner_b;                   /* host copy of the NER head: [nl][C], [nl] */
};

int predictor_has_ner(const Predictor *pr) { return (pr->heads & HEAD_NER) != 0; }
int predictor_has_qa(const Predictor *pr) { return (pr->heads & HEAD_QA) != 0; }

/* The heads a predictor uses: the trained ones p->heads asks for (0: all). */
static int heads_used(const ModelOpen *mo, const PredictParams *p) {
    int trained = (mo->ner_head_trained ? HEAD_NER : 0) | (mo->qa_head_trained ? HEAD_QA : 0);
    return trained & (p->heads ? p->heads : HEAD_ALL);
}

/* The NER head's weight and bias, copied to the host for the single pass. */
static void copy_ner_head(Predictor *pr) {
    const ParamInfo *w = model_find_tensor(pr->mo->m, "ner.w"), *b = model_find_tensor(pr->mo->m, "ner.b");
    if (!w || !b) return;
    float *all = xmalloc(model_num_params(pr->mo->m) * sizeof *all);
    model_params_to_host(pr->mo->m, all);
    pr->ner_w = xmalloc(w->numel * sizeof *pr->ner_w);
    pr->ner_b = xmalloc(b->numel * sizeof *pr->ner_b);
    memcpy(pr->ner_w, all + w->offset, w->numel * sizeof *pr->ner_w);
    memcpy(pr->ner_b, all + b->offset, b->numel * sizeof *pr->ner_b);
    free(all);
}

/* The window lengths of the heads used: within the model's positions. */
static int check_windows(const ModelOpen *mo, const PredictParams *p, int heads, int *maxT, Err *err) {
    int pos = model_config(mo->m)->maxT;
    *maxT = 0;
    if (heads & HEAD_NER) *maxT = p->seq_ner;
    if ((heads & HEAD_QA) && p->seq_qa > *maxT) *maxT = p->seq_qa;
    if (*maxT > pos)
        return err_set(err, "windows of %d tokens (--seq-ner %d, --seq-qa %d) exceed the model's %d positions",
                       *maxT, p->seq_ner, p->seq_qa, pos);
    return 0;
}

Predictor *predictor_new(ModelOpen *mo, const PredictParams *p, Err *err) {
    int heads = heads_used(mo, p), maxT;
    if (predict_params_check(p, heads, err) || check_windows(mo, p, heads, &maxT, err)) return NULL;
    const ModelConfig *c = model_config(mo->m);
    if (maxT < 1) maxT = 1;
    Predictor *pr = xcalloc(1, sizeof *pr);
    pr->mo = mo;
    pr->p = *p;
    pr->heads = heads;
    pr->C = c->C;
    pr->nl = c->num_labels;
    pr->maxT = maxT;
    pr->skips = p->skip_padding && model_is_inference(mo->m);
    if (model_is_inference(mo->m)) model_skip_padding(mo->m, pr->skips);
    size_t n = (size_t)p->batch * (size_t)maxT;
    pr->ids = xmalloc(n * sizeof *pr->ids);
    pr->types = xmalloc(n * sizeof *pr->types);
    pr->mask = xmalloc(n * sizeof *pr->mask);
    pr->labels = xmalloc(n * sizeof *pr->labels);
    pr->pos = xmalloc((size_t)p->batch * sizeof *pr->pos);
    for (size_t i = 0; i < n; i++) pr->labels[i] = -100; /* no loss: nothing to learn */
    for (int i = 0; i < p->batch; i++) pr->pos[i] = -100;
    pr->logits = xmalloc(n * (size_t)(pr->nl > 2 ? pr->nl : 2) * sizeof *pr->logits);
    if (heads == HEAD_ALL) {
        pr->hidden = xmalloc(n * (size_t)pr->C * sizeof *pr->hidden);
        copy_ner_head(pr);
    }
    return pr;
}

void predictor_free(Predictor *pr) {
    if (!pr) return;
    free(pr->ids);
    free(pr->types);
    free(pr->mask);
    free(pr->labels);
    free(pr->pos);
    free(pr->logits);
    free(pr->hidden);
    free(pr->ner_w);
    free(pr->ner_b);
    free(pr);
}

/* One forward pass over the B rows of T tokens in pr->ids/types/mask. */
static int forward_rows(Predictor *pr, int task, int B, int T, Err *err) {
    Batch b = {.task = task, .B = B, .T = T, .ids = pr->ids, .types = pr->types, .mask = pr->mask,
               .labels = pr->labels, .start = pr->pos, .end = pr->pos};
    if (model_forward(pr->mo->m, &b, 0, 0, 0, 0, NULL, err)) return -1;
    model_get_logits(pr->mo->m, pr->logits);
    return 0;
}

/* ---- forward chunks: length-bucketed dynamic padding ------------------------------- */

typedef struct {
    const int *len;
    int i;
} LenRef;

static int len_ref_cmp(const void *pa, const void *pb) {
    const LenRef *a = pa, *b = pb;
    int la = a->len[a->i], lb = b->len[b->i];
    return la != lb ? (la > lb) - (la < lb) : a->i - b->i;
}

/* The rows of n windows of lengths len[] in forward passes: order[] = the
 * windows by length (stable), and chunk k = order[start[k] .. start[k+1]),
 * at most max_rows rows. When the model runs the padding too (pad_costs),
 * a chunk is also closed before the padding to its longest row would
 * exceed a quarter of its real tokens:
 *   rows_after * longest > 5/4 * tokens_after.
 * Padding every call's inputs to the longest one (plain dynamic padding)
 * wastes most of the work on short sentences (CoNLL: 3x). Returns the chunk
 * count; start has n + 1 slots. */
static int plan_chunks(const int *len, int n, int max_rows, int pad_costs, int *order, int *start) {
    LenRef *r = xmalloc((size_t)(n ? n : 1) * sizeof *r);
    for (int i = 0; i < n; i++) r[i] = (LenRef){len, i};
    qsort(r, (size_t)n, sizeof *r, len_ref_cmp);
    int k = 0, rows = 0;
    long tokens = 0;
    for (int i = 0; i < n; i++) {
        order[i] = r[i].i;
        int l = len[order[i]];
        if (rows > 0 && (rows == max_rows || (pad_costs && 4L * (rows + 1) * l > 5L * (tokens + l))))
            rows = 0, tokens = 0;
        if (rows == 0) start[k++] = i;
        rows++;
        tokens += l;
    }
    start[k] = n;
    free(r);
    return k;
}

/* ---- words and entities ----------------------------------------------------------- */

/* The words of a token list: word k spans tokens [first[k], last[k]]. */
typedef struct {
    int n;
    int *first, *last;
} Words;

static void words_of(const WpTokens *t, Words *w) {
    w->first = xmalloc((size_t)(t->n ? t->n : 1) * sizeof *w->first);
    w->last = xmalloc((size_t)(t->n ? t->n : 1) * sizeof *w->last);
    w->n = 0;
    for (int i = 0; i < t->n; i++) {
        if (i == 0 || t->tok[i].word != t->tok[i - 1].word) w->first[w->n++] = i;
        w->last[w->n - 1] = i;
    }
}

static void words_free(Words *w) {
    free(w->first);
    free(w->last);
}

/* How much context token position pos has inside a window of positions
 * [lo, hi): min(pos - lo, hi - 1 - pos). */
static int context_of(int pos, int lo, int hi) {
    int a = pos - lo, b = hi - 1 - pos;
    return a < b ? a : b;
}

/* Softmax probability of label y in a row of nl logits. */
static float label_prob(const float *row, int nl, int y) {
    float mx = row[0];
    for (int k = 1; k < nl; k++) mx = row[k] > mx ? row[k] : mx;
    double s = 0.0;
    for (int k = 0; k < nl; k++) s += exp((double)(row[k] - mx));
    return (float)(exp((double)(row[y] - mx)) / s);
}

static void push_entity(PredOut *o, int *cap, PredEntity e) {
    if (o->n_ent == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        o->ent = xrealloc(o->ent, (size_t)*cap * sizeof *o->ent);
    }
    o->ent[o->n_ent++] = e;
}

/* Entities from the decoded labels of the words: each B-X followed by its
 * I-X run (decoded labels are valid IOB2). */
static void collect_entities(const WpTokens *t, const Words *w, const uint8_t *lab, const float *wl,
                             int nl, PredOut *o) {
    int cap = 0;
    for (int k = 0; k < w->n;) {
        int type = conll_label_type(lab[k]);
        if (type < 0) {
            k++;
            continue;
        }
        int j = k + 1;
        while (j < w->n && conll_label_is_inside(lab[j]) && conll_label_type(lab[j]) == type) j++;
        double s = 0.0;
        for (int i = k; i < j; i++) s += label_prob(wl + (size_t)i * nl, nl, lab[i]);
        const WpToken *a = &t->tok[w->first[k]], *b = &t->tok[w->last[j - 1]];
        push_entity(o, &cap, (PredEntity){type, a->cstart, b->cend, a->start, b->end, (float)(s / (j - k))});
        k = j;
    }
}

/* Decode word logits [w->n][nl] into o's entities. */
static void decode_entities(const Predictor *pr, const WpTokens *t, const Words *w, const float *wl,
                            PredOut *o) {
    uint8_t *lab = xmalloc((size_t)w->n);
    ner_decode_words(pr->p.decode, wl, w->n, lab);
    collect_entities(t, w, lab, wl, pr->nl, o);
    free(lab);
}

/* ---- NER on a bare text ------------------------------------------------------------ */

/* Window starts (token indices) for n tokens, span tokens per window,
 * advancing by span - stride until a window reaches the end. */
static int ner_windows(int n, int span, int stride, int **starts) {
    int step = span - stride, nw = n <= span ? 1 : 1 + (n - span + step - 1) / step;
    *starts = xmalloc((size_t)nw * sizeof **starts);
    for (int i = 0; i < nw; i++) (*starts)[i] = i * step;
    return nw;
}

/* Row r of the batch: [CLS] tokens [s, s + len) [SEP], then padding to T. */
static void fill_ner_row(Predictor *pr, const WpTokens *t, int r, int s, int len, int T) {
    const Vocab *v = pr->mo->vocab;
    int *ids = pr->ids + (size_t)r * T, *ty = pr->types + (size_t)r * T, *mk = pr->mask + (size_t)r * T;
    for (int i = 0; i < T; i++) {
        int real = i < len + 2;
        ids[i] = !real ? vocab_pad_id(v) : i == 0 ? vocab_cls_id(v) : i == len + 1 ? vocab_sep_id(v) : t->tok[s + i - 1].id;
        ty[i] = 0;
        mk[i] = real;
    }
}

/* One text on its way through: tokens, words, and per word the best logits
 * so far and the context they had (-1: none yet). */
typedef struct {
    WpTokens t;
    Words w;
    float *wl;
    int *best, *best_win; /* per word: context of its logits so far, their window */
    int nwin;
} NerItem;

/* A window: text `item`, tokens [start, start + len). */
typedef struct {
    int item, start, len;
} NerWin;

static void ner_item_free(NerItem *it) {
    wptokens_free(&it->t);
    if (it->w.first) words_free(&it->w);
    free(it->wl);
    free(it->best);
    free(it->best_win);
}

/* Tokenise text i into it; -1 with err on invalid UTF-8 or no token. */
static int ner_item_init(const Predictor *pr, const PredText *x, NerItem *it, Err *err) {
    memset(it, 0, sizeof *it);
    if (wordpiece_tokenize(pr->mo->vocab, x->text, x->len, &it->t, err)) return -1;
    if (it->t.n == 0) return err_set(err, "the text has no token (empty or only whitespace/control characters)");
    words_of(&it->t, &it->w);
    it->wl = xmalloc((size_t)it->w.n * (size_t)pr->nl * sizeof *it->wl);
    it->best = xmalloc((size_t)it->w.n * sizeof *it->best);
    it->best_win = xmalloc((size_t)it->w.n * sizeof *it->best_win);
    for (int k = 0; k < it->w.n; k++) it->best[k] = -1;
    return 0;
}

/* Every window of every usable item, in order. */
static NerWin *ner_all_windows(const Predictor *pr, NerItem *items, const int *ok, int n, int *nw) {
    int span = pr->p.seq_ner - 2, cap = 0;
    NerWin *win = NULL;
    *nw = 0;
    for (int i = 0; i < n; i++) {
        if (!ok[i]) continue;
        int *starts, k = ner_windows(items[i].t.n, span, pr->p.ner_stride, &starts);
        items[i].nwin = k;
        if (*nw + k > cap) {
            cap = 2 * (*nw + k);
            win = xrealloc(win, (size_t)cap * sizeof *win);
        }
        for (int j = 0; j < k; j++) {
            int len = items[i].t.n - starts[j] < span ? items[i].t.n - starts[j] : span;
            win[(*nw)++] = (NerWin){i, starts[j], len};
        }
        free(starts);
    }
    return win;
}

/* Row r (window wi) gives its logits to the words of its item whose first
 * piece it holds, where it gives that piece more context than the windows
 * seen so far; ties go to the earlier window whatever the order rows come in. */
static void ner_take_row(const Predictor *pr, const NerWin *wn, int wi, NerItem *it, int r, int T) {
    for (int k = 0; k < it->w.n; k++) {
        int f = it->w.first[k];
        if (f < wn->start || f >= wn->start + wn->len) continue;
        int ctx = context_of(f, wn->start, wn->start + wn->len);
        if (it->best[k] >= 0 && (ctx < it->best[k] || (ctx == it->best[k] && wi > it->best_win[k]))) continue;
        it->best[k] = ctx;
        it->best_win[k] = wi;
        memcpy(it->wl + (size_t)k * pr->nl, pr->logits + ((size_t)r * T + 1 + (f - wn->start)) * pr->nl,
               (size_t)pr->nl * sizeof *it->wl);
    }
}

/* Forward the windows in chunks of similar length (plan_chunks). */
static int ner_forward_windows(Predictor *pr, NerItem *items, const NerWin *win, int nw, Err *err) {
    int *len = xmalloc((size_t)nw * sizeof *len), *order = xmalloc((size_t)nw * sizeof *order);
    int *start = xmalloc((size_t)(nw + 1) * sizeof *start), rc = 0;
    for (int i = 0; i < nw; i++) len[i] = win[i].len + 2;
    int nc = plan_chunks(len, nw, pr->p.batch, !pr->skips, order, start);
    for (int k = 0; k < nc && rc == 0; k++) {
        int B = start[k + 1] - start[k], T = len[order[start[k + 1] - 1]]; /* the chunk's longest */
        for (int r = 0; r < B; r++) {
            const NerWin *wn = &win[order[start[k] + r]];
            fill_ner_row(pr, &items[wn->item].t, r, wn->start, wn->len, T);
        }
        if ((rc = forward_rows(pr, TASK_NER, B, T, err))) break;
        for (int r = 0; r < B; r++) {
            int wi = order[start[k] + r];
            ner_take_row(pr, &win[wi], wi, &items[win[wi].item], r, T);
        }
    }
    free(len);
    free(order);
    free(start);
    return rc;
}

void predict_entities_many(Predictor *pr, const PredText *x, int n, PredOut *out, int *rc, Err *errs) {
    NerItem *items = xcalloc((size_t)(n ? n : 1), sizeof *items);
    int *ok = xcalloc((size_t)(n ? n : 1), sizeof *ok);
    for (int i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        rc[i] = !predictor_has_ner(pr) ? err_set(&errs[i], "no NER head in use (the model has no trained one, or the heads asked for leave it out)")
                                       : ner_item_init(pr, &x[i], &items[i], &errs[i]);
        ok[i] = rc[i] == 0;
    }
    int nw;
    NerWin *win = ner_all_windows(pr, items, ok, n, &nw);
    Err ferr;
    int frc = nw ? ner_forward_windows(pr, items, win, nw, &ferr) : 0;
    for (int i = 0; i < n; i++) {
        if (ok[i] && frc) rc[i] = -1, errs[i] = ferr;
        else if (ok[i]) {
            decode_entities(pr, &items[i].t, &items[i].w, items[i].wl, &out[i]);
            out[i].n_windows = items[i].nwin;
        }
        ner_item_free(&items[i]);
    }
    free(win);
    free(items);
    free(ok);
}

int predict_entities(Predictor *pr, const char *text, size_t len, PredOut *out, Err *err) {
    PredText x = {text, len};
    int rc;
    predict_entities_many(pr, &x, 1, out, &rc, err);
    return rc;
}

/* ---- QA ------------------------------------------------------------------------------ */

typedef struct {
    int win, s, e;
    PredAnswer a;
} Cand;

typedef struct {
    Cand *c;
    int n, cap;
} Cands;

/* p = softmax of row x[0..n) over the positions where allowed[pos] != 0. */
static void masked_softmax(const float *x, const uint8_t *allowed, int n, float *p) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        if (allowed[i] && x[i] > mx) mx = x[i];
    double s = 0.0;
    for (int i = 0; i < n; i++) s += allowed[i] ? exp((double)(x[i] - mx)) : 0.0;
    for (int i = 0; i < n; i++) p[i] = allowed[i] ? (float)(exp((double)(x[i] - mx)) / s) : 0.0f;
}

/* Best first; ties: earlier window, start, end. */
static int cand_cmp(const void *pa, const void *pb);

/* Insert c into the k best of top[0..*n) (sorted by cand_cmp). */
static void keep_best(Cand *top, int *n, int k, Cand c) {
    if (*n == k && cand_cmp(&c, &top[k - 1]) >= 0) return;
    int j = *n < k ? (*n)++ : k - 1;
    while (j > 0 && cand_cmp(&c, &top[j - 1]) < 0) {
        top[j] = top[j - 1];
        j--;
    }
    top[j] = c;
}

/* The n_best candidates of window i of fs (start/end logits st/en [T]): every
 * span of context tokens s <= e < s + max_answer_len, scored
 * p_start[s] * p_end[e] — the exact maximum, as the pipeline's search of the
 * upper band of the start x end matrix. */
static void window_candidates(const Predictor *pr, const SquadFeatures *fs, int i, const float *st,
                              const float *en, int T, Cands *out) {
    const SquadFeature *f = &fs->f[i];
    uint8_t *allowed = xcalloc((size_t)T, 1);
    float *ps = xmalloc((size_t)T * sizeof *ps), *pe = xmalloc((size_t)T * sizeof *pe);
    int k = pr->p.n_best, n = 0, lo = f->ctx_first, hi = f->ctx_first + f->ctx_len;
    Cand *top = xmalloc((size_t)k * sizeof *top);
    allowed[0] = 1; /* [CLS] stays in the softmax, as the pipeline keeps it */
    for (int pos = lo; pos < hi; pos++) allowed[pos] = 1;
    masked_softmax(st, allowed, T, ps);
    masked_softmax(en, allowed, T, pe);
    for (int s = lo; s < hi; s++) {
        int e_end = s + pr->p.max_answer_len < hi ? s + pr->p.max_answer_len : hi;
        for (int e = s; e < e_end; e++)
            keep_best(top, &n, k, (Cand){i, s, e, {0, 0, 0, 0, ps[s] * pe[e]}});
    }
    if (out->n + n > out->cap) {
        out->cap = 2 * (out->n + n) + 16;
        out->c = xrealloc(out->c, (size_t)out->cap * sizeof *out->c);
    }
    for (int j = 0; j < n; j++) { /* offsets of the kept spans in the context */
        SquadSpan ss, se;
        squad_feature_offset(fs, i, top[j].s, &ss);
        squad_feature_offset(fs, i, top[j].e, &se);
        top[j].a = (PredAnswer){ss.cstart, se.cend, ss.bstart, se.bend, top[j].a.score};
        out->c[out->n++] = top[j];
    }
    free(allowed);
    free(ps);
    free(pe);
    free(top);
}

static int cand_cmp(const void *pa, const void *pb) {
    const Cand *a = pa, *b = pb;
    if (a->a.score != b->a.score) return a->a.score > b->a.score ? -1 : 1;
    if (a->win != b->win) return a->win - b->win;
    if (a->s != b->s) return a->s - b->s;
    return a->e - b->e;
}

/* The n_best best candidates with distinct spans into out->ans. */
static void pick_answers(const Predictor *pr, Cands *cs, PredOut *out) {
    qsort(cs->c, (size_t)cs->n, sizeof *cs->c, cand_cmp);
    out->ans = xmalloc((size_t)pr->p.n_best * sizeof *out->ans);
    for (int i = 0; i < cs->n && out->n_ans < pr->p.n_best; i++) {
        int dup = 0;
        for (int j = 0; j < out->n_ans && !dup; j++)
            dup = out->ans[j].bstart == cs->c[i].a.bstart && out->ans[j].bend == cs->c[i].a.bend;
        if (!dup) out->ans[out->n_ans++] = cs->c[i].a;
    }
}

/* NER logits of the context tokens from the encoder output of window row r:
 * logits = h W^T + b (the NER head) at each context position; for each
 * context word, keep its first piece's logits from the window where that
 * piece has the most context. best[k] tracks it. */
static void qa_pass_word_logits(const Predictor *pr, const SquadFeature *f, int wi, int r, int T,
                                const Words *w, float *wl, int *best, int *best_win) {
    int C = pr->C, nl = pr->nl;
    for (int k = 0; k < w->n; k++) {
        int tok = w->first[k];
        if (tok < f->ctx_tok0 || tok >= f->ctx_tok0 + f->ctx_len) continue;
        int ctx = context_of(tok, f->ctx_tok0, f->ctx_tok0 + f->ctx_len);
        if (best[k] >= 0 && (ctx < best[k] || (ctx == best[k] && wi > best_win[k]))) continue;
        best[k] = ctx;
        best_win[k] = wi;
        const float *h = pr->hidden + ((size_t)r * T + (size_t)(f->ctx_first + tok - f->ctx_tok0)) * C;
        for (int y = 0; y < nl; y++) {
            double s = pr->ner_b[y];
            for (int c = 0; c < C; c++) s += (double)h[c] * pr->ner_w[(size_t)y * C + c];
            wl[(size_t)k * nl + y] = (float)s;
        }
    }
}

/* One question on its way through: its answer candidates, and with the
 * single pass its context's tokens, words and best NER logits so far. */
typedef struct {
    Cands cs;
    WpTokens t;
    Words w;
    float *wl;
    int *best, *best_win;
    int nwin;
} QaItem;

/* The context's tokens and words, as squad_featurize tokenised context c. */
static int qa_item_ner_init(const Predictor *pr, const char *context, const SquadFeatures *fs, int c,
                            QaItem *it, Err *err) {
    if (wordpiece_tokenize(pr->mo->vocab, context, strlen(context), &it->t, err)) return -1;
    if (it->t.n != fs->ctx_ntok[c])
        return err_set(err, "internal: the context tokenised to %d tokens, the windows have %d", it->t.n,
                       fs->ctx_ntok[c]);
    words_of(&it->t, &it->w);
    it->wl = xcalloc((size_t)it->w.n * (size_t)pr->nl, sizeof *it->wl);
    it->best = xmalloc((size_t)it->w.n * sizeof *it->best);
    it->best_win = xmalloc((size_t)it->w.n * sizeof *it->best_win);
    for (int k = 0; k < it->w.n; k++) it->best[k] = -1;
    return 0;
}

static void qa_item_free(QaItem *it) {
    free(it->cs.c);
    wptokens_free(&it->t);
    if (it->w.first) words_free(&it->w);
    free(it->wl);
    free(it->best);
    free(it->best_win);
}

/* Windows rows[0..B) of fs into the batch, padded to T. */
static void fill_qa_rows(Predictor *pr, const SquadFeatures *fs, const int *rows, int B, int T) {
    for (int r = 0; r < B; r++) {
        size_t src = (size_t)rows[r] * fs->max_seq, dst = (size_t)r * T;
        for (int i = 0; i < T; i++) {
            pr->ids[dst + i] = fs->ids[src + i];
            pr->types[dst + i] = fs->types[src + i];
            pr->mask[dst + i] = fs->mask[src + i];
        }
    }
}

/* The encoder output the NER head reads on the QA windows just forwarded:
 * that pass's own when every layer is shared; with per-task top layers
 * (shared layers K < L) or per-task LoRA adapters NER's own encoder must
 * run, so a second pass, as task NER, over the same rows. */
static int ner_hidden_of_qa_rows(Predictor *pr, int B, int T, Err *err) {
    if (model_task_encoders_differ(model_config(pr->mo->m)) && forward_rows(pr, TASK_NER, B, T, err)) return -1;
    model_get_hidden(pr->mo->m, pr->hidden);
    return 0;
}

/* Forward every window of fs in chunks of similar length (plan_chunks);
 * each window's candidates, and with ner its context's NER word logits, into
 * the item of its example. */
static int qa_forward_all(Predictor *pr, const SquadFeatures *fs, QaItem *items, int ner, Err *err) {
    float *st = xmalloc((size_t)fs->max_seq * sizeof *st), *en = xmalloc((size_t)fs->max_seq * sizeof *en);
    int n = fs->n, *len = xmalloc((size_t)n * sizeof *len), *order = xmalloc((size_t)n * sizeof *order);
    int *start = xmalloc((size_t)(n + 1) * sizeof *start), rc = 0;
    for (int i = 0; i < n; i++) len[i] = fs->f[i].n_tokens;
    int nc = plan_chunks(len, n, pr->p.batch, !pr->skips, order, start);
    for (int k = 0; k < nc && rc == 0; k++) {
        const int *rows = order + start[k];
        int B = start[k + 1] - start[k], T = len[rows[B - 1]];
        fill_qa_rows(pr, fs, rows, B, T);
        if ((rc = forward_rows(pr, TASK_QA, B, T, err))) break;
        for (int r = 0; r < B; r++) {
            int wi = rows[r];
            QaItem *it = &items[fs->f[wi].example];
            for (int i = 0; i < T; i++) { /* logits [B][T][2]: start, end */
                st[i] = pr->logits[((size_t)r * T + i) * 2];
                en[i] = pr->logits[((size_t)r * T + i) * 2 + 1];
            }
            window_candidates(pr, fs, wi, st, en, T, &it->cs);
            it->nwin++;
        }
        if (ner && (rc = ner_hidden_of_qa_rows(pr, B, T, err))) break;
        for (int r = 0; r < B && ner; r++) {
            int wi = rows[r];
            QaItem *it = &items[fs->f[wi].example];
            qa_pass_word_logits(pr, &fs->f[wi], wi, r, T, &it->w, it->wl, it->best, it->best_win);
        }
    }
    free(st);
    free(en);
    free(len);
    free(order);
    free(start);
    return rc;
}

static int has_token_char(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') return 1;
    return 0;
}

static int check_question(const Predictor *pr, const PredQuestion *q, Err *err) {
    if (!predictor_has_qa(pr)) return err_set(err, "no QA head in use (the model has no trained one, or the heads asked for leave it out)");
    if (!has_token_char(q->question)) return err_set(err, "the question is empty");
    if (!has_token_char(q->context)) return err_set(err, "the context is empty");
    return 0;
}

/* A SQuAD dataset over the caller's strings (nothing copied): one context
 * and one example per question idx[0..n). */
static void questions_dataset(SquadDataset *ds, const PredQuestion *q, const int *idx, int n) {
    memset(ds, 0, sizeof *ds);
    ds->ex = xcalloc((size_t)n, sizeof *ds->ex);
    ds->ctx = xcalloc((size_t)n, sizeof *ds->ctx);
    for (int j = 0; j < n; j++) {
        const PredQuestion *x = &q[idx[j]];
        int nb = (int)strlen(x->context);
        ds->ex[j] = (SquadExample){.id = "q", .question = (char *)x->question, .context = j};
        ds->ctx[j] = (SquadContext){.text = (char *)x->context, .nbytes = nb,
                                    .ncp = utf8_count_cp(x->context, (size_t)nb)};
    }
    ds->n_examples = ds->n_contexts = n;
}

/* Questions idx[0..n) together; -1 with err (for all of them) on failure. */
static int answer_group(Predictor *pr, const PredQuestion *q, const int *idx, int n, int ner, PredOut *out,
                        Err *err) {
    SquadDataset ds;
    questions_dataset(&ds, q, idx, n);
    SquadFeatParams fp;
    squad_feat_defaults(&fp);
    fp.max_seq = pr->p.seq_qa;
    fp.doc_stride = pr->p.qa_stride;
    fp.max_query = pr->p.max_query;
    fp.threads = 1;
    SquadFeatures fs;
    int rc = squad_featurize(&ds, pr->mo->vocab, &fp, &fs, err), featurized = rc == 0;
    QaItem *items = xcalloc((size_t)n, sizeof *items);
    for (int j = 0; j < n && rc == 0 && ner; j++) rc = qa_item_ner_init(pr, q[idx[j]].context, &fs, j, &items[j], err);
    if (rc == 0) rc = qa_forward_all(pr, &fs, items, ner, err);
    for (int j = 0; j < n; j++) {
        if (rc == 0) {
            PredOut *o = &out[idx[j]];
            pick_answers(pr, &items[j].cs, o);
            o->n_windows = items[j].nwin;
            if (ner) decode_entities(pr, &items[j].t, &items[j].w, items[j].wl, o);
        }
        qa_item_free(&items[j]);
    }
    if (featurized) squad_features_free(&fs);
    free(items);
    free(ds.ex);
    free(ds.ctx);
    return rc;
}

void predict_answer_many(Predictor *pr, const PredQuestion *q, int n, int with_entities, PredOut *out,
                         int *rc, Err *errs) {
    int ner = with_entities && pr->hidden && pr->ner_w, *idx = xmalloc((size_t)(n ? n : 1) * sizeof *idx), m = 0;
    for (int i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        rc[i] = check_question(pr, &q[i], &errs[i]);
        if (rc[i] == 0) idx[m++] = i;
    }
    Err err;
    if (m > 0 && answer_group(pr, q, idx, m, ner, out, &err)) {
        /* one bad input (e.g. invalid UTF-8) fails the group: each on its own, for its own message */
        for (int j = 0; j < m; j++) {
            pred_out_free(&out[idx[j]]);
            rc[idx[j]] = answer_group(pr, q, &idx[j], 1, ner, out, &errs[idx[j]]);
        }
    }
    free(idx);
}

int predict_answer(Predictor *pr, const char *question, const char *context, int with_entities,
                   PredOut *out, Err *err) {
    PredQuestion q = {question, context};
    int rc;
    predict_answer_many(pr, &q, 1, with_entities, out, &rc, err);
    return rc;
}

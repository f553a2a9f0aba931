/* squad_eval.c — official SQuAD EM/F1 and the extra answer metrics (see
 * squad_eval.h for the exact definitions). Text is handled as Unicode code
 * points so that Python's str semantics (lower, \b, isspace) carry over. */
#include "squad_eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---- code point buffers ------------------------------------------------ */

typedef struct {
    int32_t *v;
    int n, cap;
} Cps;

static void cps_push(Cps *c, int32_t x) {
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        c->v = xrealloc(c->v, (size_t)c->cap * sizeof *c->v);
    }
    c->v[c->n++] = x;
}

static void decode_utf8(const char *s, Cps *out) {
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    utf8proc_ssize_t left = (utf8proc_ssize_t)strlen(s);
    while (left > 0) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(p, left, &c);
        if (k <= 0) c = 0xFFFD, k = 1;
        cps_push(out, c);
        p += k;
        left -= k;
    }
}

/* ---- Python character classes ------------------------------------------ */

/* str.isspace(): general category Zs or bidi class WS, B or S. */
static int py_isspace(int32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

/* re's \w for str patterns: str.isalnum() or '_' (letters L*, numbers N*). */
static int py_isword(int32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    int cat = utf8proc_category(c);
    return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
           (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

/* string.punctuation: the 32 ASCII characters !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~ */
static int py_ispunct_ascii(int32_t c) {
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
}

/* Unicode "Cased": Lu, Ll, Lt, anything with a case mapping, and the
 * Other_Lowercase modifier letters (U+00AA, U+00BA, U+02B0..U+02B8,
 * U+02C0..U+02C1, U+02E0..U+02E4, U+1D2C..U+1D6A, U+1D78, U+1D9B..U+1DBF,
 * U+2071, U+207F, U+2090..U+209C) and Other_Uppercase squared/negative
 * Latin capitals (U+1F130..U+1F149, U+1F150..U+1F169, U+1F170..U+1F189). */
static int is_cased(int32_t c) {
    int cat = utf8proc_category(c);
    if (cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT) return 1;
    if (utf8proc_tolower(c) != c || utf8proc_toupper(c) != c) return 1;
    return c == 0xAA || c == 0xBA || (c >= 0x2B0 && c <= 0x2B8) || (c >= 0x2C0 && c <= 0x2C1) ||
           (c >= 0x2E0 && c <= 0x2E4) || (c >= 0x1D2C && c <= 0x1D6A) || c == 0x1D78 ||
           (c >= 0x1D9B && c <= 0x1DBF) || c == 0x2071 || c == 0x207F || (c >= 0x2090 && c <= 0x209C) ||
           (c >= 0x1F130 && c <= 0x1F149) || (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189);
}

/* Unicode "Case_Ignorable": Mn Me Cf Lm Sk, and the Word_Break MidLetter /
 * MidNumLet / Single_Quote characters. */
static int is_case_ignorable(int32_t c) {
    static const int32_t mid[] = {0x27,   0x2E,   0x3A,   0xB7,   0x387,  0x55F,  0x5F4,  0x2018, 0x2019,
                                  0x2024, 0x2027, 0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A};
    for (size_t i = 0; i < sizeof mid / sizeof mid[0]; i++)
        if (c == mid[i]) return 1;
    int cat = utf8proc_category(c);
    return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_ME || cat == UTF8PROC_CATEGORY_CF ||
           cat == UTF8PROC_CATEGORY_LM || cat == UTF8PROC_CATEGORY_SK;
}

/* Python's rule for U+03A3 in lower(): final sigma (U+03C2) when preceded by
 * a cased letter and not followed by one, skipping case-ignorables both ways. */
static int32_t lower_sigma(const int32_t *s, int n, int i) {
    int j = i - 1;
    while (j >= 0 && is_case_ignorable(s[j])) j--;
    if (j < 0 || !is_cased(s[j])) return 0x3C3;
    j = i + 1;
    while (j < n && is_case_ignorable(s[j])) j++;
    return j < n && is_cased(s[j]) ? 0x3C3 : 0x3C2;
}

/* str.lower(): simple lower case except the two SpecialCasing rules Python
 * applies (U+0130 -> "i\u0307", final sigma). */
static void py_lower(const Cps *in, Cps *out) {
    for (int i = 0; i < in->n; i++) {
        int32_t c = in->v[i];
        if (c < 0x80) cps_push(out, c >= 'A' && c <= 'Z' ? c + 32 : c);
        else if (c == 0x130) cps_push(out, 'i'), cps_push(out, 0x307);
        else if (c == 0x3A3) cps_push(out, lower_sigma(in->v, in->n, i));
        else cps_push(out, utf8proc_tolower(c));
    }
}

/* re.sub(r'\b(a|an|the)\b', ' ', s): an article is a whole word (word chars
 * on neither side) equal to "a", "an" or "the"; it becomes one space. */
static int article_len(const int32_t *s, int n, int i) {
    if (i > 0 && py_isword(s[i - 1])) return 0;
    static const char *const arts[] = {"a", "an", "the"};
    for (int k = 0; k < 3; k++) {
        int len = (int)strlen(arts[k]), j = 0;
        while (j < len && i + j < n && s[i + j] == arts[k][j]) j++;
        if (j == len && (i + len == n || !py_isword(s[i + len]))) return len;
    }
    return 0;
}

/* ---- normalised tokens ------------------------------------------------- */

typedef struct {
    char *buf; /* tokens joined by ' ' (= normalize_answer's result) */
    int n;     /* tokens */
    int *off, *len;
} NormTokens;

static void append_cp(char **buf, int *len, int *cap, int32_t c) {
    if (*len + 4 >= *cap) {
        *cap = *cap * 2 + 16;
        *buf = xrealloc(*buf, (size_t)*cap);
    }
    *len += (int)utf8proc_encode_char(c, (utf8proc_uint8_t *)*buf + *len);
}

/* normalize_answer(s).split(). */
static void normalize_tokens(const char *s, NormTokens *t) {
    Cps raw = {0}, low = {0}, kept = {0};
    decode_utf8(s, &raw);
    py_lower(&raw, &low);
    for (int i = 0; i < low.n; i++)
        if (!py_ispunct_ascii(low.v[i])) cps_push(&kept, low.v[i]);
    int cap = 16, len = 0, tcap = 4;
    char *buf = xmalloc((size_t)cap);
    t->n = 0;
    t->off = xmalloc((size_t)tcap * sizeof *t->off);
    t->len = xmalloc((size_t)tcap * sizeof *t->len);
    int in_token = 0;
    for (int i = 0; i < kept.n;) {
        int alen = article_len(kept.v, kept.n, i);
        int32_t c = alen ? ' ' : kept.v[i];
        i += alen ? alen : 1;
        if (py_isspace(c)) {
            in_token = 0;
            continue;
        }
        if (!in_token) { /* start a token (separated from the previous by one space) */
            if (t->n) append_cp(&buf, &len, &cap, ' ');
            if (t->n == tcap) {
                tcap *= 2;
                t->off = xrealloc(t->off, (size_t)tcap * sizeof *t->off);
                t->len = xrealloc(t->len, (size_t)tcap * sizeof *t->len);
            }
            t->off[t->n++] = len;
            in_token = 1;
        }
        append_cp(&buf, &len, &cap, c);
        t->len[t->n - 1] = len - t->off[t->n - 1];
    }
    buf[len] = '\0';
    t->buf = buf;
    free(raw.v);
    free(low.v);
    free(kept.v);
}

static void norm_free(NormTokens *t) {
    free(t->buf);
    free(t->off);
    free(t->len);
}

static int tok_eq(const NormTokens *a, int i, const NormTokens *b, int j) {
    return a->len[i] == b->len[j] && !memcmp(a->buf + a->off[i], b->buf + b->off[j], (size_t)a->len[i]);
}

static int ngram_eq(const NormTokens *a, int i, const NormTokens *b, int j, int n) {
    for (int k = 0; k < n; k++)
        if (!tok_eq(a, i + k, b, j + k)) return 0;
    return 1;
}

/* Size of the multiset intersection of the n-grams of a and b (Counter(a) &
 * Counter(b) summed; for n = 1 the F1 overlap, for n > 1 BLEU's clipped
 * count): greedy matching, each gram of b used at most once. */
static int ngram_overlap(const NormTokens *a, const NormTokens *b, int n) {
    int na = a->n - n + 1, nb = b->n - n + 1, same = 0;
    if (na <= 0 || nb <= 0) return 0;
    char *used = xcalloc((size_t)nb, 1);
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++)
            if (!used[j] && ngram_eq(a, i, b, j, n)) {
                used[j] = 1;
                same++;
                break;
            }
    free(used);
    return same;
}

static int lcs_length(const NormTokens *a, const NormTokens *b) {
    int *prev = xcalloc((size_t)b->n + 1, sizeof *prev), *cur = xcalloc((size_t)b->n + 1, sizeof *cur);
    for (int i = 1; i <= a->n; i++) {
        for (int j = 1; j <= b->n; j++)
            cur[j] = tok_eq(a, i - 1, b, j - 1) ? prev[j - 1] + 1 : (prev[j] > cur[j - 1] ? prev[j] : cur[j - 1]);
        int *t = prev;
        prev = cur;
        cur = t;
    }
    int l = prev[b->n];
    free(prev);
    free(cur);
    return l;
}

/* ---- pairwise scores --------------------------------------------------- */

static int exact_tokens(const NormTokens *p, const NormTokens *g) { return !strcmp(p->buf, g->buf); }

/* f1_score of evaluate-v1.1.py. */
static double f1_tokens_v1(const NormTokens *p, const NormTokens *g) {
    int same = ngram_overlap(p, g, 1);
    if (same == 0) return 0;
    double precision = 1.0 * same / p->n, recall = 1.0 * same / g->n;
    return (2 * precision * recall) / (precision + recall);
}

/* compute_f1 of evaluate-v2.0.py: with an empty side, 1 iff both empty. */
static double f1_tokens_v2(const NormTokens *p, const NormTokens *g) {
    if (p->n == 0 || g->n == 0) return p->n == g->n;
    return f1_tokens_v1(p, g);
}

#define ROUGE_BETA 1.2
static double rouge_tokens(const NormTokens *p, const NormTokens *g) {
    if (p->n == 0 || g->n == 0) return p->n == g->n;
    int l = lcs_length(p, g);
    if (l == 0) return 0;
    double prec = (double)l / p->n, rec = (double)l / g->n, b2 = ROUGE_BETA * ROUGE_BETA;
    return (1 + b2) * prec * rec / (rec + b2 * prec);
}

char *squad_normalize_answer(const char *s) {
    NormTokens t;
    normalize_tokens(s, &t);
    free(t.off);
    free(t.len);
    return t.buf;
}

typedef double (*PairFn)(const NormTokens *, const NormTokens *);
static double on_pair(const char *pred, const char *gold, PairFn fn) {
    NormTokens p, g;
    normalize_tokens(pred, &p);
    normalize_tokens(gold, &g);
    double r = fn(&p, &g);
    norm_free(&p);
    norm_free(&g);
    return r;
}

int squad_exact_match(const char *pred, const char *gold) {
    char *a = squad_normalize_answer(pred), *b = squad_normalize_answer(gold);
    int r = !strcmp(a, b);
    free(a);
    free(b);
    return r;
}
double squad_f1_score(const char *pred, const char *gold) { return on_pair(pred, gold, f1_tokens_v1); }
double squad_f1_score_v2(const char *pred, const char *gold) { return on_pair(pred, gold, f1_tokens_v2); }
double squad_rouge_l(const char *pred, const char *gold) { return on_pair(pred, gold, rouge_tokens); }

/* ---- corpus accumulation ----------------------------------------------- */

typedef struct {
    long match[4], cand[4]; /* BLEU: clipped matches, candidate n-grams */
    long c_len, r_len;      /* candidate and reference token totals */
    double rouge_sum;
    long nonempty, nonempty_tokens;
} Extras;

/* Score one question: pred (may be NULL = missing) against its golds. */
typedef struct {
    int exact;
    double f1;
} QScore;

static QScore score_question(const SquadExample *ex, const char *pred, int v2, Extras *x) {
    /* gold list: all answers (v1.1); v2.0 keeps those with a non-empty
     * normalisation, or [""] */
    int ng = 0;
    NormTokens *golds = xcalloc((size_t)ex->n_answers + 1, sizeof *golds);
    for (int k = 0; k < ex->n_answers; k++) {
        normalize_tokens(ex->answers[k].text, &golds[ng]);
        if (v2 && golds[ng].n == 0) norm_free(&golds[ng]);
        else ng++;
    }
    if (ng == 0) normalize_tokens("", &golds[ng++]);
    NormTokens p;
    normalize_tokens(pred ? pred : "", &p);
    QScore q = {0, 0.0};
    int best_gold = 0;
    double best_f1 = -1, best_rouge = 0;
    for (int k = 0; k < ng; k++) {
        int em = exact_tokens(&p, &golds[k]);
        double f1 = v2 ? f1_tokens_v2(&p, &golds[k]) : f1_tokens_v1(&p, &golds[k]);
        double rl = rouge_tokens(&p, &golds[k]);
        if (em > q.exact) q.exact = em;
        if (f1 > best_f1) best_f1 = f1, best_gold = k;
        if (rl > best_rouge) best_rouge = rl;
    }
    q.f1 = best_f1 > 0 ? best_f1 : 0;
    for (int n = 1; n <= 4; n++) {
        x->match[n - 1] += ngram_overlap(&p, &golds[best_gold], n);
        x->cand[n - 1] += p.n >= n ? p.n - n + 1 : 0;
    }
    x->c_len += p.n;
    x->r_len += golds[best_gold].n;
    x->rouge_sum += best_rouge;
    if (pred && *pred) x->nonempty++, x->nonempty_tokens += p.n;
    norm_free(&p);
    for (int k = 0; k < ng; k++) norm_free(&golds[k]);
    free(golds);
    return q;
}

static double corpus_bleu4(const Extras *x) {
    if (x->c_len == 0 || x->match[0] == 0) return 0;
    double logp = log((double)x->match[0] / x->cand[0]);
    for (int n = 1; n < 4; n++) logp += log((x->match[n] + 1.0) / (x->cand[n] + 1.0));
    double bp = x->c_len > x->r_len ? 1.0 : exp(1.0 - (double)x->r_len / x->c_len);
    return 100.0 * bp * exp(logp / 4);
}

/* ---- prediction lookup -------------------------------------------------- */

static int cmp_id_index(const void *a, const void *b, void *ctx) {
    char *const *ids = ctx;
    return strcmp(ids[*(const int *)a], ids[*(const int *)b]);
}

typedef struct {
    const SquadPredictions *p;
    int *order; /* indices sorted by id */
} PredIndex;

static const char *find_prediction(const PredIndex *ix, const char *id) {
    int lo = 0, hi = ix->p->n;
    while (lo < hi) {
        int mid = (lo + hi) / 2, c = strcmp(ix->p->id[ix->order[mid]], id);
        if (c == 0) return ix->p->text[ix->order[mid]];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

int squad_evaluate(const SquadDataset *ds, int n_examples, const SquadPredictions *p, FILE *warn,
                   SquadMetrics *m, Err *err) {
    (void)err;
    memset(m, 0, sizeof *m);
    int n = n_examples > 0 && n_examples < ds->n_examples ? n_examples : ds->n_examples;
    PredIndex ix = {p, xmalloc(((size_t)p->n + 1) * sizeof(int))};
    for (int i = 0; i < p->n; i++) ix.order[i] = i;
    qsort_r(ix.order, (size_t)p->n, sizeof(int), cmp_id_index, p->id);
    m->is_v2 = ds->is_v2;
    Extras x = {{0}, {0}, 0, 0, 0, 0, 0};
    long exact = 0, has_exact = 0, no_exact = 0;
    double f1 = 0, has_f1 = 0, no_f1 = 0;
    for (int i = 0; i < n; i++) {
        const SquadExample *ex = &ds->ex[i];
        const char *pred = find_prediction(&ix, ex->id);
        if (!pred) {
            m->missing++;
            if (warn) fprintf(warn, "Unanswered question %s will receive score 0.\n", ex->id);
        }
        QScore q = score_question(ex, pred, ds->is_v2, &x);
        if (!pred) q.exact = 0, q.f1 = 0; /* counted as 0 (official v1.1) */
        exact += q.exact;
        f1 += q.f1;
        if (ex->n_answers > 0) has_exact += q.exact, has_f1 += q.f1, m->has_ans_total++;
        else no_exact += q.exact, no_f1 += q.f1, m->no_ans_total++;
    }
    m->total = n;
    if (n > 0) {
        m->exact_match = 100.0 * exact / n;
        m->f1 = 100.0 * f1 / n;
        m->rouge_l = 100.0 * x.rouge_sum / n;
        m->coverage = 100.0 * x.nonempty / n;
    }
    if (m->has_ans_total) m->has_ans_exact = 100.0 * has_exact / m->has_ans_total, m->has_ans_f1 = 100.0 * has_f1 / m->has_ans_total;
    if (m->no_ans_total) m->no_ans_exact = 100.0 * no_exact / m->no_ans_total, m->no_ans_f1 = 100.0 * no_f1 / m->no_ans_total;
    m->bleu4 = corpus_bleu4(&x);
    m->mean_pred_len = x.nonempty ? (double)x.nonempty_tokens / x.nonempty : 0;
    free(ix.order);
    return 0;
}

void squad_format_double(char *buf, size_t n, double v) {
    if (!isfinite(v)) {
        snprintf(buf, n, "%s", isnan(v) ? "NaN" : (v > 0 ? "Infinity" : "-Infinity"));
        return;
    }
    /* shortest round-trip significant digits */
    int prec = 1;
    char tmp[64];
    for (; prec < 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v) break;
    }
    snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
    int exp10 = atoi(strchr(tmp, 'e') + 1);
    /* repr: positional for 1e-4 <= |v| < 1e16, else scientific */
    if (v != 0 && (exp10 < -4 || exp10 >= 16)) {
        snprintf(buf, n, "%s", tmp);
        return;
    }
    int decimals = prec - 1 - exp10;
    snprintf(buf, n, "%.*f", decimals > 0 ? decimals : 0, v);
    if (!strchr(buf, '.')) strncat(buf, ".0", n - strlen(buf) - 1);
}

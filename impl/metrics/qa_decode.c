/* qa_decode.c — logits -> answer strings (see qa_decode.h). */
#include "qa_decode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void qa_decode_defaults(QaDecodeParams *p) {
    p->n_best = 20;
    p->max_answer_len = 30;
    p->version2 = 0;
    p->null_threshold = 0.0f;
}

static float finite_or_low(float v) { return isnan(v) ? -INFINITY : v; }

/* a (value va at index ia) ranks before b? */
static int ranks_before(float va, int ia, float vb, int ib) {
    return va > vb || (va == vb && ia < ib);
}

int qa_top_k(const float *x, int n, int k, int *idx) {
    int m = 0;
    for (int i = 0; i < n; i++) {
        float v = finite_or_low(x[i]);
        if (m == k && !ranks_before(v, i, finite_or_low(x[idx[m - 1]]), idx[m - 1])) continue;
        int j = m < k ? m++ : m - 1; /* slot to fill, then bubble it up */
        while (j > 0 && ranks_before(v, i, finite_or_low(x[idx[j - 1]]), idx[j - 1])) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    return m;
}

/* Best span of one example so far. */
typedef struct {
    int found;
    float score;
    SquadSpan s, e; /* spans of the start and end tokens */
    float null_score;
    int have_null;
} Best;

static void scan_window(const SquadFeatures *fs, int w, const float *st, const float *en,
                        const QaDecodeParams *p, int *top_s, int *top_e, Best *b) {
    int T = fs->max_seq;
    float null = st[0] + en[0];
    if (!b->have_null || null < b->null_score) b->null_score = null, b->have_null = 1;
    int ns = qa_top_k(st, T, p->n_best, top_s), ne = qa_top_k(en, T, p->n_best, top_e);
    for (int a = 0; a < ns; a++) {
        SquadSpan ss, se;
        if (!squad_feature_offset(fs, w, top_s[a], &ss)) continue;
        for (int c = 0; c < ne; c++) {
            int s = top_s[a], e = top_e[c];
            if (e < s || e - s + 1 > p->max_answer_len) continue;
            if (!squad_feature_offset(fs, w, e, &se)) continue;
            float score = st[s] + en[e];
            if (!b->found || score > b->score) *b = (Best){1, score, ss, se, b->null_score, 1};
        }
    }
}

/* The answer text of example e (malloc'd). */
static char *answer_text(const SquadDataset *ds, int ctx, const Best *b, const QaDecodeParams *p) {
    if (!b->found) return xstrdup("");
    if (p->version2 && b->null_score - b->score > p->null_threshold) return xstrdup("");
    const char *text = ds->ctx[ctx].text;
    int from = b->s.bstart, to = b->e.bend > from ? b->e.bend : from;
    char *out = xmalloc((size_t)(to - from) + 1);
    memcpy(out, text + from, (size_t)(to - from));
    out[to - from] = '\0';
    return out;
}

int qa_decode(const SquadDataset *ds, const SquadFeatures *fs, const float *start_logits,
              const float *end_logits, const QaDecodeParams *p, SquadPredictions *out, Err *err) {
    if (p->n_best < 1 || p->max_answer_len < 1)
        return err_set(err, "qa_decode: need n_best >= 1 and max_answer_len >= 1 (got %d, %d)",
                       p->n_best, p->max_answer_len);
    int *top_s = xmalloc((size_t)p->n_best * sizeof *top_s);
    int *top_e = xmalloc((size_t)p->n_best * sizeof *top_e);
    size_t T = (size_t)fs->max_seq;
    int w = 0;
    for (int e = 0; e < fs->n_examples; e++) {
        Best b = {0};
        for (; w < fs->n && fs->f[w].example == e; w++)
            scan_window(fs, w, start_logits + w * T, end_logits + w * T, p, top_s, top_e, &b);
        char *text = answer_text(ds, ds->ex[e].context, &b, p);
        squad_predictions_add(out, ds->ex[e].id, text);
        free(text);
    }
    free(top_s);
    free(top_e);
    return 0;
}

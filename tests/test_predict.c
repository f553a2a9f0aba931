/* test_predict.c — `mtl predict`'s engine (impl/infer/predict.c) on a small random
 * model with the real bert-base-uncased vocab:
 *  - the single pass: NER logits from the QA windows' encoder output equal
 *    the NER head run by the model on those very windows;
 *  - a one-window answer equals qa_decode's (run_qa.py's rule, the one
 *    `mtl eval` scores);
 *  - entities: offsets in code points of the original text, the text of
 *    each entity is that substring, spans ordered and disjoint, and a long
 *    text cut into overlapping windows gives each word the logits of the
 *    window where it has the most context;
 *  - bad input: empty text, invalid UTF-8, a head the model lacks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "conll.h"
#include "model.h"
#include "paths.h"
#include "predict.h"
#include "qa_decode.h"
#include "squad.h"
#include "testutil.h"
#include "tokenizer.h"

static Backend *g_be;
static ModelOpen g_mo;
static int g_ready;

/* A tiny model with both heads; the NER bias favours B-PER then I-PER so
 * that a random encoder still yields entities. */
static int open_tiny(int heads) {
    Err err;
    char vp[1024];
    if (vocab_path(vp, sizeof vp, &err)) return -1;
    ModelConfig cfg;
    config_from_preset(&cfg, "tiny", &err);
    cfg.heads = heads;
    memset(&g_mo, 0, sizeof g_mo);
    g_mo.m = model_create(&cfg, g_be, 4, 128, &err);
    if (!g_mo.m) return -1;
    model_init(g_mo.m, 7);
    const ParamInfo *b = model_find_tensor(g_mo.m, "ner.b");
    if (b) {
        float *all = malloc(model_num_params(g_mo.m) * sizeof *all);
        model_params_to_host(g_mo.m, all);
        all[b->offset + NER_B_PER] = 0.6f;
        all[b->offset + NER_I_PER] = 0.5f;
        model_params_from_host(g_mo.m, all);
        free(all);
    }
    g_mo.vocab = vocab_load(vp, &err);
    snprintf(g_mo.vocab_path, sizeof g_mo.vocab_path, "%s", vp);
    snprintf(g_mo.kind, sizeof g_mo.kind, "run");
    g_mo.ner_head_trained = (heads & HEAD_NER) != 0;
    g_mo.qa_head_trained = (heads & HEAD_QA) != 0;
    return g_mo.vocab ? 0 : -1;
}

static PredictParams small_params(void) {
    PredictParams p;
    predict_defaults(&p);
    p.seq_ner = 16;
    p.ner_stride = 6;
    p.seq_qa = 64;
    p.qa_stride = 24;
    p.max_query = 16;
    p.batch = 4;
    p.n_best = 5;
    return p;
}

static int setup(void) {
    g_be = backend_cpu(1);
    g_ready = open_tiny(HEAD_NER | HEAD_QA) == 0;
    return 0;
}

static int teardown(void) {
    model_open_free(&g_mo);
    g_be->destroy(g_be);
    return 0;
}

#define NEED_MODEL()                                                            \
    do {                                                                        \
        if (!g_ready) {                                                         \
            testutil_skip("predict", "no vocab.txt (datasets not fetched)");   \
            return;                                                             \
        }                                                                       \
    } while (0)

static const char *CONTEXT =
    "Peter Müller moved to São Paulo in 1998, where he founded Acme Ltd. with Ana Souza; "
    "the company later opened offices in Zürich, Tokyo and New York.";

/* Code-point offset -> byte offset in s. */
static int cp_to_byte(const char *s, int cp) {
    int b = 0;
    for (int k = 0; k < cp && s[b]; k++) {
        b++;
        while ((s[b] & 0xC0) == 0x80) b++;
    }
    return b;
}

static void test_entity_offsets(void) {
    NEED_MODEL();
    PredictParams p = small_params();
    Err err;
    Predictor *pr = predictor_new(&g_mo, &p, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pr);
    PredOut o;
    CU_ASSERT_EQUAL_FATAL(predict_entities(pr, CONTEXT, strlen(CONTEXT), &o, &err), 0);
    printf("    %d entities over %d windows of %d tokens\n", o.n_ent, o.n_windows, p.seq_ner);
    CU_ASSERT(o.n_windows > 1); /* the text is longer than one window */
    CU_ASSERT(o.n_ent > 0);
    int bad = 0, prev_end = 0;
    for (int i = 0; i < o.n_ent; i++) {
        const PredEntity *e = &o.ent[i];
        bad += e->start < prev_end || e->end <= e->start;
        bad += cp_to_byte(CONTEXT, e->start) != e->bstart || cp_to_byte(CONTEXT, e->end) != e->bend;
        bad += !(e->score > 0.0f && e->score <= 1.0f);
        prev_end = e->end;
    }
    CU_ASSERT_EQUAL(bad, 0);
    pred_out_free(&o);
    predictor_free(pr);
}

/* The same text in one window of 128 tokens: one forward row, entities
 * inside the text. */
static void test_one_window_vs_many(void) {
    NEED_MODEL();
    PredictParams p = small_params();
    p.seq_ner = 128;
    p.ner_stride = 32;
    Err err;
    Predictor *pr = predictor_new(&g_mo, &p, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pr);
    PredOut o;
    CU_ASSERT_EQUAL_FATAL(predict_entities(pr, CONTEXT, strlen(CONTEXT), &o, &err), 0);
    CU_ASSERT_EQUAL(o.n_windows, 1);
    CU_ASSERT(o.n_ent > 0);
    if (o.n_ent > 0) CU_ASSERT(o.ent[o.n_ent - 1].bend <= (int)strlen(CONTEXT));
    pred_out_free(&o);
    predictor_free(pr);
}

/* Windows, by brute force: every window forwarded alone (batch 1, no
 * padding), each word's first-piece logits taken from the window where the
 * piece has the most context (min of the tokens before and after it in the
 * window; ties: the earlier window), decoded; the entities must equal
 * predict_entities' (batched windows, dynamic padding). */
static void test_windows_brute_force(void) {
    NEED_MODEL();
    PredictParams p = small_params();
    Err err;
    WpTokens t = {0};
    CU_ASSERT_EQUAL_FATAL(wordpiece_tokenize(g_mo.vocab, CONTEXT, strlen(CONTEXT), &t, &err), 0);
    int span = p.seq_ner - 2, step = span - p.ner_stride, nl = NER_NUM_LABELS;
    int nwords = t.tok[t.n - 1].word + 1;
    float *wl = calloc((size_t)nwords * nl, sizeof *wl);
    int *best = malloc((size_t)nwords * sizeof *best), *first = malloc((size_t)nwords * sizeof *first);
    for (int k = 0; k < nwords; k++) best[k] = -1, first[k] = -1;
    for (int i = 0; i < t.n; i++)
        if (first[t.tok[i].word] < 0) first[t.tok[i].word] = i;
    for (int s0 = 0;; s0 += step) {
        int len = t.n - s0 < span ? t.n - s0 : span, T = len + 2, ids[16], lab[16];
        float lg[16 * NER_NUM_LABELS];
        ids[0] = vocab_cls_id(g_mo.vocab), ids[len + 1] = vocab_sep_id(g_mo.vocab);
        for (int i = 0; i < len; i++) ids[i + 1] = t.tok[s0 + i].id;
        for (int i = 0; i < T; i++) lab[i] = -100;
        Batch b = {.task = TASK_NER, .B = 1, .T = T, .ids = ids, .types = NULL, .mask = NULL, .labels = lab, .start = NULL, .end = NULL};
        CU_ASSERT_EQUAL_FATAL(model_forward(g_mo.m, &b, 0, 0, 0, 0, NULL, &err), 0);
        model_get_logits(g_mo.m, lg);
        for (int k = 0; k < nwords; k++) {
            int f = first[k];
            if (f < s0 || f >= s0 + len) continue;
            int ctx = f - s0 < s0 + len - 1 - f ? f - s0 : s0 + len - 1 - f;
            if (ctx <= best[k]) continue;
            best[k] = ctx;
            memcpy(wl + (size_t)k * nl, lg + (size_t)(1 + f - s0) * nl, (size_t)nl * sizeof *wl);
        }
        if (s0 + len >= t.n) break;
    }
    uint8_t *lab = malloc((size_t)nwords);
    ner_decode_words(p.decode, wl, nwords, lab);
    Predictor *pr = predictor_new(&g_mo, &p, &err);
    PredOut o;
    CU_ASSERT_EQUAL_FATAL(predict_entities(pr, CONTEXT, strlen(CONTEXT), &o, &err), 0);
    int n_ref = 0, match = 0;
    for (int k = 0; k < nwords;) { /* entities of the reference labels, compared in order */
        int type = conll_label_type(lab[k]), j = k + 1;
        if (type < 0) {
            k++;
            continue;
        }
        while (j < nwords && conll_label_is_inside(lab[j]) && conll_label_type(lab[j]) == type) j++;
        int last = first[j - 1];
        while (last + 1 < t.n && t.tok[last + 1].word == j - 1) last++;
        if (n_ref < o.n_ent && o.ent[n_ref].type == type && o.ent[n_ref].bstart == t.tok[first[k]].start &&
            o.ent[n_ref].bend == t.tok[last].end)
            match++;
        n_ref++;
        k = j;
    }
    printf("    %d windows; reference %d entities, predict %d, %d identical\n", o.n_windows, n_ref,
           o.n_ent, match);
    CU_ASSERT(o.n_windows > 2);
    CU_ASSERT_EQUAL(n_ref, o.n_ent);
    CU_ASSERT_EQUAL(match, n_ref);
    pred_out_free(&o);
    predictor_free(pr);
    free(lab);
    free(wl);
    free(best);
    free(first);
    wptokens_free(&t);
}

/* The SQuAD windows of one question about ctx, as predict makes them; ds,
 * ex and cx must outlive fs (they point at the caller's strings). */
static int one_question_features(const PredictParams *p, const char *q, const char *ctx, SquadDataset *ds,
                                 SquadExample *ex, SquadContext *cx, SquadFeatures *fs, Err *err) {
    memset(ds, 0, sizeof *ds);
    *ex = (SquadExample){.id = "q", .question = (char *)q, .context = 0};
    *cx = (SquadContext){.text = (char *)ctx, .nbytes = (int)strlen(ctx), .ncp = utf8_count_cp(ctx, strlen(ctx))};
    ds->n_examples = 1, ds->ex = ex, ds->n_contexts = 1, ds->ctx = cx;
    SquadFeatParams fp;
    squad_feat_defaults(&fp);
    fp.max_seq = p->seq_qa, fp.doc_stride = p->qa_stride, fp.max_query = p->max_query, fp.threads = 1;
    return squad_featurize(ds, g_mo.vocab, &fp, fs, err);
}

/* The single pass: the host NER head on the QA windows' encoder output
 * against the model's own NER head on the same ids/types/mask. */
static void test_single_pass_matches_ner_head(void) {
    NEED_MODEL();
    PredictParams p = small_params();
    Err err;
    SquadDataset ds;
    SquadExample ex;
    SquadContext cx;
    SquadFeatures fs;
    CU_ASSERT_EQUAL_FATAL(
        one_question_features(&p, "Where did Peter Müller move?", CONTEXT, &ds, &ex, &cx, &fs, &err), 0);
    int T = fs.max_seq, B = fs.n < 4 ? fs.n : 4, C = model_config(g_mo.m)->C;
    int *lab = malloc((size_t)B * T * sizeof *lab), pos[4] = {-100, -100, -100, -100};
    for (int i = 0; i < B * T; i++) lab[i] = -100;
    Batch qa = {.task = TASK_QA, .B = B, .T = T, .ids = fs.ids, .types = fs.types, .mask = fs.mask, .labels = lab, .start = pos, .end = pos};
    Batch ner = {.task = TASK_NER, .B = B, .T = T, .ids = fs.ids, .types = fs.types, .mask = fs.mask, .labels = lab, .start = pos, .end = pos};
    float *hidden = malloc((size_t)B * T * C * sizeof *hidden);
    float *want = malloc((size_t)B * T * NER_NUM_LABELS * sizeof *want);
    float *got = malloc((size_t)B * T * NER_NUM_LABELS * sizeof *got);
    CU_ASSERT_EQUAL_FATAL(model_forward(g_mo.m, &qa, 0, 0, 0, 0, NULL, &err), 0);
    model_get_hidden(g_mo.m, hidden);
    CU_ASSERT_EQUAL_FATAL(model_forward(g_mo.m, &ner, 0, 0, 0, 0, NULL, &err), 0);
    model_get_logits(g_mo.m, want);
    float *all = malloc(model_num_params(g_mo.m) * sizeof *all);
    model_params_to_host(g_mo.m, all);
    const ParamInfo *w = model_find_tensor(g_mo.m, "ner.w"), *b = model_find_tensor(g_mo.m, "ner.b");
    for (int r = 0; r < B * T; r++)
        for (int y = 0; y < NER_NUM_LABELS; y++) {
            double s = all[b->offset + y];
            for (int c = 0; c < C; c++) s += (double)hidden[(size_t)r * C + c] * all[w->offset + (size_t)y * C + c];
            got[(size_t)r * NER_NUM_LABELS + y] = (float)s;
        }
    CU_ASSERT(testutil_allclose("NER head on the QA pass vs the model's", got, want,
                                (size_t)B * T * NER_NUM_LABELS, 1e-5, 1e-4));
    /* and predict_answer returns entities for that context */
    Predictor *pr = predictor_new(&g_mo, &p, &err);
    PredOut o;
    CU_ASSERT_EQUAL(predict_answer(pr, ex.question, CONTEXT, 1, &o, &err), 0);
    CU_ASSERT(o.n_ent > 0);
    CU_ASSERT_EQUAL(o.n_windows, fs.n);
    pred_out_free(&o);
    predictor_free(pr);
    free(all);
    free(lab);
    free(hidden);
    free(want);
    free(got);
    squad_features_free(&fs);
}

/* One window: the answer of predict_answer == qa_decode's for the same logits. */
static void test_answer_matches_qa_decode(void) {
    NEED_MODEL();
    const char *qs[] = {"Who founded Acme?", "Where are the offices?", "When did he move?"};
    const char *ctx = "Peter Muller moved to Sao Paulo in 1998 and founded Acme Ltd. there.";
    PredictParams p = small_params();
    p.n_best = 20; /* qa_decode's default: the same candidate pool */
    Err err;
    Predictor *pr = predictor_new(&g_mo, &p, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pr);
    int same = 0;
    for (int i = 0; i < 3; i++) {
        PredOut o;
        CU_ASSERT_EQUAL_FATAL(predict_answer(pr, qs[i], ctx, 0, &o, &err), 0);
        CU_ASSERT_EQUAL(o.n_windows, 1);
        CU_ASSERT(o.n_ans >= 1 && o.n_ans <= p.n_best);
        for (int k = 1; k < o.n_ans; k++) CU_ASSERT(o.ans[k].score <= o.ans[k - 1].score);
        /* the reference: qa_decode on the model's logits of the same window */
        SquadDataset ds;
        SquadExample ex;
        SquadContext cx;
        SquadFeatures fs;
        CU_ASSERT_EQUAL_FATAL(one_question_features(&p, qs[i], ctx, &ds, &ex, &cx, &fs, &err), 0);
        int T = fs.max_seq, lab[64], pos[1] = {-100};
        for (int k = 0; k < T; k++) lab[k] = -100;
        Batch b = {.task = TASK_QA, .B = 1, .T = T, .ids = fs.ids, .types = fs.types, .mask = fs.mask, .labels = lab, .start = pos, .end = pos};
        float lg[128], st[64], en[64];
        CU_ASSERT_EQUAL_FATAL(model_forward(g_mo.m, &b, 0, 0, 0, 0, NULL, &err), 0);
        model_get_logits(g_mo.m, lg);
        for (int k = 0; k < T; k++) st[k] = lg[2 * k], en[k] = lg[2 * k + 1];
        QaDecodeParams qp;
        qa_decode_defaults(&qp);
        qp.n_best = p.n_best;
        SquadPredictions sp;
        squad_predictions_init(&sp);
        qa_decode(&ds, &fs, st, en, &qp, &sp, &err);
        char got[256] = "";
        if (o.n_ans) snprintf(got, sizeof got, "%.*s", o.ans[0].bend - o.ans[0].bstart, ctx + o.ans[0].bstart);
        printf("    %-26s predict '%s'  qa_decode '%s'\n", qs[i], got, sp.text[0]);
        same += !strcmp(got, sp.text[0]);
        squad_predictions_free(&sp);
        squad_features_free(&fs);
        pred_out_free(&o);
    }
    CU_ASSERT_EQUAL(same, 3);
    predictor_free(pr);
}

/* Many at once (windows of different inputs in one forward, padded to the
 * longest) == one at a time, and a bad input in the middle gets its own
 * error while the others are answered. */
static void test_many_equals_one_by_one(void) {
    NEED_MODEL();
    PredictParams p = small_params();
    p.n_best = 3;
    Err err, errs[4];
    Predictor *pr = predictor_new(&g_mo, &p, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pr);
    const PredText tx[4] = {{CONTEXT, strlen(CONTEXT)}, {"Ana went to Rome .", 18}, {"bad \xff byte", 10},
                            {"Acme Ltd. hired Bob", 19}};
    PredOut many[4], one;
    int rc[4], bad = 0;
    predict_entities_many(pr, tx, 4, many, rc, errs);
    CU_ASSERT(rc[0] == 0 && rc[1] == 0 && rc[2] == -1 && rc[3] == 0);
    printf("    text 2: %s\n", errs[2].msg);
    for (int i = 0; i < 4; i++) {
        if (rc[i]) continue;
        CU_ASSERT_EQUAL_FATAL(predict_entities(pr, tx[i].text, tx[i].len, &one, &err), 0);
        bad += one.n_ent != many[i].n_ent || one.n_windows != many[i].n_windows;
        for (int k = 0; k < one.n_ent && k < many[i].n_ent; k++)
            bad += one.ent[k].type != many[i].ent[k].type || one.ent[k].start != many[i].ent[k].start ||
                   one.ent[k].end != many[i].ent[k].end || fabsf(one.ent[k].score - many[i].ent[k].score) > 1e-4f;
        pred_out_free(&one);
    }
    for (int i = 0; i < 4; i++) pred_out_free(&many[i]);
    const PredQuestion qs[4] = {{"Who founded Acme?", CONTEXT}, {"Where?", "Ana went to Rome ."},
                                {"Who?", "bad \xff byte"}, {"Which company?", "Acme Ltd. hired Bob ."}};
    predict_answer_many(pr, qs, 4, 1, many, rc, errs);
    CU_ASSERT(rc[0] == 0 && rc[1] == 0 && rc[2] == -1 && rc[3] == 0);
    printf("    question 2: %s\n", errs[2].msg);
    for (int i = 0; i < 4; i++) {
        if (rc[i]) continue;
        CU_ASSERT_EQUAL_FATAL(predict_answer(pr, qs[i].question, qs[i].context, 1, &one, &err), 0);
        bad += one.n_ans != many[i].n_ans || one.n_ent != many[i].n_ent;
        for (int k = 0; k < one.n_ans && k < many[i].n_ans; k++)
            bad += one.ans[k].start != many[i].ans[k].start || one.ans[k].end != many[i].ans[k].end;
        pred_out_free(&one);
    }
    for (int i = 0; i < 4; i++) pred_out_free(&many[i]);
    printf("    %d differences between many-at-once and one-by-one\n", bad);
    CU_ASSERT_EQUAL(bad, 0);
    predictor_free(pr);
}

/* Entities and answers of 3 texts and 3 questions, many at once, into out[6]. */
static void predict_six(Predictor *pr, PredOut *out) {
    const PredText tx[3] = {{CONTEXT, strlen(CONTEXT)}, {"Ana went to Rome .", 18}, {"Acme Ltd. hired Bob", 19}};
    const PredQuestion qs[3] = {{"Who founded Acme?", CONTEXT}, {"Where?", "Ana went to Rome ."},
                                {"Which company?", "Acme Ltd. hired Bob ."}};
    Err errs[3];
    int rc[3];
    predict_entities_many(pr, tx, 3, out, rc, errs);
    CU_ASSERT(rc[0] == 0 && rc[1] == 0 && rc[2] == 0);
    predict_answer_many(pr, qs, 3, 1, out + 3, rc, errs);
    CU_ASSERT(rc[0] == 0 && rc[1] == 0 && rc[2] == 0);
}

/* Differences between two predictions: entity or answer spans, scores > tol. */
static int pred_differences(const PredOut *a, const PredOut *b, float tol) {
    int bad = a->n_ent != b->n_ent || a->n_ans != b->n_ans;
    for (int k = 0; k < a->n_ent && k < b->n_ent; k++)
        bad += a->ent[k].type != b->ent[k].type || a->ent[k].start != b->ent[k].start ||
               a->ent[k].end != b->ent[k].end || fabsf(a->ent[k].score - b->ent[k].score) > tol;
    for (int k = 0; k < a->n_ans && k < b->n_ans; k++)
        bad += a->ans[k].start != b->ans[k].start || a->ans[k].end != b->ans[k].end ||
               fabsf(a->ans[k].score - b->ans[k].score) > tol;
    return bad;
}

/* --skip-padding on a forward-only model (windows of 9 to 64 tokens in one
 * forward, packed) gives the entities and answers of the padded forward. */
static void test_skip_padding_same_predictions(void) {
    NEED_MODEL();
    Err err;
    ModelOpen im = g_mo;
    im.m = model_create_inference(model_config(g_mo.m), g_be, 4, 128, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(im.m);
    float *all = malloc(model_num_params(g_mo.m) * sizeof *all);
    model_params_to_host(g_mo.m, all);
    model_params_from_host(im.m, all);
    free(all);
    PredOut out[2][6];
    for (int skip = 0; skip <= 1; skip++) {
        PredictParams p = small_params();
        p.skip_padding = skip;
        Predictor *pr = predictor_new(&im, &p, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(pr);
        predict_six(pr, out[skip]);
        predictor_free(pr);
    }
    int bad = 0, n_ent = 0;
    for (int i = 0; i < 6; i++) {
        bad += pred_differences(&out[0][i], &out[1][i], 1e-5f);
        n_ent += out[1][i].n_ent;
        pred_out_free(&out[0][i]);
        pred_out_free(&out[1][i]);
    }
    printf("    %d entities; %d differences between packed and padded forwards\n", n_ent, bad);
    CU_ASSERT(n_ent > 0);
    CU_ASSERT_EQUAL(bad, 0);
    model_free(im.m);
}

static void test_bad_input(void) {
    NEED_MODEL();
    PredictParams p = small_params();
    Err err;
    Predictor *pr = predictor_new(&g_mo, &p, &err);
    PredOut o;
    CU_ASSERT_EQUAL(predict_entities(pr, " \t ", 3, &o, &err), -1);
    printf("    whitespace: %s\n", err.msg);
    const char bad_utf8[] = "Paris \xC3\x28 London";
    CU_ASSERT_EQUAL(predict_entities(pr, bad_utf8, strlen(bad_utf8), &o, &err), -1);
    printf("    invalid UTF-8: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "6"));
    CU_ASSERT_EQUAL(predict_answer(pr, "", "some context", 0, &o, &err), -1);
    CU_ASSERT_EQUAL(predict_answer(pr, "who?", "  ", 0, &o, &err), -1);
    predictor_free(pr);
    p.ner_stride = p.seq_ner - 2;
    CU_ASSERT_PTR_NULL(predictor_new(&g_mo, &p, &err));
    printf("    stride: %s\n", err.msg);
    /* a head the model lacks */
    ModelOpen keep = g_mo;
    g_mo.qa_head_trained = 0;
    p = small_params();
    pr = predictor_new(&g_mo, &p, &err);
    CU_ASSERT_EQUAL(predict_answer(pr, "who?", "Ana went home.", 0, &o, &err), -1);
    printf("    no QA head: %s\n", err.msg);
    predictor_free(pr);
    g_mo = keep;
}

/* Only the window options of the heads used are checked (predict.h): a QA
 * window too short for predict is no error when only NER is used. */
static void test_heads_used(void) {
    PredictParams p = small_params();
    p.seq_qa = SQUAD_MIN_SEQ - 1, p.qa_stride = 2, p.max_query = 4; /* below the QA minimum */
    Err err = {{0}};
    CU_ASSERT_PTR_NULL(predictor_new(&g_mo, &p, &err)); /* both heads: refused */
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "--seq-qa"));
    p.heads = HEAD_NER;
    Predictor *pr = predictor_new(&g_mo, &p, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pr);
    CU_ASSERT(predictor_has_ner(pr) && !predictor_has_qa(pr));
    PredOut o;
    CU_ASSERT_EQUAL(predict_entities(pr, "Ana went to Rome .", 18, &o, &err), 0);
    pred_out_free(&o);
    CU_ASSERT_EQUAL(predict_answer(pr, "who?", "Ana went home.", 0, &o, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no QA head in use"));
    predictor_free(pr);
    /* the NER options of a QA-only predictor are not checked either */
    p = small_params();
    p.heads = HEAD_QA;
    p.ner_stride = p.seq_ner; /* out of range for NER */
    pr = predictor_new(&g_mo, &p, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pr);
    CU_ASSERT(!predictor_has_ner(pr) && predictor_has_qa(pr));
    predictor_free(pr);
}

int main(void) {
    static const TestCase tests[] = {
        {"entity offsets are code points of the original text", test_entity_offsets},
        {"one window vs many", test_one_window_vs_many},
        {"windows: max-context merge == brute force", test_windows_brute_force},
        {"single pass: NER head on the QA windows == the model's NER head", test_single_pass_matches_ner_head},
        {"one-window answer == qa_decode (run_qa.py rule)", test_answer_matches_qa_decode},
        {"many inputs at once == one by one; a bad one fails alone", test_many_equals_one_by_one},
        {"padding skipped on a forward-only model: the same entities and answers", test_skip_padding_same_predictions},
        {"bad input: per-call errors", test_bad_input},
        {"only the heads used are checked", test_heads_used},
        {NULL, NULL},
    };
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("predict", setup, teardown);
    for (int i = 0; tests[i].name; i++) CU_add_test(s, tests[i].name, tests[i].fn);
    return testutil_run_all();
}

/* SQuAD pipeline: loading and its error messages, run_qa windows and labels
 * (borders, Unicode offsets, impossible questions), n-best decoding, and the
 * official metrics against hand-computed values. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonr.h"
#include "jsonw.h"
#include "paths.h"
#include "qa_decode.h"
#include "squad.h"
#include "squad_eval.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------ */

static int load_fixture(const char *name, SquadDataset *ds) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/fixtures/%s", name);
    const char *path = testutil_repo_path(rel);
    Err err = {{0}};
    if (!path || squad_load(path, ds, &err)) {
        printf("cannot load %s: %s\n", rel, err.msg);
        return -1;
    }
    return 0;
}

/* Parse json; expect failure with every needle (NULL-terminated) in the message. */
static void expect_error(const char *json, size_t len, const char *const *needles) {
    SquadDataset ds;
    Err err = {{0}};
    int rc = squad_parse(json, len, "mem.json", &ds, &err);
    CU_ASSERT_EQUAL(rc, -1);
    if (rc == 0) squad_free(&ds);
    for (int i = 0; needles[i]; i++) {
        int found = strstr(err.msg, needles[i]) != NULL;
        if (!found) printf("\n  message '%s' lacks '%s'\n", err.msg, needles[i]);
        CU_ASSERT(found);
    }
}

static Vocab *test_vocab(const char *what) {
    char path[4096];
    Err err;
    if (vocab_path(path, sizeof path, &err)) {
        testutil_skip(what, "bert-base-uncased vocab not found");
        return NULL;
    }
    Vocab *v = vocab_load(path, &err);
    if (!v) testutil_skip(what, err.msg);
    return v;
}

/* Context bytes covered by positions [s, e] of window i. */
static char *span_text(const SquadDataset *ds, const SquadFeatures *fs, int i, int s, int e) {
    SquadSpan a, b;
    if (!squad_feature_offset(fs, i, s, &a) || !squad_feature_offset(fs, i, e, &b)) return NULL;
    const char *ctx = ds->ctx[fs->f[i].context].text;
    char *out = malloc((size_t)(b.bend - a.bstart) + 1);
    memcpy(out, ctx + a.bstart, (size_t)(b.bend - a.bstart));
    out[b.bend - a.bstart] = '\0';
    return out;
}

/* ---- loading ------------------------------------------------------------ */

static void test_load_v1(void) {
    SquadDataset ds;
    if (load_fixture("squad_v1_small.json", &ds)) {
        CU_FAIL("fixture");
        return;
    }
    CU_ASSERT_EQUAL(ds.n_examples, 3);
    CU_ASSERT_EQUAL(ds.n_contexts, 2);
    CU_ASSERT_EQUAL(ds.n_articles, 1);
    CU_ASSERT_FALSE(ds.is_v2);
    CU_ASSERT_STRING_EQUAL(ds.version, "1.1");
    CU_ASSERT_STRING_EQUAL(ds.ex[0].id, "q1");
    CU_ASSERT_EQUAL(ds.ex[0].n_answers, 3); /* duplicates kept */
    CU_ASSERT_EQUAL(ds.ex[2].context, 1);
    /* "Café Zürich serves crème brûlée to 東京 visitors.": 47 code points, 56 bytes;
     * the answer starts at code point 19 (byte 21) */
    CU_ASSERT_EQUAL(ds.ctx[1].ncp, 47);
    CU_ASSERT_EQUAL(ds.ctx[1].nbytes, 56);
    CU_ASSERT_EQUAL(ds.ex[2].answers[0].answer_start, 19);
    CU_ASSERT_EQUAL(ds.ex[2].answers[0].length, 12);
    CU_ASSERT_STRING_EQUAL(ds.ex[2].answers[0].text, "cr\xc3\xa8me br\xc3\xbbl\xc3\xa9" "e");
    squad_free(&ds);
}

static void test_load_v2(void) {
    SquadDataset ds;
    if (load_fixture("squad_v2_small.json", &ds)) {
        CU_FAIL("fixture");
        return;
    }
    CU_ASSERT_TRUE(ds.is_v2);
    CU_ASSERT_EQUAL(ds.n_examples, 2);
    CU_ASSERT_FALSE(ds.ex[0].is_impossible);
    CU_ASSERT_TRUE(ds.ex[1].is_impossible);
    CU_ASSERT_EQUAL(ds.ex[1].n_answers, 0);
    CU_ASSERT_EQUAL(ds.ex[1].n_plausible, 1);
    CU_ASSERT_STRING_EQUAL(ds.ex[1].plausible[0].text, "Marie Curie");
    CU_ASSERT_STRING_EQUAL(ds.titles[0], "T\xc3\xa9" "2"); /* from a \u00e9 escape */
    squad_free(&ds);
}

static void test_truncated_file(void) {
    SquadDataset ds;
    Err err = {{0}};
    const char *path = testutil_repo_path("tests/fixtures/squad_truncated.json");
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    CU_ASSERT_EQUAL(squad_load(path, &ds, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "squad_truncated.json"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "ends at byte 300"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "truncated"));
    CU_ASSERT_EQUAL(squad_load("/nonexistent/squad.json", &ds, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/nonexistent/squad.json"));
}

#define DOC(qas) "{\"data\":[{\"title\":\"t\",\"paragraphs\":[{\"context\":\"abc def\",\"qas\":[" qas "]}]}]}"
#define QA_OK "{\"id\":\"a\",\"question\":\"q?\",\"answers\":[{\"text\":\"def\",\"answer_start\":4}]}"

static void test_bad_documents(void) {
    const char *ok = DOC(QA_OK);
    SquadDataset ds;
    Err err;
    CU_ASSERT_EQUAL_FATAL(squad_parse(ok, strlen(ok), "mem.json", &ds, &err), 0);
    squad_free(&ds);

    const char *missing = DOC(QA_OK ",{\"id\":\"b\",\"question\":\"q\",\"answers\":[{\"text\":\"abc\"}]}");
    expect_error(missing, strlen(missing),
                 (const char *[]){"mem.json", "data[0].paragraphs[0].qas[1].answers[0].answer_start: missing", NULL});
    const char *no_id = DOC("{\"question\":\"q\",\"answers\":[]}");
    expect_error(no_id, strlen(no_id), (const char *[]){"data[0].paragraphs[0].qas[0].id: missing", NULL});
    const char *typed = DOC("{\"id\":\"a\",\"question\":\"q\",\"answers\":[{\"text\":\"abc\",\"answer_start\":\"0\"}]}");
    expect_error(typed, strlen(typed), (const char *[]){"answers[0].answer_start: expected number, got string", NULL});
    const char *frac = DOC("{\"id\":\"a\",\"question\":\"q\",\"answers\":[{\"text\":\"abc\",\"answer_start\":0.5}]}");
    expect_error(frac, strlen(frac), (const char *[]){"non-negative integer", NULL});
    const char *range = DOC("{\"id\":\"a\",\"question\":\"q\",\"answers\":[{\"text\":\"def\",\"answer_start\":5}]}");
    expect_error(range, strlen(range), (const char *[]){"answers[0].answer_start", "past the end", NULL});
    const char *imp = DOC("{\"id\":\"a\",\"question\":\"q\",\"answers\":[],\"is_impossible\":1}");
    expect_error(imp, strlen(imp), (const char *[]){"qas[0].is_impossible: expected boolean, got number", NULL});
    const char *nodata = "{\"version\":\"1.1\"}";
    expect_error(nodata, strlen(nodata), (const char *[]){"mem.json: data: missing", NULL});
    const char *notobj = "[1,2]";
    expect_error(notobj, strlen(notobj), (const char *[]){"top level: expected object, got array", NULL});
    const char *para = "{\"data\":[{\"paragraphs\":[7]}]}";
    expect_error(para, strlen(para), (const char *[]){"data[0].paragraphs[0]: expected object, got number", NULL});
    /* broken JSON: the byte offset and line of the error */
    const char *broken = "{\"data\":\n[{\"paragraphs\": [}]}";
    expect_error(broken, strlen(broken), (const char *[]){"invalid JSON at byte 26 (line 2)", NULL});
    const char *trail = "{\"data\":[]} x";
    expect_error(trail, strlen(trail), (const char *[]){"byte 12", "after the top-level value", NULL});
    expect_error("", 0, (const char *[]){"truncated", NULL});
    /* invalid UTF-8 inside a string: 0xC3 followed by '"' at byte 49 */
    char bad[256];
    snprintf(bad, sizeof bad, "%s", DOC(QA_OK));
    char *ctx = strstr(bad, "abc def");
    ctx[1] = (char)0xC3;
    expect_error(bad, strlen(bad), (const char *[]){"invalid UTF-8 at byte 49", NULL});
    ctx[1] = (char)0xED, ctx[2] = (char)0xA0; /* a UTF-16 surrogate encoded in UTF-8 */
    expect_error(bad, strlen(bad), (const char *[]){"invalid UTF-8 at byte 49", NULL});
    /* escapes a C string cannot hold are refused with their offset (Python
     * reads them; cJSON would cut "a\u0000b" to "a" and score it as "a") */
    const char *sur = "{\"data\":[{\"title\":\"\\ud800abc\",\"paragraphs\":[]}]}";
    expect_error(sur, strlen(sur), (const char *[]){"lone surrogate escape", "high surrogate", "byte 19 (line 1)", NULL});
    const char *low = "{\"data\":[{\"title\":\"x\\udc00\",\"paragraphs\":[]}]}";
    expect_error(low, strlen(low), (const char *[]){"lone surrogate escape", "low surrogate", "byte 20", NULL});
    const char *nul = DOC("{\"id\":\"a\",\"question\":\"q\",\"answers\":[{\"text\":\"a\\u0000b\",\"answer_start\":0}]}");
    expect_error(nul, strlen(nul), (const char *[]){"\\u0000 escape", NULL});
    /* a surrogate pair is one code point: accepted (U+1F600 as a title) */
    const char *pair = "{\"data\":[{\"title\":\"\\ud83d\\ude00\",\"paragraphs\":[]}]}";
    Err perr = {{0}};
    SquadDataset pds;
    int prc = squad_parse(pair, strlen(pair), "mem.json", &pds, &perr);
    CU_ASSERT_EQUAL(prc, 0);
    if (prc == 0) {
        CU_ASSERT_STRING_EQUAL(pds.titles[0], "\xf0\x9f\x98\x80");
        squad_free(&pds);
    }
    /* ids must be unique; gold answers non-empty; contexts non-empty */
    const char *dup = DOC(QA_OK "," QA_OK);
    expect_error(dup, strlen(dup), (const char *[]){"question id 'a' appears more than once", "#0 and #1", NULL});
    const char *empty = DOC("{\"id\":\"a\",\"question\":\"q\",\"answers\":[{\"text\":\"\",\"answer_start\":0}]}");
    expect_error(empty, strlen(empty), (const char *[]){"qas[0].answers[0].text: empty answer", NULL});
    const char *noctx = "{\"data\":[{\"paragraphs\":[{\"context\":\"\",\"qas\":[]}]}]}";
    expect_error(noctx, strlen(noctx), (const char *[]){"paragraphs[0].context: empty", NULL});
    /* text not at answer_start ("abc" at 4 is "def"): kept, counted */
    const char *off = DOC("{\"id\":\"a\",\"question\":\"q\",\"answers\":[{\"text\":\"abc\",\"answer_start\":4}]},"
                          "{\"id\":\"b\",\"question\":\"q\",\"answers\":[{\"text\":\"def\",\"answer_start\":4}]}");
    CU_ASSERT_EQUAL_FATAL(squad_parse(off, strlen(off), "mem.json", &ds, &err), 0);
    CU_ASSERT_EQUAL(ds.n_misaligned, 1);
    squad_free(&ds);
    CU_ASSERT_EQUAL_FATAL(squad_parse(ok, strlen(ok), "mem.json", &ds, &err), 0);
    CU_ASSERT_EQUAL(ds.n_misaligned, 0);
    squad_free(&ds);
    /* a buffer without a terminating NUL is fine: parse only the first len bytes */
    CU_ASSERT_EQUAL(squad_parse(ok, strlen(ok) - 1, "mem.json", &ds, &err), -1);
}

/* ---- featurisation ------------------------------------------------------ */

/* Context "0 1 2 ... 59": 60 single-token numbers. Question "q ?" (2 tokens),
 * max_seq 32: w = 32 - 2 - 3 = 27 context tokens per window, stride 8 ->
 * step 19: windows [0,27) [19,46) [38,60). */
static char *numbers_doc(const char *answer, int answer_start) {
    char ctx[512] = "";
    for (int i = 0; i < 60; i++) snprintf(ctx + strlen(ctx), sizeof ctx - strlen(ctx), i ? " %d" : "%d", i);
    char *doc = malloc(2048);
    snprintf(doc, 2048,
             "{\"data\":[{\"paragraphs\":[{\"context\":\"%s\",\"qas\":[{\"id\":\"n\",\"question\":\"q ?\","
             "\"answers\":[{\"text\":\"%s\",\"answer_start\":%d}]}]}]}]}",
             ctx, answer, answer_start);
    return doc;
}

/* Character offset of number k in "0 1 2 ... 59". */
static int number_offset(int k) { return k <= 10 ? 2 * k : 20 + 3 * (k - 10); }

static int featurize_numbers(const Vocab *v, const char *answer, int first, SquadDataset *ds,
                             SquadFeatures *fs) {
    char *doc = numbers_doc(answer, number_offset(first));
    Err err;
    int rc = squad_parse(doc, strlen(doc), "numbers.json", ds, &err);
    free(doc);
    if (rc) return printf("%s\n", err.msg), -1;
    SquadFeatParams p;
    squad_feat_defaults(&p);
    p.max_seq = 32;
    p.doc_stride = 8;
    if (squad_featurize(ds, v, &p, fs, &err)) return printf("%s\n", err.msg), squad_free(ds), -1;
    return 0;
}

static void test_window_layout(void) {
    Vocab *v = test_vocab("squad window layout");
    if (!v) return;
    SquadDataset ds;
    SquadFeatures fs;
    if (featurize_numbers(v, "25 26", 25, &ds, &fs)) {
        CU_FAIL("featurize");
        vocab_free(v);
        return;
    }
    CU_ASSERT_EQUAL(fs.n, 3);
    int lo[3] = {0, 19, 38}, len[3] = {27, 27, 22};
    for (int i = 0; i < fs.n && i < 3; i++) {
        const SquadFeature *f = &fs.f[i];
        const int32_t *ids = squad_feature_ids(&fs, i), *tt = fs.types + i * 32, *mask = fs.mask + i * 32;
        CU_ASSERT_EQUAL(f->window, i);
        CU_ASSERT_EQUAL(f->ctx_tok0, lo[i]);
        CU_ASSERT_EQUAL(f->ctx_len, len[i]);
        CU_ASSERT_EQUAL(f->ctx_first, 4);
        CU_ASSERT_EQUAL(f->n_tokens, 4 + len[i] + 1);
        CU_ASSERT_EQUAL(ids[0], vocab_cls_id(v));
        CU_ASSERT_EQUAL(ids[3], vocab_sep_id(v));
        CU_ASSERT_EQUAL(ids[4 + len[i]], vocab_sep_id(v));
        CU_ASSERT_EQUAL(ids[4], vocab_id(v, i == 0 ? "0" : i == 1 ? "19" : "38"));
        CU_ASSERT_EQUAL(tt[3], 0);
        CU_ASSERT_EQUAL(tt[4], 1);
        CU_ASSERT_EQUAL(tt[4 + len[i]], 1);
        CU_ASSERT_EQUAL(mask[4 + len[i]], 1);
        if (4 + len[i] + 1 < 32) {
            CU_ASSERT_EQUAL(mask[4 + len[i] + 1], 0);
            CU_ASSERT_EQUAL(ids[31], vocab_pad_id(v));
            CU_ASSERT_EQUAL(tt[31], 0);
        }
        SquadSpan sp;
        CU_ASSERT_FALSE(squad_feature_offset(&fs, i, 0, &sp)); /* [CLS] */
        CU_ASSERT_FALSE(squad_feature_offset(&fs, i, 1, &sp)); /* question */
        CU_ASSERT_FALSE(squad_feature_offset(&fs, i, 3, &sp)); /* [SEP] */
        CU_ASSERT_FALSE(squad_feature_offset(&fs, i, 4 + len[i], &sp));
        CU_ASSERT_TRUE(squad_feature_offset(&fs, i, 4, &sp));
        CU_ASSERT_EQUAL(sp.cstart, number_offset(lo[i]));
    }
    /* "25 26" lies in windows 0 and 1, not 2 */
    CU_ASSERT_EQUAL(fs.f[0].start, 4 + 25);
    CU_ASSERT_EQUAL(fs.f[0].end, 4 + 26);
    CU_ASSERT_EQUAL(fs.f[1].start, 4 + 25 - 19);
    CU_ASSERT_EQUAL(fs.f[1].end, 4 + 26 - 19);
    CU_ASSERT_EQUAL(fs.f[2].start, 0);
    CU_ASSERT_EQUAL(fs.f[2].end, 0);
    char *t = span_text(&ds, &fs, 1, fs.f[1].start, fs.f[1].end);
    CU_ASSERT_STRING_EQUAL(t, "25 26");
    free(t);
    squad_features_free(&fs);
    squad_free(&ds);

    /* "26 27" crosses the end of window 0: labelled only in window 1 */
    if (featurize_numbers(v, "26 27", 26, &ds, &fs) == 0) {
        CU_ASSERT_EQUAL(fs.f[0].start, 0);
        CU_ASSERT_EQUAL(fs.f[0].end, 0);
        CU_ASSERT_EQUAL(fs.f[1].start, 4 + 26 - 19);
        CU_ASSERT_EQUAL(fs.f[1].end, 4 + 27 - 19);
        squad_features_free(&fs);
        squad_free(&ds);
    }
    /* the last token of a window ("26" alone): start = end = that token
     * (HF's loop would label the padding position max_seq-1 here) */
    if (featurize_numbers(v, "26", 26, &ds, &fs) == 0) {
        CU_ASSERT_EQUAL(fs.f[0].start, 4 + 26);
        CU_ASSERT_EQUAL(fs.f[0].end, 4 + 26);
        squad_features_free(&fs);
        squad_free(&ds);
    }
    vocab_free(v);
}

static void test_unicode_and_impossible_labels(void) {
    Vocab *v = test_vocab("squad unicode labels");
    if (!v) return;
    SquadDataset ds, ds2;
    SquadFeatures fs, fs2;
    SquadFeatParams p;
    squad_feat_defaults(&p);
    Err err;
    if (load_fixture("squad_v1_small.json", &ds) || load_fixture("squad_v2_small.json", &ds2)) {
        CU_FAIL("fixtures");
        vocab_free(v);
        return;
    }
    CU_ASSERT_EQUAL_FATAL(squad_featurize(&ds, v, &p, &fs, &err), 0);
    CU_ASSERT_EQUAL(fs.n, 3);
    CU_ASSERT_EQUAL(fs.n_examples, 3);
    /* the answer maps back to the exact original bytes, accents included */
    char *t = span_text(&ds, &fs, 2, fs.f[2].start, fs.f[2].end);
    CU_ASSERT_STRING_EQUAL(t, "cr\xc3\xa8me br\xc3\xbbl\xc3\xa9" "e");
    free(t);
    SquadSpan sp;
    CU_ASSERT_TRUE(squad_feature_offset(&fs, 2, fs.f[2].start, &sp));
    CU_ASSERT_EQUAL(sp.cstart, 19);
    CU_ASSERT_EQUAL(sp.bstart, 21);
    t = span_text(&ds, &fs, 0, fs.f[0].start, fs.f[0].end);
    CU_ASSERT_STRING_EQUAL(t, "Paris");
    free(t);
    /* first N examples only */
    SquadFeatures sub;
    p.max_examples = 2;
    CU_ASSERT_EQUAL_FATAL(squad_featurize(&ds, v, &p, &sub, &err), 0);
    CU_ASSERT_EQUAL(sub.n_examples, 2);
    CU_ASSERT_EQUAL(sub.n, 2);
    squad_features_free(&sub);
    p.max_examples = 0;
    /* v2.0: the impossible question is labelled [CLS] */
    CU_ASSERT_EQUAL_FATAL(squad_featurize(&ds2, v, &p, &fs2, &err), 0);
    CU_ASSERT_EQUAL(fs2.n, 2);
    CU_ASSERT(fs2.f[0].start > 0);
    CU_ASSERT_EQUAL(fs2.f[1].start, 0);
    CU_ASSERT_EQUAL(fs2.f[1].end, 0);
    /* a stride that cannot advance is an error, not a hang */
    p.max_seq = 12;
    p.doc_stride = 6;
    CU_ASSERT_EQUAL(squad_featurize(&ds, v, &p, &sub, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "doc_stride"));
    squad_features_free(&fs);
    squad_features_free(&fs2);
    squad_free(&ds);
    squad_free(&ds2);
    vocab_free(v);
}

/* ---- decoding ----------------------------------------------------------- */

static void test_top_k(void) {
    float x[6] = {1, 5, 3, 5, NAN, -2};
    int idx[6];
    CU_ASSERT_EQUAL(qa_top_k(x, 6, 3, idx), 3);
    CU_ASSERT_EQUAL(idx[0], 1); /* tie 5/5: lower index first */
    CU_ASSERT_EQUAL(idx[1], 3);
    CU_ASSERT_EQUAL(idx[2], 2);
    CU_ASSERT_EQUAL(qa_top_k(x, 6, 10, idx), 6);
    CU_ASSERT_EQUAL(idx[4], 5);
    CU_ASSERT_EQUAL(idx[5], 4); /* NaN last */
}

static void test_decode(void) {
    Vocab *v = test_vocab("squad decode");
    if (!v) return;
    SquadDataset ds;
    SquadFeatures fs;
    SquadFeatParams p;
    squad_feat_defaults(&p);
    Err err;
    if (load_fixture("squad_v1_small.json", &ds) || squad_featurize(&ds, v, &p, &fs, &err)) {
        CU_FAIL("setup");
        vocab_free(v);
        return;
    }
    size_t T = (size_t)fs.max_seq;
    float *st = calloc(fs.n * T, sizeof *st), *en = calloc(fs.n * T, sizeof *en);
    /* example 0: best pair = gold span; a higher start on a question token and
     * an end before the start must be ignored */
    st[0 * T + fs.f[0].start] = 5, en[0 * T + fs.f[0].end] = 5;
    st[0 * T + 2] = 9;                           /* question token */
    en[0 * T + fs.f[0].start - 1] = 8;           /* end < start */
    /* example 1: a span longer than max_answer_len loses to a shorter one */
    const SquadFeature *f1 = &fs.f[1];
    st[1 * T + f1->ctx_first] = 6, en[1 * T + f1->start - 1] = 6; /* "The ... built in" */
    st[1 * T + f1->start] = 4, en[1 * T + f1->end] = 4;
    /* example 2: unicode span */
    st[2 * T + fs.f[2].start] = 3, en[2 * T + fs.f[2].end] = 3;
    QaDecodeParams dp;
    qa_decode_defaults(&dp);
    dp.max_answer_len = 5;
    SquadPredictions pr;
    squad_predictions_init(&pr);
    CU_ASSERT_EQUAL_FATAL(qa_decode(&ds, &fs, st, en, &dp, &pr, &err), 0);
    CU_ASSERT_EQUAL_FATAL(pr.n, 3);
    CU_ASSERT_STRING_EQUAL(pr.id[0], "q1");
    CU_ASSERT_STRING_EQUAL(pr.text[0], "Paris");
    CU_ASSERT_STRING_EQUAL(pr.text[1], "1889");
    CU_ASSERT_STRING_EQUAL(pr.text[2], "cr\xc3\xa8me br\xc3\xbbl\xc3\xa9" "e");
    squad_predictions_free(&pr);
    /* with a long enough limit the full-context span wins for example 1 */
    dp.max_answer_len = 30;
    squad_predictions_init(&pr);
    qa_decode(&ds, &fs, st, en, &dp, &pr, &err);
    CU_ASSERT_STRING_EQUAL(pr.text[1], "The Eiffel Tower is in Paris. It was built in");
    squad_predictions_free(&pr);
    /* v2.0 rule: null = st[0]+en[0] = 20 beats 6 (the best non-null) by 14 */
    dp.version2 = 1;
    dp.null_threshold = 13.0f;
    st[2 * T] = 10, en[2 * T] = 10;
    squad_predictions_init(&pr);
    qa_decode(&ds, &fs, st, en, &dp, &pr, &err);
    CU_ASSERT_STRING_EQUAL(pr.text[2], "");
    CU_ASSERT_STRING_EQUAL(pr.text[0], "Paris"); /* null 0 - 10 < 13 */
    squad_predictions_free(&pr);
    dp.null_threshold = 15.0f;
    squad_predictions_init(&pr);
    qa_decode(&ds, &fs, st, en, &dp, &pr, &err);
    CU_ASSERT_STRING_EQUAL(pr.text[2], "cr\xc3\xa8me br\xc3\xbbl\xc3\xa9" "e");
    squad_predictions_free(&pr);
    dp.n_best = 0;
    CU_ASSERT_EQUAL(qa_decode(&ds, &fs, st, en, &dp, &pr, &err), -1);
    free(st);
    free(en);
    squad_features_free(&fs);
    squad_free(&ds);
    vocab_free(v);
}

/* ---- metrics ------------------------------------------------------------ */

static void test_normalize_and_pairs(void) {
    char *n = squad_normalize_answer("  The Quick,  brown-fox!  an  apple\ta ");
    CU_ASSERT_STRING_EQUAL(n, "quick brownfox apple");
    free(n);
    n = squad_normalize_answer("theatre another the\xc3\xa9 \xc3\x80 la");
    CU_ASSERT_STRING_EQUAL(n, "theatre another the\xc3\xa9 \xc3\xa0 la"); /* no \b inside words */
    free(n);
    n = squad_normalize_answer("\xc4\xb0stanbul \xce\x9f\xce\xa3."); /* İstanbul ΟΣ. */
    CU_ASSERT_STRING_EQUAL(n, "i\xcc\x87stanbul \xce\xbf\xcf\x82"); /* i + U+0307, final sigma */
    free(n);
    n = squad_normalize_answer("x\xc2\xa0y\xe2\x80\x83z\xe2\x80\x8bw"); /* NBSP, EM SPACE split; ZWSP not */
    CU_ASSERT_STRING_EQUAL(n, "x y z\xe2\x80\x8bw");
    free(n);
    CU_ASSERT_TRUE(squad_exact_match("The Paris.", "paris"));
    CU_ASSERT_FALSE(squad_exact_match("in Paris", "Paris"));
    /* pred [cat, sat], gold [cat, sat, down]: P = 1, R = 2/3, F1 = 0.8 */
    CU_ASSERT_DOUBLE_EQUAL(squad_f1_score("the cat sat", "a cat sat down"), 0.8, 1e-15);
    /* Counter overlap: pred [a1 a1 b] (articles aside), gold [a1 b b]: overlap 2, P = R = 2/3 */
    CU_ASSERT_DOUBLE_EQUAL(squad_f1_score("x x y", "x y y"), 2.0 / 3.0, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(squad_f1_score("", "cat"), 0.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(squad_f1_score("the", "a"), 0.0, 0); /* v1.1: both empty -> 0 */
    CU_ASSERT_DOUBLE_EQUAL(squad_f1_score_v2("the", "a"), 1.0, 0); /* v2.0: both empty -> 1 */
    CU_ASSERT_DOUBLE_EQUAL(squad_f1_score_v2("", "cat"), 0.0, 0);
    /* ROUGE-L: LCS 2, P = 1, R = 2/3: F = 2.44 * 2/3 / (2/3 + 1.44) */
    CU_ASSERT_DOUBLE_EQUAL(squad_rouge_l("cat sat", "cat sat down"), 2.44 * (2.0 / 3) / (2.0 / 3 + 1.44), 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(squad_rouge_l("sat cat", "cat sat"), 0.5, 1e-12); /* LCS 1 */
    char buf[64];
    squad_format_double(buf, sizeof buf, 100.0);
    CU_ASSERT_STRING_EQUAL(buf, "100.0");
    squad_format_double(buf, sizeof buf, 0.1);
    CU_ASSERT_STRING_EQUAL(buf, "0.1");
    squad_format_double(buf, sizeof buf, 2.0 / 3.0);
    CU_ASSERT_STRING_EQUAL(buf, "0.6666666666666666");
    squad_format_double(buf, sizeof buf, 81.20151371807);
    CU_ASSERT_STRING_EQUAL(buf, "81.20151371807");
    squad_format_double(buf, sizeof buf, 0.0);
    CU_ASSERT_STRING_EQUAL(buf, "0.0");
    squad_format_double(buf, sizeof buf, 1e-5);
    CU_ASSERT_STRING_EQUAL(buf, "1e-05");
}

static void test_evaluate_v1(void) {
    SquadDataset ds;
    if (load_fixture("squad_v1_small.json", &ds)) {
        CU_FAIL("fixture");
        return;
    }
    SquadPredictions p;
    squad_predictions_init(&p);
    squad_predictions_add(&p, "q2", "in 1889.");
    squad_predictions_add(&p, "q1", "the Paris");
    squad_predictions_add(&p, "zz", "not in the dataset");
    FILE *warn = tmpfile();
    SquadMetrics m;
    Err err;
    squad_evaluate(&ds, 0, &p, warn, &m, &err);
    /* q1 EM 1 F1 1; q2 [in 1889] vs [1889]: EM 0, P 1/2 R 1 F1 2/3; q3 missing: 0 */
    CU_ASSERT_EQUAL(m.total, 3);
    CU_ASSERT_EQUAL(m.missing, 1);
    CU_ASSERT_DOUBLE_EQUAL(m.exact_match, 100.0 / 3, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(m.f1, 100.0 * (1 + 2.0 / 3) / 3, 1e-12);
    /* BLEU: c = 1 + 2 + 0, r = 1 + 1 + 2 (q3's gold "crème brûlée"),
     * m = [2,0,0,0], t = [3,1,0,0]: p = 2/3, 1/2, 1, 1; BP = exp(1 - 4/3) */
    double bleu = 100 * exp(1 - 4.0 / 3) * pow((2.0 / 3) * 0.5, 0.25);
    CU_ASSERT_DOUBLE_EQUAL(m.bleu4, bleu, 1e-9);
    /* ROUGE-L: 1, (2.44 * 0.5 * 1) / (1 + 1.44 * 0.5), 0 */
    CU_ASSERT_DOUBLE_EQUAL(m.rouge_l, 100 * (1 + 1.22 / 1.72) / 3, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(m.coverage, 200.0 / 3, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(m.mean_pred_len, 1.5, 1e-12);
    rewind(warn);
    char line[256] = "";
    CU_ASSERT_PTR_NOT_NULL(fgets(line, sizeof line, warn));
    CU_ASSERT_STRING_EQUAL(line, "Unanswered question q3 will receive score 0.\n");
    fclose(warn);
    /* only the first 2 questions */
    squad_evaluate(&ds, 2, &p, NULL, &m, &err);
    CU_ASSERT_EQUAL(m.total, 2);
    CU_ASSERT_DOUBLE_EQUAL(m.exact_match, 50.0, 1e-12);
    /* empty predictions score 0 */
    squad_predictions_free(&p);
    squad_predictions_init(&p);
    for (int i = 0; i < 3; i++) squad_predictions_add(&p, ds.ex[i].id, "");
    squad_evaluate(&ds, 0, &p, NULL, &m, &err);
    CU_ASSERT_EQUAL(m.missing, 0);
    CU_ASSERT_DOUBLE_EQUAL(m.exact_match, 0, 0);
    CU_ASSERT_DOUBLE_EQUAL(m.f1, 0, 0);
    CU_ASSERT_DOUBLE_EQUAL(m.coverage, 0, 0);
    CU_ASSERT_DOUBLE_EQUAL(m.bleu4, 0, 0);
    squad_predictions_free(&p);
    squad_free(&ds);
}

static void test_evaluate_v2(void) {
    SquadDataset ds;
    if (load_fixture("squad_v2_small.json", &ds)) {
        CU_FAIL("fixture");
        return;
    }
    SquadPredictions p;
    squad_predictions_init(&p);
    squad_predictions_add(&p, "h1", "Curie");  /* F1 2*1*0.5/1.5 = 2/3, EM 0 */
    squad_predictions_add(&p, "n1", "");       /* impossible, empty: EM 1, F1 1 */
    SquadMetrics m;
    Err err;
    squad_evaluate(&ds, 0, &p, NULL, &m, &err);
    CU_ASSERT_TRUE(m.is_v2);
    CU_ASSERT_EQUAL(m.has_ans_total, 1);
    CU_ASSERT_EQUAL(m.no_ans_total, 1);
    CU_ASSERT_DOUBLE_EQUAL(m.exact_match, 50.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(m.f1, 100.0 * (2.0 / 3 + 1) / 2, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(m.has_ans_exact, 0.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(m.has_ans_f1, 200.0 / 3, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(m.no_ans_exact, 100.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(m.no_ans_f1, 100.0, 0);
    squad_predictions_free(&p);
    squad_free(&ds);
}

static void test_predictions_file(void) {
    /* a repeated id is refused (jsonr: duplicate key), not read as its last value */
    const char *dup = "{\"a\": \"x\", \"b\": \"y\", \"a\": \"z\"}";
    SquadPredictions p;
    Err err;
    CU_ASSERT_EQUAL(squad_predictions_parse(dup, strlen(dup), "p.json", &p, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "p.json: duplicate key \"a\""));
    const char *js = "{\"a\": \"z\", \"b\": \"y\"}";
    CU_ASSERT_EQUAL_FATAL(squad_predictions_parse(js, strlen(js), "p.json", &p, &err), 0);
    CU_ASSERT_EQUAL(p.n, 2);
    CU_ASSERT_STRING_EQUAL(p.id[0], "a");
    CU_ASSERT_STRING_EQUAL(p.text[0], "z");
    CU_ASSERT_STRING_EQUAL(p.id[1], "b");
    char path[] = "/tmp/test_squad_predXXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    close(fd);
    CU_ASSERT_EQUAL(squad_predictions_write(path, &p, &err), 0);
    SquadPredictions q;
    CU_ASSERT_EQUAL_FATAL(squad_predictions_load(path, &q, &err), 0);
    CU_ASSERT_EQUAL(q.n, 2);
    CU_ASSERT_STRING_EQUAL(q.text[0], "z");
    squad_predictions_free(&q);
    squad_predictions_free(&p);
    remove(path);
    const char *bad = "{\"a\": 3}";
    CU_ASSERT_EQUAL(squad_predictions_parse(bad, strlen(bad), "p.json", &p, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "p.json: \"a\": expected string, got number"));
    const char *arr = "[\"a\"]";
    CU_ASSERT_EQUAL(squad_predictions_parse(arr, strlen(arr), "p.json", &p, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "expected an object"));
    const char *cut = "{\"a\": \"x";
    CU_ASSERT_EQUAL(squad_predictions_parse(cut, strlen(cut), "p.json", &p, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "truncated"));
}

/* jsonr_parse refuses a key twice in one object, at any depth, naming the
 * key and the object's JSON path (small objects pairwise, large ones sorted). */
static void test_duplicate_keys(void) {
    const char *dup = DOC("{\"id\":\"a\",\"question\":\"q\",\"id\":\"b\",\"answers\":[]}");
    expect_error(dup, strlen(dup), (const char *[]){"mem.json: duplicate key \"id\"",
                                                    "$.data[0].paragraphs[0].qas[0]", NULL});
    Err err = {{0}};
    const char *top = "{\"a\": 1, \"b\": {\"a\": 1}, \"a\": 2}";
    CU_ASSERT_PTR_NULL(jsonr_parse(top, strlen(top), "c.json", 0, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "c.json: duplicate key \"a\" in the object at $ "));
    const char *odd = "[{\"x y\": {\"k\": 1, \"k\": 1}}]";
    CU_ASSERT_PTR_NULL(jsonr_parse(odd, strlen(odd), NULL, 0, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "duplicate key \"k\" in the object at $[0][\"x y\"]"));
    /* the same keys in different objects, and "a" vs "A": fine */
    const char *ok = "{\"a\": {\"a\": 1, \"A\": 2}, \"b\": [{\"a\": 1}, {\"a\": 2}]}";
    cJSON *j = jsonr_parse(ok, strlen(ok), "ok.json", 0, &err);
    CU_ASSERT_PTR_NOT_NULL(j);
    cJSON_Delete(j);
    /* a large object: 200 distinct keys, then one repeated */
    StrBuf b = {0};
    sb_printf(&b, "{");
    for (int i = 0; i < 200; i++) sb_printf(&b, "%s\"k%d\": %d", i ? "," : "", i, i);
    sb_printf(&b, "}");
    j = jsonr_parse(b.buf, b.len, "big.json", 0, &err);
    CU_ASSERT_PTR_NOT_NULL(j);
    cJSON_Delete(j);
    b.len--;
    sb_printf(&b, ", \"k117\": 0}");
    CU_ASSERT_PTR_NULL(jsonr_parse(b.buf, b.len, "big.json", 0, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "big.json: duplicate key \"k117\""));
    sb_free(&b);
}

int main(void) {
    static const TestCase tests[] = {
        {"load v1.1 (code-point offsets, duplicate answers)", test_load_v1},
        {"load v2.0 (impossible, plausible answers)", test_load_v2},
        {"truncated file: name, byte offset", test_truncated_file},
        {"bad documents: JSON paths, byte offsets, UTF-8", test_bad_documents},
        {"windows: HF stride layout, labels at borders", test_window_layout},
        {"labels: unicode offsets, impossible, subsets", test_unicode_and_impossible_labels},
        {"top-k ranking", test_top_k},
        {"decode: n-best, length, null threshold", test_decode},
        {"normalize_answer, EM, F1, ROUGE-L pairs", test_normalize_and_pairs},
        {"evaluate v1.1 vs hand-computed", test_evaluate_v1},
        {"evaluate v2.0 HasAns/NoAns", test_evaluate_v2},
        {"predictions file", test_predictions_file},
        {"duplicate keys: refused with a JSON path", test_duplicate_keys},
        {NULL, NULL}};
    testutil_add_suite("squad", tests);
    return testutil_run_all();
}

/* conlleval.pl-equal scoring: crafted files with hand-computed counts
 * (IOB1 and IOB2, type changes, B- after I- of the same type, stray I-, E-
 * and bracket chunk tags, boundaries, the Perl quirks), the exact report
 * text, the JSON, errors, and — when python3 is present — byte-identical
 * reports against the independent reference/conlleval_check.py on random
 * files. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conlleval.h"
#include "rng.h"
#include "testutil.h"

typedef struct {
    long tokens, correct_tags, found_correct, found_guessed, correct;
} Counts;

static int score_str(Conlleval *ce, const char *s, Err *err) {
    conlleval_init(ce);
    return conlleval_parse(ce, s, strlen(s), "crafted.txt", err);
}

static void expect_counts(const char *input, Counts want) {
    Conlleval ce;
    Err err;
    int rc = score_str(&ce, input, &err);
    if (rc) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(ce.tokens, want.tokens);
    CU_ASSERT_EQUAL(ce.correct_tags, want.correct_tags);
    CU_ASSERT_EQUAL(ce.found_correct, want.found_correct);
    CU_ASSERT_EQUAL(ce.found_guessed, want.found_guessed);
    CU_ASSERT_EQUAL(ce.correct_chunks, want.correct);
    conlleval_free(&ce);
}

static char *report_of(const char *input) {
    Conlleval ce;
    Err err;
    if (score_str(&ce, input, &err) != 0) return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    conlleval_print_report(&ce, f);
    fclose(f);
    conlleval_free(&ce);
    return buf;
}

/* Gold IOB1, prediction IOB2 with the same chunks: every chunk correct, but
 * the tags differ wherever IOB2 writes B- for IOB1's I-. */
static const char *CASE_IOB1_IOB2 =
    "EU x I-ORG B-ORG\n"
    "rejects x O O\n"
    "German x I-MISC B-MISC\n"
    "call x O O\n"
    "Peter x I-PER B-PER\n"
    "Blackburn x I-PER I-PER\n"
    "Paris x I-LOC B-LOC\n"
    "London x B-LOC B-LOC\n"
    "\n";

static void test_iob1_vs_iob2(void) {
    /* chunks ORG, MISC, PER(2), LOC, LOC: 5; tags equal on 4 of 8 tokens */
    expect_counts(CASE_IOB1_IOB2, (Counts){8, 4, 5, 5, 5});
}

/* Type change inside a chunk, stray I- after O, B- after I- of the same
 * type, a chunk that runs on in the prediction, a missed chunk. */
static const char *CASE_ERRORS =
    "a B-PER B-PER\n"
    "b I-PER I-LOC\n"
    "c O O\n"
    "d B-ORG I-ORG\n"
    "e I-ORG I-ORG\n"
    "f B-ORG B-ORG\n"
    "g O I-ORG\n"
    "\n"
    "h I-MISC O\n";

static void test_errors_and_type_changes(void) {
    /* gold PER(ab) ORG(de) ORG(f) MISC(h); guess PER(a) LOC(b) ORG(de) ORG(fg);
     * only ORG(de) is correct; tags equal on a c e f */
    expect_counts(CASE_ERRORS, (Counts){8, 4, 4, 4, 1});
    char *r = report_of(CASE_ERRORS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    const char *want =
        "processed 8 tokens with 4 phrases; found: 4 phrases; correct: 1.\n"
        "accuracy:  50.00%; precision:  25.00%; recall:  25.00%; FB1:  25.00\n"
        "              LOC: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n"
        "             MISC: precision:   0.00%; recall:   0.00%; FB1:   0.00  0\n"
        "              ORG: precision:  50.00%; recall:  50.00%; FB1:  50.00  2\n"
        "              PER: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n";
    CU_ASSERT_STRING_EQUAL(r, want);
    if (strcmp(r, want) != 0) printf("\n%s", r);
    free(r);
    Conlleval ce;
    Err err;
    CU_ASSERT_EQUAL_FATAL(score_str(&ce, CASE_ERRORS, &err), 0);
    CU_ASSERT_DOUBLE_EQUAL(conlleval_macro_f1(&ce), 12.5, 1e-12); /* (0+0+50+0)/4 */
    conlleval_free(&ce);
}

static void test_iob1_quirk_stray_b(void) {
    /* IOB1 with a B-MISC right after a LOC (a quirk of the CoNLL train file):
     * two chunks, LOC(x) and MISC(y z); IOB2 of the same chunks agrees */
    expect_counts("x I-LOC B-LOC\ny B-MISC B-MISC\nz I-MISC I-MISC\n", (Counts){3, 2, 2, 2, 2});
    /* predicting I-MISC instead of B-MISC after a LOC is the same chunking */
    expect_counts("x I-LOC I-LOC\ny B-MISC I-MISC\nz I-MISC I-MISC\n", (Counts){3, 2, 2, 2, 2});
    /* but after a MISC, B- starts a new chunk and I- continues: 2 vs 1 */
    expect_counts("x I-MISC I-MISC\ny B-MISC I-MISC\n", (Counts){2, 1, 2, 1, 0});
}

static void test_ioe_and_brackets(void) {
    /* IOE: gold (a b)(c d); guess (a b)(c)(d) -> 1 correct */
    expect_counts("a I-NP I-NP\nb E-NP E-NP\nc I-NP E-NP\nd E-NP I-NP\ne O O\n", (Counts){5, 3, 2, 3, 1});
    /* '[' and ']' chunks have length 1 */
    expect_counts("a [-NP [-NP\nb ]-NP I-NP\n", (Counts){2, 1, 2, 1, 1});
    /* "." is outside-like for the type-change rules */
    expect_counts("a . .\nb B-NP B-NP\n", (Counts){2, 2, 1, 1, 1});
}

static void test_boundaries_and_docstart(void) {
    /* a blank line or a "-X-" line ends chunks and is not a token */
    expect_counts("a I-PER I-PER\nb I-PER I-PER\n", (Counts){2, 2, 1, 1, 1});
    expect_counts("a I-PER I-PER\n\nb I-PER I-PER\n", (Counts){2, 2, 2, 2, 2});
    expect_counts("a I-PER I-PER\n-X- x x\nb I-PER I-PER\n", (Counts){2, 2, 2, 2, 2});
    /* the -X- boundary forces the guess to O: a guessed chunk ends there */
    expect_counts("a I-PER I-PER\n-X- O I-PER\nb I-PER I-PER\n", (Counts){2, 2, 2, 2, 2});
    /* -DOCSTART- lines are tokens, as for conlleval.pl: tagged O they only
     * add a correct token; tagged otherwise a chunk starts or runs on them */
    expect_counts("-DOCSTART- O O\n\na I-PER I-PER\n-DOCSTART- O O\nb I-PER I-PER\n\n\n",
                  (Counts){4, 4, 2, 2, 2});
    expect_counts("a I-PER I-PER\n-DOCSTART- I-PER I-PER\nb I-PER I-PER\n", (Counts){3, 3, 1, 1, 1});
    expect_counts("-DOCSTART- O B-MISC\na I-PER I-PER\n", (Counts){2, 1, 1, 2, 1});
    /* CRLF and tabs */
    expect_counts("a\tI-PER I-PER\r\nb I-PER\tO\r\n\r\n", (Counts){2, 1, 1, 1, 0});
    /* two columns are enough; more columns are ignored */
    expect_counts("B-LOC B-LOC\n", (Counts){1, 1, 1, 1, 1});
    expect_counts("w p c B-LOC B-LOC\n", (Counts){1, 1, 1, 1, 1});
    /* empty input */
    expect_counts("", (Counts){0, 0, 0, 0, 0});
    char *r = report_of("\n\n");
    CU_ASSERT_STRING_EQUAL(r, "processed 0 tokens with 0 phrases; found: 0 phrases; correct: 0.\n");
    free(r);
}

static void test_perl_quirks(void) {
    /* hyphens inside types: split at the first '-' only */
    Conlleval ce;
    Err err;
    CU_ASSERT_EQUAL_FATAL(score_str(&ce, "a B-X-Y B-X-Y\nb I-X-Y I-X-Z\n", &err), 0);
    int n;
    int *idx = conlleval_report_types(&ce, &n);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_STRING_EQUAL(ce.types[idx[0]].name, "X-Y");
    CU_ASSERT_STRING_EQUAL(ce.types[idx[1]].name, "X-Z");
    CU_ASSERT_EQUAL(ce.types[idx[0]].found_correct, 1);
    CU_ASSERT_EQUAL(ce.types[idx[0]].correct, 0);
    free(idx);
    conlleval_free(&ce);
    /* type "0" is Perl-false and becomes ""; the empty type, being a key of
     * both hashes and false itself, is listed twice */
    char *r = report_of("a B-0 B\n");
    const char *want = "processed 1 tokens with 1 phrases; found: 1 phrases; correct: 1.\n"
                       "accuracy: 100.00%; precision: 100.00%; recall: 100.00%; FB1: 100.00\n"
                       "                 : precision: 100.00%; recall: 100.00%; FB1: 100.00  1\n"
                       "                 : precision: 100.00%; recall: 100.00%; FB1: 100.00  1\n";
    CU_ASSERT_STRING_EQUAL(r, want);
    free(r);
    /* per-type lines sort by byte order (uppercase before lowercase) */
    r = report_of("a B-b B-b\nc B-B O\n");
    CU_ASSERT_PTR_NOT_NULL(strstr(r, "                B: precision"));
    CU_ASSERT(strstr(r, "                B:") < strstr(r, "                b:"));
    free(r);
}

static void expect_parse_error(const char *input, const char *want) {
    Conlleval ce;
    Err err = {{0}};
    CU_ASSERT_EQUAL(score_str(&ce, input, &err), -1);
    if (!strstr(err.msg, want)) printf("\n    got: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want));
    conlleval_free(&ce);
}

static void test_errors(void) {
    expect_parse_error("a O O\nb O\n", "crafted.txt:2: unexpected number of columns: 2 (the first line had 3)");
    expect_parse_error("a O O\n\n\nb O O O\n", "crafted.txt:4: unexpected number of columns: 4");
    expect_parse_error("O\n", "crafted.txt:1: need at least 2 columns");
    expect_parse_error("a O O\nb O\xe9 O\n", "crafted.txt:2: the gold tag (column 2) has invalid UTF-8");
    expect_parse_error("a O O\nb O I-P\xc3\n", "crafted.txt:2: the predicted tag (column 3) has invalid UTF-8");
    /* a token column may hold any bytes (conlleval.pl reads bytes) */
    expect_counts("a\xe9\xff B-PER B-PER\nb O O\n", (Counts){2, 2, 1, 1, 1});
    Conlleval ce;
    Err err;
    conlleval_init(&ce);
    CU_ASSERT_EQUAL(conlleval_file(&ce, "no/such/predictions.txt", &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no/such/predictions.txt"));
    conlleval_free(&ce);
}

static double json_num(cJSON *o, const char *k) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void test_json(void) {
    Conlleval ce;
    Err err;
    CU_ASSERT_EQUAL_FATAL(score_str(&ce, CASE_ERRORS, &err), 0);
    char *s = conlleval_json(&ce);
    cJSON *root = cJSON_Parse(s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    CU_ASSERT_DOUBLE_EQUAL(json_num(root, "precision"), 25.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(json_num(root, "recall"), 25.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(json_num(root, "f1"), 25.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(json_num(root, "accuracy"), 50.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(json_num(root, "macro_f1"), 12.5, 1e-12);
    cJSON *per = cJSON_GetObjectItemCaseSensitive(root, "per_type");
    cJSON *org = cJSON_GetObjectItemCaseSensitive(per, "ORG");
    CU_ASSERT_PTR_NOT_NULL_FATAL(org);
    CU_ASSERT_DOUBLE_EQUAL(json_num(org, "f1"), 50.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(json_num(org, "support"), 2.0, 0);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(per), 4);
    cJSON_Delete(root);
    free(s);
    conlleval_free(&ce);
}

static void test_add_ids_matches_text(void) {
    /* the in-memory interface gives the same counts as the file interface */
    Conlleval a, b;
    Err err;
    CU_ASSERT_EQUAL_FATAL(score_str(&a, "x B-PER B-PER\ny I-PER O\n\nz B-LOC I-LOC\n", &err), 0);
    conlleval_init(&b);
    conlleval_add_ids(&b, 1, 1), conlleval_add_ids(&b, 2, 0), conlleval_boundary(&b);
    conlleval_add_ids(&b, 3, 4), conlleval_finish(&b);
    CU_ASSERT_EQUAL(a.tokens, b.tokens);
    CU_ASSERT_EQUAL(a.found_correct, b.found_correct);
    CU_ASSERT_EQUAL(a.found_guessed, b.found_guessed);
    CU_ASSERT_EQUAL(a.correct_chunks, b.correct_chunks);
    CU_ASSERT_EQUAL(a.correct_tags, b.correct_tags);
    conlleval_free(&a);
    conlleval_free(&b);
}

/* ---- against the Python re-implementation -------------------------------- */

static const char *TAG_POOL[] = {"O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG",
                                 "B-MISC", "I-MISC", "E-PER", "S-LOC", "[-NP", "]-NP", ".", "B",
                                 "I-0", "B-X-Y", "O-PER"};
#define POOL_N (int)(sizeof TAG_POOL / sizeof TAG_POOL[0])

/* A random file of single-space separated "tok gold pred" lines, blank
 * lines and -DOCSTART- lines. */
static char *random_file(int seed) {
    size_t cap = 1 << 16, len = 0;
    char *s = xmalloc(cap);
    int lines = 20 + seed * 7 % 200;
    for (int i = 0; i < lines; i++) {
        float u = rng_uniform(11, (uint32_t)seed, 0, (uint64_t)i * 3);
        int g = (int)(rng_uniform(11, (uint32_t)seed, 1, (uint64_t)i * 3) * (seed % 2 ? 11 : POOL_N));
        int p = (int)(rng_uniform(11, (uint32_t)seed, 2, (uint64_t)i * 3) * (seed % 2 ? 11 : POOL_N));
        if (u < 0.08f) len += (size_t)snprintf(s + len, cap - len, "\n");
        else if (u < 0.12f) /* document lines are tokens for conlleval.pl, tags and all */
            len += (size_t)snprintf(s + len, cap - len, "-DOCSTART- %s %s\n", TAG_POOL[g], TAG_POOL[p]);
        else len += (size_t)snprintf(s + len, cap - len, "w%d %s %s\n", i, TAG_POOL[g], TAG_POOL[p]);
    }
    s[len] = '\0';
    return s;
}

static void test_against_python(void) {
    const char *found = testutil_repo_path("reference/conlleval_check.py");
    if (!found || system("python3 -c 'import sys' >/dev/null 2>&1") != 0) {
        testutil_skip("conlleval vs Python", "python3 or reference/conlleval_check.py not found");
        return;
    }
    char script[4096], dir[] = "/tmp/mtl_conlleval_XXXXXX";
    snprintf(script, sizeof script, "%s", found);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    enum { NFILES = 40 };
    char *expected = NULL;
    size_t elen = 0;
    FILE *mem = open_memstream(&expected, &elen);
    char cmd[8192];
    size_t cl = (size_t)snprintf(cmd, sizeof cmd, "python3 %s", script);
    for (int k = 0; k < NFILES; k++) {
        char path[256];
        snprintf(path, sizeof path, "%s/f%02d.txt", dir, k);
        char *text = random_file(k);
        FILE *f = fopen(path, "w");
        fputs(text, f);
        fclose(f);
        Conlleval ce;
        Err err;
        CU_ASSERT_EQUAL(score_str(&ce, text, &err), 0);
        conlleval_print_report(&ce, mem);
        conlleval_free(&ce);
        free(text);
        cl += (size_t)snprintf(cmd + cl, sizeof cmd - cl, " %s", path);
    }
    fclose(mem);
    FILE *py = popen(cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(py);
    char *got = xmalloc(elen + 4096);
    size_t glen = fread(got, 1, elen + 4095, py);
    got[glen] = '\0';
    CU_ASSERT_EQUAL(pclose(py), 0);
    CU_ASSERT_EQUAL(glen, elen);
    CU_ASSERT_STRING_EQUAL(got, expected);
    printf("\n    %d random files, %zu report bytes, identical: %s ", NFILES, elen,
           strcmp(got, expected) == 0 ? "yes" : "NO");
    free(got);
    free(expected);
    CU_ASSERT_EQUAL(testutil_remove_tree(dir), 0);
}

int main(void) {
    static const TestCase tests[] = {
        {"IOB1 gold vs IOB2 guess: same chunks", test_iob1_vs_iob2},
        {"type changes, stray I-, B- after I-: counts + exact report", test_errors_and_type_changes},
        {"IOB1 B- only after the same type; stray B-MISC", test_iob1_quirk_stray_b},
        {"E- and [ ] chunk tags, '.'", test_ioe_and_brackets},
        {"boundaries, -X-, -DOCSTART-, CRLF, column counts", test_boundaries_and_docstart},
        {"Perl quirks: hyphenated types, type 0, sort order", test_perl_quirks},
        {"bad input: messages name file and line", test_errors},
        {"JSON output", test_json},
        {"label-id interface = text interface", test_add_ids_matches_text},
        {"reports identical to reference/conlleval_check.py", test_against_python},
        {NULL, NULL}};
    testutil_add_suite("conlleval", tests);
    return testutil_run_all();
}

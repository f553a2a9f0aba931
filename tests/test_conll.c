/* CoNLL-2003 reader, IOB2 conversion, statistics, featurisation, NER
 * decoding and the datasets/fetch.sh local mode. Fixtures are hand-written
 * (tests/fixtures/conll_*.txt); the real-data checks SKIP without the data. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conll.h"
#include "conlleval.h"
#include "ner_decode.h"
#include "paths.h"
#include "rng.h"
#include "testutil.h"
#include "tokenizer.h"

#define K CONLL_NUM_LABELS

static int parse_str(const char *s, ConllCorpus *c, Err *err) {
    return conll_parse(s, strlen(s), "mem.txt", c, err);
}

static int label(const char *tag) { return conll_label_id(tag); }

/* ---- reader ------------------------------------------------------------ */

static void test_fixture_structure(void) {
    const char *path = testutil_repo_path("tests/fixtures/conll_iob1.txt");
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    ConllCorpus c;
    Err err;
    CU_ASSERT_EQUAL_FATAL(conll_load(path, &c, &err), 0);
    CU_ASSERT_EQUAL(c.n_docs, 2); /* both -DOCSTART- variants */
    CU_ASSERT_EQUAL(c.n_sentences, 4);
    CU_ASSERT_EQUAL(c.n_tokens, 19);
    CU_ASSERT_EQUAL(c.sents[0].doc, 0);
    CU_ASSERT_EQUAL(c.sents[1].doc, 0);
    CU_ASSERT_EQUAL(c.sents[2].doc, 1);
    CU_ASSERT_EQUAL(c.sents[3].doc, 1);
    CU_ASSERT_EQUAL(c.sents[0].line, 3);
    CU_ASSERT_EQUAL(c.sents[2].line, 19);
    CU_ASSERT_EQUAL(c.sents[3].start, 16);
    CU_ASSERT_EQUAL(c.sents[3].n, 3);
    CU_ASSERT_STRING_EQUAL(c.words[0], "Alice");
    CU_ASSERT_STRING_EQUAL(c.words[18], "Turin");
    conll_free(&c);
}

static void test_iob1_to_iob2(void) {
    const char *path = testutil_repo_path("tests/fixtures/conll_iob1.txt");
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    ConllCorpus c;
    Err err;
    CU_ASSERT_EQUAL_FATAL(conll_load(path, &c, &err), 0);
    /* original IOB1 kept */
    static const char *iob1[19] = {"I-PER", "B-PER", "I-PER", "O", "O", "I-LOC", "O",
                                   "I-ORG", "I-ORG", "O", "I-MISC", "O",
                                   "I-LOC", "B-MISC", "I-MISC", "O",
                                   "I-LOC", "B-LOC", "I-LOC"};
    /* B- after a same-type entity stays; the stray B-MISC after I-LOC stays;
     * an I-X starting an entity becomes B-X. */
    static const char *iob2[19] = {"B-PER", "B-PER", "I-PER", "O", "O", "B-LOC", "O",
                                   "B-ORG", "I-ORG", "O", "B-MISC", "O",
                                   "B-LOC", "B-MISC", "I-MISC", "O",
                                   "B-LOC", "B-LOC", "I-LOC"};
    for (int i = 0; i < 19; i++) {
        CU_ASSERT_EQUAL(c.tag_iob1[i], label(iob1[i]));
        CU_ASSERT_EQUAL(c.tag_iob2[i], label(iob2[i]));
    }
    /* conversion restarts at each sentence: I-X first in a sentence after a
     * sentence ending in I-X becomes B-X */
    ConllCorpus d;
    CU_ASSERT_EQUAL_FATAL(parse_str("a x y I-ORG\n\nb x y I-ORG\nc x y I-LOC\nd x y I-PER\n", &d, &err), 0);
    CU_ASSERT_EQUAL(d.tag_iob2[1], NER_B_ORG);
    CU_ASSERT_EQUAL(d.tag_iob2[2], NER_B_LOC); /* type change */
    CU_ASSERT_EQUAL(d.tag_iob2[3], NER_B_PER);
    CU_ASSERT_EQUAL(d.n_docs, 0);
    CU_ASSERT_EQUAL(d.sents[1].doc, 0);
    conll_free(&d);
    conll_free(&c);
}

static void test_fixture_stats(void) {
    const char *path = testutil_repo_path("tests/fixtures/conll_iob1.txt");
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    ConllCorpus c;
    Err err;
    CU_ASSERT_EQUAL_FATAL(conll_load(path, &c, &err), 0);
    ConllStats s;
    conll_stats(&c, &s);
    CU_ASSERT_EQUAL(s.documents, 2);
    CU_ASSERT_EQUAL(s.sentences, 4);
    CU_ASSERT_EQUAL(s.tokens, 19);
    CU_ASSERT_EQUAL(s.per_type[ENT_PER], 2);  /* Alice | Bob Smith */
    CU_ASSERT_EQUAL(s.per_type[ENT_LOC], 4);  /* Paris, Berlin, Rome | Milan Turin */
    CU_ASSERT_EQUAL(s.per_type[ENT_ORG], 1);  /* Acme Corp */
    CU_ASSERT_EQUAL(s.per_type[ENT_MISC], 2); /* Java, Olympic Games */
    CU_ASSERT_EQUAL(s.entities, 9);
    conll_free(&c);
}

static void test_crlf_trailing_blank_no_final_newline(void) {
    ConllCorpus c;
    Err err;
    const char *s = "-DOCSTART- -X- O O\r\n\r\nA x y I-PER\r\nb x y O\r\n\r\n  \t\r\nC x y I-LOC";
    CU_ASSERT_EQUAL_FATAL(parse_str(s, &c, &err), 0);
    CU_ASSERT_EQUAL(c.n_sentences, 2);
    CU_ASSERT_EQUAL(c.n_tokens, 3);
    CU_ASSERT_STRING_EQUAL(c.words[1], "b");
    CU_ASSERT_EQUAL(c.tag_iob2[2], NER_B_LOC);
    conll_free(&c);
    /* tabs as separators, -DOCSTART- directly after a sentence closes it */
    CU_ASSERT_EQUAL_FATAL(parse_str("A\tx\ty\tI-PER\n-DOCSTART- -X- -X- O\nB x y O\n\n\n\n", &c, &err), 0);
    CU_ASSERT_EQUAL(c.n_sentences, 2);
    CU_ASSERT_EQUAL(c.n_docs, 1);
    CU_ASSERT_EQUAL(c.sents[0].doc, 0);
    conll_free(&c);
    /* a UTF-8 byte-order mark is skipped */
    CU_ASSERT_EQUAL_FATAL(parse_str("\xEF\xBB\xBF-DOCSTART- -X- O O\n\nA x y I-PER\n", &c, &err), 0);
    CU_ASSERT_EQUAL(c.n_docs, 1);
    CU_ASSERT_EQUAL(c.n_tokens, 1);
    conll_free(&c);
    /* CR-only line ends: refused, naming the line and byte */
    CU_ASSERT_EQUAL(parse_str("A x y I-PER\rb x y O\r", &c, &err), -1);
    CU_ASSERT(strstr(err.msg, ":1:") && strstr(err.msg, "byte 11") && strstr(err.msg, "carriage return"));
    /* empty input is an empty corpus */
    CU_ASSERT_EQUAL_FATAL(parse_str("\n\n", &c, &err), 0);
    CU_ASSERT_EQUAL(c.n_sentences, 0);
    conll_free(&c);
}

static void expect_error(const char *input, size_t len, const char *want) {
    ConllCorpus c;
    Err err = {{0}};
    int rc = conll_parse(input, len, "bad.txt", &c, &err);
    CU_ASSERT_EQUAL(rc, -1);
    if (!strstr(err.msg, want)) printf("\n    got message: %s (wanted: %s)\n", err.msg, want);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want));
    CU_ASSERT_EQUAL(c.n_tokens, 0); /* left empty */
}

static void test_malformed_lines(void) {
    const char *three = "a x y O\nb x I-PER\n";
    expect_error(three, strlen(three), "bad.txt:2: expected 4 columns (token POS chunk NER), found 3");
    const char *five = "a x y O\n\nc x y O extra\n";
    expect_error(five, strlen(five), "bad.txt:3: expected 4 columns");
    const char *tag = "a x y O\nb x y I-FOO\n";
    expect_error(tag, strlen(tag), "bad.txt:2: unknown NER tag 'I-FOO'");
    const char *lower = "a x y b-per\n";
    expect_error(lower, strlen(lower), "bad.txt:1: unknown NER tag 'b-per'");
    const char *e_tag = "a x y E-PER\n";
    expect_error(e_tag, strlen(e_tag), "unknown NER tag 'E-PER'");
    const char *utf8 = "a x y O\n\nnaive x y O\nna\xc3\xafve x y O\nb\xff x y O\n";
    expect_error(utf8, strlen(utf8), "bad.txt:5: invalid UTF-8");
    const char *overlong = "\xc0\xaf x y O\n";
    expect_error(overlong, strlen(overlong), "bad.txt:1: invalid UTF-8");
    const char nul[] = "a x y O\nb\0 x y O\n";
    expect_error(nul, sizeof nul - 1, "bad.txt:2: invalid UTF-8 or NUL byte at column 2");
    ConllCorpus c;
    Err err;
    CU_ASSERT_EQUAL(conll_load("tests/fixtures/no-such-file.txt", &c, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no-such-file.txt"));
}

/* The SOURCES.md table (../shared/datasets/SOURCES.md). */
static void test_real_data_stats(void) {
    static const struct {
        const char *rel;
        long docs, sents, toks, ents, per, loc, org, misc;
    } want[3] = {
        {"conll2003/train.txt", 946, 14041, 203621, 23499, 6600, 7140, 6321, 3438},
        {"conll2003/valid.txt", 216, 3250, 51362, 5942, 1842, 1837, 1341, 922},
        {"conll2003/test.txt", 231, 3453, 46435, 5648, 1617, 1668, 1661, 702},
    };
    for (int i = 0; i < 3; i++) {
        char path[4096];
        Err err;
        if (dataset_path(want[i].rel, path, sizeof path, &err) != 0) {
            testutil_skip(want[i].rel, "CoNLL-2003 data not found");
            continue;
        }
        ConllCorpus c;
        CU_ASSERT_EQUAL_FATAL(conll_load(path, &c, &err), 0);
        ConllStats s;
        conll_stats(&c, &s);
        CU_ASSERT_EQUAL(s.documents, want[i].docs);
        CU_ASSERT_EQUAL(s.sentences, want[i].sents);
        CU_ASSERT_EQUAL(s.tokens, want[i].toks);
        CU_ASSERT_EQUAL(s.entities, want[i].ents);
        CU_ASSERT_EQUAL(s.per_type[ENT_PER], want[i].per);
        CU_ASSERT_EQUAL(s.per_type[ENT_LOC], want[i].loc);
        CU_ASSERT_EQUAL(s.per_type[ENT_ORG], want[i].org);
        CU_ASSERT_EQUAL(s.per_type[ENT_MISC], want[i].misc);
        /* the IOB2 conversion keeps every chunk: scoring IOB1 gold against
         * IOB2 "predictions" is 100% */
        Conlleval ce;
        conlleval_init(&ce);
        for (int k = 0; k < c.n_sentences; k++) {
            for (int t = c.sents[k].start; t < c.sents[k].start + c.sents[k].n; t++)
                conlleval_add_ids(&ce, c.tag_iob1[t], c.tag_iob2[t]);
            conlleval_boundary(&ce);
        }
        conlleval_finish(&ce);
        CU_ASSERT_EQUAL(ce.correct_chunks, want[i].ents);
        CU_ASSERT_EQUAL(ce.found_guessed, want[i].ents);
        conlleval_free(&ce);
        conll_free(&c);
    }
}

/* ---- featurisation ----------------------------------------------------- */

static Vocab *fixture_vocab(void) {
    const char *p = testutil_repo_path("tests/fixtures/conll_vocab.txt");
    if (!p) return NULL;
    Err err;
    Vocab *v = vocab_load(p, &err);
    if (!v) printf("\n    vocab: %s\n", err.msg);
    return v;
}

static void test_first_subword_labels(void) {
    Vocab *v = fixture_vocab();
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    ConllCorpus c;
    Err err;
    /* playing -> play ##ing; Unbelievable -> un ##believ ##able; xyz -> [UNK] */
    CU_ASSERT_EQUAL_FATAL(parse_str("playing x y O\nUnbelievable x y I-MISC\nxyz x y I-MISC\n. x y O\n", &c, &err), 0);
    NerFeatures f;
    CU_ASSERT_EQUAL_FATAL(ner_featurize(&c, v, 16, &f, &err), 0);
    CU_ASSERT_EQUAL(f.n, 1);
    int id_play = vocab_id(v, "play"), id_ing = vocab_id(v, "##ing"), id_un = vocab_id(v, "un");
    int id_believ = vocab_id(v, "##believ"), id_able = vocab_id(v, "##able"), id_dot = vocab_id(v, ".");
    int ids[9] = {vocab_cls_id(v), id_play, id_ing, id_un, id_believ, id_able, vocab_unk_id(v), id_dot,
                  vocab_sep_id(v)};
    int labels[9] = {-100, NER_O, -100, NER_B_MISC, -100, -100, NER_I_MISC, NER_O, -100};
    int word_of[9] = {-1, 0, -1, 1, -1, -1, 2, 3, -1};
    for (int t = 0; t < 9; t++) {
        CU_ASSERT_EQUAL(f.ids[t], ids[t]);
        CU_ASSERT_EQUAL(f.labels[t], labels[t]);
        CU_ASSERT_EQUAL(f.word_of[t], word_of[t]);
        CU_ASSERT_EQUAL(f.mask[t], 1);
        CU_ASSERT_EQUAL(f.types[t], 0);
    }
    for (int t = 9; t < 16; t++) {
        CU_ASSERT_EQUAL(f.ids[t], vocab_pad_id(v));
        CU_ASSERT_EQUAL(f.labels[t], -100);
        CU_ASSERT_EQUAL(f.mask[t], 0);
        CU_ASSERT_EQUAL(f.word_of[t], -1);
    }
    CU_ASSERT_EQUAL(f.n_pieces, 7);
    ner_features_free(&f);
    conll_free(&c);
    vocab_free(v);
}

/* A sentence of n words cycling through words of 1, 2 and 3 pieces. */
static char *long_sentence(int n) {
    static const char *words[3] = {"the", "playing", "unbelievable"};
    static const char *tags[4] = {"I-PER", "I-PER", "O", "I-LOC"};
    char *s = xmalloc((size_t)n * 40 + 1);
    size_t len = 0;
    for (int i = 0; i < n; i++) len += (size_t)sprintf(s + len, "%s x y %s\n", words[i % 3], tags[i % 4]);
    return s;
}

static void test_window_splitting(void) {
    Vocab *v = fixture_vocab();
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    char *text = long_sentence(50); /* 100 pieces; max_seq 10 leaves room for 8 */
    ConllCorpus c;
    Err err;
    CU_ASSERT_EQUAL_FATAL(parse_str(text, &c, &err), 0);
    NerFeatures f;
    CU_ASSERT_EQUAL_FATAL(ner_featurize(&c, v, 10, &f, &err), 0);
    CU_ASSERT(f.n > 1);
    CU_ASSERT_EQUAL(f.n_multi_window_sentences, 1);
    CU_ASSERT_EQUAL(f.n_truncated_words, 0);
    int next_word = 0;
    for (int r = 0; r < f.n; r++) {
        const int *ids = f.ids + r * 10, *lab = f.labels + r * 10, *wo = f.word_of + r * 10;
        CU_ASSERT_EQUAL(f.sent[r], 0);
        CU_ASSERT_EQUAL(f.first_word[r], next_word);
        CU_ASSERT_EQUAL(ids[0], vocab_cls_id(v));
        int len = 0;
        while (len < 10 && f.mask[r * 10 + len]) len++;
        CU_ASSERT_EQUAL(ids[len - 1], vocab_sep_id(v));
        int words = 0;
        for (int t = 1; t < len - 1; t++) {
            if (wo[t] < 0) continue;
            CU_ASSERT_EQUAL(wo[t], next_word); /* every word once, in order */
            CU_ASSERT_EQUAL(lab[t], c.tag_iob2[next_word]);
            next_word++, words++;
        }
        CU_ASSERT_EQUAL(words, f.n_words[r]);
        /* greedy: the next word would not have fit */
        if (r + 1 < f.n) CU_ASSERT(len - 2 + 1 + (next_word % 3) > 8);
    }
    CU_ASSERT_EQUAL(next_word, 50);
    /* labels stay consistent across a window cut: word 1 is I-PER after
     * B-PER, never turned into B- by the split */
    CU_ASSERT_EQUAL(c.tag_iob2[1], NER_I_PER);
    ner_features_free(&f);
    conll_free(&c);
    free(text);
    vocab_free(v);
}

static void test_featurize_edge_words(void) {
    Vocab *v = fixture_vocab();
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    ConllCorpus c;
    Err err;
    /* a word of control characters tokenizes to nothing -> one [UNK];
     * "unbelievable," (4 pieces) at max_seq 5 (room 3) is cut to 3 pieces */
    CU_ASSERT_EQUAL_FATAL(parse_str("\x01\x02 x y I-ORG\nunbelievable, x y O\nthe x y O\n", &c, &err), 0);
    NerFeatures f;
    CU_ASSERT_EQUAL_FATAL(ner_featurize(&c, v, 5, &f, &err), 0);
    CU_ASSERT_EQUAL(f.n_empty_words, 1);
    CU_ASSERT_EQUAL(f.n_truncated_words, 1);
    CU_ASSERT_EQUAL(f.n, 3);
    CU_ASSERT_EQUAL(f.ids[1], vocab_unk_id(v));
    CU_ASSERT_EQUAL(f.labels[1], NER_B_ORG);
    CU_ASSERT_EQUAL(f.ids[5 + 1], vocab_id(v, "un"));
    CU_ASSERT_EQUAL(f.ids[5 + 4], vocab_sep_id(v));
    CU_ASSERT_EQUAL(f.word_of[10 + 1], 2);
    CU_ASSERT_EQUAL(f.n_multi_window_sentences, 1);
    ner_features_free(&f);
    CU_ASSERT_EQUAL(ner_featurize(&c, v, 2, &f, &err), -1);
    conll_free(&c);
    vocab_free(v);
}

/* The real vocab on the real valid set: every word gets exactly one
 * labelled piece (reports the multi-window count at 128). */
static void test_real_featurize(void) {
    char path[4096], vpath[4096];
    Err err;
    if (dataset_path("conll2003/valid.txt", path, sizeof path, &err) || vocab_path(vpath, sizeof vpath, &err)) {
        testutil_skip("real featurisation", "CoNLL-2003 valid or the vocab not found");
        return;
    }
    Vocab *v = vocab_load(vpath, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    ConllCorpus c;
    CU_ASSERT_EQUAL_FATAL(conll_load(path, &c, &err), 0);
    NerFeatures f;
    CU_ASSERT_EQUAL_FATAL(ner_featurize(&c, v, 128, &f, &err), 0);
    long labelled = 0;
    for (long i = 0; i < (long)f.n * 128; i++) labelled += f.labels[i] != NER_IGNORE_LABEL;
    CU_ASSERT_EQUAL(labelled, c.n_tokens);
    CU_ASSERT_EQUAL(f.n, c.n_sentences + 3); /* 3 sentences need 2 windows at 128 */
    CU_ASSERT_EQUAL(f.n_multi_window_sentences, 3);
    printf("\n    valid @128: %d windows, %d multi-window sentences, %ld pieces ", f.n,
           f.n_multi_window_sentences, f.n_pieces);
    ner_features_free(&f);
    conll_free(&c);
    vocab_free(v);
}

/* ---- decoding ---------------------------------------------------------- */

static int valid_sequence(const uint8_t *y, int n) {
    for (int i = 0; i < n; i++)
        if (!ner_transition_allowed(i ? y[i - 1] : -1, y[i])) return 0;
    return 1;
}

static void test_transitions_and_repair(void) {
    CU_ASSERT(ner_transition_allowed(-1, NER_B_PER));
    CU_ASSERT(!ner_transition_allowed(-1, NER_I_PER));
    CU_ASSERT(ner_transition_allowed(NER_B_PER, NER_I_PER));
    CU_ASSERT(ner_transition_allowed(NER_I_PER, NER_I_PER));
    CU_ASSERT(!ner_transition_allowed(NER_O, NER_I_PER));
    CU_ASSERT(!ner_transition_allowed(NER_B_LOC, NER_I_PER));
    CU_ASSERT(ner_transition_allowed(NER_I_LOC, NER_B_LOC));
    uint8_t y[7] = {NER_I_PER, NER_I_PER, NER_O, NER_I_LOC, NER_B_ORG, NER_I_MISC, NER_I_MISC};
    uint8_t want[7] = {NER_B_PER, NER_I_PER, NER_O, NER_B_LOC, NER_B_ORG, NER_B_MISC, NER_I_MISC};
    ner_iob2_repair(y, 7);
    CU_ASSERT_EQUAL(memcmp(y, want, 7), 0);
    /* argmax picks per word, then repairs */
    float logits[3 * K] = {0};
    logits[0 * K + NER_I_ORG] = 5, logits[1 * K + NER_I_ORG] = 5, logits[2 * K + NER_I_PER] = 5;
    uint8_t out[3];
    ner_decode_argmax(logits, 3, out);
    CU_ASSERT_EQUAL(out[0], NER_B_ORG);
    CU_ASSERT_EQUAL(out[1], NER_I_ORG);
    CU_ASSERT_EQUAL(out[2], NER_B_PER);
    int d = -1;
    CU_ASSERT_EQUAL(enum_value(NER_DECODE_NAMES, "viterbi", &d), 0);
    CU_ASSERT_EQUAL(d, NER_DECODE_VITERBI);
    CU_ASSERT_EQUAL(enum_value(NER_DECODE_NAMES, "beam", &d), -1);
    CU_ASSERT_STRING_EQUAL(enum_name(NER_DECODE_NAMES, NER_DECODE_ARGMAX), "argmax");
}

/* Best valid sequence by exhaustive search (n <= 4: 9^4 sequences). */
static double brute_force_best(const float *logits, int n, uint8_t *best) {
    double lsm[4][K];
    for (int w = 0; w < n; w++) {
        double m = -INFINITY, s = 0;
        for (int k = 0; k < K; k++) m = fmax(m, logits[w * K + k]);
        for (int k = 0; k < K; k++) s += exp(logits[w * K + k] - m);
        for (int k = 0; k < K; k++) lsm[w][k] = logits[w * K + k] - m - log(s);
    }
    int total = 1;
    for (int w = 0; w < n; w++) total *= K;
    double top = -INFINITY;
    for (int code = 0; code < total; code++) {
        uint8_t y[4];
        double sc = 0;
        for (int w = 0, c = code; w < n; w++, c /= K) y[w] = (uint8_t)(c % K), sc += lsm[w][y[w]];
        if (valid_sequence(y, n) && sc > top + 1e-12) top = sc, memcpy(best, y, (size_t)n);
    }
    return top;
}

static void test_viterbi(void) {
    int invalid = 0, mismatch = 0;
    for (int trial = 0; trial < 400; trial++) {
        int n = 1 + trial % 4;
        float logits[4 * K];
        for (int i = 0; i < n * K; i++) logits[i] = 4.0f * (rng_uniform(7, (uint32_t)trial, 0, (uint64_t)i) - 0.5f);
        /* bias towards I- tags so that argmax is often invalid */
        for (int w = 0; w < n; w++) logits[w * K + NER_I_PER + 2 * (trial % 4)] += 2.0f;
        uint8_t vit[4], best[4];
        ner_decode_viterbi(logits, n, vit);
        brute_force_best(logits, n, best);
        invalid += !valid_sequence(vit, n);
        mismatch += memcmp(vit, best, (size_t)n) != 0;
    }
    CU_ASSERT_EQUAL(invalid, 0);
    CU_ASSERT_EQUAL(mismatch, 0);
    /* long random sentences: always valid */
    float *big = xmalloc(200 * K * sizeof(float));
    uint8_t y[200];
    for (int trial = 0; trial < 20; trial++) {
        for (int i = 0; i < 200 * K; i++) big[i] = 6.0f * rng_uniform(9, (uint32_t)trial, 0, (uint64_t)i);
        ner_decode_viterbi(big, 200, y);
        invalid += !valid_sequence(y, 200);
        ner_decode_argmax(big, 200, y);
        invalid += !valid_sequence(y, 200);
    }
    CU_ASSERT_EQUAL(invalid, 0);
    free(big);
    /* where argmax is already valid, Viterbi agrees with it */
    float logits[3 * K] = {0};
    logits[0 * K + NER_B_LOC] = 3, logits[1 * K + NER_I_LOC] = 3, logits[2 * K + NER_O] = 3;
    uint8_t a[3], b[3];
    ner_decode_argmax(logits, 3, a);
    ner_decode_viterbi(logits, 3, b);
    CU_ASSERT_EQUAL(memcmp(a, b, 3), 0);
    /* O-then-I: argmax repair gives B-X; Viterbi may choose differently but valid */
    float l2[2 * K] = {0};
    l2[0 * K + NER_O] = 2.0f, l2[0 * K + NER_B_PER] = 1.9f, l2[1 * K + NER_I_PER] = 5.0f;
    ner_decode_viterbi(l2, 2, b);
    CU_ASSERT_EQUAL(b[0], NER_B_PER); /* B-PER I-PER beats O B-PER */
    CU_ASSERT_EQUAL(b[1], NER_I_PER);
}

/* Window logits -> word logits -> decode -> conlleval file -> 100% score. */
static void test_predictions_file_roundtrip(void) {
    Vocab *v = fixture_vocab();
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    const char *path = testutil_repo_path("tests/fixtures/conll_iob1.txt");
    ConllCorpus c;
    Err err;
    CU_ASSERT_EQUAL_FATAL(conll_load(path, &c, &err), 0);
    NerFeatures f;
    CU_ASSERT_EQUAL_FATAL(ner_featurize(&c, v, 6, &f, &err), 0); /* forces windows */
    float *wlog = xcalloc((size_t)f.n * f.max_seq * K, sizeof(float));
    for (long i = 0; i < (long)f.n * f.max_seq; i++) /* a perfect model: one-hot on gold */
        if (f.labels[i] >= 0) wlog[i * K + f.labels[i]] = 10.0f;
    float *word = xcalloc((size_t)c.n_tokens * K, sizeof(float));
    uint8_t *has = xmalloc((size_t)c.n_tokens), *pred = xmalloc((size_t)c.n_tokens);
    ner_gather_word_logits(&c, &f, wlog, word, has);
    int all = 1;
    for (int i = 0; i < c.n_tokens; i++) all &= has[i];
    CU_ASSERT(all);
    ner_decode_corpus(NER_DECODE_VITERBI, &c, word, pred);
    CU_ASSERT_EQUAL(memcmp(pred, c.tag_iob2, (size_t)c.n_tokens), 0);
    char out[] = "/tmp/mtl_test_conll_XXXXXX";
    int fd = mkstemp(out);
    CU_ASSERT_FATAL(fd >= 0);
    close(fd);
    CU_ASSERT_EQUAL(ner_write_conlleval(out, &c, pred, &err), 0);
    Conlleval ce;
    conlleval_init(&ce);
    CU_ASSERT_EQUAL(conlleval_file(&ce, out, &err), 0);
    CU_ASSERT_EQUAL(ce.tokens, 19);
    CU_ASSERT_EQUAL(ce.found_correct, 9);
    CU_ASSERT_EQUAL(ce.correct_chunks, 9);
    CU_ASSERT_DOUBLE_EQUAL(conlleval_accuracy(&ce), 100.0, 1e-9);
    conlleval_free(&ce);
    unlink(out);
    free(wlog), free(word), free(has), free(pred);
    ner_features_free(&f);
    conll_free(&c);
    vocab_free(v);
}

/* ---- datasets/fetch.sh local mode -------------------------------------- */

static int run_quiet(const char *cmd) {
    char full[8192 + 64];
    snprintf(full, sizeof full, "%s >/dev/null 2>&1", cmd);
    int rc = system(full);
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

static void test_fetch_local_mode(void) {
    const char *found = testutil_repo_path("datasets/fetch.sh"); /* static buffer: copy */
    CU_ASSERT_PTR_NOT_NULL_FATAL(found);
    char script[4096];
    snprintf(script, sizeof script, "%s", found);
    char tmp[] = "/tmp/mtl_fetch_XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(tmp));
    char cmd[8192];
    /* a local copy whose train.txt has the wrong content: refused, and
     * nothing is linked into the destination */
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/src/conll2003 && printf 'x x x O\\n' > %s/src/conll2003/train.txt && "
             "FETCH_DEST=%s/dest bash %s %s/src", tmp, tmp, tmp, script, tmp);
    CU_ASSERT_NOT_EQUAL(run_quiet(cmd), 0);
    snprintf(cmd, sizeof cmd, "test -e %s/dest/conll2003/train.txt", tmp);
    CU_ASSERT_NOT_EQUAL(run_quiet(cmd), 0);
    /* the real shared copy verifies and links */
    const char *shared = testutil_repo_path("../shared/datasets/SOURCES.md");
    if (shared) {
        snprintf(cmd, sizeof cmd, "FETCH_DEST=%s/ok bash %s $(dirname %s)", tmp, script, shared);
        CU_ASSERT_EQUAL(run_quiet(cmd), 0);
        snprintf(cmd, sizeof cmd, "test -L %s/ok/conll2003/valid.txt && test -L %s/ok/vocab/bert-base-uncased-vocab.txt", tmp, tmp);
        CU_ASSERT_EQUAL(run_quiet(cmd), 0);
    } else {
        testutil_skip("fetch.sh on ../shared/datasets", "shared data not found");
    }
    CU_ASSERT_EQUAL(testutil_remove_tree(tmp), 0);
}

int main(void) {
    static const TestCase reader[] = {
        {"fixture: documents, sentences, tokens, lines", test_fixture_structure},
        {"IOB1 kept, IOB2 conversion (B- after same type, stray B-MISC)", test_iob1_to_iob2},
        {"fixture statistics (conlleval chunk rules)", test_fixture_stats},
        {"CRLF, tabs, trailing blank lines, no final newline", test_crlf_trailing_blank_no_final_newline},
        {"malformed lines: messages name file and line", test_malformed_lines},
        {"real train/valid/test equal SOURCES.md", test_real_data_stats},
        {NULL, NULL}};
    static const TestCase feat[] = {
        {"first-subword labels, [CLS]/[SEP]/padding", test_first_subword_labels},
        {"long sentence: word-boundary windows, no word lost", test_window_splitting},
        {"empty word -> [UNK], over-long word cut", test_featurize_edge_words},
        {"real valid set at max_seq 128", test_real_featurize},
        {NULL, NULL}};
    static const TestCase dec[] = {
        {"IOB2 transitions and argmax repair", test_transitions_and_repair},
        {"constrained Viterbi = exhaustive best valid sequence", test_viterbi},
        {"window logits -> words -> conlleval file", test_predictions_file_roundtrip},
        {NULL, NULL}};
    static const TestCase fetch[] = {{"fetch.sh local mode: verify + symlink", test_fetch_local_mode},
                                     {NULL, NULL}};
    testutil_add_suite("conll reader", reader);
    testutil_add_suite("conll featurisation", feat);
    testutil_add_suite("ner decode", dec);
    testutil_add_suite("datasets/fetch.sh", fetch);
    return testutil_run_all();
}

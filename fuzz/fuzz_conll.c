/* fuzz_conll.c — libFuzzer target: the CoNLL-2003 reader on arbitrary bytes
 * and, for inputs that parse, everything downstream: statistics, BERT
 * featurisation (window size taken from the first byte, so that long
 * sentences split), both NER decoders on logits made from the input bytes,
 * and conlleval scoring. Invariants are checked with abort().
 *
 *   make fuzz                      (every target in fuzz/, FUZZ_SECONDS each)
 *   bash fuzz/run.sh 60 fuzz_conll (this one)
 *
 * The vocab is the bert-base-uncased one when found (paths.h rules), else
 * the small fixture vocab tests/fixtures/conll_vocab.txt. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conll.h"
#include "conlleval.h"
#include "ner_decode.h"
#include "paths.h"
#include "tokenizer.h"

#define K CONLL_NUM_LABELS
#define CHECK(cond) \
    do {            \
        if (!(cond)) abort(); \
    } while (0)

static Vocab *fuzz_vocab; /* loaded once, read-only afterwards */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    char path[4096];
    Err err;
    if (vocab_path(path, sizeof path, &err) == 0) fuzz_vocab = vocab_load(path, &err);
    if (!fuzz_vocab) fuzz_vocab = vocab_load("tests/fixtures/conll_vocab.txt", &err);
    return 0;
}

static void check_corpus(const ConllCorpus *c) {
    int next = 0;
    for (int k = 0; k < c->n_sentences; k++) {
        const ConllSentence *s = &c->sents[k];
        CHECK(s->start == next && s->n >= 1 && s->doc >= 0);
        next += s->n;
        for (int i = s->start; i < s->start + s->n; i++) {
            CHECK(c->tag_iob1[i] < K && c->tag_iob2[i] < K && c->words[i][0] != '\0');
            CHECK(ner_transition_allowed(i > s->start ? c->tag_iob2[i - 1] : -1, c->tag_iob2[i]));
        }
    }
    CHECK(next == c->n_tokens);
    ConllStats st;
    conll_stats(c, &st);
    long sum = 0;
    for (int t = 0; t < CONLL_NUM_TYPES; t++) sum += st.per_type[t];
    CHECK(sum == st.entities && st.tokens == c->n_tokens);
}

/* Every word labelled exactly once, in order, with its IOB2 label. */
static void check_features(const ConllCorpus *c, const NerFeatures *f) {
    int sent = 0, word = 0;
    for (int r = 0; r < f->n; r++) {
        if (f->sent[r] != sent) {
            CHECK(f->sent[r] == sent + 1 && word == c->sents[sent].n);
            sent++, word = 0;
        }
        for (int t = 0; t < f->max_seq; t++) {
            size_t i = (size_t)r * f->max_seq + t;
            if (f->word_of[i] < 0) {
                CHECK(f->labels[i] == NER_IGNORE_LABEL);
                continue;
            }
            CHECK(f->word_of[i] == word && f->mask[i] == 1);
            CHECK(f->labels[i] == c->tag_iob2[c->sents[sent].start + word]);
            word++;
        }
    }
    CHECK(c->n_sentences == 0 || (sent == c->n_sentences - 1 && word == c->sents[sent].n));
}

static void check_decoders(const ConllCorpus *c, const NerFeatures *f, const uint8_t *data, size_t size) {
    size_t n = (size_t)f->n * f->max_seq * K;
    float *wl = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) wl[i] = size ? (float)((int)data[i % size] - 128) / 16.0f : 0.0f;
    float *word = calloc((size_t)c->n_tokens * K + 1, sizeof(float));
    uint8_t *pred = malloc((size_t)c->n_tokens + 1);
    ner_gather_word_logits(c, f, wl, word, NULL);
    for (int mode = 0; mode < 2; mode++) {
        ner_decode_corpus((NerDecode)mode, c, word, pred);
        Conlleval ce;
        conlleval_init(&ce);
        for (int k = 0; k < c->n_sentences; k++) {
            const ConllSentence *s = &c->sents[k];
            for (int i = s->start; i < s->start + s->n; i++) {
                CHECK(pred[i] < K && ner_transition_allowed(i > s->start ? pred[i - 1] : -1, pred[i]));
                conlleval_add_ids(&ce, c->tag_iob1[i], pred[i]);
            }
            conlleval_boundary(&ce);
        }
        conlleval_finish(&ce);
        PRF p = conlleval_overall(&ce);
        CHECK(p.precision >= 0 && p.precision <= 100 && p.recall >= 0 && p.recall <= 100);
        conlleval_free(&ce);
    }
    free(wl), free(word), free(pred);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ConllCorpus c;
    Err err;
    if (conll_parse((const char *)data, size, "fuzz", &c, &err) != 0) {
        CHECK(strncmp(err.msg, "fuzz", 4) == 0); /* messages name the input */
        return 0;
    }
    check_corpus(&c);
    NerFeatures f;
    int max_seq = size ? 3 + data[0] % 20 : 8;
    if (fuzz_vocab && ner_featurize(&c, fuzz_vocab, max_seq, &f, &err) == 0) {
        check_features(&c, &f);
        check_decoders(&c, &f, data, size);
        ner_features_free(&f);
    }
    conll_free(&c);
    return 0;
}

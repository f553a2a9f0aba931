/* conll.h — the CoNLL-2003 English NER data: reader, statistics, and BERT
 * featurisation (WordPiece, first-subword labelling, windows).
 *
 * File format: one token a line with four whitespace-separated columns
 * `token POS chunk NER`; blank lines end sentences; `-DOCSTART-` lines (any
 * columns after the first) start documents. The NER column is IOB1 in the
 * original files; the reader keeps it and also stores the IOB2 conversion.
 */
#ifndef MTL_CONLL_H
#define MTL_CONLL_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* The 9 NER labels, in this fixed order (label id = index). */
enum {
    NER_O = 0,
    NER_B_PER, NER_I_PER,
    NER_B_LOC, NER_I_LOC,
    NER_B_ORG, NER_I_ORG,
    NER_B_MISC, NER_I_MISC,
    CONLL_NUM_LABELS
};

/* Entity types, in label order: type t has B = 1 + 2t, I = 2 + 2t. */
enum { ENT_PER = 0, ENT_LOC, ENT_ORG, ENT_MISC, CONLL_NUM_TYPES };

extern const char *const CONLL_LABELS[CONLL_NUM_LABELS]; /* "O", "B-PER", ... */
extern const char *const CONLL_TYPES[CONLL_NUM_TYPES];   /* "PER", "LOC", "ORG", "MISC" */

/* Label id for a tag string ("O", "B-PER", ...), or -1 if it is none of the 9. */
int conll_label_id(const char *tag);
/* Helpers on label ids: type (-1 for O), and whether it is an I- label. */
int conll_label_type(int label);
int conll_label_is_inside(int label);

/* 1 if s[0..n) is valid UTF-8 without NUL bytes (no overlongs, surrogates
 * or code points above U+10FFFF); else 0 and *bad = offset of the first bad byte. */
int conll_utf8_valid(const char *s, size_t n, size_t *bad);
/* 0, or -1 with "<name>:<line>: a carriage return (byte N) not followed by a
 * line feed ..." when buf has CR-only line ends (\n and \r\n are fine). */
int conll_check_line_ends(const char *buf, size_t len, const char *name, Err *err);

/* Ignore label for loss/metrics on positions without a label (as PyTorch). */
#define NER_IGNORE_LABEL (-100)

typedef struct {
    int start; /* index of the first token in the corpus arrays */
    int n;     /* number of tokens (>= 1) */
    int doc;   /* document index (0-based; 0 when the file has no -DOCSTART-) */
    int line;  /* 1-based line number of the first token */
} ConllSentence;

typedef struct {
    int n_tokens, n_sentences, n_docs;
    char **words;       /* [n_tokens] NUL-terminated token text (points into arena) */
    uint8_t *tag_iob1;  /* [n_tokens] label id of the tag as written in the file */
    uint8_t *tag_iob2;  /* [n_tokens] label id after the IOB2 conversion */
    ConllSentence *sents;
    char *arena;        /* owns the token text */
} ConllCorpus;

/* Parse a CoNLL-2003 file held in memory (buf need not be NUL-terminated).
 * name is used in messages. CRLF line ends and trailing blank lines are fine.
 * On error returns -1, leaves *out empty, and err reads
 * "<name>:<line>: <what>" (wrong column count, unknown NER tag, invalid UTF-8
 * or a NUL byte). */
int conll_parse(const char *buf, size_t len, const char *name, ConllCorpus *out, Err *err);
int conll_load(const char *path, ConllCorpus *out, Err *err);
void conll_free(ConllCorpus *c);

/* IOB1 -> IOB2 for one sentence of label ids: an I-X that does not follow
 * B-X or I-X (of the same type X) becomes B-X; everything else is kept.
 * Works in place (in == out allowed). */
void conll_iob1_to_iob2(const uint8_t *in, uint8_t *out, int n);

typedef struct {
    long documents, sentences, tokens;
    long entities;                 /* all types */
    long per_type[CONLL_NUM_TYPES]; /* PER LOC ORG MISC */
} ConllStats;

/* ---- BERT featurisation ------------------------------------------------ */

#define NER_DEFAULT_MAX_SEQ 128

/* One row per window: [CLS] pieces [SEP] [PAD]..., all arrays [n * max_seq],
 * row-major. labels: the word's IOB2 label id on the first piece of each
 * word, NER_IGNORE_LABEL on continuation pieces, [CLS], [SEP] and padding.
 * word_of: word index within the sentence for each labelled position, -1
 * elsewhere. sent / first_word / n_words: per window. */
typedef struct {
    int max_seq;
    int n;          /* windows */
    int *ids, *types, *mask, *labels, *word_of;
    int *sent;      /* [n] sentence index */
    int *first_word;/* [n] index (in the sentence) of the window's first word */
    int *n_words;   /* [n] words in the window */
    /* counts for reports */
    int n_multi_window_sentences; /* sentences split into more than one window */
    int n_empty_words;            /* words with no WordPiece output, fed as one [UNK] */
    int n_truncated_words;        /* words alone longer than max_seq-2 pieces, cut */
    long n_pieces;                /* WordPiece tokens over all words (before cuts) */
} NerFeatures;

struct Vocab;
/* Featurise every sentence. Each word is WordPiece-tokenized on its own. A
 * sentence whose pieces exceed max_seq-2 is split greedily into consecutive
 * non-overlapping windows on word boundaries (no word is dropped or split
 * across windows). Deterministic edge cases: a word that tokenizes to nothing
 * becomes a single [UNK] piece carrying its label; a single word longer than
 * max_seq-2 pieces keeps only its first max_seq-2 pieces. max_seq >= 3.
 * Returns 0, or -1 with err (tokenizer failure, naming the corpus line). */
int ner_featurize(const ConllCorpus *c, const struct Vocab *v, int max_seq, NerFeatures *f, Err *err);
void ner_features_free(NerFeatures *f);

#endif

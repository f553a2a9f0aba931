/* tokenizer.h — BERT WordPiece, identical to Hugging Face's
 * BertTokenizerFast(do_lower_case=True) for bert-base-uncased (the default),
 * and with vocab_set_case to its do_lower_case=False / strip_accents
 * settings for cased checkpoints.
 *
 * What "identical" has been checked on: every CoNLL-2003 and SQuAD text
 * (reference/golden_tokens.py); every code point U+0000..U+10FFFF between two
 * letters, cased and uncased, and canonical reordering of combining marks
 * (reference/unicode_check.py, against tokenizers 0.23.3). HF's Unicode
 * tables are older than utf8proc's (2.8.0, Unicode 15.0); the 624 code points
 * where they differ carry HF's rule in tokenizer_hf_rules.h (generated).
 * Where it can still differ: with another utf8proc (`mtl version` warns;
 * rerun unicode_check.py) or another tokenizers build (its lower-casing
 * follows the Rust version it was built with).
 * Implemented in impl/data/tokenizer.c (uses libutf8proc for NFD and categories). */
#ifndef MTL_TOKENIZER_H
#define MTL_TOKENIZER_H

#include <stddef.h>

#include "util.h"

typedef struct Vocab Vocab; /* opaque: token strings <-> ids (hash table) */

/* Load a standard vocab.txt (one token per line, id = line number - 1; a
 * token listed twice maps to its last line, as in Hugging Face's WordPiece).
 * Fails (NULL, err names file and line) on a missing file, invalid UTF-8, or
 * a vocab without [PAD] [UNK] [CLS] [SEP]. */
Vocab *vocab_load(const char *path, Err *err);
void vocab_free(Vocab *v);
int vocab_size(const Vocab *v);
int vocab_id(const Vocab *v, const char *token); /* -1 if absent */
const char *vocab_token(const Vocab *v, int id);  /* NULL if out of range */
/* HF's BertNormalizer settings: lower-case, and strip accents (NFD + drop
 * Mn); strip_accents < 0 means "as lower" (HF's strip_accents=None).
 * A loaded vocab starts uncased (1, 1). */
void vocab_set_case(Vocab *v, int lower, int strip_accents);
/* on (the default): where Hugging Face's Unicode tables differ from
 * utf8proc's, follow HF (tokenizer_hf_rules.h); 0: utf8proc's alone (for
 * reference/unicode_check.py, which generates the rules). */
void vocab_set_hf_rules(Vocab *v, int on);
int vocab_lower_case(const Vocab *v);
/* "utf8proc X (Unicode Y), N HF rules from tokenizers Z" (+ a warning when
 * the rules were made against another utf8proc): for version/manifest. */
const char *tokenizer_unicode_info(void);
int vocab_strip_accents(const Vocab *v);
/* Does a vocab of path fit a model with V embedding rows? exact: the
 * sizes must be equal (a checkpoint's own vocab); else the vocab may be
 * smaller (every id < V), never larger. Returns 0, or -1 with err. */
int vocab_check_rows(const Vocab *v, const char *path, int V, int exact, Err *err);
int vocab_pad_id(const Vocab *v);
int vocab_unk_id(const Vocab *v);
int vocab_cls_id(const Vocab *v);
int vocab_sep_id(const Vocab *v);

/* One WordPiece token with its span in the ORIGINAL text, in bytes
 * [start, end) and in Unicode code points [cstart, cend). `word` is the index
 * of the whitespace/punctuation-split word it came from (for first-subword
 * labelling). */
typedef struct {
    int id;
    int start, end;
    int cstart, cend;
    int word;
} WpToken;

typedef struct {
    WpToken *tok;
    int n, cap;
} WpTokens;

void wptokens_free(WpTokens *t);

/* Tokenize UTF-8 text of len bytes, appending to out (out->n is not reset).
 * Returns 0, or -1 with err giving the byte offset of invalid UTF-8. */
int wordpiece_tokenize(const Vocab *v, const char *text, size_t len, WpTokens *out, Err *err);

/* The words WordPiece sees: the normalised text split by the pre-tokenizer
 * (HF: normalizer, then BertPreTokenizer's get_splits with original
 * code-point offsets), each as UTF-8 with its span in the original text.
 * A special token in the text is one word, as in wordpiece_tokenize. */
typedef struct {
    char *text;
    int cstart, cend;
} WpWord;

typedef struct {
    WpWord *w;
    int n, cap;
} WpWords;

void wpwords_free(WpWords *w);
/* Appends to out; returns 0, or -1 with err as wordpiece_tokenize. */
int wordpiece_words(const Vocab *v, const char *text, size_t len, WpWords *out, Err *err);

#endif

/* conll.c — CoNLL-2003 reader, IOB1 -> IOB2, statistics, BERT
 * featurisation. See conll.h. */
#include "conll.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

const char *const CONLL_LABELS[CONLL_NUM_LABELS] = {"O",     "B-PER", "I-PER",  "B-LOC", "I-LOC",
                                                    "B-ORG", "I-ORG", "B-MISC", "I-MISC"};
const char *const CONLL_TYPES[CONLL_NUM_TYPES] = {"PER", "LOC", "ORG", "MISC"};

int conll_label_id(const char *tag) {
    for (int i = 0; i < CONLL_NUM_LABELS; i++)
        if (strcmp(tag, CONLL_LABELS[i]) == 0) return i;
    return -1;
}

int conll_label_type(int label) { return label >= 1 && label < CONLL_NUM_LABELS ? (label - 1) / 2 : -1; }
int conll_label_is_inside(int label) { return label >= 2 && label < CONLL_NUM_LABELS && label % 2 == 0; }

/* ---- UTF-8 ------------------------------------------------------------- */

int conll_utf8_valid(const char *s, size_t n, size_t *bad) {
    long at = utf8_first_invalid(s, n);
    const char *nul = memchr(s, '\0', n);
    size_t first = at < 0 ? n : (size_t)at;
    if (nul && (size_t)(nul - s) < first) first = (size_t)(nul - s);
    if (first == n) return 1;
    if (bad) *bad = first;
    return 0;
}

/* ---- IOB1 -> IOB2 ------------------------------------------------------ */

void conll_iob1_to_iob2(const uint8_t *in, uint8_t *out, int n) {
    int prev = NER_O; /* the previous ORIGINAL tag */
    for (int i = 0; i < n; i++) {
        int cur = in[i];
        int follows_same = prev != NER_O && conll_label_type(prev) == conll_label_type(cur);
        out[i] = (uint8_t)(conll_label_is_inside(cur) && !follows_same ? cur - 1 : cur);
        prev = cur;
    }
}

/* ---- parser ------------------------------------------------------------ */

typedef struct {
    ConllCorpus *c;
    int cap_tok, cap_sent;
    int open_start; /* first token of the open sentence, -1 if none */
    int open_line;
    size_t arena_used;
} Builder;

static int is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f'; }

/* Split a line into at most max fields (more are counted but not stored). */
static int split_fields(const char *s, size_t n, const char **f, size_t *fn, int max) {
    int k = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && is_space(s[i])) i++;
        if (i == n) break;
        size_t b = i;
        while (i < n && !is_space(s[i])) i++;
        if (k < max) f[k] = s + b, fn[k] = i - b;
        k++;
    }
    return k;
}

static void close_sentence(Builder *b) {
    ConllCorpus *c = b->c;
    if (b->open_start < 0) return;
    if (c->n_sentences == b->cap_sent) {
        b->cap_sent = b->cap_sent ? 2 * b->cap_sent : 256;
        c->sents = xrealloc(c->sents, (size_t)b->cap_sent * sizeof *c->sents);
    }
    ConllSentence *s = &c->sents[c->n_sentences++];
    s->start = b->open_start;
    s->n = c->n_tokens - b->open_start;
    s->doc = c->n_docs > 0 ? c->n_docs - 1 : 0;
    s->line = b->open_line;
    conll_iob1_to_iob2(c->tag_iob1 + s->start, c->tag_iob2 + s->start, s->n);
    b->open_start = -1;
}

/* Token text goes to the arena, allocated once with the input's size (a
 * token and its NUL never exceed its line), so words[] can point into it. */
static void add_token(Builder *b, const char *w, size_t wn, int label, int line) {
    ConllCorpus *c = b->c;
    if (c->n_tokens == b->cap_tok) {
        b->cap_tok = b->cap_tok ? 2 * b->cap_tok : 1024;
        c->words = xrealloc(c->words, (size_t)b->cap_tok * sizeof *c->words);
        c->tag_iob1 = xrealloc(c->tag_iob1, (size_t)b->cap_tok);
        c->tag_iob2 = xrealloc(c->tag_iob2, (size_t)b->cap_tok);
    }
    if (b->open_start < 0) b->open_start = c->n_tokens, b->open_line = line;
    memcpy(c->arena + b->arena_used, w, wn);
    c->arena[b->arena_used + wn] = '\0';
    c->words[c->n_tokens] = c->arena + b->arena_used;
    c->tag_iob1[c->n_tokens] = (uint8_t)label;
    c->n_tokens++;
    b->arena_used += wn + 1;
}

/* Label id of a NER field, -1 if it is not one of the 9 tags. */
static int field_label(const char *s, size_t n) {
    char tag[8];
    if (n == 0 || n >= sizeof tag) return -1;
    memcpy(tag, s, n);
    tag[n] = '\0';
    return conll_label_id(tag);
}

static int parse_line(Builder *b, const char *s, size_t n, const char *name, int line, Err *err) {
    size_t bad;
    if (!conll_utf8_valid(s, n, &bad))
        return err_set(err, "%s:%d: invalid UTF-8 or NUL byte at column %zu", name, line, bad + 1);
    const char *f[4];
    size_t fn[4];
    int k = split_fields(s, n, f, fn, 4);
    if (k == 0) {
        close_sentence(b);
        return 0;
    }
    if (fn[0] == 10 && memcmp(f[0], "-DOCSTART-", 10) == 0) {
        close_sentence(b);
        b->c->n_docs++;
        return 0;
    }
    if (k != 4)
        return err_set(err, "%s:%d: expected 4 columns (token POS chunk NER), found %d", name, line, k);
    int label = field_label(f[3], fn[3]);
    if (label < 0)
        return err_set(err, "%s:%d: unknown NER tag '%.*s' (expected O, B-X or I-X with X in PER LOC ORG MISC)",
                       name, line, (int)(fn[3] > 40 ? 40 : fn[3]), f[3]);
    add_token(b, f[0], fn[0], label, line);
    return 0;
}

/* Byte offset of the first CR that is neither part of a CRLF pair nor the
 * last byte, or len. */
static size_t lone_cr(const char *buf, size_t len) {
    for (size_t i = 0; i + 1 < len; i++)
        if (buf[i] == '\r' && buf[i + 1] != '\n') return i;
    return len;
}

int conll_check_line_ends(const char *buf, size_t len, const char *name, Err *err) {
    size_t cr = lone_cr(buf, len);
    if (cr == len) return 0;
    int ln = 1;
    for (size_t i = 0; i < cr; i++) ln += buf[i] == '\n';
    return err_set(err, "%s:%d: a carriage return (byte %zu) not followed by a line feed: lines must end "
                        "in \\n or \\r\\n (convert old Mac CR-only line ends)", name, ln, cr);
}

int conll_parse(const char *buf, size_t len, const char *name, ConllCorpus *out, Err *err) {
    memset(out, 0, sizeof *out);
    size_t pos = 0;
    if (len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) pos = 3; /* a UTF-8 byte-order mark is not text */
    if (conll_check_line_ends(buf, len, name, err)) return -1;
    out->arena = xmalloc(len + 1);
    Builder b = {.c = out, .open_start = -1};
    int line = 0;
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        int rc = line == INT_MAX ? err_set(err, "%s: more than %d lines", name, INT_MAX)
                                 : parse_line(&b, buf + pos, end - pos, name, ++line, err);
        if (rc != 0) {
            conll_free(out);
            return -1;
        }
        pos = end + 1;
    }
    close_sentence(&b);
    return 0;
}

int conll_load(const char *path, ConllCorpus *out, Err *err) {
    size_t len;
    memset(out, 0, sizeof *out);
    char *buf = read_file_all(path, &len, err);
    if (!buf) return -1;
    int rc = conll_parse(buf, len, path, out, err);
    free(buf);
    return rc;
}

void conll_free(ConllCorpus *c) {
    free(c->words);
    free(c->tag_iob1);
    free(c->tag_iob2);
    free(c->sents);
    free(c->arena);
    memset(c, 0, sizeof *c);
}

/* ---- BERT featurisation ------------------------------------------------ */

/* WordPiece ids of every word of one sentence, concatenated: the pieces of
 * word w are ids[off[w] .. off[w+1]). */
typedef struct {
    int *ids, *off;
    int cap_ids, cap_words;
} SentencePieces;

static void push_id(SentencePieces *sp, int n, int id) {
    if (n == sp->cap_ids) {
        sp->cap_ids = sp->cap_ids ? 2 * sp->cap_ids : 256;
        sp->ids = xrealloc(sp->ids, (size_t)sp->cap_ids * sizeof *sp->ids);
    }
    sp->ids[n] = id;
}

/* Tokenize each word of sentence k on its own. A word with no pieces (only
 * characters BERT's cleaner removes) becomes one [UNK]. */
static int tokenize_sentence(const ConllCorpus *c, int k, const Vocab *v, SentencePieces *sp,
                             WpTokens *tmp, NerFeatures *f, Err *err) {
    const ConllSentence *st = &c->sents[k];
    if (st->n + 1 > sp->cap_words) {
        sp->cap_words = st->n + 1;
        sp->off = xrealloc(sp->off, (size_t)sp->cap_words * sizeof *sp->off);
    }
    int n = 0;
    for (int w = 0; w < st->n; w++) {
        const char *word = c->words[st->start + w];
        tmp->n = 0;
        Err inner;
        if (wordpiece_tokenize(v, word, strlen(word), tmp, &inner) != 0)
            return err_set(err, "line %d (word %d of its sentence): %s", st->line + w, w + 1, inner.msg);
        sp->off[w] = n;
        for (int i = 0; i < tmp->n; i++) push_id(sp, n++, tmp->tok[i].id);
        if (tmp->n == 0) push_id(sp, n++, vocab_unk_id(v)), f->n_empty_words++;
        f->n_pieces += tmp->n;
    }
    sp->off[st->n] = n;
    return 0;
}

static void grow_windows(NerFeatures *f, int *cap) {
    if (f->n < *cap) return;
    *cap = *cap ? 2 * *cap : 1024;
    size_t row = (size_t)*cap * (size_t)f->max_seq * sizeof(int);
    f->ids = xrealloc(f->ids, row);
    f->types = xrealloc(f->types, row);
    f->mask = xrealloc(f->mask, row);
    f->labels = xrealloc(f->labels, row);
    f->word_of = xrealloc(f->word_of, row);
    f->sent = xrealloc(f->sent, (size_t)*cap * sizeof(int));
    f->first_word = xrealloc(f->first_word, (size_t)*cap * sizeof(int));
    f->n_words = xrealloc(f->n_words, (size_t)*cap * sizeof(int));
}

/* Pieces of word w that go into a window (cut to max_seq-2 if needed). */
static int word_pieces(const SentencePieces *sp, int w, int room) {
    int np = sp->off[w + 1] - sp->off[w];
    return np < room ? np : room;
}

/* Write one window [CLS] words w0..w1-1 [SEP] [PAD]... as row f->n. */
static void emit_window(const ConllCorpus *c, int k, const SentencePieces *sp, int w0, int w1,
                        const Vocab *v, NerFeatures *f) {
    int S = f->max_seq, room = S - 2;
    size_t r = (size_t)f->n * S;
    int t = 0;
    f->ids[r + t] = vocab_cls_id(v), f->labels[r + t] = NER_IGNORE_LABEL, f->word_of[r + t++] = -1;
    for (int w = w0; w < w1; w++) {
        int np = word_pieces(sp, w, room);
        for (int i = 0; i < np; i++, t++) {
            f->ids[r + t] = sp->ids[sp->off[w] + i];
            f->labels[r + t] = i == 0 ? c->tag_iob2[c->sents[k].start + w] : NER_IGNORE_LABEL;
            f->word_of[r + t] = i == 0 ? w : -1;
        }
    }
    f->ids[r + t] = vocab_sep_id(v), f->labels[r + t] = NER_IGNORE_LABEL, f->word_of[r + t++] = -1;
    for (int i = 0; i < S; i++) {
        f->types[r + i] = 0;
        f->mask[r + i] = i < t;
        if (i >= t) f->ids[r + i] = vocab_pad_id(v), f->labels[r + i] = NER_IGNORE_LABEL, f->word_of[r + i] = -1;
    }
    f->sent[f->n] = k, f->first_word[f->n] = w0, f->n_words[f->n] = w1 - w0;
    f->n++;
}

/* Greedy packing: each window takes as many whole words as fit in
 * max_seq-2 pieces (at least one word, cut if it alone is too long). */
static void window_sentence(const ConllCorpus *c, int k, const SentencePieces *sp, const Vocab *v,
                            NerFeatures *f, int *cap) {
    int nw = c->sents[k].n, room = f->max_seq - 2, windows = 0;
    for (int w0 = 0; w0 < nw;) {
        int used = 0, w1 = w0;
        while (w1 < nw && (w1 == w0 || used + (sp->off[w1 + 1] - sp->off[w1]) <= room)) {
            if (sp->off[w1 + 1] - sp->off[w1] > room) f->n_truncated_words++;
            used += word_pieces(sp, w1, room);
            w1++;
        }
        grow_windows(f, cap);
        emit_window(c, k, sp, w0, w1, v, f);
        windows++;
        w0 = w1;
    }
    f->n_multi_window_sentences += windows > 1;
}

int ner_featurize(const ConllCorpus *c, const Vocab *v, int max_seq, NerFeatures *f, Err *err) {
    memset(f, 0, sizeof *f);
    if (max_seq < 3) return err_set(err, "ner_featurize: max_seq %d < 3", max_seq);
    f->max_seq = max_seq;
    SentencePieces sp = {0};
    WpTokens tmp = {0};
    int cap = 0, rc = 0;
    for (int k = 0; k < c->n_sentences && rc == 0; k++) {
        rc = tokenize_sentence(c, k, v, &sp, &tmp, f, err);
        if (rc == 0) window_sentence(c, k, &sp, v, f, &cap);
    }
    free(sp.ids);
    free(sp.off);
    wptokens_free(&tmp);
    if (rc != 0) ner_features_free(f);
    return rc;
}

void ner_features_free(NerFeatures *f) {
    free(f->ids);
    free(f->types);
    free(f->mask);
    free(f->labels);
    free(f->word_of);
    free(f->sent);
    free(f->first_word);
    free(f->n_words);
    memset(f, 0, sizeof *f);
}

/* tokenizer.c — BERT uncased WordPiece, equal to Hugging Face's
 * BertTokenizerFast(do_lower_case=True): AddedVocabulary (special tokens) +
 * BertNormalizer + BertPreTokenizer + WordPiece.
 *
 * Pipeline for one text (all Unicode data from libutf8proc):
 *   0. decode UTF-8 into code points (reject invalid input with its offset);
 *   1. split out literal special tokens "[PAD]" "[UNK]" "[CLS]" "[SEP]"
 *      "[MASK]" (case-sensitive, matched in the raw text, as HF does);
 *   2. normalise each other segment code point by code point, remembering for
 *      every normalised code point the original one it came from:
 *        - drop U+0000, U+FFFD and "other" chars (Cc Cf Co Cs) except \t\n\r,
 *        - whitespace (\t \n \r, Zs Zl Zp) becomes a word break,
 *        - CJK ideographs become words of their own,
 *        - NFD, drop nonspacing marks (Mn), then lower-case (HF's order);
 *   3. words = maximal runs between whitespace; every punctuation char
 *      (ASCII 33-47 58-64 91-96 123-126 or Unicode P*) is its own word;
 *   4. WordPiece: greedy longest-match-first, "##" continuations, a word of
 *      more than 100 normalised code points or with no full cover -> [UNK].
 * Offsets of a token covering normalised chars [a, b) are the original span
 * from the start of orig[a] to the end of orig[b-1] — HF's alignment rule. */
#include "tokenizer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define WP_MAX_WORD_CHARS 100
#define WP_MAX_DECOMP 32 /* longest canonical decomposition is 4 code points */

/* ------------------------------------------------------------------ vocab */

struct Vocab {
    char **tok;        /* id -> NUL-terminated token */
    int *len;          /* id -> byte length */
    int n;             /* number of tokens */
    int *slot;         /* open-addressing table of ids, -1 = empty */
    uint32_t mask;     /* table size - 1 (power of two) */
    int max_len;       /* longest token in bytes (bounds the match loop) */
    int pad, unk, cls, sep, mask_id;
    int lower;         /* lower-case the text (do_lower_case) */
    int strip_accents; /* drop Mn marks after NFD */
};

/* FNV-1a over the bytes of prefix then s (prefix may be NULL). Hashing the
 * "##" prefix separately lets WordPiece look up "##" + piece without copying. */
static uint32_t fnv1a(const char *prefix, size_t plen, const char *s, size_t len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < plen; i++) h = (h ^ (uint8_t)prefix[i]) * 16777619u;
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

/* id of prefix+s (prefix may be NULL), -1 if absent. */
static int vocab_find(const Vocab *v, const char *prefix, size_t plen, const char *s, size_t len) {
    uint32_t i = fnv1a(prefix, plen, s, len) & v->mask;
    for (;; i = (i + 1) & v->mask) {
        int id = v->slot[i];
        if (id < 0) return -1;
        if ((size_t)v->len[id] == plen + len && (plen == 0 || memcmp(v->tok[id], prefix, plen) == 0) &&
            memcmp(v->tok[id] + plen, s, len) == 0)
            return id;
    }
}

static void vocab_build_table(Vocab *v) {
    uint32_t size = 16;
    while (size < (uint32_t)v->n * 2u) size <<= 1;
    v->mask = size - 1;
    v->slot = xmalloc(size * sizeof(int));
    for (uint32_t i = 0; i < size; i++) v->slot[i] = -1;
    for (int id = 0; id < v->n; id++) {
        /* first occurrence wins for duplicate lines (HF keeps the last;
         * bert-base-uncased has no duplicates) */
        if (vocab_find(v, NULL, 0, v->tok[id], (size_t)v->len[id]) >= 0) continue;
        uint32_t i = fnv1a(NULL, 0, v->tok[id], (size_t)v->len[id]) & v->mask;
        while (v->slot[i] >= 0) i = (i + 1) & v->mask;
        v->slot[i] = id;
        if (v->len[id] > v->max_len) v->max_len = v->len[id];
    }
}

/* Byte offset of the first invalid UTF-8 sequence in s[0..len), or -1. */
static long utf8_invalid_at(const char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k =
            utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &cp);
        if (k <= 0) return (long)i;
        i += (size_t)k;
    }
    return -1;
}

/* Append one vocab line (without its newline; a trailing \r is dropped). */
static int vocab_add_line(Vocab *v, int *cap, const char *path, int lineno, const char *s,
                          size_t len, Err *err) {
    if (len > 0 && s[len - 1] == '\r') len--;
    long bad = utf8_invalid_at(s, len);
    if (bad >= 0)
        return err_set(err, "%s:%d: invalid UTF-8 at byte %ld of the line", path, lineno, bad);
    if (len > 1000) return err_set(err, "%s:%d: token longer than 1000 bytes", path, lineno);
    if (v->n == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        v->tok = xrealloc(v->tok, (size_t)*cap * sizeof(char *));
        v->len = xrealloc(v->len, (size_t)*cap * sizeof(int));
    }
    char *t = xmalloc(len + 1);
    memcpy(t, s, len);
    t[len] = '\0';
    v->tok[v->n] = t;
    v->len[v->n] = (int)len;
    v->n++;
    return 0;
}

static int vocab_parse(Vocab *v, const char *path, const char *buf, size_t n, Err *err) {
    int cap = 0, lineno = 0;
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(buf + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - buf) : n;
        lineno++;
        if (memchr(buf + i, '\0', end - i))
            return err_set(err, "%s:%d: NUL byte in token", path, lineno);
        if (vocab_add_line(v, &cap, path, lineno, buf + i, end - i, err)) return -1;
        i = end + 1;
    }
    return 0;
}

static int vocab_require_specials(Vocab *v, const char *path, Err *err) {
    static const char *names[4] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]"};
    int *ids[4] = {&v->pad, &v->unk, &v->cls, &v->sep};
    for (int k = 0; k < 4; k++) {
        *ids[k] = vocab_id(v, names[k]);
        if (*ids[k] < 0)
            return err_set(err, "%s: vocab has no %s token (%d lines)", path, names[k], v->n);
    }
    v->mask_id = vocab_id(v, "[MASK]");
    return 0;
}

Vocab *vocab_load(const char *path, Err *err) {
    size_t n = 0;
    char *buf = read_file_all(path, &n, err);
    if (!buf) return NULL;
    Vocab *v = xcalloc(1, sizeof *v);
    v->lower = v->strip_accents = 1;
    int rc = vocab_parse(v, path, buf, n, err);
    free(buf);
    if (rc == 0 && v->n == 0) rc = err_set(err, "%s: empty vocab", path);
    if (rc == 0) vocab_build_table(v);
    if (rc == 0) rc = vocab_require_specials(v, path, err);
    if (rc != 0) {
        vocab_free(v);
        return NULL;
    }
    return v;
}

void vocab_free(Vocab *v) {
    if (!v) return;
    for (int i = 0; i < v->n; i++) free(v->tok[i]);
    free(v->tok);
    free(v->len);
    free(v->slot);
    free(v);
}

int vocab_size(const Vocab *v) { return v->n; }

int vocab_id(const Vocab *v, const char *token) {
    if (!v->slot) return -1;
    return vocab_find(v, NULL, 0, token, strlen(token));
}

const char *vocab_token(const Vocab *v, int id) {
    return id >= 0 && id < v->n ? v->tok[id] : NULL;
}

void vocab_set_case(Vocab *v, int lower, int strip_accents) {
    v->lower = lower != 0;
    v->strip_accents = strip_accents < 0 ? v->lower : strip_accents != 0;
}
int vocab_lower_case(const Vocab *v) { return v->lower; }
int vocab_strip_accents(const Vocab *v) { return v->strip_accents; }

int vocab_check_rows(const Vocab *v, const char *path, int V, int exact, Err *err) {
    if (v->n > V || (exact && v->n != V))
        return err_set(err, "%s: %d tokens, but the model has %d embedding rows (vocab_size)%s", path,
                       v->n, V, exact ? "" : ": token ids would fall outside the embedding");
    return 0;
}

int vocab_pad_id(const Vocab *v) { return v->pad; }
int vocab_unk_id(const Vocab *v) { return v->unk; }
int vocab_cls_id(const Vocab *v) { return v->cls; }
int vocab_sep_id(const Vocab *v) { return v->sep; }

/* --------------------------------------------------------------- tokens */

void wptokens_free(WpTokens *t) {
    free(t->tok);
    t->tok = NULL;
    t->n = t->cap = 0;
}

static void wptokens_push(WpTokens *t, WpToken tk) {
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->tok = xrealloc(t->tok, (size_t)t->cap * sizeof(WpToken));
    }
    t->tok[t->n++] = tk;
}

/* ---------------------------------------------------- character classes */

/* BERT's _is_chinese_char: the CJK Unified Ideographs blocks and extensions
 * plus the compatibility ideographs (not Hiragana/Katakana/Hangul). HF
 * tokenizers' Rust copy starts Extension E at 0x2B920 where BERT's Python has
 * 0x2B820; we follow HF (U+2B820..U+2B91F are not split out). */
static int is_cjk(int32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Dropped by clean_text: NUL, U+FFFD, and Cc/Cf/Co/Cs except \t \n \r. */
static int is_dropped(int32_t c) {
    if (c == 0 || c == 0xFFFD) return 1;
    if (c == '\t' || c == '\n' || c == '\r') return 0;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CO ||
           k == UTF8PROC_CATEGORY_CS;
}

/* Whitespace after cleaning (Rust char::is_whitespace minus the Cc ones,
 * which clean_text already removed): \t \n \r and Zs Zl Zp. */
static int is_space(int32_t c) {
    if (c == '\t' || c == '\n' || c == '\r' || c == ' ') return 1;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
}

static int is_punct(int32_t c) {
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
        (c >= 123 && c <= 126))
        return 1;
    if (c < 0x80) return 0;
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

/* ------------------------------------------------------ scratch buffers */

/* Per-call working state: the decoded text and the normalised code points. */
typedef struct {
    int32_t *cp;   /* original code points */
    int *boff;     /* byte offset of each original code point, boff[ncp] = len */
    int ncp;
    int32_t *nc;   /* normalised code points of the current segment */
    int *orig;     /* original code-point index of each normalised one */
    uint8_t *kind; /* NK_* class of each normalised code point */
    int nn, ncap;
    char *wbuf;    /* UTF-8 bytes of the current word */
    int *wbyte;    /* byte offset of each char of the word in wbuf */
    int wcap;
    int lower, strip; /* the vocab's do_lower_case / strip_accents */
} Scratch;

enum { NK_PLAIN = 0, NK_SPACE = 1, NK_ALONE = 2 }; /* ALONE: punctuation or CJK */

static void scratch_free(Scratch *s) {
    free(s->cp);
    free(s->boff);
    free(s->nc);
    free(s->orig);
    free(s->kind);
    free(s->wbuf);
    free(s->wbyte);
}

static int decode_text(Scratch *s, const char *text, size_t len, Err *err) {
    if (len > (size_t)INT32_MAX / 2) return err_set(err, "text of %zu bytes is too long", len);
    s->cp = xmalloc((len + 1) * sizeof(int32_t));
    s->boff = xmalloc((len + 1) * sizeof(int));
    size_t i = 0;
    int n = 0;
    while (i < len) {
        if ((uint8_t)text[i] < 0x80) { /* ASCII fast path */
            s->cp[n] = (uint8_t)text[i];
            s->boff[n++] = (int)i++;
            continue;
        }
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)text + i,
                                              (utf8proc_ssize_t)(len - i), &c);
        if (k <= 0) return err_set(err, "invalid UTF-8 at byte offset %zu", i);
        s->cp[n] = c;
        s->boff[n] = (int)i;
        n++;
        i += (size_t)k;
    }
    s->boff[n] = (int)len;
    s->ncp = n;
    return 0;
}

static void push_norm(Scratch *s, int32_t c, int orig, int kind) {
    if (s->nn == s->ncap) {
        s->ncap = s->ncap ? s->ncap * 2 : 256;
        s->nc = xrealloc(s->nc, (size_t)s->ncap * sizeof(int32_t));
        s->orig = xrealloc(s->orig, (size_t)s->ncap * sizeof(int));
        s->kind = xrealloc(s->kind, (size_t)s->ncap);
    }
    s->nc[s->nn] = c;
    s->orig[s->nn] = orig;
    s->kind[s->nn] = (uint8_t)kind;
    s->nn++;
}

/* ASCII fast path of normalize_char (same result, no table lookups). */
static void normalize_ascii(Scratch *s, int i, int32_t c) {
    if (c == '\t' || c == '\n' || c == '\r' || c == ' ') {
        push_norm(s, ' ', i, NK_SPACE);
    } else if (c >= 0x20 && c != 0x7F) { /* other C0 controls and DEL: dropped */
        if (s->lower && c >= 'A' && c <= 'Z') c += 'a' - 'A';
        push_norm(s, c, i, is_punct(c) ? NK_ALONE : NK_PLAIN);
    }
}

/* Normalise original code point i: NFD, drop Mn, lower-case, classify (the
 * cased variant: neither NFD nor Mn dropping nor lower-casing, as HF's
 * BertNormalizer with lowercase=False and strip_accents unset). */
static void normalize_char(Scratch *s, int i) {
    int32_t c = s->cp[i];
    if (c < 0x80) {
        normalize_ascii(s, i, c);
        return;
    }
    if (is_dropped(c)) return;
    if (is_space(c)) {
        push_norm(s, ' ', i, NK_SPACE);
        return;
    }
    int cjk = is_cjk(c);
    if (!s->strip) {
        int32_t low = s->lower ? utf8proc_tolower(c) : c;
        push_norm(s, low, i, cjk || is_punct(low) ? NK_ALONE : NK_PLAIN);
        return;
    }
    utf8proc_int32_t d[WP_MAX_DECOMP];
    int last_bound = 0;
    utf8proc_ssize_t nd = utf8proc_decompose_char(c, d, WP_MAX_DECOMP, UTF8PROC_DECOMPOSE, &last_bound);
    if (nd < 0 || nd > WP_MAX_DECOMP) {
        d[0] = c;
        nd = 1;
    }
    for (int k = 0; k < nd; k++) {
        if (utf8proc_category(d[k]) == UTF8PROC_CATEGORY_MN) continue;
        int32_t low = s->lower ? utf8proc_tolower(d[k]) : d[k];
        push_norm(s, low, i, cjk || is_punct(low) ? NK_ALONE : NK_PLAIN);
    }
}

/* --------------------------------------------------------------- WordPiece */

static void word_bytes(Scratch *s, int a, int b) {
    int need = (b - a) * 4 + 1;
    if (need > s->wcap) {
        s->wcap = need * 2;
        s->wbuf = xrealloc(s->wbuf, (size_t)s->wcap);
        s->wbyte = xrealloc(s->wbyte, (size_t)s->wcap * sizeof(int));
    }
    int pos = 0;
    for (int k = a; k < b; k++) {
        s->wbyte[k - a] = pos;
        pos += (int)utf8proc_encode_char(s->nc[k], (utf8proc_uint8_t *)s->wbuf + pos);
    }
    s->wbyte[b - a] = pos;
}

static WpToken make_token(const Scratch *s, int id, int a, int b, int word) {
    /* normalised chars [a, b) -> original code points [orig[a], orig[b-1]+1) */
    WpToken t;
    t.id = id;
    t.cstart = s->orig[a];
    t.cend = s->orig[b - 1] + 1;
    t.start = s->boff[t.cstart];
    t.end = s->boff[t.cend];
    t.word = word;
    return t;
}

/* Greedy longest-match-first over normalised chars [a, b). Appends the pieces,
 * or a single [UNK] spanning the word when some position has no match. */
static void wordpiece_word(const Vocab *v, Scratch *s, int a, int b, int word, WpTokens *out) {
    int n = b - a;
    if (n > WP_MAX_WORD_CHARS) {
        wptokens_push(out, make_token(s, v->unk, a, b, word));
        return;
    }
    word_bytes(s, a, b);
    int first = out->n;
    for (int start = 0; start < n;) {
        int id = -1, end = n;
        for (; end > start; end--) {
            int blen = s->wbyte[end] - s->wbyte[start];
            if (blen + (start > 0 ? 2 : 0) > v->max_len) continue;
            id = vocab_find(v, start > 0 ? "##" : NULL, start > 0 ? 2 : 0, s->wbuf + s->wbyte[start],
                            (size_t)blen);
            if (id >= 0) break;
        }
        if (id < 0) {
            out->n = first;
            wptokens_push(out, make_token(s, v->unk, a, b, word));
            return;
        }
        wptokens_push(out, make_token(s, id, a + start, a + end, word));
        start = end;
    }
}

/* Split the normalised segment into words and WordPiece each. */
static void tokenize_segment(const Vocab *v, Scratch *s, int *word, WpTokens *out) {
    int i = 0;
    while (i < s->nn) {
        if (s->kind[i] == NK_SPACE) {
            i++;
            continue;
        }
        int j = i + 1;
        if (s->kind[i] != NK_ALONE)
            while (j < s->nn && s->kind[j] == NK_PLAIN) j++;
        wordpiece_word(v, s, i, j, (*word)++, out);
        i = j;
    }
}

/* Length of the special token starting at original code point i, or 0. */
static int special_at(const Vocab *v, const Scratch *s, int i, int *id) {
    static const char *names[5] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    if (s->cp[i] != '[') return 0;
    for (int k = 0; k < 5; k++) {
        int len = (int)strlen(names[k]);
        if (i + len > s->ncp) continue;
        int m = 0;
        while (m < len && s->cp[i + m] == (int32_t)(uint8_t)names[k][m]) m++;
        if (m < len) continue;
        *id = vocab_id(v, names[k]);
        if (*id >= 0) return len;
    }
    return 0;
}

int wordpiece_tokenize(const Vocab *v, const char *text, size_t len, WpTokens *out, Err *err) {
    Scratch s;
    memset(&s, 0, sizeof s);
    s.lower = v->lower;
    s.strip = v->strip_accents;
    if (decode_text(&s, text, len, err)) {
        scratch_free(&s);
        return -1;
    }
    int word = 0, i = 0;
    while (i <= s.ncp) {
        int id = -1, sl = i < s.ncp ? special_at(v, &s, i, &id) : 0;
        if (sl == 0 && i < s.ncp) {
            normalize_char(&s, i++);
            continue;
        }
        tokenize_segment(v, &s, &word, out); /* flush text before the special */
        s.nn = 0;
        if (sl == 0) break;                  /* end of text */
        WpToken t = {id, s.boff[i], s.boff[i + sl], i, i + sl, word++};
        wptokens_push(out, t);
        i += sl;
    }
    scratch_free(&s);
    return 0;
}

/* tokenizer.c — BERT uncased WordPiece, equal to Hugging Face's
 * BertTokenizerFast(do_lower_case=True): AddedVocabulary (special tokens) +
 * BertNormalizer + BertPreTokenizer + WordPiece.
 *
 * Pipeline for one text (Unicode data from libutf8proc, except the code
 * points where HF's older tables say otherwise: tokenizer_hf_rules.h):
 *   0. decode UTF-8 into code points (reject invalid input with its offset);
 *   1. split out literal special tokens "[PAD]" "[UNK]" "[CLS]" "[SEP]"
 *      "[MASK]" (case-sensitive, matched in the raw text, as HF does);
 *   2. normalise each other segment code point by code point, remembering for
 *      every normalised code point the original one it came from:
 *        - drop U+0000, U+FFFD and "other" chars (Cc Cf Co Cs) except \t\n\r,
 *        - whitespace (\t \n \r, Zs Zl Zp) becomes a word break,
 *        - CJK ideographs become words of their own,
 *        - NFD (with canonical reordering of the marks over the segment),
 *          drop nonspacing marks (Mn), then lower-case (HF's order);
 *   3. words = maximal runs between whitespace; every punctuation char
 *      (ASCII 33-47 58-64 91-96 123-126 or Unicode P*) is its own word;
 *   4. WordPiece: greedy longest-match-first, "##" continuations, a word of
 *      more than 100 normalised code points or with no full cover -> [UNK].
 * Offsets of a token covering normalised chars [a, b) are the original span
 * from the start of orig[a] to the end of orig[b-1] — HF's alignment rule. */
#include "tokenizer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer_hf_rules.h" /* HF_CHAR_RULES (generated) */

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
    int hf_rules;      /* apply HF_CHAR_RULES (0: utf8proc's tables alone) */
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
        /* a token listed twice maps to its LAST line, as Hugging Face's
         * WordPiece vocab (a map filled line by line) does; id -> token
         * still gives the token for both lines */
        uint32_t i = fnv1a(NULL, 0, v->tok[id], (size_t)v->len[id]) & v->mask;
        while (v->slot[i] >= 0 && !(v->len[v->slot[i]] == v->len[id] &&
                                    memcmp(v->tok[v->slot[i]], v->tok[id], (size_t)v->len[id]) == 0))
            i = (i + 1) & v->mask;
        v->slot[i] = id;
        if (v->len[id] > v->max_len) v->max_len = v->len[id];
    }
}

/* Append one vocab line (without its newline; a trailing \r is dropped). */
static int vocab_add_line(Vocab *v, int *cap, const char *path, int lineno, const char *s,
                          size_t len, Err *err) {
    if (len > 0 && s[len - 1] == '\r') len--;
    long bad = utf8_first_invalid(s, len);
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
    v->lower = v->strip_accents = v->hf_rules = 1;
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
void vocab_set_hf_rules(Vocab *v, int on) { v->hf_rules = on != 0; }

const char *tokenizer_unicode_info(void) {
    static char buf[256];
    int n = (int)(sizeof HF_CHAR_RULES / sizeof HF_CHAR_RULES[0]);
    const char *ver = utf8proc_version();
    int same = strcmp(ver, HF_RULES_UTF8PROC_VERSION) == 0;
    snprintf(buf, sizeof buf, "utf8proc %s (Unicode %s), %d HF rules from tokenizers %s%s%s%s", ver,
             utf8proc_unicode_version(), n, HF_RULES_TOKENIZERS_VERSION,
             same ? "" : " made against utf8proc ", same ? "" : HF_RULES_UTF8PROC_VERSION,
             same ? "" : " (check with reference/unicode_check.py)");
    return buf;
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

/* Hugging Face's own rule for c where its Unicode tables differ from
 * utf8proc's (tokenizer_hf_rules.h), or NULL: binary search by code point. */
static const HfCharRule *hf_rule(int32_t c) {
    size_t lo = 0, hi = sizeof HF_CHAR_RULES / sizeof HF_CHAR_RULES[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (HF_CHAR_RULES[mid].cp < c) lo = mid + 1;
        else hi = mid;
    }
    return lo < sizeof HF_CHAR_RULES / sizeof HF_CHAR_RULES[0] && HF_CHAR_RULES[lo].cp == c
               ? &HF_CHAR_RULES[lo]
               : NULL;
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
    uint8_t *ccc;  /* its canonical combining class (0: a starter) */
    uint8_t *first; /* canonical_reorder: the first component of its char */
    int *pos;       /* canonical_reorder: original positions of a run */
    int nn, ncap;
    char *wbuf;    /* UTF-8 bytes of the current word */
    int *wbyte;    /* byte offset of each char of the word in wbuf */
    int wcap;
    int lower, strip; /* the vocab's do_lower_case / strip_accents */
    int hf_rules;     /* the vocab's hf_rules */
} Scratch;

/* ALONE: punctuation or CJK (a word of its own); MARK: a nonspacing mark
 * that strip_accents removes once the marks are in canonical order. */
enum { NK_PLAIN = 0, NK_SPACE = 1, NK_ALONE = 2, NK_MARK = 3 };

static void scratch_free(Scratch *s) {
    free(s->cp);
    free(s->boff);
    free(s->nc);
    free(s->orig);
    free(s->kind);
    free(s->ccc);
    free(s->first);
    free(s->pos);
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

static void push_norm(Scratch *s, int32_t c, int orig, int kind, int ccc) {
    if (s->nn == s->ncap) {
        s->ncap = s->ncap ? s->ncap * 2 : 256;
        s->nc = xrealloc(s->nc, (size_t)s->ncap * sizeof(int32_t));
        s->orig = xrealloc(s->orig, (size_t)s->ncap * sizeof(int));
        s->kind = xrealloc(s->kind, (size_t)s->ncap);
        s->ccc = xrealloc(s->ccc, (size_t)s->ncap);
        s->first = xrealloc(s->first, (size_t)s->ncap);
        s->pos = xrealloc(s->pos, (size_t)s->ncap * sizeof(int));
    }
    s->nc[s->nn] = c;
    s->orig[s->nn] = orig;
    s->kind[s->nn] = (uint8_t)kind;
    s->ccc[s->nn] = (uint8_t)ccc;
    s->nn++;
}

/* ASCII fast path of normalize_char (same result, no table lookups). */
static void normalize_ascii(Scratch *s, int i, int32_t c) {
    if (c == '\t' || c == '\n' || c == '\r' || c == ' ') {
        push_norm(s, ' ', i, NK_SPACE, 0);
    } else if (c >= 0x20 && c != 0x7F) { /* other C0 controls and DEL: dropped */
        if (s->lower && c >= 'A' && c <= 'Z') c += 'a' - 'A';
        push_norm(s, c, i, is_punct(c) ? NK_ALONE : NK_PLAIN, 0);
    }
}

/* One code point after NFD by utf8proc's tables: a mark to strip, or kept
 * (lower-cased when the vocab is uncased). cjk: it came from a CJK char. */
static void push_component(Scratch *s, int32_t c, int i, int cjk) {
    int ccc = utf8proc_get_property(c)->combining_class;
    if (s->strip && utf8proc_category(c) == UTF8PROC_CATEGORY_MN) {
        push_norm(s, c, i, NK_MARK, ccc);
        return;
    }
    int32_t low = s->lower ? utf8proc_tolower(c) : c;
    push_norm(s, low, i, cjk || is_punct(low) ? NK_ALONE : NK_PLAIN, ccc);
}

/* A code point with its own HF rule: HF's class, lower case and ccc. */
static void push_by_rule(Scratch *s, const HfCharRule *r, int i, int cjk) {
    int32_t c = s->lower ? r->lower : r->cp;
    switch (r->cls) {
    case HF_DROP: return;
    case HF_SPACE: push_norm(s, ' ', i, NK_SPACE, 0); return;
    case HF_MARK: push_norm(s, c, i, s->strip ? NK_MARK : cjk ? NK_ALONE : NK_PLAIN, r->ccc); return;
    case HF_PUNCT: push_norm(s, c, i, NK_ALONE, r->ccc); return;
    default: push_norm(s, c, i, cjk ? NK_ALONE : NK_PLAIN, r->ccc); return;
    }
}

/* Normalise original code point i: HF's own rule where its Unicode tables
 * differ from utf8proc's, else clean (drop controls), whitespace, then with
 * strip_accents NFD into components (marks dropped later, in
 * finish_segment), lower-case and classify. Cased vocabs (lowercase=False,
 * strip_accents unset) skip NFD and lower-casing, as HF's BertNormalizer. */
static void normalize_char(Scratch *s, int i) {
    int32_t c = s->cp[i];
    if (c < 0x80) {
        normalize_ascii(s, i, c);
        return;
    }
    int cjk = is_cjk(c);
    const HfCharRule *r = s->hf_rules ? hf_rule(c) : NULL;
    if (r) {
        push_by_rule(s, r, i, cjk);
        return;
    }
    if (is_dropped(c)) return;
    if (is_space(c)) {
        push_norm(s, ' ', i, NK_SPACE, 0);
        return;
    }
    if (!s->strip) {
        int32_t low = s->lower ? utf8proc_tolower(c) : c;
        push_norm(s, low, i, cjk || is_punct(low) ? NK_ALONE : NK_PLAIN, 0);
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
        const HfCharRule *rk = s->hf_rules ? hf_rule(d[k]) : NULL;
        if (rk) push_by_rule(s, rk, i, cjk);
        else push_component(s, d[k], i, cjk);
    }
}

/* Stable insertion sort of items [a, b) by ccc, moving each item's char,
 * kind, ccc and first flag (not its orig). */
static void sort_run_by_ccc(Scratch *s, int a, int b) {
    for (int j = a + 1; j < b; j++)
        for (int k = j; k > a && s->ccc[k - 1] > s->ccc[k]; k--) {
            int32_t c = s->nc[k];
            uint8_t kd = s->kind[k], cc = s->ccc[k], f = s->first[k];
            s->nc[k] = s->nc[k - 1], s->kind[k] = s->kind[k - 1];
            s->ccc[k] = s->ccc[k - 1], s->first[k] = s->first[k - 1];
            s->nc[k - 1] = c, s->kind[k - 1] = kd, s->ccc[k - 1] = cc, s->first[k - 1] = f;
        }
}

/* NFD's canonical ordering: in every run of non-starters (ccc > 0), a stable
 * sort by ccc. Offsets follow HF's alignment rule (measured on
 * tokenizers 0.23: "a" U+0301 U+302E puts U+302E at offset 1, U+00E9 U+302E
 * at offset 1 too): the first component of each original char "consumes"
 * the next original position in output order, the other components of a
 * decomposition are insertions aligned with the item before them. */
static void canonical_reorder(Scratch *s) {
    for (int k = 0; k < s->nn; k++) s->first[k] = k == 0 || s->orig[k - 1] != s->orig[k];
    for (int a = 0; a < s->nn;) {
        if (s->ccc[a] == 0) {
            a++;
            continue;
        }
        int b = a;
        while (b < s->nn && s->ccc[b] > 0) b++;
        /* the original positions consumed in [a, b), ascending before the sort */
        int m = 0;
        for (int k = a; k < b; k++)
            if (s->first[k]) s->pos[m++] = s->orig[k];
        sort_run_by_ccc(s, a, b);
        m = 0;
        for (int k = a; k < b; k++)
            if (s->first[k]) s->orig[k] = s->pos[m++];
            else if (k > 0) s->orig[k] = s->orig[k - 1];
        a = b;
    }
}

/* End of a normalised segment: with strip_accents, order the marks as NFD
 * does, then drop the nonspacing ones (HF: NFD, filter Mn, lower-case). */
static void finish_segment(Scratch *s) {
    if (!s->strip) return;
    canonical_reorder(s);
    int n = 0;
    for (int k = 0; k < s->nn; k++) {
        if (s->kind[k] == NK_MARK) continue;
        s->nc[n] = s->nc[k], s->orig[n] = s->orig[k], s->kind[n] = s->kind[k], s->ccc[n] = s->ccc[k];
        n++;
    }
    s->nn = n;
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

void wpwords_free(WpWords *w) {
    for (int k = 0; k < w->n; k++) free(w->w[k].text);
    free(w->w);
    w->w = NULL;
    w->n = w->cap = 0;
}

static void wpwords_push(WpWords *w, const char *text, size_t len, int cstart, int cend) {
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 64;
        w->w = xrealloc(w->w, (size_t)w->cap * sizeof(WpWord));
    }
    char *t = xmalloc(len + 1);
    memcpy(t, text, len);
    t[len] = '\0';
    w->w[w->n++] = (WpWord){t, cstart, cend};
}

/* Where the words of a text go: WordPiece tokens, or the words themselves. */
typedef struct {
    WpTokens *tokens;
    WpWords *words;
} Sink;

/* Normalised chars [a, b) are one word: WordPiece it, or keep it whole. */
static void emit_word(const Vocab *v, Scratch *s, int a, int b, int word, Sink *out) {
    if (out->tokens) {
        wordpiece_word(v, s, a, b, word, out->tokens);
        return;
    }
    word_bytes(s, a, b);
    wpwords_push(out->words, s->wbuf, (size_t)s->wbyte[b - a], s->orig[a], s->orig[b - 1] + 1);
}

/* Split the normalised segment into words and emit each. */
static void tokenize_segment(const Vocab *v, Scratch *s, int *word, Sink *out) {
    int i = 0;
    while (i < s->nn) {
        if (s->kind[i] == NK_SPACE) {
            i++;
            continue;
        }
        int j = i + 1;
        if (s->kind[i] != NK_ALONE)
            while (j < s->nn && s->kind[j] == NK_PLAIN) j++;
        emit_word(v, s, i, j, (*word)++, out);
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

/* Special tokens, normalisation, pre-tokenisation; each word to out. */
static int split_text(const Vocab *v, const char *text, size_t len, Sink *out, Err *err) {
    Scratch s;
    memset(&s, 0, sizeof s);
    s.lower = v->lower;
    s.strip = v->strip_accents;
    s.hf_rules = v->hf_rules;
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
        finish_segment(&s);
        tokenize_segment(v, &s, &word, out); /* flush text before the special */
        s.nn = 0;
        if (sl == 0) break;                  /* end of text */
        if (out->tokens) {
            WpToken t = {id, s.boff[i], s.boff[i + sl], i, i + sl, word};
            wptokens_push(out->tokens, t);
        } else {
            wpwords_push(out->words, text + s.boff[i], (size_t)(s.boff[i + sl] - s.boff[i]), i, i + sl);
        }
        word++;
        i += sl;
    }
    scratch_free(&s);
    return 0;
}

int wordpiece_tokenize(const Vocab *v, const char *text, size_t len, WpTokens *out, Err *err) {
    Sink sink = {out, NULL};
    return split_text(v, text, len, &sink, err);
}

int wordpiece_words(const Vocab *v, const char *text, size_t len, WpWords *out, Err *err) {
    Sink sink = {NULL, out};
    return split_text(v, text, len, &sink, err);
}

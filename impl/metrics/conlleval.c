/* conlleval.c — conlleval.pl's chunk scoring, see conlleval.h. */
#include "conlleval.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>


/* ---- type interning (FNV-1a hash, open addressing) --------------------- */

static unsigned long hash_bytes(const char *s, size_t n) {
    unsigned long h = 1469598103934665603UL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211UL;
    return h;
}

static int name_equals(const char *name, const char *s, size_t n) {
    return strncmp(name, s, n) == 0 && name[n] == '\0';
}

static void rehash(Conlleval *ce, int new_cap) {
    free(ce->hash);
    ce->hash = xcalloc((size_t)new_cap, sizeof *ce->hash);
    ce->hash_cap = new_cap;
    for (int i = 0; i < ce->n_types; i++) {
        const char *nm = ce->types[i].name;
        size_t slot = hash_bytes(nm, strlen(nm)) & (size_t)(new_cap - 1);
        while (ce->hash[slot]) slot = (slot + 1) & (size_t)(new_cap - 1);
        ce->hash[slot] = i + 1;
    }
}

/* Index of the type named s[0..n), added on first sight. */
static int intern_type(Conlleval *ce, const char *s, size_t n) {
    if (2 * (ce->n_types + 1) > ce->hash_cap) rehash(ce, ce->hash_cap ? 2 * ce->hash_cap : 16);
    size_t mask = (size_t)ce->hash_cap - 1, slot = hash_bytes(s, n) & mask;
    for (; ce->hash[slot]; slot = (slot + 1) & mask)
        if (name_equals(ce->types[ce->hash[slot] - 1].name, s, n)) return ce->hash[slot] - 1;
    if (ce->n_types == ce->cap_types) {
        ce->cap_types = ce->cap_types ? 2 * ce->cap_types : 8;
        ce->types = xrealloc(ce->types, (size_t)ce->cap_types * sizeof *ce->types);
    }
    ConllevalType *t = &ce->types[ce->n_types];
    memset(t, 0, sizeof *t);
    t->name = xmalloc(n + 1);
    memcpy(t->name, s, n);
    t->name[n] = '\0';
    ce->hash[slot] = ++ce->n_types;
    return ce->n_types - 1;
}

void conlleval_init(Conlleval *ce) {
    memset(ce, 0, sizeof *ce);
    ce->last_correct = ce->last_guessed = CT_O;
    ce->last_correct_type = ce->last_guessed_type = intern_type(ce, "", 0);
}

void conlleval_free(Conlleval *ce) {
    for (int i = 0; i < ce->n_types; i++) free(ce->types[i].name);
    free(ce->types);
    free(ce->hash);
    memset(ce, 0, sizeof *ce);
}

/* ---- conlleval.pl's rules ---------------------------------------------- */

static ChunkTag classify(const char *s, size_t n) {
    if (n != 1) return CT_OTHER;
    switch (s[0]) {
    case 'B': return CT_B;
    case 'I': return CT_I;
    case 'E': return CT_E;
    case 'O': return CT_O;
    case '.': return CT_DOT;
    case '[': return CT_LBRACKET;
    case ']': return CT_RBRACKET;
    default: return CT_OTHER;
    }
}

/* endOfChunk(prevTag, tag, prevType, type): did a chunk end between the
 * previous and the current token? */
static int end_of_chunk(ChunkTag prev, ChunkTag cur, int prev_type, int type) {
    int end = 0;
    if (prev == CT_B && (cur == CT_B || cur == CT_O)) end = 1;
    if (prev == CT_I && (cur == CT_B || cur == CT_O)) end = 1;
    if (prev == CT_E && (cur == CT_E || cur == CT_I || cur == CT_O)) end = 1;
    if (prev != CT_O && prev != CT_DOT && prev_type != type) end = 1;
    if (prev == CT_RBRACKET || prev == CT_LBRACKET) end = 1; /* length-1 chunks */
    return end;
}

/* startOfChunk(prevTag, tag, prevType, type): did a chunk start here? */
static int start_of_chunk(ChunkTag prev, ChunkTag cur, int prev_type, int type) {
    int start = 0;
    if (cur == CT_B && (prev == CT_B || prev == CT_I || prev == CT_O)) start = 1;
    if (prev == CT_O && (cur == CT_I || cur == CT_E)) start = 1;
    if (prev == CT_E && (cur == CT_E || cur == CT_I)) start = 1;
    if (cur != CT_O && cur != CT_DOT && prev_type != type) start = 1;
    if (cur == CT_LBRACKET || cur == CT_RBRACKET) start = 1;
    return start;
}

/* Split a tag at its first '-' (Perl: /^([^-]*)-(.*)$/): the chunk tag and
 * the interned type. Perl's `$type ? $type : ""` also turns "0" into "". */
static void split_tag(Conlleval *ce, const char *tag, size_t n, ChunkTag *chunk, int *type,
                      const char **chunk_s, size_t *chunk_n) {
    const char *dash = memchr(tag, '-', n);
    size_t cn = dash ? (size_t)(dash - tag) : n;
    const char *ts = dash ? dash + 1 : tag + n;
    size_t tn = dash ? n - cn - 1 : 0;
    if (tn == 1 && ts[0] == '0') tn = 0;
    *chunk = classify(tag, cn);
    *type = intern_type(ce, ts, tn);
    *chunk_s = tag;
    *chunk_n = cn;
}

/* One line of conlleval.pl's main loop. is_boundary: the line is a sentence
 * break (its tags are "O O" and it is not counted as a token). */
static void process(Conlleval *ce, const char *gold, size_t gn, const char *pred, size_t pn,
                    int is_boundary) {
    ChunkTag cor, gue;
    int ctype, gtype;
    const char *cs, *gs;
    size_t cn, gsn;
    split_tag(ce, gold, gn, &cor, &ctype, &cs, &cn);
    split_tag(ce, pred, pn, &gue, &gtype, &gs, &gsn);
    if (is_boundary) gue = CT_O, gs = "O", gsn = 1;

    if (ce->in_correct) {
        int end_c = end_of_chunk(ce->last_correct, cor, ce->last_correct_type, ctype);
        int end_g = end_of_chunk(ce->last_guessed, gue, ce->last_guessed_type, gtype);
        if (end_c && end_g && ce->last_guessed_type == ce->last_correct_type) {
            ce->in_correct = 0;
            ce->correct_chunks++;
            ce->types[ce->last_correct_type].correct++;
        } else if (end_c != end_g || gtype != ctype) {
            ce->in_correct = 0;
        }
    }
    int start_c = start_of_chunk(ce->last_correct, cor, ce->last_correct_type, ctype);
    int start_g = start_of_chunk(ce->last_guessed, gue, ce->last_guessed_type, gtype);
    if (start_c && start_g && gtype == ctype) ce->in_correct = 1;
    if (start_c) ce->found_correct++, ce->types[ctype].found_correct++;
    if (start_g) ce->found_guessed++, ce->types[gtype].found_guessed++;
    if (!is_boundary) {
        /* $correct eq $guessed compares the full chunk-tag strings */
        if (cn == gsn && memcmp(cs, gs, cn) == 0 && gtype == ctype) ce->correct_tags++;
        ce->tokens++;
    }
    ce->last_correct = cor, ce->last_guessed = gue;
    ce->last_correct_type = ctype, ce->last_guessed_type = gtype;
}

void conlleval_add(Conlleval *ce, const char *gold, const char *pred) {
    process(ce, gold, strlen(gold), pred, strlen(pred), 0);
}

void conlleval_add_ids(Conlleval *ce, int gold, int pred) {
    const char *g = gold >= 0 && gold < CONLL_NUM_LABELS ? CONLL_LABELS[gold] : "O";
    const char *p = pred >= 0 && pred < CONLL_NUM_LABELS ? CONLL_LABELS[pred] : "O";
    conlleval_add(ce, g, p);
}

void conlleval_boundary(Conlleval *ce) { process(ce, "O", 1, "O", 1, 1); }

void conlleval_finish(Conlleval *ce) {
    if (ce->finished) return;
    ce->finished = 1;
    if (ce->in_correct) {
        ce->correct_chunks++;
        ce->types[ce->last_correct_type].correct++;
        ce->in_correct = 0;
    }
}

/* ---- reading files ----------------------------------------------------- */

typedef struct {
    int n;                  /* columns on the line */
    const char *first;      /* first column */
    size_t first_n;
    const char *col[2];     /* last two columns */
    size_t col_n[2];
} LineCols;

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r'; }

static void split_columns(const char *s, size_t n, LineCols *lc) {
    memset(lc, 0, sizeof *lc);
    size_t i = 0;
    while (i < n) {
        while (i < n && is_space(s[i])) i++;
        if (i == n) break;
        size_t b = i;
        while (i < n && !is_space(s[i])) i++;
        if (lc->n == 0) lc->first = s + b, lc->first_n = i - b;
        lc->col[0] = lc->col[1], lc->col_n[0] = lc->col_n[1];
        lc->col[1] = s + b, lc->col_n[1] = i - b;
        lc->n++;
    }
}

static int handle_line(Conlleval *ce, const LineCols *lc, int *ncols, const char *name, long line,
                       Err *err) {
    if (lc->n == 0) {
        conlleval_boundary(ce);
        return 0;
    }
    if (*ncols == 0) *ncols = lc->n;
    if (lc->n != *ncols)
        return err_set(err, "%s:%ld: unexpected number of columns: %d (the first line had %d)", name,
                       line, lc->n, *ncols);
    if (lc->n < 2)
        return err_set(err, "%s:%ld: need at least 2 columns (gold and predicted tag), found %d", name,
                       line, lc->n);
    if (lc->first_n == 3 && memcmp(lc->first, "-X-", 3) == 0) {
        conlleval_boundary(ce);
        return 0;
    }
    /* only the tags are read (and become type names in the report and the
     * JSON): the other columns may hold any bytes, as for conlleval.pl */
    for (int k = 0; k < 2; k++) {
        size_t bad;
        if (!conll_utf8_valid(lc->col[k], lc->col_n[k], &bad))
            return err_set(err, "%s:%ld: the %s tag (column %d) has invalid UTF-8 or a NUL byte at its byte %zu",
                           name, line, k ? "predicted" : "gold", lc->n - 1 + k, bad + 1);
    }
    process(ce, lc->col[0], lc->col_n[0], lc->col[1], lc->col_n[1], 0);
    return 0;
}

int conlleval_parse(Conlleval *ce, const char *buf, size_t len, const char *name, Err *err) {
    if (conll_check_line_ends(buf, len, name, err)) return -1; /* one "line" would hide many */
    int ncols = 0;
    long line = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        line++;
        LineCols lc;
        split_columns(buf + pos, end - pos, &lc);
        if (handle_line(ce, &lc, &ncols, name, line, err) != 0) return -1;
        pos = end + 1;
    }
    conlleval_finish(ce);
    return 0;
}

int conlleval_file(Conlleval *ce, const char *path, Err *err) {
    size_t len;
    char *buf = read_file_all(path, &len, err);
    if (!buf) return -1;
    int rc = conlleval_parse(ce, buf, len, path, err);
    free(buf);
    return rc;
}

/* ---- scores and reports ------------------------------------------------ */

/* precision = 100 c / g, recall = 100 c / f, FB1 = 2 p r / (p + r), each 0
 * when its denominator is 0 (the Perl script's defaults). */
static PRF prf(long correct, long guessed, long gold) {
    PRF s = {0, 0, 0};
    if (guessed > 0) s.precision = 100.0 * (double)correct / (double)guessed;
    if (gold > 0) s.recall = 100.0 * (double)correct / (double)gold;
    if (s.precision + s.recall > 0) s.f1 = 2 * s.precision * s.recall / (s.precision + s.recall);
    return s;
}

PRF conlleval_overall(const Conlleval *ce) {
    return prf(ce->correct_chunks, ce->found_guessed, ce->found_correct);
}

double conlleval_accuracy(const Conlleval *ce) {
    return ce->tokens > 0 ? 100.0 * (double)ce->correct_tags / (double)ce->tokens : 0.0;
}

PRF conlleval_type_scores(const ConllevalType *t) {
    return prf(t->correct, t->found_guessed, t->found_correct);
}

static int cmp_type_names(const void *a, const void *b, void *types) {
    const ConllevalType *t = types;
    return strcmp(t[*(const int *)a].name, t[*(const int *)b].name);
}

int *conlleval_report_types(const Conlleval *ce, int *n) {
    int *idx = xmalloc((size_t)(ce->n_types + 1) * sizeof *idx);
    *n = 0;
    for (int i = 0; i < ce->n_types; i++)
        if (ce->types[i].found_correct > 0 || ce->types[i].found_guessed > 0) idx[(*n)++] = i;
    qsort_r(idx, (size_t)*n, sizeof *idx, cmp_type_names, ce->types);
    return idx;
}

double conlleval_macro_f1(const Conlleval *ce) {
    int n;
    int *idx = conlleval_report_types(ce, &n);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += conlleval_type_scores(&ce->types[idx[i]]).f1;
    free(idx);
    return n > 0 ? sum / n : 0.0;
}

static void print_type_line(const ConllevalType *t, FILE *f) {
    PRF s = conlleval_type_scores(t);
    fprintf(f, "%17s: precision: %6.2f%%; recall: %6.2f%%; FB1: %6.2f  %ld\n", t->name, s.precision,
            s.recall, s.f1, t->found_guessed);
}

void conlleval_print_report(const Conlleval *ce, FILE *f) {
    PRF s = conlleval_overall(ce);
    fprintf(f, "processed %ld tokens with %ld phrases; found: %ld phrases; correct: %ld.\n", ce->tokens,
            ce->found_correct, ce->found_guessed, ce->correct_chunks);
    if (ce->tokens > 0)
        fprintf(f, "accuracy: %6.2f%%; precision: %6.2f%%; recall: %6.2f%%; FB1: %6.2f\n",
                conlleval_accuracy(ce), s.precision, s.recall, s.f1);
    int n;
    int *idx = conlleval_report_types(ce, &n);
    for (int i = 0; i < n; i++) {
        const ConllevalType *t = &ce->types[idx[i]];
        print_type_line(t, f);
        /* Perl's dedup `not($lastType) or $lastType ne $i` lets a falsy ""
         * through twice when it is a key of both hashes. */
        if (t->name[0] == '\0' && t->found_correct > 0 && t->found_guessed > 0) print_type_line(t, f);
    }
    free(idx);
}

static void add_scores(cJSON *obj, PRF s) {
    cJSON_AddNumberToObject(obj, "precision", s.precision);
    cJSON_AddNumberToObject(obj, "recall", s.recall);
    cJSON_AddNumberToObject(obj, "f1", s.f1);
}

char *conlleval_json(const Conlleval *ce) {
    cJSON *root = cJSON_CreateObject();
    add_scores(root, conlleval_overall(ce));
    cJSON_AddNumberToObject(root, "accuracy", conlleval_accuracy(ce));
    cJSON *per = cJSON_AddObjectToObject(root, "per_type");
    int n;
    int *idx = conlleval_report_types(ce, &n);
    for (int i = 0; i < n; i++) {
        const ConllevalType *t = &ce->types[idx[i]];
        cJSON *o = cJSON_AddObjectToObject(per, t->name);
        add_scores(o, conlleval_type_scores(t));
        cJSON_AddNumberToObject(o, "support", (double)t->found_correct);
        cJSON_AddNumberToObject(o, "found", (double)t->found_guessed);
        cJSON_AddNumberToObject(o, "correct", (double)t->correct);
    }
    free(idx);
    cJSON_AddNumberToObject(root, "macro_f1", conlleval_macro_f1(ce));
    cJSON_AddNumberToObject(root, "tokens", (double)ce->tokens);
    cJSON_AddNumberToObject(root, "phrases_gold", (double)ce->found_correct);
    cJSON_AddNumberToObject(root, "phrases_found", (double)ce->found_guessed);
    cJSON_AddNumberToObject(root, "phrases_correct", (double)ce->correct_chunks);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!s) die("out of memory printing JSON");
    return s;
}

/* ---- corpus statistics (the data layer has no chunk rules) --------------- */

void conll_stats(const ConllCorpus *c, ConllStats *s) {
    memset(s, 0, sizeof *s);
    s->documents = c->n_docs;
    s->sentences = c->n_sentences;
    s->tokens = c->n_tokens;
    /* Entities = gold chunks by conlleval's rules (gold = pred = IOB1 tags). */
    Conlleval ce;
    conlleval_init(&ce);
    for (int k = 0; k < c->n_sentences; k++) {
        const ConllSentence *st = &c->sents[k];
        for (int i = st->start; i < st->start + st->n; i++)
            conlleval_add_ids(&ce, c->tag_iob1[i], c->tag_iob1[i]);
        conlleval_boundary(&ce);
    }
    conlleval_finish(&ce);
    s->entities = ce.found_correct;
    for (int i = 0; i < ce.n_types; i++)
        for (int t = 0; t < CONLL_NUM_TYPES; t++)
            if (strcmp(ce.types[i].name, CONLL_TYPES[t]) == 0) s->per_type[t] = ce.types[i].found_correct;
    conlleval_free(&ce);
}

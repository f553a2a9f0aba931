/* squad.c — SQuAD JSON loading with path-precise validation, and the
 * predictions file. Featurisation (run_qa windows) is in squad_feat.c. */
#include "squad.h"

#include "jsonr.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- parse context: file name, error, JSON path ------------------------ */

typedef struct {
    const char *name;
    Err *err;
    SquadDataset *ds;
    int cap_ex, cap_ctx, cap_art;
} Parser;

static const char *json_type_name(const cJSON *j) {
    if (!j) return "nothing";
    if (cJSON_IsString(j)) return "string";
    if (cJSON_IsNumber(j)) return "number";
    if (cJSON_IsArray(j)) return "array";
    if (cJSON_IsObject(j)) return "object";
    if (cJSON_IsBool(j)) return "boolean";
    if (cJSON_IsNull(j)) return "null";
    return "invalid value";
}

enum { J_STRING, J_NUMBER, J_ARRAY, J_OBJECT, J_BOOL };
static const char *const KIND_NAMES[] = {"string", "number", "array", "object", "boolean"};

static int kind_matches(const cJSON *j, int kind) {
    switch (kind) {
    case J_STRING: return cJSON_IsString(j) && j->valuestring;
    case J_NUMBER: return cJSON_IsNumber(j);
    case J_ARRAY: return cJSON_IsArray(j);
    case J_OBJECT: return cJSON_IsObject(j);
    default: return cJSON_IsBool(j);
    }
}

/* Field `key` of object obj at JSON path `path`, which must have the given
 * kind. Missing and optional: returns NULL with *bad = 0. Missing and
 * required, or of the wrong kind: NULL, *bad = 1, err filled. */
static const cJSON *field(Parser *ps, const cJSON *obj, const char *path, const char *key,
                          int kind, int required, int *bad) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    *bad = 0;
    if (!j) {
        if (!required) return NULL;
        *bad = 1;
        err_set(ps->err, "%s: %s%s%s: missing", ps->name, path, *path ? "." : "", key);
        return NULL;
    }
    if (!kind_matches(j, kind)) {
        *bad = 1;
        err_set(ps->err, "%s: %s%s%s: expected %s, got %s", ps->name, path, *path ? "." : "", key,
                KIND_NAMES[kind], json_type_name(j));
        return NULL;
    }
    return j;
}

static const cJSON *need(Parser *ps, const cJSON *obj, const char *path, const char *key, int kind) {
    int bad;
    return field(ps, obj, path, key, kind, 1, &bad);
}

/* ---- growing the dataset ----------------------------------------------- */

static SquadExample *new_example(Parser *ps) {
    SquadDataset *ds = ps->ds;
    if (ds->n_examples == ps->cap_ex) {
        ps->cap_ex = ps->cap_ex ? 2 * ps->cap_ex : 1024;
        ds->ex = xrealloc(ds->ex, (size_t)ps->cap_ex * sizeof *ds->ex);
    }
    SquadExample *e = &ds->ex[ds->n_examples++];
    memset(e, 0, sizeof *e);
    return e;
}

static SquadContext *new_context(Parser *ps) {
    SquadDataset *ds = ps->ds;
    if (ds->n_contexts == ps->cap_ctx) {
        ps->cap_ctx = ps->cap_ctx ? 2 * ps->cap_ctx : 256;
        ds->ctx = xrealloc(ds->ctx, (size_t)ps->cap_ctx * sizeof *ds->ctx);
    }
    SquadContext *c = &ds->ctx[ds->n_contexts++];
    memset(c, 0, sizeof *c);
    return c;
}

static void add_title(Parser *ps, const char *title) {
    SquadDataset *ds = ps->ds;
    if (ds->n_articles == ps->cap_art) {
        ps->cap_art = ps->cap_art ? 2 * ps->cap_art : 64;
        ds->titles = xrealloc(ds->titles, (size_t)ps->cap_art * sizeof *ds->titles);
    }
    ds->titles[ds->n_articles++] = xstrdup(title);
}

/* ---- the four levels: answers, qas, paragraphs, articles --------------- */

/* Byte offset of code point `cp` of s (UTF-8, nbytes long). */
static size_t cp_to_byte(const char *s, size_t nbytes, int cp) {
    size_t b = 0;
    for (int k = 0; b < nbytes; b++) {
        if (((unsigned char)s[b] & 0xC0) != 0x80) {
            if (k == cp) return b;
            k++;
        }
    }
    return nbytes;
}

/* The official loaders' rule: context[answer_start : answer_start + len(text)] == text. */
static int answer_aligned(const SquadContext *c, int start, const char *text) {
    size_t b = cp_to_byte(c->text, (size_t)c->nbytes, start), n = strlen(text);
    return b + n <= (size_t)c->nbytes && memcmp(c->text + b, text, n) == 0;
}

/* answer_start must be a whole number; for gold answers the span must also
 * lie inside the context, and the text must not be empty. A gold answer
 * whose text is not the context at answer_start is kept (its span follows
 * answer_start, as in run_qa.py) and counted in ds->n_misaligned. */
static int parse_answer(Parser *ps, const cJSON *a, const char *path, const SquadContext *c,
                        int check_range, SquadAnswer *out) {
    if (!cJSON_IsObject(a))
        return err_set(ps->err, "%s: %s: expected object, got %s", ps->name, path, json_type_name(a));
    const cJSON *text = need(ps, a, path, "text", J_STRING);
    if (!text) return -1;
    const cJSON *st = need(ps, a, path, "answer_start", J_NUMBER);
    if (!st) return -1;
    double v = st->valuedouble;
    if (!(v >= 0 && v <= 2147483647.0) || v != floor(v))
        return err_set(ps->err, "%s: %s.answer_start: expected a non-negative integer, got %g", ps->name,
                       path, v);
    int len = utf8_count_cp(text->valuestring, strlen(text->valuestring));
    if (check_range && len == 0)
        return err_set(ps->err, "%s: %s.text: empty answer (a gold answer must be a span of the context)",
                       ps->name, path);
    if (check_range && (long)v + len > c->ncp)
        return err_set(ps->err,
                       "%s: %s.answer_start: %d + answer length %d is past the end of the context "
                       "(%d code points)",
                       ps->name, path, (int)v, len, c->ncp);
    if (check_range && !answer_aligned(c, (int)v, text->valuestring)) ps->ds->n_misaligned++;
    out->text = xstrdup(text->valuestring);
    out->answer_start = (int)v;
    out->length = len;
    return 0;
}

static int parse_answer_list(Parser *ps, const cJSON *arr, const char *path, const char *key,
                             const SquadContext *c, int check_range, SquadAnswer **out, int *n) {
    int count = cJSON_GetArraySize(arr);
    *out = count ? xcalloc((size_t)count, sizeof **out) : NULL;
    *n = 0;
    char sub[160]; /* sizes grow per level so that no path can be truncated */
    const cJSON *a;
    cJSON_ArrayForEach(a, arr) {
        snprintf(sub, sizeof sub, "%s.%s[%d]", path, key, *n);
        if (parse_answer(ps, a, sub, c, check_range, &(*out)[*n])) return -1;
        (*n)++;
    }
    return 0;
}

static int parse_question(Parser *ps, const cJSON *q, const char *path, int ctx_index) {
    if (!cJSON_IsObject(q))
        return err_set(ps->err, "%s: %s: expected object, got %s", ps->name, path, json_type_name(q));
    const cJSON *id = need(ps, q, path, "id", J_STRING);
    const cJSON *question = id ? need(ps, q, path, "question", J_STRING) : NULL;
    const cJSON *answers = question ? need(ps, q, path, "answers", J_ARRAY) : NULL;
    if (!answers) return -1;
    int bad;
    const cJSON *imp = field(ps, q, path, "is_impossible", J_BOOL, 0, &bad);
    if (bad) return -1;
    const cJSON *plaus = field(ps, q, path, "plausible_answers", J_ARRAY, 0, &bad);
    if (bad) return -1;

    SquadExample *e = new_example(ps);
    e->context = ctx_index;
    e->id = xstrdup(id->valuestring);
    e->question = xstrdup(question->valuestring);
    e->is_impossible = imp && cJSON_IsTrue(imp);
    if (imp) ps->ds->is_v2 = 1;
    const SquadContext *c = &ps->ds->ctx[ctx_index];
    if (parse_answer_list(ps, answers, path, "answers", c, 1, &e->answers, &e->n_answers)) return -1;
    if (plaus && parse_answer_list(ps, plaus, path, "plausible_answers", c, 0, &e->plausible,
                                   &e->n_plausible))
        return -1;
    return 0;
}

static int parse_paragraph(Parser *ps, const cJSON *p, const char *path, int article) {
    if (!cJSON_IsObject(p))
        return err_set(ps->err, "%s: %s: expected object, got %s", ps->name, path, json_type_name(p));
    const cJSON *context = need(ps, p, path, "context", J_STRING);
    const cJSON *qas = context ? need(ps, p, path, "qas", J_ARRAY) : NULL;
    if (!qas) return -1;
    if (!*context->valuestring)
        return err_set(ps->err, "%s: %s.context: empty (questions need a paragraph to answer from)", ps->name, path);
    SquadContext *c = new_context(ps);
    int ctx_index = ps->ds->n_contexts - 1;
    c->text = xstrdup(context->valuestring);
    c->nbytes = (int)strlen(c->text);
    c->ncp = utf8_count_cp(c->text, (size_t)c->nbytes);
    c->article = article;
    char sub[96];
    int k = 0;
    const cJSON *q;
    cJSON_ArrayForEach(q, qas) {
        snprintf(sub, sizeof sub, "%s.qas[%d]", path, k++);
        if (parse_question(ps, q, sub, ctx_index)) return -1;
    }
    return 0;
}

static int parse_article(Parser *ps, const cJSON *art, const char *path) {
    if (!cJSON_IsObject(art))
        return err_set(ps->err, "%s: %s: expected object, got %s", ps->name, path, json_type_name(art));
    int bad;
    const cJSON *title = field(ps, art, path, "title", J_STRING, 0, &bad);
    if (bad) return -1;
    const cJSON *paras = need(ps, art, path, "paragraphs", J_ARRAY);
    if (!paras) return -1;
    add_title(ps, title ? title->valuestring : "");
    char sub[64];
    int k = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, paras) {
        snprintf(sub, sizeof sub, "%s.paragraphs[%d]", path, k++);
        if (parse_paragraph(ps, p, sub, ps->ds->n_articles - 1)) return -1;
    }
    return 0;
}

static int parse_root(Parser *ps, const cJSON *root) {
    if (!cJSON_IsObject(root))
        return err_set(ps->err, "%s: top level: expected object, got %s", ps->name, json_type_name(root));
    int bad;
    const cJSON *version = field(ps, root, "", "version", J_STRING, 0, &bad);
    if (bad) return -1;
    const cJSON *data = need(ps, root, "", "data", J_ARRAY);
    if (!data) return -1;
    if (version) {
        snprintf(ps->ds->version, sizeof ps->ds->version, "%s", version->valuestring);
        const char *v = version->valuestring;
        if (!strncmp(v, "v2", 2) || !strncmp(v, "2", 1)) ps->ds->is_v2 = 1;
    }
    char sub[32];
    int k = 0;
    const cJSON *art;
    cJSON_ArrayForEach(art, data) {
        snprintf(sub, sizeof sub, "data[%d]", k++);
        if (parse_article(ps, art, sub)) return -1;
    }
    return 0;
}

static int cmp_example_id(const void *a, const void *b) {
    const SquadExample *x = *(const SquadExample *const *)a, *y = *(const SquadExample *const *)b;
    return strcmp(x->id, y->id);
}

/* Predictions and the scorer key questions by id: ids must be unique. */
/* SQuAD v1.1 has no unanswerable questions (the official script would divide
 * by the empty gold list): in a file that is not v2.0 (no "is_impossible",
 * version not 2.x) every question needs a gold answer. */
static int check_answerable(const SquadDataset *ds, const char *name, Err *err) {
    if (ds->is_v2) return 0;
    for (int i = 0; i < ds->n_examples; i++)
        if (ds->ex[i].n_answers == 0)
            return err_set(err, "%s: question id '%s' (#%d) has no answers, but this is a SQuAD v1.1 file "
                                "(no \"is_impossible\", version '%s'); v1.1 has no unanswerable questions "
                                "(mark it \"is_impossible\": true for v2.0)",
                           name, ds->ex[i].id, i, ds->version[0] ? ds->version : "none");
    return 0;
}

static int check_unique_ids(const SquadDataset *ds, const char *name, Err *err) {
    if (ds->n_examples < 2) return 0;
    const SquadExample **by_id = xmalloc((size_t)ds->n_examples * sizeof *by_id);
    for (int i = 0; i < ds->n_examples; i++) by_id[i] = &ds->ex[i];
    qsort(by_id, (size_t)ds->n_examples, sizeof *by_id, cmp_example_id);
    int rc = 0;
    for (int i = 1; i < ds->n_examples && rc == 0; i++)
        if (!strcmp(by_id[i]->id, by_id[i - 1]->id))
            rc = err_set(err, "%s: question id '%.200s' appears more than once (questions #%ld and #%ld); ids "
                              "must be unique (predictions and scores are keyed by id)", name, by_id[i]->id,
                         (long)(by_id[i - 1] - ds->ex), (long)(by_id[i] - ds->ex));
    free(by_id);
    return rc;
}

static int squad_parse_nul(const char *buf, size_t len, const char *name, SquadDataset *ds, Err *err) {
    memset(ds, 0, sizeof *ds);
    cJSON *root = jsonr_parse(buf, len, name, 0, err);
    if (!root) return -1;
    Parser ps = {.name = name, .err = err, .ds = ds};
    int rc = parse_root(&ps, root);
    if (rc == 0) rc = check_unique_ids(ds, name, err);
    if (rc == 0) rc = check_answerable(ds, name, err);
    cJSON_Delete(root);
    if (rc) squad_free(ds);
    return rc;
}

int squad_parse(const char *buf, size_t len, const char *name, SquadDataset *ds, Err *err) {
    char *copy = xmalloc(len + 1); /* cJSON wants a terminated string */
    if (len) memcpy(copy, buf, len);
    copy[len] = '\0';
    int rc = squad_parse_nul(copy, len, name, ds, err);
    free(copy);
    return rc;
}

int squad_load(const char *path, SquadDataset *ds, Err *err) {
    memset(ds, 0, sizeof *ds);
    size_t len;
    char *buf = read_file_all(path, &len, err);
    if (!buf) return -1;
    int rc = squad_parse_nul(buf, len, path, ds, err);
    free(buf);
    return rc;
}

static void free_answers(SquadAnswer *a, int n) {
    for (int i = 0; i < n; i++) free(a[i].text);
    free(a);
}

void squad_free(SquadDataset *ds) {
    for (int i = 0; i < ds->n_examples; i++) {
        SquadExample *e = &ds->ex[i];
        free(e->id);
        free(e->question);
        free_answers(e->answers, e->n_answers);
        free_answers(e->plausible, e->n_plausible);
    }
    for (int i = 0; i < ds->n_contexts; i++) free(ds->ctx[i].text);
    for (int i = 0; i < ds->n_articles; i++) free(ds->titles[i]);
    free(ds->ex);
    free(ds->ctx);
    free(ds->titles);
    memset(ds, 0, sizeof *ds);
}

/* ---- predictions file -------------------------------------------------- */

void squad_predictions_init(SquadPredictions *p) { memset(p, 0, sizeof *p); }

void squad_predictions_add(SquadPredictions *p, const char *id, const char *text) {
    /* grow at powers of two: capacity is implied by n */
    if ((p->n & (p->n - 1)) == 0) {
        size_t cap = p->n ? 2 * (size_t)p->n : 1;
        p->id = xrealloc(p->id, cap * sizeof *p->id);
        p->text = xrealloc(p->text, cap * sizeof *p->text);
    }
    p->id[p->n] = xstrdup(id);
    p->text[p->n] = xstrdup(text);
    p->n++;
}

void squad_predictions_free(SquadPredictions *p) {
    for (int i = 0; i < p->n; i++) {
        free(p->id[i]);
        free(p->text[i]);
    }
    free(p->id);
    free(p->text);
    memset(p, 0, sizeof *p);
}

static int predictions_from_json(const char *buf, size_t len, const char *name, SquadPredictions *p,
                                 Err *err) {
    squad_predictions_init(p);
    cJSON *root = jsonr_parse(buf, len, name, 0, err);
    if (!root) return -1;
    if (!cJSON_IsObject(root)) {
        err_set(err, "%s: top level: expected an object {\"id\": \"answer\", ...}, got %s", name,
                json_type_name(root));
        cJSON_Delete(root);
        return -1;
    }
    const cJSON *kv;
    cJSON_ArrayForEach(kv, root) {
        if (!cJSON_IsString(kv) || !kv->valuestring) {
            err_set(err, "%s: \"%.200s\": expected string, got %s", name, kv->string ? kv->string : "",
                    json_type_name(kv));
            cJSON_Delete(root);
            squad_predictions_free(p);
            return -1;
        }
        squad_predictions_add(p, kv->string ? kv->string : "", kv->valuestring);
    }
    cJSON_Delete(root);
    return 0;
}

int squad_predictions_parse(const char *buf, size_t len, const char *name, SquadPredictions *p,
                            Err *err) {
    char *copy = xmalloc(len + 1);
    if (len) memcpy(copy, buf, len);
    copy[len] = '\0';
    int rc = predictions_from_json(copy, len, name, p, err);
    free(copy);
    return rc;
}

int squad_predictions_load(const char *path, SquadPredictions *p, Err *err) {
    squad_predictions_init(p);
    size_t len;
    char *buf = read_file_all(path, &len, err);
    if (!buf) return -1;
    int rc = predictions_from_json(buf, len, path, p, err);
    free(buf);
    return rc;
}

int squad_predictions_write(const char *path, const SquadPredictions *p, Err *err) {
    cJSON *root = cJSON_CreateObject();
    for (int i = 0; i < p->n; i++) cJSON_AddItemToObject(root, p->id[i], cJSON_CreateString(p->text[i]));
    char *txt = cJSON_Print(root);
    cJSON_Delete(root);
    if (!txt) return err_set(err, "%s: out of memory formatting predictions", path);
    size_t n = strlen(txt);
    char *out = xmalloc(n + 2);
    memcpy(out, txt, n);
    out[n] = '\n';
    cJSON_free(txt);
    int rc = atomic_write_file(path, out, n + 1, err);
    free(out);
    return rc;
}

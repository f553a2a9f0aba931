/* jsonr.c — JSON text -> cJSON tree with byte-precise errors (jsonr.h). */
#include "jsonr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int line_of(const char *buf, size_t off) {
    int line = 1;
    for (size_t i = 0; i < off; i++) line += buf[i] == '\n';
    return line;
}

static int hex4(const char *p, size_t avail, unsigned *v) {
    if (avail < 4) return -1;
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        *v = *v * 16 + (unsigned)d;
    }
    return 0;
}

/* The first "\u0000" or lone surrogate escape inside a string literal:
 * its offset in *at and what it is, or NULL. A high surrogate must be
 * followed at once by a "\uDC00".."\uDFFF" escape (JSON's UTF-16 pairs). */
static const char *bad_escape(const char *buf, size_t len, size_t *at) {
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (!in_string) {
            in_string = c == '"';
            continue;
        }
        if (c == '"') {
            in_string = 0;
            continue;
        }
        if (c != '\\' || i + 1 >= len) continue;
        unsigned v, w;
        if (buf[i + 1] != 'u' || hex4(buf + i + 2, len - i - 2, &v)) {
            i++; /* a two-character escape (or one cJSON will refuse) */
            continue;
        }
        *at = i;
        if (v == 0) return "a \\u0000 escape (a NUL character; mtl's strings cannot hold it)";
        if (v >= 0xDC00 && v <= 0xDFFF) return "a lone surrogate escape (a low surrogate with no high one before it)";
        if (v >= 0xD800 && v <= 0xDBFF) {
            if (i + 7 < len && buf[i + 6] == '\\' && buf[i + 7] == 'u' &&
                !hex4(buf + i + 8, len - i - 8, &w) && w >= 0xDC00 && w <= 0xDFFF) {
                i += 11;
                continue;
            }
            return "a lone surrogate escape (a high surrogate not followed by a low one)";
        }
        i += 5;
    }
    return NULL;
}

/* Does the text end inside a string or with objects/arrays left open (the
 * signature of a truncated file)? Only used to word an error message. */
static int json_ends_open(const char *buf, size_t len) {
    long depth = 0;
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_string) {
            if (c == '\\') i++;
            else if (c == '"') in_string = 0;
        } else if (c == '"') in_string = 1;
        else if (c == '{' || c == '[') depth++;
        else if (c == '}' || c == ']') depth--;
    }
    return in_string || depth > 0;
}

/* err = "<name>: <what> at byte N (line L)<more>", or without the name and
 * the line for one-line text (name NULL: predict's JSON lines). */
static int fail_at(Err *err, const char *name, const char *buf, size_t off, size_t base,
                   const char *what, const char *more) {
    if (!name) return err_set(err, "%s at byte %zu%s", what, off + base, more);
    return err_set(err, "%s: %s at byte %zu (line %d)%s", name, what, off + base, line_of(buf, off), more);
}

/* Checks that come before cJSON sees the text: UTF-8, NUL, escapes. */
static int check_text(const char *buf, size_t len, const char *name, size_t base, Err *err) {
    long bad = utf8_first_invalid(buf, len);
    if (bad >= 0) return fail_at(err, name, buf, (size_t)bad, base, "invalid UTF-8", "");
    const char *nul = memchr(buf, 0, len);
    if (nul) return fail_at(err, name, buf, (size_t)(nul - buf), base, "NUL byte", "");
    size_t at;
    const char *what = bad_escape(buf, len, &at);
    if (what) return fail_at(err, name, buf, at, base, what, "");
    return 0;
}

/* ---- duplicate keys: refused, since readers disagree on them (Python's json
 * keeps the last value, cJSON's lookup the first) ---- */

static int cmp_key(const void *a, const void *b) {
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* A key that appears twice among o's members, or NULL: pairwise for small
 * objects, through a sorted copy of the member pointers for large ones. */
static const char *duplicate_key(const cJSON *o) {
    size_t n = 0;
    for (const cJSON *c = o->child; c; c = c->next) n++;
    if (n <= 16) {
        for (const cJSON *a = o->child; a; a = a->next)
            for (const cJSON *b = a->next; b; b = b->next)
                if (!strcmp(a->string, b->string)) return a->string;
        return NULL;
    }
    const cJSON **v = xmalloc(n * sizeof *v);
    size_t i = 0;
    for (const cJSON *c = o->child; c; c = c->next) v[i++] = c;
    qsort(v, n, sizeof *v, cmp_key);
    const char *dup = NULL;
    for (i = 1; i < n && !dup; i++)
        if (!strcmp(v[i - 1]->string, v[i]->string)) dup = v[i]->string;
    free(v);
    return dup;
}

/* Put seg in front of the JSON path being built (when it fits). */
static void path_prepend(char *path, size_t cap, const char *seg) {
    size_t ls = strlen(seg), lp = strlen(path);
    if (ls + lp + 1 > cap) return;
    memmove(path + ls, path, lp + 1);
    memcpy(path, seg, ls);
}

/* The JSON path step to child c of j: .key, ["odd key"] or [index]. */
static void path_step(const cJSON *j, const cJSON *c, int index, char *seg, size_t n) {
    if (!cJSON_IsObject(j)) {
        snprintf(seg, n, "[%d]", index);
        return;
    }
    int plain = c->string[0] != '\0' && strspn(c->string, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == strlen(c->string);
    if (plain) snprintf(seg, n, ".%.60s", c->string);
    else snprintf(seg, n, "[\"%.60s\"]", c->string);
}

/* The first object at or below j with a duplicate key: returns the key and
 * writes the object's path below j into path (built from the inside out). */
static const char *find_duplicate(const cJSON *j, char *path, size_t cap) {
    if (!cJSON_IsObject(j) && !cJSON_IsArray(j)) return NULL;
    const char *dup = cJSON_IsObject(j) ? duplicate_key(j) : NULL;
    if (dup) return dup;
    int index = 0;
    for (const cJSON *c = j->child; c; c = c->next, index++) {
        dup = find_duplicate(c, path, cap);
        if (!dup) continue;
        char seg[80];
        path_step(j, c, index, seg, sizeof seg);
        path_prepend(path, cap, seg);
        return dup;
    }
    return NULL;
}

static int check_duplicate_keys(const cJSON *root, const char *name, Err *err) {
    char path[512] = "";
    const char *dup = find_duplicate(root, path, sizeof path);
    if (!dup) return 0;
    const char *why = "(one key twice in an object: readers disagree on which value counts)";
    if (!name) return err_set(err, "duplicate key \"%.100s\" in the object at $%s %s", dup, path, why);
    return err_set(err, "%s: duplicate key \"%.100s\" in the object at $%s %s", name, dup, path, why);
}

cJSON *jsonr_parse(const char *buf, size_t len, const char *name, size_t base, Err *err) {
    if (check_text(buf, len, name, base, err)) return NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (!root) {
        size_t off = end && end >= buf && end <= buf + len ? (size_t)(end - buf) : len;
        char more[128] = "";
        if (json_ends_open(buf, len) || len == 0)
            snprintf(more, sizeof more, ": the text ends at byte %zu inside an open string, object or array (truncated?)",
                     len + base);
        fail_at(err, name, buf, off, base, "invalid JSON", more);
        return NULL;
    }
    size_t off = (size_t)(end - buf);
    while (off < len && is_json_space(buf[off])) off++;
    if (off < len) {
        fail_at(err, name, buf, off, base, "invalid JSON", ": data after the top-level value");
        cJSON_Delete(root);
        return NULL;
    }
    if (check_duplicate_keys(root, name, err)) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

cJSON *jsonr_read_file(const char *path, Err *err) {
    size_t len;
    char *buf = read_file_all(path, &len, err);
    if (!buf) return NULL;
    cJSON *root = jsonr_parse(buf, len, path, 0, err);
    free(buf);
    return root;
}

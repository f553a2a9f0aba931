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

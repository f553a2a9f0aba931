#include "jsonw.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sb_printf(StrBuf *b, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        int n = vsnprintf(b->buf ? b->buf + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) die("sb_printf: bad format");
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)n + 256;
        b->buf = xrealloc(b->buf, b->cap);
    }
}

void sb_free(StrBuf *b) {
    free(b->buf);
    b->buf = NULL;
    b->len = b->cap = 0;
}

void jw_init(JsonW *w) { memset(w, 0, sizeof *w); }

void jw_free(JsonW *w) {
    free(w->buf);
    memset(w, 0, sizeof *w);
}

static void put(JsonW *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(JsonW *w, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        size_t room = w->cap - w->len;
        va_start(ap, fmt);
        int n = vsnprintf(w->buf ? w->buf + w->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) die("jsonw: bad format");
        if ((size_t)n < room) {
            w->len += (size_t)n;
            return;
        }
        w->cap = w->cap * 2 + (size_t)n + 256;
        w->buf = xrealloc(w->buf, w->cap);
    }
}

/* JSON string escaping (RFC 8259): quote, backslash and control characters. */
static void put_string(JsonW *w, const char *s) {
    put(w, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"') put(w, "\\\"");
        else if (*p == '\\') put(w, "\\\\");
        else if (*p == '\n') put(w, "\\n");
        else if (*p == '\t') put(w, "\\t");
        else if (*p == '\r') put(w, "\\r");
        else if (*p < 0x20) put(w, "\\u%04x", *p);
        else put(w, "%c", *p);
    }
    put(w, "\"");
}

/* Separator, newline + indentation, and the key, before any value. */
static void begin_value(JsonW *w, const char *key) {
    if (w->depth > 0) {
        put(w, "%s\n%*s", w->count[w->depth] > 0 ? "," : "", 2 * w->depth, "");
        w->count[w->depth]++;
    }
    if (key && w->depth > 0) {
        put_string(w, key);
        put(w, ": ");
    }
}

static void open_container(JsonW *w, const char *key, char c) {
    begin_value(w, key);
    if (w->depth + 1 >= JW_MAX_DEPTH) die("jsonw: nesting deeper than %d", JW_MAX_DEPTH);
    put(w, "%c", c);
    w->depth++;
    w->count[w->depth] = 0;
    w->close[w->depth] = c == '{' ? '}' : ']';
}

void jw_obj(JsonW *w, const char *key) { open_container(w, key, '{'); }
void jw_arr(JsonW *w, const char *key) { open_container(w, key, '['); }

void jw_end(JsonW *w) {
    if (w->depth == 0) die("jsonw: jw_end without an open container");
    int had_values = w->count[w->depth] > 0;
    char c = w->close[w->depth];
    w->depth--;
    if (had_values) put(w, "\n%*s", 2 * w->depth, "");
    put(w, "%c", c);
}

void jw_str(JsonW *w, const char *key, const char *val) {
    begin_value(w, key);
    if (val) put_string(w, val);
    else put(w, "null");
}

void jw_num(JsonW *w, const char *key, double val) {
    begin_value(w, key);
    if (isfinite(val)) put(w, "%.9g", val);
    else put(w, "null");
}

void jw_int(JsonW *w, const char *key, long long val) {
    begin_value(w, key);
    put(w, "%lld", val);
}

void jw_bool(JsonW *w, const char *key, int val) {
    begin_value(w, key);
    put(w, "%s", val ? "true" : "false");
}

void jw_null(JsonW *w, const char *key) {
    begin_value(w, key);
    put(w, "null");
}

int jw_write_file(JsonW *w, const char *path, Err *err) {
    while (w->depth > 0) jw_end(w);
    put(w, "\n");
    return atomic_write_file(path, w->buf, w->len, err);
}

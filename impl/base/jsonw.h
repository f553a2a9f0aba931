/* jsonw.h — a small streaming JSON writer into a growable buffer, for the
 * run-directory files (config.json, manifest.json, metrics.json, ...).
 * Output is deterministic: two-space indentation, keys in call order,
 * doubles printed with "%.9g" (enough to round-trip a float), NaN/Inf as null.
 *
 *   JsonW w; jw_init(&w);
 *   jw_obj(&w, NULL);            // top-level object
 *   jw_str(&w, "task", "ner");
 *   jw_num(&w, "f1", 91.2);
 *   jw_arr(&w, "seeds"); jw_int(&w, NULL, 1); jw_end(&w);
 *   jw_end(&w);
 *   atomic_write_file(path, w.buf, w.len, err); jw_free(&w);
 */
#ifndef MTL_JSONW_H
#define MTL_JSONW_H

#include <stddef.h>

#include "util.h"

#define JW_MAX_DEPTH 32

typedef struct {
    char *buf;
    size_t len, cap;
    int depth;
    int count[JW_MAX_DEPTH]; /* values written so far at each depth */
    char close[JW_MAX_DEPTH]; /* '}' or ']' that closes each depth */
} JsonW;

void jw_init(JsonW *w);
void jw_free(JsonW *w);

/* Open an object / array (key is NULL at top level or inside arrays). */
void jw_obj(JsonW *w, const char *key);
void jw_arr(JsonW *w, const char *key);
void jw_end(JsonW *w); /* close the innermost object or array */

void jw_str(JsonW *w, const char *key, const char *val); /* val NULL -> null */
void jw_num(JsonW *w, const char *key, double val);
void jw_int(JsonW *w, const char *key, long long val);
void jw_bool(JsonW *w, const char *key, int val);
void jw_null(JsonW *w, const char *key);

/* Close everything still open, add a final newline and write atomically. */
int jw_write_file(JsonW *w, const char *path, Err *err);

/* Append printf-style text to any growable buffer (used by CSV writers). */
typedef struct {
    char *buf;
    size_t len, cap;
} StrBuf;
void sb_printf(StrBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_free(StrBuf *b);

#endif

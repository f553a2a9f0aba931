/* jsonr.h — JSON text in: the one parser entry for every JSON file and line
 * mtl reads (SQuAD, predictions, --config, HF config.json, safetensors
 * headers, run summaries, predict's JSON lines), on top of cJSON.
 *
 * cJSON keeps strings as C strings, so a "\u0000" escape would silently cut a
 * string short ("a\u0000b" read as "a"), and a lone surrogate escape
 * ("\ud800") has no UTF-8 form. Python's json module accepts both; mtl
 * refuses them with their offset, as it refuses invalid UTF-8 and raw NUL
 * bytes, so that no string in the tree differs from the file's. */
#ifndef MTL_JSONR_H
#define MTL_JSONR_H

#include <cJSON.h>
#include <stddef.h>

#include "util.h"

/* Parse buf[0..len) (no terminator needed) as one JSON value followed only by
 * whitespace. On failure NULL and err = "<name>: <what> at byte N (line L)",
 * where N counts from base (e.g. 8 for a safetensors header) and <what> is
 * one of: invalid UTF-8, NUL byte, \u0000 escape, lone surrogate escape,
 * invalid JSON (saying so when the text ends inside an open string, object
 * or array: a truncated file), data after the top-level value; or
 * "<name>: duplicate key "K" in the object at $PATH (...)" when one object
 * has a key twice (Python's json keeps the last value, cJSON the first: mtl
 * refuses the file rather than read another model or dataset than they do);
 * PATH is a JSON path such as $.data[3].paragraphs[0].
 * name NULL (one-line text): "<what> at byte N" without name and line. */
cJSON *jsonr_parse(const char *buf, size_t len, const char *name, size_t base, Err *err);

/* jsonr_parse of a whole file (name = path). */
cJSON *jsonr_read_file(const char *path, Err *err);

#endif

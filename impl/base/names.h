/* names.h — the words of an enumerated choice and their values: one table
 * per enum (the device, the task set, the sampling strategy, the NER
 * decoding, ...) converts a word to its value where an option is parsed
 * (impl/base/opts.h) and the value back to its word where text is written
 * (config.json, manifest.json, the canonical options of a checkpoint,
 * messages). A table is an array ending with {NULL, 0}; several words may
 * share a value (aliases: the first one is the value's name). */
#ifndef MTL_NAMES_H
#define MTL_NAMES_H

#include <stddef.h>

typedef struct {
    const char *name;
    int value;
} EnumName;

/* on = 1, off = 0: the switches (--prepack, --skip-padding) */
extern const EnumName ON_OFF_NAMES[];

/* The first word of t with this value, or "?" when there is none. */
const char *enum_name(const EnumName *t, int value);
/* The value of word (exact, case-sensitive) into *value: 0, or -1 when t lacks it. */
int enum_value(const EnumName *t, const char *word, int *value);
/* The words of t, aliases included, joined by sep and before the last one by
 * last ("a, b or c": sep ", ", last " or "), into buf (truncated to n). */
void enum_list(const EnumName *t, const char *sep, const char *last, char *buf, size_t n);

#endif

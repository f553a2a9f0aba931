/* names.c — enum <-> word tables (names.h). */
#include "names.h"

#include <stdio.h>
#include <string.h>

const EnumName ON_OFF_NAMES[] = {{"on", 1}, {"off", 0}, {NULL, 0}};

const char *enum_name(const EnumName *t, int value) {
    for (; t->name; t++)
        if (t->value == value) return t->name;
    return "?";
}

int enum_value(const EnumName *t, const char *word, int *value) {
    for (; t->name; t++)
        if (!strcmp(t->name, word)) {
            *value = t->value;
            return 0;
        }
    return -1;
}

void enum_list(const EnumName *t, const char *sep, const char *last, char *buf, size_t n) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; t[i].name && used < n; i++) {
        const char *before = i == 0 ? "" : t[i + 1].name ? sep : last;
        int k = snprintf(buf + used, n - used, "%s%s", before, t[i].name);
        if (k < 0) break;
        used += (size_t)k;
    }
}

/* opts.c — the options engine of every subcommand (opts.h). */
#include "opts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- lookup ------------------------------------------------------------- */

/* Names compare with '-' and '_' as the same character. */
static int name_eq(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char x = *a == '_' ? '-' : *a, y = *b == '_' ? '-' : *b;
        if (x != y) return 0;
    }
    return *a == *b;
}

static int spec_index(const OptTable *t, const char *key) {
    if (!strncmp(key, "--", 2)) key += 2;
    for (int i = 0; i < t->n; i++)
        if (name_eq(t->specs[i].name, key)) return i;
    return -1;
}

const OptSpec *opts_find(const OptTable *t, const char *key) {
    int i = spec_index(t, key);
    return i < 0 ? NULL : &t->specs[i];
}

int opts_given(const OptTable *t, const OptArgs *got, const char *name) {
    int i = spec_index(t, name);
    return i >= 0 && got->given[i];
}

/* ---- one value ------------------------------------------------------------ */

static int out_of_range(const OptSpec *s, const char *shown, const char *v, Err *err) {
    return err_set(err, "option %s: '%s' is outside the accepted range [%.10g, %.10g]", shown, v, s->lo, s->hi);
}

static int set_integer(const OptSpec *s, char *field, const char *shown, const char *v, Err *err) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || (errno && errno != ERANGE))
        return err_set(err, "option %s: '%s' is not an integer (accepted range [%.10g, %.10g])", shown, v, s->lo, s->hi);
    if (errno == ERANGE || x < (long long)s->lo || x > (long long)s->hi) return out_of_range(s, shown, v, err);
    if (s->kind == OPT_KIND_INT) *(int *)field = (int)x;
    else if (s->kind == OPT_KIND_LONG) *(long *)field = (long)x;
    else *(long long *)field = x;
    return 0;
}

static int set_number(const OptSpec *s, char *field, const char *shown, const char *v, Err *err) {
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || *end || (errno && errno != ERANGE))
        return err_set(err, "option %s: '%s' is not a number (accepted range [%.10g, %.10g])", shown, v, s->lo, s->hi);
    if (!(d >= s->lo && d <= s->hi)) return out_of_range(s, shown, v, err); /* NaN fails too */
    if (s->kind == OPT_KIND_FLOAT) *(float *)field = (float)d;
    else *(double *)field = d;
    return 0;
}

static int set_flag(char *field, const char *shown, const char *v, Err *err) {
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes")) *(int *)field = 1;
    else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no")) *(int *)field = 0;
    else return err_set(err, "option %s: '%s' is not a boolean (1/0/true/false)", shown, v);
    return 0;
}

static int set_enum(const OptSpec *s, char *field, const char *shown, const char *v, Err *err) {
    if (enum_value(s->names, v, (int *)field) == 0) return 0;
    char words[256];
    enum_list(s->names, ", ", " or ", words, sizeof words);
    return err_set(err, "%s must be %s (got '%s')", shown, words, v);
}

static int set_text(const OptSpec *s, char *field, const char *shown, const char *v, Err *err) {
    size_t len = strlen(v);
    if (len >= s->size) return err_set(err, "option %s: value longer than %zu characters", shown, s->size - 1);
    memcpy(field, v, len + 1);
    return 0;
}

/* Store text v into s's field of dst; shown is the option as the user wrote it. */
static int set_value(const OptSpec *s, void *dst, const char *shown, const char *v, Err *err) {
    char *field = (char *)dst + s->offset;
    switch (s->kind) {
    case OPT_KIND_INT:
    case OPT_KIND_LONG:
    case OPT_KIND_INT64: return set_integer(s, field, shown, v, err);
    case OPT_KIND_FLOAT:
    case OPT_KIND_DOUBLE: return set_number(s, field, shown, v, err);
    case OPT_KIND_TEXT: return set_text(s, field, shown, v, err);
    case OPT_KIND_ARG: *(const char **)field = v; return 0;
    case OPT_KIND_FLAG: return set_flag(field, shown, v, err);
    case OPT_KIND_ENUM: return set_enum(s, field, shown, v, err);
    }
    return err_set(err, "option %s: bad kind", shown);
}

int opts_set(const OptTable *t, void *dst, const char *key, const char *value, Err *err) {
    const OptSpec *s = opts_find(t, key);
    if (!s) return err_set(err, "unknown option '%s' (mtl %s --help lists them)", key, t->cmd);
    if (s->kind == OPT_KIND_ARG) return err_set(err, "option %s: not allowed here", key); /* would point at a freed buffer */
    return set_value(s, dst, key, value, err);
}

/* ---- the command line --------------------------------------------------- */

static int is_help(const char *a) { return !strcmp(a, "--help") || !strcmp(a, "-h"); }

static int add_positional(const OptTable *t, const char *a, OptArgs *got, Err *err) {
    if (got->npos >= t->max_positional || got->npos >= OPTS_MAX_POSITIONAL)
        return err_set(err, "unexpected argument '%s'", a);
    got->pos[got->npos++] = a;
    return 0;
}

/* The option at argv[*i] ("--name", "--name=value"), its value the next argument when it takes one. */
static int parse_option(const OptTable *t, void *dst, int argc, char **argv, int *i, OptArgs *got, Err *err) {
    const char *a = argv[*i], *eq = strchr(a, '=');
    char shown[80];
    size_t len = eq ? (size_t)(eq - a) : strlen(a);
    if (len >= sizeof shown) return err_set(err, "unknown option '%.60s...' (mtl %s --help lists them)", a, t->cmd);
    memcpy(shown, a, len);
    shown[len] = '\0';
    int k = spec_index(t, shown);
    if (k < 0) return err_set(err, "unknown option '%s' (mtl %s --help lists them)", shown, t->cmd);
    const OptSpec *s = &t->specs[k];
    const char *v;
    if (eq) v = eq + 1;
    else if (s->kind == OPT_KIND_FLAG) v = "1";
    else if (*i + 1 < argc) v = argv[++*i];
    else return err_set(err, "option %s needs a value", shown);
    got->given[k] = 1;
    return set_value(s, dst, shown, v, err);
}

int opts_parse(const OptTable *t, void *dst, int argc, char **argv, OptArgs *got, Err *err) {
    OptArgs local;
    if (!got) got = &local;
    memset(got, 0, sizeof *got);
    if (t->n > OPTS_MAX_SPECS) die("mtl %s: %d options, more than OPTS_MAX_SPECS", t->cmd, t->n);
    for (int i = 1; i < argc; i++)
        if (is_help(argv[i])) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc;
        if (a[0] != '-' || !a[1]) rc = add_positional(t, a, got, err);
        else if (a[1] != '-' || !a[2]) rc = err_set(err, "unexpected argument '%s'", a);
        else rc = parse_option(t, dst, argc, argv, &i, got, err);
        if (rc) return -1;
    }
    return 0;
}

int opts_usage_error(const OptTable *t, const char *msg) {
    fprintf(stderr, "mtl %s: %s\n%s   (mtl %s --help for the options)\n", t->cmd, msg, t->synopsis, t->cmd);
    return 2;
}

int opts_command(const OptTable *t, void *dst, int argc, char **argv, OptArgs *got) {
    Err err;
    int rc = opts_parse(t, dst, argc, argv, got, &err);
    if (rc == 1) {
        opts_help(t, dst, stdout);
        return 0;
    }
    return rc ? opts_usage_error(t, err.msg) : -1;
}

/* ---- values as text, --help ----------------------------------------------- */

void opts_format(const OptSpec *s, const void *src, char *buf, size_t n) {
    const char *field = (const char *)src + s->offset;
    switch (s->kind) {
    case OPT_KIND_INT: snprintf(buf, n, "%d", *(const int *)field); break;
    case OPT_KIND_LONG: snprintf(buf, n, "%ld", *(const long *)field); break;
    case OPT_KIND_INT64: snprintf(buf, n, "%lld", *(const long long *)field); break;
    case OPT_KIND_FLOAT: snprintf(buf, n, "%.9g", *(const float *)field); break;
    case OPT_KIND_DOUBLE: snprintf(buf, n, "%.17g", *(const double *)field); break;
    case OPT_KIND_TEXT: snprintf(buf, n, "%s", field); break;
    case OPT_KIND_ARG: snprintf(buf, n, "%s", *(const char *const *)field ? *(const char *const *)field : ""); break;
    case OPT_KIND_FLAG: snprintf(buf, n, "%d", *(const int *)field); break;
    case OPT_KIND_ENUM: snprintf(buf, n, "%s", enum_name(s->names, *(const int *)field)); break;
    }
}

/* 1 when value is one of the values of t (an enum's "none yet" is not). */
static int enum_has(const EnumName *t, int value) {
    for (; t->name; t++)
        if (t->value == value) return 1;
    return 0;
}

/* The default as --help shows it: "" for none (an unset ARG or enum, an int
 * below its range: "not given", which its help explains). */
static void format_default(const OptSpec *s, const void *defaults, char *buf, size_t n) {
    const char *field = (const char *)defaults + s->offset;
    if (s->kind == OPT_KIND_FLAG) snprintf(buf, n, "[%s]", *(const int *)field ? "on" : "off");
    else if (s->kind == OPT_KIND_FLOAT) snprintf(buf, n, "[%g]", *(const float *)field);
    else if (s->kind == OPT_KIND_DOUBLE) snprintf(buf, n, "[%g]", *(const double *)field);
    else if (s->kind == OPT_KIND_ARG && !*(const char *const *)field) buf[0] = '\0';
    else if (s->kind == OPT_KIND_ENUM && !enum_has(s->names, *(const int *)field)) buf[0] = '\0';
    else if (s->kind == OPT_KIND_INT && *(const int *)field < s->lo) buf[0] = '\0'; /* "not given" (its help says what then) */
    else {
        char v[1100];
        opts_format(s, defaults, v, sizeof v);
        snprintf(buf, n, "[%s]", v);
    }
}

static void help_line(const OptSpec *s, const void *defaults, FILE *f) {
    char text[512], def[1200];
    if (s->kind == OPT_KIND_ENUM) {
        char words[256];
        enum_list(s->names, " | ", " | ", words, sizeof words);
        snprintf(text, sizeof text, "%s%s%s", s->help ? s->help : "", s->help && *s->help ? ": " : "", words);
    } else {
        snprintf(text, sizeof text, "%s", s->help ? s->help : "");
    }
    format_default(s, defaults, def, sizeof def);
    fprintf(f, "  --%-18s %s%s%s", s->name, text, def[0] ? " " : "", def);
    int number = s->kind <= OPT_KIND_DOUBLE;
    if (number) fprintf(f, " (%.10g..%.10g)", s->lo, s->hi);
    fputc('\n', f);
}

void opts_help(const OptTable *t, const void *defaults, FILE *f) {
    fprintf(f, "%s\n", t->synopsis);
    if (t->about) fputs(t->about, f);
    if (t->n) fprintf(f, "Options (default in brackets):\n");
    for (int i = 0; i < t->n; i++) help_line(&t->specs[i], defaults, f);
}

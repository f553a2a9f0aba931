/* opts.h — the one options engine of every `mtl` subcommand.
 *
 * A command describes its options in a table of OptSpec (name, kind, the
 * destination field in the command's options struct, range or words, help)
 * and calls opts_command(): one parser for the command line, one --help
 * printer, one set of messages. The same table reads config files
 * (opts_set: key=value text, for `mtl train --config`) and writes values back
 * as text (opts_format: config.json, the canonical options of a checkpoint).
 *
 * Command line: "--name value", "--name=value", "--flag" (an on/off option
 * takes no value, but "--flag=1|0|true|false|yes|no"), "--help" / "-h"
 * anywhere (nothing else is parsed then), and up to max_positional plain
 * arguments ("-" is a plain argument). A later option overrides an earlier
 * one. Names compare with '-' and '_' alike.
 *
 * Every value is checked where it is parsed: numbers against their inclusive
 * range (NaN and infinities fail), choices against their words (names.h: each
 * becomes its enum value here, once). A bad value is an error naming the
 * option and what it accepts:
 *   option --batch: '0' is outside the accepted range [1, 4096]
 *   option --batch: 'x' is not an integer (accepted range [1, 4096])
 *   --task must be ner, qa or mtl (got 'pos')
 * and the command exits with status 2.
 *
 * Adding an option to a command is one table line, e.g.
 *   {OPT_ENUM(BsOpts, "precision", precision, PRECISION_NAMES, "matmul precision")},
 * plus the field (and its default, where it is not 0) in the options struct. */
#ifndef MTL_OPTS_H
#define MTL_OPTS_H

#include <stddef.h>
#include <stdio.h>

#include "names.h"
#include "util.h"

typedef enum {
    OPT_KIND_INT,    /* int in [lo, hi] */
    OPT_KIND_LONG,   /* long in [lo, hi] */
    OPT_KIND_INT64,  /* long long in [lo, hi] (compared exactly, not as doubles) */
    OPT_KIND_FLOAT,  /* float: a decimal number in [lo, hi] */
    OPT_KIND_DOUBLE, /* double: a decimal number in [lo, hi] */
    OPT_KIND_TEXT,   /* char[size]: the text copied (longer ones refused) */
    OPT_KIND_ARG,    /* const char *: points at the argument itself (command line only) */
    OPT_KIND_FLAG,   /* int: 1 when given */
    OPT_KIND_ENUM,   /* int (an enum): the value of one of the words of `names` */
} OptKind;

typedef struct {
    const char *name;      /* without "--" */
    OptKind kind;
    size_t offset;         /* of the destination field in the options struct */
    size_t size;           /* OPT_KIND_TEXT: the buffer's size */
    double lo, hi;         /* numbers: the accepted range, inclusive */
    const EnumName *names; /* OPT_KIND_ENUM: the accepted words */
    const char *help;      /* one line; an enum's words and every default and range are added */
    int tag;               /* free for the command (train: how the option enters its config) */
} OptSpec;

/* Table entries, as {OPT_INT(Struct, "name", field, lo, hi, "help")}: T is
 * the options struct, field the member the value goes to. */
#define OPT_FIELD_(T, nm, field, k) .name = (nm), .kind = (k), .offset = offsetof(T, field)
#define OPT_INT(T, nm, field, lo_, hi_, help_) OPT_FIELD_(T, nm, field, OPT_KIND_INT), .lo = (lo_), .hi = (hi_), .help = (help_)
#define OPT_LONG(T, nm, field, lo_, hi_, help_) OPT_FIELD_(T, nm, field, OPT_KIND_LONG), .lo = (lo_), .hi = (hi_), .help = (help_)
#define OPT_INT64(T, nm, field, lo_, hi_, help_) OPT_FIELD_(T, nm, field, OPT_KIND_INT64), .lo = (lo_), .hi = (hi_), .help = (help_)
#define OPT_FLOAT(T, nm, field, lo_, hi_, help_) OPT_FIELD_(T, nm, field, OPT_KIND_FLOAT), .lo = (lo_), .hi = (hi_), .help = (help_)
#define OPT_DOUBLE(T, nm, field, lo_, hi_, help_) OPT_FIELD_(T, nm, field, OPT_KIND_DOUBLE), .lo = (lo_), .hi = (hi_), .help = (help_)
#define OPT_TEXT(T, nm, field, help_) OPT_FIELD_(T, nm, field, OPT_KIND_TEXT), .size = sizeof(((T *)0)->field), .help = (help_)
#define OPT_ARG(T, nm, field, help_) OPT_FIELD_(T, nm, field, OPT_KIND_ARG), .help = (help_)
#define OPT_FLAG(T, nm, field, help_) OPT_FIELD_(T, nm, field, OPT_KIND_FLAG), .help = (help_)
#define OPT_ENUM(T, nm, field, names_, help_) OPT_FIELD_(T, nm, field, OPT_KIND_ENUM), .names = (names_), .help = (help_)

typedef struct {
    const char *cmd;      /* "bench-step": messages start "mtl bench-step: " */
    const char *synopsis; /* "usage: mtl bench-step [options]": first line of --help and of a usage error */
    const char *about;    /* the lines of --help between the synopsis and the options (NULL: none) */
    const OptSpec *specs;
    int n;
    int max_positional;   /* plain arguments accepted (0: none) */
} OptTable;

#define OPTS_MAX_SPECS 64
#define OPTS_MAX_POSITIONAL 16

/* What a command line held besides the values. */
typedef struct {
    unsigned char given[OPTS_MAX_SPECS]; /* given[i]: specs[i] was on the command line */
    const char *pos[OPTS_MAX_POSITIONAL]; /* the plain arguments, in order */
    int npos;
} OptArgs;

/* The spec of option key (with or without "--"; '-' and '_' alike), or NULL. */
const OptSpec *opts_find(const OptTable *t, const char *key);
/* Parse argv[1..argc) into dst: 0, 1 when --help / -h is among them (dst
 * untouched), or -1 with err naming the argument. got may be NULL. */
int opts_parse(const OptTable *t, void *dst, int argc, char **argv, OptArgs *got, Err *err);
/* Set option key (as written in a config file) from its text: an on/off
 * option takes 1/0/true/false/yes/no. 0, or -1 with err naming key. */
int opts_set(const OptTable *t, void *dst, const char *key, const char *value, Err *err);
/* 1 when the command line behind got gave option name, else 0. */
int opts_given(const OptTable *t, const OptArgs *got, const char *name);
/* The value of s in src as text: numbers exactly (floats "%.9g"), an enum
 * its word, a flag 0/1; what opts_set reads back to the same value. */
void opts_format(const OptSpec *s, const void *src, char *buf, size_t n);
/* --help: synopsis, about, then one line per option with its help, an enum's
 * words, its default (its value in defaults) and a number's range "(lo..hi)". */
void opts_help(const OptTable *t, const void *defaults, FILE *f);
/* Print "mtl CMD: msg" and the synopsis on stderr; returns 2 (usage error). */
int opts_usage_error(const OptTable *t, const char *msg);
/* A command's front: parse argv into dst (its defaults already in). Returns
 * -1 to go on, 0 after printing --help on stdout, 2 after a usage error. */
int opts_command(const OptTable *t, void *dst, int argc, char **argv, OptArgs *got);

#endif

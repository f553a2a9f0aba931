/* conlleval.h — chunk-level NER scoring equal to CoNLL's conlleval.pl
 * (2004 version: hyphens allowed in types; default delimiter, boundary "-X-"
 * and outside tag "O"; no -r/-l options).
 *
 * Tags are split at their first '-' into a chunk tag (B, I, E, O, [, ], ...)
 * and a type ("B-PER" -> B, PER; "O" -> O, ""). A chunk starts/ends where
 * conlleval.pl's startOfChunk/endOfChunk say so; a predicted chunk is correct
 * only if it starts and ends where a gold chunk does with the same type.
 *
 * Deliberate differences from the Perl script (documented, input-level only;
 * on input the Perl script accepts they change no figure):
 *  - columns are split on runs of spaces, tabs and CRs (conlleval splits on
 *    single spaces, so a double space or a tab there makes another column,
 *    and a CRLF file's last tag there ends in "\r");
 *  - the two tag columns must be valid UTF-8 without NUL bytes (they become
 *    the type names of the report and of the JSON); the Perl script reads
 *    bytes. Other columns may hold any bytes, as there.
 * A "-DOCSTART-" line is an ordinary token line, as in conlleval.pl: it is
 * counted as a token, and a chunk may run across it or start on it when its
 * tags are not O (the CoNLL files mtl writes have no such lines; its own
 * evaluation treats documents as sentence breaks).
 * Everything else, including the quirks (a type "0" counts as no type; the
 * empty type is listed twice when it occurs in both gold and prediction), is
 * reproduced.
 */
#ifndef MTL_CONLLEVAL_H
#define MTL_CONLLEVAL_H

#include <stdio.h>

#include "conll.h"
#include "util.h"

typedef struct {
    char *name;
    long found_correct; /* gold chunks of this type */
    long found_guessed; /* predicted chunks */
    long correct;       /* correctly predicted chunks */
} ConllevalType;

/* Chunk tag classes that conlleval's rules look at. */
typedef enum { CT_OTHER = 0, CT_B, CT_I, CT_E, CT_O, CT_DOT, CT_LBRACKET, CT_RBRACKET } ChunkTag;

typedef struct {
    long tokens, correct_tags;
    long found_correct, found_guessed, correct_chunks;
    ConllevalType *types; /* interned types (including ""), in first-seen order */
    int n_types, cap_types;
    int *hash; /* open addressing over types: index+1, 0 = empty */
    int hash_cap;
    /* streaming state: previous line's tags */
    ChunkTag last_correct, last_guessed;
    int last_correct_type, last_guessed_type;
    int in_correct;
    int finished;
} Conlleval;

typedef struct {
    double precision, recall, f1; /* percent, 0 when undefined (as conlleval) */
} PRF;

void conlleval_init(Conlleval *ce);
void conlleval_free(Conlleval *ce);

/* Feed one token: gold and predicted tag strings. */
void conlleval_add(Conlleval *ce, const char *gold, const char *pred);
/* Feed label ids of conll.h (CONLL_LABELS order). */
void conlleval_add_ids(Conlleval *ce, int gold, int pred);
/* A sentence boundary (blank line). */
void conlleval_boundary(Conlleval *ce);
/* Close the last open chunk; call once after the last token (idempotent). */
void conlleval_finish(Conlleval *ce);

/* Parse conlleval input from memory: whitespace-separated columns, the last
 * two are gold and predicted; every non-blank line must have the same number
 * of columns (>= 2); blank lines and lines whose first column is "-X-" are
 * boundaries; the last two columns must be valid UTF-8 without NUL.
 * Calls conlleval_finish. Returns -1 with "<name>:<line>: <what>" on bad input. */
int conlleval_parse(Conlleval *ce, const char *buf, size_t len, const char *name, Err *err);
int conlleval_file(Conlleval *ce, const char *path, Err *err);

/* Scores after conlleval_finish. accuracy: percent of tokens whose gold and
 * predicted tags are equal (0 when there are no tokens). */
PRF conlleval_overall(const Conlleval *ce);
double conlleval_accuracy(const Conlleval *ce);
PRF conlleval_type_scores(const ConllevalType *t);
/* The types to report (found in gold or prediction), sorted by name as Perl's
 * sort does (byte order). Returns a malloc'd array of indices into ce->types
 * (free it); *n gets its length. */
int *conlleval_report_types(const Conlleval *ce, int *n);
/* Macro-averaged F1 over the reported types (0 if none). */
double conlleval_macro_f1(const Conlleval *ce);

/* conlleval.pl's text report, byte for byte. */
void conlleval_print_report(const Conlleval *ce, FILE *f);
/* One JSON object: precision, recall, f1, accuracy, per_type{name:{precision,
 * recall, f1, support}}, macro_f1 (all percent), plus the raw counts.
 * Returns a malloc'd string. */
char *conlleval_json(const Conlleval *ce);

/* The statistics of a CoNLL corpus (conll.h), counted as in SOURCES.md: sentences exclude -DOCSTART- lines, entities are
 * counted with conlleval's chunk rules on the original tags. */
void conll_stats(const ConllCorpus *c, ConllStats *s);

#endif

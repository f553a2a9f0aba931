/* mtl score-ner — conlleval.pl's chunk scores for an NER prediction file.
 *
 *   mtl score-ner FILE [--json]      (FILE "-" reads stdin)
 *
 * FILE: whitespace-separated columns, the last two being the gold and the
 * predicted tag; blank lines separate sentences. Prints conlleval's report
 * ("processed N tokens with M phrases; found: K phrases; correct: J." ...),
 * or with --json one object: precision, recall, f1, accuracy, per_type
 * {precision, recall, f1, support, found, correct}, macro_f1 (percent). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conlleval.h"
#include "opts.h"

typedef struct {
    int as_json;
} ScoreNerOpts;

static const OptSpec SCORE_NER_OPTS[] = {
    {OPT_FLAG(ScoreNerOpts, "json", as_json, "one JSON object instead of conlleval's report")},
};

static const OptTable SCORE_NER_TABLE = {
    .cmd = "score-ner",
    .synopsis = "usage: mtl score-ner FILE [--json]",
    .about = "conlleval.pl chunk precision/recall/FB1 of 'token ... gold pred' lines\n"
             "(FILE '-' reads stdin; differences from the Perl script: impl/metrics/conlleval.h).\n",
    .specs = SCORE_NER_OPTS,
    .n = 1,
    .max_positional = 1,
};

static char *read_stdin_all(size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, stdin)) > 0) {
        n += got;
        if (n == cap) buf = xrealloc(buf, cap *= 2);
    }
    *len = n;
    return buf;
}

static int score_input(Conlleval *ce, const char *file, Err *err) {
    if (strcmp(file, "-") != 0) return conlleval_file(ce, file, err);
    size_t len;
    char *buf = read_stdin_all(&len);
    int rc = conlleval_parse(ce, buf, len, "<stdin>", err);
    free(buf);
    return rc;
}

int cmd_score_ner(int argc, char **argv) {
    ScoreNerOpts o = {0};
    OptArgs args;
    int rc = opts_command(&SCORE_NER_TABLE, &o, argc, argv, &args);
    if (rc >= 0) return rc;
    if (args.npos != 1) return opts_usage_error(&SCORE_NER_TABLE, "FILE is required");
    const char *file = args.pos[0];
    int as_json = o.as_json;
    Conlleval ce;
    conlleval_init(&ce);
    Err err;
    if (score_input(&ce, file, &err) != 0) {
        fprintf(stderr, "mtl score-ner: %s\n", err.msg);
        conlleval_free(&ce);
        return 1;
    }
    if (as_json) {
        char *s = conlleval_json(&ce);
        printf("%s\n", s);
        free(s);
    } else {
        conlleval_print_report(&ce, stdout);
    }
    conlleval_free(&ce);
    return 0;
}

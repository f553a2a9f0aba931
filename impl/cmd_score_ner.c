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

static void score_ner_usage(FILE *f) {
    fprintf(f, "usage: mtl score-ner FILE [--json]\n"
               "conlleval.pl chunk precision/recall/FB1 of 'token ... gold pred' lines\n"
               "(FILE '-' reads stdin; differences from the Perl script: impl/conlleval.h).\n");
}

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
    const char *file = NULL;
    int as_json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return score_ner_usage(stdout), 0;
        if (!strcmp(argv[i], "--json")) as_json = 1;
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "mtl score-ner: unknown option '%s'\n", argv[i]);
            return score_ner_usage(stderr), 2;
        } else if (!file) file = argv[i];
        else return score_ner_usage(stderr), 2;
    }
    if (!file) return score_ner_usage(stderr), 2;
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

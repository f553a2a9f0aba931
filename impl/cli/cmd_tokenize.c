/* cmd_tokenize.c — `mtl tokenize [--vocab FILE] [--ids] [--offsets] [--words]
 * [--cased]`: WordPiece-tokenize stdin line by line. One output line per
 * input line: the tokens (or ids) separated by single spaces; an empty line
 * stays empty. --offsets appends "\t" and the code-point spans "s-e" of every
 * token, then "\t" and the word index of every token (HF's word_ids).
 * --words prints the normalised, pre-tokenised words instead of tokens (HF:
 * normalizer + pre_tokenizer), with --offsets their spans. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "opts.h"
#include "paths.h"
#include "tokenizer.h"

typedef struct {
    const char *vocab;
    int ids;
    int offsets;
    int words;
    int cased;
    int utf8proc_only;
} TokenizeOpts;

#define OS TokenizeOpts
static const OptSpec TOKENIZE_OPTS[] = {
    {OPT_ARG(OS, "vocab", vocab, "vocab.txt [$MTL_VOCAB, datasets/data/vocab/, ../shared/vocab/]")},
    {OPT_FLAG(OS, "ids", ids, "print token ids instead of token strings")},
    {OPT_FLAG(OS, "offsets", offsets, "append a tab and the code-point span start-end of each token, then a tab and each token's word index")},
    {OPT_FLAG(OS, "words", words, "print the normalised words WordPiece sees (Hugging Face's normalizer + pre-tokenizer), not the tokens")},
    {OPT_FLAG(OS, "cased", cased, "do not lower-case or strip accents (do_lower_case=False)")},
    {OPT_FLAG(OS, "utf8proc-only", utf8proc_only, "utf8proc's Unicode tables alone, without Hugging Face's own rules where they differ (reference/unicode_check.py)")},
};
#undef OS

static const OptTable TOKENIZE_TABLE = {
    .cmd = "tokenize",
    .synopsis = "usage: mtl tokenize [--vocab FILE] [--ids] [--offsets] [--words] [--cased] [--utf8proc-only] < lines",
    .specs = TOKENIZE_OPTS,
    .n = (int)(sizeof TOKENIZE_OPTS / sizeof TOKENIZE_OPTS[0]),
};

static void print_tokens(const Vocab *v, const WpTokens *t, const TokenizeOpts *o) {
    for (int k = 0; k < t->n; k++) {
        if (k) putchar(' ');
        if (o->ids)
            printf("%d", t->tok[k].id);
        else
            fputs(vocab_token(v, t->tok[k].id), stdout);
    }
    if (o->offsets) {
        putchar('\t');
        for (int k = 0; k < t->n; k++)
            printf("%s%d-%d", k ? " " : "", t->tok[k].cstart, t->tok[k].cend);
        putchar('\t');
        for (int k = 0; k < t->n; k++) printf("%s%d", k ? " " : "", t->tok[k].word);
    }
    putchar('\n');
}

static void print_words(const WpWords *w, const TokenizeOpts *o) {
    for (int k = 0; k < w->n; k++) printf("%s%s", k ? " " : "", w->w[k].text);
    if (o->offsets) {
        putchar('\t');
        for (int k = 0; k < w->n; k++) printf("%s%d-%d", k ? " " : "", w->w[k].cstart, w->w[k].cend);
    }
    putchar('\n');
}

/* Tokenize (or split into words) one line and print it; returns 0 or -1. */
static int tokenize_line(const Vocab *v, const char *line, size_t n, const TokenizeOpts *o,
                         WpTokens *t, Err *err) {
    if (o->words) {
        WpWords w = {0};
        int rc = wordpiece_words(v, line, n, &w, err);
        if (rc == 0) print_words(&w, o);
        wpwords_free(&w);
        return rc;
    }
    t->n = 0;
    if (wordpiece_tokenize(v, line, n, t, err)) return -1;
    print_tokens(v, t, o);
    return 0;
}

/* Tokenize every line of stdin; returns the exit status. */
static int tokenize_stream(const Vocab *v, const TokenizeOpts *o) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    WpTokens t = {0};
    int rc = 0;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        if (n > 0 && line[n - 1] == '\n') n--;
        Err err = {{0}};
        if (tokenize_line(v, line, (size_t)n, o, &t, &err)) {
            fprintf(stderr, "mtl tokenize: <stdin>:%ld: %s\n", lineno, err.msg);
            rc = 1;
            break;
        }
    }
    free(line);
    wptokens_free(&t);
    return rc;
}

int cmd_tokenize(int argc, char **argv) {
    TokenizeOpts o = {0};
    int st = opts_command(&TOKENIZE_TABLE, &o, argc, argv, NULL);
    if (st >= 0) return st;
    char vpath[4096];
    Err err = {{0}};
    if (!o.vocab) {
        if (vocab_path(vpath, sizeof vpath, &err)) {
            fprintf(stderr, "mtl tokenize: %s\n", err.msg);
            return 1;
        }
        o.vocab = vpath;
    }
    Vocab *v = vocab_load(o.vocab, &err);
    if (!v) {
        fprintf(stderr, "mtl tokenize: %s\n", err.msg);
        return 1;
    }
    if (o.cased) vocab_set_case(v, 0, -1);
    if (o.utf8proc_only) vocab_set_hf_rules(v, 0);
    int rc = tokenize_stream(v, &o);
    vocab_free(v);
    return rc;
}

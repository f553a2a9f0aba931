/* fuzz_conlleval.c — libFuzzer target: the conlleval.pl-equal scorer on
 * arbitrary bytes (any tags, types, bracket/E- chunk tags, boundaries), then
 * the text report and the JSON. Invariants are checked with abort().
 *
 *   make fuzz                          (every target in fuzz/, FUZZ_SECONDS each)
 *   bash fuzz/run.sh 60 fuzz_conlleval (this one) */
#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conlleval.h"

#define CHECK(cond) \
    do {            \
        if (!(cond)) abort(); \
    } while (0)

static void check_counts(const Conlleval *ce) {
    CHECK(ce->correct_tags <= ce->tokens);
    CHECK(ce->correct_chunks <= ce->found_correct && ce->correct_chunks <= ce->found_guessed);
    long fc = 0, fg = 0, cc = 0;
    for (int i = 0; i < ce->n_types; i++)
        fc += ce->types[i].found_correct, fg += ce->types[i].found_guessed, cc += ce->types[i].correct;
    CHECK(fc == ce->found_correct && fg == ce->found_guessed && cc == ce->correct_chunks);
    PRF p = conlleval_overall(ce);
    CHECK(p.precision >= 0 && p.precision <= 100 && p.recall >= 0 && p.recall <= 100);
    CHECK(p.f1 >= 0 && p.f1 <= 100);
}

static void check_outputs(const Conlleval *ce) {
    FILE *f = fopen("/dev/null", "w");
    if (f) {
        conlleval_print_report(ce, f);
        fclose(f);
    }
    char *js = conlleval_json(ce);
    cJSON *root = cJSON_Parse(js); /* valid JSON: names are checked UTF-8 */
    CHECK(root != NULL);
    cJSON_Delete(root);
    free(js);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Conlleval ce;
    conlleval_init(&ce);
    Err err;
    if (conlleval_parse(&ce, (const char *)data, size, "fuzz", &err) == 0) {
        check_counts(&ce);
        check_outputs(&ce);
    } else {
        CHECK(strncmp(err.msg, "fuzz:", 5) == 0);
    }
    conlleval_free(&ce);
    return 0;
}

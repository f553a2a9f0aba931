/* mtl score-squad — the official SQuAD evaluation plus extra answer metrics.
 *
 *   mtl score-squad DATASET.json[.gz] PREDICTIONS.json [--json]
 *
 * Without --json the first line is exactly what the official script prints
 * ({"exact_match": x, "f1": y} for v1.1; the v2.0 script's fields for v2.0),
 * followed by the extra metrics as text. With --json: one JSON object with
 * every field. Unanswered questions are listed on stderr. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "opts.h"
#include "squad_eval.h"

typedef struct {
    int as_json;
} ScoreSquadOpts;

static const OptSpec SCORE_SQUAD_OPTS[] = {
    {OPT_FLAG(ScoreSquadOpts, "json", as_json, "one JSON object with every field")},
};

static const OptTable SCORE_SQUAD_TABLE = {
    .cmd = "score-squad",
    .synopsis = "usage: mtl score-squad DATASET.json[.gz] PREDICTIONS.json [--json]",
    .about = "Official SQuAD v1.1 / v2.0 exact match and F1 (+ BLEU-4, ROUGE-L, coverage, mean\n"
             "answer length; definitions in impl/metrics/squad_eval.h).\n",
    .specs = SCORE_SQUAD_OPTS,
    .n = 1,
    .max_positional = 2,
};

static void put_num(const char *key, double v, int first) {
    char buf[64];
    squad_format_double(buf, sizeof buf, v);
    printf("%s\"%s\": %s", first ? "" : ", ", key, buf);
}

static void print_official(const SquadMetrics *m) {
    if (!m->is_v2) {
        put_num("exact_match", m->exact_match, 1);
        put_num("f1", m->f1, 0);
        return;
    }
    put_num("exact", m->exact_match, 1);
    put_num("f1", m->f1, 0);
    printf(", \"total\": %d", m->total);
    if (m->has_ans_total) {
        put_num("HasAns_exact", m->has_ans_exact, 0);
        put_num("HasAns_f1", m->has_ans_f1, 0);
        printf(", \"HasAns_total\": %d", m->has_ans_total);
    }
    if (m->no_ans_total) {
        put_num("NoAns_exact", m->no_ans_exact, 0);
        put_num("NoAns_f1", m->no_ans_f1, 0);
        printf(", \"NoAns_total\": %d", m->no_ans_total);
    }
}

static void print_extras_json(const SquadMetrics *m) {
    if (!m->is_v2) printf(", \"total\": %d", m->total);
    printf(", \"missing\": %d", m->missing);
    put_num("bleu4", m->bleu4, 0);
    put_num("rouge_l", m->rouge_l, 0);
    put_num("coverage", m->coverage, 0);
    put_num("mean_pred_len", m->mean_pred_len, 0);
    printf(", \"version\": \"%s\"", m->is_v2 ? "2.0" : "1.1");
}

static void print_extras_text(const SquadMetrics *m) {
    printf("questions:      %d (%d without a prediction, scored 0)\n", m->total, m->missing);
    printf("BLEU-4:         %.4f  (corpus, normalised tokens, best-F1 gold, add-1 on n>1)\n", m->bleu4);
    printf("ROUGE-L F:      %.4f  (beta 1.2, max over gold answers)\n", m->rouge_l);
    printf("coverage:       %.4f %% of questions answered (non-empty)\n", m->coverage);
    printf("mean length:    %.4f normalised tokens per non-empty answer\n", m->mean_pred_len);
}

int cmd_score_squad(int argc, char **argv) {
    ScoreSquadOpts o = {0};
    OptArgs args;
    int rc = opts_command(&SCORE_SQUAD_TABLE, &o, argc, argv, &args);
    if (rc >= 0) return rc;
    if (args.npos != 2) return opts_usage_error(&SCORE_SQUAD_TABLE, "DATASET.json and PREDICTIONS.json are required");
    const char *const *files = args.pos;
    int as_json = o.as_json;
    Err err;
    SquadDataset ds;
    if (squad_load(files[0], &ds, &err)) {
        fprintf(stderr, "mtl score-squad: %s\n", err.msg);
        return 1;
    }
    SquadPredictions p;
    if (squad_predictions_load(files[1], &p, &err)) {
        fprintf(stderr, "mtl score-squad: %s\n", err.msg);
        squad_free(&ds);
        return 1;
    }
    SquadMetrics m;
    squad_evaluate(&ds, 0, &p, stderr, &m, &err);
    printf("{");
    print_official(&m);
    if (as_json) print_extras_json(&m);
    printf("}\n");
    if (!as_json) print_extras_text(&m);
    squad_predictions_free(&p);
    squad_free(&ds);
    return 0;
}

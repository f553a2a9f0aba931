/* train_aggregate.c — aggregate.json over the seeds of `mtl train --seeds`. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "jsonr.h"

#include "jsonw.h"
#include "train.h"

/* Each summary figure: its name in aggregate.json, and where a finished run
 * directory keeps it (file, dotted JSON path). */
typedef struct {
    const char *name;
    size_t offset;
    const char *file, *path;
} SummaryField;

static const SummaryField FIELDS[] = {
    {"ner_dev_f1", offsetof(RunSummary, ner_dev_f1), "metrics.json", "ner.dev.f1"},
    {"ner_test_f1", offsetof(RunSummary, ner_test_f1), "metrics.json", "ner.test.f1"},
    {"ner_dev_macro_f1", offsetof(RunSummary, ner_dev_macro_f1), "metrics.json", "ner.dev.macro_f1"},
    {"ner_test_macro_f1", offsetof(RunSummary, ner_test_macro_f1), "metrics.json", "ner.test.macro_f1"},
    {"qa_dev_em", offsetof(RunSummary, qa_dev_em), "metrics.json", "qa.dev.exact_match"},
    {"qa_dev_f1", offsetof(RunSummary, qa_dev_f1), "metrics.json", "qa.dev.f1"},
    {"final_loss_ner", offsetof(RunSummary, final_loss_ner), "metrics.json", "final_train_loss.ner"},
    {"final_loss_qa", offsetof(RunSummary, final_loss_qa), "metrics.json", "final_train_loss.qa"},
    {"train_wall_s", offsetof(RunSummary, train_wall_s), "timing.json", "train_wall_s"},
    {"peak_rss_bytes", offsetof(RunSummary, peak_rss_bytes), "memory.json", "peak_rss_bytes"},
    {"params_total", offsetof(RunSummary, params_total), "params.json", "total"},
};

void run_summary_init(RunSummary *s, long long seed) {
    memset(s, 0, sizeof *s);
    s->seed = seed;
    for (size_t f = 0; f < sizeof FIELDS / sizeof FIELDS[0]; f++)
        *(double *)((char *)s + FIELDS[f].offset) = NAN; /* never computed: null in aggregate.json */
}

static double field(const RunSummary *r, size_t off) {
    return *(const double *)((const char *)r + off);
}

/* mean = sum x / n ; std = sqrt(sum (x - mean)^2 / (n - 1)) (sample std, 0
 * for n = 1). */
static void write_stat(JsonW *w, const SummaryField *f, const RunSummary *runs, int n) {
    double sum = 0, ss = 0;
    for (int i = 0; i < n; i++) sum += field(&runs[i], f->offset);
    double mean = sum / n;
    for (int i = 0; i < n; i++) {
        double d = field(&runs[i], f->offset) - mean;
        ss += d * d;
    }
    jw_obj(w, f->name);
    jw_num(w, "mean", mean);
    jw_num(w, "std", n > 1 ? sqrt(ss / (n - 1)) : 0.0);
    jw_int(w, "n", n);
    jw_arr(w, "values");
    for (int i = 0; i < n; i++) jw_num(w, NULL, field(&runs[i], f->offset));
    jw_end(w);
    jw_end(w);
}

int train_write_aggregate(const char *path, const TrainOptions *o, const RunSummary *runs, int n,
                          Err *err) {
    JsonW w;
    jw_init(&w);
    jw_obj(&w, NULL);
    jw_str(&w, "task", enum_name(TASK_SET_NAMES, o->tasks));
    jw_str(&w, "preset", o->preset);
    jw_str(&w, "sampling", enum_name(SAMPLING_NAMES, o->sampling));
    jw_arr(&w, "seeds");
    for (int i = 0; i < n; i++) jw_int(&w, NULL, runs[i].seed);
    jw_end(&w);
    jw_arr(&w, "runs");
    for (int i = 0; i < n; i++) {
        char dir[1100];
        snprintf(dir, sizeof dir, "%s/seed-%lld", o->out, runs[i].seed);
        jw_str(&w, NULL, dir);
    }
    jw_end(&w);
    jw_str(&w, "std", "sample standard deviation (n - 1)");
    for (size_t f = 0; f < sizeof FIELDS / sizeof FIELDS[0]; f++) write_stat(&w, &FIELDS[f], runs, n);
    int rc = jw_write_file(&w, path, err);
    jw_free(&w);
    return rc;
}

/* The number at a dotted path of a parsed JSON document; NaN when absent or null. */
static double json_at(const cJSON *j, const char *path) {
    char key[128];
    snprintf(key, sizeof key, "%s", path);
    const cJSON *it = j;
    for (char *save = NULL, *k = strtok_r(key, ".", &save); k && it; k = strtok_r(NULL, ".", &save))
        it = cJSON_GetObjectItemCaseSensitive(it, k);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

static cJSON *read_run_json(const char *dir, const char *name, Err *err) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return jsonr_read_file(p, err);
}

int train_summary_from_dir(const char *dir, RunSummary *sum, Err *err) {
    static const char *const FILES[] = {"metrics.json", "timing.json", "memory.json", "params.json"};
    cJSON *docs[4] = {NULL};
    int rc = 0;
    for (int i = 0; i < 4 && rc == 0; i++)
        if (!(docs[i] = read_run_json(dir, FILES[i], err))) rc = -1;
    for (size_t f = 0; rc == 0 && f < sizeof FIELDS / sizeof FIELDS[0]; f++) {
        int d = 0;
        while (strcmp(FILES[d], FIELDS[f].file)) d++;
        *(double *)((char *)sum + FIELDS[f].offset) = json_at(docs[d], FIELDS[f].path);
    }
    if (rc == 0) {
        sum->steps = (long)json_at(docs[0], "steps");
        sum->seed = (long long)json_at(docs[0], "seed");
    }
    for (int i = 0; i < 4; i++) cJSON_Delete(docs[i]);
    return rc;
}

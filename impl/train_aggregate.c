/* train_aggregate.c — aggregate.json over the seeds of `mtl train --seeds`. */
#include <math.h>
#include <stddef.h>

#include "jsonw.h"
#include "train.h"

typedef struct {
    const char *name;
    size_t offset;
} SummaryField;

static const SummaryField FIELDS[] = {
    {"ner_dev_f1", offsetof(RunSummary, ner_dev_f1)},
    {"ner_test_f1", offsetof(RunSummary, ner_test_f1)},
    {"ner_dev_macro_f1", offsetof(RunSummary, ner_dev_macro_f1)},
    {"ner_test_macro_f1", offsetof(RunSummary, ner_test_macro_f1)},
    {"qa_dev_em", offsetof(RunSummary, qa_dev_em)},
    {"qa_dev_f1", offsetof(RunSummary, qa_dev_f1)},
    {"final_loss_ner", offsetof(RunSummary, final_loss_ner)},
    {"final_loss_qa", offsetof(RunSummary, final_loss_qa)},
    {"train_wall_s", offsetof(RunSummary, train_wall_s)},
    {"peak_rss_bytes", offsetof(RunSummary, peak_rss_bytes)},
    {"params_total", offsetof(RunSummary, params_total)},
};

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
    jw_str(&w, "task", o->task);
    jw_str(&w, "preset", o->preset);
    jw_str(&w, "sampling", o->sampling);
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

/* cmd_bench_predict.c — `mtl bench-predict`: the inference speed of `mtl
 * predict`'s engine on real inputs, end to end (tokenisation, windows,
 * forward, decoding): latency at batch 1 (p50 / p90 / p99 over the inputs)
 * and throughput at --batch inputs per call (windows padded to the longest of
 * each forward), for NER on CoNLL-2003 test sentences (tokens joined by
 * spaces) and QA on SQuAD v1.1 dev questions; with peak RSS and the model's
 * forward-only memory, and the useful GFLOP/s against the GEMM peak measured
 * in the same run. reference/bench_predict.py times transformers'
 * pipelines and plain PyTorch on the same inputs; bench/bench_predict.sh runs
 * both. Timings only: nothing here passes or fails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "backend.h"
#include "buildinfo.h"
#include "cpu/cpu_bf16.h"
#include "cli.h"
#include "conll.h"
#include "jsonw.h"
#include "manifest.h"
#include "opts.h"
#include "paths.h"
#include "peak.h"
#include "predict.h"
#include "squad.h"

typedef struct {
    const char *model;
    int tasks; /* 1 << TASK_NER | 1 << TASK_QA */
    Device device;
    int n, batch, threads, warmup;
    Precision precision;
    int prepack; /* --prepack: model_freeze_weights */
    int skip_padding; /* --skip-padding: PredictParams.skip_padding */
    int maxT;    /* the model's activations are sized for batch x maxT */
    double peak_gflops; /* the best of the readings of this run (CPU; 0 elsewhere) */
    const char *peak_kind;
} BenchPredictOpts;

#define OS BenchPredictOpts
static const OptSpec BP_OPTS[] = {
    {OPT_ARG(OS, "model", model, "RUN_DIR or HF_DIR (required)")},
    {OPT_ENUM(OS, "task", tasks, HEAD_SET_NAMES, "the heads to time")},
    {OPT_INT(OS, "n", n, 1, 100000, "the first N CoNLL-2003 test sentences / SQuAD dev questions")},
    {OPT_INT(OS, "batch", batch, 1, 4096, "inputs per call of the throughput run")},
    {OPT_INT(OS, "threads", threads, 0, 1024, "CPU threads (0 = library default)")},
    {OPT_ENUM(OS, "precision", precision, PRECISION_NAMES, "linear layers: bf16 = GEMM inputs rounded to bf16, fp32 accumulation (fp32 with a note where the device lacks bf16)")},
    {OPT_ENUM(OS, "prepack", prepack, ON_OFF_NAMES, PREPACK_HELP)},
    {OPT_ENUM(OS, "skip-padding", skip_padding, ON_OFF_NAMES, SKIP_PADDING_HELP)},
    {OPT_INT(OS, "warmup", warmup, 0, 100000, "untimed inputs first")},
    {OPT_ENUM(OS, "device", device, DEVICE_NAMES, "where to run")},
};
#undef OS

static const OptTable BP_TABLE = {
    .cmd = "bench-predict",
    .synopsis = "usage: mtl bench-predict --model RUN_DIR|HF_DIR [--task ner|qa|all] [--n N] [--batch B] [options]",
    .about = "  NER on the first N CoNLL-2003 test sentences, QA on the first N SQuAD dev questions:\n"
             "  latency per input at batch 1 (p50/p90/p99 ms), throughput at B inputs per call;\n"
             "  one JSON line per task at the end\n",
    .specs = BP_OPTS,
    .n = (int)(sizeof BP_OPTS / sizeof BP_OPTS[0]),
};

/* ---- inputs ------------------------------------------------------------------------ */

/* The first n CoNLL-2003 test sentences as texts (tokens joined by spaces). */
static int load_sentences(int n, char ***out, int *got, Err *err) {
    char path[1024];
    ConllCorpus c;
    if (dataset_path("conll2003/test.txt", path, sizeof path, err) || conll_load(path, &c, err)) return -1;
    int m = c.n_sentences < n ? c.n_sentences : n;
    *out = xmalloc((size_t)m * sizeof **out);
    for (int s = 0; s < m; s++) {
        StrBuf b = {0};
        for (int k = 0; k < c.sents[s].n; k++) sb_printf(&b, "%s%s", k ? " " : "", c.words[c.sents[s].start + k]);
        (*out)[s] = b.buf;
    }
    *got = m;
    conll_free(&c);
    return 0;
}

static int load_questions(int n, SquadDataset *ds, PredQuestion **out, int *got, Err *err) {
    char path[1024];
    if (dataset_path("squad/dev-v1.1.json", path, sizeof path, err) || squad_load(path, ds, err)) return -1;
    int m = ds->n_examples < n ? ds->n_examples : n;
    *out = xmalloc((size_t)m * sizeof **out);
    for (int i = 0; i < m; i++) (*out)[i] = (PredQuestion){ds->ex[i].question, ds->ctx[ds->ex[i].context].text};
    *got = m;
    return 0;
}

/* ---- timing ------------------------------------------------------------------------ */

typedef struct {
    const char *task;
    int n, batch;
    double p50, p90, p99, mean_ms; /* batch 1, per input */
    double per_s;                  /* inputs per second at `batch` */
    long windows;                  /* windows the n inputs took */
    double padding;                /* share of the rows the layers ran at `batch` that were padding */
    double flops_per_input;        /* useful forward FLOPs per input (model_work_done) */
    double gflops_latency, gflops; /* useful GFLOP/s of the batch 1 run and of the `batch` run */
    int failed;
} BenchResult;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile q of sorted v[0..n). */
static double percentile(const double *v, int n, double q) {
    int k = (int)(q * n + 0.999999);
    return v[(k < 1 ? 1 : k > n ? n : k) - 1];
}

/* Run inputs [i, i + m) once; returns windows used, counts failures. */
typedef long (*RunFn)(Predictor *pr, const void *inputs, int i, int m, int *failed);

static long run_texts(Predictor *pr, const void *inputs, int i, int m, int *failed) {
    char *const *s = inputs;
    PredText *x = xmalloc((size_t)m * sizeof *x);
    PredOut *o = xmalloc((size_t)m * sizeof *o);
    int *rc = xmalloc((size_t)m * sizeof *rc);
    Err *e = xmalloc((size_t)m * sizeof *e);
    for (int k = 0; k < m; k++) x[k] = (PredText){s[i + k], strlen(s[i + k])};
    predict_entities_many(pr, x, m, o, rc, e);
    long w = 0;
    for (int k = 0; k < m; k++) w += o[k].n_windows, *failed += rc[k] != 0, pred_out_free(&o[k]);
    free(x), free(o), free(rc), free(e);
    return w;
}

static long run_questions(Predictor *pr, const void *inputs, int i, int m, int *failed) {
    const PredQuestion *q = inputs;
    PredOut *o = xmalloc((size_t)m * sizeof *o);
    int *rc = xmalloc((size_t)m * sizeof *rc);
    Err *e = xmalloc((size_t)m * sizeof *e);
    predict_answer_many(pr, q + i, m, 0, o, rc, e);
    long w = 0;
    for (int k = 0; k < m; k++) w += o[k].n_windows, *failed += rc[k] != 0, pred_out_free(&o[k]);
    free(o), free(rc), free(e);
    return w;
}

static void time_inputs(Predictor *pr, const Model *m, RunFn run, const void *inputs, int n,
                        const BenchPredictOpts *o, BenchResult *r) {
    int junk = 0;
    for (int i = 0; i < o->warmup; i++) run(pr, inputs, i % n, 1, &junk);
    double *ms = xmalloc((size_t)n * sizeof *ms), sum = 0.0;
    ModelWork w0 = model_work_done(m);
    for (int i = 0; i < n; i++) { /* latency: one input per call */
        double t0 = now_seconds();
        r->windows += run(pr, inputs, i, 1, &r->failed);
        ms[i] = 1e3 * (now_seconds() - t0);
        sum += ms[i];
    }
    qsort(ms, (size_t)n, sizeof *ms, cmp_double);
    r->p50 = percentile(ms, n, 0.50), r->p90 = percentile(ms, n, 0.90), r->p99 = percentile(ms, n, 0.99);
    r->mean_ms = sum / n;
    ModelWork w1 = model_work_done(m);
    r->flops_per_input = (w1.flops - w0.flops) / n;
    r->gflops_latency = (w1.flops - w0.flops) / (1e-3 * sum) * 1e-9;
    double t0 = now_seconds();
    for (int i = 0; i < n; i += o->batch) /* throughput: --batch inputs per call */
        run(pr, inputs, i, n - i < o->batch ? n - i : o->batch, &junk);
    double t = now_seconds() - t0;
    ModelWork w2 = model_work_done(m);
    r->per_s = n / t;
    r->gflops = (w2.flops - w1.flops) / t * 1e-9;
    r->padding = w2.rows > w1.rows ? 1.0 - (double)(w2.tokens - w1.tokens) / (double)(w2.rows - w1.rows) : 0.0;
    r->n = n;
    r->batch = o->batch;
    free(ms);
}

static void print_result(const BenchResult *r, const BenchPredictOpts *o, const ModelOpen *mo, Backend *be) {
    ModelCounts k = model_counts(model_config(mo->m), o->batch, o->maxT);
    printf("%s: %d inputs (%ld windows), batch 1 latency p50 %.2f ms, p90 %.2f, p99 %.2f (mean %.2f); "
           "batch %d: %.1f inputs/s, %.1f%% of the rows padding%s\n",
           r->task, r->n, r->windows, r->p50, r->p90, r->p99, r->mean_ms, r->batch, r->per_s, 100.0 * r->padding,
           r->failed ? " (SOME INPUTS FAILED)" : "");
    printf("%s: useful work %.2f GFLOP per input (model FLOPs of each window on its real tokens): "
           "%.1f GFLOP/s at batch 1, %.1f at batch %d", r->task, r->flops_per_input * 1e-9, r->gflops_latency,
           r->gflops, r->batch);
    if (o->peak_gflops > 0)
        printf(" = %.1f%% and %.1f%% of the %s peak measured in this run, %.1f GFLOP/s", 100 * r->gflops_latency / o->peak_gflops,
               100 * r->gflops / o->peak_gflops, o->peak_kind, o->peak_gflops);
    printf("\n");
    char cpu[256];
    cpu_model_name(cpu, sizeof cpu);
    int bf16_cpu = o->precision == PREC_BF16 && o->device == DEVICE_CPU;
    cJSON *j = cJSON_CreateObject(); /* one line, strings escaped */
    cJSON_AddStringToObject(j, "impl", "c");
    cJSON_AddStringToObject(j, "device", enum_name(DEVICE_NAMES, o->device));
    cJSON_AddStringToObject(j, "task", r->task);
    cJSON_AddStringToObject(j, "model", o->model);
    cJSON_AddNumberToObject(j, "n", r->n);
    cJSON_AddNumberToObject(j, "batch", r->batch);
    cJSON_AddNumberToObject(j, "threads", o->threads);
    cJSON_AddNumberToObject(j, "p50_ms", r->p50);
    cJSON_AddNumberToObject(j, "p90_ms", r->p90);
    cJSON_AddNumberToObject(j, "p99_ms", r->p99);
    cJSON_AddNumberToObject(j, "mean_ms", r->mean_ms);
    cJSON_AddNumberToObject(j, "per_s", r->per_s);
    cJSON_AddNumberToObject(j, "windows", (double)r->windows);
    cJSON_AddNumberToObject(j, "failed", r->failed);
    cJSON_AddNumberToObject(j, "peak_rss_mb", peak_rss_bytes() / 1048576.0);
    cJSON_AddNumberToObject(j, "param_mb", k.param_bytes / 1048576.0);
    cJSON_AddNumberToObject(j, "act_mb_forward_only", model_counts_infer_act_bytes(&k, be) / 1048576.0);
    cJSON_AddNumberToObject(j, "act_mb_training", model_counts_act_bytes(&k, be) / 1048576.0);
    cJSON_AddStringToObject(j, "precision", precision_name(o->precision));
    cJSON_AddStringToObject(j, "bf16_gemm", bf16_cpu ? cpu_bf16_library() : "");
    char gemm[160] = "";
    if (be->gemm_describe) be->gemm_describe(be, gemm, sizeof gemm);
    cJSON_AddStringToObject(j, "gemm", gemm);
    cJSON_AddStringToObject(j, "prepack", enum_name(ON_OFF_NAMES, o->prepack));
    cJSON_AddStringToObject(j, "skip_padding", enum_name(ON_OFF_NAMES, o->skip_padding));
    cJSON_AddNumberToObject(j, "padding_share", r->padding);
    cJSON_AddNumberToObject(j, "flops_per_input", r->flops_per_input);
    cJSON_AddNumberToObject(j, "gflops_latency", r->gflops_latency);
    cJSON_AddNumberToObject(j, "gflops", r->gflops);
    cJSON_AddNumberToObject(j, "peak_gflops", o->peak_gflops);
    cJSON_AddStringToObject(j, "peak_kind", o->peak_kind);
    cJSON_AddStringToObject(j, "cpu", cpu);
    cJSON_AddStringToObject(j, "commit", build_git_commit());
    char *line = cJSON_PrintUnformatted(j);
    printf("%s\n", line ? line : "{}");
    free(line);
    cJSON_Delete(j);
    fflush(stdout);
}

/* The GEMM peak of the precision the linear layers run in (CPU only: the
 * GPU's is bench-kernels'), against which the useful GFLOP/s are read. Called
 * before the timings and after each task's: a shared machine can be slow at
 * any one moment, so the best reading is kept. */
static void measure_peak(BenchPredictOpts *o) {
    if (o->device != DEVICE_CPU) return;
    int bf16 = o->precision == PREC_BF16;
    o->peak_kind = bf16 ? "bf16 GEMM (oneDNN, 2048^3)" : "sgemm (OpenBLAS, 2048^3)";
    double g = bf16 ? bench_bf16_peak_gflops(o->threads) : bench_sgemm_peak_gflops(o->threads);
    if (g > o->peak_gflops) o->peak_gflops = g;
}

static int bench_task(Predictor *pr, BenchPredictOpts *o, const ModelOpen *mo, Backend *be, int qa,
                      Err *err) {
    BenchResult r = {.task = task_name(qa ? TASK_QA : TASK_NER)};
    int n = 0;
    if (!qa) {
        char **s;
        if (load_sentences(o->n, &s, &n, err)) return -1;
        time_inputs(pr, mo->m, run_texts, s, n, o, &r);
        for (int i = 0; i < n; i++) free(s[i]);
        free(s);
    } else {
        SquadDataset ds;
        PredQuestion *q;
        if (load_questions(o->n, &ds, &q, &n, err)) return -1;
        time_inputs(pr, mo->m, run_questions, q, n, o, &r);
        free(q);
        squad_free(&ds);
    }
    measure_peak(o);
    print_result(&r, o, mo, be);
    return r.failed ? err_set(err, "%d %s inputs failed", r.failed, r.task) : 0;
}

int cmd_bench_predict(int argc, char **argv) {
    BenchPredictOpts o = {.tasks = ALL_TASKS, .device = DEVICE_CPU, .n = 200, .batch = 32, .warmup = 5, .peak_kind = "",
                          .precision = PREC_FP32, .prepack = 1, .skip_padding = 1};
    int rc = opts_command(&BP_TABLE, &o, argc, argv, NULL);
    if (rc >= 0) return rc;
    if (!o.model) return opts_usage_error(&BP_TABLE, "--model is required");
    char why[256] = "";
    Backend *be = backend_open(o.device, o.threads, 0, o.precision, why, sizeof why);
    if (!be) {
        fprintf(stderr, "mtl bench-predict: --device %s: %s\n", enum_name(DEVICE_NAMES, o.device), why);
        return 1;
    }
    if (why[0]) fprintf(stderr, "mtl bench-predict: note: %s\n", why);
    o.precision = be->precision; /* what the backend really computes in (bf16 falls back to fp32) */
    measure_peak(&o);
    ModelOpen mo;
    Err err;
    PredictParams p;
    predict_defaults(&p);
    p.batch = o.batch;
    p.skip_padding = o.skip_padding;
    o.maxT = p.seq_qa;
    if (model_open(o.model, be, p.batch, o.maxT, 1, &mo, &err)) {
        fprintf(stderr, "mtl bench-predict: %s\n", err.msg);
        be->destroy(be);
        return 1;
    }
    if (o.prepack) model_freeze_weights(mo.m, NULL, 0);
    Predictor *pr = predictor_new(&mo, &p, &err);
    rc = pr ? 0 : -1;
    int want_ner = (o.tasks & 1 << TASK_NER) != 0, want_qa = (o.tasks & 1 << TASK_QA) != 0;
    if (rc == 0 && want_ner && predictor_has_ner(pr)) rc = bench_task(pr, &o, &mo, be, 0, &err);
    if (rc == 0 && want_qa && predictor_has_qa(pr)) rc = bench_task(pr, &o, &mo, be, 1, &err);
    if (rc) fprintf(stderr, "mtl bench-predict: %s\n", err.msg);
    predictor_free(pr);
    model_open_free(&mo);
    be->destroy(be);
    return rc ? 1 : 0;
}

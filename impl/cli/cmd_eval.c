/* cmd_eval.c — `mtl eval --model RUN_DIR|HF_DIR --out DIR`: score a trained
 * model exactly as `mtl train` scores its final one (train.c final_eval): NER
 * on CoNLL-2003 dev and test with conlleval's rules, QA on the official SQuAD
 * v1.1 dev set (or its first --qa-dev-limit questions) with the official
 * EM/F1. The model is a run directory or a Hugging Face BERT checkpoint with
 * a trained head — e.g. one fine-tuned by transformers (reference/
 * finetune_hf.py train), so that both trainers' models are scored by one
 * tokeniser, one decoder and one scorer (run_ner.py / run_qa.py --do_eval).
 *
 * Writes DIR/metrics.json, DIR/manifest.json (the model's and the data's
 * sha256) and DIR/predictions/ (conlleval input, SQuAD predictions JSON). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "squad.h"
#include "backend.h"
#include "cli.h"
#include "model_open.h"
#include "opts.h"
#include "train_internal.h"

typedef struct {
    const char *model, *out;
    OptArgs args;     /* what the command line gave */
    int run_windows;  /* window options not given were taken from the run's config.json */
    TrainOptions o;
} EvalOpts;

/* The `mtl train` options that also mean something here (their specs, ranges and help are train's). */
static const char *const EVAL_KEYS[] = {"task",   "batch",   "threads", "decode",    "qa-dev-limit",
                                        "no-test", "seq-ner", "seq-qa",  "stride", "max-query"};
#define N_EVAL_KEYS ((int)(sizeof EVAL_KEYS / sizeof EVAL_KEYS[0]))

/* --model, --out and train's EVAL_KEYS, over EvalOpts. */
static const OptTable *eval_table(void) {
    static OptSpec specs[2 + N_EVAL_KEYS];
    static OptTable t;
    if (t.n) return &t;
    specs[0] = (OptSpec){OPT_ARG(EvalOpts, "model", model, "RUN_DIR, HF_DIR or minilm-l6 (required)")};
    specs[1] = (OptSpec){OPT_ARG(EvalOpts, "out", out, "DIR for metrics.json, manifest.json, predictions/ (required)")};
    for (int k = 0; k < N_EVAL_KEYS; k++) {
        specs[2 + k] = *opts_find(train_option_table(), EVAL_KEYS[k]);
        specs[2 + k].offset += offsetof(EvalOpts, o);
        if (!strcmp(EVAL_KEYS[k], "task")) specs[2 + k].help = "the heads to score (default: every trained head)";
    }
    t = (OptTable){
        .cmd = "eval",
        .synopsis = "usage: mtl eval --model RUN_DIR|HF_DIR|minilm-l6 --out DIR [options]",
        .about = "  scores the model's trained heads as mtl train scores its final model;\n"
                 "  writes DIR/metrics.json, DIR/manifest.json, DIR/predictions/\n"
                 "  --task: the heads the model has trained where not given; a run's own --seq-ner\n"
                 "  --seq-qa --stride --max-query where not given; the run's --batch gives its own\n"
                 "  scores bitwise (another batch changes only the rounding); --no-test: NER dev only.\n"
                 "  DIR may be neither the model's directory nor one holding a run (checkpoint.bin)\n"
                 "  (options as mtl train's)\n",
        .specs = specs,
        .n = 2 + N_EVAL_KEYS,
    };
    return &t;
}

static int eval_key_given(const EvalOpts *e, const char *key) { return opts_given(eval_table(), &e->args, key); }

/* The options each value's range does not cover (those were checked where parsed). */
static int check_eval_opts(const EvalOpts *e, Err *err) {
    if (!e->model || !e->out) return err_set(err, "--model and --out are required");
    return 0;
}

/* The windows, once a run's own values are in (mtl train's bounds for the
 * window lengths: a run's final scores were computed with them). */
static int check_eval_windows(const EvalOpts *e, Err *err) {
    const TrainOptions *o = &e->o;
    const char *from = e->run_windows ? " (an option not given takes the run's config.json value)" : "";
    if (o->seq_ner < 8 || o->seq_ner > 4096)
        return err_set(err, "window options out of range: --seq-ner must be in [8, 4096] (got %d)%s", o->seq_ner, from);
    if (o->seq_qa < SQUAD_MIN_SEQ || o->seq_qa > 4096)
        return err_set(err, "window options out of range: --seq-qa must be in [%d, 4096] (got %d)%s",
                       SQUAD_MIN_SEQ, o->seq_qa, from);
    if (o->stride < 1 || o->stride >= o->seq_qa)
        return err_set(err, "window options out of range: --stride must be in [1, seq_qa - 1 = %d] (got %d)%s",
                       o->seq_qa - 1, o->stride, from);
    if (o->max_query < 1 || o->max_query >= o->seq_qa - 3)
        return err_set(err, "window options out of range: --max-query must be in [1, seq_qa - 4 = %d] (got %d)%s",
                       o->seq_qa - 4, o->max_query, from);
    return 0;
}

static int entry_exists(const char *path) {
    struct stat sb;
    return lstat(path, &sb) == 0;
}

/* --out must not be the model's directory, nor hold a training run: eval
 * would replace its metrics.json, manifest.json and predictions/. */
static int check_eval_out(const EvalOpts *e, Err *err) {
    if (!e->out[0]) return err_set(err, "--out must name a directory (got an empty string)");
    struct stat so, sm;
    if (stat(e->out, &so) == 0 && stat(e->model, &sm) == 0 && so.st_dev == sm.st_dev && so.st_ino == sm.st_ino)
        return err_set(err, "--out %s is the model's directory (--model %s): eval would replace its files; name another directory",
                       e->out, e->model);
    char ck[1200];
    snprintf(ck, sizeof ck, "%s/checkpoint.bin", e->out);
    if (entry_exists(ck))
        return err_set(err, "--out %s holds a training run (checkpoint.bin): eval would replace its metrics.json, "
                            "manifest.json and predictions/; name another directory", e->out);
    return 0;
}

/* A run directory's own window options (its config.json), where the command
 * line did not give them: the windows its final scores were computed with. */
static int adopt_run_windows(EvalOpts *e, Err *err) {
    char p[1200];
    snprintf(p, sizeof p, "%s/checkpoint.bin", e->model);
    if (!entry_exists(p)) return 0;
    snprintf(p, sizeof p, "%s/config.json", e->model);
    if (!entry_exists(p)) return 0; /* a run older than its config.json copy */
    TrainOptions t;
    train_options_default(&t);
    if (train_options_load_file(&t, p, err)) return -1;
    if (!eval_key_given(e, "seq-ner")) e->o.seq_ner = t.seq_ner;
    if (!eval_key_given(e, "seq-qa")) e->o.seq_qa = t.seq_qa;
    if (!eval_key_given(e, "stride")) e->o.stride = t.stride;
    if (!eval_key_given(e, "max-query")) e->o.max_query = t.max_query;
    e->run_windows = 1;
    return 0;
}

/* Returns -1 to go on, else the exit status. */
static int parse_eval_args(int argc, char **argv, EvalOpts *e) {
    Err err;
    int rc = opts_command(eval_table(), e, argc, argv, &e->args);
    if (rc >= 0) return rc;
    if (check_eval_opts(e, &err) || check_eval_out(e, &err)) return opts_usage_error(eval_table(), err.msg);
    if (adopt_run_windows(e, &err)) {
        fprintf(stderr, "mtl eval: %s\n", err.msg);
        return 1;
    }
    if (check_eval_windows(e, &err)) return opts_usage_error(eval_table(), err.msg);
    return -1;
}

/* --task defaults to the heads the model has trained; a head asked for must be trained. */
static int pick_task(EvalOpts *e, const ModelOpen *mo, Err *err) {
    int ner = mo->ner_head_trained, qa = mo->qa_head_trained;
    if (!eval_key_given(e, "task")) {
        if (!ner && !qa)
            return err_set(err, "%s has no trained head (neither classifier.* nor qa_outputs.*): nothing to score",
                           e->model);
        e->o.tasks = (ner ? 1 << TASK_NER : 0) | (qa ? 1 << TASK_QA : 0);
        return 0;
    }
    const char *task = enum_name(TASK_SET_NAMES, e->o.tasks);
    if ((e->o.tasks & 1 << TASK_NER) && !ner) return err_set(err, "%s has no trained NER head (classifier.*): --task %s", e->model, task);
    if ((e->o.tasks & 1 << TASK_QA) && !qa) return err_set(err, "%s has no trained QA head (qa_outputs.*): --task %s", e->model, task);
    return 0;
}

/* The windows of the heads scored must fit the model's positions. */
static int check_positions(const EvalOpts *e, const ModelOpen *mo, Err *err) {
    int pos = model_config(mo->m)->maxT, ner = (e->o.tasks & 1 << TASK_NER) != 0, qa = (e->o.tasks & 1 << TASK_QA) != 0;
    const char *from = e->run_windows ? " (from the run's config.json)" : "";
    if (ner && e->o.seq_ner > pos)
        return err_set(err, "--seq-ner %d%s exceeds the model's %d positions (%s): give --seq-ner <= %d",
                       e->o.seq_ner, eval_key_given(e, "seq-ner") ? "" : from, pos, mo->dir, pos);
    if (qa && e->o.seq_qa > pos)
        return err_set(err, "--seq-qa %d%s exceeds the model's %d positions (%s): give --seq-qa <= %d",
                       e->o.seq_qa, eval_key_given(e, "seq-qa") ? "" : from, pos, mo->dir, pos);
    return 0;
}

static int eval_ner_splits(const EvalOpts *e, Model *m, BatchBuf *bb, TrainData *d, JsonW *w, Err *err) {
    const TrainOptions *o = &e->o;
    char p[1300];
    NerScores dev, test;
    snprintf(p, sizeof p, "%s/predictions/ner_dev.conlleval.txt", e->out);
    if (eval_ner(m, bb, o->batch, &d->ner_dev_c, &d->ner_dev, 0, o->decode, p, &dev, err)) return -1;
    jw_obj(w, "ner");
    jw_str(w, "decode", enum_name(NER_DECODE_NAMES, o->decode));
    ner_scores_json(w, "dev", &dev);
    printf("mtl eval: NER dev F1 %.2f (%d sentences)\n", dev.f1, dev.sentences);
    if (o->no_test) {
        jw_null(w, "test");
    } else {
        snprintf(p, sizeof p, "%s/predictions/ner_test.conlleval.txt", e->out);
        if (eval_ner(m, bb, o->batch, &d->ner_test_c, &d->ner_test, 0, o->decode, p, &test, err)) return -1;
        ner_scores_json(w, "test", &test);
        printf("mtl eval: NER test F1 %.2f (%d sentences)\n", test.f1, test.sentences);
    }
    jw_end(w);
    return 0;
}

static int eval_qa_dev(const EvalOpts *e, Model *m, BatchBuf *bb, TrainData *d, JsonW *w, Err *err) {
    char p[1300];
    QaScores dev;
    snprintf(p, sizeof p, "%s/predictions/qa_dev_predictions.json", e->out);
    if (eval_qa(m, bb, e->o.batch, &d->qa_dev_ds, &d->qa_dev, e->o.qa_dev_limit, p, &dev, err)) return -1;
    jw_obj(w, "qa");
    qa_scores_json(w, "dev", &dev);
    jw_null(w, "test");
    jw_str(w, "test_note", "SQuAD v1.1 has no public test set: QA is scored on the official dev set "
                           "(dev.questions says how many of its 10,570 questions)");
    jw_end(w);
    printf("mtl eval: QA dev EM %.2f F1 %.2f (%d questions)\n", dev.exact_match, dev.f1, dev.questions);
    return 0;
}

static int eval_all(const EvalOpts *e, ModelOpen *mo, Manifest *mf, Err *err) {
    const TrainOptions *o = &e->o;
    char p[1300];
    snprintf(p, sizeof p, "%s/predictions", e->out);
    if (mkdir_p(p, err)) return -1;
    TrainData d;
    int rc = eval_data_load(&d, o, mo->vocab, mf, err);
    BatchBuf bb;
    batchbuf_init(&bb, o->batch, o->seq_ner > o->seq_qa ? o->seq_ner : o->seq_qa);
    JsonW w;
    jw_init(&w);
    jw_obj(&w, NULL);
    jw_str(&w, "model", mo->dir);
    jw_str(&w, "model_kind", mo->kind);
    jw_str(&w, "task", enum_name(TASK_SET_NAMES, o->tasks));
    if (rc == 0 && d.has_ner) rc = eval_ner_splits(e, mo->m, &bb, &d, &w, err);
    if (rc == 0 && d.has_qa) rc = eval_qa_dev(e, mo->m, &bb, &d, &w, err);
    snprintf(p, sizeof p, "%s/metrics.json", e->out);
    if (rc == 0) rc = jw_write_file(&w, p, err);
    snprintf(p, sizeof p, "%s/manifest.json", e->out);
    if (rc == 0) rc = manifest_write(mf, p, 1, err);
    jw_free(&w);
    batchbuf_free(&bb);
    eval_data_free(&d);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    EvalOpts e = {0};
    train_options_default(&e.o); /* batch 16 as mtl train's: scores are bitwise those of a run */
    int rc = parse_eval_args(argc, argv, &e);
    if (rc >= 0) return rc;
    Backend *be = backend_cpu(e.o.threads);
    int maxT = e.o.seq_ner > e.o.seq_qa ? e.o.seq_ner : e.o.seq_qa;
    Manifest mf;
    manifest_begin(&mf, argc, argv, DEVICE_CPU, e.o.threads);
    ModelOpen mo = {0};
    Err err;
    rc = model_open(e.model, be, e.o.batch, maxT, 1, &mo, &err);
    if (rc == 0) rc = pick_task(&e, &mo, &err);
    int bad_window = rc == 0 && check_positions(&e, &mo, &err) != 0; /* an option error: 2 */
    if (bad_window) rc = -1;
    if (rc == 0) rc = manifest_add_dir(&mf, "model", mo.dir, &err);
    if (rc == 0) rc = eval_all(&e, &mo, &mf, &err);
    if (rc == 0) printf("mtl eval: %s -> %s/metrics.json\n", mo.dir, e.out);
    else fprintf(stderr, "mtl eval: %s\n", err.msg);
    if (mo.m) model_open_free(&mo);
    be->destroy(be);
    return bad_window ? 2 : rc ? 1 : 0;
}

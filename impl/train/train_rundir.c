/* train_rundir.c — the files of a training run's directory (impl/train/train.c
 * runs the loop): config.json, manifest.json and the tokenizer files at the
 * start; log.csv, eval.csv and gradnorm.csv or weights.csv (kept in memory, rewritten
 * whole, reloaded up to the checkpoint's step on --resume); at the end
 * metrics.json with predictions/, timing.json, params.json, memory.json and
 * the final manifest.json. Rank 0 only (data parallel).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rundir.h"
#include "train_internal.h"

void train_path(const Trainer *t, const char *name, char *out, size_t n) {
    snprintf(out, n, "%s/%s", t->dir, name);
}

/* ---- logs ----------------------------------------------------------------- */

static const char LOG_HEADER[] = "step,task,loss_ner,loss_qa,lr,grad_norm,tokens_per_s,wall_s\n";
static const char EVAL_HEADER[] = "step,split,task,n,loss,f1,em\n"; /* n: sentences / questions */
/* w_*: the weights the step used; G, r, L_grad: gradnorm.h; m_*, v_*: the
 * weights' Adam moments after this step's update (so that each update can be
 * checked on its own: reference/loss_weighting_check.py) */
static const char GN_HEADER[] = "step,w_ner,w_qa,G_ner,G_qa,r_ner,r_qa,L_grad,m_ner,m_qa,v_ner,v_qa\n";

/* Keep the rows of an existing CSV whose first field (step) is <= upto, and
 * refill the per-step loss history from log rows. */
static void reload_csv(Trainer *t, const char *name, const char *header, StrBuf *dst, long upto,
                       int is_log) {
    char path[1200];
    train_path(t, name, path, sizeof path);
    sb_printf(dst, "%s", header);
    size_t len;
    Err e;
    char *buf = read_file_all(path, &len, &e);
    if (!buf) return;
    char *save = NULL;
    for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *end;
        long step = strtol(l, &end, 10);
        if (end == l || *end != ',' || step > upto || step < 1) continue;
        sb_printf(dst, "%s\n", l);
        if (!is_log || step > t->total) continue;
        const char *last_comma = strrchr(l, ',');
        t->wall_before = strtod(last_comma + 1, NULL); /* wall_s of the last kept row */
        /* step,task,loss_ner,loss_qa,... */
        char *f = strchr(end + 1, ',');
        if (!f) continue;
        char *g = strchr(f + 1, ',');
        if (g) { /* losses are floats printed with %.9g: (float)strtod restores them exactly */
            t->loss_hist[0][step - 1] = f + 1 == g ? NAN : (double)(float)strtod(f + 1, NULL);
            char *h = strchr(g + 1, ',');
            t->loss_hist[1][step - 1] = h == g + 1 ? NAN : (double)(float)strtod(g + 1, NULL);
        }
    }
    free(buf);
}

int train_flush_logs(Trainer *t, Err *err) {
    char p1[1200], p2[1200];
    train_path(t, "log.csv", p1, sizeof p1);
    train_path(t, "eval.csv", p2, sizeof p2);
    if (atomic_write_file(p1, t->log.buf, t->log.len, err)) return -1;
    if (t->use_gn) {
        char p3[1200];
        train_path(t, "gradnorm.csv", p3, sizeof p3);
        if (atomic_write_file(p3, t->gnlog.buf, t->gnlog.len, err)) return -1;
    }
    if (t->wlog.len) {
        char p4[1200];
        train_path(t, "weights.csv", p4, sizeof p4);
        if (atomic_write_file(p4, t->wlog.buf, t->wlog.len, err)) return -1;
    }
    return atomic_write_file(p2, t->evlog.buf, t->evlog.len, err);
}

static void fmt_loss(char *buf, size_t n, double v) {
    if (isnan(v)) buf[0] = '\0';
    else snprintf(buf, n, "%.9g", v);
}

void train_log_step(Trainer *t, long step, int tasks, const double loss[NUM_TASKS], float lr, double gnorm,
                     double tok_s) {
    char a[32], b[32];
    fmt_loss(a, sizeof a, loss[0]);
    fmt_loss(b, sizeof b, loss[1]);
    const char *task = task_set_name(tasks);
    sb_printf(&t->log, "%ld,%s,%s,%s,%.9g,%.9g,%.1f,%.3f\n", step, task, a, b, lr, gnorm, tok_s,
              t->wall_before + now_seconds() - t->wall0);
}

static int final_eval(Trainer *t, RunSummary *sum, JsonW *w, Err *err) {
    const TrainOptions *o = t->o;
    char pdir[1200], p[1300];
    train_path(t, "predictions", pdir, sizeof pdir);
    if (mkdir_p(pdir, err)) return -1;
    long done = t->total;
    if (t->d.has_ner) {
        NerScores dev, test;
        snprintf(p, sizeof p, "%s/ner_dev.conlleval.txt", pdir);
        if (eval_ner(t->m, &t->bb, o->batch, &t->d.ner_dev_c, &t->d.ner_dev, 0, o->decode, p, &dev, err))
            return -1;
        sb_printf(&t->evlog, "%ld,dev,ner,%d,%.9g,%.9g,\n", done, dev.sentences, dev.loss, dev.f1);
        sum->ner_dev_f1 = dev.f1;
        sum->ner_dev_macro_f1 = dev.macro_f1;
        jw_obj(w, "ner");
        jw_str(w, "decode", enum_name(NER_DECODE_NAMES, o->decode));
        ner_scores_json(w, "dev", &dev);
        if (!o->no_test) {
            snprintf(p, sizeof p, "%s/ner_test.conlleval.txt", pdir);
            if (eval_ner(t->m, &t->bb, o->batch, &t->d.ner_test_c, &t->d.ner_test, 0, o->decode, p,
                         &test, err))
                return -1;
            sb_printf(&t->evlog, "%ld,test,ner,%d,%.9g,%.9g,\n", done, test.sentences, test.loss,
                      test.f1);
            sum->ner_test_f1 = test.f1;
            sum->ner_test_macro_f1 = test.macro_f1;
            ner_scores_json(w, "test", &test);
        } else {
            jw_null(w, "test");
        }
        jw_end(w);
        train_note(t, "final: NER dev F1 %.2f%s\n", dev.f1, "");
        if (!o->no_test) train_note(t, "final: NER test F1 %.2f\n", test.f1);
    }
    if (t->d.has_qa) {
        QaScores dev;
        snprintf(p, sizeof p, "%s/qa_dev_predictions.json", pdir);
        if (eval_qa(t->m, &t->bb, o->batch, &t->d.qa_dev_ds, &t->d.qa_dev, o->qa_dev_limit, p,
                    &dev, err))
            return -1;
        sb_printf(&t->evlog, "%ld,dev,qa,%d,%.9g,%.9g,%.9g\n", done, dev.questions, dev.loss, dev.f1,
                  dev.exact_match);
        sum->qa_dev_em = dev.exact_match;
        sum->qa_dev_f1 = dev.f1;
        jw_obj(w, "qa");
        qa_scores_json(w, "dev", &dev);
        jw_null(w, "test");
        jw_str(w, "test_note",
               dev.full ? "SQuAD v1.1 has no public test set: QA is evaluated on the full official dev set (10,570 questions)"
                        : "SQuAD v1.1 has no public test set: QA is evaluated on a fixed prefix of the official dev set (see dev.questions; --qa-dev-limit 0 for the full set)");
        jw_str(w, "train_data", t->d.qa_train_desc);
        jw_end(w);
        train_note(t, "final: QA dev EM %.2f F1 %.2f (%d questions)\n", dev.exact_match, dev.f1,
                dev.questions);
    }
    return 0;
}

/* "uncertainty": {lr, final s_i and w_i} or "dwa": {temperature, period (in
 * steps, resolved), final r_i and w_i}; the weights are the next step's. */
static void weighting_json(const Trainer *t, JsonW *w) {
    const TrainOptions *o = t->o;
    char key[32];
    int unc = o->loss_weighting == LOSS_WEIGHTING_UNCERTAINTY;
    jw_obj(w, enum_name(LOSS_WEIGHTING_NAMES, o->loss_weighting));
    if (unc) {
        jw_num(w, "lr", o->uncertainty_lr);
    } else {
        jw_num(w, "temperature", o->dwa_temperature);
        jw_int(w, "period", t->dwa.period);
    }
    for (int k = 0; k < NUM_TASKS; k++) { /* final_s_ner, ... or final_r_ner, ... */
        snprintf(key, sizeof key, "final_%s_%s", unc ? "s" : "r", task_name(k));
        jw_num(w, key, unc ? t->unc.s[k] : t->dwa.r[k]);
    }
    for (int k = 0; k < NUM_TASKS; k++) {
        snprintf(key, sizeof key, "final_w_%s", task_name(k));
        jw_num(w, key, train_task_weight(t, k));
    }
    jw_end(w);
}

int train_write_metrics(Trainer *t, RunSummary *sum, Err *err) {
    const TrainOptions *o = t->o;
    JsonW w;
    jw_init(&w);
    jw_obj(&w, NULL);
    jw_str(&w, "task", enum_name(TASK_SET_NAMES, o->tasks));
    jw_str(&w, "preset", o->preset);
    jw_str(&w, "sampling", enum_name(SAMPLING_NAMES, o->sampling));
    for (int k = 0; k < NUM_TASKS; k++) { /* "lambda_ner", "lambda_qa" */
        char key[32];
        snprintf(key, sizeof key, "lambda_%s", task_name(k));
        jw_num(&w, key, o->lambda[k]);
    }
    jw_str(&w, "loss_weighting", enum_name(LOSS_WEIGHTING_NAMES, o->loss_weighting));
    if (t->use_gn) {
        jw_obj(&w, "gradnorm");
        jw_num(&w, "alpha", o->gradnorm_alpha);
        jw_num(&w, "lr", o->gradnorm_lr);
        jw_str(&w, "layer", t->gn.W->name);
        jw_num(&w, "final_w_ner", t->gn.s.w[0]);
        jw_num(&w, "final_w_qa", t->gn.s.w[1]);
        jw_end(&w);
    }
    if (o->loss_weighting == LOSS_WEIGHTING_UNCERTAINTY || o->loss_weighting == LOSS_WEIGHTING_DWA)
        weighting_json(t, &w);
    jw_int(&w, "seed", o->seed);
    jw_int(&w, "steps", t->total);
    jw_str(&w, "init", o->init[0] ? o->init : "random");
    if (t->hf) jw_str(&w, "init_dir", t->hfi.dir);
    jw_obj(&w, "final_train_loss");
    jw_num(&w, "ner", sum->final_loss_ner);
    jw_num(&w, "qa", sum->final_loss_qa);
    jw_end(&w);
    int rc = final_eval(t, sum, &w, err);
    if (rc == 0) {
        jw_str(&w, "qa_train_data", t->d.has_qa ? t->d.qa_train_desc : "SQuAD v1.1 train, 44-article subset (11,877 q) (not used: task ner)");
        char p[1200];
        train_path(t, "metrics.json", p, sizeof p);
        rc = jw_write_file(&w, p, err);
    }
    jw_free(&w);
    return rc;
}

/* timing.json: the only run file with wall-clock values besides log.csv and
 * manifest.json (so that metrics.json is bitwise reproducible). */
/* timing.json after `done` steps (t->total, or --stop-after's step; eval_s
 * is then NAN: no final evaluation). */
int train_write_timing(Trainer *t, RunSummary *sum, long done, double eval_s, Err *err) {
    sum->train_wall_s = t->wall_before + t->train_s;
    JsonW w;
    jw_init(&w);
    jw_obj(&w, NULL);
    jw_num(&w, "train_wall_s", sum->train_wall_s);
    jw_num(&w, "final_eval_wall_s", eval_s);
    jw_int(&w, "steps", done);
    jw_int(&w, "steps_this_process", done - t->start_step);
    jw_num(&w, "s_per_step_this_process",
           done > t->start_step ? t->train_s / (double)(done - t->start_step) : 0.0);
    jw_int(&w, "ranks", t->nranks);
    /* data parallel: seconds rank 0 spent summing over the ranks after the
     * backward (exposed), and, with overlap, inside the backward posting and
     * pushing transfers; of the exposed time, the overlap's final wait + sum */
    jw_num(&w, "rank_sum_s_this_process", t->sum_s);
    jw_int(&w, "overlap", t->ovl != NULL);
    jw_num(&w, "rank_overlap_post_s_this_process", t->ovl_ready_s);
    jw_num(&w, "rank_overlap_finish_s_this_process", t->ovl_finish_s);
    jw_obj(&w, "padding_fraction_this_process"); /* 1 - real / computed tokens of the training batches */
    for (int k = 0; k < NUM_TASKS; k++)
        jw_num(&w, task_name(k), t->tok_all[k] > 0 ? 1.0 - t->tok_real[k] / t->tok_all[k] : NAN);
    jw_end(&w);
    jw_str(&w, "note", "train_wall_s includes dev evaluations during training and the wall time before a --resume (from log.csv); padding: batches are padded to their longest window (--group-by-length groups similar lengths)");
    char p[1200];
    train_path(t, "timing.json", p, sizeof p);
    int rc = jw_write_file(&w, p, err);
    jw_free(&w);
    return rc;
}

int train_write_params_memory(Trainer *t, RunSummary *sum, Err *err) {
    const ModelConfig *cfg = model_config(t->m);
    int maxT = t->bb.maxT;
    ModelCounts c = model_counts(cfg, t->o->batch, maxT);
    c.act_bytes = model_counts_act_bytes(&c, t->be); /* this device's layout */
    JsonW w;
    jw_init(&w);
    jw_obj(&w, NULL);
    jw_int(&w, "total", (long long)c.total);
    jw_int(&w, "shared", (long long)c.shared);
    jw_int(&w, "embeddings", (long long)c.embeddings);
    jw_int(&w, "per_layer", (long long)c.per_layer);
    jw_int(&w, "layers", cfg->L);
    jw_int(&w, "ner_head", (cfg->heads & HEAD_NER) ? (long long)c.ner_head : 0);
    jw_int(&w, "qa_head", (cfg->heads & HEAD_QA) ? (long long)c.qa_head : 0);
    jw_int(&w, "bytes", (long long)c.param_bytes);
    jw_int(&w, "two_single_task_models_total", (long long)(2 * c.encoder + c.ner_head + c.qa_head));
    if (cfg->task_layers > 0) { /* --shared-layers K < L: each task's own top layers */
        jw_int(&w, "shared_layers", config_shared_layers(cfg));
        jw_int(&w, "task_layers_per_task", (long long)c.task_layers);
    }
    if (cfg->frozen_encoder) { /* --freeze-encoder / LoRA: what trains */
        jw_int(&w, "trainable", (long long)c.trainable);
        jw_num(&w, "trainable_fraction_of_encoder", (double)c.trainable / (double)c.encoder);
    }
    if (cfg->lora_rank > 0) {
        char tg[32];
        config_lora_targets_name(cfg->lora_targets, tg, sizeof tg);
        jw_int(&w, "lora_rank", cfg->lora_rank);
        jw_num(&w, "lora_alpha", cfg->lora_alpha);
        jw_str(&w, "lora_targets", tg);
        jw_int(&w, "lora_per_task", (long long)c.lora);
        jw_num(&w, "lora_per_task_fraction_of_encoder", (double)c.lora / (double)c.encoder);
    }
    char p[1200];
    train_path(t, "params.json", p, sizeof p);
    int rc = jw_write_file(&w, p, err);
    jw_free(&w);
    if (rc) return -1;
    sum->params_total = (double)c.total;
    sum->peak_rss_bytes = (double)peak_rss_bytes();
    jw_init(&w);
    jw_obj(&w, NULL);
    jw_int(&w, "peak_rss_bytes", (long long)peak_rss_bytes());
    jw_int(&w, "param_bytes", (long long)c.param_bytes);
    jw_int(&w, "grad_bytes", (long long)c.grad_bytes);
    jw_int(&w, "optimizer_bytes", (long long)c.optim_bytes);
    jw_int(&w, "activation_bytes", (long long)c.act_bytes);
    jw_int(&w, "batch", t->o->batch);
    jw_int(&w, "max_seq", maxT);
    jw_str(&w, "note", "peak RSS of the whole process (data, features and model); with --seeds it is the maximum so far over the runs of the process");
    train_path(t, "memory.json", p, sizeof p);
    rc = jw_write_file(&w, p, err);
    jw_free(&w);
    return rc;
}

/* config.json, manifest.json (not finished yet) and the tokenizer files. */
static int write_header_files(Trainer *t, Err *err) {
    const TrainOptions *o = t->o;
    char p[1200];
    if (o->overwrite && rundir_clear(&t->rd, err)) return -1;
    t->header_written = 1;
    if (t->rd.stale) train_note(t, "mtl train: removed %d stale temp file(s) of an interrupted write in %s\n", t->rd.stale, t->dir);
    train_path(t, "config.json", p, sizeof p);
    if (train_options_write_json(o, p, err)) return -1;
    train_path(t, "manifest.json", p, sizeof p);
    if (manifest_write(&t->mf, p, 0, err)) return -1;
    return hf_write_tokenizer_files(t->dir, t->d.vocab_path, vocab_lower_case(t->d.vocab),
                                    vocab_strip_accents(t->d.vocab), model_config(t->m)->maxT, err);
}

int train_run_has_metrics(const Trainer *t) {
    char p[1200];
    struct stat sb;
    train_path(t, "metrics.json", p, sizeof p);
    return stat(p, &sb) == 0;
}

/* Run-directory files that describe the run (written once every check
 * passed), then the logs of an earlier process up to the checkpoint's step
 * (--resume) or just their headers. */
int train_write_run_header(Trainer *t, Err *err) {
    const TrainOptions *o = t->o;
    if (write_header_files(t, err)) return -1;
    reload_csv(t, "log.csv", LOG_HEADER, &t->log, o->resume ? t->start_step : 0, 1);
    reload_csv(t, "eval.csv", EVAL_HEADER, &t->evlog, o->resume ? t->start_step : 0, 0);
    if (t->use_gn)
        reload_csv(t, "gradnorm.csv", GN_HEADER, &t->gnlog, o->resume ? t->start_step : 0, 0);
    char wh[256];
    train_weighting_header(t, wh, sizeof wh);
    if (wh[0]) reload_csv(t, "weights.csv", wh, &t->wlog, o->resume ? t->start_step : 0, 0);
    return 0;
}

/* manifest.json again at the end, now marked finished. */
int train_write_final_manifest(Trainer *t, Err *err) {
    char p[1200];
    train_path(t, "manifest.json", p, sizeof p);
    return manifest_write(&t->mf, p, 1, err);
}

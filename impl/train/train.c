/* train.c — one training run: the optimiser loop with its sampling
 * strategies, checkpoints, resume and progress (the run directory's files:
 * train_rundir.c).
 *
 * One optimiser step s (0-based) with the tasks k picked for it:
 *   zero_grad; for each picked task (NER before QA):
 *       forward(batch_k, dropout (seed, step s, pass k)); backward(lambda_k)
 *   g = ||grad||; clip to o->adamw.clip; lr = lr_schedule(s, total, warmup, o->adamw.lr)
 *   AdamW(lr)
 * so joint sampling minimises sum_k lambda_k L_k (the grads
 * of both passes accumulate), and a single-task step minimises lambda_k L_k.
 * With --loss-weighting gradnorm (joint only) the weights w_k replace the
 * lambdas and are updated after the two backward passes (gradnorm.h); with
 * uncertainty or dwa they are updated from the step's losses
 * (loss_weighting.h, train_weighting.c).
 */
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "dist.h"
#include "gradnorm.h"
#include "optim.h"
#include "profile_backend.h"
#include "rundir.h"
#include "safetensors.h"
#include "sha256.h"
#include "train_internal.h"

/* ---- signals ------------------------------------------------------------------
 * SIGINT / SIGTERM / SIGHUP during the training loop: the step in progress
 * finishes, a checkpoint is written and the run exits 128 + signal, to be
 * continued with --resume. A second signal ends the process at once. */
static volatile sig_atomic_t g_stop_signal;
static const int STOP_SIGNALS[] = {SIGINT, SIGTERM, SIGHUP};
#define N_STOP_SIGNALS 3

static void on_stop_signal(int sig) {
    if (g_stop_signal) { /* the second one: default action now */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    g_stop_signal = sig;
}

static void catch_stop_signals(struct sigaction old[N_STOP_SIGNALS]) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    g_stop_signal = 0;
    for (int i = 0; i < N_STOP_SIGNALS; i++) sigaction(STOP_SIGNALS[i], &sa, &old[i]);
}

static void restore_signals(const struct sigaction old[N_STOP_SIGNALS]) {
    for (int i = 0; i < N_STOP_SIGNALS; i++) sigaction(STOP_SIGNALS[i], &old[i], NULL);
}

static const char *signal_name(int sig) {
    return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "a signal";
}

/* A stop signal caught before the first training step (while the data, the
 * init or the model were being prepared): stop there. Returns 2 (stopped by
 * a signal) with err saying so; the run directory is removed again if this
 * run created it and wrote nothing. */
static int stopped_in_setup(int *stop_sig, Err *err) {
    *stop_sig = g_stop_signal;
    err_set(err, "%s before the first training step: stopped, nothing was trained", signal_name(g_stop_signal));
    return 2;
}


/* Progress and notes on stderr, unless --quiet. */
void train_note(const Trainer *t, const char *fmt, ...) {
    if (t->o->quiet || t->rank != 0) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

/* ---- setup -------------------------------------------------------------- */

static int make_backend(Trainer *t, Err *err) {
    char why[512] = "";
    t->be = backend_open(t->o->device, t->o->threads, t->o->tf32, t->o->precision, why, sizeof why);
    if (!t->be) return err_set(err, "--device %s: %s", enum_name(DEVICE_NAMES, t->o->device), why);
    if (why[0]) train_note(t, "mtl train: note: %s\n", why);
    if (backend_set_attn_recompute(t->be, t->o->attention, why, sizeof why)) return err_set(err, "%s", why);
    backend_precision_describe(t->be, t->mf.precision, sizeof t->mf.precision);
    if (t->o->profile) t->be = backend_profiled(t->be);
    return dist_gpu_init(t->be, err);
}

/* Parameters from --init: a Hugging Face directory or a checkpoint.bin. */
static int init_params(Trainer *t, Err *err) {
    const char *init = t->o->init;
    if (!t->hf) {
        int copied, skipped;
        if (checkpoint_init_params(init, t->m, &copied, &skipped, err)) return -1;
        train_note(t, "mtl train: --init %s: %d tensors loaded, %d kept from random init\n", init, copied,
             skipped);
        return 0;
    }
    HfLoadReport r;
    if (hf_load_weights(&t->hfi, t->m, &r, err)) return -1;
    train_note(t, "mtl train: --init %s (%s): %d encoder tensors loaded; NER head %s, QA head %s\n", init,
         t->hfi.dir, r.encoder_tensors, r.ner_head ? "loaded" : "random init",
         r.qa_head ? "loaded" : "random init");
    if (r.head_note[0]) train_note(t, "mtl train: %s\n", r.head_note);
    if (r.n_ignored) train_note(t, "mtl train: %d tensors of the file not used: %s\n", r.n_ignored, r.ignored);
    return 0;
}

static int make_model(Trainer *t, Err *err) {
    const TrainOptions *o = t->o;
    ModelConfig cfg;
    if (t->hf) cfg = t->hf_cfg;
    else if (config_from_preset(&cfg, o->preset, err)) return -1;
    if (vocab_check_rows(t->d.vocab, t->d.vocab_path, cfg.V, t->hf, err)) return -1;
    cfg.heads = (t->d.has_ner ? HEAD_NER : 0) | (t->d.has_qa ? HEAD_QA : 0);
    cfg.task_layers = o->shared_layers >= 0 ? cfg.L - o->shared_layers : 0;
    cfg.frozen_encoder = o->freeze_encoder || o->lora_rank > 0;
    if (o->lora_rank > 0) {
        cfg.lora_rank = o->lora_rank;
        cfg.lora_alpha = o->lora_alpha;
        if (config_lora_targets_parse(o->lora_targets, &cfg.lora_targets, err)) return -1;
    }
    cfg.p_drop = o->dropout;
    int maxT = (t->d.has_ner ? o->seq_ner : 0) > (t->d.has_qa ? o->seq_qa : 0)
                   ? o->seq_ner
                   : (t->d.has_qa ? o->seq_qa : o->seq_ner);
    t->m = model_create(&cfg, t->be, o->batch, maxT, err);
    if (!t->m) return -1;
    batchbuf_init(&t->bb, o->batch, maxT);
    t->rows = xmalloc((size_t)o->batch * sizeof(int));
    model_init(t->m, (uint64_t)o->seed);
    return o->init[0] ? init_params(t, err) : 0;
}

static int n_train(const Trainer *t, int task) {
    if (task == TASK_NER) return t->d.has_ner ? t->d.n_ner_train : 0;
    return t->d.has_qa ? t->d.qa_train.n : 0;
}

/* Data parallel, sharded: tensor i >= 1 of the table (all but the word
 * embeddings, which travel by rows at the end) is bucket i-1 of the rest's
 * overlapped reduce-scatter; model_backward reports finished tensors. */
static void grads_done(void *ctx, int first, int last) {
    Trainer *t = ctx;
    if (!t->ovl_armed) return;
    for (int i = first > 1 ? first : 1; i < last; i++) dist_overlap_ready(t->ovl, i - 1);
}

static void overlap_init(Trainer *t) {
    int nt = model_num_tensors(t->m);
    size_t *ends = xmalloc((size_t)nt * sizeof *ends), at = t->E;
    for (int i = 1; i < nt; i++) {
        const ParamInfo *p = model_tensor(t->m, i);
        if (p->offset != at) die("overlap_init: tensor %s is not where the one before it ends", p->name);
        at += p->numel;
        ends[i - 1] = at - t->E;
    }
    t->ovl = dist_overlap_new(ends, nt - 1, t->shard_rest);
    free(ends);
    model_set_grads_done(t->m, grads_done, t);
}

static int make_schedule(Trainer *t, Err *err) {
    const TrainOptions *o = t->o;
    int n[NUM_TASKS];
    for (int k = 0; k < NUM_TASKS; k++) n[k] = n_train(t, k);
    if (task_sampler_init(&t->ts, o->sampling, n, o->temperature, err)) return -1;
    t->per_epoch = steps_per_epoch(&t->ts, o->batch);
    t->total = o->max_steps > 0 ? o->max_steps : (long)o->epochs * t->per_epoch;
    t->warmup = o->warmup_ratio >= 0 ? lround(o->warmup_ratio * (double)t->total) : o->warmup;
    for (int k = 0; k < NUM_TASKS; k++) {
        order_init(&t->order[k], n_train(t, k), (uint64_t)o->seed, SAMPLER_STREAM_ORDER + (uint32_t)k);
        if (o->group_by_length && n_train(t, k) > 0)
            order_group_by_length(&t->order[k], t->d.len[k], 50 * o->batch); /* HF's megabatch of 50 */
        t->loss_hist[k] = xmalloc((size_t)t->total * sizeof(double));
        for (long s = 0; s < t->total; s++) t->loss_hist[k][s] = NAN;
    }
    t->use_gn = o->loss_weighting == LOSS_WEIGHTING_GRADNORM;
    double w0[NUM_TASKS]; /* GradNorm's initial weights: the lambdas */
    for (int k = 0; k < NUM_TASKS; k++) w0[k] = o->lambda[k];
    if (t->use_gn && gradnorm_init(&t->gn, t->m, o->gradnorm_layer, o->gradnorm_alpha, o->gradnorm_lr, w0, err))
        return -1;
    if (t->use_gn && t->nranks > 1) t->gn.reduce = dist_sum_floats; /* G of the global batch */
    train_weighting_init(t);
    /* ZeRO-1 on the host (GPUs: NCCL, whole update; a frozen encoder's few
     * trainable parameters: every rank updates them all) */
    if (t->nranks > 1 && o->device == DEVICE_CPU && model_trainable_offset(t->m) == 0) {
        const ParamInfo *w = model_tensor(t->m, 0); /* emb.word (sum_gradients checks) */
        t->sharded = 1;
        t->E = w->numel;
        t->shard_emb = xmalloc(((size_t)t->nranks + 1) * sizeof(size_t));
        t->shard_rest = xmalloc(((size_t)t->nranks + 1) * sizeof(size_t));
        dist_shards(t->E, t->shard_emb);
        dist_shards(model_num_params(t->m) - t->E, t->shard_rest);
        if (!o->no_overlap) overlap_init(t);
    }
    return 0;
}

/* ---- progress ------------------------------------------------------------ */

static void fmt_hms(char *buf, size_t n, double s) {
    long x = s < 0 ? 0 : (long)(s + 0.5);
    snprintf(buf, n, "%02ld:%02ld:%02ld", x / 3600, x / 60 % 60, x % 60);
}

static void progress(const Trainer *t, long done, const double loss[NUM_TASKS], float lr, double tok_s) {
    double el = now_seconds() - t->wall0;
    double eta = done > t->start_step ? el / (double)(done - t->start_step) * (double)(t->total - done) : 0;
    char e1[32], e2[32];
    fmt_hms(e1, sizeof e1, el);
    fmt_hms(e2, sizeof e2, eta);
    train_note(t, "step %ld/%ld", done, t->total);
    if (!isnan(loss[0])) train_note(t, " | ner %.4f", loss[0]);
    if (!isnan(loss[1])) train_note(t, " | qa %.4f", loss[1]);
    if (t->o->loss_weighting != LOSS_WEIGHTING_STATIC)
        train_note(t, " | w %.3f/%.3f", train_task_weight(t, 0), train_task_weight(t, 1));
    train_note(t, " | lr %.3e | %.0f tok/s | %s elapsed, ETA %s\n", lr, tok_s, e1, e2);
}

/* ---- one optimiser step --------------------------------------------------- */

/* --dump-batches: "s<step>.<task>.<field>" tensors, fields ids types mask
 * [B,T] and labels [B,T] (NER) or start end [B] (QA); step is 1-based. */
static void dump_batch(Trainer *t, const Batch *b, long step) {
    char name[64];
    const char *tk = task_name(b->task);
    int BT = b->B * b->T;
    const int *f[4] = {b->ids, b->types, b->mask, b->labels};
    const char *fn[4] = {"ids", "types", "mask", "labels"};
    for (int i = 0; i < (b->task == TASK_NER ? 4 : 3); i++) {
        snprintf(name, sizeof name, "s%ld.%s.%s", step, tk, fn[i]);
        float *dst = st_list_add(&t->dump, name, b->B, b->T);
        for (int k = 0; k < BT; k++) dst[k] = (float)f[i][k];
    }
    if (b->task == TASK_QA) {
        snprintf(name, sizeof name, "s%ld.qa.start", step);
        st_list_add_ints(&t->dump, name, b->start, b->B);
        snprintf(name, sizeof name, "s%ld.qa.end", step);
        st_list_add_ints(&t->dump, name, b->end, b->B);
    }
}

/* The heads' initial weights ("init.ner.w", ...), which a replay needs. */
static void dump_init(Trainer *t) {
    const char *heads[4] = {"ner.w", "ner.b", "qa.w", "qa.b"};
    float *all = xmalloc(model_num_params(t->m) * sizeof(float));
    model_params_to_host(t->m, all); /* once, not per head */
    for (int i = 0; i < 4; i++) {
        const ParamInfo *p = model_find_tensor(t->m, heads[i]);
        if (!p) continue;
        char name[64];
        snprintf(name, sizeof name, "init.%s", heads[i]);
        float *dst = st_list_add(&t->dump, name, p->shape[0], p->ndim == 2 ? p->shape[1] : 0);
        memcpy(dst, all + p->offset, p->numel * sizeof(float));
    }
    free(all);
}

/* This rank's rows of the global batch g (all of it with one rank), as a
 * slice whose loss is normalised by g's valid-target counts (model.h).
 * Returns 0 when the share is empty (B < ranks). */
static int rank_share(const Trainer *t, const Batch *g, Batch *b) {
    *b = *g;
    if (t->nranks == 1) return 1;
    int lo, hi;
    dist_share(g->B, &lo, &hi);
    *b = batch_slice(g, lo, hi);
    return b->B > 0;
}

/* Data parallel: remember the token ids of the global batch g, the only rows
 * of the word-embedding gradient that any rank can make non-zero. */
static void note_ids(Trainer *t, const Batch *g) {
    if (!t->id_seen) {
        int V = model_config(t->m)->V;
        t->id_seen = xcalloc((size_t)V, 1);
        t->id_rows = xmalloc((size_t)V * sizeof(int));
    }
    for (int i = 0; i < g->B * g->T; i++)
        if (!t->id_seen[g->ids[i]]) {
            t->id_seen[g->ids[i]] = 1;
            t->id_rows[t->n_ids++] = g->ids[i];
        }
}

/* The gradient sum over the ranks: the word-embedding table (first in the
 * parameter table, [V, C]) by the rows this step's batches touched, the rest
 * densely. Bitwise the dense sum: the other rows are +0 on every rank. */
static void sum_gradients(Backend *be, float *g, size_t n, void *ctx) {
    Trainer *t = ctx;
    if (model_trainable_offset(t->m) > 0) { /* frozen encoder: the gradients are the heads' and adapters' */
        for (int k = 0; k < t->n_ids; k++) t->id_seen[t->id_rows[k]] = 0;
        t->n_ids = 0;
        dist_sum_backend(be, g, n);
        return;
    }
    const ParamInfo *w = model_tensor(t->m, 0);
    if (strcmp(w->name, "emb.word") || w->offset != 0) die("sum_gradients: the table must start with emb.word");
    size_t V = (size_t)w->shape[0], C = (size_t)w->shape[1], E = V * C;
    dist_sum_rows(be, g, V, C, t->id_rows, t->n_ids);
    if (t->ovl) { /* only this rank's shard of the rest: most of it is on its way */
        dist_overlap_finish(t->ovl);
    } else if (t->sharded) { /* only this rank's shard of the rest */
        dist_reduce_scatter(g + E, t->shard_rest);
    } else {
        dist_sum_backend(be, g + E, n - E);
    }
    for (int k = 0; k < t->n_ids; k++) t->id_seen[t->id_rows[k]] = 0;
    t->n_ids = 0;
}

/* Forward + backward of one task's batch on this rank's share; *loss is the
 * share's part of the global batch's loss (the whole loss with one rank).
 * Returns the tokens computed on by all ranks (B x trimmed T), -1 on error. */
static long task_forward_backward(Trainer *t, int task, long step, double *loss, Err *err) {
    Batch g, b;
    order_next_batch(&t->order[task], t->o->batch, t->rows);
    long real = task == TASK_NER ? gather_ner(&t->d.ner_train, t->rows, t->o->batch, &t->bb, &g)
                                 : gather_qa(&t->d.qa_train, t->rows, t->o->batch, &t->bb, &g);
    t->tok_real[task] += (double)real;
    t->tok_all[task] += (double)g.B * g.T;
    if (t->o->dump_batches[0] && t->rank == 0) dump_batch(t, &g, step + 1);
    if (t->nranks > 1) note_ids(t, &g);
    *loss = 0.0;
    if (rank_share(t, &g, &b)) {
        float l;
        if (model_forward(t->m, &b, 1, (uint64_t)t->o->seed, (uint32_t)step, (uint32_t)task, &l, err))
            return -1;
        *loss = l;
        model_backward(t->m, &b, (float)train_task_weight(t, task));
    }
    if (t->use_gn) gradnorm_after_task(&t->gn, t->m, task);
    return (long)g.B * g.T;
}

/* Data parallel: the step's losses are the sums of the ranks' parts (rounded
 * to float, as one process's are) and the stop decision is common: any rank
 * that caught a stop signal stops every rank after this step. */
static void reduce_step_scalars(Trainer *t, double loss[NUM_TASKS]) {
    if (t->nranks == 1) return;
    double v[NUM_TASKS + 1], t0 = now_seconds(); /* the losses, then the stop flag */
    for (int k = 0; k < NUM_TASKS; k++) v[k] = loss[k];
    v[NUM_TASKS] = g_stop_signal ? 1.0 : 0.0;
    dist_sum_doubles(v, NUM_TASKS + 1);
    t->sum_s += now_seconds() - t0;
    for (int k = 0; k < NUM_TASKS; k++) loss[k] = isnan(v[k]) ? NAN : (double)(float)v[k];
    if (v[NUM_TASKS] > 0 && !t->stop_sig) t->stop_sig = g_stop_signal ? g_stop_signal : SIGTERM;
}

static int stop_requested(Trainer *t) {
    if (t->nranks == 1) t->stop_sig = g_stop_signal;
    return t->stop_sig;
}

/* After the joint backward: measure G, log the weights this step used, and
 * update them for the next step. */
static void gradnorm_step(Trainer *t, long done, const double loss[NUM_TASKS]) {
    double w_used[NUM_TASKS];
    memcpy(w_used, t->gn.s.w, sizeof w_used);
    gradnorm_update(&t->gn.s, loss, t->gn.G);
    const GradNormState *s = &t->gn.s;
    /* step, w_used[..], G[..], r[..], lgrad, m[..], v[..] (gradnorm.csv) */
    sb_printf(&t->gnlog, "%ld", done);
    const double *per_task[3] = {w_used, s->G, s->r};
    for (int a = 0; a < 3; a++)
        for (int k = 0; k < NUM_TASKS; k++) sb_printf(&t->gnlog, ",%.17g", per_task[a][k]);
    sb_printf(&t->gnlog, ",%.17g", s->lgrad);
    for (int k = 0; k < NUM_TASKS; k++) sb_printf(&t->gnlog, ",%.17g", s->m[k]);
    for (int k = 0; k < NUM_TASKS; k++) sb_printf(&t->gnlog, ",%.17g", s->v[k]);
    sb_printf(&t->gnlog, "\n");
}

static void gather_shards(Backend *be, float *x, size_t n, void *ctx) {
    (void)be, (void)n;
    Trainer *t = ctx;
    dist_all_gather(x, t->shard_emb);
    dist_all_gather(x + t->E, t->shard_rest);
}

/* Clip to o->adamw.clip and one AdamW step at lr on the summed gradients; returns
 * their global norm (non-finite: nothing updated). Sharded (ZeRO-1): the
 * norm is the rank-order sum of the shards' squares, each rank clips and
 * updates its shard, then the weights are gathered. */
static double optimizer_step(Trainer *t, float lr) {
    size_t r = (size_t)t->rank, lohi[4] = {0, model_num_trainable(t->m)};
    int nr = 1;
    if (t->sharded) { /* my rows of the embedding table, my part of the rest */
        size_t mine[4] = {t->shard_emb[r], t->shard_emb[r + 1], t->E + t->shard_rest[r], t->E + t->shard_rest[r + 1]};
        memcpy(lohi, mine, sizeof mine);
        nr = 2;
    }
    double ss = 0;
    for (int k = 0; k < nr; k++) ss += model_grad_sumsq_range(t->m, lohi[2 * k], lohi[2 * k + 1]);
    if (t->sharded) dist_sum_doubles(&ss, 1);
    double gnorm = sqrt(ss);
    if (!isfinite(gnorm)) return gnorm;
    for (int k = 0; k < nr; k++) model_clip_grad_range(t->m, gnorm, t->o->adamw.clip, lohi[2 * k], lohi[2 * k + 1]);
    model_adamw_step_ranges(t->m, &t->o->adamw, lr, lohi, nr);
    if (t->sharded) {
        double t0 = now_seconds();
        model_buffer_apply(t->m, MODEL_PARAMS, gather_shards, t);
        t->sum_s += now_seconds() - t0;
        t->opt_stale = 1;
    }
    return gnorm;
}

/* Sharded runs, before a checkpoint (on every rank: it is collective): the
 * Adam moments of every shard to every rank. */
static void sync_optstate(Trainer *t) {
    if (!t->opt_stale) return;
    model_buffer_apply(t->m, MODEL_ADAM_M, gather_shards, t);
    model_buffer_apply(t->m, MODEL_ADAM_V, gather_shards, t);
    t->opt_stale = 0;
}

static void overlap_begin(Backend *be, float *g, size_t n, void *ctx) {
    (void)be, (void)n;
    Trainer *t = ctx;
    dist_overlap_begin(t->ovl, g + t->E);
}

static int train_step(Trainer *t, long step, Err *err) {
    double t0 = now_seconds(), loss[NUM_TASKS] = {NAN, NAN};
    int tasks = task_sampler_pick(&t->ts, (uint64_t)t->o->seed, step);
    long toks = 0;
    model_zero_grad(t->m);
    if (t->ovl) model_buffer_apply(t->m, MODEL_GRADS, overlap_begin, t);
    for (int k = 0; k < NUM_TASKS; k++) {
        if (!(tasks & (1 << k))) continue;
        t->ovl_armed = !(tasks >> (k + 1)); /* the step's last pass */
        long n = task_forward_backward(t, k, step, &loss[k], err);
        if (n < 0) return -1;
        toks += n;
    }
    reduce_step_scalars(t, loss);
    for (int k = 0; k < NUM_TASKS; k++)
        if ((tasks & (1 << k)) && !isfinite(loss[k]))
            return err_set(err, "non-finite %s loss (%g) at step %ld", task_name(k), loss[k], step + 1);
    double t1 = now_seconds();
    if (t->use_gn) gradnorm_step(t, step + 1, loss);
    else train_weighting_step(t, step + 1, tasks, loss);
    if (t->nranks > 1) model_buffer_apply(t->m, MODEL_GRADS, sum_gradients, t);
    if (t->nranks > 1) t->sum_s += now_seconds() - t1; /* GradNorm's update itself is negligible */
    if (t->ovl) {
        double in_ready, in_finish;
        dist_overlap_times(t->ovl, &in_ready, &in_finish);
        t->ovl_ready_s += in_ready;
        t->ovl_finish_s += in_finish;
    }
    float lr = lr_schedule((int)step, (int)t->total, (int)t->warmup, t->o->adamw.lr);
    double gnorm = optimizer_step(t, lr);
    if (!isfinite(gnorm))
        return err_set(err, "non-finite gradient norm (%g) at step %ld (task %s)", gnorm, step + 1,
                       task_set_name(tasks));
    double tok_s = (double)toks / (now_seconds() - t0);
    for (int k = 0; k < NUM_TASKS; k++) t->loss_hist[k][step] = loss[k];
    train_log_step(t, step + 1, tasks, loss, lr, gnorm, tok_s);
    if ((step + 1) % t->o->log_every == 0 || step + 1 == t->total || step == t->start_step)
        progress(t, step + 1, loss, lr, tok_s);
    return 0;
}

/* ---- checkpoints ---------------------------------------------------------- */

static int save_checkpoint(Trainer *t, long done, Err *err) {
    TrainState st = {0};
    st.seed = (uint64_t)t->o->seed;
    st.step = done;
    st.n_orders = NUM_TASKS;
    for (int k = 0; k < NUM_TASKS; k++)
        st.order[k] = (OrderState){t->order[k].n, t->order[k].epoch, t->order[k].pos};
    st.options = t->options;
    if (t->use_gn) {
        st.n_aux = GRADNORM_STATE_LEN;
        gradnorm_pack(&t->gn.s, st.aux);
    } else {
        train_weighting_pack(t, &st);
    }
    if (checkpoint_save(t->ckpt, t->m, &st, err)) return -1;
    t->last_ckpt_step = done;
    return 0;
}


static int resume_from_checkpoint(Trainer *t, Err *err) {
    struct stat sb;
    if (stat(t->ckpt, &sb) != 0) {
        train_note(t, "mtl train: --resume: no %s yet, starting from step 0\n", t->ckpt);
        return 0;
    }
    TrainState st = {0};
    if (checkpoint_load(t->ckpt, t->m, &st, err)) return -1;
    char diff[512];
    int rc = 0;
    if (ckpt_options_diff(st.options, t->options, NULL, diff, sizeof diff))
        rc = err_set(err, "%s: --resume with different training options: %s", t->ckpt, diff);
    else if (st.n_orders != NUM_TASKS || st.step > t->total)
        rc = err_set(err, "%s: checkpoint at step %ld does not fit this run (%ld steps)", t->ckpt,
                     st.step, t->total);
    for (int k = 0; k < NUM_TASKS && rc == 0; k++) {
        if (st.order[k].n != t->order[k].n)
            rc = err_set(err, "%s: %s data order over %d items, this run has %d", t->ckpt,
                         task_name(k), st.order[k].n, t->order[k].n);
        else rc = order_seek(&t->order[k], st.order[k].epoch, st.order[k].pos, err);
    }
    if (rc == 0 && t->use_gn) {
        Err e;
        if (gradnorm_unpack(&t->gn.s, st.aux, st.n_aux, &e))
            rc = err_set(err, "%s: %s", t->ckpt, e.msg);
    } else if (rc == 0) {
        rc = train_weighting_unpack(t, &st, err);
    }
    if (rc == 0) {
        t->start_step = st.step;
        t->last_ckpt_step = st.step;
        train_note(t, "mtl train: resumed from %s at step %ld/%ld\n", t->ckpt, st.step, t->total);
    }
    ckpt_state_free(&st);
    return rc;
}

/* ---- evaluation ----------------------------------------------------------- */

static int eval_dev(Trainer *t, long done, Err *err) {
    int lim = t->o->eval_limit;
    if (t->d.has_ner) {
        NerScores s;
        if (eval_ner(t->m, &t->bb, t->o->batch, &t->d.ner_dev_c, &t->d.ner_dev, lim,
                     t->o->decode, NULL, &s, err))
            return -1;
        sb_printf(&t->evlog, "%ld,dev,ner,%d,%.9g,%.9g,\n", done, s.sentences, s.loss, s.f1);
        train_note(t, "  eval step %ld: NER dev loss %.4f F1 %.2f (%d sentences)\n", done, s.loss,
                s.f1, s.sentences);
    }
    if (t->d.has_qa) {
        QaScores s;
        if (eval_qa(t->m, &t->bb, t->o->batch, &t->d.qa_dev_ds, &t->d.qa_dev, lim, NULL, &s, err))
            return -1;
        sb_printf(&t->evlog, "%ld,dev,qa,%d,%.9g,%.9g,%.9g\n", done, s.questions, s.loss, s.f1,
                  s.exact_match);
        train_note(t, "  eval step %ld: QA dev loss %.4f EM %.2f F1 %.2f (%d questions)\n", done,
                s.loss, s.exact_match, s.f1, s.questions);
    }
    return 0;
}

static int eval_due(const Trainer *t, long done) {
    if (done == t->total || t->o->eval_every < 0) return 0;
    long every = t->o->eval_every > 0 ? t->o->eval_every : t->per_epoch;
    return done % every == 0;
}

/* ---- final outputs ------------------------------------------------------- */

/* Mean loss over the last 10% of steps (at least one) where the task ran. */
static double final_loss(const Trainer *t, int k) {
    long from = t->total - (t->total + 9) / 10;
    double sum = 0;
    long n = 0;
    for (long s = from; s < t->total; s++)
        if (!isnan(t->loss_hist[k][s])) sum += t->loss_hist[k][s], n++;
    return n ? sum / (double)n : NAN;
}

/* ---- the run ---------------------------------------------------------------- */

static void trainer_free(Trainer *t) {
    if (t->m) model_free(t->m);
    if (t->be) t->be->destroy(t->be);
    for (int k = 0; k < NUM_TASKS; k++) {
        order_free(&t->order[k]);
        free(t->loss_hist[k]);
    }
    batchbuf_free(&t->bb);
    free(t->rows);
    sb_free(&t->log);
    sb_free(&t->evlog);
    sb_free(&t->gnlog);
    sb_free(&t->wlog);
    if (t->use_gn) gradnorm_free(&t->gn);
    st_list_free(&t->dump);
    free(t->options);
    free(t->id_seen);
    free(t->id_rows);
    free(t->shard_emb);
    free(t->shard_rest);
    dist_overlap_free(t->ovl);
    train_data_free(&t->d);
}

/* Every check (options, init, data, vocab, the resume match) before the
 * first byte is written into the run directory. */
static int setup(Trainer *t, int argc, char **argv, Err *err) {
    const TrainOptions *o = t->o;
    snprintf(t->dir, sizeof t->dir, "%s", o->out);
    snprintf(t->ckpt, sizeof t->ckpt, "%s/checkpoint.bin", t->dir);
    t->last_ckpt_step = -1;
    t->options = train_options_canonical(o);
    manifest_begin(&t->mf, argc, argv, o->device, o->threads);
    manifest_add_seed(&t->mf, o->seed);
    if (t->hf && manifest_add_dir(&t->mf, "init", t->hfi.dir, err)) return -1;
    if (train_data_load(&t->d, o, t->hf ? &t->hfi : NULL, &t->mf, err)) return -1;
    if (g_stop_signal) return stopped_in_setup(&t->stop_sig, err);
    if (make_backend(t, err) || make_model(t, err) || make_schedule(t, err)) return -1;
    if (g_stop_signal) return stopped_in_setup(&t->stop_sig, err);
    if (o->resume && resume_from_checkpoint(t, err)) return -1;
    if (o->resume && t->start_step > 0) {
        char old[1200];
        train_path(t, "manifest.json", old, sizeof old);
        if (manifest_check_same_data(&t->mf, old, err)) return -1;
    }
    if (o->resume && t->start_step == t->total && train_run_has_metrics(t)) {
        t->finished = 1; /* nothing to redo: do not touch the run */
        return 0;
    }
    if (t->rank != 0) return 0; /* rank 0 owns the run directory */
    return train_write_run_header(t, err);
}

static void print_plan(const Trainer *t) {
    const TrainOptions *o = t->o;
    if (t->d.has_qa && t->d.qa_train_ds.n_misaligned)
        train_note(t, "mtl train: %d gold answers of the QA training file are not the context's text at their "
                "answer_start; their spans follow answer_start (as run_qa.py)\n", t->d.qa_train_ds.n_misaligned);
    train_note(t,
            "mtl train: task %s, preset %s, seed %lld, %ld steps (%ld per epoch), warmup %ld, "
            "batch %d, sampling %s, lambda %g/%g%s, train windows NER %d QA %d, %ld parameters, "
            "device %s, out %s\n",
            enum_name(TASK_SET_NAMES, o->tasks), o->preset, o->seed, t->total, t->per_epoch, t->warmup, o->batch,
            enum_name(SAMPLING_NAMES, o->sampling),
            o->lambda[TASK_NER], o->lambda[TASK_QA], o->loss_weighting != LOSS_WEIGHTING_STATIC ? " (initial weights)" : "", n_train(t, TASK_NER), n_train(t, TASK_QA),
            (long)model_num_params(t->m), enum_name(DEVICE_NAMES, o->device), t->dir);
}

static int write_dump(Trainer *t, Err *err) {
    if (!t->o->dump_batches[0]) return 0;
    int rc = st_list_write(&t->dump, t->o->dump_batches, err);
    if (rc == 0) train_note(t, "mtl train: --dump-batches: %d tensors -> %s\n", t->dump.n, t->o->dump_batches);
    return rc;
}

/* After a stop signal: logs, a checkpoint at `done` (rank 0, while the
 * other ranks wait), and how to go on. Returns 2. */
static int stop_on_signal(Trainer *t, long done, Err *err) {
    Err e;
    int sig = t->stop_sig;
    sync_optstate(t);
    if (t->rank == 0 && (train_flush_logs(t, &e) || save_checkpoint(t, done, &e)))
        err_set(err, "%s at step %ld/%ld: the checkpoint could not be written: %s", signal_name(sig),
                done, t->total, e.msg);
    else
        err_set(err, "%s: stopped after step %ld/%ld; checkpoint %s written; continue with the same command "
                     "and --resume", signal_name(sig), done, t->total, t->ckpt);
    dist_barrier();
    return 2;
}

/* Data parallel: every rank must hold the same weights (and step); a
 * mismatch (a rank that resumed from another checkpoint, or a bug) stops
 * the run naming the first rank that differs. */
static int check_replicas(Trainer *t, long done, Err *err) {
    if (t->nranks == 1) return 0;
    size_t n = model_num_params(t->m);
    float *p = xmalloc(n * sizeof(float));
    model_params_to_host(t->m, p);
    Sha256 h;
    uint8_t d[32];
    sha256_init(&h);
    sha256_update(&h, &done, sizeof done);
    sha256_update(&h, p, n * sizeof(float));
    sha256_final(&h, d);
    free(p);
    int bad;
    if (dist_check_same(d, &bad)) return 0;
    return err_set(err, "after step %ld the weights of rank %d differ from rank 0's (every rank must read "
                        "the same --init / checkpoint: a shared file system)", done, bad);
}

/* The run-directory work after a step (rank 0 only): dev evaluation, logs,
 * periodic checkpoint. */
static int save_due(const Trainer *t, long done) {
    return t->o->save_every > 0 && done % t->o->save_every == 0 && done < t->total;
}

static int rank0_after_step(Trainer *t, long done, Err *err) {
    if (eval_due(t, done) && eval_dev(t, done, err)) return -1;
    if (done % t->o->log_every == 0 && train_flush_logs(t, err)) return -1;
    if (save_due(t, done) && save_checkpoint(t, done, err)) return -1;
    return 0;
}

static int loop(Trainer *t, Err *err) {
    if (t->o->dump_batches[0] && t->start_step == 0 && t->rank == 0) dump_init(t);
    if (check_replicas(t, t->start_step, err)) return -1;
    for (long s = t->start_step; s < t->total; s++) {
        if (train_step(t, s, err)) {
            Err e2;
            if (t->rank == 0) train_flush_logs(t, &e2);
            char last[1300];
            if (t->last_ckpt_step >= 0)
                snprintf(last, sizeof last, "last good checkpoint: %s (step %ld)", t->ckpt,
                         t->last_ckpt_step);
            else snprintf(last, sizeof last, "no checkpoint saved yet");
            size_t n = strlen(err->msg);
            snprintf(err->msg + n, sizeof err->msg - n, "; training stopped, %s", last);
            return -1;
        }
        long done = s + 1;
        if (save_due(t, done)) sync_optstate(t);
        if (t->rank == 0 && rank0_after_step(t, done, err)) return -1;
        if (done % t->o->log_every == 0 && check_replicas(t, done, err)) return -1;
        if (stop_requested(t)) return stop_on_signal(t, done, err);
        if (t->o->stop_after > 0 && done == t->o->stop_after && done < t->total) {
            train_note(t, "mtl train: --stop-after %ld: stopping (as if interrupted); continue with --resume\n",
                    done);
            int rc = t->rank == 0 && (train_flush_logs(t, err) || write_dump(t, err)) ? -1 : 1;
            dist_barrier();
            return rc;
        }
    }
    sync_optstate(t); /* for the final checkpoint */
    return check_replicas(t, t->total, err) || (t->rank == 0 && write_dump(t, err)) ? -1 : 0;
}

/* A Hugging Face --init fixes the model shape: its config.json replaces the
 * preset (recorded as "hf"). */
static int resolve_init(Trainer *t, TrainOptions *ro, Err *err) {
    if (!ro->init[0]) return 0;
    int hf = hf_resolve(ro->init, t->hfi.dir, sizeof t->hfi.dir, err);
    if (hf < 0) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        return err_set(err, "--init %.1000s", why);
    }
    if (hf == 0) {
        if (!strcmp(ro->preset, "hf"))
            return err_set(err, "--preset hf needs --init to be a Hugging Face BERT directory, not '%.900s'", ro->init);
        return 0;
    }
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", t->hfi.dir);
    if (hf_read_config(dir, &t->hf_cfg, &t->hfi, err)) return -1;
    t->hf = 1;
    snprintf(ro->preset, sizeof ro->preset, "hf");
    return 0;
}

/* --shared-layers against the L of the model (the preset's, or --init's
 * Hugging Face config.json); a given K = L becomes "not given" (-1), so that
 * its checkpoint, config.json and canonical options are those of a run
 * without the option. */
static int resolve_shared_layers(const Trainer *t, TrainOptions *ro, Err *err) {
    ModelConfig cfg;
    if (t->hf) cfg = t->hf_cfg;
    else if (config_from_preset(&cfg, ro->preset, err)) return -1;
    if (train_check_shared_layers(ro, cfg.L, err)) return -1;
    if (ro->shared_layers == cfg.L) ro->shared_layers = -1;
    return 0;
}

static int train_run_caught(const TrainOptions *o_in, int argc, char **argv, RunSummary *sum, Err *err) {
    Trainer t;
    memset(&t, 0, sizeof t);
    TrainOptions *o = xmalloc(sizeof *o);
    *o = *o_in;
    t.o = o;
    t.rank = dist_rank();
    t.nranks = dist_size();
    run_summary_init(sum, o->seed);
    t.rd.fd = -1;
    int rc = t.rank == 0 ? rundir_acquire(&t.rd, o->out, o->resume, o->overwrite, err) : 0;
    if (rc == 0) rc = resolve_init(&t, o, err);
    if (rc == 0) rc = resolve_shared_layers(&t, o, err);
    if (rc == 0 && g_stop_signal) rc = stopped_in_setup(&t.stop_sig, err);
    if (rc == 0) rc = setup(&t, argc, argv, err);
    if (rc == 0 && t.finished) {
        train_note(&t, "mtl train: %s finished already (step %ld/%ld, metrics.json): nothing to do\n", t.dir,
             t.total, t.total);
        rc = train_summary_from_dir(t.dir, sum, err) ? -1 : 1;
    }
    if (rc == 0) {
        print_plan(&t);
        t.wall0 = now_seconds();
        rc = loop(&t, err);
        t.train_s = now_seconds() - t.wall0;
        if (o->profile && rc >= 0) profile_report(t.be, stderr, t.train_s); /* even if --quiet */
    }
    if (rc == 2) { /* stopped by a signal: checkpoint written (or err says why not) */
        sum->stop_signal = t.stop_sig;
        rc = -1;
    }
    if (rc == 1) { /* --stop-after (its timing is kept: bench-dist), or nothing to do */
        if (t.rank == 0 && !t.finished && train_write_timing(&t, sum, o->stop_after, NAN, err)) rc = -1;
        if (t.rank == 0) rundir_release(&t.rd, 0);
        trainer_free(&t);
        free(o);
        return rc == 1 ? 0 : -1;
    }
    if (rc == 0 && t.rank != 0) { /* rank 0 evaluates and writes the run's files */
        dist_barrier();
        trainer_free(&t);
        free(o);
        return 0;
    }
    if (rc == 0) rc = save_checkpoint(&t, t.total, err);
    double eval0 = now_seconds();
    if (rc == 0) {
        sum->steps = t.total;
        sum->final_loss_ner = final_loss(&t, TASK_NER);
        sum->final_loss_qa = final_loss(&t, TASK_QA);
        rc = train_write_metrics(&t, sum, err);
    }
    if (rc == 0) rc = train_write_timing(&t, sum, t.total, now_seconds() - eval0, err);
    if (rc == 0) rc = train_write_params_memory(&t, sum, err);
    if (rc == 0) rc = train_flush_logs(&t, err);
    if (rc == 0) rc = train_write_final_manifest(&t, err);
    if (rc == 0) dist_barrier(); /* the other ranks wait for the final evaluation */
    if (t.rank == 0) rundir_release(&t.rd, !t.header_written);
    trainer_free(&t);
    free(o);
    return rc;
}

/* The stop signals are caught from the start, so that one that arrives while
 * the data load or the run directory is being prepared ends the run cleanly
 * (exit 128 + signal, nothing half-written) instead of killing it. */
int train_run(const TrainOptions *o, int argc, char **argv, RunSummary *sum, Err *err) {
    struct sigaction old[N_STOP_SIGNALS];
    catch_stop_signals(old);
    int rc = train_run_caught(o, argc, argv, sum, err);
    restore_signals(old);
    return rc;
}

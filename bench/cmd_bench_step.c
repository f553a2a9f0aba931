/* cmd_bench_step.c — `mtl bench-step`: time whole training steps of the model
 * on random data and relate them to this machine's sgemm peak.
 *
 * One step (as a joint-training step): zero_grad; for each task of the step
 * (ner, qa, or both for mtl) forward on a [B,T] batch with dropout, backward
 * (gradients accumulate); global grad norm; clip; AdamW. An mtl step counts
 * 2*B*T tokens.
 *
 * FLOPs (model_forward_flops in impl/model/model.c; a multiply-add is 2 FLOPs,
 * N = B*T, hs = C/NH):
 *   forward per layer  2N(3C*C + C*C + 2*C*FFN) + 4*B*NH*T*T*hs
 *   heads              NER 2N*C*num_labels, QA 2N*C*2
 *   training = 3 x forward (backward = 2 x forward), summed over the tasks;
 *   --lora-rank ~2 x, --freeze-encoder ~1 x (train_flops_factor).
 * Embeddings, LayerNorm, softmax, GELU and the optimiser are not counted.
 * "Fraction of peak" = achieved model GFLOP/s / the sgemm peak measured in the
 * same process (bench/peak.c on the CPU, cuBLAS on the GPU).
 *
 * Timing: warm-up steps are excluded. On the CPU the per-op profile is
 * recorded during the timed steps (two clock reads per op); on CUDA the
 * timed steps run unprofiled and the same number of extra steps are then
 * profiled with a device sync around each op.
 *
 * --paired (with --lora-rank or --freeze-encoder): a second model of the same
 * shapes, fully fine-tuned, in the same process, whose steps alternate with
 * these (the order flipped every pair); each pair's ratio (this step over the
 * full step beside it) sees the same state of a shared machine, so their
 * median tracks the ratio of the two steps' costs where separate runs' times
 * drift apart by more than the difference measured. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_kernels_cuda.h"
#include "cli.h"
#include "model.h"
#include "opts.h"
#include "peak.h"
#include "profile_backend.h"
#include "rng.h"

typedef struct {
    const char *preset;
    int tasks;     /* 1 << TASK_NER | 1 << TASK_QA */
    Device device;
    int B, T, threads, steps, warmup, tf32, attention;
    Precision precision;
    long long seed;
    int freeze, lora_rank; /* a frozen encoder: heads only, or LoRA adapters (alpha 16, every projection) */
    int paired;            /* alternate with full fine-tuning steps in this process */
} BsOpts;

#define OS BsOpts
static const OptSpec BS_OPTS[] = {
    {OPT_ARG(OS, "preset", preset, "model size: tiny | mini | minilm | base")},
    {OPT_INT(OS, "batch", B, 1, 4096, "sequences per task pass")},
    {OPT_INT(OS, "seq", T, 1, 4096, "tokens per sequence")},
    {OPT_INT(OS, "threads", threads, 0, 1024, "CPU threads (0 = all OpenMP threads)")},
    {OPT_ENUM(OS, "task", tasks, TASK_SET_NAMES, "the passes of a step (mtl = NER + QA)")},
    {OPT_INT(OS, "steps", steps, 1, 1000000, "timed steps")},
    {OPT_INT(OS, "warmup", warmup, 0, 1000000, "untimed steps first")},
    {OPT_ENUM(OS, "device", device, DEVICE_NAMES, "where to run")},
    {OPT_FLAG(OS, "tf32", tf32, "cuda: TF32 tensor-core matmuls")},
    {OPT_ENUM(OS, "precision", precision, PRECISION_NAMES, "linear layers: bf16 = GEMM inputs rounded to bf16, fp32 accumulation (fp32 with a note where the device lacks bf16)")},
    {OPT_ENUM(OS, "attention", attention, ATTENTION_NAMES, ATTENTION_HELP)},
    {OPT_INT64(OS, "seed", seed, 0, 1000000000, "init / data / dropout seed")},
    {OPT_FLAG(OS, "freeze-encoder", freeze, "train the heads only (as mtl train --freeze-encoder)")},
    {OPT_INT(OS, "lora-rank", lora_rank, 1, CONFIG_MAX_LORA_RANK, "LoRA adapters of rank r on every projection, alpha 16, frozen encoder (as mtl train --lora-rank)")},
    {OPT_FLAG(OS, "paired", paired, "with --lora-rank or --freeze-encoder: also time full fine-tuning of the same shapes in this process, its steps alternating with these, and report each pair's ratio")},
};
#undef OS

static const OptTable BS_TABLE = {
    .cmd = "bench-step",
    .synopsis = "usage: mtl bench-step [--preset P] [--batch B] [--seq T] [--task ner|qa|mtl] [--device cpu|cuda] [options]",
    .about = "Times whole training steps on random data: ms/step, GFLOP/s against this machine's sgemm peak, per-op.\n",
    .specs = BS_OPTS,
    .n = (int)(sizeof BS_OPTS / sizeof BS_OPTS[0]),
};

/* ---- random batches ----------------------------------------------------- */

typedef struct {
    int *ids, *types, *labels, *start, *end;
} HostBatch;

enum { NUM_BATCHES = 2 }; /* distinct batches per task, cycled */

/* Random ids in [1000, V) (past BERT's special and unused tokens), segment B
 * on the second half, no padding, labels uniform, spans start <= end. */
static void fill_batch(HostBatch *h, int B, int T, int V, uint64_t seed, uint32_t k) {
    size_t n = (size_t)B * T;
    int lo = V > 2000 ? 1000 : 0;
    for (size_t i = 0; i < n; i++) {
        h->ids[i] = lo + (int)(rng_uniform(seed, k, 0x5000u, i) * (float)(V - lo));
        h->types[i] = (int)(i % (size_t)T) >= T / 2;
        h->labels[i] = (int)(rng_uniform(seed, k, 0x5001u, i) * NER_NUM_LABELS);
    }
    for (int b = 0; b < B; b++) {
        h->start[b] = (int)(rng_uniform(seed, k, 0x5002u, (uint64_t)b) * (float)T);
        h->end[b] = h->start[b] + (int)(rng_uniform(seed, k, 0x5003u, (uint64_t)b) * (float)(T - h->start[b]));
    }
}

static void alloc_batch(HostBatch *h, int B, int T) {
    size_t n = (size_t)B * T;
    h->ids = xmalloc(n * sizeof(int));
    h->types = xmalloc(n * sizeof(int));
    h->labels = xmalloc(n * sizeof(int));
    h->start = xmalloc((size_t)B * sizeof(int));
    h->end = xmalloc((size_t)B * sizeof(int));
}

static void free_batch(HostBatch *h) {
    free(h->ids);
    free(h->types);
    free(h->labels);
    free(h->start);
    free(h->end);
}

static Batch as_batch(const HostBatch *h, int task, int B, int T) {
    Batch b = {.task = task, .B = B, .T = T, .ids = h->ids, .types = h->types, .mask = NULL};
    if (task == TASK_NER) b.labels = h->labels;
    else b.start = h->start, b.end = h->end;
    return b;
}

/* ---- the run ------------------------------------------------------------ */

typedef struct {
    BsOpts o;
    ModelConfig cfg;
    Backend *inner, *be; /* be = profiled wrapper (owns inner) */
    Model *m;
    int tasks[NUM_TASKS], ntasks;
    HostBatch data[NUM_BATCHES];
    AdamWParams hp;
} Bench;

/* One training step; returns 0 or -1 (err filled). */
static int train_step(Bench *s, uint32_t step, Err *err) {
    model_zero_grad(s->m);
    for (int k = 0; k < s->ntasks; k++) {
        Batch b = as_batch(&s->data[step % NUM_BATCHES], s->tasks[k], s->o.B, s->o.T);
        if (model_forward(s->m, &b, 1, (uint64_t)s->o.seed, step, (uint32_t)k, NULL, err)) return -1;
        model_backward(s->m, &b, 1.0f);
    }
    model_clip_grad(s->m, model_grad_norm(s->m), s->hp.clip);
    model_adamw_step(s->m, &s->hp, s->hp.lr);
    s->be->sync(s->be);
    return 0;
}

/* Runs n steps from `first`; times[i] = seconds of step i (times may be NULL). */
static int run_steps(Bench *s, int first, int n, double *times, Err *err) {
    for (int i = 0; i < n; i++) {
        double t0 = now_seconds();
        if (train_step(s, (uint32_t)(first + i), err)) return -1;
        if (times) times[i] = now_seconds() - t0;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double mean, median, min, max, total;
} Stats;

static Stats stats_of(double *t, int n) {
    Stats st = {0};
    for (int i = 0; i < n; i++) st.total += t[i];
    st.mean = st.total / n;
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    st.median = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    st.min = t[0];
    st.max = t[n - 1];
    return st;
}

static int bench_setup(Bench *s, Err *err) {
    ModelConfig *c = &s->cfg;
    if (config_from_preset(c, s->o.preset, err)) return -1;
    s->ntasks = 0;
    for (int k = 0; k < NUM_TASKS; k++)
        if (s->o.tasks & 1 << k) s->tasks[s->ntasks++] = k;
    c->heads = s->o.tasks; /* HEAD_* = 1 << TASK_* */
    c->frozen_encoder = s->o.freeze || s->o.lora_rank > 0;
    if (s->o.lora_rank > 0) config_set_lora(c, s->o.lora_rank);
    if (s->o.T > c->maxT) return err_set(err, "--seq %d exceeds the %d positions of preset %s", s->o.T, c->maxT, c->preset);
    char why[512] = "";
    s->inner = backend_open(s->o.device, s->o.threads, s->o.tf32, s->o.precision, why, sizeof why);
    if (!s->inner) return err_set(err, "--device %s: %s", enum_name(DEVICE_NAMES, s->o.device), why);
    if (why[0]) fprintf(stderr, "mtl bench-step: note: %s\n", why);
    if (backend_set_attn_recompute(s->inner, s->o.attention, why, sizeof why)) return err_set(err, "%s", why);
    s->be = backend_profiled(s->inner);
    s->m = model_create(c, s->be, s->o.B, s->o.T, err);
    if (!s->m) return -1;
    model_init(s->m, (uint64_t)s->o.seed);
    for (int k = 0; k < NUM_BATCHES; k++) {
        alloc_batch(&s->data[k], s->o.B, s->o.T);
        fill_batch(&s->data[k], s->o.B, s->o.T, c->V, (uint64_t)s->o.seed, (uint32_t)k);
    }
    s->hp = adamw_defaults();
    return 0;
}

static void bench_teardown(Bench *s) {
    for (int k = 0; k < NUM_BATCHES; k++) free_batch(&s->data[k]);
    model_free(s->m);
    if (s->be) s->be->destroy(s->be);
    else if (s->inner) s->inner->destroy(s->inner);
}

/* sgemm peak of the device, measured now (after the steps, see
 * cmd_bench_kernels.c: OpenBLAS's threads keep spinning after a peak run). */
static double measure_peak(Bench *s, int threads) {
    if (s->o.device == DEVICE_CPU) return bench_sgemm_peak_gflops(threads);
    Err err = {{0}};
    BenchCuda *bc = bench_cuda_open(s->inner, &err);
    if (!bc) {
        fprintf(stderr, "mtl bench-step: no GPU peak: %s\n", err.msg);
        return 0.0;
    }
    double gf = 0.0, gbs = 0.0;
    bench_cuda_peaks(bc, &gf, &gbs);
    bench_cuda_close(bc);
    return gf;
}

/* The pairs of --paired: this step over the full step beside it. */
typedef struct {
    int n;
    double full_median, full_min, ratio_median, ratio_min, ratio_max;
} Paired;

typedef struct {
    Stats st;
    double flops, tokens, gflops, peak, sgemm_peak, sgemm_share, prof_wall;
    char precision[96]; /* backend_precision_describe */
    int threads;
    ModelCounts counts;
    size_t rss;
} Result;

static void print_memory(const Result *r) {
    const double MB = 1048576.0;
    printf("memory: params %.1f MB, grads %.1f MB, AdamW m+v %.1f MB, activations %.1f MB "
           "(incl. their grads); peak RSS %.1f MB\n",
           r->counts.param_bytes / MB, r->counts.grad_bytes / MB, r->counts.optim_bytes / MB,
           r->counts.act_bytes / MB, r->rss / MB);
}

static void print_json(const Bench *s, const Result *r, const Paired *p) {
    const BsOpts *o = &s->o;
    const ProfileOp *ops;
    int nops = profile_ops(s->be, &ops);
    printf("{\"impl\": \"c\", \"preset\": \"%s\", \"task\": \"%s\", \"batch\": %d, \"seq\": %d, "
           "\"device\": \"%s\", \"tf32\": %s, \"threads\": %d, \"dropout\": %g, \"clip\": %g, "
           "\"warmup\": %d, \"steps\": %d, \"params\": %zu, \"trainable\": %zu, \"frozen_encoder\": %s, "
           "\"lora_rank\": %d, ",
           o->preset, enum_name(TASK_SET_NAMES, o->tasks), o->B, o->T, enum_name(DEVICE_NAMES, o->device), o->tf32 ? "true" : "false", r->threads,
           (double)s->cfg.p_drop, (double)s->hp.clip, o->warmup, o->steps, r->counts.total, r->counts.trainable,
           s->cfg.frozen_encoder ? "true" : "false", s->cfg.lora_rank);
    printf("\"ms_per_step\": %.4f, \"ms_median\": %.4f, \"ms_min\": %.4f, \"ms_max\": %.4f, "
           "\"tokens_per_step\": %.0f, \"tokens_per_s\": %.2f, \"flops_per_step\": %.6g, "
           "\"gflops\": %.3f, \"gflops_best\": %.3f, \"sgemm_peak_gflops\": %.3f, "
           "\"precision\": \"%s\", \"precision_info\": \"%s\", \"gemm_peak_gflops\": %.3f, "
           "\"frac_of_peak\": %.4f, \"sgemm_share\": %.4f, ",
           1e3 * r->st.mean, 1e3 * r->st.median, 1e3 * r->st.min, 1e3 * r->st.max, r->tokens,
           r->tokens / r->st.mean, r->flops, r->gflops, r->flops / r->st.min * 1e-9, r->sgemm_peak,
           precision_name(s->inner->precision), r->precision, r->peak,
           r->peak > 0 ? r->gflops / r->peak : 0.0, r->sgemm_share);
    if (p)
        printf("\"paired_pairs\": %d, \"paired_full_ms_median\": %.4f, \"paired_full_ms_min\": %.4f, "
               "\"paired_ratio_median\": %.5f, \"paired_ratio_min\": %.5f, \"paired_ratio_max\": %.5f, ",
               p->n, 1e3 * p->full_median, 1e3 * p->full_min, p->ratio_median, p->ratio_min, p->ratio_max);
    printf("\"param_bytes\": %zu, \"grad_bytes\": %zu, \"optim_bytes\": %zu, \"act_bytes\": %zu, "
           "\"peak_rss_mb\": %.1f, \"op_ms_per_step\": {",
           r->counts.param_bytes, r->counts.grad_bytes, r->counts.optim_bytes, r->counts.act_bytes,
           r->rss / 1048576.0);
    int first = 1;
    for (int i = 0; i < nops; i++) {
        if (!ops[i].calls) continue;
        printf("%s\"%s\": %.4f", first ? "" : ", ", ops[i].name, 1e3 * ops[i].seconds / o->steps);
        first = 0;
    }
    printf("}}\n");
}

static void print_report(const Bench *s, const Result *r) {
    const ModelConfig *c = &s->cfg;
    printf("bench-step: preset %s (L=%d C=%d NH=%d FFN=%d), %zu params (%zu trained%s), task %s, B=%d T=%d, "
           "device %s%s, %d threads\n",
           c->preset, c->L, c->C, c->NH, c->FFN, r->counts.total, r->counts.trainable,
           c->lora_rank > 0 ? ": LoRA adapters and heads" : c->frozen_encoder ? ": heads only" : "",
           enum_name(TASK_SET_NAMES, s->o.tasks), s->o.B, s->o.T, enum_name(DEVICE_NAMES, s->o.device),
           s->o.tf32 ? " (tf32)" : "", r->threads);
    printf("step: mean %.2f ms, median %.2f, min %.2f, max %.2f over %d steps (after %d warm-up)\n",
           1e3 * r->st.mean, 1e3 * r->st.median, 1e3 * r->st.min, 1e3 * r->st.max, s->o.steps,
           s->o.warmup);
    printf("precision: %s\n", r->precision);
    printf("throughput: %.0f tokens/s; model %.2f GFLOP/step, %.1f GFLOP/s = %.1f%% of the "
           "measured %s peak %.1f GFLOP/s\n",
           r->tokens / r->st.mean, r->flops * 1e-9, r->gflops,
           r->peak > 0 ? 100.0 * r->gflops / r->peak : 0.0,
           s->inner->precision == PREC_BF16 ? "bf16 GEMM" : "sgemm", r->peak);
    printf("best step: %.1f GFLOP/s = %.1f%% of peak (on a shared machine the minimum is the "
           "least disturbed step)\n",
           r->flops / r->st.min * 1e-9, r->peak > 0 ? 100.0 * r->flops / r->st.min * 1e-9 / r->peak : 0.0);
    printf("per-op breakdown (%s):\n",
           s->o.device != DEVICE_CPU ? "separate profiled steps, synced per op" : "timed steps");
    profile_report(s->be, stdout, r->prof_wall);
    print_memory(r);
}

/* Training FLOPs / forward FLOPs: 3 (the backward computes the input and
 * the weight gradients, 2 x forward); a LoRA step skips the frozen weights'
 * gradients (~2); a heads-only step has no encoder backward (~1). */
static double train_flops_factor(const ModelConfig *c) {
    if (!c->frozen_encoder) return 3.0;
    return c->lora_rank > 0 ? 2.0 : 1.0;
}

/* Everything after the timed steps: the statistics of t (sorted in place),
 * the per-op profile (CUDA: extra profiled steps), FLOPs, memory, and the
 * peaks (measured here when peak < 0, else taken as given). */
static int bench_finish(Bench *s, Result *r, double *t, double peak, double gemm_peak, Err *err) {
    int cpu = s->o.device == DEVICE_CPU;
    r->threads = cpu ? (s->o.threads > 0 ? s->o.threads : omp_get_max_threads()) : 0;
    r->st = stats_of(t, s->o.steps);
    r->prof_wall = r->st.total;
    if (!cpu) { /* profile separately: per-op syncs would distort the step times */
        profile_set_enabled(s->be, 1);
        double t0 = now_seconds();
        int rc = run_steps(s, s->o.warmup + s->o.steps, s->o.steps, NULL, err);
        r->prof_wall = now_seconds() - t0;
        if (rc) return -1;
    }
    r->sgemm_share = r->prof_wall > 0 ? profile_sgemm_seconds(s->be) / r->prof_wall : 0.0;
    r->flops = 0.0;
    for (int k = 0; k < s->ntasks; k++)
        r->flops += train_flops_factor(&s->cfg) * model_forward_flops(&s->cfg, s->tasks[k], s->o.B, s->o.T);
    r->tokens = (double)s->ntasks * s->o.B * s->o.T;
    r->gflops = r->flops / r->st.mean * 1e-9;
    r->counts = model_counts(&s->cfg, s->o.B, s->o.T);
    r->counts.act_bytes = model_counts_act_bytes(&r->counts, s->inner); /* this device's layout */
    r->rss = peak_rss_bytes();
    r->sgemm_peak = r->peak = peak >= 0 ? peak : measure_peak(s, r->threads);
    if (s->inner->precision == PREC_BF16) r->peak = gemm_peak >= 0 ? gemm_peak : bench_bf16_peak_gflops(r->threads);
    backend_precision_describe(s->inner, r->precision, sizeof r->precision);
    return 0;
}

/* Times s->o.steps steps of s (into r) and, with ref, as many of ref (into
 * rr) alternating with them, the order flipped every pair; *pp gets the
 * pairs' ratios. */
static int bench_run(Bench *s, Bench *ref, Result *r, Result *rr, Paired *pp, Err *err) {
    int cpu = s->o.device == DEVICE_CPU, n = s->o.steps;
    profile_set_enabled(s->be, cpu);
    if (run_steps(s, 0, s->o.warmup, NULL, err)) return -1;
    if (ref) {
        profile_set_enabled(ref->be, cpu);
        if (run_steps(ref, 0, s->o.warmup, NULL, err)) return -1;
        profile_reset(ref->be);
    }
    profile_reset(s->be);
    double *t = xmalloc(3 * (size_t)n * sizeof *t), *tr = t + n, *ratio = t + 2 * n;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        int ref_first = ref && i % 2;
        if (ref_first) rc = run_steps(ref, s->o.warmup + i, 1, tr + i, err);
        if (!rc) rc = run_steps(s, s->o.warmup + i, 1, t + i, err);
        if (!rc && ref && !ref_first) rc = run_steps(ref, s->o.warmup + i, 1, tr + i, err);
        if (!rc && ref) ratio[i] = t[i] / tr[i];
    }
    if (!rc) rc = bench_finish(s, r, t, -1.0, -1.0, err);
    if (!rc && ref) {
        rc = bench_finish(ref, rr, tr, r->sgemm_peak, r->peak, err);
        Stats q = stats_of(ratio, n);
        *pp = (Paired){n, rr->st.median, rr->st.min, q.median, q.min, q.max};
    }
    free(t);
    return rc;
}

static void print_paired(const Paired *p) {
    printf("paired with full fine-tuning of the same shapes, steps alternating in this process: full step "
           "median %.2f ms (min %.2f); this step / the full step beside it, over %d pairs: median %.3f "
           "(range %.3f-%.3f)\n",
           1e3 * p->full_median, 1e3 * p->full_min, p->n, p->ratio_median, p->ratio_min, p->ratio_max);
}

/* Bench ref: s's options as full fine-tuning, for --paired. */
static int paired_setup(const Bench *s, Bench *ref, Err *err) {
    memset(ref, 0, sizeof *ref);
    ref->o = s->o;
    ref->o.freeze = ref->o.lora_rank = ref->o.paired = 0;
    return bench_setup(ref, err);
}

int cmd_bench_step(int argc, char **argv) {
    Bench s;
    memset(&s, 0, sizeof s);
    s.o = (BsOpts){.preset = "mini", .tasks = ALL_TASKS, .device = DEVICE_CPU, .B = 16, .T = 128,
                   .threads = 0, .steps = 10, .warmup = 2, .tf32 = 0, .seed = 1};
    int rc = opts_command(&BS_TABLE, &s.o, argc, argv, NULL);
    if (rc >= 0) return rc;
    if (s.o.paired && !s.o.lora_rank && !s.o.freeze) {
        fprintf(stderr, "mtl bench-step: --paired compares with full fine-tuning: it needs --lora-rank or "
                        "--freeze-encoder\n");
        return 2;
    }
    Err err = {{0}};
    Result r, rr;
    Paired p = {0};
    Bench ref;
    memset(&r, 0, sizeof r);
    memset(&rr, 0, sizeof rr);
    memset(&ref, 0, sizeof ref);
    rc = 0;
    if (bench_setup(&s, &err) || (s.o.paired && paired_setup(&s, &ref, &err)) ||
        bench_run(&s, s.o.paired ? &ref : NULL, &r, &rr, &p, &err)) {
        fprintf(stderr, "mtl bench-step: %s\n", err.msg);
        rc = 1;
    } else {
        print_report(&s, &r);
        if (s.o.paired) print_paired(&p);
        print_json(&s, &r, s.o.paired ? &p : NULL);
    }
    if (s.o.paired) bench_teardown(&ref);
    bench_teardown(&s);
    return rc;
}

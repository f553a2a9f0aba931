/* train_opts.c — the options of `mtl train`: one table drives the flag
 * parser, the --config file reader, --help, config.json and the canonical
 * text that --resume compares. */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "jsonr.h"
#include "jsonw.h"
#include "squad.h"
#include "train.h"

/* How an option enters config.json and the canonical text that --resume
 * compares (OptSpec.tag). */
enum {
    CFG_RUN = 0,        /* in config.json only (does not change the trajectory) */
    CFG_TRAJECTORY = 1, /* changes the training trajectory: compared on --resume */
    CFG_IF_SET = 3,     /* in the canonical text only when not 0: a flag set, an enum
                           other than its first word (same reason) */
    CFG_PROCESS = 4,    /* what this process does with OUT, not an option of the run:
                           neither checked on --resume nor written to config.json (so
                           that --config RUN/config.json reruns the run) */
    CFG_WEIGHTING = 16, /* + a LossWeighting (CFG_OF): an option of that method, in the
                           canonical text only when it is the --loss-weighting (so that
                           older checkpoints resume) */
    CFG_IF_GIVEN = 5,   /* changes the trajectory; an int whose default lies below its
                           range ("not given"): in the canonical text and config.json only
                           when given (so that runs without it stay as they were) */
    CFG_LORA = 6,       /* an option of LoRA: in the canonical text and config.json only
                           with --lora-rank (same reason) */
};
#define CFG_OF(method) (CFG_WEIGHTING + (method))

const EnumName LOSS_WEIGHTING_NAMES[] = {{"static", LOSS_WEIGHTING_STATIC},
                                         {"gradnorm", LOSS_WEIGHTING_GRADNORM},
                                         {"uncertainty", LOSS_WEIGHTING_UNCERTAINTY},
                                         {"dwa", LOSS_WEIGHTING_DWA},
                                         {NULL, 0}};

#define OS TrainOptions
static const OptSpec OPTS[] = {
    {OPT_ENUM(OS, "task", tasks, TASK_SET_NAMES, "what to train"), .tag = CFG_TRAJECTORY},
    {OPT_TEXT(OS, "preset", preset, "model size: tiny | mini | minilm | base (hf: the shape of --init's Hugging Face config)"), .tag = CFG_TRAJECTORY},
    {OPT_TEXT(OS, "init", init, "initialise parameters from a checkpoint (matching names)"), .tag = CFG_TRAJECTORY},
    {OPT_TEXT(OS, "out", out, "run directory (runs/NAME)"), .tag = CFG_RUN},
    {OPT_INT64(OS, "seed", seed, 0, TRAIN_MAX_SEED, "seed of init, data order, dropout and task sampling"), .tag = CFG_TRAJECTORY},
    {OPT_TEXT(OS, "seeds", seeds, "comma list: one run per seed into OUT/seed-S + aggregate.json"), .tag = CFG_RUN},
    {OPT_FLOAT(OS, "lr", adamw.lr, 0, 1e30, "peak learning rate"), .tag = CFG_TRAJECTORY},
    {OPT_FLOAT(OS, "weight-decay", adamw.weight_decay, 0, 10, "AdamW decoupled weight decay"), .tag = CFG_TRAJECTORY},
    {OPT_FLOAT(OS, "beta1", adamw.beta1, 0, 1, "AdamW beta1"), .tag = CFG_TRAJECTORY},
    {OPT_FLOAT(OS, "beta2", adamw.beta2, 0, 1, "AdamW beta2"), .tag = CFG_TRAJECTORY},
    {OPT_FLOAT(OS, "adam-eps", adamw.eps, 0, 1, "AdamW epsilon"), .tag = CFG_TRAJECTORY},
    {OPT_FLOAT(OS, "clip", adamw.clip, -1e9, 1e9, "max global gradient L2 norm (<= 0: off)"), .tag = CFG_TRAJECTORY},
    {OPT_FLOAT(OS, "dropout", dropout, 0, 1, "hidden and attention dropout"), .tag = CFG_TRAJECTORY},
    {OPT_INT(OS, "warmup", warmup, -1, 2000000000, "linear warmup steps (when --warmup-ratio < 0)"), .tag = CFG_TRAJECTORY},
    {OPT_FLOAT(OS, "warmup-ratio", warmup_ratio, -1, 1, "warmup = ratio x total steps (>= 0 wins)"), .tag = CFG_TRAJECTORY},
    {OPT_INT(OS, "shared-layers", shared_layers, 0, CONFIG_MAX_LAYERS, "encoder layers both tasks share, at most L; each task gets its own copy of the rest (default: all L)"), .tag = CFG_IF_GIVEN},
    {OPT_FLAG(OS, "freeze-encoder", freeze_encoder, "train the task heads only: the embeddings and encoder layers get no gradient and no optimiser state (the heads-only baseline; LoRA implies it)"), .tag = CFG_IF_SET},
    {OPT_INT(OS, "lora-rank", lora_rank, 1, CONFIG_MAX_LORA_RANK, "LoRA (Hu et al. 2022): per-task low-rank adapters of rank r on a frozen encoder (default: none)"), .tag = CFG_IF_GIVEN},
    {OPT_FLOAT(OS, "lora-alpha", lora_alpha, 1e-6, 1e6, "LoRA scale numerator: the update is (alpha / r) B A"), .tag = CFG_LORA},
    {OPT_TEXT(OS, "lora-targets", lora_targets, "comma list of the projections LoRA adapts in every layer: qkv (one adapter on the fused q|k|v projection), out (attention output), ffn (both FFN projections)"), .tag = CFG_LORA},
    {OPT_INT(OS, "batch", batch, 1, 4096, "sequences per batch (per task)"), .tag = CFG_TRAJECTORY},
    {OPT_INT(OS, "epochs", epochs, 0, 1000000, "epochs (see --help text on epochs)"), .tag = CFG_TRAJECTORY},
    {OPT_LONG(OS, "max-steps", max_steps, 0, TRAIN_MAX_STEPS, "optimiser steps (> 0 overrides --epochs)"), .tag = CFG_TRAJECTORY},
    {OPT_FLOAT(OS, "lambda-ner", lambda[TASK_NER], 0, 1e6, "weight of the NER loss"), .tag = CFG_TRAJECTORY},
    {OPT_FLOAT(OS, "lambda-qa", lambda[TASK_QA], 0, 1e6, "weight of the QA loss"), .tag = CFG_TRAJECTORY},
    {OPT_ENUM(OS, "sampling", sampling, SAMPLING_NAMES, "which task(s) each step trains"), .tag = CFG_TRAJECTORY},
    {OPT_FLOAT(OS, "temperature", temperature, 1e-6, 1e6, "T of temperature sampling (p ~ size^(1/T))"), .tag = CFG_TRAJECTORY},
    {OPT_ENUM(OS, "loss-weighting", loss_weighting, LOSS_WEIGHTING_NAMES, "task weights: static = the lambdas; learned, starting from the lambdas: gradnorm (joint sampling), uncertainty (Kendall et al.), dwa (dynamic weight averaging)"), .tag = CFG_IF_SET},
    {OPT_FLOAT(OS, "gradnorm-alpha", gradnorm_alpha, 0, 100, "GradNorm asymmetry alpha"), .tag = CFG_OF(LOSS_WEIGHTING_GRADNORM)},
    {OPT_FLOAT(OS, "gradnorm-lr", gradnorm_lr, 0, 10, "GradNorm learning rate of the task weights (Adam)"), .tag = CFG_OF(LOSS_WEIGHTING_GRADNORM)},
    {OPT_TEXT(OS, "gradnorm-layer", gradnorm_layer, "shared tensor whose gradient norms GradNorm balances (empty = the last shared layer's ffn.down.w)"), .tag = CFG_OF(LOSS_WEIGHTING_GRADNORM)},
    {OPT_FLOAT(OS, "uncertainty-lr", uncertainty_lr, 0, 10, "uncertainty weighting: Adam learning rate of the log-variances s_i (> 0)"), .tag = CFG_OF(LOSS_WEIGHTING_UNCERTAINTY)},
    {OPT_FLOAT(OS, "dwa-temperature", dwa_temperature, 1e-6, 1e6, "DWA softmax temperature T"), .tag = CFG_OF(LOSS_WEIGHTING_DWA)},
    {OPT_LONG(OS, "dwa-period", dwa_period, -1, TRAIN_MAX_STEPS, "DWA averaging period in steps (-1 = one epoch, the paper's; 0 is refused)"), .tag = CFG_OF(LOSS_WEIGHTING_DWA)},
    {OPT_INT(OS, "ner-train-limit", ner_train_limit, 0, 2147483647, "first N training sentences (0 = all)"), .tag = CFG_TRAJECTORY},
    {OPT_INT(OS, "qa-train-limit", qa_train_limit, 0, 2147483647, "first N training questions (0 = all)"), .tag = CFG_TRAJECTORY},
    {OPT_INT(OS, "eval-limit", eval_limit, 0, 2147483647, "first N dev sentences/questions during training (0 = all)"), .tag = CFG_RUN},
    {OPT_INT(OS, "qa-dev-limit", qa_dev_limit, 0, 2147483647, "final QA evaluation on the first N dev questions (0 = full official dev set)"), .tag = CFG_RUN},
    {OPT_INT(OS, "seq-ner", seq_ner, 8, 4096, "NER window length in tokens"), .tag = CFG_TRAJECTORY},
    {OPT_INT(OS, "seq-qa", seq_qa, SQUAD_MIN_SEQ, 4096, "QA window length in tokens"), .tag = CFG_TRAJECTORY},
    {OPT_INT(OS, "stride", stride, 0, 4096, "QA window overlap in tokens (HF doc_stride)"), .tag = CFG_TRAJECTORY},
    {OPT_INT(OS, "max-query", max_query, 1, 4096, "QA question tokens kept"), .tag = CFG_TRAJECTORY},
    {OPT_ENUM(OS, "decode", decode, NER_DECODE_NAMES, "NER decoding"), .tag = CFG_RUN},
    {OPT_LONG(OS, "eval-every", eval_every, -1, 1e12, "dev evaluation every N steps (0 = each epoch, -1 = never)"), .tag = CFG_RUN},
    {OPT_LONG(OS, "save-every", save_every, 0, 1e12, "checkpoint every N steps (0 = only at the end)"), .tag = CFG_RUN},
    {OPT_INT(OS, "log-every", log_every, 1, 1000000000, "progress line on stderr every N steps"), .tag = CFG_RUN},
    {OPT_FLAG(OS, "resume", resume, "continue from OUT/checkpoint.bin"), .tag = CFG_PROCESS},
    {OPT_FLAG(OS, "overwrite", overwrite, "replace the run already in OUT (without it, a non-empty OUT is refused)"), .tag = CFG_PROCESS},
    {OPT_LONG(OS, "stop-after", stop_after, 0, 1e12, "stop after N steps, unfinished (simulated interruption, for tests)"), .tag = CFG_PROCESS},
    {OPT_INT(OS, "threads", threads, 0, 1024, "CPU threads (0 = library default)"), .tag = CFG_RUN},
    {OPT_ENUM(OS, "device", device, DEVICE_NAMES, "where to train"), .tag = CFG_RUN},
    {OPT_FLAG(OS, "tf32", tf32, "TF32 tensor-core matmuls on cuda"), .tag = CFG_TRAJECTORY},
    {OPT_ENUM(OS, "precision", precision, PRECISION_NAMES, "linear layers: bf16 = GEMM inputs rounded to bf16, fp32 accumulation, fp32 master weights (fp32 with a note where the device lacks bf16)"), .tag = CFG_IF_SET},
    {OPT_ENUM(OS, "attention", attention, ATTENTION_NAMES, ATTENTION_HELP), .tag = CFG_RUN},
    {OPT_FLAG(OS, "no-test", no_test, "skip the final CoNLL test-set evaluation"), .tag = CFG_RUN},
    {OPT_FLAG(OS, "profile", profile, "print the per-op time breakdown of the training loop"), .tag = CFG_RUN},
    {OPT_FLAG(OS, "quiet", quiet, "no progress lines on stderr"), .tag = CFG_RUN},
    {OPT_FLAG(OS, "group-by-length", group_by_length, "batches of similar-length windows (groups of 50 batches sorted by length after the shuffle; each epoch still sees every window once)"), .tag = CFG_IF_SET},
    {OPT_FLAG(OS, "no-overlap", no_overlap, "data parallel (mpirun): reduce the gradients after the whole backward instead of each layer's during the rest of it (the same result, bitwise)"), .tag = CFG_RUN},
    {OPT_TEXT(OS, "dump-batches", dump_batches, "write every training batch and the initial head weights to FILE (safetensors; reference/finetune_hf.py replays them)"), .tag = CFG_RUN},
    {OPT_TEXT(OS, "config", config_file, "read options from FILE first (key=value or JSON)"), .tag = CFG_PROCESS},
};
#undef OS

static const OptTable TABLE = {
    .cmd = "train",
    .synopsis = "usage: mtl train --task ner|qa|mtl --preset P --seed S --out runs/NAME [options]",
    .about = "\n"
             "Trains from random init (no pretrained weights offline) with AdamW, linear warmup\n"
             "then linear decay to 0, and writes a run directory (see impl/train/train.h).\n"
             "An epoch is ceil(n/batch) steps for one task; joint: ceil(max(n_ner,n_qa)/batch);\n"
             "round_robin: twice that; proportional/temperature: ceil(n_ner/b)+ceil(n_qa/b).\n",
    .specs = OPTS,
    .n = (int)(sizeof OPTS / sizeof OPTS[0]),
};

const OptTable *train_option_table(void) { return &TABLE; }

void train_options_default(TrainOptions *o) {
    memset(o, 0, sizeof *o);
    o->tasks = ALL_TASKS;
    snprintf(o->preset, sizeof o->preset, "mini");
    snprintf(o->out, sizeof o->out, "runs/train");
    o->seed = 1;
    o->shared_layers = -1; /* all */
    o->lora_alpha = CONFIG_LORA_ALPHA_DEFAULT;
    snprintf(o->lora_targets, sizeof o->lora_targets, "qkv,out,ffn");
    o->adamw = adamw_defaults();
    o->dropout = 0.1f;
    o->warmup = 500;
    o->warmup_ratio = -1.0f;
    o->batch = 16;
    o->epochs = 3;
    for (int k = 0; k < NUM_TASKS; k++) o->lambda[k] = 1.0f;
    o->sampling = SAMPLING_JOINT;
    o->temperature = 2.0f;
    o->loss_weighting = LOSS_WEIGHTING_STATIC;
    o->gradnorm_alpha = 0.16f;
    o->gradnorm_lr = 0.025f;
    /* Adam moves s_i by about its lr per step. At the model's fine-tuning lr
     * (1e-4) a 1000-step run would move s_i by ~0.1, nowhere near its fixed
     * point s_i = log L_i (e.g. -2.3 for a loss of 0.1, from s_i(0) = 0);
     * 0.01 covers a few units in such a run while one step changes a
     * weight by at most ~1% (exp(0.01)). */
    o->uncertainty_lr = 0.01f;
    o->dwa_temperature = 2.0f; /* the paper's T */
    o->dwa_period = -1;        /* one epoch, the paper's period */
    o->seq_ner = 128;
    o->seq_qa = 384;
    o->stride = 128;
    o->max_query = 64;
    o->decode = NER_DECODE_VITERBI;
    o->eval_every = 0;
    o->log_every = 10;
    o->device = DEVICE_CPU;
}

/* One JSON object {"key": value, ...}; numbers and booleans become text. */
static int load_json_options(TrainOptions *o, const char *path, const char *buf, size_t len, Err *err) {
    cJSON *root = jsonr_parse(buf, len, path, 0, err); /* text after the object is an error */
    if (!root) return -1;
    int rc = 0;
    if (!cJSON_IsObject(root)) rc = err_set(err, "%s: the JSON config must be one object", path);
    for (cJSON *it = root->child; it && rc == 0; it = it->next) {
        char val[1100];
        if (cJSON_IsString(it)) snprintf(val, sizeof val, "%s", it->valuestring);
        else if (cJSON_IsBool(it) && opts_find(&TABLE, it->string) && opts_find(&TABLE, it->string)->kind != OPT_KIND_FLAG) {
            rc = err_set(err, "%s: key '%s': true/false only for on/off options, this one takes a value", path, it->string);
            break;
        } else if (cJSON_IsBool(it)) snprintf(val, sizeof val, "%d", cJSON_IsTrue(it) ? 1 : 0);
        else if (cJSON_IsNumber(it)) snprintf(val, sizeof val, "%.17g", it->valuedouble);
        else {
            rc = err_set(err, "%s: key '%s': value must be a string, number or boolean", path,
                         it->string);
            break;
        }
        /* integers arrive as doubles: "%.17g" of 3.0 is "3", which parses as int */
        Err e;
        if (opts_set(&TABLE, o, it->string, val, &e)) rc = err_set(err, "%s: %s", path, e.msg);
    }
    cJSON_Delete(root);
    return rc;
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

/* key=value lines; '#' starts a comment; blank lines ignored. */
static int load_kv_options(TrainOptions *o, const char *path, char *buf, Err *err) {
    int line = 0;
    for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        line++;
        char *hash = strchr(l, '#');
        if (hash) *hash = '\0';
        char *t = trim(l);
        if (!*t) continue;
        char *eq = strchr(t, '=');
        if (!eq) return err_set(err, "%s:%d: expected key=value, got '%s'", path, line, t);
        *eq = '\0';
        Err e;
        if (opts_set(&TABLE, o, trim(t), trim(eq + 1), &e))
            return err_set(err, "%s:%d: %s", path, line, e.msg);
    }
    return 0;
}

int train_options_load_file(TrainOptions *o, const char *path, Err *err) {
    size_t len;
    char *buf = read_file_all(path, &len, err);
    if (!buf) return -1;
    if (strlen(buf) != len) {
        free(buf);
        return err_set(err, "%s: contains a NUL byte", path);
    }
    const char *p = buf;
    while (isspace((unsigned char)*p)) p++;
    char before[sizeof o->config_file];
    memcpy(before, o->config_file, sizeof before);
    int rc = *p == '{' ? load_json_options(o, path, buf, len, err) : load_kv_options(o, path, buf, err);
    free(buf);
    if (rc == 0 && memcmp(before, o->config_file, sizeof before))
        rc = err_set(err, "%s: key 'config' is not allowed in a config file (no nesting: give one --config)", path);
    return rc;
}

void train_options_usage(FILE *f) {
    TrainOptions d;
    train_options_default(&d);
    opts_help(&TABLE, &d, f);
}

/* --config first, wherever it appears, so that flags override it. */
static int load_config_arg(TrainOptions *o, int argc, char **argv, Err *err) {
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *f = NULL;
        if (!strncmp(a, "--config=", 9)) f = a + 9;
        else if (!strcmp(a, "--config")) {
            if (i + 1 >= argc) return err_set(err, "option --config needs a FILE");
            f = argv[++i];
        }
        if (f && file) return err_set(err, "--config given twice ('%s' and '%s'): give one file", file, f);
        if (f) file = f;
    }
    return file ? train_options_load_file(o, file, err) : 0;
}

int train_options_parse(TrainOptions *o, int argc, char **argv, Err *err) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
    if (load_config_arg(o, argc, argv, err)) return -1;
    if (opts_parse(&TABLE, o, argc, argv, NULL, err)) return -1;
    return train_options_validate(o, err);
}

/* The model shape and the windows. */
static int validate_shape(const TrainOptions *o, Err *err) {
    ModelConfig cfg;
    /* preset "hf": the shape comes from the Hugging Face --init (what a run's
     * config.json records; train.c resolve_init reads it and checks the windows) */
    int hf_shape = !strcmp(o->preset, "hf");
    if (hf_shape && !o->init[0])
        return err_set(err, "--preset hf means the shape of the Hugging Face checkpoint given by --init; give --init DIR");
    if (config_from_preset(&cfg, hf_shape ? "base" : o->preset, err)) return -1;
    /* with --init the shape may come from the checkpoint: train.c checks K then */
    if (!o->init[0] && train_check_shared_layers(o, cfg.L, err)) return -1;
    if (o->seq_ner < 8 || o->seq_ner > cfg.maxT || o->seq_qa < SQUAD_MIN_SEQ || o->seq_qa > cfg.maxT)
        return err_set(err, "--seq-ner must be in 8..%d and --seq-qa in %d..%d", cfg.maxT, SQUAD_MIN_SEQ,
                       cfg.maxT);
    return squad_window_check("--seq-qa", o->seq_qa, o->stride, o->max_query, err);
}

/* --freeze-encoder / --lora-*: what a frozen encoder does not combine with. */
static int validate_frozen(const TrainOptions *o, Err *err) {
    int mask;
    Err e;
    if (o->lora_rank > 0 && config_lora_targets_parse(o->lora_targets, &mask, &e))
        return err_set(err, "option --lora-targets: %.900s", e.msg);
    if (!o->freeze_encoder && o->lora_rank <= 0) return 0;
    const char *what = o->lora_rank > 0 ? "--lora-rank" : "--freeze-encoder";
    if (o->shared_layers >= 0)
        return err_set(err, "%s freezes the encoder: it does not combine with --shared-layers (per-task top layers train)", what);
    if (o->loss_weighting == LOSS_WEIGHTING_GRADNORM)
        return err_set(err, "%s freezes the encoder: --loss-weighting gradnorm needs a trained shared tensor", what);
    return 0;
}

int train_check_shared_layers(const TrainOptions *o, int L, Err *err) {
    int K = o->shared_layers;
    if (K < 0) return 0; /* not given: all L */
    if (K > L)
        return err_set(err, "option --shared-layers: %d is outside the accepted range [0, L=%d] (the model's encoder layers)",
                       K, L);
    if (K < L && o->tasks != ALL_TASKS)
        return err_set(err, "--shared-layers %d < L=%d gives each task its own top layers: it needs --task mtl (a single-task model has one copy of every layer)",
                       K, L);
    return 0;
}

/* AdamW, the schedule and the length of the run. */
static int validate_optimiser(const TrainOptions *o, Err *err) {
    const AdamWParams *a = &o->adamw;
    if (o->max_steps <= 0 && o->epochs < 1)
        return err_set(err, "give --epochs >= 1 or --max-steps >= 1");
    if (!(a->lr > 0) || !(o->dropout >= 0 && o->dropout < 1) || !(a->beta1 >= 0 && a->beta1 < 1) ||
        !(a->beta2 >= 0 && a->beta2 < 1) || !(a->eps > 0) || !(a->weight_decay >= 0))
        return err_set(err, "need lr > 0, 0 <= dropout < 1, 0 <= beta1, beta2 < 1, adam-eps > 0, weight-decay >= 0");
    if (o->warmup < 0 && o->warmup_ratio < 0) return err_set(err, "--warmup must be >= 0");
    return 0;
}

/* The options of the learned weightings that their ranges alone do not
 * settle (checked whatever the method, as every option's range is). */
static int validate_weighting_options(const TrainOptions *o, Err *err) {
    if (!(o->uncertainty_lr > 0))
        return err_set(err, "--uncertainty-lr must be > 0 (accepted range (0, 10]; got %g)", (double)o->uncertainty_lr);
    if (o->dwa_period == 0)
        return err_set(err, "--dwa-period must be >= 1 step, or -1 for one epoch (accepted range -1 or [1, %ld]; got 0)",
                       TRAIN_MAX_STEPS);
    return 0;
}

/* The task weights: a learned weighting weighs the tasks of a multi-task
 * run, starting from the lambdas; GradNorm needs both tasks in every step. */
static int validate_multitask(const TrainOptions *o, Err *err) {
    if (validate_weighting_options(o, err)) return -1;
    if (o->loss_weighting == LOSS_WEIGHTING_STATIC) return 0;
    const char *method = enum_name(LOSS_WEIGHTING_NAMES, o->loss_weighting);
    if (o->loss_weighting == LOSS_WEIGHTING_GRADNORM && (o->tasks != ALL_TASKS || o->sampling != SAMPLING_JOINT))
        return err_set(err, "--loss-weighting gradnorm needs --task mtl --sampling joint (both tasks' gradients in every step)");
    if (o->tasks != ALL_TASKS)
        return err_set(err, "--loss-weighting %s weighs the tasks of a multi-task run: it needs --task mtl", method);
    for (int k = 0; k < NUM_TASKS; k++)
        if (!(o->lambda[k] > 0))
            return err_set(err, "--loss-weighting %s: the lambdas are the initial weights and must be > 0 (--lambda-%s %g)",
                           method, task_name(k), (double)o->lambda[k]);
    if (o->loss_weighting == LOSS_WEIGHTING_GRADNORM && (!(o->gradnorm_alpha >= 0) || !(o->gradnorm_lr > 0)))
        return err_set(err, "need --gradnorm-alpha >= 0 and --gradnorm-lr > 0");
    return 0;
}

/* What this process does: device, run directory, side outputs. */
static int validate_process(const TrainOptions *o, Err *err) {
    if (o->tf32 && o->device != DEVICE_CUDA)
        return err_set(err, "--tf32 selects TF32 tensor-core matmuls on --device cuda; this run is on %s",
                       enum_name(DEVICE_NAMES, o->device));
    if (o->resume && o->overwrite)
        return err_set(err, "--resume continues the run in --out and --overwrite replaces it: give one of them");
    long long seeds[TRAIN_MAX_SEEDS];
    if (o->seeds[0] && train_seed_list(o->seeds, seeds, err) < 0) return -1;
    if (!o->out[0]) return err_set(err, "--out must name a run directory");
    /* the dump may go into the run directory, which the run makes (make bench: RUN/batches.safetensors) */
    if (o->dump_batches[0] && output_path_check(o->dump_batches, "--dump-batches", o->out, err)) return -1;
    return 0;
}

/* The checks across options (each value's own range was checked where it was parsed). */
int train_options_validate(const TrainOptions *o, Err *err) {
    if (validate_shape(o, err) || validate_frozen(o, err) || validate_optimiser(o, err) ||
        validate_multitask(o, err) || validate_process(o, err))
        return -1;
    return 0;
}

/* Does option s enter the canonical text of o (what --resume compares)? */
static int in_canonical(const OptSpec *s, const TrainOptions *o) {
    switch (s->tag) {
    case CFG_TRAJECTORY: return 1;
    case CFG_IF_SET: return *(const int *)((const char *)o + s->offset) != 0;
    case CFG_IF_GIVEN: return *(const int *)((const char *)o + s->offset) >= s->lo;
    case CFG_LORA: return o->lora_rank > 0;
    default: return s->tag >= CFG_WEIGHTING && (int)o->loss_weighting == s->tag - CFG_WEIGHTING;
    }
}

char *train_options_canonical(const TrainOptions *o) {
    StrBuf b = {0};
    for (int i = 0; i < TABLE.n; i++) {
        if (!in_canonical(&OPTS[i], o)) continue;
        char v[1100];
        opts_format(&OPTS[i], o, v, sizeof v);
        sb_printf(&b, "%s=%s\n", OPTS[i].name, v);
    }
    if (!b.buf) sb_printf(&b, "%s", "");
    return b.buf;
}

static void json_option(JsonW *w, const OptSpec *s, const TrainOptions *o) {
    const char *field = (const char *)o + s->offset;
    switch (s->kind) {
    case OPT_KIND_INT: jw_int(w, s->name, *(const int *)field); break;
    case OPT_KIND_LONG: jw_int(w, s->name, *(const long *)field); break;
    case OPT_KIND_INT64: jw_int(w, s->name, *(const long long *)field); break;
    case OPT_KIND_FLOAT: jw_num(w, s->name, *(const float *)field); break;
    case OPT_KIND_DOUBLE: jw_num(w, s->name, *(const double *)field); break;
    case OPT_KIND_FLAG: jw_bool(w, s->name, *(const int *)field); break;
    case OPT_KIND_ENUM: jw_str(w, s->name, enum_name(s->names, *(const int *)field)); break;
    case OPT_KIND_TEXT: jw_str(w, s->name, field); break;
    case OPT_KIND_ARG: break; /* not in this table */
    }
}

int train_options_write_json(const TrainOptions *o, const char *path, Err *err) {
    JsonW w;
    jw_init(&w);
    jw_obj(&w, NULL);
    for (int i = 0; i < TABLE.n; i++)
        if (OPTS[i].tag != CFG_PROCESS &&
            ((OPTS[i].tag != CFG_IF_GIVEN && OPTS[i].tag != CFG_LORA) || in_canonical(&OPTS[i], o)))
            json_option(&w, &OPTS[i], o);
    int rc = jw_write_file(&w, path, err);
    jw_free(&w);
    return rc;
}

/* "1,2,3" -> seeds (distinct, each in [0, 1e18] like --seed); returns the
 * count, or -1 with err naming --seeds. */
int train_seed_list(const char *s, long long out[TRAIN_MAX_SEEDS], Err *err) {
    int n = 0;
    for (const char *p = s; *p;) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || (*end && *end != ',') || (*end == ',' && !end[1]))
            return err_set(err, "--seeds: malformed list '%s' (want e.g. 1,2,3)", s);
        if (n == TRAIN_MAX_SEEDS) return err_set(err, "--seeds: more than %d seeds", TRAIN_MAX_SEEDS);
        if (v < 0 || v > TRAIN_MAX_SEED)
            return err_set(err, "--seeds: %lld is outside the accepted range [0, %lld]", v, (long long)TRAIN_MAX_SEED);
        for (int i = 0; i < n; i++)
            if (out[i] == v) return err_set(err, "--seeds: %lld given twice in '%s' (one run per seed)", v, s);
        out[n++] = v;
        p = *end ? end + 1 : end;
    }
    if (n == 0) return err_set(err, "--seeds: empty list");
    return n;
}

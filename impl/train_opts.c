/* train_opts.c — the options of `mtl train`: one table drives the flag
 * parser, the --config file reader, --help, config.json and the canonical
 * text that --resume compares. */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonr.h"

#include "backend.h"
#include "config.h"
#include "jsonw.h"
#include "sampler.h"
#include "squad.h"
#include "train.h"

typedef enum { OT_STR, OT_INT, OT_LONG, OT_LL, OT_FLOAT, OT_FLAG } OptType;

typedef struct {
    const char *name; /* flag without "--" */
    OptType type;
    size_t offset;
    size_t size;     /* for strings */
    int trajectory;  /* 1 if it changes the training trajectory (checked on --resume);
                        2: a GradNorm option, in the canonical text only with
                        --loss-weighting gradnorm (so older checkpoints resume);
                        3: in the canonical text only when set (a flag) or not
                           its default (a string), for the same reason;
                        4: what this process does with OUT, not an option of the run:
                        neither checked on --resume nor written to config.json (so
                        that --config RUN/config.json reruns the run) */
    const char *help;
    double lo, hi;   /* numbers: the accepted range, inclusive (the parser refuses
                        anything else, NaN and infinities included) */
} OptSpec;

#define S(field) offsetof(TrainOptions, field), sizeof(((TrainOptions *)0)->field)
#define N(field) offsetof(TrainOptions, field), 0

static const OptSpec OPTS[] = {
    {"task", OT_STR, S(task), 1, "ner | qa | mtl", 0, 0},
    {"preset", OT_STR, S(preset), 1, "model size: tiny | mini | minilm | base (hf: the shape of --init's Hugging Face config)", 0, 0},
    {"init", OT_STR, S(init), 1, "initialise parameters from a checkpoint (matching names)", 0, 0},
    {"out", OT_STR, S(out), 0, "run directory (runs/NAME)", 0, 0},
    {"seed", OT_LL, N(seed), 1, "seed of init, data order, dropout and task sampling", 0, TRAIN_MAX_SEED},
    {"seeds", OT_STR, S(seeds), 0, "comma list: one run per seed into OUT/seed-S + aggregate.json", 0, 0},
    {"lr", OT_FLOAT, N(lr), 1, "peak learning rate", 0, 1e30},
    {"weight-decay", OT_FLOAT, N(weight_decay), 1, "AdamW decoupled weight decay", 0, 10},
    {"beta1", OT_FLOAT, N(beta1), 1, "AdamW beta1", 0, 1},
    {"beta2", OT_FLOAT, N(beta2), 1, "AdamW beta2", 0, 1},
    {"adam-eps", OT_FLOAT, N(adam_eps), 1, "AdamW epsilon", 0, 1},
    {"clip", OT_FLOAT, N(clip), 1, "max global gradient L2 norm (<= 0: off)", -1e9, 1e9},
    {"dropout", OT_FLOAT, N(dropout), 1, "hidden and attention dropout", 0, 1},
    {"warmup", OT_INT, N(warmup), 1, "linear warmup steps (when --warmup-ratio < 0)", -1, 2000000000},
    {"warmup-ratio", OT_FLOAT, N(warmup_ratio), 1, "warmup = ratio x total steps (>= 0 wins)", -1, 1},
    {"batch", OT_INT, N(batch), 1, "sequences per batch (per task)", 1, 4096},
    {"epochs", OT_INT, N(epochs), 1, "epochs (see --help text on epochs)", 0, 1000000},
    {"max-steps", OT_LONG, N(max_steps), 1, "optimiser steps (> 0 overrides --epochs)", 0, TRAIN_MAX_STEPS},
    {"lambda-ner", OT_FLOAT, N(lambda_ner), 1, "weight of the NER loss", 0, 1e6},
    {"lambda-qa", OT_FLOAT, N(lambda_qa), 1, "weight of the QA loss", 0, 1e6},
    {"sampling", OT_STR, S(sampling), 1, "joint | round_robin | proportional | temperature", 0, 0},
    {"temperature", OT_FLOAT, N(temperature), 1, "T of temperature sampling (p ~ size^(1/T))", 1e-6, 1e6},
    {"loss-weighting", OT_STR, S(loss_weighting), 2, "static (the lambdas) | gradnorm (learned, joint sampling; lambdas = initial weights)", 0, 0},
    {"gradnorm-alpha", OT_FLOAT, N(gradnorm_alpha), 2, "GradNorm asymmetry alpha", 0, 100},
    {"gradnorm-lr", OT_FLOAT, N(gradnorm_lr), 2, "GradNorm learning rate of the task weights (Adam)", 0, 10},
    {"gradnorm-layer", OT_STR, S(gradnorm_layer), 2, "shared tensor whose gradient norms GradNorm balances (empty = last layer's ffn.down.w)", 0, 0},
    {"ner-train-limit", OT_INT, N(ner_train_limit), 1, "first N training sentences (0 = all)", 0, 2147483647},
    {"qa-train-limit", OT_INT, N(qa_train_limit), 1, "first N training questions (0 = all)", 0, 2147483647},
    {"eval-limit", OT_INT, N(eval_limit), 0, "first N dev sentences/questions during training (0 = all)", 0, 2147483647},
    {"qa-dev-limit", OT_INT, N(qa_dev_limit), 0, "final QA evaluation on the first N dev questions (0 = full official dev set)", 0, 2147483647},
    {"seq-ner", OT_INT, N(seq_ner), 1, "NER window length in tokens", 8, 4096},
    {"seq-qa", OT_INT, N(seq_qa), 1, "QA window length in tokens", 16, 4096},
    {"stride", OT_INT, N(stride), 1, "QA window overlap in tokens (HF doc_stride)", 0, 4096},
    {"max-query", OT_INT, N(max_query), 1, "QA question tokens kept", 1, 4096},
    {"decode", OT_STR, S(decode), 0, "NER decoding: argmax | viterbi", 0, 0},
    {"eval-every", OT_LONG, N(eval_every), 0, "dev evaluation every N steps (0 = each epoch, -1 = never)", -1, 1e12},
    {"save-every", OT_LONG, N(save_every), 0, "checkpoint every N steps (0 = only at the end)", 0, 1e12},
    {"log-every", OT_INT, N(log_every), 0, "progress line on stderr every N steps", 1, 1000000000},
    {"resume", OT_FLAG, N(resume), 4, "continue from OUT/checkpoint.bin", 0, 0},
    {"overwrite", OT_FLAG, N(overwrite), 4, "replace the run already in OUT (without it, a non-empty OUT is refused)", 0, 0},
    {"stop-after", OT_LONG, N(stop_after), 4, "stop after N steps, unfinished (simulated interruption, for tests)", 0, 1e12},
    {"threads", OT_INT, N(threads), 0, "CPU threads (0 = library default)", 0, 1024},
    {"device", OT_STR, S(device), 0, "cpu | cuda", 0, 0},
    {"tf32", OT_FLAG, N(tf32), 1, "TF32 tensor-core matmuls on cuda", 0, 0},
    {"precision", OT_STR, S(precision), 3, "fp32 | bf16 (linear layers' GEMM inputs in bf16, fp32 accumulation, fp32 master weights; fp32 with a note where the CPU lacks bf16)", 0, 0},
    {"no-test", OT_FLAG, N(no_test), 0, "skip the final CoNLL test-set evaluation", 0, 0},
    {"profile", OT_FLAG, N(profile), 0, "print the per-op time breakdown of the training loop", 0, 0},
    {"quiet", OT_FLAG, N(quiet), 0, "no progress lines on stderr", 0, 0},
    {"group-by-length", OT_FLAG, N(group_by_length), 3, "batches of similar-length windows (groups of 50 batches sorted by length after the shuffle; each epoch still sees every window once)", 0, 0},
    {"dump-batches", OT_STR, S(dump_batches), 0, "write every training batch and the initial head weights to FILE (safetensors; reference/finetune_hf.py replays them)", 0, 0},
    {"config", OT_STR, S(config_file), 4, "read options from FILE first (key=value or JSON)", 0, 0},
};
#define NOPTS ((int)(sizeof OPTS / sizeof OPTS[0]))

void train_options_default(TrainOptions *o) {
    memset(o, 0, sizeof *o);
    snprintf(o->task, sizeof o->task, "mtl");
    snprintf(o->preset, sizeof o->preset, "mini");
    snprintf(o->out, sizeof o->out, "runs/train");
    o->seed = 1;
    o->lr = 2e-5f;
    o->weight_decay = 0.01f;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->adam_eps = 1e-8f;
    o->clip = 1.0f;
    o->dropout = 0.1f;
    o->warmup = 500;
    o->warmup_ratio = -1.0f;
    o->batch = 16;
    o->epochs = 3;
    o->lambda_ner = 1.0f;
    o->lambda_qa = 1.0f;
    snprintf(o->sampling, sizeof o->sampling, "joint");
    o->temperature = 2.0f;
    snprintf(o->loss_weighting, sizeof o->loss_weighting, "static");
    o->gradnorm_alpha = 0.16f;
    o->gradnorm_lr = 0.025f;
    o->seq_ner = 128;
    o->seq_qa = 384;
    o->stride = 128;
    o->max_query = 64;
    snprintf(o->decode, sizeof o->decode, "viterbi");
    o->eval_every = 0;
    o->log_every = 10;
    snprintf(o->device, sizeof o->device, "cpu");
    snprintf(o->precision, sizeof o->precision, "fp32");
}

/* Flag names compare with '-' and '_' as the same character. */
static int name_eq(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char x = *a == '_' ? '-' : *a, y = *b == '_' ? '-' : *b;
        if (x != y) return 0;
    }
    return *a == *b;
}

static const OptSpec *find_opt(const char *name) {
    for (int i = 0; i < NOPTS; i++)
        if (name_eq(OPTS[i].name, name)) return &OPTS[i];
    return NULL;
}

static int parse_integer(const char *v, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) return -1;
    *out = x;
    return 0;
}

static int parse_flag(const char *v, int *out) {
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes")) *out = 1;
    else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no")) *out = 0;
    else return -1;
    return 0;
}

static int out_of_range(const OptSpec *s, const char *value, Err *err) {
    return err_set(err, "option %s: '%s' is outside the accepted range [%.10g, %.10g]", s->name, value, s->lo, s->hi);
}

int train_option_kind(const char *key) {
    const OptSpec *s = find_opt(key);
    return !s ? -1 : s->type == OT_FLAG ? 1 : 0;
}

int train_option_set(TrainOptions *o, const char *key, const char *value, Err *err) {
    const OptSpec *s = find_opt(key);
    if (!s) return err_set(err, "unknown option '%s' (mtl train --help lists them)", key);
    char *field = (char *)o + s->offset;
    long long x;
    switch (s->type) {
    case OT_STR:
        if (strlen(value) >= s->size)
            return err_set(err, "option %s: value longer than %zu characters", s->name, s->size - 1);
        memcpy(field, value, strlen(value) + 1);
        return 0;
    case OT_INT:
    case OT_LONG:
    case OT_LL:
        if (parse_integer(value, -(1LL << 62), 1LL << 62, &x))
            return err_set(err, "option %s: '%s' is not an integer", s->name, value);
        if (x < (long long)s->lo || x > (long long)s->hi) return out_of_range(s, value, err); /* exact: no double rounding */
        if (s->type == OT_INT) *(int *)field = (int)x;
        else if (s->type == OT_LONG) *(long *)field = (long)x;
        else *(long long *)field = x;
        return 0;
    case OT_FLOAT: {
        char *end;
        errno = 0;
        double d = strtod(value, &end);
        if (end == value || *end || (errno && errno != ERANGE))
            return err_set(err, "option %s: '%s' is not a number", s->name, value);
        if (!(d >= s->lo && d <= s->hi)) return out_of_range(s, value, err); /* NaN fails too */
        *(float *)field = (float)d;
        return 0;
    }
    case OT_FLAG:
        if (parse_flag(value, (int *)field))
            return err_set(err, "option %s: '%s' is not a boolean (1/0/true/false)", s->name, value);
        return 0;
    }
    return err_set(err, "option %s: bad type", s->name);
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
        else if (cJSON_IsBool(it) && train_option_kind(it->string) == 0) {
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
        if (train_option_set(o, it->string, val, &e)) rc = err_set(err, "%s: %s", path, e.msg);
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
        if (train_option_set(o, trim(t), trim(eq + 1), &e))
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
    fprintf(f,
            "usage: mtl train --task ner|qa|mtl --preset P --seed S --out runs/NAME [options]\n\n"
            "Trains from random init (no pretrained weights offline) with AdamW, linear warmup\n"
            "then linear decay to 0, and writes a run directory (see impl/train.h).\n"
            "An epoch is ceil(n/batch) steps for one task; joint: ceil(max(n_ner,n_qa)/batch);\n"
            "round_robin: twice that; proportional/temperature: ceil(n_ner/b)+ceil(n_qa/b).\n"
            "Options (default in brackets):\n");
    for (int i = 0; i < NOPTS; i++) {
        const OptSpec *s = &OPTS[i];
        char def[64] = "";
        const char *field = (const char *)&d + s->offset;
        switch (s->type) {
        case OT_STR: snprintf(def, sizeof def, "%s", field); break;
        case OT_INT: snprintf(def, sizeof def, "%d", *(const int *)field); break;
        case OT_LONG: snprintf(def, sizeof def, "%ld", *(const long *)field); break;
        case OT_LL: snprintf(def, sizeof def, "%lld", *(const long long *)field); break;
        case OT_FLOAT: snprintf(def, sizeof def, "%g", *(const float *)field); break;
        case OT_FLAG: snprintf(def, sizeof def, "off"); break;
        }
        if (s->type == OT_STR || s->type == OT_FLAG) fprintf(f, "  --%-18s %s [%s]\n", s->name, s->help, def);
        else fprintf(f, "  --%-18s %s [%s] (%.10g..%.10g)\n", s->name, s->help, def, s->lo, s->hi);
    }
}

static int is_flag_arg(const char *a) { return a[0] == '-' && a[1] == '-' && a[2]; }

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
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!is_flag_arg(a)) return err_set(err, "unexpected argument '%s'", a);
        char key[64];
        const char *eq = strchr(a, '=');
        size_t klen = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (klen >= sizeof key) return err_set(err, "unknown option '%s'", a);
        memcpy(key, a + 2, klen);
        key[klen] = '\0';
        const OptSpec *s = find_opt(key);
        if (!s) return err_set(err, "unknown option '--%s' (mtl train --help lists them)", key);
        const char *val;
        if (eq) val = eq + 1;
        else if (s->type == OT_FLAG) val = "1";
        else if (i + 1 < argc) val = argv[++i];
        else return err_set(err, "option --%s needs a value", key);
        if (train_option_set(o, key, val, err)) return -1;
    }
    return train_options_validate(o, err);
}

int train_options_validate(const TrainOptions *o, Err *err) {
    ModelConfig cfg;
    if (strcmp(o->task, "ner") && strcmp(o->task, "qa") && strcmp(o->task, "mtl"))
        return err_set(err, "--task must be ner, qa or mtl (got '%s')", o->task);
    /* preset "hf": the shape comes from the Hugging Face --init (what a run's
     * config.json records; train.c resolve_init reads it and checks the windows) */
    int hf_shape = !strcmp(o->preset, "hf");
    if (hf_shape && !o->init[0])
        return err_set(err, "--preset hf means the shape of the Hugging Face checkpoint given by --init; give --init DIR");
    if (config_from_preset(&cfg, hf_shape ? "base" : o->preset, err)) return -1;
    if (sampling_from_name(o->sampling) < 0)
        return err_set(err, "--sampling must be joint, round_robin, proportional or temperature (got '%s')",
                       o->sampling);
    if (strcmp(o->decode, "argmax") && strcmp(o->decode, "viterbi"))
        return err_set(err, "--decode must be argmax or viterbi (got '%s')", o->decode);
    if (strcmp(o->device, "cpu") && strcmp(o->device, "cuda"))
        return err_set(err, "--device must be cpu or cuda (got '%s')", o->device);
    if (precision_from_name(o->precision) < 0)
        return err_set(err, "--precision must be fp32 or bf16 (got '%s')", o->precision);
    if (o->tf32 && strcmp(o->device, "cuda"))
        return err_set(err, "--tf32 selects TF32 tensor-core matmuls on --device cuda; this run is on %s", o->device);
    if (o->resume && o->overwrite)
        return err_set(err, "--resume continues the run in --out and --overwrite replaces it: give one of them");
    if (o->batch < 1) return err_set(err, "--batch must be >= 1");
    if (o->max_steps <= 0 && o->epochs < 1)
        return err_set(err, "give --epochs >= 1 or --max-steps >= 1");
    if (o->seq_ner < 8 || o->seq_ner > cfg.maxT || o->seq_qa < 16 || o->seq_qa > cfg.maxT)
        return err_set(err, "--seq-ner must be in 8..%d and --seq-qa in 16..%d", cfg.maxT, cfg.maxT);
    if (squad_window_check("--seq-qa", o->seq_qa, o->stride, o->max_query, err)) return -1;
    long long seeds[TRAIN_MAX_SEEDS];
    if (o->seeds[0] && train_seed_list(o->seeds, seeds, err) < 0) return -1;
    if (!(o->lr > 0) || !(o->dropout >= 0 && o->dropout < 1) || !(o->beta1 >= 0 && o->beta1 < 1) ||
        !(o->beta2 >= 0 && o->beta2 < 1) || !(o->adam_eps > 0) || !(o->weight_decay >= 0))
        return err_set(err, "need lr > 0, 0 <= dropout < 1, 0 <= beta1, beta2 < 1, adam-eps > 0, weight-decay >= 0");
    if (!(o->lambda_ner >= 0) || !(o->lambda_qa >= 0))
        return err_set(err, "--lambda-ner and --lambda-qa must be >= 0");
    if (strcmp(o->loss_weighting, "static") && strcmp(o->loss_weighting, "gradnorm"))
        return err_set(err, "--loss-weighting must be static or gradnorm (got '%s')", o->loss_weighting);
    if (!strcmp(o->loss_weighting, "gradnorm")) {
        if (strcmp(o->task, "mtl") || strcmp(o->sampling, "joint"))
            return err_set(err, "--loss-weighting gradnorm needs --task mtl --sampling joint (both tasks' gradients in every step)");
        if (!(o->lambda_ner > 0) || !(o->lambda_qa > 0))
            return err_set(err, "--loss-weighting gradnorm: the lambdas are the initial weights and must be > 0");
        if (!(o->gradnorm_alpha >= 0) || !(o->gradnorm_lr > 0))
            return err_set(err, "need --gradnorm-alpha >= 0 and --gradnorm-lr > 0");
    }
    if (o->warmup < 0 && o->warmup_ratio < 0) return err_set(err, "--warmup must be >= 0");
    if (o->warmup_ratio > 1) return err_set(err, "--warmup-ratio must be <= 1");
    if (o->ner_train_limit < 0 || o->qa_train_limit < 0 || o->eval_limit < 0 ||
        o->qa_dev_limit < 0)
        return err_set(err, "limits must be >= 0");
    if (o->log_every < 1) return err_set(err, "--log-every must be >= 1");
    if (!o->out[0]) return err_set(err, "--out must name a run directory");
    if (o->dump_batches[0] && output_path_check(o->dump_batches, "--dump-batches", err)) return -1;
    return 0;
}

static void format_value(const OptSpec *s, const TrainOptions *o, char *buf, size_t n) {
    const char *field = (const char *)o + s->offset;
    switch (s->type) {
    case OT_STR: snprintf(buf, n, "%s", field); break;
    case OT_INT: snprintf(buf, n, "%d", *(const int *)field); break;
    case OT_LONG: snprintf(buf, n, "%ld", *(const long *)field); break;
    case OT_LL: snprintf(buf, n, "%lld", *(const long long *)field); break;
    case OT_FLOAT: snprintf(buf, n, "%.9g", *(const float *)field); break;
    case OT_FLAG: snprintf(buf, n, "%d", *(const int *)field); break;
    }
}

/* A flag that is on, or a string that is not its default. */
static int option_set(const OptSpec *s, const TrainOptions *o) {
    const char *field = (const char *)o + s->offset;
    if (s->type == OT_FLAG) return *(const int *)field != 0;
    TrainOptions def;
    train_options_default(&def);
    return strcmp(field, (const char *)&def + s->offset) != 0;
}

char *train_options_canonical(const TrainOptions *o) {
    StrBuf b = {0};
    for (int i = 0; i < NOPTS; i++) {
        if (!OPTS[i].trajectory || OPTS[i].trajectory == 4) continue;
        if (OPTS[i].trajectory == 2 && strcmp(o->loss_weighting, "gradnorm")) continue;
        if (OPTS[i].trajectory == 3 && !option_set(&OPTS[i], o)) continue;
        char v[1100];
        format_value(&OPTS[i], o, v, sizeof v);
        sb_printf(&b, "%s=%s\n", OPTS[i].name, v);
    }
    if (!b.buf) sb_printf(&b, "%s", "");
    return b.buf;
}

int train_options_write_json(const TrainOptions *o, const char *path, Err *err) {
    JsonW w;
    jw_init(&w);
    jw_obj(&w, NULL);
    for (int i = 0; i < NOPTS; i++) {
        const OptSpec *s = &OPTS[i];
        const char *field = (const char *)o + s->offset;
        if (s->trajectory == 4) continue;
        switch (s->type) {
        case OT_STR: jw_str(&w, s->name, field); break;
        case OT_INT: jw_int(&w, s->name, *(const int *)field); break;
        case OT_LONG: jw_int(&w, s->name, *(const long *)field); break;
        case OT_LL: jw_int(&w, s->name, *(const long long *)field); break;
        case OT_FLOAT: jw_num(&w, s->name, *(const float *)field); break;
        case OT_FLAG: jw_bool(&w, s->name, *(const int *)field); break;
        }
    }
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

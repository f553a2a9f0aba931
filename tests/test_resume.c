/* The training harness end to end on hermetic, hand-written data (a small
 * CoNLL-format corpus, a SQuAD-format file and a small vocab, all written by
 * this test into a temp dir, pointed to by $DATASETS_DIR and $MTL_VOCAB):
 *   - an interrupted + resumed run equals an uninterrupted one bitwise
 *     (checkpoint bytes, metrics.json, losses in log.csv, eval.csv, predictions)
 *   - another seed gives other losses
 *   - --resume with different training options is refused, naming the option
 *   - a diverging run (huge lr) stops with the step and task, keeps the last
 *     good checkpoint, and fails
 *   - bad options / presets / missing data give clear errors
 *   - the MTL parameter count is encoder + both heads
 *   - GradNorm loss weighting: the weights move, and resume is bitwise (their
 *     state travels in a version-2 checkpoint); a static run will not resume it
 *   - uncertainty and DWA loss weighting likewise (weights.csv), resumed in
 *     the middle of a DWA period, with tasks absent from steps
 * Uses the `tiny` preset (2 layers, C 64) with batch 4 and short sequences. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cJSON.h>

#include "backend.h"
#include "checkpoint.h"
#include "cli.h"
#include "hf_bert.h"
#include "model.h"
#include "model_open.h"
#include "predict.h"
#include "rundir.h"
#include "safetensors.h"
#include "sha256.h"
#include "testutil.h"
#include "train.h"

static char tmp[256];

/* ---- fixtures (invented sentences, no corpus text) ---------------------- */

/* Fixture setup runs before CUnit starts: fail loudly and exit. */
static void need(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "test_resume: cannot write fixture: %s\n", what);
        exit(1);
    }
}

static const char *CONLL_SENTS[] = {
    "Alice B-PER|Smith I-PER|visited O|Paris B-LOC|in O|May O|. O",
    "The O|Acme B-ORG|Corporation I-ORG|hired O|Bob B-PER|. O",
    "Berlin B-LOC|and O|Rome B-LOC|are O|cities O|. O",
    "Carol B-PER|joined O|Globex B-ORG|after O|the O|Olympics B-MISC|. O",
    "Dave B-PER|speaks O|French B-MISC|and O|lives O|in O|Lyon B-LOC|. O",
    "Initech B-ORG|opened O|an O|office O|in O|Oslo B-LOC|. O",
    "Eve B-PER|met O|Frank B-PER|Miller I-PER|at O|the O|World B-MISC|Cup I-MISC|. O",
    "Umbrella B-ORG|Labs I-ORG|moved O|to O|Madrid B-LOC|. O",
};

/* One CoNLL file: -DOCSTART-, then the sentences from `first` (cyclic). */
static void write_conll(const char *path, int first, int n) {
    FILE *f = fopen(path, "w");
    need(f != NULL, path);
    fprintf(f, "-DOCSTART- -X- O O\n\n");
    int ns = (int)(sizeof CONLL_SENTS / sizeof CONLL_SENTS[0]);
    for (int k = 0; k < n; k++) {
        char buf[512];
        snprintf(buf, sizeof buf, "%s", CONLL_SENTS[(first + k) % ns]);
        for (char *save = NULL, *tok = strtok_r(buf, "|", &save); tok; tok = strtok_r(NULL, "|", &save)) {
            char word[64], tag[16];
            if (sscanf(tok, "%63s %15s", word, tag) == 2) fprintf(f, "%s NN O %s\n", word, tag);
        }
        fprintf(f, "\n");
    }
    fclose(f);
}

typedef struct {
    const char *context, *question, *answer;
} QaItem;

static const QaItem QA_ITEMS[] = {
    {"Alice Smith visited Paris in May to see the tower.", "Where did Alice go?", "Paris"},
    {"Alice Smith visited Paris in May to see the tower.", "When did Alice visit?", "May"},
    {"The Acme Corporation hired Bob as an engineer in Berlin.", "Who did Acme hire?", "Bob"},
    {"The Acme Corporation hired Bob as an engineer in Berlin.", "What job did Bob get?", "engineer"},
    {"Rome is a city with many old churches and a large river.", "What does Rome have many of?", "old churches"},
    {"Carol joined Globex after the Olympics and moved to Oslo.", "Where did Carol move?", "Oslo"},
    {"Dave speaks French and lives in Lyon with two cats.", "How many cats does Dave have?", "two"},
    {"Initech opened an office in Oslo near the harbour.", "What did Initech open?", "an office"},
};

static void write_squad(const char *path, int first, int n) {
    FILE *f = fopen(path, "w");
    need(f != NULL, path);
    fprintf(f, "{\"version\": \"1.1\", \"data\": [{\"title\": \"Fixture\", \"paragraphs\": [");
    int ni = (int)(sizeof QA_ITEMS / sizeof QA_ITEMS[0]);
    for (int k = 0; k < n; k++) {
        const QaItem *q = &QA_ITEMS[(first + k) % ni];
        long start = strstr(q->context, q->answer) - q->context; /* ASCII: bytes = code points */
        fprintf(f, "%s{\"context\": \"%s\", \"qas\": [{\"id\": \"q%d\", \"question\": \"%s\", "
                   "\"answers\": [{\"text\": \"%s\", \"answer_start\": %ld}]}]}",
                k ? ", " : "", q->context, first + k, q->question, q->answer, start);
    }
    fprintf(f, "]}]}\n");
    fclose(f);
}

static void write_vocab(const char *path) {
    static const char *words[] = {
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "?", "the", "a", "an", "in",
        "to", "and", "of", "at", "as", "with", "did", "does", "where", "when", "who", "what",
        "how", "many", "go", "visit", "visited", "paris", "may", "alice", "smith", "bob", "acme",
        "corporation", "hired", "hire", "engineer", "berlin", "rome", "city", "cities", "are",
        "is", "old", "churches", "large", "river", "have", "carol", "joined", "globex", "after",
        "olympics", "moved", "move", "oslo", "dave", "speaks", "french", "lives", "lyon", "two",
        "cats", "initech", "opened", "open", "office", "near", "harbour", "eve", "met", "frank",
        "miller", "world", "cup", "umbrella", "labs", "madrid", "see", "tower", "job", "get",
        "##s", "##ed", NULL};
    FILE *f = fopen(path, "w");
    need(f != NULL, path);
    for (int i = 0; words[i]; i++) fprintf(f, "%s\n", words[i]);
    fclose(f);
}

static void make_fixture_data(void) {
    char p[512];
    Err err;
    snprintf(p, sizeof p, "%s/data/conll2003", tmp);
    need(mkdir_p(p, &err) == 0, err.msg);
    snprintf(p, sizeof p, "%s/data/squad", tmp);
    need(mkdir_p(p, &err) == 0, err.msg);
    snprintf(p, sizeof p, "%s/data/conll2003/train.txt", tmp);
    write_conll(p, 0, 24);
    snprintf(p, sizeof p, "%s/data/conll2003/valid.txt", tmp);
    write_conll(p, 3, 6);
    snprintf(p, sizeof p, "%s/data/conll2003/test.txt", tmp);
    write_conll(p, 5, 6);
    snprintf(p, sizeof p, "%s/data/squad/train-v1.1-subset44.json", tmp);
    write_squad(p, 0, 16);
    snprintf(p, sizeof p, "%s/data/squad/dev-v1.1.json", tmp);
    write_squad(p, 2, 6);
    snprintf(p, sizeof p, "%s/vocab.txt", tmp);
    write_vocab(p);
    snprintf(p, sizeof p, "%s/data", tmp);
    setenv("DATASETS_DIR", p, 1);
    snprintf(p, sizeof p, "%s/vocab.txt", tmp);
    setenv("MTL_VOCAB", p, 1);
}

/* ---- running `mtl train` in-process ------------------------------------- */

/* Split buf (modified) at spaces into argv, NULL-terminated; returns argc. */
static int split_args(char *buf, char **argv, int max) {
    int argc = 0;
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t && argc < max - 1; t = strtok_r(NULL, " ", &save))
        argv[argc++] = t;
    argv[argc] = NULL;
    return argc;
}

/* Parse a space-separated argument string plus --out and run it. */
static int train(const char *args, const char *out, Err *err) {
    char buf[2048];
    snprintf(buf, sizeof buf, "train %s --quiet --out %s/%s", args, tmp, out);
    char *argv[64];
    int argc = split_args(buf, argv, 64);
    TrainOptions o;
    train_options_default(&o);
    int rc = train_options_parse(&o, argc, argv, err);
    if (rc != 0) return -1;
    RunSummary s;
    return train_run(&o, argc, argv, &s, err);
}

static const char BASE[] =
    "--task mtl --preset tiny --batch 4 --seq-ner 32 --seq-qa 64 --stride 16 --max-query 16 "
    "--max-steps 12 --warmup-ratio 0.2 --lr 1e-3 --threads 1 --eval-every 5 --log-every 100";

static char *slurp(const char *dir, const char *name, size_t *len) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s/%s", tmp, dir, name);
    Err err;
    char *b = read_file_all(p, len, &err);
    if (!b) printf("\n  %s\n", err.msg);
    return b;
}

static int exists(const char *rel) {
    char p[700];
    snprintf(p, sizeof p, "%s/%s", tmp, rel);
    struct stat sb;
    return stat(p, &sb) == 0;
}

static int same_file(const char *a, const char *b, const char *name) {
    size_t la = 0, lb = 0;
    char *x = slurp(a, name, &la), *y = slurp(b, name, &lb);
    int same = x && y && la == lb && memcmp(x, y, la) == 0;
    if (!same) printf("\n  %s differs between %s and %s\n", name, a, b);
    free(x);
    free(y);
    return same;
}

/* log.csv without the timing columns (tokens_per_s, wall_s). */
static char *losses_of(const char *dir) {
    size_t len;
    char *b = slurp(dir, "log.csv", &len);
    if (!b) return NULL;
    char *out = calloc(len + 1, 1);
    size_t o = 0;
    for (char *save = NULL, *l = strtok_r(b, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        int commas = 0;
        for (char *c = l; *c && commas < 6; c++) {
            if (*c == ',') commas++;
            if (commas < 6) out[o++] = *c;
        }
        out[o++] = '\n';
    }
    free(b);
    return out;
}

/* full run == interrupted at step 6 + --resume, bitwise, in `precision`
 * (run directories full-<precision> and interrupted-<precision>). */
static void check_resume_equals_uninterrupted(const char *precision) {
    Err err = {{0}};
    char args[1024], full[32], intr[32];
    snprintf(full, sizeof full, "full-%s", precision);
    snprintf(intr, sizeof intr, "interrupted-%s", precision);
    snprintf(args, sizeof args, "%s --precision %s --seed 7 --save-every 4", BASE, precision);
    int rc = train(args, full, &err);
    if (rc) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    /* interrupted after step 6 (last checkpoint at step 4), then resumed */
    snprintf(args, sizeof args, "%s --precision %s --seed 7 --save-every 4 --stop-after 6", BASE,
             precision);
    CU_ASSERT_EQUAL_FATAL(train(args, intr, &err), 0);
    snprintf(args, sizeof args, "%s --precision %s --seed 7 --save-every 4 --resume", BASE, precision);
    rc = train(args, intr, &err);
    if (rc) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT(same_file(full, intr, "checkpoint.bin"));
    CU_ASSERT(same_file(full, intr, "metrics.json"));
    CU_ASSERT(same_file(full, intr, "eval.csv"));
    CU_ASSERT(same_file(full, intr, "predictions/qa_dev_predictions.json"));
    CU_ASSERT(same_file(full, intr, "predictions/ner_test.conlleval.txt"));
    char *a = losses_of(full), *b = losses_of(intr);
    CU_ASSERT(a && b && strcmp(a, b) == 0);
    /* 12 steps + header */
    int rows = 0;
    for (char *c = a; c && *c; c++) rows += *c == '\n';
    CU_ASSERT_EQUAL(rows, 13);
    free(a);
    free(b);
}

static void test_resume_equals_uninterrupted(void) {
    check_resume_equals_uninterrupted("fp32");
    /* another seed: other losses */
    Err err = {{0}};
    char args[1024];
    snprintf(args, sizeof args, "%s --seed 8 --max-steps 3", BASE);
    CU_ASSERT_EQUAL_FATAL(train(args, "seed8", &err), 0);
    char *c = losses_of("seed8"), *d = losses_of("full-fp32");
    CU_ASSERT(c && d && strncmp(c + 60, d + 60, 40) != 0);
    free(c);
    free(d);
}

/* bf16 resumes bitwise too, and its losses differ from fp32's (the GEMM
 * inputs really are rounded); SKIP where the CPU has no native bf16. */
static void test_resume_bf16(void) {
    char why[256];
    Backend *be = backend_cpu_bf16(1, why, sizeof why);
    if (!be) {
        testutil_skip("bf16 resume", why);
        return;
    }
    be->destroy(be);
    check_resume_equals_uninterrupted("bf16");
    char *a = losses_of("full-bf16"), *b = losses_of("full-fp32");
    CU_ASSERT(a && b && strcmp(a, b) != 0);
    free(a);
    free(b);
}

static void test_resume_option_mismatch(void) {
    Err err = {{0}};
    char args[1024];
    snprintf(args, sizeof args, "%s --seed 7 --save-every 4 --stop-after 4", BASE);
    CU_ASSERT_EQUAL_FATAL(train(args, "mismatch", &err), 0);
    snprintf(args, sizeof args, "%s --seed 7 --lambda-qa 2 --resume", BASE);
    CU_ASSERT_EQUAL(train(args, "mismatch", &err), -1);
    printf("\n  message: %s\n", err.msg);
    CU_ASSERT(strstr(err.msg, "lambda-qa=1") != NULL && strstr(err.msg, "lambda-qa=2") != NULL);
}

static void test_divergence_stops(void) {
    Err err = {{0}};
    char args[1024];
    /* lr 1e30: the first update throws parameters to ~1e30, the next loss is not finite */
    snprintf(args, sizeof args,
             "--task ner --preset tiny --batch 4 --seq-ner 32 --max-steps 5 --warmup 0 --lr 1e30 "
             "--threads 1 --save-every 1 --eval-every -1 --seed 3");
    CU_ASSERT_EQUAL(train(args, "diverge", &err), -1);
    printf("\n  message: %s\n", err.msg);
    CU_ASSERT(strstr(err.msg, "non-finite") != NULL);
    CU_ASSERT(strstr(err.msg, "ner") != NULL);
    CU_ASSERT(strstr(err.msg, "last good checkpoint") != NULL);
    /* that checkpoint loads */
    char p[600];
    snprintf(p, sizeof p, "%s/diverge/checkpoint.bin", tmp);
    ModelConfig cfg;
    CU_ASSERT_EQUAL(checkpoint_read_config(p, &cfg, &err), 0);
    /* no metrics.json for a failed run */
    snprintf(p, sizeof p, "%s/diverge/metrics.json", tmp);
    CU_ASSERT(access(p, F_OK) != 0);
}

static void expect_parse_error(const char *args, const char *want) {
    char buf[1024];
    snprintf(buf, sizeof buf, "train %s", args);
    char *argv[32];
    int argc = split_args(buf, argv, 32);
    TrainOptions o;
    train_options_default(&o);
    Err err = {{0}};
    CU_ASSERT_EQUAL(train_options_parse(&o, argc, argv, &err), -1);
    if (!strstr(err.msg, want)) printf("\n  '%s' -> '%s' (wanted '%s')\n", args, err.msg, want);
    CU_ASSERT(strstr(err.msg, want) != NULL);
}

static void test_bad_input(void) {
    expect_parse_error("--bogus 1", "unknown option '--bogus'");
    expect_parse_error("--preset huge", "unknown preset 'huge'");
    expect_parse_error("--task pos", "--task must be ner, qa or mtl");
    expect_parse_error("--sampling random", "--sampling must be");
    expect_parse_error("--batch x", "not an integer");
    expect_parse_error("--lr", "needs a value");
    /* every number in its range, named with the option; NaN and infinities refused */
    static const char *const OUT_OF_RANGE[] = {
        "--clip nan", "--lr inf", "--lr 1e40", "--adam-eps -1", "--dropout 1.5", "--max-steps -3",
        "--max-steps 2305843009213693952", "--threads 100000", "--threads -1", "--batch 0",
        "--lambda-qa -0.5", "--temperature 0", "--seq-ner 100000", "--beta2 nan", "--warmup-ratio 2",
        "--log-every 0", "--seed -1", "--qa-dev-limit -5", "--weight-decay inf", NULL};
    for (int i = 0; OUT_OF_RANGE[i]; i++) {
        char opt[64]; /* "option --clip:": the option as the command line wrote it */
        snprintf(opt, sizeof opt, "option %s", OUT_OF_RANGE[i]);
        char *sp = strchr(opt + 9, ' ');
        if (sp) sp[0] = ':', sp[1] = '\0';
        expect_parse_error(OUT_OF_RANGE[i], "outside the accepted range");
        expect_parse_error(OUT_OF_RANGE[i], opt);
    }
    expect_parse_error("--tf32", "--tf32 selects TF32");
    expect_parse_error("--resume --overwrite", "give one of them");
    /* config file: key=value with a bad line, and JSON */
    char p[600];
    snprintf(p, sizeof p, "%s/bad.conf", tmp);
    FILE *f = fopen(p, "w");
    fprintf(f, "# comment\nbatch = 8\nnot a pair\n");
    fclose(f);
    char args[1400];
    snprintf(args, sizeof args, "--config %s", p);
    expect_parse_error(args, "bad.conf:3: expected key=value");
    snprintf(p, sizeof p, "%s/good.json", tmp);
    f = fopen(p, "w");
    fprintf(f, "{\"batch\": 8, \"lambda_qa\": 0.5, \"sampling\": \"temperature\", \"resume\": false}\n");
    fclose(f);
    snprintf(p, sizeof p, "%s/bool.json", tmp);
    f = fopen(p, "w");
    fprintf(f, "{\"batch\": true}\n");
    fclose(f);
    snprintf(args, sizeof args, "--config %s", p);
    expect_parse_error(args, "true/false only for on/off options");
    snprintf(args, sizeof args, "--config %s --config %s/good.json", p, tmp);
    expect_parse_error(args, "--config given twice");
    snprintf(p, sizeof p, "%s/fifo.conf", tmp); /* would block a reader forever */
    CU_ASSERT_EQUAL_FATAL(mkfifo(p, 0600), 0);
    snprintf(args, sizeof args, "--config %s", p);
    expect_parse_error(args, "not a regular file");
    snprintf(p, sizeof p, "%s/good.json", tmp);
    snprintf(args, sizeof args, "train --config %s --batch 2", p);
    char *argv[8];
    int argc = split_args(args, argv, 8);
    TrainOptions o;
    train_options_default(&o);
    Err err;
    CU_ASSERT_EQUAL(train_options_parse(&o, argc, argv, &err), 0);
    CU_ASSERT_EQUAL(o.batch, 2); /* the flag overrides the file */
    CU_ASSERT_DOUBLE_EQUAL(o.lambda[TASK_QA], 0.5, 1e-9);
    CU_ASSERT_EQUAL(o.sampling, SAMPLING_TEMPERATURE);
    /* missing data: a clear message that says how to get it */
    char *old = strdup(getenv("DATASETS_DIR"));
    snprintf(p, sizeof p, "%s/empty", tmp);
    mkdir_p(p, &err);
    setenv("DATASETS_DIR", p, 1);
    char cwd[1024];
    CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof cwd));
    CU_ASSERT_EQUAL_FATAL(chdir(tmp), 0); /* so that no datasets/data or ../shared is found */
    Err e2 = {{0}};
    int rc = train("--task ner --preset tiny --max-steps 1", "nodata", &e2);
    CU_ASSERT_EQUAL(chdir(cwd), 0);
    setenv("DATASETS_DIR", old, 1);
    free(old);
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT(strstr(e2.msg, "conll2003/train.txt") != NULL && strstr(e2.msg, "make datasets") != NULL);
    /* an empty test split is refused before the run starts, not scored as F1 0 over 0 sentences */
    char d[300], q[700];
    snprintf(d, sizeof d, "%s/emptytest", tmp);
    snprintf(p, sizeof p, "%s/conll2003", d);
    mkdir_p(p, &err);
    snprintf(p, sizeof p, "%s/squad", d);
    mkdir_p(p, &err);
    static const char *const LINKED[] = {"conll2003/train.txt", "conll2003/valid.txt",
                                         "squad/train-v1.1-subset44.json", "squad/dev-v1.1.json"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/data/%s", tmp, LINKED[i]);
        snprintf(q, sizeof q, "%s/%s", d, LINKED[i]);
        CU_ASSERT_EQUAL(symlink(p, q), 0);
    }
    snprintf(q, sizeof q, "%s/conll2003/test.txt", d);
    f = fopen(q, "w");
    fprintf(f, "-DOCSTART- -X- O O\n\n");
    fclose(f);
    old = strdup(getenv("DATASETS_DIR"));
    setenv("DATASETS_DIR", d, 1);
    rc = train("--task ner --preset tiny --max-steps 1 --batch 4 --seq-ner 32", "emptytest-run", &e2);
    setenv("DATASETS_DIR", old, 1);
    free(old);
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT(strstr(e2.msg, "test.txt: no sentences") != NULL);
    CU_ASSERT(!exists("emptytest-run"));
}

/* The task column of log.csv for each strategy: joint trains both every
 * step, round_robin alternates starting with NER, proportional picks one task
 * per step. */
static void test_sampling_in_loop(void) {
    const char *strategies[] = {"joint", "round_robin", "proportional", "temperature"};
    for (int i = 0; i < 4; i++) {
        char args[1024], out[64];
        snprintf(args, sizeof args,
                 "--task mtl --preset tiny --batch 4 --seq-ner 32 --seq-qa 64 --stride 16 "
                 "--max-query 16 --max-steps 6 --threads 1 --eval-every -1 --no-test --seed 2 "
                 "--sampling %s",
                 strategies[i]);
        snprintf(out, sizeof out, "sampling-%s", strategies[i]);
        Err err = {{0}};
        int rc = train(args, out, &err);
        if (rc) printf("\n  %s\n", err.msg);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        char *log = losses_of(out);
        CU_ASSERT_PTR_NOT_NULL_FATAL(log);
        int joint = 0, ner = 0, qa = 0, alternating = 1, prev = -1;
        for (char *save = NULL, *l = strtok_r(log, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            const char *task = strchr(l, ',');
            if (!task || !strncmp(l, "step", 4)) continue;
            int k = !strncmp(task + 1, "joint", 5) ? 2 : !strncmp(task + 1, "ner", 3) ? 0 : 1;
            joint += k == 2, ner += k == 0, qa += k == 1;
            if (k == prev || (prev == -1 && k != 0)) alternating = 0;
            prev = k;
        }
        free(log);
        if (i == 0) CU_ASSERT(joint == 6);
        if (i == 1) CU_ASSERT(ner == 3 && qa == 3 && alternating);
        if (i >= 2) CU_ASSERT(joint == 0 && ner + qa == 6);
    }
}

/* GradNorm: the weights learn, gradnorm.csv and the checkpoint (version 2,
 * with the weights and their Adam state) resume bit for bit; a GradNorm
 * checkpoint will not resume as a static run, and GradNorm needs joint
 * sampling of both tasks. */
static void test_resume_gradnorm(void) {
    Err err = {{0}};
    char args[1024];
    const char *gn = "--loss-weighting gradnorm --gradnorm-alpha 1.5 --gradnorm-lr 0.05 --lambda-ner 2";
    snprintf(args, sizeof args, "%s %s --seed 7 --save-every 4", BASE, gn);
    int rc = train(args, "gn-full", &err);
    if (rc) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    snprintf(args, sizeof args, "%s %s --seed 7 --save-every 4 --stop-after 6", BASE, gn);
    CU_ASSERT_EQUAL_FATAL(train(args, "gn-int", &err), 0);
    snprintf(args, sizeof args, "%s %s --seed 7 --save-every 4 --resume", BASE, gn);
    rc = train(args, "gn-int", &err);
    if (rc) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT(same_file("gn-full", "gn-int", "checkpoint.bin"));
    CU_ASSERT(same_file("gn-full", "gn-int", "gradnorm.csv"));
    CU_ASSERT(same_file("gn-full", "gn-int", "metrics.json"));
    size_t len = 0;
    char *csv = slurp("gn-full", "gradnorm.csv", &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(csv);
    int rows = 0;
    double w0 = 0, w1 = 0, first_w0 = 0;
    for (char *save = NULL, *l = strtok_r(csv, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        long step;
        if (sscanf(l, "%ld,%lf,%lf", &step, &w0, &w1) != 3) continue;
        if (++rows == 1) first_w0 = w0;
        CU_ASSERT_DOUBLE_EQUAL(w0 + w1, 3.0, 1e-12); /* lambdas 2 + 1 */
    }
    free(csv);
    printf("\n  GradNorm w_ner %.6f at step 1, %.6f at step 12", first_w0, w0);
    CU_ASSERT_EQUAL(rows, 12);
    CU_ASSERT_DOUBLE_EQUAL(first_w0, 2.0, 0);
    CU_ASSERT(w0 != 2.0);
    char *ck = slurp("gn-full", "checkpoint.bin", &len);
    CU_ASSERT(ck && len > 12 && ck[8] == 2); /* version 2: carries the weights */
    free(ck);
    snprintf(args, sizeof args, "%s --lambda-ner 2 --seed 7 --resume", BASE);
    CU_ASSERT_EQUAL(train(args, "gn-int", &err), -1);
    printf("\n  static resume of a GradNorm run: %s", err.msg);
    CU_ASSERT(strstr(err.msg, "loss-weighting") != NULL);
    expect_parse_error("--loss-weighting gradnorm --sampling round_robin", "needs --task mtl --sampling joint");
    expect_parse_error("--loss-weighting gradnorm --task ner", "needs --task mtl --sampling joint");
    expect_parse_error("--loss-weighting gradnorm --lambda-qa 0", "must be > 0");
    expect_parse_error("--loss-weighting magic", "--loss-weighting must be static, gradnorm, uncertainty or dwa");
}

/* The rows of weights.csv in dir: *rows, the first and last w_ner; each row's
 * step must be its 1-based index. */
static void weights_csv_rows(const char *dir, int *rows, double *first_w0, double *last_w0) {
    size_t len = 0;
    char *csv = slurp(dir, "weights.csv", &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(csv);
    *rows = 0;
    for (char *save = NULL, *l = strtok_r(csv, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        long step;
        double w0, w1;
        if (sscanf(l, "%ld,%lf,%lf", &step, &w0, &w1) != 3) continue;
        CU_ASSERT_EQUAL(step, ++*rows);
        if (*rows == 1) *first_w0 = w0;
        *last_w0 = w0;
    }
    free(csv);
}

/* Uncertainty weighting and DWA (proportional sampling: one task per step,
 * so tasks are absent from steps and DWA periods; DWA's period of 3 steps
 * puts the checkpoint of step 4 inside a period): interrupted at step 6
 * (checkpoint at 4) and resumed == uninterrupted, bit for bit (checkpoint,
 * weights.csv, metrics.json); the weights move from the lambdas; the state
 * is the method's own (a DWA checkpoint does not resume as uncertainty); and
 * the options' bad values and combinations are refused. */
static void test_resume_learned_weights(void) {
    const char *methods[2][2] = {{"unc", "--loss-weighting uncertainty --uncertainty-lr 0.05 --lambda-ner 2"},
                                 {"dwa", "--loss-weighting dwa --dwa-period 3 --dwa-temperature 1 --lambda-ner 2"}};
    for (int i = 0; i < 2; i++) {
        Err err = {{0}};
        char args[1024], full[32], intr[32];
        snprintf(full, sizeof full, "%s-full", methods[i][0]);
        snprintf(intr, sizeof intr, "%s-int", methods[i][0]);
        const char *common = "--sampling proportional --seed 7 --save-every 4";
        snprintf(args, sizeof args, "%s %s %s", BASE, methods[i][1], common);
        int rc = train(args, full, &err);
        if (rc) printf("\n  %s\n", err.msg);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        snprintf(args, sizeof args, "%s %s %s --stop-after 6", BASE, methods[i][1], common);
        CU_ASSERT_EQUAL_FATAL(train(args, intr, &err), 0);
        snprintf(args, sizeof args, "%s %s %s --resume", BASE, methods[i][1], common);
        rc = train(args, intr, &err);
        if (rc) printf("\n  %s\n", err.msg);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        CU_ASSERT(same_file(full, intr, "checkpoint.bin"));
        CU_ASSERT(same_file(full, intr, "weights.csv"));
        CU_ASSERT(same_file(full, intr, "metrics.json"));
        int rows = 0;
        double first_w0 = 0, last_w0 = 0;
        weights_csv_rows(full, &rows, &first_w0, &last_w0);
        printf("\n  %s: w_ner %.6f at step 1, %.6f at step 12", methods[i][0], first_w0, last_w0);
        CU_ASSERT_EQUAL(rows, 12);
        CU_ASSERT_DOUBLE_EQUAL(first_w0, 2.0, 1e-15);
        CU_ASSERT(last_w0 != 2.0);
        size_t len = 0;
        char *ck = slurp(full, "checkpoint.bin", &len);
        CU_ASSERT(ck && len > 12 && ck[8] == 2); /* version 2: carries the state */
        free(ck);
    }
    Err err = {{0}};
    char args[1024];
    snprintf(args, sizeof args, "%s %s --sampling proportional --seed 7 --save-every 4 --resume", BASE,
             methods[0][1]);
    CU_ASSERT_EQUAL(train(args, "dwa-int", &err), -1);
    printf("\n  uncertainty resume of a DWA run: %s", err.msg);
    CU_ASSERT(strstr(err.msg, "loss-weighting") != NULL);
    expect_parse_error("--loss-weighting dwa --task ner", "--loss-weighting dwa weighs the tasks of a multi-task run: it needs --task mtl");
    expect_parse_error("--loss-weighting uncertainty --task qa", "needs --task mtl");
    expect_parse_error("--loss-weighting uncertainty --lambda-ner 0", "lambdas are the initial weights and must be > 0");
    expect_parse_error("--loss-weighting uncertainty --uncertainty-lr 0", "--uncertainty-lr must be > 0 (accepted range (0, 10]");
    expect_parse_error("--uncertainty-lr -0.1", "option --uncertainty-lr: '-0.1' is outside the accepted range [0, 10]");
    expect_parse_error("--loss-weighting dwa --dwa-period 0", "--dwa-period must be >= 1 step, or -1 for one epoch");
    expect_parse_error("--dwa-period -2", "option --dwa-period: '-2' is outside the accepted range");
    expect_parse_error("--loss-weighting dwa --dwa-temperature 0", "option --dwa-temperature: '0' is outside the accepted range");
}

static void test_param_counts(void) {
    ModelConfig c;
    Err err;
    CU_ASSERT_EQUAL_FATAL(config_from_preset(&c, "mini", &err), 0);
    ModelCounts both = model_counts(&c, 16, 128);
    CU_ASSERT_EQUAL(both.total, both.encoder + both.ner_head + both.qa_head);
    CU_ASSERT_EQUAL(both.ner_head, (size_t)(9 * c.C + 9));
    CU_ASSERT_EQUAL(both.qa_head, (size_t)(2 * c.C + 2));
    c.heads = HEAD_NER;
    CU_ASSERT_EQUAL(model_counts(&c, 16, 128).total, both.encoder + both.ner_head);
    c.heads = HEAD_QA;
    CU_ASSERT_EQUAL(model_counts(&c, 16, 128).total, both.encoder + both.qa_head);
}


/* ---- --init of a Hugging Face directory ---------------------------------- */

/* A tiny BERT as a Hugging Face directory (written by hf_export_task) with the
 * fixture vocab: the shape of `tiny`, 64 positions. */
static void make_hf_dir(const char *name) {
    ModelConfig cfg;
    Err err;
    CU_ASSERT_EQUAL_FATAL(config_from_preset(&cfg, "tiny", &err), 0);
    char vocab[600], dir[600];
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", tmp);
    snprintf(dir, sizeof dir, "%s/%s", tmp, name);
    cfg.V = 86; /* write_vocab's tokens */
    cfg.maxT = 64;
    Backend *be = backend_cpu(1);
    Model *m = model_create(&cfg, be, 1, 8, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    model_init(m, 99);
    CU_ASSERT_EQUAL(hf_export_task(m, TASK_NER, vocab, 1, -1, dir, &err), 0);
    model_free(m);
    be->destroy(be);
}

static const char HF_ARGS[] =
    "--task mtl --batch 4 --seq-ner 32 --seq-qa 64 --stride 16 --max-query 16 --max-steps 6 "
    "--warmup-ratio 0.2 --lr 1e-3 --threads 1 --eval-every -1 --log-every 100";

/* Train from the HF dir, export, and open the export again: every exported
 * tensor equals the run's checkpoint bitwise (the export is the model). */
static void test_hf_init_train_export(void) {
    make_hf_dir("hf-good");
    char args[1200], p[700];
    snprintf(args, sizeof args, "%s --init %s/hf-good", HF_ARGS, tmp);
    Err err = {{0}};
    int rc = train(args, "hf-run", &err);
    if (rc) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    size_t len;
    char *mf = slurp("hf-run", "manifest.json", &len), *met = slurp("hf-run", "metrics.json", &len);
    CU_ASSERT(mf && strstr(mf, "\"init/model.safetensors\"") && strstr(mf, "\"init/config.json\""));
    CU_ASSERT(met && strstr(met, "\"preset\": \"hf\"") && strstr(met, "\"init_dir\""));
    free(mf), free(met);
    CU_ASSERT(exists("hf-run/vocab.txt") && exists("hf-run/tokenizer_config.json"));
    snprintf(p, sizeof p, "%s/hf-run", tmp);
    char out[700];
    snprintf(out, sizeof out, "%s/hf-export", tmp);
    char *argv[] = {"export", p, "--out", out, NULL};
    CU_ASSERT_EQUAL_FATAL(cmd_export(4, argv), 0);
    CU_ASSERT(exists("hf-export/ner/model.safetensors") && exists("hf-export/qa/config.json"));
    Backend *be = backend_cpu(1);
    ModelOpen run, ex;
    CU_ASSERT_EQUAL_FATAL(model_open(p, be, 1, 8, 1, &run, &err), 0);
    snprintf(out, sizeof out, "%s/hf-export/qa", tmp);
    CU_ASSERT_EQUAL_FATAL(model_open(out, be, 1, 8, 1, &ex, &err), 0);
    CU_ASSERT(ex.qa_head_trained && !ex.ner_head_trained);
    int same = 0, n = 0;
    size_t np = model_num_params(run.m), nq = model_num_params(ex.m);
    float *a = malloc(np * sizeof(float)), *b = malloc(nq * sizeof(float));
    model_params_to_host(run.m, a);
    model_params_to_host(ex.m, b);
    for (int i = 0; i < model_num_tensors(run.m); i++) {
        const ParamInfo *x = model_tensor(run.m, i);
        if (!strncmp(x->name, "ner.", 4)) continue;
        const ParamInfo *y = model_find_tensor(ex.m, x->name);
        n++;
        same += y && y->numel == x->numel && !memcmp(a + x->offset, b + y->offset, x->numel * sizeof(float));
    }
    CU_ASSERT(n > 0 && same == n);
    free(a), free(b);
    model_open_free(&run);
    model_open_free(&ex);
    be->destroy(be);
}

/* A number in DIR/metrics.json by dotted path ("ner.dev.f1"); NAN if absent. */
static double metric_at(const char *dir, const char *path) {
    size_t len;
    char *b = slurp(dir, "metrics.json", &len);
    cJSON *j = b ? cJSON_Parse(b) : NULL, *it = j;
    char key[128];
    snprintf(key, sizeof key, "%s", path);
    for (char *save = NULL, *k = strtok_r(key, ".", &save); k && it; k = strtok_r(NULL, ".", &save))
        it = cJSON_GetObjectItemCaseSensitive(it, k);
    double v = cJSON_IsNumber(it) ? it->valuedouble : NAN;
    cJSON_Delete(j);
    free(b);
    return v;
}

static int eval_cmd(const char *args) {
    char buf[1500];
    snprintf(buf, sizeof buf, "eval %s", args);
    char *argv[40];
    int argc = split_args(buf, argv, 40);
    return cmd_eval(argc, argv);
}

/* `mtl eval` of a run gives the scores its training wrote, bitwise; so does
 * `mtl eval` of its export (the path of a transformers-trained checkpoint);
 * a head the model lacks, and bad options, are refused; the run's
 * config.json (preset "hf") trains the same run again through --config. */
static void test_eval_matches_train(void) {
    make_hf_dir("hf-good");
    char args[1200];
    snprintf(args, sizeof args, "%s --init %s/hf-good", HF_ARGS, tmp);
    Err err = {{0}};
    CU_ASSERT_EQUAL_FATAL(train(args, "ev-run", &err), 0);
    static const char W[] = "--seq-ner 32 --seq-qa 64 --stride 16 --max-query 16 --threads 1 --batch 4";
    snprintf(args, sizeof args, "--model %s/ev-run --out %s/ev-out %s", tmp, tmp, W);
    CU_ASSERT_EQUAL_FATAL(eval_cmd(args), 0);
    const char *keys[] = {"ner.dev.f1", "ner.test.f1", "ner.dev.loss", "ner.test.per_type.PER.f1",
                          "qa.dev.f1", "qa.dev.exact_match", "qa.dev.loss"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        double a = metric_at("ev-run", keys[i]), b = metric_at("ev-out", keys[i]);
        if (!(a == b)) printf("\n  %s: train %.9g, eval %.9g\n", keys[i], a, b);
        CU_ASSERT(a == b);
    }
    CU_ASSERT(exists("ev-out/predictions/ner_test.conlleval.txt") && exists("ev-out/manifest.json"));
    char out[700], p[700];
    snprintf(p, sizeof p, "%s/ev-run", tmp);
    snprintf(out, sizeof out, "%s/ev-export", tmp);
    char *xargv[] = {"export", p, "--out", out, NULL};
    CU_ASSERT_EQUAL_FATAL(cmd_export(4, xargv), 0);
    snprintf(args, sizeof args, "--model %s/ev-export/qa --out %s/ev-out-qa %s", tmp, tmp, W);
    CU_ASSERT_EQUAL(eval_cmd(args), 0);
    CU_ASSERT(metric_at("ev-out-qa", "qa.dev.f1") == metric_at("ev-run", "qa.dev.f1"));
    CU_ASSERT(isnan(metric_at("ev-out-qa", "ner.dev.f1"))); /* --task follows the trained heads */
    /* hf-good has a trained NER head only */
    snprintf(args, sizeof args, "--model %s/hf-good --task qa --out %s/ev-bad %s", tmp, tmp, W);
    CU_ASSERT_EQUAL(eval_cmd(args), 1);
    CU_ASSERT(!exists("ev-bad/metrics.json"));
    snprintf(args, sizeof args, "--model %s/ev-run --out %s/ev-bad --batch 0", tmp, tmp);
    CU_ASSERT_EQUAL(eval_cmd(args), 2);
    snprintf(args, sizeof args, "--model %s/ev-run --out %s/ev-bad --lr 1", tmp, tmp);
    CU_ASSERT_EQUAL(eval_cmd(args), 2);
    snprintf(args, sizeof args, "--model %s/ev-run", tmp);
    CU_ASSERT_EQUAL(eval_cmd(args), 2);
    snprintf(args, sizeof args, "--config %s/ev-run/config.json", tmp);
    CU_ASSERT_EQUAL_FATAL(train(args, "ev-run2", &err), 0);
    char *a = losses_of("ev-run"), *b = losses_of("ev-run2");
    CU_ASSERT(a && b && !strcmp(a, b));
    free(a), free(b);
}

/* Rewrite one file of a copy of hf-good. */
static void copy_hf(const char *name) {
    const char *files[] = {"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"};
    char d[700];
    snprintf(d, sizeof d, "%s/%s", tmp, name);
    Err err;
    mkdir_p(d, &err);
    for (int i = 0; i < 4; i++) {
        char src[800], dst[800];
        snprintf(src, sizeof src, "%s/hf-good/%s", tmp, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", d, files[i]);
        size_t len;
        char *b = read_file_all(src, &len, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(b);
        CU_ASSERT_EQUAL(atomic_write_file(dst, b, len, &err), 0);
        free(b);
    }
}

static void edit_file(const char *dir, const char *file, const char *find, const char *repl, long truncate_to) {
    char p[800];
    snprintf(p, sizeof p, "%s/%s/%s", tmp, dir, file);
    size_t len;
    Err err;
    char *b = read_file_all(p, &len, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    if (truncate_to >= 0) len = (size_t)truncate_to;
    char *out = malloc(len + strlen(repl ? repl : "") + 64);
    size_t o = 0;
    char *hit = find ? memmem(b, len, find, strlen(find)) : NULL; /* binary files hold NULs */
    if (hit) {
        memcpy(out, b, (size_t)(hit - b));
        o = (size_t)(hit - b);
        memcpy(out + o, repl, strlen(repl));
        o += strlen(repl);
        size_t rest = len - (size_t)(hit - b) - strlen(find);
        memcpy(out + o, hit + strlen(find), rest);
        o += rest;
    } else {
        CU_ASSERT_PTR_NULL(find); /* the text to replace must exist */
        memcpy(out, b, len);
        o = len;
    }
    CU_ASSERT_EQUAL(atomic_write_file(p, out, o, &err), 0);
    free(b), free(out);
}

/* One bad --init: refused naming the cause, and no run directory created. */
static void expect_init_refused(const char *dir, const char *key) {
    char args[1200], out[64];
    snprintf(args, sizeof args, "%s --init %s/%s", HF_ARGS, tmp, dir);
    snprintf(out, sizeof out, "run-%s", dir);
    Err err = {{0}};
    int rc = train(args, out, &err);
    CU_ASSERT_EQUAL(rc, -1);
    int has = strstr(err.msg, key) != NULL;
    if (!has || rc != -1) printf("\n  %s: expected '%s' in: %s\n", dir, key, err.msg);
    CU_ASSERT(has);
    CU_ASSERT(!exists(out)); /* nothing written */
}

static void test_hf_init_bad_refused(void) {
    make_hf_dir("hf-good");
    char p[800];
    snprintf(p, sizeof p, "%s/hf-good/model.safetensors", tmp);
    struct stat sb;
    CU_ASSERT_EQUAL_FATAL(stat(p, &sb), 0);
    copy_hf("bad-trunc");
    edit_file("bad-trunc", "model.safetensors", NULL, NULL, (long)sb.st_size / 2);
    expect_init_refused("bad-trunc", "outside the");
    copy_hf("bad-lies"); /* the header says [64, 64] for the word embeddings */
    edit_file("bad-lies", "model.safetensors", "\"shape\":[86,64]", "\"shape\":[64,64]", -1);
    expect_init_refused("bad-lies", "bert.embeddings.word_embeddings.weight");
    copy_hf("bad-roberta");
    edit_file("bad-roberta", "config.json", "\"bert\"", "\"roberta\"", -1);
    expect_init_refused("bad-roberta", "model_type");
    copy_hf("bad-vocabsize"); /* config and file say 90 rows, vocab.txt has 86 */
    edit_file("bad-vocabsize", "config.json", "\"vocab_size\":\t86", "\"vocab_size\":\t90", -1);
    expect_init_refused("bad-vocabsize", "vocab_size");
    copy_hf("bad-vocab"); /* one token more than the embedding rows */
    edit_file("bad-vocab", "vocab.txt", "##ed\n", "##ed\n##ing\n", -1);
    expect_init_refused("bad-vocab", "87 tokens");
    copy_hf("bad-act");
    edit_file("bad-act", "config.json", "\"gelu\"", "\"relu\"", -1);
    expect_init_refused("bad-act", "hidden_act");
    expect_init_refused("no-such-dir", "no-such-dir");
}

/* ---- one run per run directory; signals ------------------------------------ */

/* The sha256 of the files a finished run directory holds, to show it untouched. */
static char *run_bytes(const char *dir) {
    static const char *const FILES[] = {"checkpoint.bin", "metrics.json", "config.json", "manifest.json",
                                        "log.csv", "eval.csv"};
    char *out = calloc(sizeof FILES / sizeof FILES[0], 66);
    for (size_t i = 0; i < sizeof FILES / sizeof FILES[0]; i++) {
        char p[700], hex[65];
        Err err;
        snprintf(p, sizeof p, "%s/%s/%s", tmp, dir, FILES[i]);
        if (sha256_file_hex(p, hex, &err)) snprintf(hex, sizeof hex, "missing");
        strcat(out, hex);
        strcat(out, " ");
    }
    return out;
}

static void test_run_dir_owned(void) {
    Err err = {{0}};
    char args[1024];
    snprintf(args, sizeof args, "%s --seed 5 --max-steps 4", BASE);
    CU_ASSERT_EQUAL_FATAL(train(args, "owned", &err), 0);
    char *before = run_bytes("owned");
    /* a new run into it: refused, the run untouched */
    snprintf(args, sizeof args, "%s --seed 6 --max-steps 4", BASE);
    CU_ASSERT_EQUAL(train(args, "owned", &err), -1);
    CU_ASSERT(strstr(err.msg, "already holds a run") && strstr(err.msg, "--overwrite"));
    /* --resume of the finished run: nothing to do, nothing appended */
    snprintf(args, sizeof args, "%s --seed 5 --max-steps 4 --resume", BASE);
    CU_ASSERT_EQUAL(train(args, "owned", &err), 0);
    char *after = run_bytes("owned");
    CU_ASSERT(before && after && !strcmp(before, after));
    free(after);
    /* while another process holds the directory: refused, untouched */
    char dir[600];
    snprintf(dir, sizeof dir, "%s/owned", tmp);
    RunDir held;
    CU_ASSERT_EQUAL_FATAL(rundir_acquire(&held, dir, 1, 0, &err), 0);
    snprintf(args, sizeof args, "%s --seed 5 --max-steps 4 --resume", BASE);
    CU_ASSERT_EQUAL(train(args, "owned", &err), -1);
    CU_ASSERT(strstr(err.msg, "another process") != NULL);
    rundir_release(&held, 0);
    after = run_bytes("owned");
    CU_ASSERT(!strcmp(before, after));
    free(after);
    free(before);
    /* --overwrite replaces it, and removes a stale temp file of a dead writer */
    char stale[700];
    snprintf(stale, sizeof stale, "%s/owned/checkpoint.bin.tmp.999999999", tmp);
    FILE *f = fopen(stale, "w");
    if (f) fclose(f);
    snprintf(args, sizeof args, "%s --seed 6 --max-steps 4 --overwrite", BASE);
    CU_ASSERT_EQUAL(train(args, "owned", &err), 0);
    CU_ASSERT(metric_at("owned", "seed") == 6.0);
    CU_ASSERT(!exists("owned/checkpoint.bin.tmp.999999999"));
    /* a run refused for its options leaves no directory behind */
    snprintf(args, sizeof args, "%s --seed 5 --lambda-ner nan", BASE);
    CU_ASSERT_EQUAL(train(args, "never", &err), -1);
    snprintf(args, sizeof args, "%s --seed 5 --init %s/no-such-file.bin", BASE, tmp);
    CU_ASSERT_EQUAL(train(args, "never", &err), -1);
    CU_ASSERT(!exists("never"));
}

/* --seeds: aggregate.json has mean, std and values per figure; a figure no
 * run computed (QA of an NER run, test with --no-test) is null, not 0. */
static void test_seeds_aggregate(void) {
    char buf[1200];
    snprintf(buf, sizeof buf, "train %s --task ner --max-steps 3 --no-test --seeds 1,2 --quiet --out %s/agg",
             BASE, tmp);
    char *argv[64];
    int argc = split_args(buf, argv, 64);
    CU_ASSERT_EQUAL_FATAL(cmd_train(argc, argv), 0);
    size_t len;
    char *b = slurp("agg", "aggregate.json", &len);
    cJSON *j = b ? cJSON_Parse(b) : NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    const cJSON *qa = cJSON_GetObjectItemCaseSensitive(j, "qa_dev_f1");
    const cJSON *test = cJSON_GetObjectItemCaseSensitive(j, "ner_test_f1");
    const cJSON *dev = cJSON_GetObjectItemCaseSensitive(j, "ner_dev_f1");
    CU_ASSERT(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(qa, "mean")));
    CU_ASSERT(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(test, "mean")));
    CU_ASSERT(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(dev, "mean")));
    CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(dev, "values")), 2);
    cJSON_Delete(j);
    free(b);
}

/* build/tests/test_resume -> build/mtl */
static int mtl_binary(char *out, size_t n) {
    char self[512];
    ssize_t l = readlink("/proc/self/exe", self, sizeof self - 1);
    if (l <= 0) return -1;
    self[l] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash) return -1;
    *slash = '\0';
    snprintf(out, n, "%s/../mtl", self);
    return access(out, X_OK);
}

/* SIGINT in the middle of a run (the real binary): it finishes the step,
 * writes a checkpoint and exits 130; --resume then equals the run that was
 * never interrupted, bitwise. */
static void test_sigint_checkpoints(void) {
    char mtl[600];
    if (mtl_binary(mtl, sizeof mtl)) {
        testutil_skip("SIGINT test", "build/mtl not found next to the test binary");
        return;
    }
    char args[1024], out[600], cfg[700];
    snprintf(args, sizeof args, "%s --seed 9 --max-steps 300 --eval-every -1", BASE);
    snprintf(out, sizeof out, "%s/sig", tmp);
    char buf[2048];
    snprintf(buf, sizeof buf, "%.500s train %.1000s --quiet --out %.500s", mtl, args, out);
    char *argv[64];
    split_args(buf, argv, 64);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        execv(mtl, argv);
        _exit(127);
    }
    snprintf(cfg, sizeof cfg, "%s/log.csv", out);
    struct stat sb;
    for (int i = 0; i < 2000 && stat(cfg, &sb) != 0; i++) usleep(5000); /* training has started */
    usleep(100000);
    kill(pid, SIGINT);
    int status = 0;
    waitpid(pid, &status, 0);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 130);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 130)) printf("\n  status %d\n", status);
    CU_ASSERT_FATAL(exists("sig/checkpoint.bin"));
    CU_ASSERT(!exists("sig/metrics.json"));
    Err err = {{0}};
    char resume[1100];
    snprintf(resume, sizeof resume, "%s --resume", args);
    int rc = train(resume, "sig", &err);
    if (rc) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL_FATAL(train(args, "sig-full", &err), 0);
    CU_ASSERT(same_file("sig", "sig-full", "checkpoint.bin"));
    CU_ASSERT(same_file("sig", "sig-full", "metrics.json"));
    char *a = losses_of("sig"), *b = losses_of("sig-full");
    CU_ASSERT(a && b && !strcmp(a, b));
    free(a), free(b);
}

/* ---- partial sharing: --shared-layers K < L -------------------------------- */


/* Does file `name` of run dir `dir` contain `text`? */
static int file_has(const char *dir, const char *name, const char *text) {
    size_t len;
    char *b = slurp(dir, name, &len);
    int has = b && strstr(b, text) != NULL;
    if (!has) printf("\n  %s/%s lacks '%s'\n", dir, name, text);
    free(b);
    return has;
}

/* tiny (L = 2) with K = 1: resume is bitwise, the checkpoint is version 3,
 * config.json and params.json say K, and config.json reruns it. */
static void test_shared_layers_resume(void) {
    Err err = {{0}};
    char args[1200];
    snprintf(args, sizeof args, "%s --shared-layers 1 --seed 7 --save-every 4", BASE);
    int rc = train(args, "sl-full", &err);
    if (rc) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    snprintf(args, sizeof args, "%s --shared-layers 1 --seed 7 --save-every 4 --stop-after 6", BASE);
    CU_ASSERT_EQUAL_FATAL(train(args, "sl-int", &err), 0);
    snprintf(args, sizeof args, "%s --shared-layers 1 --seed 7 --save-every 4 --resume", BASE);
    rc = train(args, "sl-int", &err);
    if (rc) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    const char *same[] = {"checkpoint.bin", "metrics.json", "eval.csv", "params.json",
                          "predictions/qa_dev_predictions.json", "predictions/ner_test.conlleval.txt"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) CU_ASSERT(same_file("sl-full", "sl-int", same[i]));
    char *a = losses_of("sl-full"), *b = losses_of("sl-int"), *c = losses_of("full-fp32");
    CU_ASSERT(a && b && !strcmp(a, b));
    CU_ASSERT(a && c && strcmp(a, c) != 0); /* not the hard-sharing run */
    free(a), free(b), free(c);
    size_t len = 0;
    char *ck = slurp("sl-full", "checkpoint.bin", &len);
    CU_ASSERT(ck && len > 12 && ck[8] == 3); /* version 3: K < L */
    free(ck);
    CU_ASSERT(file_has("sl-full", "config.json", "\"shared-layers\": 1"));
    CU_ASSERT(file_has("sl-full", "params.json", "\"shared_layers\": 1"));
    snprintf(args, sizeof args, "--config %s/sl-full/config.json", tmp); /* the same run again */
    CU_ASSERT_EQUAL_FATAL(train(args, "sl-conf", &err), 0);
    CU_ASSERT(same_file("sl-full", "sl-conf", "checkpoint.bin"));
    /* with a learned weighting's state in the version-3 checkpoint */
    const char *uw = "--shared-layers 1 --loss-weighting uncertainty --seed 7 --save-every 4";
    snprintf(args, sizeof args, "%s %s", BASE, uw);
    CU_ASSERT_EQUAL_FATAL(train(args, "sl-uw-full", &err), 0);
    snprintf(args, sizeof args, "%s %s --stop-after 6", BASE, uw);
    CU_ASSERT_EQUAL_FATAL(train(args, "sl-uw-int", &err), 0);
    snprintf(args, sizeof args, "%s %s --resume", BASE, uw);
    rc = train(args, "sl-uw-int", &err);
    if (rc) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT(same_file("sl-uw-full", "sl-uw-int", "checkpoint.bin"));
}

/* `--resume` of run with BASE + opts is refused, the message naming `word`. */
static void resume_refused(const char *opts, const char *run, const char *label, const char *word) {
    Err err = {{0}};
    char args[1200];
    snprintf(args, sizeof args, "%s %s --resume", BASE, opts);
    CU_ASSERT_EQUAL(train(args, run, &err), -1);
    printf("\n  %s: %s", label, err.msg);
    CU_ASSERT(strstr(err.msg, word) != NULL);
}

/* Another K, or none (K = L), does not resume a K = 1 run; a given K = L is
 * the run without the option; bad K; GradNorm's shared tensor. */
static void test_shared_layers_options(void) {
    Err err = {{0}};
    char args[1200];
    /* another K, or none (K = L), does not resume it */
    resume_refused("--shared-layers 0 --seed 7 --save-every 4", "sl-int", "K 0 onto K 1", "shared");
    resume_refused("--seed 7 --save-every 4", "sl-int", "K = L onto K 1", "shared");
    /* --shared-layers 2 = L: the run without the option, every file */
    snprintf(args, sizeof args, "%s --seed 7 --max-steps 3 --shared-layers 2", BASE);
    CU_ASSERT_EQUAL_FATAL(train(args, "sl-kl", &err), 0);
    snprintf(args, sizeof args, "%s --seed 7 --max-steps 3", BASE);
    CU_ASSERT_EQUAL_FATAL(train(args, "sl-none", &err), 0);
    const char *kl[] = {"checkpoint.bin", "params.json", "metrics.json"};
    for (size_t i = 0; i < sizeof kl / sizeof kl[0]; i++) CU_ASSERT(same_file("sl-kl", "sl-none", kl[i]));
    size_t n = 0;
    char *cj = slurp("sl-kl", "config.json", &n);
    CU_ASSERT(cj && !strstr(cj, "shared")); /* as a run without the option (config.json differs in "out" only) */
    free(cj);
    expect_parse_error("--task mtl --preset tiny --shared-layers 3", "--shared-layers: 3 is outside the accepted range [0, L=2]");
    expect_parse_error("--task mtl --preset tiny --shared-layers -1", "--shared-layers: '-1' is outside the accepted range [0, 256]");
    expect_parse_error("--task ner --preset tiny --shared-layers 1", "needs --task mtl");
    /* GradNorm: its default tensor is the last shared one; a task's own is refused */
    snprintf(args, sizeof args, "%s --shared-layers 1 --max-steps 2 --loss-weighting gradnorm", BASE);
    CU_ASSERT_EQUAL(train(args, "sl-gn", &err), 0);
    snprintf(args, sizeof args, "%s --shared-layers 1 --max-steps 2 --loss-weighting gradnorm --gradnorm-layer layer1.ffn.down.w", BASE);
    CU_ASSERT_EQUAL(train(args, "sl-gn-bad", &err), -1);
    printf("\n  GradNorm on NER's own layer: %s", err.msg);
    CU_ASSERT(strstr(err.msg, "not a shared tensor") != NULL);
}

/* Both copies of every tensor of model m equal (qa.layer{l}.x == layer{l}.x). */
static int copies_equal(Model *m) {
    float *p = malloc(model_num_params(m) * sizeof(float));
    model_params_to_host(m, p);
    int n = 0, same = 0;
    for (int i = 0; i < model_num_tensors(m); i++) {
        const ParamInfo *q = model_tensor(m, i);
        if (q->task != TASK_QA || model_name_is_head(q->name)) continue;
        const ParamInfo *t = model_find_tensor(m, model_layer_name(q->name));
        n++;
        same += t && !memcmp(p + q->offset, p + t->offset, q->numel * sizeof(float));
    }
    free(p);
    return n > 0 && same == n;
}

/* Open run `run` into *r and its export `exdir`/<task> into *x (sized for
 * B x T batches); 1 when both opened (then free both), else 0 with none open. */
static int open_run_and_export(Backend *be, const char *run, const char *exdir, int task, int B, int T, ModelOpen *r,
                               ModelOpen *x) {
    Err err;
    char p[700], q[700];
    snprintf(p, sizeof p, "%s/%s", tmp, run);
    snprintf(q, sizeof q, "%s/%s/%s", tmp, exdir, task_name(task));
    if (model_open(p, be, B, T, 1, r, &err) != 0) {
        printf("\n  %s\n", err.msg);
        return 0;
    }
    if (model_open(q, be, B, T, 1, x, &err) != 0) {
        printf("\n  %s\n", err.msg);
        model_open_free(r);
        return 0;
    }
    return 1;
}

/* The export of run `run` for `task` (an HF dir) holds the task's view of
 * the run bitwise: the shared tensors, its own copy of the top layers under
 * their plain names, its head. */
static int export_is_task_view(const char *run, const char *exdir, int task) {
    Backend *be = backend_cpu(1);
    ModelOpen r, x;
    int ok = open_run_and_export(be, run, exdir, task, 1, 8, &r, &x);
    int n = 0, same = 0;
    float *a = ok ? malloc(model_num_params(r.m) * sizeof(float)) : NULL;
    float *b = ok ? malloc(model_num_params(x.m) * sizeof(float)) : NULL;
    if (ok) model_params_to_host(r.m, a), model_params_to_host(x.m, b);
    for (int i = 0; ok && i < model_num_tensors(r.m); i++) {
        const ParamInfo *t = model_tensor(r.m, i), *y = model_find_tensor(x.m, model_layer_name(t->name));
        if (t->task >= 0 && t->task != task) continue;
        n++;
        same += y && y->numel == t->numel && !memcmp(a + t->offset, b + y->offset, t->numel * sizeof(float));
    }
    free(a), free(b);
    if (ok) model_open_free(&r), model_open_free(&x);
    be->destroy(be);
    return ok && n > 0 && same == n;
}

/* ---- LoRA and the heads-only baseline (a frozen encoder) ------------------ */

static int answer_entities(ModelOpen *mo, PredOut *out);

/* A multi-task run `run` from the HF fixture dir with `opts`, exported to
 * `exdir` (OUT/ner and OUT/qa). */
static void train_from_hf_and_export(const char *opts, const char *run, const char *exdir) {
    Err err = {{0}};
    char args[1400], p[700], out[700];
    make_hf_dir("hf-good"); /* the fixture vocab's 86 rows: its export is a loadable HF dir */
    snprintf(args, sizeof args, "%s %s --init %s/hf-good", HF_ARGS, opts, tmp);
    int rc = train(args, run, &err);
    if (rc) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    snprintf(p, sizeof p, "%s/%s", tmp, run);
    snprintf(out, sizeof out, "%s/%s", tmp, exdir);
    char *xargv[] = {"export", p, "--out", out, NULL};
    CU_ASSERT_EQUAL_FATAL(cmd_export(4, xargv), 0);
}

/* predict's single pass on run `run` against the NER export `exdir`/ner:
 * the same entities, scores within score_tol (0: bitwise); prep (may be
 * NULL) is applied to both models first. */
static void single_pass_entities_match(const char *run, const char *exdir, double score_tol, void (*prep)(Model *m),
                                       const char *label) {
    Err err = {{0}};
    char p[700];
    Backend *be = backend_cpu(1);
    ModelOpen r, ner;
    snprintf(p, sizeof p, "%s/%s", tmp, run);
    CU_ASSERT_EQUAL_FATAL(model_open(p, be, 4, 64, 1, &r, &err), 0);
    snprintf(p, sizeof p, "%s/%s/ner", tmp, exdir);
    CU_ASSERT_EQUAL_FATAL(model_open(p, be, 4, 64, 1, &ner, &err), 0);
    ner.qa_head_trained = 1; /* its random QA head: only its entities are compared */
    if (prep) prep(r.m), prep(ner.m);
    PredOut a = {0}, b = {0};
    CU_ASSERT_EQUAL(answer_entities(&r, &a), 0);
    CU_ASSERT_EQUAL(answer_entities(&ner, &b), 0);
    int same = a.n_ent == b.n_ent && a.n_ans > 0 && (a.n_ent > 0 || !prep);
    for (int i = 0; same && i < a.n_ent; i++)
        same = a.ent[i].start == b.ent[i].start && a.ent[i].end == b.ent[i].end && a.ent[i].type == b.ent[i].type &&
               fabs(a.ent[i].score - b.ent[i].score) <= score_tol;
    printf("\n  single pass, %s: %d entities, %d answers; NER export's encoder: %d entities (%s)", label, a.n_ent,
           a.n_ans, b.n_ent, same ? "the same" : "DIFFERENT");
    CU_ASSERT(same);
    pred_out_free(&a), pred_out_free(&b);
    model_open_free(&r), model_open_free(&ner);
    be->destroy(be);
}

/* A run's encoder tensors equal the seeded init (model_init(seed) of its
 * config) bit for bit, and its trainable ones moved: the frozen encoder. */
static int encoder_frozen(const char *run, uint64_t seed) {
    Err err;
    char p[700];
    snprintf(p, sizeof p, "%s/%s/checkpoint.bin", tmp, run);
    ModelConfig cfg;
    if (checkpoint_read_config(p, &cfg, &err)) return 0;
    Backend *be = backend_cpu(1);
    Model *a = model_create(&cfg, be, 1, 8, &err), *b = model_create(&cfg, be, 1, 8, &err);
    TrainState st = {0};
    int ok = a && b && checkpoint_load(p, a, &st, &err) == 0;
    ckpt_state_free(&st);
    size_t n = ok ? model_num_params(a) : 0, frozen = 0, same = 0, moved = 0, trainable = 0;
    float *x = malloc((n ? n : 1) * sizeof(float)), *y = malloc((n ? n : 1) * sizeof(float));
    if (ok) {
        model_init(b, seed);
        model_params_to_host(a, x), model_params_to_host(b, y);
    }
    for (int i = 0; ok && i < model_num_tensors(a); i++) {
        const ParamInfo *t = model_tensor(a, i);
        int eq = !memcmp(x + t->offset, y + t->offset, t->numel * sizeof(float));
        if (t->trainable) trainable++, moved += !eq;
        else frozen++, same += eq;
    }
    printf("\n  %s: %zu frozen tensors, %zu unchanged; %zu trainable, %zu moved", run, frozen, same, trainable, moved);
    free(x), free(y);
    model_free(a), model_free(b);
    be->destroy(be);
    return ok && frozen > 0 && same == frozen && moved == trainable;
}

/* tiny with LoRA r 4, heads only, and LoRA r 2 with uncertainty weighting:
 * resume is bitwise, the checkpoint is version 4, the encoder never moves,
 * config.json / params.json say so. */
static void test_lora_resume(void) {
    Err err = {{0}};
    char args[1200];
    static const char *const VARIANT[3][2] = {{"lo", "--lora-rank 4 --lora-alpha 8"},
                                              {"fz", "--freeze-encoder"},
                                              /* a learned weighting's state in a version-4 checkpoint */
                                              {"lu", "--lora-rank 2 --loss-weighting uncertainty"}};
    for (int v = 0; v < 3; v++) {
        char full[32], part[32];
        snprintf(full, sizeof full, "%s-full", VARIANT[v][0]);
        snprintf(part, sizeof part, "%s-int", VARIANT[v][0]);
        snprintf(args, sizeof args, "%s %s --seed 7 --save-every 4", BASE, VARIANT[v][1]);
        int rc = train(args, full, &err);
        if (rc) printf("\n  %s\n", err.msg);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        snprintf(args, sizeof args, "%s %s --seed 7 --save-every 4 --stop-after 6", BASE, VARIANT[v][1]);
        CU_ASSERT_EQUAL_FATAL(train(args, part, &err), 0);
        snprintf(args, sizeof args, "%s %s --seed 7 --save-every 4 --resume", BASE, VARIANT[v][1]);
        rc = train(args, part, &err);
        if (rc) printf("\n  %s\n", err.msg);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        const char *same[] = {"checkpoint.bin", "metrics.json", "eval.csv", "params.json",
                              "predictions/qa_dev_predictions.json", "predictions/ner_test.conlleval.txt"};
        for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) CU_ASSERT(same_file(full, part, same[i]));
        size_t len = 0;
        char *ck = slurp(full, "checkpoint.bin", &len);
        CU_ASSERT(ck && len > 12 && ck[8] == 4); /* version 4: frozen encoder */
        free(ck);
        CU_ASSERT(encoder_frozen(full, 7));
        CU_ASSERT(file_has(full, "params.json", "\"trainable\""));
    }
    CU_ASSERT(file_has("lo-full", "config.json", "\"lora-rank\": 4"));
    CU_ASSERT(file_has("lo-full", "params.json", "\"lora_rank\": 4"));
    CU_ASSERT(file_has("fz-full", "config.json", "\"freeze-encoder\": true"));
    size_t clen = 0;
    char *conf = slurp("full-fp32", "config.json", &clen);
    CU_ASSERT(conf && !strstr(conf, "lora")); /* a run without LoRA is as before (its options are not written) */
    free(conf);
    /* another rank, or no LoRA, does not resume it */
    resume_refused("--lora-rank 8 --lora-alpha 8 --seed 7 --save-every 4", "lo-int", "rank 8 onto rank 4", "lora_rank");
    resume_refused("--seed 7 --save-every 4", "lo-int", "no LoRA onto rank 4", "frozen_encoder");
}

/* What a frozen encoder does not combine with, and bad LoRA options: refused
 * with the option named, nothing written. */
static void test_lora_bad_options(void) {
    static const char *const BAD[][2] = {
        {"--lora-rank 4 --shared-layers 1", "--shared-layers"},
        {"--freeze-encoder --shared-layers 0", "--shared-layers"},
        {"--lora-rank 4 --loss-weighting gradnorm", "gradnorm"},
        {"--lora-rank 4 --lora-targets qkv,mlp", "--lora-targets"},
        {"--lora-rank 4 --lora-targets qkv,qkv", "twice"},
        {"--lora-rank 4 --lora-targets ''", "--lora-targets"},
        {"--lora-rank 0", "--lora-rank"},
        {"--lora-rank 65", "rank"}, /* > C = 64 of tiny */
        {"--lora-rank 4 --lora-alpha 0", "--lora-alpha"},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        Err err = {{0}};
        char args[1200], out[32];
        snprintf(args, sizeof args, "%s %s --seed 7", BASE, BAD[i][0]);
        snprintf(out, sizeof out, "lo-bad-%zu", i);
        CU_ASSERT_EQUAL(train(args, out, &err), -1);
        int named = strstr(err.msg, BAD[i][1]) != NULL;
        printf("\n  %s: %s%s", BAD[i][0], err.msg, named ? "" : "  (does not name it)");
        CU_ASSERT(named);
        char ck[700];
        snprintf(ck, sizeof ck, "%s/%s/checkpoint.bin", tmp, out);
        CU_ASSERT(access(ck, F_OK) != 0);
    }
}

/* Max |logit difference| of task's forward on one fixed batch between the
 * run `run` (LoRA) and its export `exdir`/<task> (plain BERT with the
 * adapters merged); the largest |logit| in *scale. */
static double export_logit_gap(const char *run, const char *exdir, int task, double *scale) {
    enum { B = 2, T = 16 };
    Backend *be = backend_cpu(1);
    ModelOpen r, x;
    double gap = 1e30;
    *scale = 0;
    if (open_run_and_export(be, run, exdir, task, B, T, &r, &x)) {
        Err err;
        int ids[B * T], labels[B * T], st[B] = {1, 3}, en[B] = {2, 5};
        for (int i = 0; i < B * T; i++) ids[i] = 5 + (i * 7) % 60, labels[i] = i % 3;
        Batch b = {.task = task, .B = B, .T = T, .ids = ids, .labels = labels, .start = st, .end = en};
        int nl = task == TASK_NER ? model_config(r.m)->num_labels : 2;
        float *la = calloc((size_t)B * T * nl, sizeof(float)), *lb = calloc((size_t)B * T * nl, sizeof(float));
        int ok = model_forward(r.m, &b, 0, 0, 0, 0, NULL, &err) == 0;
        if (ok) model_get_logits(r.m, la);
        ok = ok && model_forward(x.m, &b, 0, 0, 0, 0, NULL, &err) == 0;
        if (ok) model_get_logits(x.m, lb);
        else printf("\n  %s\n", err.msg);
        for (int i = 0; ok && i < B * T * nl; i++) {
            gap = i ? fmax(gap, fabs((double)la[i] - lb[i])) : fabs((double)la[i] - lb[i]);
            *scale = fmax(*scale, fabs((double)la[i]));
        }
        free(la), free(lb);
        model_open_free(&r), model_open_free(&x);
    }
    be->destroy(be);
    return gap;
}

/* ner.b[1] (B-PER) += 6 in a loaded model: most words become entities, so
 * that their scores show which encoder (adapters) the NER head read. */
static void force_entities(Model *m) {
    size_t n = model_num_params(m);
    float *p = malloc(n * sizeof *p);
    model_params_to_host(m, p);
    p[model_find_tensor(m, "ner.b")->offset + 1] += 6.0f;
    model_params_from_host(m, p);
    free(p);
}

/* From an HF dir: train LoRA, export (adapters merged per task): the plain
 * BERT export computes the run's logits; predict's single pass runs NER's
 * adapters (its entities and their scores are the NER export's). */
static void test_lora_export(void) {
    train_from_hf_and_export("--lora-rank 4 --lora-alpha 32 --lr 1e-2", "lo-hf", "lo-export");
    for (int task = TASK_NER; task <= TASK_QA; task++) {
        double scale, gap = export_logit_gap("lo-hf", "lo-export", task, &scale);
        printf("\n  %s export (adapters merged) vs the LoRA run: max |logit diff| %.2e (max |logit| %.2f)",
               task_name(task), gap, scale);
        CU_ASSERT(gap <= 1e-5 * (1 + scale));
    }
    /* merged weights compute the run's logits to rounding, not bitwise: scores within 1e-5 */
    single_pass_entities_match("lo-hf", "lo-export", 1e-5, force_entities, "LoRA r 4");
}

/* Entities of one question's context from the single pass of a model. */
static int answer_entities(ModelOpen *mo, PredOut *out) {
    PredictParams pp;
    predict_defaults(&pp);
    pp.seq_ner = 32, pp.ner_stride = 8, pp.seq_qa = 64, pp.qa_stride = 16, pp.max_query = 16, pp.batch = 4;
    Err err;
    Predictor *pr = predictor_new(mo, &pp, &err);
    int rc = pr ? predict_answer(pr, "Where did Alice go?", "Alice Smith visited Paris in May with Bob.", 1, out, &err) : -1;
    if (rc) printf("\n  predict: %s\n", err.msg);
    predictor_free(pr);
    return rc;
}

/* K = 1 from an HF dir: the export writes each task's view, which --init
 * reads back into a K = 1 run. */
static void check_split_export_reinit(void) {
    Err err = {{0}};
    char args[1400], out[700];
    train_from_hf_and_export("--shared-layers 1 --eval-every 0", "sl-hf", "sl-export");
    snprintf(out, sizeof out, "%s/sl-export", tmp);
    CU_ASSERT(export_is_task_view("sl-hf", "sl-export", TASK_NER));
    CU_ASSERT(export_is_task_view("sl-hf", "sl-export", TASK_QA));
    for (int task = TASK_NER; task <= TASK_QA; task++) {
        char run[32];
        snprintf(run, sizeof run, "sl-reinit-%s", task_name(task));
        snprintf(args, sizeof args, "%s --shared-layers 1 --max-steps 2 --init %s/%s", HF_ARGS, out, task_name(task));
        int rc = train(args, run, &err);
        if (rc) printf("\n  %s\n", err.msg);
        CU_ASSERT_EQUAL(rc, 0);
    }
}

/* Both copies from one layer: an HF dir (the QA export), and a K = L run's
 * checkpoint (sl-none). */
static void check_split_copies_from_one_layer(Backend *be) {
    Err err = {{0}};
    char p[700];
    ModelConfig cfg;
    HfInfo info;
    snprintf(p, sizeof p, "%s/sl-export/qa", tmp);
    CU_ASSERT_EQUAL_FATAL(hf_read_config(p, &cfg, &info, &err), 0);
    cfg.heads = HEAD_ALL;
    cfg.task_layers = 1;
    Model *m = model_create(&cfg, be, 1, 8, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    model_init(m, 5);
    HfLoadReport rep;
    CU_ASSERT_EQUAL(hf_load_weights(&info, m, &rep, &err), 0);
    CU_ASSERT(copies_equal(m));
    model_free(m);
    snprintf(p, sizeof p, "%s/sl-none/checkpoint.bin", tmp);
    CU_ASSERT_EQUAL_FATAL(checkpoint_read_config(p, &cfg, &err), 0);
    cfg.task_layers = 1;
    m = model_create(&cfg, be, 1, 8, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    model_init(m, 5);
    int copied = 0, skipped = 0;
    CU_ASSERT_EQUAL(checkpoint_init_params(p, m, &copied, &skipped, &err), 0);
    CU_ASSERT(copies_equal(m));
    CU_ASSERT_EQUAL(skipped, 0);
    model_free(m);
}

/* predict's single pass on the K = 1 run: its entities are those of the NER
 * export's encoder (NER's copy of the top layer), bitwise. */
static void check_split_predict(void) {
    single_pass_entities_match("sl-hf", "sl-export", 0.0, NULL, "K = 1");
}

/* mtl eval of the K = 1 run: the run's own scores, bitwise. */
static void check_split_eval(void) {
    static const char W[] = "--seq-ner 32 --seq-qa 64 --stride 16 --max-query 16 --threads 1 --batch 4";
    char args[1400];
    snprintf(args, sizeof args, "--model %s/sl-hf --out %s/sl-eval %s", tmp, tmp, W);
    CU_ASSERT_EQUAL_FATAL(eval_cmd(args), 0);
    const char *keys[] = {"ner.dev.f1", "ner.test.f1", "ner.dev.loss", "qa.dev.f1", "qa.dev.loss"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        double x = metric_at("sl-hf", keys[i]), y = metric_at("sl-eval", keys[i]);
        if (!(x == y)) printf("\n  %s: train %.9g, eval %.9g\n", keys[i], x, y);
        CU_ASSERT(x == y);
    }
}

static void test_shared_layers_export_predict(void) {
    check_split_export_reinit();
    Backend *be = backend_cpu(1);
    check_split_copies_from_one_layer(be);
    check_split_predict();
    be->destroy(be);
    check_split_eval();
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/mtl_test_resume.%ld", (long)getpid());
    Err err;
    if (mkdir_p(tmp, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    make_fixture_data();
    static const TestCase tests[] = {
        {"resume == uninterrupted (bitwise), other seed differs", test_resume_equals_uninterrupted},
        {"bf16: resume == uninterrupted, bitwise; losses differ from fp32", test_resume_bf16},
        {"resume with other options is refused", test_resume_option_mismatch},
        {"non-finite loss stops, keeps last good checkpoint", test_divergence_stops},
        {"bad options, config files, missing data", test_bad_input},
        {"sampling strategies in the training loop", test_sampling_in_loop},
        {"MTL params = encoder + both heads", test_param_counts},
        {"GradNorm: weights learn, resume bitwise, bad combinations", test_resume_gradnorm},
        {"uncertainty and DWA weights: learn, resume bitwise, bad options", test_resume_learned_weights},
        {"--init HF dir: train, export, export == checkpoint", test_hf_init_train_export},
        {"--init HF dir: bad files refused, nothing written", test_hf_init_bad_refused},
        {"mtl eval: run and export score as train did; bad input refused; config.json reruns", test_eval_matches_train},
        {"a run dir is one run's: refused, --overwrite, locked, finished resume untouched", test_run_dir_owned},
        {"SIGINT: step finished, checkpoint, exit 130; --resume == uninterrupted", test_sigint_checkpoints},
        {"--seeds: aggregate.json, null for figures never computed", test_seeds_aggregate},
        {"--shared-layers 1 of 2: resume bitwise, version 3, config.json reruns it", test_shared_layers_resume},
        {"--shared-layers: other K refused on resume, K = L = no option, bad K, GradNorm", test_shared_layers_options},
        {"--shared-layers 1: export per task -> --init, both copies from one layer, predict, eval", test_shared_layers_export_predict},
        {"LoRA r 4 and heads only: resume bitwise, version 4, encoder never moves, other rank refused", test_lora_resume},
        {"LoRA / --freeze-encoder: bad options and combinations refused, nothing written", test_lora_bad_options},
        {"LoRA from an HF dir: export merges the adapters (= the run's logits), predict runs NER's own", test_lora_export},
        {NULL, NULL}};
    testutil_add_suite("resume", tests);
    int rc = testutil_run_all();
    testutil_remove_tree(tmp);
    return rc;
}

/* cmd_predict.c — `mtl predict --model RUN_DIR|HF_DIR`: JSON lines or plain
 * text lines in, one JSON object per line out (entities; answers and the
 * context's entities from one encoder pass). The work is predict.c's; this
 * file reads the lines, parses options and writes the objects. */
#include "squad.h"
#include "jsonr.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend.h"
#include "cli.h"
#include "conll.h"
#include "jsonw.h"
#include "opts.h"
#include "predict.h"
#include "train.h"

/* --format: how a line is read. */
typedef enum { FORMAT_AUTO = 0, FORMAT_TEXT, FORMAT_JSONL } LineFormat;
static const EnumName FORMAT_NAMES[] = {{"auto", FORMAT_AUTO}, {"text", FORMAT_TEXT}, {"jsonl", FORMAT_JSONL}, {NULL, 0}};
/* --tasks: the heads to use (0, not a word: every trained head). */
static const EnumName PREDICT_TASK_NAMES[] = {
    {"ner", 1 << TASK_NER}, {"qa", 1 << TASK_QA}, {"ner,qa", ALL_TASKS}, {"qa,ner", ALL_TASKS}, {NULL, 0}};

typedef struct {
    const char *model, *in, *out;
    LineFormat format;
    int tasks;           /* --tasks: 1 << TASK_NER | 1 << TASK_QA; 0 = every trained head */
    int threads, max_bytes;
    Precision precision;
    int prepack; /* --prepack: model_freeze_weights */
    PredictParams p;
    OptArgs args;        /* which options the command line gave (the run's config fills the rest) */
} PredictOpts;

#define OS PredictOpts
static const OptSpec PREDICT_OPTS[] = {
    {OPT_ARG(OS, "model", model, "RUN_DIR, HF_DIR or minilm-l6 (required)")},
    {OPT_ARG(OS, "in", in, "input lines [stdin]")},
    {OPT_ARG(OS, "out", out, "output lines, written atomically [stdout]")},
    {OPT_ENUM(OS, "format", format, FORMAT_NAMES, "how a line is read (auto: JSON when it starts with '{')")},
    {OPT_ENUM(OS, "tasks", tasks, PREDICT_TASK_NAMES, "heads to use (default: every trained head)")},
    {OPT_INT(OS, "n-best", p.n_best, 1, 1000, "answers per question")},
    {OPT_INT(OS, "max-answer-len", p.max_answer_len, 1, 4096, "longest answer in tokens")},
    {OPT_INT(OS, "batch", p.batch, 1, 4096, "windows per forward pass")},
    {OPT_INT(OS, "threads", threads, 0, 1024, "CPU threads (0 = library default)")},
    {OPT_ENUM(OS, "precision", precision, PRECISION_NAMES, "linear layers: bf16 = GEMM inputs rounded to bf16, fp32 accumulation (fp32 with a note where the device lacks bf16)")},
    {OPT_ENUM(OS, "prepack", prepack, ON_OFF_NAMES, PREPACK_HELP)},
    {OPT_ENUM(OS, "skip-padding", p.skip_padding, ON_OFF_NAMES, SKIP_PADDING_HELP)},
    {OPT_INT(OS, "max-bytes", max_bytes, 1, 1 << 30, "longer lines get an error object")},
    {OPT_INT(OS, "seq-ner", p.seq_ner, 8, 4096, "NER window length (a run's own where not given)")},
    {OPT_INT(OS, "ner-stride", p.ner_stride, 0, 4093, "NER window overlap (a run's: seq-ner / 2)")},
    {OPT_INT(OS, "seq-qa", p.seq_qa, SQUAD_MIN_SEQ, 4096, "QA window length (a run's own where not given)")},
    {OPT_INT(OS, "stride", p.qa_stride, 1, 4095, "QA window overlap (a run's own where not given)")},
    {OPT_INT(OS, "max-query", p.max_query, 1, 4092, "QA question tokens kept (a run's own where not given)")},
    {OPT_ENUM(OS, "decode", p.decode, NER_DECODE_NAMES, "NER decoding (a run's own where not given)")},
};
#undef OS

static const OptTable PREDICT_TABLE = {
    .cmd = "predict",
    .synopsis = "usage: mtl predict --model RUN_DIR|HF_DIR|minilm-l6 [--in FILE] [--out FILE] [options]",
    .about = "  one JSON object out per line in (FILE or stdin; stdout or FILE, written atomically):\n"
             "    a text line, or {\"text\": ...}        -> \"entities\": [{type, start, end, text, score}]\n"
             "    {\"question\": ..., \"context\": ...}    -> \"answer\": {text, start, end, score}\n"
             "        (+ \"answers\" with --n-best K > 1) and, when the model has both heads, the\n"
             "        context's \"entities\" from the same encoder pass\n"
             "  offsets are Unicode code points of the original string; an \"id\" is copied;\n"
             "  a line that cannot be answered gets {\"line\": N, \"error\": ...} and the rest goes on\n"
             "  exit status: 0 every line answered, 1 some line got an error (or the model failed), 2 usage\n",
    .specs = PREDICT_OPTS,
    .n = (int)(sizeof PREDICT_OPTS / sizeof PREDICT_OPTS[0]),
};

static int given(const PredictOpts *o, const char *name) { return opts_given(&PREDICT_TABLE, &o->args, name); }

/* A run directory's own window and decoding settings (its config.json),
 * where the command line did not set them; an HF directory keeps the
 * defaults. Read before the model is opened: they size its buffers. */
static int adopt_run_settings(PredictOpts *o, Err *err) {
    char path[1200];
    snprintf(path, sizeof path, "%s/checkpoint.bin", o->model);
    if (!file_exists(path)) return 0;
    snprintf(path, sizeof path, "%s/config.json", o->model);
    TrainOptions t;
    train_options_default(&t);
    if (file_exists(path) && train_options_load_file(&t, path, err)) return -1;
    if (!given(o, "seq-ner")) o->p.seq_ner = t.seq_ner;
    if (!given(o, "ner-stride")) o->p.ner_stride = o->p.seq_ner / 2;
    if (!given(o, "seq-qa")) o->p.seq_qa = t.seq_qa;
    if (!given(o, "stride")) o->p.qa_stride = t.stride;
    if (!given(o, "max-query")) o->p.max_query = t.max_query;
    if (!given(o, "decode")) o->p.decode = t.decode;
    return 0;
}

/* Default windows longer than the model's positions shrink to them (an
 * option the command line set is kept, and refused if it does not fit). */
static void fit_windows(PredictOpts *o, int positions) {
    PredictParams *p = &o->p;
    if (!given(o, "seq-ner") && p->seq_ner > positions) {
        p->seq_ner = positions;
        if (!given(o, "ner-stride")) p->ner_stride = positions / 2;
    }
    if (!given(o, "seq-qa") && p->seq_qa > positions) {
        p->seq_qa = positions;
        if (!given(o, "stride") && p->qa_stride > positions / 3) p->qa_stride = positions / 3;
        if (!given(o, "max-query") && p->max_query > positions / 4) p->max_query = positions / 4;
    }
}

/* ---- output ------------------------------------------------------------------- */

static cJSON *span_text(const char *text, int bstart, int bend) {
    char *s = xmalloc((size_t)(bend - bstart) + 1);
    memcpy(s, text + bstart, (size_t)(bend - bstart));
    s[bend - bstart] = '\0';
    cJSON *j = cJSON_CreateString(s);
    free(s);
    return j;
}

static void add_entities(cJSON *obj, const char *text, const PredOut *po) {
    cJSON *arr = cJSON_AddArrayToObject(obj, "entities");
    for (int i = 0; i < po->n_ent; i++) {
        const PredEntity *e = &po->ent[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "type", CONLL_TYPES[e->type]);
        cJSON_AddNumberToObject(x, "start", e->start);
        cJSON_AddNumberToObject(x, "end", e->end);
        cJSON_AddItemToObject(x, "text", span_text(text, e->bstart, e->bend));
        cJSON_AddNumberToObject(x, "score", e->score);
        cJSON_AddItemToArray(arr, x);
    }
}

static cJSON *answer_json(const char *context, const PredAnswer *a) {
    cJSON *x = cJSON_CreateObject();
    cJSON_AddItemToObject(x, "text", span_text(context, a->bstart, a->bend));
    cJSON_AddNumberToObject(x, "start", a->start);
    cJSON_AddNumberToObject(x, "end", a->end);
    cJSON_AddNumberToObject(x, "score", a->score);
    return x;
}

static void add_answers(cJSON *obj, const char *context, const PredOut *po, int n_best) {
    if (po->n_ans == 0) cJSON_AddNullToObject(obj, "answer");
    else cJSON_AddItemToObject(obj, "answer", answer_json(context, &po->ans[0]));
    if (n_best <= 1) return;
    cJSON *arr = cJSON_AddArrayToObject(obj, "answers");
    for (int i = 0; i < po->n_ans; i++) cJSON_AddItemToArray(arr, answer_json(context, &po->ans[i]));
}

/* ---- one input line ----------------------------------------------------------- */

typedef struct {
    PredictOpts *o;
    Predictor *pr;
    int use_ner, use_qa; /* resolved against the model's heads */
} Ctx;

enum { JOB_ERROR, JOB_TEXT, JOB_QUESTION };

/* One input line: what it asks, and its output object once answered. */
typedef struct {
    long ln;
    int kind;
    cJSON *in;  /* the parsed JSON line (owned; its strings are used below), NULL for text */
    char *line; /* a text line (owned) */
    const char *text, *question, *context;
    size_t text_len;
    cJSON *out;
    Err err;
} Job;

static const char *json_string_field(const cJSON *j, const char *key, int *bad) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v) return NULL;
    if (!cJSON_IsString(v)) *bad = 1;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int job_kind(Ctx *c, Job *j, int kind) {
    if (kind == JOB_TEXT && !c->use_ner)
        return err_set(&j->err, "a text asks for entities, but NER is not among the tasks used");
    if (kind == JOB_QUESTION && !c->use_qa)
        return err_set(&j->err, "a question asks for an answer, but QA is not among the tasks used");
    j->kind = kind;
    return 0;
}

/* A JSON line: {"text": ...} or {"question": ..., "context": ...}; an "id" is copied. */
static int parse_json_job(Ctx *c, Job *j, const char *line) {
    j->in = jsonr_parse(line, strlen(line), NULL, 0, &j->err);
    if (!j->in) return -1;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j->in, "id");
    if (id) cJSON_AddItemToObject(j->out, "id", cJSON_Duplicate(id, 1));
    if (!cJSON_IsObject(j->in)) return err_set(&j->err, "a JSON line must be an object");
    int bad = 0;
    j->text = json_string_field(j->in, "text", &bad);
    j->question = json_string_field(j->in, "question", &bad);
    j->context = json_string_field(j->in, "context", &bad);
    if (bad) return err_set(&j->err, "\"text\", \"question\" and \"context\" must be strings");
    if (j->question || j->context) {
        if (!j->question || !j->context)
            return err_set(&j->err, "a question needs both \"question\" and \"context\"");
        return job_kind(c, j, JOB_QUESTION);
    }
    if (!j->text) return err_set(&j->err, "a JSON line needs \"text\", or \"question\" and \"context\"");
    j->text_len = strlen(j->text);
    return job_kind(c, j, JOB_TEXT);
}

static int is_json_line(LineFormat format, const char *line) {
    if (format == FORMAT_JSONL) return 1;
    if (format == FORMAT_TEXT) return 0;
    while (*line == ' ' || *line == '\t') line++;
    return *line == '{';
}

/* Line number ln (len bytes, NUL-terminated) into job j: what it asks, or its error. */
static void prepare_job(Ctx *c, Job *j, long ln, char *line, size_t len) {
    memset(j, 0, sizeof *j);
    j->ln = ln;
    j->out = cJSON_CreateObject();
    cJSON_AddNumberToObject(j->out, "line", (double)ln);
    if (len > (size_t)c->o->max_bytes)
        err_set(&j->err, "line of %zu bytes exceeds --max-bytes %d", len, c->o->max_bytes);
    else if (memchr(line, '\0', len))
        err_set(&j->err, "NUL byte at offset %ld", (long)((const char *)memchr(line, '\0', len) - line));
    else if (len == 0)
        err_set(&j->err, "empty line");
    else if (is_json_line(c->o->format, line))
        parse_json_job(c, j, line);
    else if (job_kind(c, j, JOB_TEXT) == 0) {
        j->line = xstrdup(line);
        j->text = j->line;
        j->text_len = len;
    }
}

/* The error object: the line number, the input's id, the message. */
static void fail_job(Job *j, const Err *err) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "line", (double)j->ln);
    cJSON *id = cJSON_GetObjectItemCaseSensitive(j->out, "id");
    if (id) cJSON_AddItemToObject(e, "id", cJSON_Duplicate(id, 1));
    cJSON_AddStringToObject(e, "error", err->msg);
    cJSON_Delete(j->out);
    j->out = e;
    j->kind = JOB_ERROR;
}

/* Answer the text jobs together, then the question jobs together. */
static void run_jobs(Ctx *c, Job *jobs, int n) {
    PredText *tx = xmalloc((size_t)n * sizeof *tx);
    PredQuestion *qs = xmalloc((size_t)n * sizeof *qs);
    PredOut *po = xmalloc((size_t)n * sizeof *po);
    int *at = xmalloc((size_t)n * sizeof *at), *rc = xmalloc((size_t)n * sizeof *rc);
    Err *errs = xmalloc((size_t)n * sizeof *errs);
    for (int kind = JOB_TEXT; kind <= JOB_QUESTION; kind++) {
        int m = 0;
        for (int i = 0; i < n; i++) {
            if (jobs[i].kind != kind) continue;
            tx[m] = (PredText){jobs[i].text, jobs[i].text_len};
            qs[m] = (PredQuestion){jobs[i].question, jobs[i].context};
            at[m++] = i;
        }
        if (m == 0) continue;
        if (kind == JOB_TEXT) predict_entities_many(c->pr, tx, m, po, rc, errs);
        else predict_answer_many(c->pr, qs, m, c->use_ner, po, rc, errs);
        for (int k = 0; k < m; k++) {
            Job *j = &jobs[at[k]];
            if (rc[k]) fail_job(j, &errs[k]);
            else if (kind == JOB_TEXT) add_entities(j->out, j->text, &po[k]);
            else {
                add_answers(j->out, j->context, &po[k], c->o->p.n_best);
                if (c->use_ner) add_entities(j->out, j->context, &po[k]);
            }
            pred_out_free(&po[k]);
        }
    }
    free(tx);
    free(qs);
    free(po);
    free(at);
    free(rc);
    free(errs);
}

/* ---- the loop ------------------------------------------------------------------ */

static void emit(cJSON *obj, FILE *stream, StrBuf *buf) {
    char *s = cJSON_PrintUnformatted(obj);
    if (stream) {
        fputs(s, stream);
        fputc('\n', stream);
        fflush(stream);
    } else {
        sb_printf(buf, "%s\n", s);
    }
    free(s);
}

/* Answer, emit in input order and free jobs[0..n); counts the failures. */
static void flush_jobs(Ctx *c, Job *jobs, int n, FILE *stream, StrBuf *buf, long *n_failed) {
    for (int i = 0; i < n; i++)
        if (jobs[i].kind == JOB_ERROR) fail_job(&jobs[i], &jobs[i].err);
    run_jobs(c, jobs, n);
    for (int i = 0; i < n; i++) {
        *n_failed += jobs[i].kind == JOB_ERROR;
        emit(jobs[i].out, stream, buf);
        cJSON_Delete(jobs[i].out);
        cJSON_Delete(jobs[i].in);
        free(jobs[i].line);
    }
}

/* Lines are answered in groups of --batch (their windows share forward
 * passes); each group is written as soon as it is done. */
static int predict_stream(Ctx *c, FILE *in, FILE *stream, StrBuf *buf, long *n_lines, long *n_failed) {
    int G = c->o->p.batch, n = 0;
    Job *jobs = xmalloc((size_t)G * sizeof *jobs);
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long ln = 0;
    while ((got = getline(&line, &cap, in)) >= 0) {
        size_t len = (size_t)got;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        prepare_job(c, &jobs[n++], ++ln, line, len);
        if (n == G) flush_jobs(c, jobs, n, stream, buf, n_failed), n = 0;
    }
    flush_jobs(c, jobs, n, stream, buf, n_failed);
    free(line);
    free(jobs);
    *n_lines = ln;
    return ferror(in) ? -1 : 0;
}

/* Which heads to use (into o->p.heads): --tasks, else every trained one; a
 * head asked for must be trained. */
static int resolve_heads(PredictOpts *o, const ModelOpen *mo, Err *err) {
    int ner = mo->ner_head_trained, qa = mo->qa_head_trained;
    if (!ner && !qa) return err_set(err, "%s has no trained head: nothing to predict", o->model);
    int use_ner = o->tasks ? (o->tasks & 1 << TASK_NER) != 0 : ner;
    int use_qa = o->tasks ? (o->tasks & 1 << TASK_QA) != 0 : qa;
    if (use_ner && !ner) return err_set(err, "--tasks asks for NER, but %s has no trained NER head", o->model);
    if (use_qa && !qa) return err_set(err, "--tasks asks for QA, but %s has no trained QA head", o->model);
    o->p.heads = (use_ner ? HEAD_NER : 0) | (use_qa ? HEAD_QA : 0);
    return 0;
}

/* An --out that exists must be a regular file: the atomic write would put a
 * regular file in the place of a FIFO or a device node. */
static int check_out_path(const char *out, Err *err) {
    struct stat sb;
    if (!out || stat(out, &sb) != 0 || S_ISREG(sb.st_mode)) return 0;
    return err_set(err, "%s: not a regular file (--out names a file to write, or a new one; a directory, FIFO or device is not replaced)",
                   out);
}

static int run_predict(PredictOpts *o, ModelOpen *mo, Err *err) {
    Ctx c = {o, predictor_new(mo, &o->p, err), 0, 0};
    if (!c.pr) return -1;
    c.use_ner = predictor_has_ner(c.pr);
    c.use_qa = predictor_has_qa(c.pr);
    FILE *in = stdin;
    if (o->in && strcmp(o->in, "-")) {
        int fd = open_regular_file(o->in, err);
        if (fd < 0 || !(in = fdopen(fd, "r"))) {
            predictor_free(c.pr);
            return fd < 0 ? -1 : err_set(err, "%s: cannot open", o->in);
        }
    }
    StrBuf buf = {0};
    long n_lines = 0, n_failed = 0;
    int rc = predict_stream(&c, in, o->out ? NULL : stdout, &buf, &n_lines, &n_failed);
    if (rc) err_set(err, "%s: read error after line %ld", o->in ? o->in : "stdin", n_lines);
    if (in != stdin) fclose(in);
    if (rc == 0 && o->out) rc = atomic_write_file(o->out, buf.buf ? buf.buf : "", buf.len, err);
    sb_free(&buf);
    predictor_free(c.pr);
    if (rc == 0)
        fprintf(stderr, "mtl predict: %ld line(s), %ld with an error%s%s\n", n_lines, n_failed,
                o->out ? " -> " : "", o->out ? o->out : "");
    if (rc == 0 && n_failed) rc = err_set(err, "%ld of %ld line(s) got an error object", n_failed, n_lines);
    return rc;
}

int cmd_predict(int argc, char **argv) {
    PredictOpts o = {.format = FORMAT_AUTO, .tasks = 0, .max_bytes = 1 << 20, .prepack = 1};
    predict_defaults(&o.p);
    int rc = opts_command(&PREDICT_TABLE, &o, argc, argv, &o.args);
    if (rc >= 0) return rc;
    if (!o.model) return opts_usage_error(&PREDICT_TABLE, "--model is required");
    Err err;
    if (adopt_run_settings(&o, &err) || check_out_path(o.out, &err)) {
        fprintf(stderr, "mtl predict: %s\n", err.msg);
        return 1;
    }
    char why[320];
    Backend *be = backend_open(DEVICE_CPU, o.threads, 0, o.precision, why, sizeof why);
    if (why[0]) fprintf(stderr, "mtl predict: note: %s\n", why);
    ModelOpen mo;
    int maxT = o.p.seq_ner > o.p.seq_qa ? o.p.seq_ner : o.p.seq_qa;
    if (model_open(o.model, be, o.p.batch, maxT, 1, &mo, &err)) {
        fprintf(stderr, "mtl predict: %s\n", err.msg);
        be->destroy(be);
        return 1;
    }
    if (o.prepack) model_freeze_weights(mo.m, NULL, 0);
    rc = resolve_heads(&o, &mo, &err);
    /* the options of the heads used only (predict.h): an option error is 2 */
    int bad_option = rc == 0 && predict_params_check(&o.p, o.p.heads, &err) != 0;
    if (rc == 0 && !bad_option) {
        fit_windows(&o, model_config(mo.m)->maxT);
        rc = run_predict(&o, &mo, &err);
    }
    if (rc || bad_option) fprintf(stderr, "mtl predict: %s\n", err.msg);
    model_open_free(&mo);
    be->destroy(be);
    return bad_option ? 2 : rc ? 1 : 0;
}

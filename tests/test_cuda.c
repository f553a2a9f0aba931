/* The CUDA backend: what the op table of tests/test_backend_ops.c (every op
 * on every backend, CUDA in fp32, TF32 and bf16 included, vs the naive
 * reference) does not cover.
 *
 * Without a usable GPU (or in a build without CUDA) this prints
 *   SKIP cuda: <reason>
 * registers no test and exits 0: tests/run_tests.sh counts the skip, never a
 * pass.
 *
 * With a GPU:
 *   - every op pointer filled; the memory ops;
 *   - dropout: values and masks bitwise equal to the CPU's;
 *   - sumsq: GPU vs CPU to 1e-12 (double sums of float squares), repeat bitwise;
 *   - the model on the GPU vs reference/debug_state_tiny.bin (PyTorch), and
 *     debug_state_split.bin (shared layers K = 1 of 2) and debug_state_lora.bin
 *     (LoRA r = 4 on a frozen encoder: frozen tensors get no gradient);
 *   - 100 training steps CPU vs GPU from one seed (losses within 1e-3
 *     relative) and two GPU runs bitwise identical;
 *   - GradNorm's per-task gradient norms GPU vs CPU. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "debugstate.h"
#include "gradnorm.h"
#include "model.h"
#include "rng.h"
#include "testutil.h"

static Backend *g_cpu, *g_gpu;

/* ---- host data ------------------------------------------------------------ */

/* Deterministic uniform floats in [lo, hi) from Philox stream `stream`. */
static float *rnd(size_t n, uint32_t stream, float lo, float hi) {
    float *x = xmalloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_uniform(4321, 0, stream, i);
    return x;
}

/* ---- backend buffers -------------------------------------------------------- */

static float *dev_f(Backend *be, const float *h, size_t n) {
    float *d = be->alloc(be, n * sizeof *d);
    be->upload(be, d, h, n * sizeof *d);
    return d;
}

/* Outputs of one run of an op, downloaded to the host. */
enum { MAX_OUTS = 8 };
typedef struct {
    const char *name[MAX_OUTS];
    float *h[MAX_OUTS];
    size_t n[MAX_OUTS];
    int k;
} Outs;

static void take(Outs *o, Backend *be, const char *name, const float *dev, size_t n) {
    if (o->k == MAX_OUTS) {
        fprintf(stderr, "test_cuda: too many outputs\n");
        exit(2);
    }
    o->name[o->k] = name;
    o->n[o->k] = n;
    o->h[o->k] = xmalloc((n ? n : 1) * sizeof(float));
    be->download(be, o->h[o->k], dev, n * sizeof(float));
    o->k++;
}

static void outs_free(Outs *o) {
    for (int i = 0; i < o->k; i++) free(o->h[i]);
    o->k = 0;
}

static int same_bits(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof *a) == 0;
}

/* ---- dropout: bitwise equal to the CPU ----------------------------------------------- */

typedef struct {
    size_t n;
    float p;
    int in_place;
    uint64_t first; /* RNG counter of element 0 (a batch slice's offset) */
} DropCase;

static void run_dropout(Backend *be, const void *arg, Outs *o) {
    const DropCase *k = arg;
    size_t n = k->n;
    float *x = rnd(n, 60, 0.5f, 1.5f), *dout = rnd(n, 61, 0.5f, 1.5f), *g = rnd(n, 62, -1, 1);
    float *d_x = dev_f(be, x, n), *d_dout = dev_f(be, dout, n), *d_g = dev_f(be, g, n);
    float *d_out = k->in_place ? d_x : be->alloc(be, n * sizeof(float));
    uint64_t seed = 0xfeedfacecafebeefULL;
    be->dropout_forward(be, d_out, d_x, n, k->p, seed, 12345u, 0x10005u, k->first);
    be->dropout_backward(be, d_g, d_dout, n, k->p, seed, 12345u, 0x10005u, k->first);
    take(o, be, "out", d_out, n);
    take(o, be, "dinp", d_g, n);
    if (!k->in_place) be->free(be, d_out);
    be->free(be, d_g);
    be->free(be, d_dout);
    be->free(be, d_x);
    free(x);
    free(dout);
    free(g);
}

static void test_dropout_bitwise(void) {
    const DropCase cases[] = {{1, 0.1f, 0, 0},    {7, 0.5f, 0, 0},      {4099, 0.1f, 0, 0},
                              {4099, 0.1f, 1, 0}, {100003, 0.9f, 0, 0}, {1001, 0.0f, 0, 0},
                              {1001, 0.0f, 1, 0}, {4099, 0.1f, 0, 6}, {3, 0.5f, 1, 4097},
                              {100003, 0.3f, 0, (1ull << 33) + 3}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Outs c = {0}, g = {0};
        run_dropout(g_cpu, &cases[i], &c);
        run_dropout(g_gpu, &cases[i], &g);
        for (int j = 0; j < c.k; j++) {
            size_t n = c.n[j], zeros_c = 0, zeros_g = 0;
            for (size_t e = 0; e < n; e++) {
                zeros_c += c.h[j][e] == 0.0f;
                zeros_g += g.h[j][e] == 0.0f;
            }
            int same = same_bits(c.h[j], g.h[j], n);
            printf("    dropout n=%zu p=%.1f%s %s: dropped cpu %zu gpu %zu, %s\n", n,
                   (double)cases[i].p, cases[i].in_place ? " in place" : "", c.name[j], zeros_c,
                   zeros_g, same ? "bitwise equal" : "DIFFERENT BITS");
            CU_ASSERT(same);
        }
        outs_free(&c);
        outs_free(&g);
    }
}

/* ---- sum of squares ------------------------------------------------------------------ */

static void test_sumsq(void) {
    const size_t sizes[] = {1, 7, 1001, (3u << 20) + 5};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        float *x = rnd(n, 80, -2, 2);
        float *dc = dev_f(g_cpu, x, n), *dg = dev_f(g_gpu, x, n);
        double c = g_cpu->sumsq(g_cpu, dc, n);
        double a = g_gpu->sumsq(g_gpu, dg, n), b = g_gpu->sumsq(g_gpu, dg, n);
        double rel = fabs(a - c) / (fabs(c) + 1e-300);
        printf("    sumsq n=%-9zu cpu %.17g gpu %.17g rel %.2e%s\n", n, c, a, rel,
               a == b ? "" : "  GPU REPEAT DIFFERS");
        CU_ASSERT(rel < 1e-12); /* double sums of float squares, other order */
        CU_ASSERT(memcmp(&a, &b, sizeof a) == 0);
        g_cpu->free(g_cpu, dc);
        g_gpu->free(g_gpu, dg);
        free(x);
    }
}

/* ---- memory ops ------------------------------------------------------------------------ */

static void test_memory(void) {
    Backend *be = g_gpu;
    size_t n = 100003;
    float *x = rnd(n, 90, -1, 1), *y = xmalloc(n * sizeof *y);
    float *a = be->alloc(be, n * sizeof(float)), *b = be->alloc(be, 3), *c = be->alloc(be, n * sizeof(float));
    be->download(be, y, a, n * sizeof(float));
    size_t nonzero = 0;
    for (size_t i = 0; i < n; i++) nonzero += y[i] != 0.0f;
    CU_ASSERT_EQUAL(nonzero, 0); /* alloc is zero-filled */
    be->upload(be, a, x, n * sizeof(float));
    be->copy(be, c, a, n * sizeof(float));
    be->download(be, y, c, n * sizeof(float));
    CU_ASSERT(same_bits(x, y, n));
    be->zero(be, c, n * sizeof(float) / 2);
    be->sync(be);
    be->download(be, y, c, n * sizeof(float));
    CU_ASSERT(y[0] == 0.0f && y[n / 2 - 1] == 0.0f && y[n - 1] == x[n - 1]);
    /* free out of order, allocate again (reused memory is zero-filled again) */
    be->free(be, b);
    be->free(be, a);
    float *d = be->alloc(be, 2 * n * sizeof(float));
    be->download(be, y, d, n * sizeof(float));
    nonzero = 0;
    for (size_t i = 0; i < n; i++) nonzero += y[i] != 0.0f;
    CU_ASSERT_EQUAL(nonzero, 0);
    be->free(be, c);
    be->free(be, d);
    be->free(be, NULL);
    free(x);
    free(y);
}

/* ---- the model vs the PyTorch golden state ------------------------------------------------- */

static const DsTensor *need(const DebugState *ds, const char *name) {
    const DsTensor *t = debugstate_get(ds, name);
    if (!t) printf("    debug state lacks %s\n", name);
    return t;
}

/* |a - b| <= atol + rtol |b| with atol = rel * (the tensor's largest |entry|)
 * + floor; the floor covers entries that are sums cancelling to ~0 (e.g. the
 * QA bias gradient, a sum of softmax - onehot rows), where fp32 leaves noise
 * of ~1e-8 whatever the scale. */
static int close_scaled(const char *label, const float *a, const float *ref, size_t n, double rel,
                        double floor) {
    double mx = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs((double)ref[i]));
    return testutil_allclose(label, a, ref, n, rel * mx + floor, rel);
}

/* The golden state the two model tests read (the split suite: shared layers
 * K = 1 of 2, reference/debug_state_split.bin). */
static const char *g_state = "reference/debug_state_tiny.bin";

static Model *model_from_state(const DebugState *ds, Backend *be, int *B, int *T, ModelConfig *cfg) {
    const DsTensor *c = need(ds, "config"), *hp = need(ds, "hparams");
    if (!c || !hp) return NULL;
    const int32_t *ci = c->data;
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->preset, sizeof cfg->preset, "debug");
    cfg->L = ci[0], cfg->C = ci[1], cfg->NH = ci[2], cfg->FFN = ci[3], cfg->V = ci[4];
    cfg->maxT = ci[5], cfg->type_vocab = ci[6], cfg->num_labels = ci[7];
    cfg->heads = HEAD_NER | HEAD_QA;
    const DsTensor *k = debugstate_get(ds, "config.shared_layers"); /* absent: K = L */
    cfg->task_layers = k ? cfg->L - ((const int32_t *)k->data)[0] : 0;
    const DsTensor *lo = debugstate_get(ds, "config.lora"), *la = debugstate_get(ds, "config.lora_alpha");
    if (lo && la) { /* LoRA on a frozen encoder (reference/debug_state_lora.bin) */
        cfg->lora_rank = ((const int32_t *)lo->data)[0];
        cfg->lora_targets = ((const int32_t *)lo->data)[1];
        cfg->lora_alpha = ((const float *)la->data)[0];
        cfg->frozen_encoder = 1;
    }
    cfg->ln_eps = ((const float *)hp->data)[0];
    cfg->p_drop = 0.0f;
    cfg->init_std = 0.02f;
    *B = ci[8], *T = ci[9];
    Err err;
    Model *m = model_create(cfg, be, *B, *T, &err);
    if (!m) {
        printf("    %s\n", err.msg);
        return NULL;
    }
    float *host = xcalloc(model_num_params(m), sizeof *host);
    for (int i = 0; i < model_num_tensors(m); i++) {
        const ParamInfo *pi = model_tensor(m, i);
        const DsTensor *t = need(ds, pi->name);
        if (t && (size_t)t->numel == pi->numel) memcpy(host + pi->offset, t->data, pi->numel * sizeof *host);
    }
    model_params_from_host(m, host);
    free(host);
    return m;
}

static void batch_from_state(const DebugState *ds, int task, int B, int T, Batch *b) {
    memset(b, 0, sizeof *b);
    b->task = task, b->B = B, b->T = T;
    b->ids = need(ds, "in.ids")->data;
    b->types = need(ds, "in.types")->data;
    b->mask = need(ds, "in.mask")->data;
    b->labels = need(ds, "in.ner_labels")->data;
    b->start = need(ds, "in.qa_start")->data;
    b->end = need(ds, "in.qa_end")->data;
}

static void test_model_debug_state(void) {
    const char *path = testutil_repo_path(g_state);
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    Err err;
    DebugState *ds = debugstate_load(path, &err);
    if (!ds) printf("    %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    int B = 0, T = 0;
    ModelConfig cfg;
    Model *m = model_from_state(ds, g_gpu, &B, &T, &cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    const float *hp = need(ds, "hparams")->data;
    float lambda_ner = hp[7];
    Batch ner, qa;
    batch_from_state(ds, TASK_NER, B, T, &ner);
    batch_from_state(ds, TASK_QA, B, T, &qa);
    size_t BT = (size_t)B * T;
    float *buf = xmalloc(BT * (size_t)(cfg.C > cfg.num_labels ? cfg.C : cfg.num_labels) * sizeof *buf);
    float l_ner = 0, l_qa = 0;
    model_zero_grad(m);
    CU_ASSERT_FATAL(model_forward(m, &ner, 0, 0, 0, 0, &l_ner, &err) == 0);
    model_get_logits(m, buf);
    CU_ASSERT(close_scaled("ner logits", buf, need(ds, "out.ner_logits")->data, BT * cfg.num_labels, 1e-4, 0));
    model_get_hidden(m, buf);
    CU_ASSERT(close_scaled("hidden", buf, need(ds, "out.hidden")->data, BT * cfg.C, 1e-4, 0));
    model_backward(m, &ner, lambda_ner);
    CU_ASSERT_FATAL(model_forward(m, &qa, 0, 0, 0, 1, &l_qa, &err) == 0);
    model_get_logits(m, buf);
    CU_ASSERT(close_scaled("qa logits", buf, need(ds, "out.qa_logits")->data, BT * 2, 1e-4, 0));
    if (cfg.task_layers > 0 || cfg.lora_rank > 0) { /* QA's own top layers or adapters: another encoder output */
        model_get_hidden(m, buf);
        CU_ASSERT(close_scaled("hidden (qa)", buf, need(ds, "out.hidden_qa")->data, BT * cfg.C, 1e-4, 0));
    }
    model_backward(m, &qa, 1.0f);
    float ref_ner = *(const float *)need(ds, "out.loss_ner")->data;
    float ref_qa = *(const float *)need(ds, "out.loss_qa")->data;
    printf("    loss ner %.7f (torch %.7f)  qa %.7f (torch %.7f)\n", (double)l_ner, (double)ref_ner,
           (double)l_qa, (double)ref_qa);
    CU_ASSERT(fabs(l_ner - ref_ner) <= 1e-5 * fabs(ref_ner) + 1e-6);
    CU_ASSERT(fabs(l_qa - ref_qa) <= 1e-5 * fabs(ref_qa) + 1e-6);
    float *grads = xmalloc(model_num_params(m) * sizeof *grads);
    model_grads_to_host(m, grads);
    int bad = 0;
    for (int i = 0; i < model_num_tensors(m); i++) {
        const ParamInfo *pi = model_tensor(m, i);
        char name[64];
        snprintf(name, sizeof name, "grad.%s", pi->name);
        if (!pi->trainable) { /* frozen: no gradient here, none in the file */
            int zero = !debugstate_get(ds, name);
            for (size_t j = 0; j < pi->numel; j++) zero &= grads[pi->offset + j] == 0.0f;
            bad += !zero;
            continue;
        }
        const DsTensor *t = need(ds, name);
        /* gradients: 1e-3 of the tensor's largest entry + 1e-7 (fp32 backprop
         * through two layers, summation orders differ from PyTorch's) */
        if (!t || !close_scaled(name, grads + pi->offset, t->data, pi->numel, 1e-3, 1e-7)) bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    free(grads);
    free(buf);
    model_free(m);
    debugstate_free(ds);
}

static void test_model_debug_state_training(void);
static void test_model_split_state(void) {
    g_state = "reference/debug_state_split.bin";
    test_model_debug_state();
    test_model_debug_state_training();
    g_state = "reference/debug_state_tiny.bin";
}

static void test_model_lora_state(void) {
    g_state = "reference/debug_state_lora.bin";
    test_model_debug_state();
    test_model_debug_state_training();
    g_state = "reference/debug_state_tiny.bin";
}

/* The 10 AdamW steps of train.losses (same batch, dropout off, constant lr). */
static void test_model_debug_state_training(void) {
    const char *path = testutil_repo_path(g_state);
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    Err err;
    DebugState *ds = debugstate_load(path, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    int B = 0, T = 0;
    ModelConfig cfg;
    Model *m = model_from_state(ds, g_gpu, &B, &T, &cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    const float *hp = need(ds, "hparams")->data;
    const DsTensor *ref = need(ds, "train.losses");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
    AdamWParams h = {.lr = hp[1], .beta1 = hp[2], .beta2 = hp[3], .eps = hp[4],
                     .weight_decay = hp[5], .clip = hp[6]};
    Batch ner, qa;
    batch_from_state(ds, TASK_NER, B, T, &ner);
    batch_from_state(ds, TASK_QA, B, T, &qa);
    int bad = 0;
    for (int s = 0; s < (int)ref->numel; s++) {
        float ln = 0, lq = 0;
        model_zero_grad(m);
        CU_ASSERT_FATAL(model_forward(m, &ner, 0, 0, (uint32_t)s, 0, &ln, &err) == 0);
        model_backward(m, &ner, hp[7]);
        CU_ASSERT_FATAL(model_forward(m, &qa, 0, 0, (uint32_t)s, 1, &lq, &err) == 0);
        model_backward(m, &qa, 1.0f);
        model_clip_grad(m, model_grad_norm(m), h.clip);
        model_adamw_step(m, &h, h.lr);
        float total = hp[7] * ln + lq, want = ((const float *)ref->data)[s];
        int ok = fabs(total - want) <= 1e-4 * fabs(want);
        printf("    step %d loss %.7f torch %.7f%s\n", s, (double)total, (double)want, ok ? "" : "  MISMATCH");
        bad += !ok;
    }
    CU_ASSERT_EQUAL(bad, 0);
    model_free(m);
    debugstate_free(ds);
}

/* ---- training: CPU vs GPU, GPU vs GPU ------------------------------------------------------ */

enum { TB = 4, TT = 32, TSTEPS = 100 };

static ModelConfig train_config(void) {
    ModelConfig c = {.preset = "cudatest", .L = 2, .C = 64, .NH = 4, .FFN = 128, .V = 200,
                     .maxT = TT, .type_vocab = 2, .num_labels = NER_NUM_LABELS,
                     .heads = HEAD_NER | HEAD_QA, .ln_eps = 1e-12f, .p_drop = 0.1f,
                     .init_std = 0.02f};
    return c;
}

typedef struct {
    int ids[TB * TT], types[TB * TT], mask[TB * TT], labels[TB * TT], start[TB], end[TB];
} TrainBatch;

static int draw(uint32_t step, uint32_t s, uint64_t i, int hi) {
    return (int)(rng_uniform(2024, step, 0x9000u + s, i) * (float)hi) % hi;
}

/* Lengths in [4, T], padding masked and labelled -100, spans inside the text. */
static void train_batch(TrainBatch *d, uint32_t step, int V) {
    for (int b = 0; b < TB; b++) {
        int len = 4 + draw(step, 0, (uint64_t)b, TT - 3);
        for (int t = 0; t < TT; t++) {
            int i = b * TT + t, real = t < len;
            d->ids[i] = draw(step, 1, (uint64_t)i, V);
            d->types[i] = t >= len / 2;
            d->mask[i] = real;
            d->labels[i] = real ? draw(step, 2, (uint64_t)i, NER_NUM_LABELS) : MTL_IGNORE_INDEX;
        }
        d->start[b] = draw(step, 3, (uint64_t)b, len);
        d->end[b] = d->start[b] + draw(step, 4, (uint64_t)b, len - d->start[b]);
    }
}

/* TSTEPS joint steps (NER pass, QA pass, clip, AdamW) with dropout on;
 * losses[2*TSTEPS]; *params malloc'd. */
static int train_run(Backend *be, float *losses, float **params, size_t *n) {
    ModelConfig cfg = train_config();
    Err err;
    Model *m = model_create(&cfg, be, TB, TT, &err);
    if (!m) {
        printf("    %s\n", err.msg);
        return -1;
    }
    model_init(m, 99);
    AdamWParams hp = adamw_defaults();
    TrainBatch d;
    int rc = 0;
    for (int s = 0; s < TSTEPS && rc == 0; s++) {
        train_batch(&d, (uint32_t)s, cfg.V);
        Batch ner = {.task = TASK_NER, .B = TB, .T = TT, .ids = d.ids, .types = d.types,
                     .mask = d.mask, .labels = d.labels};
        Batch qa = ner;
        qa.task = TASK_QA, qa.labels = NULL, qa.start = d.start, qa.end = d.end;
        model_zero_grad(m);
        rc |= model_forward(m, &ner, 1, 555, (uint32_t)s, 0, &losses[2 * s], &err);
        if (rc == 0) model_backward(m, &ner, 1.0f);
        if (rc == 0) rc |= model_forward(m, &qa, 1, 555, (uint32_t)s, 1, &losses[2 * s + 1], &err);
        if (rc == 0) model_backward(m, &qa, 1.0f);
        model_clip_grad(m, model_grad_norm(m), hp.clip);
        model_adamw_step(m, &hp, 1e-4f);
    }
    if (rc) printf("    %s\n", err.msg);
    *n = model_num_params(m);
    *params = xmalloc(*n * sizeof **params);
    model_params_to_host(m, *params);
    model_free(m);
    return rc;
}

static void test_training_cpu_vs_gpu(void) {
    float lc[2 * TSTEPS], lg[2 * TSTEPS], lg2[2 * TSTEPS];
    float *pc = NULL, *pg = NULL, *pg2 = NULL;
    size_t nc = 0, ng = 0, ng2 = 0;
    CU_ASSERT_FATAL(train_run(g_cpu, lc, &pc, &nc) == 0);
    CU_ASSERT_FATAL(train_run(g_gpu, lg, &pg, &ng) == 0);
    CU_ASSERT_FATAL(train_run(g_gpu, lg2, &pg2, &ng2) == 0);
    double worst = 0;
    int worst_i = 0;
    for (int i = 0; i < 2 * TSTEPS; i++) {
        double rel = fabs((double)lg[i] - lc[i]) / fabs((double)lc[i]);
        if (rel > worst || isnan(rel)) worst = rel, worst_i = i;
    }
    printf("    %d steps: first ner/qa cpu %.6f %.6f gpu %.6f %.6f; last cpu %.6f %.6f gpu %.6f %.6f\n",
           TSTEPS, lc[0], lc[1], lg[0], lg[1], lc[2 * TSTEPS - 2], lc[2 * TSTEPS - 1],
           lg[2 * TSTEPS - 2], lg[2 * TSTEPS - 1]);
    printf("    worst relative loss difference %.2e (step %d, %s)\n", worst, worst_i / 2,
           worst_i % 2 ? "qa" : "ner");
    CU_ASSERT(worst < 1e-3);
    CU_ASSERT_EQUAL(memcmp(lg, lg2, sizeof lg), 0);
    CU_ASSERT_EQUAL_FATAL(ng, ng2);
    CU_ASSERT_EQUAL(memcmp(pg, pg2, ng * sizeof *pg), 0);
    free(pc);
    free(pg);
    free(pg2);
}

/* GradNorm's per-task gradient norms (impl/train/gradnorm.h) from one joint
 * backward, measured on the GPU model vs the CPU model. */
static int gradnorm_measure(Backend *be, double G[2]) {
    ModelConfig cfg = train_config();
    Err err;
    Model *m = model_create(&cfg, be, TB, TT, &err);
    if (!m) return -1;
    model_init(m, 99);
    TrainBatch d;
    train_batch(&d, 0, cfg.V);
    Batch ner = {.task = TASK_NER, .B = TB, .T = TT, .ids = d.ids, .types = d.types,
                 .mask = d.mask, .labels = d.labels};
    Batch qa = ner;
    qa.task = TASK_QA, qa.labels = NULL, qa.start = d.start, qa.end = d.end;
    GradNorm g;
    int rc = gradnorm_init(&g, m, "", 0.16, 0.025, (const double[NUM_TASKS]){0.7, 1.3}, &err);
    float l;
    model_zero_grad(m);
    if (rc == 0) rc = model_forward(m, &ner, 1, 555, 0, 0, &l, &err);
    if (rc == 0) {
        model_backward(m, &ner, 0.7f);
        gradnorm_after_task(&g, m, TASK_NER);
        rc = model_forward(m, &qa, 1, 555, 0, 1, &l, &err);
    }
    if (rc == 0) {
        model_backward(m, &qa, 1.3f);
        gradnorm_after_task(&g, m, TASK_QA);
        memcpy(G, g.G, sizeof g.G);
    }
    if (rc) printf("    %s\n", err.msg);
    if (g.W) gradnorm_free(&g);
    model_free(m);
    return rc;
}

static void test_gradnorm_norms(void) {
    double gc[2], gg[2], gg2[2];
    CU_ASSERT_FATAL(gradnorm_measure(g_cpu, gc) == 0);
    CU_ASSERT_FATAL(gradnorm_measure(g_gpu, gg) == 0);
    CU_ASSERT_FATAL(gradnorm_measure(g_gpu, gg2) == 0);
    printf("    G ner/qa cpu %.9g %.9g gpu %.9g %.9g\n", gc[0], gc[1], gg[0], gg[1]);
    for (int i = 0; i < 2; i++) CU_ASSERT(fabs(gg[i] - gc[i]) <= 1e-4 * gc[i]);
    CU_ASSERT_EQUAL(memcmp(gg, gg2, sizeof gg), 0);
}

/* The encoder output and NER / QA logits of a forward-only model on be, its
 * padding skipped (skip 1) or not, for train_batch(step 0)'s right-padded rows. */
static int skip_padding_forward(Backend *be, int skip, float *hidden, float *logits[2], long long *rows) {
    ModelConfig cfg = train_config();
    Err err;
    Model *m = model_create_inference(&cfg, be, TB, TT, &err);
    if (!m) return printf("    %s\n", err.msg), -1;
    model_init(m, 99);
    model_skip_padding(m, skip);
    TrainBatch d;
    train_batch(&d, 0, cfg.V);
    int rc = 0;
    for (int task = TASK_NER; task <= TASK_QA && rc == 0; task++) {
        Batch b = {.task = task, .B = TB, .T = TT, .ids = d.ids, .types = d.types, .mask = d.mask,
                   .labels = d.labels, .start = d.start, .end = d.end};
        rc = model_forward(m, &b, 0, 0, 0, 0, NULL, &err);
        if (rc == 0) model_get_logits(m, logits[task]);
        if (rc == 0 && task == TASK_QA) model_get_hidden(m, hidden);
    }
    if (rc) printf("    %s\n", err.msg);
    *rows = model_work_done(m).rows;
    model_free(m);
    return rc;
}

/* model_skip_padding on the GPU: the packed rows (per-window attention calls)
 * give the padded forward's real-row outputs and the CPU's, padding rows 0. */
static void test_skip_padding(void) {
    ModelConfig cfg = train_config();
    const size_t nh = (size_t)TB * TT * cfg.C, nl[2] = {(size_t)TB * TT * cfg.num_labels, (size_t)TB * TT * 2};
    float *h[3], *l[3][2]; /* padded GPU, packed GPU, packed CPU */
    long long rows[3];
    for (int k = 0; k < 3; k++) {
        h[k] = xmalloc(nh * sizeof(float));
        for (int t = 0; t < 2; t++) l[k][t] = xmalloc(nl[t] * sizeof(float));
    }
    CU_ASSERT_FATAL(skip_padding_forward(g_gpu, 0, h[0], l[0], &rows[0]) == 0);
    CU_ASSERT_FATAL(skip_padding_forward(g_gpu, 1, h[1], l[1], &rows[1]) == 0);
    CU_ASSERT_FATAL(skip_padding_forward(g_cpu, 1, h[2], l[2], &rows[2]) == 0);
    CU_ASSERT(rows[1] < rows[0] && rows[1] == rows[2]); /* something was skipped, the same on both */
    TrainBatch d;
    train_batch(&d, 0, cfg.V);
    for (int r = 0; r < TB * TT; r++) /* the padding rows of the outputs: 0 packed, anything padded */
        if (!d.mask[r]) {
            memset(h[0] + (size_t)r * cfg.C, 0, cfg.C * sizeof(float));
            for (int t = 0; t < 2; t++) {
                int w = t == TASK_NER ? cfg.num_labels : 2;
                memcpy(l[0][t] + (size_t)r * w, l[1][t] + (size_t)r * w, w * sizeof(float));
            }
        }
    CU_ASSERT(testutil_allclose("gpu packed vs padded, encoder output", h[1], h[0], nh, 1e-5, 1e-5));
    CU_ASSERT(testutil_allclose("gpu vs cpu packed, encoder output", h[1], h[2], nh, 1e-4, 1e-4));
    for (int t = 0; t < 2; t++) {
        CU_ASSERT(testutil_allclose(t == TASK_NER ? "gpu packed vs padded, ner logits" : "gpu packed vs padded, qa logits",
                                    l[1][t], l[0][t], nl[t], 1e-5, 1e-5));
        CU_ASSERT(testutil_allclose("gpu vs cpu packed, logits", l[1][t], l[2][t], nl[t], 1e-4, 1e-4));
    }
    for (int k = 0; k < 3; k++) {
        free(h[k]);
        for (int t = 0; t < 2; t++) free(l[k][t]);
    }
}

static void test_every_op_filled(void) {
    const char *missing = backend_missing_op(g_gpu);
    if (missing) printf("\n  the CUDA backend leaves %s NULL\n", missing);
    CU_ASSERT_PTR_NULL(missing);
}

int main(void) {
    char why[512];
    g_gpu = backend_cuda(0, why, sizeof why);
    if (!g_gpu) {
        testutil_skip("cuda", why);
        return 0;
    }
    g_cpu = backend_cpu(0);
    static const TestCase ops[] = {
        {"every op of kernels/ops.h filled", test_every_op_filled},
        {"memory: zero-filled alloc, upload/download/copy/zero, free out of order", test_memory},
        {"dropout values and masks bitwise equal to CPU", test_dropout_bitwise},
        {"sumsq vs CPU, GPU repeat bitwise", test_sumsq},
        {NULL, NULL}};
    static const TestCase model[] = {
        {"GPU model vs PyTorch debug state: logits, losses, gradients", test_model_debug_state},
        {"GPU model: 10 AdamW steps vs PyTorch train.losses", test_model_debug_state_training},
        {"GPU model, shared layers K = 1 of 2: logits, hidden states, losses, gradients, 10 AdamW steps", test_model_split_state},
        {"GPU model, LoRA r = 4 on a frozen encoder: logits, hidden states, losses, adapter gradients, 10 AdamW steps", test_model_lora_state},
        {"100 training steps CPU vs GPU (1e-3), two GPU runs bitwise", test_training_cpu_vs_gpu},
        {"GradNorm per-task gradient norms GPU vs CPU (1e-4), GPU repeat bitwise", test_gradnorm_norms},
        {"skipped padding (packed rows, attention per window) vs the padded forward and the CPU", test_skip_padding},
        {NULL, NULL}};
    testutil_add_suite("cuda ops", ops);
    testutil_add_suite("cuda model", model);
    int rc = testutil_run_all();
    g_cpu->destroy(g_cpu);
    g_gpu->destroy(g_gpu);
    return rc;
}

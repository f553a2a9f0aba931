/* The C model against the PyTorch golden state (reference/debug_state_tiny.bin,
 * written by reference/write_debug_state.py): logits, losses, every gradient,
 * and 10 AdamW steps; plus parameter counts and a finite-difference check of
 * the backward with dropout on.
 *
 * Tolerances. Both sides compute in fp32; they differ only in summation order
 * (OpenBLAS blocking vs PyTorch's, our fused attention vs matmul+softmax),
 * which perturbs each dot product by a few ulps of its terms (~1e-7 relative)
 * and grows mildly through 2 layers and LayerNorm. Observed on the dev box:
 * logits/hidden max abs err <= 1e-6, gradients <= 2e-7, AdamW losses <= 2e-7
 * relative. The bounds leave a 10-100x margin for other CPUs and BLAS builds:
 *   logits           atol 5e-6, rtol 1e-4   (values ~0.1-1)
 *   hidden           atol 1e-5, rtol 1e-4   (LayerNorm output, values O(1))
 *   losses           rtol 1e-5
 *   gradients        atol 1e-4 * max|ref| of the tensor + 3e-7, rtol 1e-3.
 *       Gradient scales differ by 1000x between tensors (qkv.w max 2e-3,
 *       qa.w max 1.1), so the absolute floor follows each tensor's scale; the
 *       3e-7 covers entries whose exact value is ~0 (qa.b: sum_t (p_t -
 *       onehot_t) = 0, so its reference is pure roundoff, ~5e-8).
 *   training losses  rtol 2e-5 (10 steps compound the differences above;
 *       Adam divides by sqrt(v), which amplifies differences of near-zero
 *       gradients).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "debugstate.h"
#include "model.h"
#include "rng.h"
#include "testutil.h"

enum { LAYER_TENSORS_PER_LAYER = 12 }; /* qkv, out, ln1, up, down, ln2: w and b */

typedef struct {
    DebugState *ds;
    ModelConfig cfg;
    int B, T;
    float lambda_ner;
    AdamWParams hp;
    Batch ner, qa;
} Golden;

static const DsTensor *need(const DebugState *ds, const char *name, int dtype) {
    const DsTensor *t = debugstate_get(ds, name);
    if (!t) printf("    missing tensor %s in the debug state\n", name);
    else if (t->dtype != dtype) {
        printf("    tensor %s has dtype %d, expected %d\n", name, t->dtype, dtype);
        t = NULL;
    }
    return t;
}

/* The golden state the golden tests read: the hard-sharing one, or (the
 * "split" suite) reference/debug_state_split.bin, whose model has per-task
 * copies of its top layer (shared layers K = 1 of L = 2). */
static const char *golden_file = "reference/debug_state_tiny.bin";
/* 1: the CPU backend says its matmuls round (as bf16's do), so the model runs
 * LoRA adapters as their own passes instead of merged weights (ops.h lora_merge) */
static int golden_unmerged;

/* K from the optional "config.shared_layers" (absent: K = L). */
static int golden_shared_layers(const DebugState *ds, int L) {
    const DsTensor *k = debugstate_get(ds, "config.shared_layers");
    return k && k->dtype == DS_I32 && k->numel == 1 ? ((const int *)k->data)[0] : L;
}

/* LoRA from the optional "config.lora" (r, targets) and "config.lora_alpha":
 * a frozen encoder with per-task adapters. */
static void golden_lora(const DebugState *ds, ModelConfig *m) {
    const DsTensor *k = debugstate_get(ds, "config.lora"), *a = debugstate_get(ds, "config.lora_alpha");
    if (!k || k->dtype != DS_I32 || k->numel != 2 || !a || a->dtype != DS_F32 || a->numel != 1) return;
    m->lora_rank = ((const int *)k->data)[0];
    m->lora_targets = ((const int *)k->data)[1];
    m->lora_alpha = ((const float *)a->data)[0];
    m->frozen_encoder = 1;
}

static int golden_load(Golden *g) {
    memset(g, 0, sizeof *g);
    const char *path = testutil_repo_path(golden_file);
    if (!path) {
        printf("    %s not found (make reference)\n", golden_file);
        return -1;
    }
    Err err;
    g->ds = debugstate_load(path, &err);
    if (!g->ds) {
        printf("    %s\n", err.msg);
        return -1;
    }
    const DsTensor *c = need(g->ds, "config", DS_I32), *h = need(g->ds, "hparams", DS_F32);
    if (!c || !h || c->numel != 10 || h->numel != 8) return -1;
    const int *ci = c->data;
    const float *hf = h->data;
    ModelConfig *m = &g->cfg;
    snprintf(m->preset, sizeof m->preset, "debug-tiny");
    m->L = ci[0], m->C = ci[1], m->NH = ci[2], m->FFN = ci[3], m->V = ci[4], m->maxT = ci[5];
    m->type_vocab = ci[6], m->num_labels = ci[7];
    m->heads = HEAD_NER | HEAD_QA;
    m->task_layers = m->L - golden_shared_layers(g->ds, m->L);
    golden_lora(g->ds, m);
    m->ln_eps = hf[0];
    m->p_drop = 0.0f;
    m->init_std = 0.02f;
    g->B = ci[8], g->T = ci[9];
    g->hp = (AdamWParams){.lr = hf[1], .beta1 = hf[2], .beta2 = hf[3], .eps = hf[4],
                          .weight_decay = hf[5], .clip = hf[6]};
    g->lambda_ner = hf[7];
    const DsTensor *ids = need(g->ds, "in.ids", DS_I32), *tt = need(g->ds, "in.types", DS_I32),
                   *mask = need(g->ds, "in.mask", DS_I32), *lab = need(g->ds, "in.ner_labels", DS_I32),
                   *st = need(g->ds, "in.qa_start", DS_I32), *en = need(g->ds, "in.qa_end", DS_I32);
    if (!ids || !tt || !mask || !lab || !st || !en) return -1;
    g->ner = (Batch){.task = TASK_NER, .B = g->B, .T = g->T, .ids = ids->data, .types = tt->data,
                     .mask = mask->data, .labels = lab->data};
    g->qa = g->ner;
    g->qa.task = TASK_QA;
    g->qa.labels = NULL;
    g->qa.start = st->data;
    g->qa.end = en->data;
    return 0;
}

/* Copy every parameter of the golden state into the model, by name, checking
 * the shapes. Returns 0 when all match. */
static int golden_params_into(const Golden *g, Model *m) {
    size_t n = model_num_params(m);
    float *host = xcalloc(n, sizeof *host);
    int bad = 0;
    for (int i = 0; i < model_num_tensors(m); i++) {
        const ParamInfo *p = model_tensor(m, i);
        const DsTensor *t = need(g->ds, p->name, DS_F32);
        if (!t || (size_t)t->numel != p->numel || t->ndim != p->ndim || t->shape[0] != p->shape[0] ||
            (p->ndim == 2 && t->shape[1] != p->shape[1])) {
            printf("    parameter %s: shape mismatch with the golden state\n", p->name);
            bad = 1;
            continue;
        }
        memcpy(host + p->offset, t->data, p->numel * sizeof(float));
    }
    model_params_from_host(m, host);
    free(host);
    return bad ? -1 : 0;
}

static float golden_scalar(const Golden *g, const char *name) {
    const DsTensor *t = need(g->ds, name, DS_F32);
    return t ? ((const float *)t->data)[0] : NAN;
}

/* The golden model on *be (a new 1-thread CPU backend when *be is NULL). */
static Model *golden_model(Golden *g, Backend **be) {
    if (golden_load(g) != 0) return NULL;
    if (!*be) {
        *be = backend_cpu(1);
        (*be)->matmul_exact = !golden_unmerged;
    }
    Err err;
    Model *m = model_create(&g->cfg, *be, g->B, g->T, &err);
    if (!m) {
        printf("    %s\n", err.msg);
        return NULL;
    }
    if (golden_params_into(g, m) != 0) {
        model_free(m);
        return NULL;
    }
    return m;
}

static void golden_free(Golden *g, Model *m, Backend *be) {
    model_free(m);
    if (be) be->destroy(be);
    debugstate_free(g->ds);
}

static int close_rel(const char *what, double a, double b, double rtol) {
    int ok = fabs(a - b) <= rtol * fabs(b) + 1e-7;
    printf("    %-32s %.9g vs %.9g (rel %.2e)%s\n", what, a, b, fabs(a - b) / (fabs(b) + 1e-30),
           ok ? "" : "  MISMATCH");
    return ok;
}

/* Logits of the last forward against a golden tensor. */
static int logits_match(const Golden *g, Model *m, const char *name, int per_pos) {
    const DsTensor *t = need(g->ds, name, DS_F32);
    size_t n = (size_t)g->B * g->T * per_pos;
    if (!t || (size_t)t->numel != n) return 0;
    float *got = xmalloc(n * sizeof *got);
    model_get_logits(m, got);
    int ok = testutil_allclose(name, got, t->data, n, 5e-6, 1e-4);
    free(got);
    return ok;
}

static double max_abs(const float *x, size_t n) {
    double mx = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)x[i]) > mx) mx = fabs((double)x[i]);
    return mx;
}

/* Every trainable parameter's gradient in m against the golden
 * "grad.<name>", each judged by check(name, got, golden, n, ctx); 1 when all
 * pass (a missing or misshapen golden tensor fails). A frozen tensor must
 * have no golden gradient (PyTorch's requires_grad=False) and 0 here. */
typedef int (*GradCheck)(const char *name, const float *got, const float *ref, size_t n, void *ctx);

static int each_golden_grad(const Golden *g, Model *m, GradCheck check, void *ctx) {
    float *grads = xmalloc(model_num_params(m) * sizeof *grads);
    model_grads_to_host(m, grads);
    int all_ok = 1;
    for (int i = 0; i < model_num_tensors(m); i++) {
        const ParamInfo *p = model_tensor(m, i);
        char name[64];
        snprintf(name, sizeof name, "grad.%s", p->name);
        if (!p->trainable) {
            int clean = !debugstate_get(g->ds, name);
            for (size_t j = 0; j < p->numel; j++) clean &= grads[p->offset + j] == 0.0f;
            if (!clean) printf("    frozen %s has a gradient\n", p->name);
            all_ok &= clean;
            continue;
        }
        const DsTensor *t = need(g->ds, name, DS_F32);
        if (!t || (size_t)t->numel != p->numel) all_ok = 0;
        else all_ok &= check(name, grads + p->offset, t->data, p->numel, ctx);
    }
    free(grads);
    return all_ok;
}

/* fp32: within 1e-4 of the tensor's largest magnitude, or 1e-3 relative. */
static int grad_close_fp32(const char *name, const float *got, const float *ref, size_t n, void *ctx) {
    (void)ctx;
    return testutil_allclose(name, got, ref, n, 1e-4 * max_abs(ref, n) + 3e-7, 1e-3);
}

static void test_golden_forward_backward(void) {
    Golden g;
    Backend *be = NULL;
    Model *m = golden_model(&g, &be);
    CU_ASSERT_FATAL(m != NULL);
    Err err;
    float l_ner = NAN, l_qa = NAN;
    model_zero_grad(m);
    CU_ASSERT_FATAL(model_forward(m, &g.ner, 0, 0, 0, 0, &l_ner, &err) == 0);
    CU_ASSERT(logits_match(&g, m, "out.ner_logits", g.cfg.num_labels));
    const DsTensor *hid = need(g.ds, "out.hidden", DS_F32);
    CU_ASSERT_FATAL(hid != NULL);
    float *h = xmalloc((size_t)hid->numel * sizeof *h);
    model_get_hidden(m, h);
    CU_ASSERT(testutil_allclose("out.hidden", h, hid->data, (size_t)hid->numel, 1e-5, 1e-4));
    free(h);
    model_backward(m, &g.ner, g.lambda_ner);
    CU_ASSERT_FATAL(model_forward(m, &g.qa, 0, 0, 0, 1, &l_qa, &err) == 0);
    CU_ASSERT(logits_match(&g, m, "out.qa_logits", 2));
    int own = g.cfg.task_layers > 0 || g.cfg.lora_rank > 0;
    const DsTensor *hq = own ? need(g.ds, "out.hidden_qa", DS_F32) : NULL;
    CU_ASSERT_FATAL(!own || hq != NULL);
    if (hq) { /* QA's own top layers or adapters: another encoder output */
        h = xmalloc((size_t)hq->numel * sizeof *h);
        model_get_hidden(m, h);
        CU_ASSERT(testutil_allclose("out.hidden_qa", h, hq->data, (size_t)hq->numel, 1e-5, 1e-4));
        free(h);
    }
    model_backward(m, &g.qa, 1.0f);
    CU_ASSERT(close_rel("out.loss_ner", l_ner, golden_scalar(&g, "out.loss_ner"), 1e-5));
    CU_ASSERT(close_rel("out.loss_qa", l_qa, golden_scalar(&g, "out.loss_qa"), 1e-5));
    CU_ASSERT(close_rel("out.loss_total", g.lambda_ner * l_ner + l_qa,
                        golden_scalar(&g, "out.loss_total"), 1e-5));
    CU_ASSERT(each_golden_grad(&g, m, grad_close_fp32, NULL));
    golden_free(&g, m, be);
}

/* ---- bf16 vs the fp32 PyTorch state ----------------------------------------
 * Tolerances from bf16's 8-bit significand: rounding a GEMM input costs a
 * relative error of at most u = 2^-9, a product of two rounded inputs 2u. A
 * forward value of this 2-layer model passes through at most 9 GEMMs (4 per
 * layer and the head; LayerNorm rescales but does not amplify relative
 * error), so logits, hidden state and losses must agree within 9 * 2u ~ 2^-5
 * in relative L2 norm; a gradient passes through the forward and about as
 * many GEMMs again: 2^-4. The differences must also be there (above 2^-16):
 * the bf16 path really rounds. The norm is taken relative to max(||ref||,
 * 1e-4 sqrt(n)): a gradient that is 0 in exact arithmetic (the QA bias's:
 * per example, sum over positions of p - onehot = 0) is only rounding noise
 * in both, and is compared absolutely, 1e-4 per element. */
static double rel_l2(const float *got, const float *ref, size_t n) {
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]);
        r += (double)ref[i] * ref[i];
    }
    double floor_ = 1e-4 * sqrt((double)n);
    return sqrt(d) / (sqrt(r) > floor_ ? sqrt(r) : floor_);
}

static int within(const char *what, double rel, double bound) {
    int ok = rel <= bound;
    printf("    %-28s relative L2 %.2e (bound %.2e)%s\n", what, rel, bound, ok ? "" : "  TOO FAR");
    return ok;
}

/* bf16: relative L2 within 2^-4 (see above); ctx accumulates the worst. */
static int grad_close_bf16(const char *name, const float *got, const float *ref, size_t n, void *ctx) {
    const double BWD = ldexp(1.0, -4);
    double e = rel_l2(got, ref, n), *worst = ctx;
    if (e > *worst) *worst = e;
    if (e > BWD) printf("    %s: relative L2 %.2e > %.2e\n", name, e, BWD);
    return e <= BWD;
}

static void test_golden_bf16(void) {
    char why[256];
    Backend *be = backend_cpu_bf16(1, why, sizeof why);
    if (!be) {
        testutil_skip("bf16 vs PyTorch state", why);
        return;
    }
    Golden g;
    Model *m = golden_model(&g, &be);
    CU_ASSERT_FATAL(m != NULL);
    const double FWD = ldexp(1.0, -5), SEEN = ldexp(1.0, -16);
    Err err;
    float l_ner = NAN, l_qa = NAN;
    model_zero_grad(m);
    CU_ASSERT_FATAL(model_forward(m, &g.ner, 0, 0, 0, 0, &l_ner, &err) == 0);
    const DsTensor *nl = need(g.ds, "out.ner_logits", DS_F32);
    CU_ASSERT_FATAL(nl != NULL);
    float *got = xmalloc((size_t)nl->numel * sizeof *got);
    model_get_logits(m, got);
    double r = rel_l2(got, nl->data, (size_t)nl->numel);
    CU_ASSERT(within("bf16 out.ner_logits", r, FWD) && r > SEEN);
    free(got);
    model_backward(m, &g.ner, g.lambda_ner);
    CU_ASSERT_FATAL(model_forward(m, &g.qa, 0, 0, 0, 1, &l_qa, &err) == 0);
    model_backward(m, &g.qa, 1.0f);
    float ln = golden_scalar(&g, "out.loss_ner"), lq = golden_scalar(&g, "out.loss_qa");
    CU_ASSERT(within("bf16 out.loss_ner", fabs(l_ner - ln) / ln, FWD));
    CU_ASSERT(within("bf16 out.loss_qa", fabs(l_qa - lq) / lq, FWD));
    double worst = 0;
    CU_ASSERT(each_golden_grad(&g, m, grad_close_bf16, &worst));
    printf("    bf16 gradients: %d tensors, worst relative L2 %.2e (bound %.2e)\n",
           model_num_tensors(m), worst, ldexp(1.0, -4));
    golden_free(&g, m, be);
}

/* One joint step on the golden batch: returns lambda*ner + qa before the
 * update. */
static float joint_step(Model *m, const Golden *g, float lr) {
    Err err;
    float l_ner = 0, l_qa = 0;
    model_zero_grad(m);
    if (model_forward(m, &g->ner, 1, 0, 0, 0, &l_ner, &err) != 0) return NAN;
    model_backward(m, &g->ner, g->lambda_ner);
    if (model_forward(m, &g->qa, 1, 0, 0, 1, &l_qa, &err) != 0) return NAN;
    model_backward(m, &g->qa, 1.0f);
    model_clip_grad(m, model_grad_norm(m), g->hp.clip);
    model_adamw_step(m, &g->hp, lr);
    return g->lambda_ner * l_ner + l_qa;
}

static void test_golden_adamw_steps(void) {
    Golden g;
    Backend *be = NULL;
    Model *m = golden_model(&g, &be);
    CU_ASSERT_FATAL(m != NULL);
    const DsTensor *want = need(g.ds, "train.losses", DS_F32);
    CU_ASSERT_FATAL(want != NULL && want->numel >= 1);
    const float *w = want->data;
    int ok = 1;
    for (int s = 0; s < want->numel; s++) {
        char label[32];
        snprintf(label, sizeof label, "train.losses[%d]", s);
        ok &= close_rel(label, joint_step(m, &g, g.hp.lr), w[s], 2e-5);
    }
    CU_ASSERT(ok);
    CU_ASSERT(w[want->numel - 1] < w[0]); /* the reference itself learns */
    golden_free(&g, m, be);
}

/* Tensor names and order equal those of the golden file (DEBUG_STATE.md). */
static void test_golden_table_order(void) {
    Golden g;
    Backend *be = NULL;
    Model *m = golden_model(&g, &be);
    CU_ASSERT_FATAL(m != NULL);
    int k = 0, ok = 1;
    static const char *const not_params[] = {"config", "hparams", "in.", "out.", "act.", "grad.", "train."};
    for (int i = 0; i < g.ds->n; i++) {
        /* a parameter is every tensor but the config, inputs, outputs, activations and gradients */
        const char *n = g.ds->t[i].name;
        int param = 1;
        for (size_t j = 0; j < sizeof not_params / sizeof *not_params; j++)
            param &= strncmp(n, not_params[j], strlen(not_params[j])) != 0;
        if (!param) continue;
        const ParamInfo *p = model_tensor(m, k++);
        if (!p || strcmp(p->name, n) != 0) {
            printf("    golden parameter #%d is %s, model has %s\n", k - 1, n, p ? p->name : "(none)");
            ok = 0;
        }
    }
    CU_ASSERT(ok);
    CU_ASSERT_EQUAL(k, model_num_tensors(m));
    golden_free(&g, m, be);
}

/* ---- parameter counts --------------------------------------------------- */

static size_t table_sum(const Model *m, const char *prefix) {
    size_t s = 0;
    for (int i = 0; i < model_num_tensors(m); i++)
        if (!strncmp(model_tensor(m, i)->name, prefix, strlen(prefix))) s += model_tensor(m, i)->numel;
    return s;
}

static void check_heads(int heads) {
    ModelConfig cfg;
    Err err;
    CU_ASSERT_FATAL(config_from_preset(&cfg, "tiny", &err) == 0);
    cfg.heads = heads;
    Backend *be = backend_cpu(1);
    Model *m = model_create(&cfg, be, 2, 16, &err);
    CU_ASSERT_FATAL(m != NULL);
    ModelCounts k = model_counts(&cfg, 2, 16);
    size_t want = k.encoder + ((heads & HEAD_NER) ? k.ner_head : 0) + ((heads & HEAD_QA) ? k.qa_head : 0);
    CU_ASSERT_EQUAL(model_num_params(m), want);
    CU_ASSERT_EQUAL(k.total, want);
    CU_ASSERT_EQUAL(table_sum(m, "emb."), k.embeddings);
    CU_ASSERT_EQUAL(table_sum(m, "layer0."), k.per_layer);
    CU_ASSERT_EQUAL(table_sum(m, "ner."), (heads & HEAD_NER) ? k.ner_head : 0);
    CU_ASSERT_EQUAL(table_sum(m, "qa."), (heads & HEAD_QA) ? k.qa_head : 0);
    CU_ASSERT_EQUAL((model_find_tensor(m, "ner.w") != NULL), ((heads & HEAD_NER) != 0));
    CU_ASSERT_EQUAL((model_find_tensor(m, "qa.w") != NULL), ((heads & HEAD_QA) != 0));
    model_free(m);
    be->destroy(be);
}

static void test_param_counts(void) {
    check_heads(HEAD_NER | HEAD_QA);
    check_heads(HEAD_NER);
    check_heads(HEAD_QA);
    /* BERT-base without the pooler: 108,891,648 parameters (the published
     * 109,482,240 includes a 768x768+768 pooler), + heads 9*768+9 and 2*768+2. */
    ModelConfig base;
    Err err;
    CU_ASSERT_FATAL(config_from_preset(&base, "base", &err) == 0);
    ModelCounts k = model_counts(&base, 1, 1);
    CU_ASSERT_EQUAL(k.encoder, (size_t)108891648);
    CU_ASSERT_EQUAL(k.total, (size_t)108891648 + 6921 + 1538);
}

/* Partial sharing on `tiny` (L = 2), for K = 0, 1, 2: the table is the K = L
 * table plus the QA copies qa.layer{K..L-1}.*, the counts add up (shared +
 * 2 x task layers + heads), and from scratch both copies start equal, and
 * every tensor the K = L model has starts with the same bits. */
static void test_split_counts_and_init(void) {
    ModelConfig cfg;
    Err err;
    CU_ASSERT_FATAL(config_from_preset(&cfg, "tiny", &err) == 0);
    Backend *be = backend_cpu(1);
    Model *full = model_create(&cfg, be, 2, 16, &err);
    CU_ASSERT_FATAL(full != NULL);
    model_init(full, 3);
    float *pf = xmalloc(model_num_params(full) * sizeof *pf);
    model_params_to_host(full, pf);
    for (int K = 0; K <= cfg.L; K++) {
        ModelConfig c = cfg;
        c.task_layers = cfg.L - K;
        Model *m = model_create(&c, be, 2, 16, &err);
        CU_ASSERT_FATAL(m != NULL);
        model_init(m, 3);
        ModelCounts k = model_counts(&c, 2, 16);
        CU_ASSERT_EQUAL(model_num_params(m), k.total);
        CU_ASSERT_EQUAL(k.total, k.shared + 2 * k.task_layers + k.ner_head + k.qa_head);
        CU_ASSERT_EQUAL(k.shared, k.embeddings + (size_t)K * k.per_layer);
        CU_ASSERT_EQUAL(table_sum(m, "qa.layer"), k.task_layers);
        CU_ASSERT_EQUAL(config_param_count(&c), (unsigned long long)k.total);
        float *p = xmalloc(model_num_params(m) * sizeof *p);
        model_params_to_host(m, p);
        int same = 1, twins = 0;
        for (int i = 0; i < model_num_tensors(m); i++) {
            const ParamInfo *t = model_tensor(m, i), *f = model_find_tensor(full, model_layer_name(t->name));
            CU_ASSERT_FATAL(f != NULL);
            same &= !memcmp(p + t->offset, pf + f->offset, t->numel * sizeof *p);
            twins += t->task == TASK_QA && !model_name_is_head(t->name);
            int want = model_name_is_head(t->name) ? (t->name[0] == 'n' ? TASK_NER : TASK_QA)
                       : strncmp(t->name, "layer", 5) ? (strncmp(t->name, "qa.", 3) ? -1 : TASK_QA)
                       : atoi(t->name + 5) >= K ? TASK_NER : -1;
            CU_ASSERT_EQUAL(t->task, want);
        }
        CU_ASSERT(same);
        CU_ASSERT_EQUAL(twins, LAYER_TENSORS_PER_LAYER * (cfg.L - K));
        printf("    K=%d: shared %zu, per task %zu + head, total %zu\n", K, k.shared, k.task_layers, k.total);
        free(p);
        model_free(m);
    }
    free(pf);
    model_free(full);
    be->destroy(be);
}

/* ---- finite differences with dropout on --------------------------------- */

static void random_batch_ints(int *x, int n, int hi, uint32_t stream) {
    for (int i = 0; i < n; i++) x[i] = (int)(rng_uniform(7, 0, stream, (uint64_t)i) * hi);
}

/* d(loss)/d(param) by central differences, the loss from a train-mode
 * forward with fixed dropout masks: (f(p+h) - f(p-h)) / 2h. */
static double numeric_grad(Model *m, const Batch *b, float *params, size_t idx, float h) {
    Err err;
    float lp = 0, lm = 0, p0 = params[idx];
    params[idx] = p0 + h;
    model_params_from_host(m, params);
    model_forward(m, b, 1, 99, 3, 0, &lp, &err);
    params[idx] = p0 - h;
    model_params_from_host(m, params);
    model_forward(m, b, 1, 99, 3, 0, &lm, &err);
    params[idx] = p0;
    model_params_from_host(m, params);
    return ((double)lp - lm) / (2.0 * h);
}

/* A two-layer model small enough for finite differences, both heads,
 * dropout 0.2, initialised with seed 5 on the CPU backend. */
static const ModelConfig FD_CFG = {.preset = "fd", .L = 2, .C = 16, .NH = 2, .FFN = 32, .V = 50, .maxT = 8,
                                   .type_vocab = 2, .num_labels = 5, .heads = HEAD_NER | HEAD_QA,
                                   .ln_eps = 1e-12f, .p_drop = 0.2f, .init_std = 0.3f};

/* fd_model with LoRA: the adapters' B start at 0 (so A would get no
 * gradient): give every B a seeded value instead. */
static void perturb_lora_b(Model *m) {
    size_t n = model_num_params(m);
    float *p = xmalloc(n * sizeof *p);
    model_params_to_host(m, p);
    for (int i = 0; i < model_num_tensors(m); i++) {
        const ParamInfo *t = model_tensor(m, i);
        size_t k = strlen(t->name);
        if (!model_name_is_adapter(t->name) || t->name[k - 1] != 'b') continue;
        for (size_t j = 0; j < t->numel; j++)
            p[t->offset + j] = 0.5f * (float)(rng_uniform(9, 0, (uint32_t)i, j) - 0.5);
    }
    model_params_from_host(m, p);
    free(p);
}

static Model *fd_model(Backend *be, int B, int T, const ModelConfig *cfg) {
    Err err;
    Model *m = model_create(cfg, be, B, T, &err);
    CU_ASSERT_FATAL(m != NULL);
    model_init(m, 5);
    if (cfg->lora_rank > 0) perturb_lora_b(m);
    return m;
}

/* For each tensor, the entry with the largest |analytic gradient| must match
 * the central difference (h = 1e-2: fp32 loss noise ~1e-6 / 2h = 5e-5;
 * truncation O(h^2) ~1e-4 -> atol 5e-4, rtol 5e-2). Exercises every dropout
 * site: a mask redrawn differently in the backward would fail this. With
 * task_layers > 0 (shared layers K = L - task_layers) the other task's head
 * and layer copies must have gradient exactly 0 and leave the loss unchanged
 * bit for bit when perturbed (numeric gradient exactly 0); so must the other
 * task's LoRA adapters. A frozen tensor has no gradient (not checked). */
static void check_fd_cfg(int task, const ModelConfig *variant) {
    const ModelConfig cfg = *variant;
    enum { B = 2, T = 8 };
    int ids[B * T], types[B * T], mask[B * T], labels[B * T], start[B] = {1, 2}, end[B] = {3, 5};
    random_batch_ints(ids, B * T, cfg.V, 1);
    random_batch_ints(types, B * T, 2, 2);
    random_batch_ints(labels, B * T, cfg.num_labels, 3);
    for (int i = 0; i < B * T; i++) mask[i] = i % T < (i / T ? 6 : 8);
    labels[T + 7] = MTL_IGNORE_INDEX;
    Batch b = {.task = task, .B = B, .T = T, .ids = ids, .types = types, .mask = mask,
               .labels = labels, .start = start, .end = end};
    Backend *be = backend_cpu(1);
    Err err;
    Model *m = fd_model(be, B, T, &cfg);
    size_t n = model_num_params(m);
    float *params = xmalloc(n * sizeof *params), *grads = xmalloc(n * sizeof *grads);
    model_params_to_host(m, params);
    model_zero_grad(m);
    CU_ASSERT_FATAL(model_forward(m, &b, 1, 99, 3, 0, NULL, &err) == 0);
    model_backward(m, &b, 1.0f);
    model_grads_to_host(m, grads);
    int ok = 1, checked = 0;
    double worst = 0.0;
    for (int i = 0; i < model_num_tensors(m); i++) {
        const ParamInfo *p = model_tensor(m, i);
        size_t best = p->offset;
        for (size_t j = p->offset; j < p->offset + p->numel; j++)
            if (fabsf(grads[j]) > fabsf(grads[best])) best = j;
        if (p->task >= 0 && p->task != task) { /* the other task's head, layer copy or adapter */
            double num = numeric_grad(m, &b, params, p->offset, 1e-2f);
            if (grads[best] != 0.0f || num != 0.0) {
                printf("    %s: another task's tensor, gradient %.6g numeric %.6g  NOT ZERO\n", p->name,
                       (double)grads[best], num);
                ok = 0;
            }
            continue;
        }
        if (grads[best] == 0.0f) continue;
        double num = numeric_grad(m, &b, params, best, 1e-2f);
        checked++;
        if (fabs(num - grads[best]) / (fabs(num) + 1e-2) > worst) worst = fabs(num - grads[best]) / (fabs(num) + 1e-2);
        if (fabs(num - grads[best]) > 5e-4 + 5e-2 * fabs(num)) {
            printf("    %s[%zu]: analytic %.6g numeric %.6g  MISMATCH\n", p->name, best - p->offset,
                   (double)grads[best], num);
            ok = 0;
        }
    }
    if (cfg.task_layers > 0)
        printf("    %s, shared layers %d of %d: %d tensors, worst |analytic - numeric| / (|numeric| + 1e-2) %.2e\n",
               task_name(task), cfg.L - cfg.task_layers, cfg.L, checked, worst);
    if (cfg.frozen_encoder)
        printf("    %s, frozen encoder, LoRA rank %d: %d tensors, worst |analytic - numeric| / (|numeric| + 1e-2) %.2e\n",
               task_name(task), cfg.lora_rank, checked, worst);
    CU_ASSERT(cfg.lora_rank == 0 || checked >= 8 * cfg.L); /* at least every own adapter tensor */
    CU_ASSERT(ok);
    free(params);
    free(grads);
    model_free(m);
    be->destroy(be);
}

static void check_fd(int task, int task_layers) {
    ModelConfig cfg = FD_CFG;
    cfg.task_layers = task_layers;
    check_fd_cfg(task, &cfg);
}

/* LoRA r = 2 on every projection of a frozen encoder, dropout 0.2: each of
 * the task's adapter tensors (8 per layer) and head tensors matches the
 * central difference; the other task's adapters and head get exactly 0. */
static void test_fd_lora(void) {
    ModelConfig cfg = FD_CFG;
    cfg.frozen_encoder = 1;
    cfg.lora_rank = 2;
    cfg.lora_alpha = 3.0f;
    cfg.lora_targets = LORA_ALL;
    check_fd_cfg(TASK_NER, &cfg);
    check_fd_cfg(TASK_QA, &cfg);
}

static void test_fd_ner(void) { check_fd(TASK_NER, 0); }
static void test_fd_qa(void) { check_fd(TASK_QA, 0); }
/* K = 1 of 2 and K = 0 (two single-task encoders) */
static void test_fd_split(void) {
    for (int tl = 1; tl <= 2; tl++) {
        check_fd(TASK_NER, tl);
        check_fd(TASK_QA, tl);
    }
}

/* ---- batch slices (data parallelism, impl/train/dist.h) -------------------------- */

/* model_buffer_apply callback: x = ctx's floats (host backend). */
static void fill_grads(Backend *be, float *x, size_t n, void *ctx) {
    (void)be;
    memcpy(x, ctx, n * sizeof *x);
}



/* Loss and gradients (weight 1) of b on a fresh model with init seed 5. */
static double loss_and_grads(Model *m, const Batch *b, float *grads) {
    Err err;
    float l = 0;
    model_zero_grad(m);
    CU_ASSERT_FATAL(model_forward(m, b, 1, 99, 3, 1, &l, &err) == 0);
    model_backward(m, b, 1.0f);
    model_grads_to_host(m, grads);
    return l;
}

/* Two ranks' slices of a batch (rows [0,1) and [1,3), dropout 0.2): their
 * losses and gradients sum to the whole batch's (up to fp32 rounding): the
 * losses are normalised by the global counts and the dropout masks are the
 * global batch's rows (without the row offset they are other masks and the
 * gradients differ by O(1)). */
static void check_slices(int task) {
    const ModelConfig cfg = FD_CFG;
    enum { B = 3, T = 8 };
    int ids[B * T], types[B * T], mask[B * T], labels[B * T], start[B] = {1, 2, -100}, end[B] = {3, 5, 6};
    random_batch_ints(ids, B * T, cfg.V, 11);
    random_batch_ints(types, B * T, 2, 12);
    random_batch_ints(labels, B * T, cfg.num_labels, 13);
    for (int i = 0; i < B * T; i++) mask[i] = i % T < 8 - 2 * (i / T);
    labels[5] = labels[T + 2] = MTL_IGNORE_INDEX;
    Batch g = {.task = task, .B = B, .T = T, .ids = ids, .types = types, .mask = mask,
               .labels = labels, .start = start, .end = end};
    Backend *be = backend_cpu(1);
    Err err;
    Model *m = fd_model(be, B, T, &FD_CFG);
    size_t n = model_num_params(m);
    float *gw = xmalloc(n * sizeof *gw), *g0 = xmalloc(n * sizeof *g0), *g1 = xmalloc(n * sizeof *g1);
    double lw = loss_and_grads(m, &g, gw);
    Batch s0 = batch_slice(&g, 0, 1), s1 = batch_slice(&g, 1, 3);
    double l0 = loss_and_grads(m, &s0, g0), l1 = loss_and_grads(m, &s1, g1);
    double worst = 0, gmax = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)gw[i] - ((double)g0[i] + g1[i]));
        worst = d > worst ? d : worst;
        gmax = fabs(gw[i]) > gmax ? fabs(gw[i]) : gmax;
    }
    printf("    %s: loss %.7g vs slices %.7g + %.7g; max |grad - sum of slices| %.2e (max |grad| %.2e)\n",
           task == TASK_NER ? "ner" : "qa", lw, l0, l1, worst, gmax);
    CU_ASSERT(fabs(lw - (l0 + l1)) <= 1e-6 * fabs(lw));
    CU_ASSERT(worst <= 1e-5 * gmax);
    /* a slice may not claim more valid targets than its global batch */
    s1.global_valid[0] = 0;
    CU_ASSERT(model_forward(m, &s1, 1, 99, 3, 1, NULL, &err) != 0);
    free(gw);
    free(g0);
    free(g1);
    model_free(m);
    be->destroy(be);
}

/* ZeRO-1's pieces: an AdamW step done as two ranges (cut inside a tensor and
 * across a run of tensors with another decay flag) gives the bits of the
 * whole step, and the shards' squared norms add up to the whole norm. */
static void test_adamw_ranges(void) {
    Backend *be = backend_cpu(1);
    Model *a = fd_model(be, 2, 8, &FD_CFG), *b = fd_model(be, 2, 8, &FD_CFG);
    size_t n = model_num_params(a), cut = model_tensor(a, 1)->offset + 7; /* inside emb.pos */
    float *g = xmalloc(n * sizeof *g), *pa = xmalloc(n * sizeof *pa), *pb = xmalloc(n * sizeof *pb);
    for (size_t i = 0; i < n; i++) g[i] = (float)rng_uniform(3, 0, 9, i) - 0.5f;
    AdamWParams hp = {1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1.0f};
    for (int step = 0; step < 3; step++) {
        model_zero_grad(a), model_zero_grad(b);
        model_buffer_apply(a, MODEL_GRADS, fill_grads, g);
        model_buffer_apply(b, MODEL_GRADS, fill_grads, g);
        double whole = model_grad_sumsq_range(a, 0, n);
        double parts = model_grad_sumsq_range(b, 0, cut) + model_grad_sumsq_range(b, cut, n);
        CU_ASSERT(fabs(whole - parts) <= 1e-12 * whole);
        model_adamw_step(a, &hp, 1e-3f);
        size_t ranges[4] = {cut, n, 0, cut};
        model_adamw_step_ranges(b, &hp, 1e-3f, ranges, 2);
    }
    model_params_to_host(a, pa);
    model_params_to_host(b, pb);
    CU_ASSERT(memcmp(pa, pb, n * sizeof *pa) == 0);
    free(g), free(pa), free(pb);
    model_free(a), model_free(b);
    be->destroy(be);
}

static void test_slices_ner(void) { check_slices(TASK_NER); }
static void test_slices_qa(void) { check_slices(TASK_QA); }

/* ---- forward-only models ------------------------------------------------- */

/* model_create_inference (shared layer activations, no gradients) gives the
 * very bits of a training model's eval forward: logits and encoder output of
 * an NER and a QA batch with padding; and it holds less memory. */
static void test_inference_model_same_bits(void) {
    Backend *be = backend_cpu(2);
    ModelConfig c;
    Err err;
    CU_ASSERT_FATAL(config_from_preset(&c, "tiny", &err) == 0);
    const int B = 3, T = 24;
    Model *tm = model_create(&c, be, B, T, &err), *im = model_create_inference(&c, be, B, T, &err);
    CU_ASSERT_FATAL(tm && im);
    CU_ASSERT(model_is_inference(im) && !model_is_inference(tm));
    model_init(tm, 11);
    model_init(im, 11);
    int ids[3 * 24], mask[3 * 24], types[3 * 24], lab[3 * 24], pos[3] = {0, 5, -100};
    random_batch_ints(ids, B * T, c.V, 3);
    random_batch_ints(types, B * T, 2, 4);
    for (int i = 0; i < B * T; i++) mask[i] = i % T < T - 4 * (i / T), lab[i] = -100;
    size_t nh = (size_t)B * T * c.C, nl = (size_t)B * T * c.num_labels;
    float *h1 = malloc(nh * sizeof *h1), *h2 = malloc(nh * sizeof *h2);
    float *l1 = malloc(nl * sizeof *l1), *l2 = malloc(nl * sizeof *l2);
    int diff = 0;
    for (int task = TASK_NER; task <= TASK_QA; task++) {
        Batch b = {.task = task, .B = B, .T = T, .ids = ids, .types = types, .mask = mask, .labels = lab, .start = pos, .end = pos};
        CU_ASSERT_FATAL(model_forward(tm, &b, 0, 0, 0, 0, NULL, &err) == 0);
        model_get_hidden(tm, h1);
        model_get_logits(tm, l1);
        CU_ASSERT_FATAL(model_forward(im, &b, 0, 0, 0, 0, NULL, &err) == 0);
        model_get_hidden(im, h2);
        model_get_logits(im, l2);
        size_t n = task == TASK_NER ? nl : (size_t)B * T * 2;
        diff += memcmp(h1, h2, nh * sizeof *h1) != 0;
        diff += memcmp(l1, l2, n * sizeof *l1) != 0;
    }
    ModelCounts k = model_counts(&c, B, T);
    printf("    activations: training %zu bytes, forward-only %zu bytes\n", k.act_bytes, k.infer_act_bytes);
    CU_ASSERT_EQUAL(diff, 0);
    CU_ASSERT(k.infer_act_bytes * 2 < k.act_bytes);
    CU_ASSERT(model_act_bytes(im) == model_counts_infer_act_bytes(&k, be));
    CU_ASSERT(model_act_bytes(tm) == model_counts_act_bytes(&k, be));
    free(h1);
    free(h2);
    free(l1);
    free(l2);
    model_free(tm);
    model_free(im);
    be->destroy(be);
}

/* max |a - b| over n floats */
static double max_abs_diff(const float *a, const float *b, size_t n) {
    double d = 0.0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

/* model_freeze_weights (packed weights and fused epilogues, cpu_packed.h):
 * the encoder output within 1e-4 of the unfrozen model's, and writing the
 * parameters afterwards (model_init, a checkpoint load) drops the packed
 * copies: the forward then follows the new weights, not the stale ones. */
static void test_frozen_model_follows_writes(void) {
    Backend *be = backend_cpu(2);
    ModelConfig c;
    Err err;
    CU_ASSERT_FATAL(config_from_preset(&c, "tiny", &err) == 0);
    const int B = 2, T = 16;
    Model *ref = model_create_inference(&c, be, B, T, &err), *im = model_create_inference(&c, be, B, T, &err);
    CU_ASSERT_FATAL(ref && im);
    int ids[2 * 16], mask[2 * 16], types[2 * 16], lab[2 * 16], pos[2] = {1, 3};
    random_batch_ints(ids, B * T, c.V, 5);
    for (int i = 0; i < B * T; i++) mask[i] = 1, types[i] = 0, lab[i] = i % 3;
    Batch b = {.task = TASK_NER, .B = B, .T = T, .ids = ids, .types = types, .mask = mask, .labels = lab,
               .start = pos, .end = pos};
    size_t nh = (size_t)B * T * c.C;
    float *want = malloc(nh * sizeof *want), *got = malloc(nh * sizeof *got);
    char note[160];
    for (int seed = 11; seed <= 12; seed++) {
        model_init(ref, (uint64_t)seed);
        model_init(im, (uint64_t)seed); /* the second time: a write into frozen parameters */
        CU_ASSERT_FATAL(model_forward(ref, &b, 0, 0, 0, 0, NULL, &err) == 0);
        model_get_hidden(ref, want);
        CU_ASSERT_FATAL(model_forward(im, &b, 0, 0, 0, 0, NULL, &err) == 0);
        model_get_hidden(im, got);
        CU_ASSERT(memcmp(want, got, nh * sizeof *got) == 0); /* not frozen (again): the training forward's bits */
        if (!model_freeze_weights(im, note, sizeof note)) {
            testutil_skip("frozen model", note);
            break;
        }
        CU_ASSERT_FATAL(model_forward(im, &b, 0, 0, 0, 0, NULL, &err) == 0);
        model_get_hidden(im, got);
        double d = max_abs_diff(want, got, nh);
        printf("    seed %d: frozen vs plain encoder output max |diff| %.2g\n", seed, d);
        CU_ASSERT(d < 1e-4);
    }
    free(want);
    free(got);
    model_free(ref);
    model_free(im);
    be->destroy(be);
}

/* model_skip_padding: rows of 40, 7, 23 and 1 real tokens (T 40) run as 71
 * packed rows (rounded to 96); the real rows' encoder output and logits are
 * within 1e-5 of the padded forward's (same parameters), the padding rows of
 * the output are 0, and a row with a hole in its mask keeps the padded
 * layout, bitwise. */
static void test_skip_padding(void) {
    Backend *be = backend_cpu(2);
    ModelConfig c;
    Err err;
    CU_ASSERT_FATAL(config_from_preset(&c, "tiny", &err) == 0);
    enum { B = 4, T = 40 };
    const int len[B] = {40, 7, 23, 1};
    Model *pad = model_create_inference(&c, be, B, T, &err), *skip = model_create_inference(&c, be, B, T, &err);
    CU_ASSERT_FATAL(pad && skip);
    model_init(pad, 21);
    model_init(skip, 21);
    model_skip_padding(skip, 1);
    int ids[B * T], mask[B * T], types[B * T], lab[B * T], pos[B] = {0, 3, 5, 0};
    random_batch_ints(ids, B * T, c.V, 8);
    random_batch_ints(types, B * T, 2, 9);
    for (int i = 0; i < B * T; i++) mask[i] = i % T < len[i / T], lab[i] = -100;
    size_t nh = (size_t)B * T * c.C, nl = (size_t)B * T * c.num_labels;
    float *h1 = malloc(nh * sizeof *h1), *h2 = malloc(nh * sizeof *h2);
    float *l1 = malloc(nl * sizeof *l1), *l2 = malloc(nl * sizeof *l2);
    for (int task = TASK_NER; task <= TASK_QA; task++) {
        Batch b = {.task = task, .B = B, .T = T, .ids = ids, .types = types, .mask = mask, .labels = lab,
                   .start = pos, .end = pos};
        const int w = task == TASK_NER ? c.num_labels : 2;
        CU_ASSERT_FATAL(model_forward(pad, &b, 0, 0, 0, 0, NULL, &err) == 0);
        model_get_hidden(pad, h1);
        model_get_logits(pad, l1);
        ModelWork w0 = model_work_done(skip);
        CU_ASSERT_FATAL(model_forward(skip, &b, 0, 0, 0, 0, NULL, &err) == 0);
        CU_ASSERT_EQUAL(model_rows_run(skip), 96);
        ModelWork w1 = model_work_done(skip);
        CU_ASSERT(w1.rows - w0.rows == 96 && w1.tokens - w0.tokens == 71);
        double useful = 0.0; /* each row alone on its real tokens; the padded forward does more */
        for (int r = 0; r < B; r++) useful += model_forward_flops(&c, task, 1, len[r]);
        CU_ASSERT_EQUAL(w1.flops - w0.flops, useful);
        CU_ASSERT(useful < model_forward_flops(&c, task, B, T));
        model_get_hidden(skip, h2);
        model_get_logits(skip, l2);
        double dh = 0.0, dl = 0.0, padding = 0.0;
        for (int r = 0; r < B * T; r++) {
            if (r % T < len[r / T]) {
                dh = fmax(dh, max_abs_diff(h1 + (size_t)r * c.C, h2 + (size_t)r * c.C, (size_t)c.C));
                dl = fmax(dl, max_abs_diff(l1 + (size_t)r * w, l2 + (size_t)r * w, (size_t)w));
            } else {
                for (int k = 0; k < c.C; k++) padding = fmax(padding, fabs(h2[(size_t)r * c.C + k]));
            }
        }
        printf("    %s: packed vs padded max |diff| encoder output %.2g, logits %.2g; padding rows max |h| %g\n",
               task == TASK_NER ? "ner" : "qa", dh, dl, padding);
        CU_ASSERT(dh < 1e-5 && dl < 1e-5);
        CU_ASSERT_EQUAL(padding, 0.0);
    }
    mask[T + 10] = 1; /* row 1: a 1 after its 0s */
    Batch b = {.task = TASK_NER, .B = B, .T = T, .ids = ids, .types = types, .mask = mask, .labels = lab,
               .start = pos, .end = pos};
    CU_ASSERT_FATAL(model_forward(pad, &b, 0, 0, 0, 0, NULL, &err) == 0);
    model_get_hidden(pad, h1);
    CU_ASSERT_FATAL(model_forward(skip, &b, 0, 0, 0, 0, NULL, &err) == 0);
    model_get_hidden(skip, h2);
    CU_ASSERT_EQUAL(model_rows_run(skip), B * T);
    CU_ASSERT(memcmp(h1, h2, nh * sizeof *h1) == 0);
    free(h1);
    free(h2);
    free(l1);
    free(l2);
    model_free(pad);
    model_free(skip);
    be->destroy(be);
}

/* --attention recompute (the backward recomputes the attention probabilities,
 * nothing [B,NH,T,T] stored) gives the very gradients of the stored model:
 * an NER and a QA pass with dropout, accumulated, on two CPU models. */
static void test_attention_recompute_same_bits(void) {
    Backend *store = backend_cpu(2), *recompute = backend_cpu(2);
    char why[256];
    CU_ASSERT_FATAL(backend_set_attn_recompute(recompute, 1, why, sizeof why) == 0);
    ModelConfig c;
    Err err;
    CU_ASSERT_FATAL(config_from_preset(&c, "tiny", &err) == 0);
    const int B = 3, T = 24;
    Model *ms = model_create(&c, store, B, T, &err), *mr = model_create(&c, recompute, B, T, &err);
    CU_ASSERT_FATAL(ms && mr);
    model_init(ms, 5);
    model_init(mr, 5);
    int ids[3 * 24], mask[3 * 24], types[3 * 24], lab[3 * 24], st[3] = {1, 4, 2}, en[3] = {3, 9, 2};
    random_batch_ints(ids, B * T, c.V, 7);
    random_batch_ints(types, B * T, 2, 8);
    random_batch_ints(lab, B * T, c.num_labels, 9);
    for (int i = 0; i < B * T; i++) mask[i] = i % T < T - 5 * (i / T);
    Model *both[2] = {ms, mr};
    for (int k = 0; k < 2; k++) {
        model_zero_grad(both[k]);
        for (int task = TASK_NER; task <= TASK_QA; task++) {
            Batch b = {.task = task, .B = B, .T = T, .ids = ids, .types = types, .mask = mask, .labels = lab,
                       .start = st, .end = en};
            CU_ASSERT_FATAL(model_forward(both[k], &b, 1, 3, 1, (uint32_t)task, NULL, &err) == 0);
            model_backward(both[k], &b, 1.0f);
        }
    }
    size_t n = model_num_params(ms);
    float *g1 = xmalloc(n * sizeof *g1), *g2 = xmalloc(n * sizeof *g2);
    model_grads_to_host(ms, g1);
    model_grads_to_host(mr, g2);
    CU_ASSERT(memcmp(g1, g2, n * sizeof *g1) == 0);
    ModelCounts k = model_counts(&c, B, T);
    CU_ASSERT(model_counts_act_bytes(&k, recompute) + k.att_bytes == model_counts_act_bytes(&k, store));
    CU_ASSERT(k.att_bytes == (size_t)c.L * B * c.NH * T * T * sizeof(float));
    /* what the counts say is what was allocated: the CPU's attention takes no scratch */
    CU_ASSERT(model_act_bytes(ms) == model_counts_act_bytes(&k, store));
    CU_ASSERT(model_act_bytes(mr) == model_counts_act_bytes(&k, recompute));
    CU_ASSERT(k.scratch_bytes == (4 * (size_t)B * T * c.C + (size_t)B * c.NH * T * T) * sizeof(float));
    CU_ASSERT(model_counts_act_bytes(&k, store) == k.act_bytes - k.scratch_bytes + k.att_bytes);
    free(g1);
    free(g2);
    model_free(ms);
    model_free(mr);
    store->destroy(store);
    recompute->destroy(recompute);
}

static void test_lr_schedule(void) {
    /* warmup 10 of 110 steps, peak 1.0 */
    CU_ASSERT_DOUBLE_EQUAL(lr_schedule(0, 110, 10, 1.0f), 0.0, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(lr_schedule(5, 110, 10, 1.0f), 0.5, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(lr_schedule(10, 110, 10, 1.0f), 1.0, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(lr_schedule(60, 110, 10, 1.0f), 0.5, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(lr_schedule(110, 110, 10, 1.0f), 0.0, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(lr_schedule(200, 110, 10, 1.0f), 0.0, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(lr_schedule(0, 100, 0, 2.0f), 2.0, 1e-7);
    AdamWParams d = adamw_defaults();
    CU_ASSERT_DOUBLE_EQUAL(d.lr, 2e-5, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(d.weight_decay, 0.01, 1e-9);
}

/* ---- partial sharing: the same golden checks on debug_state_split.bin ---- */

static void with_split_state(void (*test)(void)) {
    golden_file = "reference/debug_state_split.bin";
    test();
    golden_file = "reference/debug_state_tiny.bin";
}
static void test_split_table_order(void) { with_split_state(test_golden_table_order); }

/* ---- LoRA: the same golden checks on debug_state_lora.bin ------------------ */

static void with_lora_state(void (*test)(void)) {
    golden_file = "reference/debug_state_lora.bin";
    test();
    golden_file = "reference/debug_state_tiny.bin";
}
static void test_lora_table_order(void) { with_lora_state(test_golden_table_order); }
static void test_lora_forward_backward(void) { with_lora_state(test_golden_forward_backward); }
static void test_lora_unmerged_forward_backward(void) {
    golden_unmerged = 1;
    with_lora_state(test_golden_forward_backward);
    golden_unmerged = 0;
}
static void test_lora_adamw_steps(void) { with_lora_state(test_golden_adamw_steps); }
static void test_split_forward_backward(void) { with_split_state(test_golden_forward_backward); }
static void test_split_adamw_steps(void) { with_split_state(test_golden_adamw_steps); }

/* A one-task step: the other task's copy gets gradient 0, and AdamW (as
 * PyTorch's, which steps every parameter that has a gradient, zero or not)
 * still moves it: weight decay on its weights, nothing else on a first step
 * (m = v = 0, so the Adam update is 0 / (0 + eps) = 0). */
static void test_split_one_task_step(void) {
    golden_file = "reference/debug_state_split.bin";
    Golden g;
    Backend *be = NULL;
    Model *m = golden_model(&g, &be);
    golden_file = "reference/debug_state_tiny.bin";
    CU_ASSERT_FATAL(m != NULL);
    Err err;
    model_zero_grad(m);
    CU_ASSERT_FATAL(model_forward(m, &g.ner, 1, 0, 0, 0, NULL, &err) == 0);
    model_backward(m, &g.ner, 1.0f);
    size_t n = model_num_params(m);
    float *grads = xmalloc(n * sizeof *grads), *before = xmalloc(n * sizeof *before),
          *after = xmalloc(n * sizeof *after);
    model_grads_to_host(m, grads);
    model_params_to_host(m, before);
    model_adamw_step(m, &g.hp, g.hp.lr);
    model_params_to_host(m, after);
    int zero_ok = 1, decay_ok = 1, ner_moved = 0;
    for (int i = 0; i < model_num_tensors(m); i++) {
        const ParamInfo *p = model_tensor(m, i);
        for (size_t j = p->offset; j < p->offset + p->numel; j++) {
            if (p->task == TASK_QA) {
                zero_ok &= grads[j] == 0.0f;
                /* decoupled decay: p - lr * wd * p (AdamW's first factor), then + 0 */
                float want = p->decay ? before[j] * (1.0f - g.hp.lr * g.hp.weight_decay) : before[j];
                decay_ok &= fabsf(after[j] - want) <= 2.5e-7f * fabsf(want); /* 2 ulps */
            } else if (p->task == TASK_NER && p->ndim == 2 && grads[j] != 0.0f) {
                ner_moved = 1;
            }
        }
    }
    CU_ASSERT(zero_ok);
    CU_ASSERT(decay_ok);
    CU_ASSERT(ner_moved);
    free(grads), free(before), free(after);
    golden_free(&g, m, be);
}

int main(void) {
    static const TestCase golden[] = {
        {"parameter table order = DEBUG_STATE.md", test_golden_table_order},
        {"forward logits, losses and every gradient vs PyTorch", test_golden_forward_backward},
        {"10 AdamW steps: losses vs PyTorch", test_golden_adamw_steps},
        {"bf16: logits, losses, every gradient vs PyTorch fp32 (bf16 tolerances)", test_golden_bf16},
        {NULL, NULL}};
    static const TestCase other[] = {
        {"parameter counts: encoder + heads", test_param_counts},
        {"shared layers K = 0..L: table, counts, both copies start equal", test_split_counts_and_init},
        {"NER backward with dropout = finite differences", test_fd_ner},
        {"QA backward with dropout = finite differences", test_fd_qa},
        {"shared layers K = 1 and 0 of 2: backward = finite differences, other task's copy untouched", test_fd_split},
        {"LoRA r = 2 on a frozen encoder: adapter and head gradients = finite differences, other task's 0", test_fd_lora},
        {"NER batch slices: losses and gradients sum to the whole batch's (global masks)", test_slices_ner},
        {"QA batch slices: losses and gradients sum to the whole batch's (global masks)", test_slices_qa},
        {"AdamW in two ranges (ZeRO-1 shards) == the whole step, bitwise", test_adamw_ranges},
        {"lr schedule: linear warmup and decay", test_lr_schedule},
        {"forward-only model == training model's eval forward, bitwise", test_inference_model_same_bits},
        {"frozen model: packed weights within 1e-4, a later write drops them", test_frozen_model_follows_writes},
        {"padding skipped: real rows within 1e-5 of the padded forward, padding rows 0", test_skip_padding},
        {"--attention recompute == stored probabilities, gradients bitwise", test_attention_recompute_same_bits},
        {NULL, NULL}};
    static const TestCase split[] = {
        {"parameter table order = debug_state_split.bin (qa.layer1.* after the heads)", test_split_table_order},
        {"forward logits, hidden states, losses and every gradient vs PyTorch", test_split_forward_backward},
        {"10 AdamW steps: losses vs PyTorch", test_split_adamw_steps},
        {"a NER-only step: QA copy's gradient 0, AdamW only decays it", test_split_one_task_step},
        {NULL, NULL}};
    static const TestCase lora[] = {
        {"parameter table order = debug_state_lora.bin (lora.* after the heads)", test_lora_table_order},
        {"forward logits, hidden states, losses; adapter and head gradients vs PyTorch, frozen ones none "
         "(projections on merged weights W + s B A)",
         test_lora_forward_backward},
        {"the same with the adapters as their own passes (as at bf16 / TF32)", test_lora_unmerged_forward_backward},
        {"10 AdamW steps on the trainable tensors: losses vs PyTorch", test_lora_adamw_steps},
        {NULL, NULL}};
    testutil_add_suite("model vs golden state", golden);
    testutil_add_suite("model vs golden state, shared layers K = 1 of 2", split);
    testutil_add_suite("model vs golden state, LoRA r = 4 on a frozen encoder", lora);
    testutil_add_suite("model", other);
    return testutil_run_all();
}

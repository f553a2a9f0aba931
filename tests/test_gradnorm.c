/* GradNorm loss balancing (impl/train/gradnorm.h): the update rule on worked
 * examples, the weight floor and renormalisation, the checkpoint state, and
 * the per-task gradient norms measured inside one joint backward against
 * norms from two separate backward passes. (reference/loss_weighting_check.py
 * replays a run's gradnorm.csv with torch autograd and torch.optim.Adam.) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "gradnorm.h"
#include "model.h"
#include "rng.h"
#include "testutil.h"

/* Worked by hand (see the numbers): step 1 sets L(0) = (2, 4), so r = (1, 1),
 * G = target and the gradient is 0: Adam moves nothing. Step 2: L = (1, 3)
 * gives Lt = (0.5, 0.75), r = (0.8, 1.2); with alpha 1 and G = (1, 1) the
 * targets are (0.8, 1.2), L_grad = 0.4 and dL/dw = (+1, -1). Adam at t = 2:
 * m = (0.1, -0.1), v = (0.001, 0.001), mhat / sqrt(vhat) = (0.1/0.19) /
 * sqrt(0.001/0.001999) = 0.744134, so w = 1 -/+ 0.025 * 0.744134. The slower
 * task (QA, r > 1) gains weight. */
static void test_update_worked_example(void) {
    GradNormState s;
    gradnorm_state_init(&s, 1.0, 0.025, (const double[NUM_TASKS]){1.0, 1.0});
    double l1[2] = {2, 4}, l2[2] = {1, 3}, G[2] = {1, 1};
    gradnorm_update(&s, l1, G);
    CU_ASSERT_EQUAL(s.t, 1);
    CU_ASSERT_DOUBLE_EQUAL(s.lgrad, 0.0, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(s.w[0], 1.0, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(s.loss0[1], 4.0, 0);
    gradnorm_update(&s, l2, G);
    CU_ASSERT_DOUBLE_EQUAL(s.r[0], 0.8, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(s.r[1], 1.2, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(s.target[1], 1.2, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(s.lgrad, 0.4, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(s.w[0], 0.981396579673852, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(s.w[1], 1.018603420326148, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(s.w[0] + s.w[1], 2.0, 1e-15);
}

/* The gradient with respect to w_i is sign(G_i - target_i) * G_i / w_i: with
 * equal rates (alpha irrelevant) the task with the larger gradient share loses
 * weight, and the step size does not depend on the scale of G (Adam). */
static void test_update_balances_norms(void) {
    double w_ner[2];
    for (int scale = 0; scale < 2; scale++) {
        GradNormState s;
        gradnorm_state_init(&s, 0.16, 0.025, (const double[NUM_TASKS]){1.0, 1.0});
        double L[2] = {3, 3}, G[2] = {scale ? 300.0 : 3.0, scale ? 100.0 : 1.0};
        for (int k = 0; k < 5; k++) gradnorm_update(&s, L, G);
        printf("\n  G scale %s: w after 5 updates %.9f / %.9f", scale ? "x100" : "x1", s.w[0], s.w[1]);
        CU_ASSERT(s.w[0] < 1.0 && s.w[1] > 1.0);
        CU_ASSERT_DOUBLE_EQUAL(s.w[0] + s.w[1], 2.0, 1e-12);
        CU_ASSERT_DOUBLE_EQUAL(s.w[0], 1.0 - 5 * 0.025, 2e-3); /* Adam: ~lr per step */
        w_ner[scale] = s.w[0];
    }
    CU_ASSERT_DOUBLE_EQUAL(w_ner[0], w_ner[1], 1e-9);
}

/* lambdas 2/1: the weights keep summing to 3; a huge learning rate would
 * drive w_ner negative, the floor keeps it at 1e-3 of the total before the
 * renormalisation. */
static void test_floor_and_renormalisation(void) {
    GradNormState s;
    gradnorm_state_init(&s, 0.16, 50.0, (const double[NUM_TASKS]){2.0, 1.0});
    double L[2] = {1, 1}, G[2] = {5, 1};
    gradnorm_update(&s, L, G);
    CU_ASSERT_DOUBLE_EQUAL(s.w[0] + s.w[1], 3.0, 1e-12);
    CU_ASSERT(s.w[0] > 0);
    double floor_w = 1e-3 * 3.0, raw_qa = 1.0 + 50.0; /* Adam's first step is lr * sign */
    CU_ASSERT_DOUBLE_EQUAL(s.w[0], floor_w * 3.0 / (floor_w + raw_qa), 1e-9);
    /* a zero or missing initial loss counts as the average rate */
    GradNormState z;
    gradnorm_state_init(&z, 1.0, 0.025, (const double[NUM_TASKS]){1.0, 1.0});
    double L0[2] = {0, 2}, L1[2] = {0, 1}, G1[2] = {1, 1};
    gradnorm_update(&z, L0, G1);
    gradnorm_update(&z, L1, G1);
    CU_ASSERT(isfinite(z.w[0]) && isfinite(z.w[1]));
    CU_ASSERT_DOUBLE_EQUAL(z.r[0], 1.0, 0);
}

static void test_pack_unpack(void) {
    GradNormState a, b;
    gradnorm_state_init(&a, 1.5, 0.025, (const double[NUM_TASKS]){1.0, 2.0});
    double L[2] = {2.5, 6.0}, G[2] = {0.3, 0.2};
    for (int k = 0; k < 3; k++, L[0] *= 0.9, L[1] *= 0.97) gradnorm_update(&a, L, G);
    double buf[GRADNORM_STATE_LEN];
    gradnorm_pack(&a, buf);
    gradnorm_state_init(&b, 1.5, 0.025, (const double[NUM_TASKS]){1.0, 2.0});
    Err e;
    CU_ASSERT_EQUAL(gradnorm_unpack(&b, buf, GRADNORM_STATE_LEN, &e), 0);
    gradnorm_update(&a, L, G);
    gradnorm_update(&b, L, G);
    CU_ASSERT(memcmp(a.w, b.w, sizeof a.w) == 0); /* resumes bit for bit */
    CU_ASSERT_EQUAL(gradnorm_unpack(&b, buf, GRADNORM_STATE_LEN - 1, &e), -1);
    double bad[GRADNORM_STATE_LEN];
    memcpy(bad, buf, sizeof bad);
    bad[0] = -1;
    CU_ASSERT_EQUAL(gradnorm_unpack(&b, bad, GRADNORM_STATE_LEN, &e), -1);
    memcpy(bad, buf, sizeof bad);
    bad[4] = NAN;
    CU_ASSERT_EQUAL(gradnorm_unpack(&b, bad, GRADNORM_STATE_LEN, &e), -1);
    GradNormState c; /* lambdas 1/1: weights that sum to 3 do not belong to this run */
    gradnorm_state_init(&c, 1.5, 0.025, (const double[NUM_TASKS]){1.0, 1.0});
    CU_ASSERT_EQUAL(gradnorm_unpack(&c, buf, GRADNORM_STATE_LEN, &e), -1);
    printf("\n  %s", e.msg);
}

/* ---- the measurement on a real model ------------------------------------ */

enum { DB = 4, DT = 16 };

static int draw(uint32_t s, uint64_t i, int hi) {
    return (int)(rng_uniform(11, 0, 0x7100u + s, i) * (float)hi);
}

typedef struct {
    int ids[DB * DT], mask[DB * DT], labels[DB * DT], start[DB], end[DB];
} Data;

static void fill(Data *d, int V) {
    for (int b = 0; b < DB; b++) {
        int len = 6 + draw(0, (uint64_t)b, DT - 5);
        for (int t = 0; t < DT; t++) {
            int i = b * DT + t;
            d->ids[i] = draw(1, (uint64_t)i, V);
            d->mask[i] = t < len;
            d->labels[i] = t < len ? draw(2, (uint64_t)i, NER_NUM_LABELS) : MTL_IGNORE_INDEX;
        }
        d->start[b] = draw(3, (uint64_t)b, len);
        d->end[b] = d->start[b] + draw(4, (uint64_t)b, len - d->start[b]);
    }
}

static double norm_of(const float *g, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return sqrt(s);
}

/* G from one joint backward (weights 0.7 / 1.3) vs ||grad of W|| from a NER-only
 * and a QA-only backward with the same weights and dropout masks. */
static void test_measured_norms_match_separate_passes(void) {
    ModelConfig cfg = {.preset = "gn", .L = 2, .C = 32, .NH = 4, .FFN = 64, .V = 100,
                       .maxT = 16, .type_vocab = 2, .num_labels = 9,
                       .heads = HEAD_NER | HEAD_QA, .ln_eps = 1e-12f, .p_drop = 0.1f,
                       .init_std = 0.02f};
    Backend *be = backend_cpu(2);
    Err err;
    Model *m = model_create(&cfg, be, DB, DT, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    model_init(m, 5);
    Data d;
    fill(&d, cfg.V);
    Batch ner = {.task = TASK_NER, .B = DB, .T = DT, .ids = d.ids, .mask = d.mask,
                 .labels = d.labels};
    Batch qa = {.task = TASK_QA, .B = DB, .T = DT, .ids = d.ids, .mask = d.mask,
                .start = d.start, .end = d.end};
    GradNorm g;
    CU_ASSERT_EQUAL_FATAL(gradnorm_init(&g, m, "", 0.16, 0.025, (const double[NUM_TASKS]){0.7, 1.3}, &err), 0);
    CU_ASSERT_STRING_EQUAL(g.W->name, "layer1.ffn.down.w");
    float l;
    double G[2], sep[2];
    model_zero_grad(m);
    CU_ASSERT_EQUAL(model_forward(m, &ner, 1, 9, 3, 0, &l, &err), 0);
    model_backward(m, &ner, 0.7f);
    gradnorm_after_task(&g, m, TASK_NER);
    CU_ASSERT_EQUAL(model_forward(m, &qa, 1, 9, 3, 1, &l, &err), 0);
    model_backward(m, &qa, 1.3f);
    gradnorm_after_task(&g, m, TASK_QA);
    memcpy(G, g.G, sizeof g.G);
    float *w = malloc(g.W->numel * sizeof(float));
    for (int k = 0; k < 2; k++) {
        model_zero_grad(m);
        const Batch *b = k == 0 ? &ner : &qa;
        CU_ASSERT_EQUAL(model_forward(m, b, 1, 9, 3, (uint32_t)k, &l, &err), 0);
        model_backward(m, b, k == 0 ? 0.7f : 1.3f);
        model_grad_tensor_to_host(m, g.W, w);
        sep[k] = norm_of(w, g.W->numel);
    }
    printf("\n  G joint %.9g / %.9g, separate %.9g / %.9g", G[0], G[1], sep[0], sep[1]);
    CU_ASSERT(G[0] > 0 && G[1] > 0);
    CU_ASSERT_DOUBLE_EQUAL(G[0], sep[0], 1e-12 * sep[0]); /* the same single pass */
    CU_ASSERT_DOUBLE_EQUAL(G[1], sep[1], 1e-5 * sep[1]);  /* a difference of float sums */
    Err e2;
    GradNorm bad;
    CU_ASSERT_EQUAL(gradnorm_init(&bad, m, "ner.w", 0.16, 0.025, (const double[NUM_TASKS]){1, 1}, &e2), -1);
    CU_ASSERT_EQUAL(gradnorm_init(&bad, m, "layer9.ffn.down.w", 0.16, 0.025, (const double[NUM_TASKS]){1, 1}, &e2), -1);
    printf("\n  %s", e2.msg);
    free(w);
    gradnorm_free(&g);
    model_free(m);
    be->destroy(be);
}

int main(void) {
    static const TestCase tests[] = {
        {"update rule on a worked example", test_update_worked_example},
        {"update balances gradient norms, scale-free", test_update_balances_norms},
        {"weight floor and renormalisation", test_floor_and_renormalisation},
        {"checkpoint state pack/unpack", test_pack_unpack},
        {"per-task norms in one joint backward = separate passes",
         test_measured_norms_match_separate_passes},
        {NULL, NULL}};
    testutil_add_suite("gradnorm", tests);
    return testutil_run_all();
}

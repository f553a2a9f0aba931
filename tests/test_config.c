/* Impossible shapes and bad batches: model_create / model_forward /
 * config_from_preset return an error whose message names the problem, and
 * nothing crashes. */
#include <string.h>

#include "backend.h"
#include "model.h"
#include "testutil.h"

enum { B = 2, T = 8 };

static ModelConfig small_config(void) {
    ModelConfig c = {.preset = "cfgtest", .L = 1, .C = 16, .NH = 4, .FFN = 32, .V = 40, .maxT = 8,
                     .type_vocab = 2, .num_labels = 9, .heads = HEAD_NER | HEAD_QA,
                     .ln_eps = 1e-12f, .p_drop = 0.0f, .init_std = 0.02f};
    return c;
}

/* msg contains every one of the (NULL-terminated) words; prints it. */
static int msg_has(const Err *err, const char *w1, const char *w2) {
    printf("    message: %s\n", err->msg);
    return strstr(err->msg, w1) != NULL && (!w2 || strstr(err->msg, w2) != NULL);
}

static void expect_create_fails(const ModelConfig *cfg, int maxB, int maxT, const char *w1,
                                const char *w2) {
    Backend *be = backend_cpu(1);
    Err err = {{0}};
    Model *m = model_create(cfg, be, maxB, maxT, &err);
    CU_ASSERT(m == NULL);
    CU_ASSERT(msg_has(&err, w1, w2));
    model_free(m);
    be->destroy(be);
}

static void test_bad_shapes(void) {
    ModelConfig c = small_config();
    c.NH = 3; /* 16 % 3 != 0 */
    expect_create_fails(&c, B, T, "not divisible", "NH=3");
    c = small_config();
    expect_create_fails(&c, B, 9, "maxT=9", "position");
    c = small_config();
    expect_create_fails(&c, 0, T, "maxB=0", NULL);
    c = small_config();
    c.L = 0;
    expect_create_fails(&c, B, T, "L=0 (num_hidden_layers)", "[1, 256]");
    c = small_config();
    c.heads = 0;
    expect_create_fails(&c, B, T, "heads", NULL);
    c = small_config();
    c.p_drop = 1.0f;
    expect_create_fails(&c, B, T, "dropout", NULL);
    /* shared layers K = L - task_layers in [0, L]; per-task layers need both heads */
    c = small_config();
    c.task_layers = c.L + 1;
    expect_create_fails(&c, B, T, "shared layers K=-1", "must be in [0, L=1]");
    c = small_config();
    c.task_layers = -1;
    expect_create_fails(&c, B, T, "shared layers K=2", "must be in [0, L=1]");
    c = small_config();
    c.task_layers = 1;
    c.heads = HEAD_NER;
    expect_create_fails(&c, B, T, "K=0 < L=1", "needs both heads");
}

/* Implausible sizes are refused by config_validate, naming the field, its
 * config.json key and the range, before model_create allocates anything. */
static void test_size_bounds(void) {
    ModelConfig c = small_config();
    Err err = {{0}};
    c.V = 2147483647;
    CU_ASSERT(config_validate(&c, &err) != 0);
    CU_ASSERT(msg_has(&err, "V=2147483647 (vocab_size)", "[5, 1048576]"));
    c = small_config();
    c.maxT = -16;
    CU_ASSERT(config_validate(&c, &err) != 0);
    CU_ASSERT(msg_has(&err, "maxT=-16 (max_position_embeddings)", "[2, 65536]"));
    c = small_config();
    c.type_vocab = 1025;
    CU_ASSERT(config_validate(&c, &err) != 0);
    CU_ASSERT(msg_has(&err, "type_vocab_size", "[1, 1024]"));
    c = small_config();
    c.num_labels = 100000;
    CU_ASSERT(config_validate(&c, &err) != 0);
    CU_ASSERT(msg_has(&err, "num_labels=100000", NULL));
    /* each size in range, the product not: 16384 x 2^20 word embeddings */
    c = small_config();
    c.C = 16384, c.NH = 16, c.V = 1 << 20;
    CU_ASSERT(config_validate(&c, &err) != 0);
    CU_ASSERT(msg_has(&err, "parameters", "at most"));
    /* the bounds config.json is read with are the same */
    const ConfigBound *b = config_bound("vocab_size");
    CU_ASSERT_FATAL(b != NULL);
    CU_ASSERT(b->lo == 5 && b->hi == 1 << 20 && !strcmp(b->field, "V"));
    CU_ASSERT(config_bound("hidden_size") && config_bound("hidden_size")->hi == 16384);
    CU_ASSERT(config_bound("layer_norm_eps") == NULL);
    /* every preset is inside them, and its parameter count is BERT's */
    for (int i = 0; CONFIG_PRESET_NAMES[i]; i++) {
        CU_ASSERT_FATAL(config_from_preset(&c, CONFIG_PRESET_NAMES[i], &err) == 0);
        CU_ASSERT(config_validate(&c, &err) == 0);
    }
    config_from_preset(&c, "base", &err);
    c.heads = HEAD_QA;
    /* bert-base-uncased without the pooler (768 x 768 + 768) and MLM head, + qa_outputs */
    CU_ASSERT(config_param_count(&c) == 109482240ull - 590592ull + 1538ull);
}

static void test_bad_preset(void) {
    ModelConfig c;
    Err err = {{0}};
    CU_ASSERT(config_from_preset(&c, "huge", &err) != 0);
    CU_ASSERT(msg_has(&err, "unknown preset 'huge'", "minilm"));
    CU_ASSERT(config_from_preset(&c, "minilm", &err) == 0);
}

typedef struct {
    int ids[B * T], types[B * T], mask[B * T], labels[B * T], start[B], end[B];
} Data;

static void valid_data(Data *d) {
    for (int i = 0; i < B * T; i++) {
        d->ids[i] = i % 40;
        d->types[i] = 0;
        d->mask[i] = 1;
        d->labels[i] = i % 9;
    }
    d->start[0] = 1, d->start[1] = 2, d->end[0] = 3, d->end[1] = 7;
}

static Batch batch_of(Data *d, int task) {
    Batch b = {.task = task, .B = B, .T = T, .ids = d->ids, .types = d->types, .mask = d->mask,
               .labels = d->labels, .start = d->start, .end = d->end};
    return b;
}

/* Forward on b fails with a message containing w1 and w2. */
static void expect_forward_fails(Model *m, const Batch *b, const char *w1, const char *w2) {
    Err err = {{0}};
    float loss = -1.0f;
    CU_ASSERT(model_forward(m, b, 0, 0, 0, 0, &loss, &err) != 0);
    CU_ASSERT(msg_has(&err, w1, w2));
    CU_ASSERT(loss == -1.0f); /* untouched */
}

static void test_bad_batches(void) {
    ModelConfig c = small_config();
    Backend *be = backend_cpu(1);
    Err err;
    Model *m = model_create(&c, be, B, T, &err);
    CU_ASSERT_FATAL(m != NULL);
    model_init(m, 1);
    Data d;
    valid_data(&d);
    Batch ok = batch_of(&d, TASK_NER);
    CU_ASSERT(model_forward(m, &ok, 0, 0, 0, 0, NULL, &err) == 0);
    ok.task = TASK_QA;
    CU_ASSERT(model_forward(m, &ok, 0, 0, 0, 0, NULL, &err) == 0);

    Batch b = batch_of(&d, TASK_NER);
    b.T = 9;
    expect_forward_fails(m, &b, "T=9", "maxT=8");
    b = batch_of(&d, TASK_NER);
    b.B = 3;
    expect_forward_fails(m, &b, "B=3", "maxB=2");
    d.labels[5] = 9;
    b = batch_of(&d, TASK_NER);
    expect_forward_fails(m, &b, "NER label 9", "[b=0, t=5]");
    valid_data(&d);
    d.ids[T + 2] = 40;
    expect_forward_fails(m, &b, "token id 40", "[b=1, t=2]");
    valid_data(&d);
    d.ids[3] = -1;
    expect_forward_fails(m, &b, "token id -1", NULL);
    valid_data(&d);
    d.types[4] = 2;
    expect_forward_fails(m, &b, "token type 2", NULL);
    valid_data(&d);
    d.mask[1] = 7;
    expect_forward_fails(m, &b, "mask value 7", NULL);
    valid_data(&d);
    d.end[1] = 8;
    b = batch_of(&d, TASK_QA);
    expect_forward_fails(m, &b, "QA end position 8", "T=8");
    valid_data(&d);
    b.task = 5;
    expect_forward_fails(m, &b, "unknown task 5", NULL);
    model_free(m);

    c.heads = HEAD_NER;
    m = model_create(&c, be, B, T, &err);
    CU_ASSERT_FATAL(m != NULL);
    b = batch_of(&d, TASK_QA);
    expect_forward_fails(m, &b, "no QA head", NULL);
    model_free(m);
    be->destroy(be);
}

int main(void) {
    static const TestCase tests[] = {{"impossible shapes are rejected by name", test_bad_shapes},
                                     {"implausible sizes are rejected naming the range", test_size_bounds},
                                     {"unknown preset is rejected", test_bad_preset},
                                     {"bad batches are rejected by position", test_bad_batches},
                                     {NULL, NULL}};
    testutil_add_suite("config", tests);
    return testutil_run_all();
}

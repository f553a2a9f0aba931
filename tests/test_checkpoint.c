/* SHA-256 (FIPS 180-4 vectors), the JSON writer, and checkpoints: round trip,
 * --init partial loading, and clear errors on truncated / corrupted /
 * mismatched files. */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "checkpoint.h"
#include "jsonw.h"
#include "sha256.h"
#include "testutil.h"

static void check_digest(const void *msg, size_t len, const char *expect) {
    uint8_t d[32];
    char hex[65];
    sha256(msg, len, d);
    sha256_hex(d, hex);
    CU_ASSERT_STRING_EQUAL(hex, expect);
}

/* FIPS 180-4 / NIST CSRC example vectors. */
static void test_sha256_vectors(void) {
    check_digest("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    check_digest("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_digest(m448, strlen(m448),
                 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                       "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    check_digest(m896, strlen(m896),
                 "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    /* one million 'a', fed in uneven pieces to exercise the block buffer */
    Sha256 s;
    sha256_init(&s);
    char a[997];
    memset(a, 'a', sizeof a);
    size_t left = 1000000;
    while (left) {
        size_t n = left < sizeof a ? left : sizeof a;
        sha256_update(&s, a, n);
        left -= n;
    }
    uint8_t d[32];
    char hex[65];
    sha256_final(&s, d);
    sha256_hex(d, hex);
    CU_ASSERT_STRING_EQUAL(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_json_writer(void) {
    JsonW w;
    jw_init(&w);
    jw_obj(&w, NULL);
    jw_str(&w, "s", "a\"b\\c\n");
    jw_num(&w, "x", 0.5);
    jw_num(&w, "nan", 0.0 / 0.0);
    jw_arr(&w, "a");
    jw_int(&w, NULL, 1);
    jw_int(&w, NULL, -2);
    jw_end(&w);
    jw_obj(&w, "empty");
    jw_end(&w);
    jw_end(&w);
    const char *expect = "{\n  \"s\": \"a\\\"b\\\\c\\n\",\n  \"x\": 0.5,\n  \"nan\": null,\n"
                         "  \"a\": [\n    1,\n    -2\n  ],\n  \"empty\": {}\n}";
    CU_ASSERT_EQUAL(w.len, strlen(expect));
    CU_ASSERT(w.buf && strncmp(w.buf, expect, w.len) == 0);
    jw_free(&w);
}

/* ---- checkpoints on a small random model -------------------------------- */

static ModelConfig small_config(int heads) {
    ModelConfig c;
    memset(&c, 0, sizeof c);
    snprintf(c.preset, sizeof c.preset, "test");
    c.L = 2, c.C = 16, c.NH = 2, c.FFN = 32, c.V = 50, c.maxT = 16, c.type_vocab = 2;
    c.num_labels = 9, c.heads = heads, c.ln_eps = 1e-12f, c.p_drop = 0.1f, c.init_std = 0.02f;
    return c;
}

typedef struct {
    Backend *be;
    Model *m;
} Fixture;

static Fixture make_model(int heads, uint64_t seed) {
    Fixture f;
    Err err;
    ModelConfig c = small_config(heads);
    f.be = backend_cpu(1);
    f.m = model_create(&c, f.be, 2, 8, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.m);
    model_init(f.m, seed);
    return f;
}

static void free_model(Fixture *f) {
    model_free(f->m);
    f->be->destroy(f->be);
}

/* Put distinct values in the Adam state by running one real step. */
static void one_step(Model *m) {
    int ids[16], mask[16], labels[16];
    for (int i = 0; i < 16; i++) ids[i] = (i * 7) % 50, mask[i] = 1, labels[i] = i % 9;
    Batch b = {.task = TASK_NER, .B = 2, .T = 8, .ids = ids, .mask = mask, .labels = labels};
    Err err;
    float loss;
    model_zero_grad(m);
    CU_ASSERT_EQUAL_FATAL(model_forward(m, &b, 1, 1, 0, 0, &loss, &err), 0);
    model_backward(m, &b, 1.0f);
    AdamWParams hp = adamw_defaults();
    model_adamw_step(m, &hp, 1e-3f);
}

static char tmpdir[256];

static const char *tmp_path(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

static TrainState sample_state(void) {
    TrainState st = {0};
    st.seed = 1234;
    st.step = 17;
    st.n_orders = 2;
    st.order[0] = (OrderState){100, 3, 41};
    st.order[1] = (OrderState){7, 0, 7};
    st.options = "task=mtl\nseed=1234\n";
    return st;
}

static void test_round_trip(void) {
    Fixture a = make_model(HEAD_NER | HEAD_QA, 5);
    one_step(a.m);
    TrainState st = sample_state();
    Err err;
    char path[512];
    snprintf(path, sizeof path, "%s", tmp_path("a.ckpt"));
    CU_ASSERT_EQUAL_FATAL(checkpoint_save(path, a.m, &st, &err), 0);

    Fixture b = make_model(HEAD_NER | HEAD_QA, 99); /* different init */
    TrainState got = {0};
    int rc = checkpoint_load(path, b.m, &got, &err);
    if (rc) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    size_t n = model_num_params(a.m);
    float *pa = malloc(n * 4), *pb = malloc(n * 4), *ma = malloc(n * 4), *mb = malloc(n * 4),
          *va = malloc(n * 4), *vb = malloc(n * 4);
    int ta, tb;
    model_params_to_host(a.m, pa);
    model_params_to_host(b.m, pb);
    model_optstate_to_host(a.m, ma, va, &ta);
    model_optstate_to_host(b.m, mb, vb, &tb);
    CU_ASSERT(memcmp(pa, pb, n * 4) == 0);
    CU_ASSERT(memcmp(ma, mb, n * 4) == 0);
    CU_ASSERT(memcmp(va, vb, n * 4) == 0);
    CU_ASSERT_EQUAL(ta, 1);
    CU_ASSERT_EQUAL(tb, 1);
    CU_ASSERT_EQUAL(got.seed, 1234);
    CU_ASSERT_EQUAL(got.step, 17);
    CU_ASSERT_EQUAL(got.adam_t, 1);
    CU_ASSERT_EQUAL(got.n_orders, 2);
    CU_ASSERT(got.order[0].n == 100 && got.order[0].epoch == 3 && got.order[0].pos == 41);
    CU_ASSERT(got.order[1].n == 7 && got.order[1].epoch == 0 && got.order[1].pos == 7);
    CU_ASSERT_STRING_EQUAL(got.options, st.options);
    /* saving again gives the same bytes (deterministic format) */
    CU_ASSERT_EQUAL(checkpoint_save(tmp_path("b.ckpt"), b.m, &got, &err), 0);
    size_t la, lb;
    char *fa = read_file_all(path, &la, &err), *fb = read_file_all(tmp_path("b.ckpt"), &lb, &err);
    CU_ASSERT(fa && fb && la == lb && memcmp(fa, fb, la) == 0);
    ModelConfig cfg;
    CU_ASSERT_EQUAL(checkpoint_read_config(path, &cfg, &err), 0);
    CU_ASSERT(cfg.C == 16 && cfg.L == 2 && cfg.heads == 3 && !strcmp(cfg.preset, "test"));
    free(fa), free(fb), free(pa), free(pb), free(ma), free(mb), free(va), free(vb);
    ckpt_state_free(&got);
    free_model(&a);
    free_model(&b);
}

/* Load must fail with a message containing every string in `want`. */
static void expect_load_error(const char *path, Model *m, const char *want1, const char *want2) {
    TrainState st = {0};
    Err err = {{0}};
    CU_ASSERT_EQUAL(checkpoint_load(path, m, &st, &err), -1);
    CU_ASSERT(strstr(err.msg, path) != NULL);
    CU_ASSERT(strstr(err.msg, want1) != NULL);
    if (want2) CU_ASSERT(strstr(err.msg, want2) != NULL);
    if (!strstr(err.msg, want1) || (want2 && !strstr(err.msg, want2)))
        printf("\n  unexpected message: %s\n", err.msg);
    ckpt_state_free(&st);
}

static void write_bytes(const char *path, const char *buf, size_t n) {
    Err err;
    CU_ASSERT_EQUAL_FATAL(atomic_write_file(path, buf, n, &err), 0);
}

static void test_corruption_errors(void) {
    Fixture a = make_model(HEAD_NER | HEAD_QA, 5);
    TrainState st = sample_state();
    Err err;
    char good[512];
    snprintf(good, sizeof good, "%s", tmp_path("good.ckpt"));
    CU_ASSERT_EQUAL_FATAL(checkpoint_save(good, a.m, &st, &err), 0);
    size_t len;
    char *buf = read_file_all(good, &len, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    char bad[512];
    snprintf(bad, sizeof bad, "%s", tmp_path("bad.ckpt"));

    /* truncated at many offsets: header, table, payload, checksum */
    size_t cuts[] = {0, 5, 10, 40, 90, 200, len / 2, len - 33, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_bytes(bad, buf, cuts[i]);
        expect_load_error(bad, a.m, "truncated", NULL);
    }
    /* bad magic, version */
    char *copy = malloc(len);
    memcpy(copy, buf, len);
    copy[0] = 'X';
    write_bytes(bad, copy, len);
    expect_load_error(bad, a.m, "bad magic", NULL);
    memcpy(copy, buf, len);
    copy[8] = 9;
    write_bytes(bad, copy, len);
    expect_load_error(bad, a.m, "version 9", "byte 8");
    /* a flipped payload bit -> checksum mismatch */
    memcpy(copy, buf, len);
    copy[len - 100] ^= 0x10;
    write_bytes(bad, copy, len);
    expect_load_error(bad, a.m, "checksum mismatch", NULL);
    /* trailing garbage */
    char *longer = malloc(len + 3);
    memcpy(longer, buf, len);
    memset(longer + len, 0, 3);
    write_bytes(bad, longer, len + 3);
    expect_load_error(bad, a.m, "trailing", NULL);
    /* a model with a different shape or heads */
    Fixture ner_only = make_model(HEAD_NER, 5);
    expect_load_error(good, ner_only.m, "heads=3 in the checkpoint", NULL);
    ModelConfig c = small_config(3);
    c.C = 32;
    Backend *be = backend_cpu(1);
    Model *wide = model_create(&c, be, 2, 8, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(wide);
    expect_load_error(good, wide, "C=16 in the checkpoint, 32 in this run", NULL);
    /* an AdamW counter past TRAIN_MAX_STEPS (t + 1 would overflow): refused */
    size_t np = model_num_params(a.m);
    float *mom = malloc(np * sizeof(float)), *vel = malloc(np * sizeof(float));
    int t0;
    model_optstate_to_host(a.m, mom, vel, &t0);
    model_optstate_from_host(a.m, mom, vel, INT32_MAX);
    free(mom);
    free(vel);
    CU_ASSERT_EQUAL_FATAL(checkpoint_save(bad, a.m, &st, &err), 0);
    expect_load_error(bad, a.m, "implausible training state", "adam t 2147483647");
    /* missing file */
    TrainState st2 = {0};
    CU_ASSERT_EQUAL(checkpoint_load(tmp_path("nope.ckpt"), a.m, &st2, &err), -1);
    CU_ASSERT(strstr(err.msg, "nope.ckpt") != NULL);
    model_free(wide);
    be->destroy(be);
    free_model(&ner_only);
    free_model(&a);
    free(copy);
    free(longer);
    free(buf);
}

/* The first non-finite value of a buffer, by index and kind. */
static void test_weights_check_finite(void) {
    float x[5] = {0.0f, -1.0f, 3e38f, 1e-40f, 2.0f};
    Err err = {{0}};
    CU_ASSERT_EQUAL(weights_check_finite(x, 5, "f.bin", "t", "", &err), 0);
    x[3] = INFINITY;
    x[4] = NAN;
    CU_ASSERT_EQUAL(weights_check_finite(x, 5, "f.bin", "emb.word", "", &err), -1);
    CU_ASSERT(strstr(err.msg, "f.bin: tensor 'emb.word' element 3 is inf") != NULL);
    x[3] = -INFINITY;
    CU_ASSERT_EQUAL(weights_check_finite(x, 4, "f.bin", "w", " (Adam first moment)", &err), -1);
    CU_ASSERT(strstr(err.msg, "'w' (Adam first moment) element 3 is -inf") != NULL);
    CU_ASSERT_EQUAL(weights_check_finite(x, 3, "f.bin", "w", "", &err), 0);
}

/* Re-seal a checkpoint image after editing it: the SHA-256 trailer. */
static void reseal(char *buf, size_t len) { sha256(buf, len - 32, (uint8_t *)buf + len - 32); }

/* A checkpoint whose checksum is valid but whose weights are NaN / Inf, or
 * whose config is implausible, is refused naming the file and the culprit. */
static void test_checksummed_but_bad(void) {
    Fixture a = make_model(HEAD_NER | HEAD_QA, 5);
    TrainState st = sample_state();
    Err err;
    size_t np = model_num_params(a.m);
    float *p = malloc(np * sizeof(float)), *keep = malloc(np * sizeof(float));
    model_params_to_host(a.m, keep);
    memcpy(p, keep, np * sizeof(float));
    const ParamInfo *pos = model_find_tensor(a.m, "emb.pos");
    p[pos->offset + 3] = NAN;
    model_params_from_host(a.m, p);
    char bad[512];
    snprintf(bad, sizeof bad, "%s", tmp_path("nan.ckpt"));
    CU_ASSERT_EQUAL_FATAL(checkpoint_save(bad, a.m, &st, &err), 0);
    model_params_from_host(a.m, keep);
    expect_load_error(bad, a.m, "tensor 'emb.pos' element 3 is nan", NULL);
    ModelConfig cfg;
    CU_ASSERT_EQUAL(checkpoint_read_config(bad, &cfg, &err), -1);
    CU_ASSERT(strstr(err.msg, "emb.pos") != NULL);
    /* the Adam state too */
    float *mom = malloc(np * sizeof(float)), *vel = malloc(np * sizeof(float));
    int t;
    model_optstate_to_host(a.m, mom, vel, &t);
    vel[np - 1] = INFINITY;
    model_optstate_from_host(a.m, mom, vel, t);
    CU_ASSERT_EQUAL_FATAL(checkpoint_save(bad, a.m, &st, &err), 0);
    expect_load_error(bad, a.m, "'qa.b' (Adam second moment) element 1 is inf", NULL);
    /* V = 2^31 - 1 in the config (checksum valid): refused before any allocation */
    size_t len;
    char *buf = read_file_all(bad, &len, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    int32_t v = INT32_MAX;
    memcpy(buf + 8 + 4 + 32 + 4 * 4, &v, 4); /* magic, version, preset, L C NH FFN */
    reseal(buf, len);
    write_bytes(bad, buf, len);
    expect_load_error(bad, a.m, "invalid model config", "V=2147483647 (vocab_size) must be in [5, 1048576]");
    free(buf);
    free(mom);
    free(vel);
    free(p);
    free(keep);
    free_model(&a);
}

/* Shared layers K = 1 of 2: a version-3 file (K after the config's floats),
 * with and without auxiliary state; round trip bitwise; refused by a K = L
 * model naming shared_layers; a forged K (checksum resealed) refused. */
static void test_split_version3(void) {
    ModelConfig c = small_config(HEAD_NER | HEAD_QA);
    c.task_layers = 1;
    Err err;
    Backend *be = backend_cpu(1);
    Model *a = model_create(&c, be, 2, 8, &err), *b = model_create(&c, be, 2, 8, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    model_init(a, 5);
    model_init(b, 6);
    one_step(a);
    char path[512];
    snprintf(path, sizeof path, "%s", tmp_path("split.ckpt"));
    for (int aux = 0; aux <= 1; aux++) {
        TrainState st = sample_state(), got = {0};
        st.n_aux = aux ? 3 : 0;
        for (int i = 0; i < st.n_aux; i++) st.aux[i] = 0.5 * i;
        CU_ASSERT_EQUAL_FATAL(checkpoint_save(path, a, &st, &err), 0);
        int rc = checkpoint_load(path, b, &got, &err);
        if (rc) printf("\n  %s\n", err.msg);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        CU_ASSERT_EQUAL(got.n_aux, st.n_aux);
        size_t n = model_num_params(a);
        float *pa = malloc(n * 4), *pb = malloc(n * 4);
        model_params_to_host(a, pa);
        model_params_to_host(b, pb);
        CU_ASSERT(memcmp(pa, pb, n * 4) == 0);
        free(pa), free(pb);
        ckpt_state_free(&got);
    }
    ModelConfig rc;
    CU_ASSERT_EQUAL(checkpoint_read_config(path, &rc, &err), 0);
    CU_ASSERT_EQUAL(rc.task_layers, 1);
    size_t len;
    char *buf = read_file_all(path, &len, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    CU_ASSERT_EQUAL(buf[8], 3);
    Fixture full = make_model(HEAD_NER | HEAD_QA, 5);
    expect_load_error(path, full.m, "shared_layers=1 in the checkpoint, 2 in this run", NULL);
    size_t k_off = 8 + 4 + 32 + 9 * 4 + 3 * 4; /* magic, version, preset, 9 ints, 3 floats */
    char bad[512];
    snprintf(bad, sizeof bad, "%s", tmp_path("split-bad.ckpt"));
    int32_t forged[2] = {2, -1}; /* K = L is never written as version 3; K < 0 */
    for (int i = 0; i < 2; i++) {
        memcpy(buf + k_off, &forged[i], 4);
        reseal(buf, len);
        write_bytes(bad, buf, len);
        expect_load_error(bad, a, "shared layer count", "must be in [0, L=2)");
    }
    free(buf);
    free_model(&full);
    model_free(a);
    model_free(b);
    be->destroy(be);
}

static void test_init_params(void) {
    /* an NER-only checkpoint initialises the encoder + NER head of an MTL model */
    Fixture ner = make_model(HEAD_NER, 5);
    TrainState st = sample_state();
    Err err;
    CU_ASSERT_EQUAL_FATAL(checkpoint_save(tmp_path("ner.ckpt"), ner.m, &st, &err), 0);
    Fixture mtl = make_model(HEAD_NER | HEAD_QA, 77);
    int copied = -1, skipped = -1;
    CU_ASSERT_EQUAL(checkpoint_init_params(tmp_path("ner.ckpt"), mtl.m, &copied, &skipped, &err), 0);
    CU_ASSERT_EQUAL(copied, model_num_tensors(ner.m));
    CU_ASSERT_EQUAL(skipped, 2); /* qa.w, qa.b */
    const ParamInfo *emb = model_find_tensor(mtl.m, "emb.word");
    CU_ASSERT_PTR_NOT_NULL_FATAL(emb);
    size_t n1 = model_num_params(ner.m), n2 = model_num_params(mtl.m);
    float *p1 = malloc(n1 * 4), *p2 = malloc(n2 * 4);
    model_params_to_host(ner.m, p1);
    model_params_to_host(mtl.m, p2);
    const ParamInfo *e1 = model_find_tensor(ner.m, "emb.word");
    CU_ASSERT(memcmp(p1 + e1->offset, p2 + emb->offset, emb->numel * 4) == 0);
    free(p1), free(p2);
    /* another encoder (C 32): refused, naming a tensor, instead of "0 loaded, all kept random" */
    ModelConfig c = small_config(HEAD_NER | HEAD_QA);
    c.C = 32;
    c.FFN = 64;
    Model *wide = model_create(&c, mtl.be, 2, 8, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(wide);
    CU_ASSERT_EQUAL(checkpoint_init_params(tmp_path("ner.ckpt"), wide, &copied, &skipped, &err), -1);
    CU_ASSERT(strstr(err.msg, "encoder tensor") && strstr(err.msg, "same encoder"));
    model_free(wide);
    free_model(&ner);
    free_model(&mtl);
}

/* Files in tmpdir whose name starts with prefix (temp files left behind). */
static int count_files_with_prefix(const char *prefix) {
    DIR *d = opendir(tmpdir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, prefix, strlen(prefix))) n++;
    closedir(d);
    return n;
}

/* A full disk, simulated with RLIMIT_FSIZE: write() fails part-way with EFBIG
 * (SIGXFSZ ignored), exactly where ENOSPC would. The save must fail with a
 * message naming the file, leave the previous checkpoint byte for byte, and
 * leave no temp file behind. */
static void test_disk_full(void) {
    Fixture a = make_model(HEAD_NER | HEAD_QA, 5);
    TrainState st = sample_state();
    Err err = {{0}};
    char path[512];
    snprintf(path, sizeof path, "%s", tmp_path("full.ckpt"));
    CU_ASSERT_EQUAL_FATAL(checkpoint_save(path, a.m, &st, &err), 0);
    size_t len0, len1;
    char *before = read_file_all(path, &len0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(before);

    one_step(a.m); /* different bytes to write */
    struct rlimit old, lim;
    CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 4096; /* the checkpoint is tens of KB: the write stops part-way */
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = checkpoint_save(path, a.m, &st, &err);
    int rc_json = atomic_write_file(tmp_path("full.json"), before, len0, &err);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);

    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT_EQUAL(rc_json, -1);
    CU_ASSERT(strstr(err.msg, "full.json") != NULL);
    CU_ASSERT(strstr(err.msg, "write failed") != NULL);
    char *after = read_file_all(path, &len1, &err);
    CU_ASSERT(after && len1 == len0 && memcmp(before, after, len0) == 0);
    CU_ASSERT_EQUAL(access(tmp_path("full.json"), F_OK), -1); /* never created */
    CU_ASSERT_EQUAL(count_files_with_prefix("full.ckpt.tmp"), 0);
    CU_ASSERT_EQUAL(count_files_with_prefix("full.json.tmp"), 0);
    free(before);
    free(after);
    free_model(&a);
}

static void test_options_diff(void) {
    char out[256];
    const char *ignore[] = {"threads", NULL};
    CU_ASSERT_EQUAL(ckpt_options_diff("a=1\nb=2\n", "a=1\nb=2\n", NULL, out, sizeof out), 0);
    CU_ASSERT_EQUAL(ckpt_options_diff("a=1\nb=2\n", "a=1\nb=3\n", NULL, out, sizeof out), 1);
    CU_ASSERT(strstr(out, "'b=2' in the checkpoint vs 'b=3' now") != NULL);
    CU_ASSERT_EQUAL(ckpt_options_diff("a=1\nthreads=2\n", "a=1\nthreads=4\n", ignore, out, sizeof out), 0);
    CU_ASSERT_EQUAL(ckpt_options_diff("a=1\n", "a=1\nc=5\n", NULL, out, sizeof out), 1);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mtl_test_ckpt.%ld", (long)getpid());
    Err err;
    if (mkdir_p(tmpdir, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    static const TestCase tests[] = {{"sha256 FIPS 180-4 vectors", test_sha256_vectors},
                                     {"json writer output", test_json_writer},
                                     {"checkpoint round trip (bitwise)", test_round_trip},
                                     {"truncated / corrupted / mismatched", test_corruption_errors},
                                     {"non-finite values are found by index", test_weights_check_finite},
                                     {"checksummed NaN weights / huge config refused", test_checksummed_but_bad},
                                     {"--init from a single-task checkpoint", test_init_params},
                                     {"shared layers K < L: version 3, round trip, K checked", test_split_version3},
                                     {"resume option comparison", test_options_diff},
                                     {"disk full: error, old file intact, no temp", test_disk_full},
                                     {NULL, NULL}};
    testutil_add_suite("checkpoint", tests);
    int rc = testutil_run_all();
    testutil_remove_tree(tmpdir);
    return rc;
}

/* The debug-state reader (impl/model/debugstate.c) on the committed golden file
 * reference/debug_state_tiny.bin, and on corrupted copies of it: every one
 * must fail cleanly with a message that names the file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "debugstate.h"
#include "testutil.h"

#define GOLDEN "reference/debug_state_tiny.bin"

/* ---- helpers ------------------------------------------------------------ */

static DebugState *load_golden(void) {
    const char *path = testutil_repo_path(GOLDEN);
    if (!path) {
        CU_FAIL("reference/debug_state_tiny.bin not found (run `make reference`)");
        return NULL;
    }
    Err err = {{0}};
    DebugState *ds = debugstate_load(path, &err);
    if (!ds) printf("\n    load failed: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL(ds);
    return ds;
}

/* 1 if the tensor exists with this dtype and shape (ndim = number of dims). */
static int has_tensor(const DebugState *ds, const char *name, int dtype, int ndim, int d0, int d1,
                      int d2) {
    const DsTensor *t = debugstate_get(ds, name);
    if (!t) {
        printf("\n    missing tensor '%s'\n", name);
        return 0;
    }
    const int want[3] = {d0, d1, d2};
    int ok = t->dtype == dtype && t->ndim == ndim;
    long numel = 1;
    for (int i = 0; ok && i < ndim; i++) {
        ok = t->shape[i] == want[i];
        numel *= want[i];
    }
    ok = ok && t->numel == numel && t->data != NULL;
    if (!ok) printf("\n    tensor '%s' has the wrong dtype/shape\n", name);
    return ok;
}

/* Both the parameter and its gradient, float32, [d0] or [d0,d1]. */
static int has_param(const DebugState *ds, const char *name, int d0, int d1) {
    char grad[96];
    snprintf(grad, sizeof grad, "grad.%s", name);
    int ndim = d1 ? 2 : 1;
    return has_tensor(ds, name, DS_F32, ndim, d0, d1, 0) &&
           has_tensor(ds, grad, DS_F32, ndim, d0, d1, 0);
}

static const int *config_of(const DebugState *ds) {
    const DsTensor *t = debugstate_get(ds, "config");
    return t && t->dtype == DS_I32 && t->numel == 10 ? t->data : NULL;
}

/* ---- the committed file ------------------------------------------------- */

static void test_config_and_hparams(void) {
    DebugState *ds = load_golden();
    if (!ds) return;
    const int *c = config_of(ds);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    const int want[10] = {2, 64, 4, 256, 512, 64, 2, 9, 4, 32}; /* L C NH FFN V maxT types labels B T */
    for (int i = 0; i < 10; i++) CU_ASSERT_EQUAL(c[i], want[i]);
    CU_ASSERT(has_tensor(ds, "hparams", DS_F32, 1, 8, 0, 0));
    const float *hp = debugstate_get(ds, "hparams")->data;
    const float hp_want[8] = {1e-12f, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1.0f, 1.0f};
    for (int i = 0; i < 8; i++) CU_ASSERT_DOUBLE_EQUAL(hp[i], hp_want[i], 1e-6 * fabsf(hp_want[i]));
    debugstate_free(ds);
}

static void test_all_params_and_grads(void) {
    DebugState *ds = load_golden();
    if (!ds) return;
    const int *c = config_of(ds);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    int L = c[0], C = c[1], FFN = c[3], V = c[4], maxT = c[5], types = c[6], nl = c[7];
    CU_ASSERT(has_param(ds, "emb.word", V, C));
    CU_ASSERT(has_param(ds, "emb.pos", maxT, C));
    CU_ASSERT(has_param(ds, "emb.type", types, C));
    CU_ASSERT(has_param(ds, "emb.ln.w", C, 0));
    CU_ASSERT(has_param(ds, "emb.ln.b", C, 0));
    for (int l = 0; l < L; l++) {
        struct {
            const char *suffix;
            int d0, d1;
        } p[] = {{"attn.qkv.w", 3 * C, C}, {"attn.qkv.b", 3 * C, 0}, {"attn.out.w", C, C},
                 {"attn.out.b", C, 0},     {"ln1.w", C, 0},          {"ln1.b", C, 0},
                 {"ffn.up.w", FFN, C},     {"ffn.up.b", FFN, 0},     {"ffn.down.w", C, FFN},
                 {"ffn.down.b", C, 0},     {"ln2.w", C, 0},          {"ln2.b", C, 0}};
        for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
            char name[64];
            snprintf(name, sizeof name, "layer%d.%s", l, p[i].suffix);
            CU_ASSERT(has_param(ds, name, p[i].d0, p[i].d1));
        }
    }
    CU_ASSERT(has_param(ds, "ner.w", nl, C));
    CU_ASSERT(has_param(ds, "ner.b", nl, 0));
    CU_ASSERT(has_param(ds, "qa.w", 2, C));
    CU_ASSERT(has_param(ds, "qa.b", 2, 0));
    debugstate_free(ds);
}

static void test_inputs_outputs(void) {
    DebugState *ds = load_golden();
    if (!ds) return;
    const int *c = config_of(ds);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    int C = c[1], nl = c[7], B = c[8], T = c[9];
    const char *bt[] = {"in.ids", "in.types", "in.mask", "in.ner_labels"};
    for (int i = 0; i < 4; i++) CU_ASSERT(has_tensor(ds, bt[i], DS_I32, 2, B, T, 0));
    CU_ASSERT(has_tensor(ds, "in.qa_start", DS_I32, 1, B, 0, 0));
    CU_ASSERT(has_tensor(ds, "in.qa_end", DS_I32, 1, B, 0, 0));
    CU_ASSERT(has_tensor(ds, "out.ner_logits", DS_F32, 3, B, T, nl));
    CU_ASSERT(has_tensor(ds, "out.qa_logits", DS_F32, 3, B, T, 2));
    CU_ASSERT(has_tensor(ds, "out.hidden", DS_F32, 3, B, T, C));
    CU_ASSERT(has_tensor(ds, "out.loss_ner", DS_F32, 1, 1, 0, 0));
    CU_ASSERT(has_tensor(ds, "out.loss_qa", DS_F32, 1, 1, 0, 0));
    CU_ASSERT(has_tensor(ds, "out.loss_total", DS_F32, 1, 1, 0, 0));
    CU_ASSERT(has_tensor(ds, "train.losses", DS_F32, 1, 10, 0, 0));
    CU_ASSERT_PTR_NULL(debugstate_get(ds, "no.such.tensor"));
    if (!debugstate_get(ds, "in.mask") || !debugstate_get(ds, "out.loss_total") ||
        !debugstate_get(ds, "train.losses")) {
        debugstate_free(ds);
        return;
    }
    /* padding: rows of 32, 27, 19 and 9 real tokens */
    const int *mask = debugstate_get(ds, "in.mask")->data;
    const int lens[4] = {32, 27, 19, 9};
    for (int b = 0; b < B && b < 4; b++) {
        int n = 0;
        for (int t = 0; t < T; t++) n += mask[b * T + t];
        CU_ASSERT_EQUAL(n, lens[b]);
    }
    /* total = lambda_ner * ner + qa; training lowers the loss */
    float ner = *(float *)debugstate_get(ds, "out.loss_ner")->data;
    float qa = *(float *)debugstate_get(ds, "out.loss_qa")->data;
    float total = *(float *)debugstate_get(ds, "out.loss_total")->data;
    const float *losses = debugstate_get(ds, "train.losses")->data;
    CU_ASSERT_DOUBLE_EQUAL(total, ner + qa, 1e-5);
    CU_ASSERT_DOUBLE_EQUAL(total, 5.667134, 1e-4); /* printed by write_debug_state.py */
    /* every row starts with [CLS] (101) of type 0 */
    const int *ids = debugstate_get(ds, "in.ids")->data, *types = debugstate_get(ds, "in.types")->data;
    for (int b = 0; b < B; b++) CU_ASSERT(ids[b * T] == 101 && types[b * T] == 0);
    CU_ASSERT_DOUBLE_EQUAL(losses[0], total, 1e-6);
    for (int i = 1; i < 10; i++) CU_ASSERT(losses[i] < losses[i - 1]);
    debugstate_free(ds);
}

/* ---- corrupted copies --------------------------------------------------- */

typedef struct {
    unsigned char *bytes;
    size_t len;
    char dir[64];
    char path[128];
} Scratch;

static int scratch_open(Scratch *s) {
    const char *golden = testutil_repo_path(GOLDEN);
    Err err = {{0}};
    memset(s, 0, sizeof *s);
    if (!golden) return -1;
    s->bytes = (unsigned char *)read_file_all(golden, &s->len, &err);
    if (!s->bytes) return -1;
    snprintf(s->dir, sizeof s->dir, "/tmp/mtl_test_ds_XXXXXX");
    if (!mkdtemp(s->dir)) return -1;
    snprintf(s->path, sizeof s->path, "%s/corrupt.bin", s->dir);
    return 0;
}

static void scratch_close(Scratch *s) {
    if (s->path[0]) unlink(s->path);
    if (s->dir[0]) rmdir(s->dir);
    free(s->bytes);
}

static void write_copy(const Scratch *s, const void *bytes, size_t len) {
    FILE *f = fopen(s->path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(fwrite(bytes, 1, len, f), len);
    fclose(f);
}

/* Load the scratch file: it must fail, and the message must name the file
 * and contain `expect` (when non-NULL). Returns 1 if so. */
static int fails_with(const Scratch *s, const char *expect, const char *what) {
    Err err = {{0}};
    DebugState *ds = debugstate_load(s->path, &err);
    if (ds) {
        debugstate_free(ds);
        printf("\n    %s: loaded although corrupted\n", what);
        return 0;
    }
    int ok = strstr(err.msg, s->path) != NULL && (!expect || strstr(err.msg, expect));
    if (!ok) printf("\n    %s: unexpected message: %s\n", what, err.msg);
    return ok;
}

/* Write the golden bytes with one uint32 replaced at `offset`. */
static int patched_fails(Scratch *s, size_t offset, uint32_t value, const char *expect) {
    unsigned char *copy = malloc(s->len);
    memcpy(copy, s->bytes, s->len);
    memcpy(copy + offset, &value, sizeof value);
    write_copy(s, copy, s->len);
    free(copy);
    char what[64];
    snprintf(what, sizeof what, "u32 0x%X at byte %zu", value, offset);
    return fails_with(s, expect, what);
}

static void test_truncations(void) {
    Scratch s;
    CU_ASSERT_FATAL(scratch_open(&s) == 0);
    /* every offset in the header, ~50 spread over the file, every offset
     * through a few record headers (name length, name, dtype, ndim, shape,
     * first data bytes), then the last bytes (missing or partial trailer) */
    int bad = 0, tried = 0;
    for (size_t cut = 0; cut < s.len; cut += cut < 64 ? 1 : s.len / 50 + 1) {
        write_copy(&s, s.bytes, cut);
        bad += !fails_with(&s, "truncated", "truncated");
        tried++;
    }
    const char *names[] = {"emb.pos", "layer1.ln2.b", "train.losses"};
    for (int i = 0; i < 3; i++) {
        const unsigned char *at = memmem(s.bytes, s.len, names[i], strlen(names[i]));
        CU_ASSERT_PTR_NOT_NULL_FATAL(at);
        size_t rec = (size_t)(at - s.bytes) - 4; /* the name length field */
        for (size_t cut = rec; cut < rec + 48 && cut < s.len; cut++) {
            write_copy(&s, s.bytes, cut);
            int named = cut >= rec + 4 + strlen(names[i]); /* the name was read */
            bad += !fails_with(&s, named ? names[i] : "tensor #", names[i]);
            tried++;
        }
    }
    for (size_t k = 1; k <= 4; k++) {
        write_copy(&s, s.bytes, s.len - k);
        bad += !fails_with(&s, k == 4 ? "missing trailer" : "trailer", "cut trailer");
        tried++;
    }
    printf("\n    %d truncated copies, %d not rejected cleanly\n", tried, bad);
    CU_ASSERT_EQUAL(bad, 0);
    /* a cut inside the first big tensor names it */
    write_copy(&s, s.bytes, s.len / 8);
    CU_ASSERT(fails_with(&s, "data of 'layer0.attn.qkv.w'", "cut in data"));
    scratch_close(&s);
}

static void test_bad_headers(void) {
    Scratch s;
    CU_ASSERT_FATAL(scratch_open(&s) == 0);
    /* layout of the first record: header 16 bytes, then "config":
     * name length @16, name @20..25, dtype @26, ndim @30, shape[0] @34 */
    CU_ASSERT(patched_fails(&s, 0, 0x4B4C4F46u, "magic"));
    CU_ASSERT(patched_fails(&s, 8, 2, "version"));
    CU_ASSERT(patched_fails(&s, 8, 0, "version"));
    CU_ASSERT(patched_fails(&s, 12, 0xFFFFFFFFu, "tensor count"));
    CU_ASSERT(patched_fails(&s, 12, 1000, "name length")); /* reads the trailer as a record */
    CU_ASSERT(patched_fails(&s, 12, 2, "trailer")); /* stops early: no trailer there */
    CU_ASSERT(patched_fails(&s, 16, 0x7FFFFFFFu, "name length"));
    CU_ASSERT(patched_fails(&s, 16, 0, "name length"));
    CU_ASSERT(patched_fails(&s, 26, 7, "dtype"));
    CU_ASSERT(patched_fails(&s, 30, 99, "ndim"));
    CU_ASSERT(patched_fails(&s, 30, 5, "ndim"));
    CU_ASSERT(patched_fails(&s, 34, 0xFFFFFFFFu, "shape"));
    CU_ASSERT(patched_fails(&s, 34, 0x40000000u, "data of 'config'")); /* 4 GB: truncated */
    CU_ASSERT(patched_fails(&s, s.len - 4, 0xDEADBEEFu, "trailer"));
    /* garbage appended after the trailer */
    unsigned char *longer = malloc(s.len + 3);
    memcpy(longer, s.bytes, s.len);
    memset(longer + s.len, 0xAB, 3);
    write_copy(&s, longer, s.len + 3);
    free(longer);
    CU_ASSERT(fails_with(&s, "after the trailer", "appended bytes"));
    scratch_close(&s);
}

/* A tiny hand-built file: header, then records appended with put_*. */
typedef struct {
    unsigned char b[512];
    size_t n;
} Blob;

static void put_u32(Blob *f, uint32_t v) {
    memcpy(f->b + f->n, &v, 4);
    f->n += 4;
}

static void put_header(Blob *f, uint32_t count) {
    memcpy(f->b, "MTLDBG\0\0", 8);
    f->n = 8;
    put_u32(f, 1);
    put_u32(f, count);
}

/* Name, dtype, ndim, shape (no data). */
static void put_record_head(Blob *f, const char *name, uint32_t dtype, uint32_t ndim,
                            const uint32_t *shape) {
    put_u32(f, (uint32_t)strlen(name));
    memcpy(f->b + f->n, name, strlen(name));
    f->n += strlen(name);
    put_u32(f, dtype);
    put_u32(f, ndim);
    for (uint32_t i = 0; i < ndim; i++) put_u32(f, shape[i]);
}

static void put_valid_pair(Blob *f, const char *second_name) {
    const double pi = 3.25;
    put_record_head(f, "s", DS_F64, 0, NULL); /* scalar: one element */
    memcpy(f->b + f->n, &pi, 8);
    f->n += 8;
    const uint32_t zero[1] = {0};
    put_record_head(f, second_name, DS_I32, 1, zero); /* empty tensor */
}

static void test_synthetic_files(void) {
    Scratch s;
    CU_ASSERT_FATAL(scratch_open(&s) == 0);
    Blob f;
    /* valid: a float64 scalar and an empty int32 vector */
    put_header(&f, 2);
    put_valid_pair(&f, "e");
    put_u32(&f, 0xC0FFEE01u);
    write_copy(&s, f.b, f.n);
    Err err = {{0}};
    DebugState *ds = debugstate_load(s.path, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    const DsTensor *sc = debugstate_get(ds, "s"), *e = debugstate_get(ds, "e");
    CU_ASSERT(sc && sc->ndim == 0 && sc->numel == 1 && *(double *)sc->data == 3.25);
    CU_ASSERT(e && e->ndim == 1 && e->numel == 0);
    debugstate_free(ds);
    /* the same with a duplicate name */
    put_header(&f, 2);
    put_valid_pair(&f, "s");
    put_u32(&f, 0xC0FFEE01u);
    write_copy(&s, f.b, f.n);
    CU_ASSERT(fails_with(&s, "duplicate", "duplicate name"));
    /* a 4-d shape whose product overflows */
    const uint32_t huge[4] = {0x7FFFFFFFu, 0x7FFFFFFFu, 0x7FFFFFFFu, 0x7FFFFFFFu};
    put_header(&f, 1);
    put_record_head(&f, "big", DS_F32, 4, huge);
    write_copy(&s, f.b, f.n);
    CU_ASSERT(fails_with(&s, "overflows", "shape overflow"));
    /* a name with a control character */
    put_header(&f, 1);
    put_record_head(&f, "a\nb", DS_F32, 0, NULL);
    write_copy(&s, f.b, f.n);
    CU_ASSERT(fails_with(&s, "printable", "bad name"));
    /* zero tensors: just the trailer */
    put_header(&f, 0);
    put_u32(&f, 0xC0FFEE01u);
    write_copy(&s, f.b, f.n);
    ds = debugstate_load(s.path, &err);
    CU_ASSERT(ds && ds->n == 0);
    debugstate_free(ds);
    scratch_close(&s);
}

static void test_missing_file(void) {
    Err err = {{0}};
    const char *path = "/nonexistent/dir/debug_state.bin";
    CU_ASSERT_PTR_NULL(debugstate_load(path, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, path));
    debugstate_free(NULL); /* harmless */
}

int main(void) {
    static const TestCase tests[] = {
        {"golden file: config and hparams", test_config_and_hparams},
        {"golden file: every parameter and its gradient", test_all_params_and_grads},
        {"golden file: inputs, outputs, losses", test_inputs_outputs},
        {"truncated copies fail with the file name", test_truncations},
        {"bad magic/version/count/name/dtype/ndim/shape/trailer", test_bad_headers},
        {"hand-built files: scalar, empty, duplicate, overflow, bad name", test_synthetic_files},
        {"missing file", test_missing_file},
        {NULL, NULL}};
    testutil_add_suite("debugstate", tests);
    return testutil_run_all();
}

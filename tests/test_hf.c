/* Hugging Face BERT in and out: the safetensors reader / writer
 * (impl/base/safetensors.h) and config.json / tokenizer_config.json / weights
 * loading and export (impl/model/hf_bert.h).
 *
 *   - safetensors: writer round trip (layout, offsets, bitwise data), F16 /
 *     BF16 conversion to the exact floats, refused dtypes, every malformed
 *     header / offset / layout refused with a message naming the problem,
 *     every truncation of a valid file refused;
 *   - config.json: a tiny BERT accepted, every unsupported / missing /
 *     malformed key refused by name; tokenizer_config.json;
 *   - a tiny random model exported (NER and QA) and loaded back: encoder and
 *     the exported head bitwise, the other head untouched; failed loads
 *     (missing tensor, wrong shape, unsupported dtype) leave the model
 *     bitwise unchanged; classifier rows follow id2label by label name;
 *     "bert." prefix optional, old LayerNorm gamma / beta names. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "conll.h"
#include "hf_bert.h"
#include "safetensors.h"
#include "testutil.h"

static char tmpdir[256];

/* tmpdir/name (a static buffer: copy it before the next call). */
static const char *tmp_path(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

static void write_bytes(const char *path, const void *buf, size_t n) {
    Err err;
    int rc = atomic_write_file(path, buf, n, &err);
    if (rc) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    write_bytes(p, text, strlen(text));
}

static void make_dir(const char *dir) {
    Err err;
    CU_ASSERT_EQUAL_FATAL(mkdir_p(dir, &err), 0);
}

static uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* A safetensors image: u64 little-endian header length, the header as given
 * (no padding), then dlen data bytes (data, or a 0,1,2,... pattern if NULL). */
static uint8_t *build_st(const char *hdr, const void *data, size_t dlen, size_t *len) {
    size_t hl = strlen(hdr);
    *len = 8 + hl + dlen;
    uint8_t *b = malloc(*len + 1);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, hdr, hl);
    for (size_t i = 0; i < dlen; i++) b[8 + hl + i] = data ? ((const uint8_t *)data)[i] : (uint8_t)i;
    return b;
}

/* st_parse must refuse buf with rc -1, a message containing want1 (and
 * want2), and leave st empty. */
static void expect_parse_fail(const uint8_t *buf, size_t len, const char *want1, const char *want2) {
    SafeTensors st;
    Err err = {{0}};
    int rc = st_parse(buf, len, "bad.safetensors", &st, &err);
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT(st.n == 0 && st.t == NULL && st.owned == NULL);
    int ok = strstr(err.msg, "bad.safetensors") != NULL && strstr(err.msg, want1) != NULL &&
             (!want2 || strstr(err.msg, want2) != NULL);
    CU_ASSERT(ok);
    if (!ok || rc != -1)
        printf("\n  rc %d, want '%s'%s%s, got: %s\n", rc, want1, want2 ? " + " : "", want2 ? want2 : "",
               err.msg);
    if (rc == 0) st_close(&st);
}

static void expect_hdr_fail(const char *hdr, size_t dlen, const char *want1, const char *want2) {
    size_t len;
    uint8_t *b = build_st(hdr, NULL, dlen, &len);
    expect_parse_fail(b, len, want1, want2);
    free(b);
}

/* ==================================================== safetensors: writer */

static void test_st_round_trip(void) {
    float a[5] = {1.0f, -0.0f, INFINITY, 0x1p-149f, -3.25f};
    uint32_t nan_bits = 0x7FC12345u; /* a NaN with a payload: copied bit for bit */
    memcpy(&a[2], &nan_bits, 4);
    float b[12], c[1] = {42.5f};
    for (int i = 0; i < 12; i++) b[i] = (float)i * 0.1f - 0.7f;
    StOut out[4] = {
        {"a", a, 1, {5, 0}},
        {"zero", a, 1, {0, 0}}, /* zero elements: begin == end */
        {"mat.b", b, 2, {3, 4}},
        {"c", c, 1, {1, 0}},
    };
    const float *src[4] = {a, a, b, c};
    size_t begin[4] = {0, 20, 20, 68}, end[4] = {20, 20, 68, 72};
    Err err;
    char path[512];
    snprintf(path, sizeof path, "%s", tmp_path("rt.safetensors"));
    CU_ASSERT_EQUAL_FATAL(st_write_f32(path, out, 4, &err), 0);

    /* exact layout: 8 + header (multiple of 8, space padded) + data */
    size_t len;
    uint8_t *raw = (uint8_t *)read_file_all(path, &len, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(raw);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | raw[i];
    CU_ASSERT_EQUAL(hlen % 8, 0);
    CU_ASSERT_EQUAL_FATAL(len, 8 + hlen + 72);
    CU_ASSERT_EQUAL(raw[8], '{');
    size_t jend = 8 + (size_t)hlen;
    while (jend > 8 && raw[jend - 1] == ' ') jend--;
    CU_ASSERT_EQUAL(raw[jend - 1], '}');
    CU_ASSERT(8 + hlen - jend < 8); /* padding only to the next multiple of 8 */
    char *hdr = strndup((const char *)raw + 8, jend - 8);
    cJSON *j = cJSON_Parse(hdr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(j, "__metadata__");
    CU_ASSERT(cJSON_IsObject(meta));
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(meta, "format");
    CU_ASSERT(cJSON_IsString(fmt) && !strcmp(fmt->valuestring, "pt"));
    cJSON_Delete(j);
    free(hdr);
    /* the data bytes are the floats, in the given order, back to back */
    const uint8_t *data = raw + 8 + hlen;
    CU_ASSERT(memcmp(data, a, 20) == 0);
    CU_ASSERT(memcmp(data + 20, b, 48) == 0);
    CU_ASSERT(memcmp(data + 68, c, 4) == 0);

    SafeTensors st;
    int rc = st_open(path, &st, &err);
    if (rc) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(st.n, 4); /* __metadata__ is no tensor */
    CU_ASSERT_EQUAL(st.data_len, 72);
    CU_ASSERT(st.data == st.owned + 8 + hlen);
    CU_ASSERT_STRING_EQUAL(st.path, path);
    CU_ASSERT_PTR_NULL(st_find(&st, "__metadata__"));
    CU_ASSERT_PTR_NULL(st_find(&st, "nope"));
    CU_ASSERT_PTR_NULL(st_find(&st, "mat"));
    for (int i = 0; i < 4; i++) {
        const StTensor *t = st_find(&st, out[i].name);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        CU_ASSERT(t == &st.t[i]); /* header order kept */
        CU_ASSERT_STRING_EQUAL(t->name, out[i].name);
        CU_ASSERT_EQUAL(t->dtype, ST_F32);
        CU_ASSERT_STRING_EQUAL(t->dtype_name, "F32");
        CU_ASSERT_EQUAL(t->ndim, out[i].ndim);
        int64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            CU_ASSERT_EQUAL(t->shape[d], out[i].shape[d]);
            numel *= out[i].shape[d];
        }
        CU_ASSERT_EQUAL(t->numel, numel);
        CU_ASSERT_EQUAL(t->begin, begin[i]);
        CU_ASSERT_EQUAL(t->end, end[i]);
        float got[16];
        memset(got, 0xAB, sizeof got);
        CU_ASSERT_EQUAL(st_read_f32(&st, t, got, &err), 0);
        CU_ASSERT(memcmp(got, src[i], (size_t)numel * 4) == 0);
        CU_ASSERT_EQUAL(f2u(got[numel]), 0xABABABABu); /* nothing written past numel */
    }
    st_close(&st);
    CU_ASSERT(st.n == 0 && st.t == NULL && st.owned == NULL);

    /* the same image parsed from memory */
    rc = st_parse(raw, len, NULL, &st, &err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_STRING_EQUAL(st.path, "<memory>");
    CU_ASSERT_EQUAL(st.n, 4);
    CU_ASSERT(st.data == raw + 8 + hlen && st.owned == NULL);
    st_close(&st);

    /* no tensors at all: a valid, empty file */
    CU_ASSERT_EQUAL(st_write_f32(tmp_path("empty.safetensors"), out, 0, &err), 0);
    CU_ASSERT_EQUAL(st_open(tmp_path("empty.safetensors"), &st, &err), 0);
    CU_ASSERT(st.n == 0 && st.data_len == 0);
    st_close(&st);

    /* a missing file is an error naming it */
    CU_ASSERT_EQUAL(st_open(tmp_path("absent.safetensors"), &st, &err), -1);
    CU_ASSERT(strstr(err.msg, "absent.safetensors") != NULL);

    CU_ASSERT_EQUAL(st_dtype_size(ST_F32), 4);
    CU_ASSERT_EQUAL(st_dtype_size(ST_F16), 2);
    CU_ASSERT_EQUAL(st_dtype_size(ST_BF16), 2);
    CU_ASSERT_EQUAL(st_dtype_size(ST_F64), 8);
    CU_ASSERT_EQUAL(st_dtype_size(ST_I64), 8);
    CU_ASSERT_EQUAL(st_dtype_size(ST_I32), 4);
    CU_ASSERT_EQUAL(st_dtype_size(ST_U8), 1);
    CU_ASSERT_EQUAL(st_dtype_size(ST_BOOL), 1);
    CU_ASSERT_EQUAL(st_dtype_size(ST_OTHER), 0);
    free(raw);
}

/* StList: owned buffers, ints as exact floats, written in order. */
static void test_st_list(void) {
    StList l;
    memset(&l, 0, sizeof l);
    for (int k = 0; k < 70; k++) { /* past the first capacity (64) */
        char name[32];
        snprintf(name, sizeof name, "t%02d", k);
        float *b = st_list_add(&l, name, 2, k % 2 ? 3 : 0);
        for (int i = 0; i < (k % 2 ? 6 : 2); i++) b[i] = (float)(k * 10 + i);
    }
    int ids[4] = {0, -7, 16777216, 101};
    st_list_add_ints(&l, "ids", ids, 4);
    CU_ASSERT_EQUAL(l.n, 71);
    Err err;
    CU_ASSERT_EQUAL_FATAL(st_list_write(&l, tmp_path("list.safetensors"), &err), 0);
    st_list_free(&l);
    CU_ASSERT(l.n == 0 && l.t == NULL && l.buf == NULL);
    SafeTensors st;
    CU_ASSERT_EQUAL_FATAL(st_open(tmp_path("list.safetensors"), &st, &err), 0);
    CU_ASSERT_EQUAL_FATAL(st.n, 71);
    int ok = 1;
    for (int k = 0; k < 70; k++) {
        char name[32];
        snprintf(name, sizeof name, "t%02d", k);
        const StTensor *t = &st.t[k];
        float v[6];
        ok &= !strcmp(t->name, name) && t->ndim == (k % 2 ? 2 : 1) && t->shape[0] == 2 &&
              (k % 2 == 0 || t->shape[1] == 3) && st_read_f32(&st, t, v, &err) == 0;
        for (int i = 0; ok && i < (k % 2 ? 6 : 2); i++) ok &= v[i] == (float)(k * 10 + i);
    }
    CU_ASSERT(ok);
    const StTensor *ti = st_find(&st, "ids");
    CU_ASSERT_FATAL(ti && ti->ndim == 1 && ti->shape[0] == 4);
    float f[4];
    CU_ASSERT_EQUAL(st_read_f32(&st, ti, f, &err), 0);
    CU_ASSERT(f[0] == 0.0f && f[1] == -7.0f && f[2] == 16777216.0f && f[3] == 101.0f);
    st_close(&st);
}

/* ================================================ safetensors: dtypes */

static void test_st_dtypes(void) {
    static const uint16_t h16[] = {0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x3C00,
                                   0xC100, 0x7BFF, 0x7C00, 0xFC00, 0x3555, 0x7E00, 0xFE01};
    const float hf[] = {0.0f,    -0.0f,   0x1p-24f, -0x1p-24f, 0x1.ff8p-15f, 0x1p-14f, 1.0f,
                        -2.5f,   65504.0f, INFINITY, -INFINITY, 0x1.554p-2f};
    enum { NH16 = sizeof h16 / sizeof h16[0], NHF = sizeof hf / sizeof hf[0] };
    static const uint16_t b16[] = {0x0000, 0x8000, 0x3F80, 0xC020, 0x7F80, 0xFF80,
                                   0x0001, 0x7F7F, 0x4049, 0x7FC0};
    const uint32_t bf_bits[] = {0x00000000u, 0x80000000u, 0x3F800000u, 0xC0200000u, 0x7F800000u,
                                0xFF800000u, 0x00010000u, 0x7F7F0000u, 0x40490000u};
    enum { NB16 = sizeof b16 / sizeof b16[0], NBF = sizeof bf_bits / sizeof bf_bits[0] };

    /* data: F16 [2, 7] | BF16 [10] | I64 [2] | I32 [1] | F64 [1] | F8_E4M3 [3] */
    uint8_t data[NH16 * 2 + NB16 * 2 + 16 + 4 + 8 + 3];
    size_t o = 0;
    for (int i = 0; i < NH16; i++) data[o++] = (uint8_t)h16[i], data[o++] = (uint8_t)(h16[i] >> 8);
    for (int i = 0; i < NB16; i++) data[o++] = (uint8_t)b16[i], data[o++] = (uint8_t)(b16[i] >> 8);
    for (; o < sizeof data; o++) data[o] = (uint8_t)o;
    char hdr[1024];
    size_t p0 = NH16 * 2, p1 = p0 + NB16 * 2;
    snprintf(hdr, sizeof hdr,
             "{\"__metadata__\":{\"x\":\"y\"},"
             "\"half\":{\"dtype\":\"F16\",\"shape\":[2,7],\"data_offsets\":[0,%zu]},"
             "\"bf\":{\"dtype\":\"BF16\",\"shape\":[%d],\"data_offsets\":[%zu,%zu]},"
             "\"pos_ids\":{\"dtype\":\"I64\",\"shape\":[1,2],\"data_offsets\":[%zu,%zu]},"
             "\"i32\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[%zu,%zu]},"
             "\"f64\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[%zu,%zu]},"
             "\"f8\":{\"dtype\":\"F8_E4M3\",\"shape\":[3],\"data_offsets\":[%zu,%zu]}}   ",
             p0, NB16, p0, p1, p1, p1 + 16, p1 + 16, p1 + 20, p1 + 20, p1 + 28, p1 + 28, p1 + 31);
    size_t len;
    uint8_t *buf = build_st(hdr, data, sizeof data, &len);
    SafeTensors st;
    Err err = {{0}};
    int rc = st_parse(buf, len, "dtypes.safetensors", &st, &err);
    if (rc) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(st.n, 6);

    const StTensor *th = st_find(&st, "half");
    CU_ASSERT_PTR_NOT_NULL_FATAL(th);
    CU_ASSERT(th->dtype == ST_F16 && th->ndim == 2 && th->numel == NH16);
    float got[NH16];
    CU_ASSERT_EQUAL_FATAL(st_read_f32(&st, th, got, &err), 0);
    for (int i = 0; i < NHF; i++) {
        CU_ASSERT_EQUAL(f2u(got[i]), f2u(hf[i]));
        if (f2u(got[i]) != f2u(hf[i]))
            printf("\n  half 0x%04X -> %a (0x%08X), want %a\n", h16[i], (double)got[i], f2u(got[i]),
                   (double)hf[i]);
    }
    CU_ASSERT(isnan(got[NH16 - 2]) && !signbit(got[NH16 - 2]));
    CU_ASSERT(isnan(got[NH16 - 1]) && signbit(got[NH16 - 1]));
    CU_ASSERT_EQUAL(got[2], ldexpf(1.0f, -24));
    CU_ASSERT_EQUAL(got[8], 65504.0f);

    const StTensor *tb = st_find(&st, "bf");
    CU_ASSERT_PTR_NOT_NULL_FATAL(tb);
    CU_ASSERT(tb->dtype == ST_BF16 && tb->numel == NB16);
    float gb[NB16];
    CU_ASSERT_EQUAL_FATAL(st_read_f32(&st, tb, gb, &err), 0);
    for (int i = 0; i < NBF; i++) CU_ASSERT_EQUAL(f2u(gb[i]), bf_bits[i]);
    CU_ASSERT_EQUAL(gb[2], 1.0f);
    CU_ASSERT_EQUAL(gb[3], -2.5f);
    CU_ASSERT_EQUAL(gb[8], 3.140625f);
    CU_ASSERT(isnan(gb[NB16 - 1]));

    /* other dtypes parse (their sizes checked) but are refused by name */
    static const struct {
        const char *name, *dtype;
        StDtype d;
        int64_t numel;
    } refused[] = {{"pos_ids", "I64", ST_I64, 2}, {"i32", "I32", ST_I32, 1},
                   {"f64", "F64", ST_F64, 1},     {"f8", "F8_E4M3", ST_OTHER, 3}};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        const StTensor *t = st_find(&st, refused[i].name);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        CU_ASSERT_EQUAL(t->dtype, refused[i].d);
        CU_ASSERT_STRING_EQUAL(t->dtype_name, refused[i].dtype);
        CU_ASSERT_EQUAL(t->numel, refused[i].numel);
        float sink[4] = {7, 7, 7, 7};
        Err e = {{0}};
        CU_ASSERT_EQUAL(st_read_f32(&st, t, sink, &e), -1);
        char want[64];
        snprintf(want, sizeof want, "'%s'", refused[i].name);
        CU_ASSERT(strstr(e.msg, want) != NULL);
        CU_ASSERT(strstr(e.msg, refused[i].dtype) != NULL);
        CU_ASSERT(strstr(e.msg, "dtypes.safetensors") != NULL);
        CU_ASSERT(sink[0] == 7 && sink[3] == 7); /* nothing written */
    }
    const StTensor *f64 = st_find(&st, "f64");
    CU_ASSERT(f64->ndim == 0 && f64->numel == 1); /* a scalar: shape [] */
    st_close(&st);
    free(buf);
}

/* ================================================ safetensors: bad files */

#define T1(name, dt, shape, b, e) \
    "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

static void test_st_bad_files(void) {
    /* shorter than the 8-byte length */
    uint8_t small[8] = {2, 0, 0, 0, 0, 0, 0, 0};
    for (size_t n = 0; n < 8; n++) expect_parse_fail(small, n, "too short", NULL);

    /* header length larger than the file, or absurd */
    {
        size_t len;
        uint8_t *b = build_st("{}", NULL, 0, &len);
        b[0] = 3; /* 3 > 2 bytes left */
        expect_parse_fail(b, len, "header length 3", "does not fit");
        memset(b, 0, 8);
        b[7] = 0x80; /* 2^63 */
        expect_parse_fail(b, len, "header length 9223372036854775808", NULL);
        memset(b, 0xFF, 8); /* 2^64 - 1: 8 + hlen would wrap */
        expect_parse_fail(b, len, "header length", NULL);
        free(b);
        /* above the 100 MiB limit (the file is not read past the 8 bytes) */
        uint8_t big[16] = {0};
        uint64_t h = (uint64_t)ST_MAX_HEADER + 1;
        for (int i = 0; i < 8; i++) big[i] = (uint8_t)(h >> (8 * i));
        expect_parse_fail(big, sizeof big, "header length", NULL);
    }
    /* the header itself */
    expect_hdr_fail("{\"a\": {\"dtype\": ", 0, "the header: invalid JSON at byte", "truncated");
    expect_hdr_fail("", 0, "the header: invalid JSON at byte 8", NULL);
    /* a tensor name "a\u0000b" would read as "a": refused, offset counted from the file's start */
    expect_hdr_fail("{\"a\\u0000b\": {}}", 0, "\\u0000 escape", "at byte 11 ");
    expect_hdr_fail("[1, 2]", 0, "not a JSON object", NULL);
    expect_hdr_fail("\"str\"", 0, "not a JSON object", NULL);
    expect_hdr_fail("{\"__metadata__\": [1]}", 0, "__metadata__", NULL);
    expect_hdr_fail("{\"t\": 5}", 4, "'t'", "not an object");
    expect_hdr_fail("{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "'w'", "dtype");
    expect_hdr_fail("{\"w\": {\"dtype\": 5, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "'w'", "dtype");
    /* shape */
    expect_hdr_fail("{" T1("w", "F32", "5", 0, 4) "}", 4, "'w'", "\"shape\" is not an array");
    expect_hdr_fail("{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4, "'w'", "shape");
    expect_hdr_fail("{" T1("w", "F32", "[-1]", 0, 4) "}", 4, "'w'", "shape[0]");
    expect_hdr_fail("{" T1("w", "F32", "[1, 1.5]", 0, 4) "}", 4, "'w'", "shape[1]");
    expect_hdr_fail("{" T1("w", "F32", "[\"1\"]", 0, 4) "}", 4, "'w'", "shape[0]");
    expect_hdr_fail("{" T1("w", "F32", "[1e300]", 0, 4) "}", 4, "'w'", "shape[0]");
    expect_hdr_fail("{" T1("w", "F32", "[1,1,1,1,1,1,1,1,1]", 0, 4) "}", 4, "'w'", "9 dimensions");
    expect_hdr_fail("{" T1("w", "F32", "[4294967296, 4294967296, 4294967296]", 0, 4) "}", 4, "'w'",
                    "overflows");
    expect_hdr_fail("{" T1("w", "F32", "[1125899906842624, 8192]", 0, 4) "}", 4, "'w'", "overflows");
    /* 2^58 elements pass the product check; their 2^61 bytes are no 4 */
    expect_hdr_fail("{" T1("w", "F64", "[4503599627370496, 64]", 0, 4) "}", 4, "'w'",
                    "needs 2305843009213693952 bytes");
    expect_hdr_fail("{" T1("w", "F32", "[9007199254740994]", 0, 4) "}", 4, "'w'", "shape[0]"); /* > 2^53 */
    /* data_offsets */
    expect_hdr_fail("{" T1("w", "F32", "[1]", 4, 0) "}", 4, "'w'", "outside");
    expect_hdr_fail("{" T1("w", "F32", "[2]", 0, 8) "}", 4, "'w'", "outside");
    expect_hdr_fail("{" T1("w", "F32", "[2]", 0, 4) "}", 4, "'w'", "needs 8 bytes");
    expect_hdr_fail("{" T1("w", "F16", "[3]", 0, 4) "}", 4, "'w'", "needs 6 bytes");
    expect_hdr_fail("{" T1("w", "F32", "[1]", -4, 0) "}", 4, "'w'", "data_offsets");
    expect_hdr_fail("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]}}", 8,
                    "'w'", "data_offsets");
    expect_hdr_fail("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": 0}}", 4, "'w'",
                    "data_offsets");
    expect_hdr_fail("{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4, "'w'", "data_offsets");
    /* layout */
    expect_hdr_fail("{" T1("a", "F32", "[2]", 0, 8) "," T1("b", "F32", "[2]", 4, 12) "}", 12,
                    "'b'", "overlaps tensor 'a'");
    expect_hdr_fail("{" T1("a", "F32", "[2]", 0, 8) "," T1("b", "F32", "[2]", 0, 8) "}", 8, "overlaps",
                    NULL);
    expect_hdr_fail("{" T1("a", "F32", "[1]", 0, 4) "," T1("b", "F32", "[1]", 8, 12) "}", 12,
                    "bytes 4..8 belong to no tensor", "'b'");
    expect_hdr_fail("{" T1("a", "F32", "[1]", 4, 8) "}", 8, "bytes 0..4 belong to no tensor", NULL);
    expect_hdr_fail("{" T1("a", "F32", "[1]", 0, 4) "}", 7, "bytes 4..7 belong to no tensor", NULL);
    expect_hdr_fail("{}", 1, "bytes 0..1 belong to no tensor", NULL);
    /* a name twice: the JSON reader refuses the duplicate key (jsonr.h) */
    expect_hdr_fail("{" T1("t", "F32", "[1]", 0, 4) "," T1("t", "F32", "[1]", 4, 8) "}", 8,
                    "duplicate key \"t\"", NULL);
    expect_hdr_fail("{" T1("t", "F32", "[0]", 0, 0) "," T1("t", "F32", "[0]", 0, 0) "}", 0, "duplicate key",
                    NULL);
    /* "__metadata__" must be {string: string} */
    expect_hdr_fail("{\"__metadata__\": {\"format\": [1, 2]}}", 0, "\"__metadata__\"", "\"format\" is not a string");
    expect_hdr_fail("{\"__metadata__\": {\"n\": 1}}", 0, "\"__metadata__\"", "\"n\" is not a string");
    expect_hdr_fail("{\"__metadata__\": {\"a\": \"b\", \"c\": null}}", 0, "\"c\" is not a string", NULL);
    expect_hdr_fail("{\"__metadata__\": \"pt\"}", 0, "\"__metadata__\" is not an object", NULL);

    /* sanity: the well-formed neighbours of those files are accepted */
    static const struct {
        const char *hdr;
        size_t dlen;
        int n;
    } good[] = {
        {"{}", 0, 0},
        {"  {\"__metadata__\": {\"format\": \"pt\"}}  ", 0, 0},
        {"{" T1("b", "F32", "[1]", 4, 8) "," T1("a", "F32", "[1]", 0, 4) "}", 8, 2},
        {"{" T1("a", "F32", "[2]", 0, 8) "," T1("b", "F32", "[1]", 8, 12) "}", 12, 2},
        {"{" T1("w", "F32", "[1,1,1,1,1,1,1,1]", 0, 4) "}", 4, 1},
        {"{" T1("w", "F32", "[0, 4294967296, 4294967296]", 0, 0) "}", 0, 1},
        {"{" T1("w", "U8", "[3]", 0, 3) "," T1("z", "BOOL", "[0]", 3, 3) "}", 3, 2},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        size_t len;
        uint8_t *b = build_st(good[i].hdr, NULL, good[i].dlen, &len);
        SafeTensors st;
        Err err = {{0}};
        int rc = st_parse(b, len, "good", &st, &err);
        if (rc) printf("\n  good[%zu] refused: %s\n", i, err.msg);
        CU_ASSERT_EQUAL(rc, 0);
        if (rc == 0) CU_ASSERT_EQUAL(st.n, good[i].n);
        if (rc == 0) st_close(&st);
        free(b);
    }
}

/* The header is ONE JSON object, padded with spaces only: bytes after it
 * (a second object, garbage) are refused, as by the reference reader. */
static void test_st_header_trailing(void) {
    expect_hdr_fail("{}xyz", 0, "JSON", NULL);
    expect_hdr_fail("{} {\"a\": 1}", 0, "JSON", NULL);
    expect_hdr_fail("{" T1("a", "F32", "[1]", 0, 4) "}\n}", 4, "JSON", NULL);
    /* trailing spaces (the writer's padding) stay fine */
    size_t len;
    uint8_t *b = build_st("{" T1("a", "F32", "[1]", 0, 4) "}       ", NULL, 4, &len);
    SafeTensors st;
    Err err;
    CU_ASSERT_EQUAL(st_parse(b, len, "pad", &st, &err), 0);
    st_close(&st);
    free(b);
}

/* Every proper prefix of a valid file is refused (and never read past). */
static void test_st_truncations(void) {
    float v[6] = {1, 2, 3, 4, 5, 6};
    StOut out[3] = {{"x", v, 2, {2, 2}}, {"e", v, 1, {0, 0}}, {"y", v + 4, 1, {2, 0}}};
    Err err;
    CU_ASSERT_EQUAL_FATAL(st_write_f32(tmp_path("trunc.safetensors"), out, 3, &err), 0);
    size_t len;
    uint8_t *full = (uint8_t *)read_file_all(tmp_path("trunc.safetensors"), &len, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(full);
    SafeTensors st;
    CU_ASSERT_EQUAL_FATAL(st_parse(full, len, "full", &st, &err), 0);
    CU_ASSERT_EQUAL(st.n, 3);
    st_close(&st);
    int refused = 0;
    for (size_t n = 0; n < len; n++) {
        uint8_t *p = malloc(n ? n : 1); /* exact size: ASan sees any over-read */
        memcpy(p, full, n);
        Err e = {{0}};
        int rc = st_parse(p, n, "prefix", &st, &e);
        if (rc == -1 && e.msg[0] && st.n == 0 && st.t == NULL) refused++;
        else printf("\n  prefix %zu of %zu: rc %d (%s)\n", n, len, rc, e.msg);
        if (rc == 0) st_close(&st);
        free(p);
    }
    CU_ASSERT_EQUAL(refused, (int)len);
    free(full);
}

/* The small fixture files (also the fuzzer's seeds) parse to what they say. */
static void test_st_fixtures(void) {
    const char *p = testutil_repo_path("tests/fixtures/hf/tiny_f32_f16_bf16.safetensors");
    if (!p) {
        CU_FAIL("tests/fixtures/hf/tiny_f32_f16_bf16.safetensors not found");
        return;
    }
    SafeTensors st;
    Err err;
    int rc = st_open(p, &st, &err);
    if (rc) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(st.n, 4);
    const StTensor *w = st_find(&st, "bert.embeddings.LayerNorm.weight");
    const StTensor *h = st_find(&st, "h16");
    const StTensor *b = st_find(&st, "b16");
    const StTensor *ids = st_find(&st, "bert.embeddings.position_ids");
    CU_ASSERT_FATAL(w && h && b && ids);
    CU_ASSERT(w->dtype == ST_F32 && w->ndim == 2 && w->shape[0] == 2 && w->shape[1] == 2);
    CU_ASSERT(ids->dtype == ST_I64 && ids->numel == 3);
    float f[4], g[4], k[4];
    CU_ASSERT_EQUAL(st_read_f32(&st, w, f, &err), 0);
    CU_ASSERT_EQUAL(st_read_f32(&st, h, g, &err), 0);
    CU_ASSERT_EQUAL(st_read_f32(&st, b, k, &err), 0);
    CU_ASSERT(f[0] == 1.0f && f[1] == -2.0f && f[2] == 0.5f && f[3] == 3.0f);
    CU_ASSERT(g[0] == 1.0f && g[1] == -2.5f && g[2] == 0x1p-24f && g[3] == 65504.0f);
    CU_ASSERT(k[0] == 1.0f && k[1] == -2.5f && isinf(k[2]) && k[3] == 3.140625f);
    CU_ASSERT_EQUAL(st_read_f32(&st, ids, f, &err), -1);
    st_close(&st);

    p = testutil_repo_path("tests/fixtures/hf/zero_size_and_scalar.safetensors");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    rc = st_open(p, &st, &err);
    if (rc) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(st.n, 5);
    CU_ASSERT_EQUAL(st.data_len, 12 + 2 + 3 + 8);
    const StTensor *cb = st_find(&st, "classifier.bias"), *e = st_find(&st, "empty"),
                   *sc = st_find(&st, "scalar"), *u8 = st_find(&st, "bytes");
    CU_ASSERT_FATAL(cb && e && sc && u8);
    CU_ASSERT(e->ndim == 2 && e->shape[0] == 0 && e->shape[1] == 4 && e->numel == 0 && e->begin == 12 &&
              e->end == 12);
    CU_ASSERT(sc->ndim == 0 && sc->numel == 1 && sc->dtype == ST_F64);
    CU_ASSERT(u8->dtype == ST_U8 && u8->numel == 3 && !memcmp(st.data + u8->begin, "abc", 3));
    CU_ASSERT_EQUAL(st_read_f32(&st, cb, f, &err), 0);
    CU_ASSERT(f[0] == 0.25f && f[1] == -1.0f && f[2] == 2.0f);
    CU_ASSERT_EQUAL(st_read_f32(&st, e, f, &err), 0);
    CU_ASSERT_EQUAL(st_read_f32(&st, sc, f, &err), -1);
    CU_ASSERT(strstr(err.msg, "'scalar'") && strstr(err.msg, "F64"));
    st_close(&st);
}

/* ============================================================ config.json */

static const char *VOCAB_WORDS[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "new",
                                    "york",  "play",  "##ing", "eu",    ".",     ",",     "rejects",
                                    "german", "call"};
enum { TINY_V = sizeof VOCAB_WORDS / sizeof VOCAB_WORDS[0] };

static char vocab_file[512];

static int vocab_text_write(const char *path, Err *err) {
    char buf[512];
    size_t k = 0;
    for (int i = 0; i < TINY_V; i++) k += (size_t)snprintf(buf + k, sizeof buf - k, "%s\n", VOCAB_WORDS[i]);
    return atomic_write_file(path, buf, k, err);
}

static void write_vocab(const char *path) {
    Err err;
    int rc = vocab_text_write(path, &err);
    if (rc) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
}

/* The tiny BERT config.json as a cJSON object (caller deletes). */
static cJSON *tiny_config_json(void) {
    char text[1024];
    snprintf(text, sizeof text,
             "{\"architectures\": [\"BertModel\"], \"model_type\": \"bert\", \"hidden_act\": \"gelu\","
             " \"position_embedding_type\": \"absolute\", \"num_hidden_layers\": 2,"
             " \"hidden_size\": 16, \"num_attention_heads\": 2, \"intermediate_size\": 32,"
             " \"vocab_size\": %d, \"max_position_embeddings\": 64, \"type_vocab_size\": 2,"
             " \"layer_norm_eps\": 1e-12, \"initializer_range\": 0.02, \"pad_token_id\": 0,"
             " \"hidden_dropout_prob\": 0.1, \"attention_probs_dropout_prob\": 0.1}",
             TINY_V);
    return cJSON_Parse(text); /* a constant text: never NULL */
}

static void write_json_file(const char *dir, const char *name, const cJSON *j) {
    char *s = cJSON_Print(j);
    write_text(dir, name, s);
    free(s);
}

/* A fresh directory tmpdir/name with config.json = j and vocab.txt. */
static const char *config_dir(const char *name, const cJSON *j) {
    static char dir[512];
    snprintf(dir, sizeof dir, "%s", tmp_path(name));
    make_dir(dir);
    write_json_file(dir, "config.json", j);
    char v[600];
    snprintf(v, sizeof v, "%s/vocab.txt", dir);
    write_vocab(v);
    return dir;
}

/* hf_read_config of a config with `key` set to `value` (JSON text; NULL:
 * key removed) must fail naming want1 (and want2). */
static void expect_config_fail(const char *key, const char *value, const char *want1, const char *want2) {
    cJSON *j = tiny_config_json();
    if (value) {
        cJSON *v = cJSON_Parse(value);
        CU_ASSERT_PTR_NOT_NULL_FATAL(v);
        if (cJSON_GetObjectItemCaseSensitive(j, key)) cJSON_ReplaceItemInObjectCaseSensitive(j, key, v);
        else cJSON_AddItemToObject(j, key, v);
    } else {
        cJSON_DeleteItemFromObjectCaseSensitive(j, key);
    }
    const char *dir = config_dir("badcfg", j);
    cJSON_Delete(j);
    ModelConfig cfg;
    HfInfo info;
    Err err = {{0}};
    int rc = hf_read_config(dir, &cfg, &info, &err);
    CU_ASSERT_EQUAL(rc, -1);
    int ok = strstr(err.msg, "config.json") && strstr(err.msg, want1) && (!want2 || strstr(err.msg, want2));
    CU_ASSERT(ok);
    if (rc != -1 || !ok)
        printf("\n  %s=%s: rc %d, want '%s', got: %s\n", key, value ? value : "(absent)", rc, want1,
               err.msg);
}

static void test_read_config(void) {
    cJSON *j = tiny_config_json();
    const char *dir = config_dir("cfg_ok", j);
    char dir_ok[512];
    snprintf(dir_ok, sizeof dir_ok, "%s", dir);
    ModelConfig cfg;
    HfInfo info;
    Err err = {{0}};
    int rc = hf_read_config(dir_ok, &cfg, &info, &err);
    if (rc) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(cfg.L, 2);
    CU_ASSERT_EQUAL(cfg.C, 16);
    CU_ASSERT_EQUAL(cfg.NH, 2);
    CU_ASSERT_EQUAL(cfg.FFN, 32);
    CU_ASSERT_EQUAL(cfg.V, TINY_V);
    CU_ASSERT_EQUAL(cfg.maxT, 64);
    CU_ASSERT_EQUAL(cfg.type_vocab, 2);
    CU_ASSERT_EQUAL(cfg.num_labels, NER_NUM_LABELS);
    CU_ASSERT_EQUAL(cfg.heads, HEAD_NER | HEAD_QA);
    CU_ASSERT_EQUAL(cfg.ln_eps, 1e-12f);
    CU_ASSERT_EQUAL(cfg.init_std, 0.02f);
    CU_ASSERT_STRING_EQUAL(cfg.preset, "hf");
    CU_ASSERT_EQUAL(config_validate(&cfg, &err), 0);
    CU_ASSERT_STRING_EQUAL(info.dir, dir_ok);
    CU_ASSERT_EQUAL(info.lower, 1); /* no tokenizer_config.json: uncased */
    CU_ASSERT_EQUAL(info.strip_accents, -1);
    CU_ASSERT_EQUAL(info.n_labels, 0);

    /* defaults of the optional keys */
    cJSON_DeleteItemFromObjectCaseSensitive(j, "layer_norm_eps");
    cJSON_DeleteItemFromObjectCaseSensitive(j, "initializer_range");
    cJSON_DeleteItemFromObjectCaseSensitive(j, "hidden_act");
    cJSON_DeleteItemFromObjectCaseSensitive(j, "position_embedding_type");
    cJSON_AddItemToObject(j, "layer_norm_eps", cJSON_CreateNumber(1e-5));
    cJSON_ReplaceItemInObjectCaseSensitive(j, "num_attention_heads", cJSON_CreateNumber(4));
    dir = config_dir("cfg_defaults", j);
    CU_ASSERT_EQUAL(hf_read_config(dir, &cfg, &info, &err), 0);
    CU_ASSERT_EQUAL(cfg.ln_eps, 1e-5f);
    CU_ASSERT_EQUAL(cfg.init_std, 0.02f);
    CU_ASSERT_EQUAL(cfg.NH, 4);
    cJSON_Delete(j);

    /* refused, naming the key */
    expect_config_fail("model_type", "\"roberta\"", "\"model_type\"", "roberta");
    expect_config_fail("model_type", NULL, "\"model_type\"", NULL);
    expect_config_fail("model_type", "7", "\"model_type\"", NULL);
    expect_config_fail("hidden_act", "\"gelu_new\"", "\"hidden_act\"", "gelu_new");
    expect_config_fail("position_embedding_type", "\"relative_key\"", "\"position_embedding_type\"",
                       "relative_key");
    expect_config_fail("num_hidden_layers", NULL, "\"num_hidden_layers\"", NULL);
    expect_config_fail("num_hidden_layers", "0", "\"num_hidden_layers\"", NULL);
    expect_config_fail("intermediate_size", NULL, "\"intermediate_size\"", NULL);
    expect_config_fail("vocab_size", "-3", "\"vocab_size\"", NULL);
    expect_config_fail("type_vocab_size", "true", "\"type_vocab_size\"", NULL);
    expect_config_fail("max_position_embeddings", NULL, "\"max_position_embeddings\"", NULL);
    expect_config_fail("hidden_size", "17", "divisible", NULL); /* 2 heads */
    expect_config_fail("hidden_size", "16.5", "\"hidden_size\"", NULL);
    expect_config_fail("hidden_size", "\"16\"", "\"hidden_size\"", NULL);
    expect_config_fail("hidden_size", "1e30", "\"hidden_size\"", NULL);
    expect_config_fail("num_attention_heads", "3", "divisible", NULL);
    expect_config_fail("layer_norm_eps", "0", "\"layer_norm_eps\"", NULL);
    expect_config_fail("layer_norm_eps", "\"small\"", "\"layer_norm_eps\"", NULL);
    expect_config_fail("is_decoder", "true", "\"is_decoder\"", NULL);

    /* not JSON, not an object, absent */
    snprintf(dir_ok, sizeof dir_ok, "%s", tmp_path("cfg_text"));
    make_dir(dir_ok);
    write_text(dir_ok, "config.json", "{\"model_type\": \"bert\", \"hidden_size\": }");
    rc = hf_read_config(dir_ok, &cfg, &info, &err);
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT(strstr(err.msg, "config.json") && strstr(err.msg, "invalid JSON"));
    write_text(dir_ok, "config.json", "[\"bert\"]");
    CU_ASSERT_EQUAL(hf_read_config(dir_ok, &cfg, &info, &err), -1);
    CU_ASSERT(strstr(err.msg, "not a JSON object") != NULL);
    snprintf(dir_ok, sizeof dir_ok, "%s", tmp_path("cfg_none"));
    make_dir(dir_ok);
    CU_ASSERT_EQUAL(hf_read_config(dir_ok, &cfg, &info, &err), -1);
    CU_ASSERT(strstr(err.msg, "config.json") != NULL);
}

static void test_read_tokenizer_config(void) {
    cJSON *j = tiny_config_json();
    char dir[512];
    snprintf(dir, sizeof dir, "%s", config_dir("tok", j));
    cJSON_Delete(j);
    ModelConfig cfg;
    HfInfo info;
    Err err = {{0}};

    write_text(dir, "tokenizer_config.json", "{\"do_lower_case\": false, \"tokenizer_class\": \"BertTokenizer\"}");
    CU_ASSERT_EQUAL(hf_read_config(dir, &cfg, &info, &err), 0);
    CU_ASSERT_EQUAL(info.lower, 0);
    CU_ASSERT_EQUAL(info.strip_accents, -1);

    write_text(dir, "tokenizer_config.json", "{\"do_lower_case\": true, \"strip_accents\": false}");
    CU_ASSERT_EQUAL(hf_read_tokenizer_config(dir, &info, &err), 0);
    CU_ASSERT_EQUAL(info.lower, 1);
    CU_ASSERT_EQUAL(info.strip_accents, 0);

    write_text(dir, "tokenizer_config.json", "{\"do_lower_case\": false, \"strip_accents\": true}");
    CU_ASSERT_EQUAL(hf_read_tokenizer_config(dir, &info, &err), 0);
    CU_ASSERT_EQUAL(info.lower, 0);
    CU_ASSERT_EQUAL(info.strip_accents, 1);

    write_text(dir, "tokenizer_config.json", "{\"strip_accents\": null}");
    CU_ASSERT_EQUAL(hf_read_tokenizer_config(dir, &info, &err), 0);
    CU_ASSERT_EQUAL(info.lower, 1);
    CU_ASSERT_EQUAL(info.strip_accents, -1);

    write_text(dir, "tokenizer_config.json", "{\"do_lower_case\": \"yes\"}");
    CU_ASSERT_EQUAL(hf_read_config(dir, &cfg, &info, &err), -1);
    CU_ASSERT(strstr(err.msg, "tokenizer_config.json") && strstr(err.msg, "\"do_lower_case\""));
    CU_ASSERT_EQUAL(hf_read_tokenizer_config(dir, &info, &err), -1);
    CU_ASSERT(strstr(err.msg, "\"do_lower_case\"") != NULL);

    write_text(dir, "tokenizer_config.json", "{\"strip_accents\": 1}");
    CU_ASSERT_EQUAL(hf_read_tokenizer_config(dir, &info, &err), -1);
    CU_ASSERT(strstr(err.msg, "\"strip_accents\"") != NULL);

    write_text(dir, "tokenizer_config.json", "{\"do_lower_case\": fals");
    CU_ASSERT_EQUAL(hf_read_tokenizer_config(dir, &info, &err), -1);
    CU_ASSERT(strstr(err.msg, "tokenizer_config.json") && strstr(err.msg, "invalid JSON"));

    unlink(tmp_path("tok/tokenizer_config.json"));
    CU_ASSERT_EQUAL(hf_read_tokenizer_config(dir, &info, &err), 0);
    CU_ASSERT(info.lower == 1 && info.strip_accents == -1);
}

static void test_resolve(void) {
    cJSON *j = tiny_config_json();
    char dir[512], got[1024];
    snprintf(dir, sizeof dir, "%s", config_dir("resolve", j));
    cJSON_Delete(j);
    Err err = {{0}};
    memset(got, 0, sizeof got);
    CU_ASSERT_EQUAL(hf_resolve(dir, got, sizeof got, &err), 1);
    CU_ASSERT_STRING_EQUAL(got, dir);
    /* a file (checkpoint.bin) and a missing path are not HF directories */
    CU_ASSERT_EQUAL(hf_resolve(tmp_path("resolve/vocab.txt"), got, sizeof got, &err), 0);
    CU_ASSERT_EQUAL(hf_resolve(tmp_path("no_such_dir"), got, sizeof got, &err), 0);
    /* a directory without config.json is an error naming it */
    char empty[512];
    snprintf(empty, sizeof empty, "%s", tmp_path("resolve_empty"));
    make_dir(empty);
    CU_ASSERT_EQUAL(hf_resolve(empty, got, sizeof got, &err), -1);
    CU_ASSERT(strstr(err.msg, empty) && strstr(err.msg, "config.json"));
}

/* ============================================== models: export and load */

typedef struct {
    Backend *be;
    Model *m;
} Fixture;

/* A model of cfg with every parameter distinct (init, then a pattern added
 * so that biases and LayerNorms are not all 0 / 1 and a mix-up shows).
 * f.m NULL on failure (no CUnit assertion: also used by the suite setup). */
static Fixture try_make_model(const ModelConfig *cfg, uint64_t seed) {
    Fixture f;
    Err err;
    f.be = backend_cpu(1);
    f.m = model_create(cfg, f.be, 1, 8, &err);
    if (!f.m) {
        printf("\n  %s\n", err.msg);
        return f;
    }
    model_init(f.m, seed);
    size_t n = model_num_params(f.m);
    float *h = malloc(n * sizeof *h);
    model_params_to_host(f.m, h);
    for (size_t i = 0; i < n; i++)
        h[i] += (float)((i * 2654435761u + seed * 97) % 100003) / 100003.0f - 0.5f;
    model_params_from_host(f.m, h);
    free(h);
    return f;
}

static Fixture make_model(const ModelConfig *cfg, uint64_t seed) {
    Fixture f = try_make_model(cfg, seed);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.m);
    return f;
}

static void free_model(Fixture *f) {
    model_free(f->m);
    f->be->destroy(f->be);
}

static float *params(const Model *m) {
    float *h = malloc(model_num_params(m) * sizeof *h);
    model_params_to_host(m, h);
    return h;
}

static int is_head_name(const char *n) { return !strncmp(n, "ner.", 4) || !strncmp(n, "qa.", 3); }

static int count_encoder_tensors(const Model *m) {
    int k = 0;
    for (int i = 0; i < model_num_tensors(m); i++) k += !is_head_name(model_tensor(m, i)->name);
    return k;
}

/* Tensor `name` of models a and b bitwise equal (both must have it). */
static int same_tensor(const Model *a, const float *pa, const Model *b, const float *pb, const char *name) {
    const ParamInfo *x = model_find_tensor(a, name), *y = model_find_tensor(b, name);
    if (!x || !y || x->numel != y->numel) return 0;
    return memcmp(pa + x->offset, pb + y->offset, x->numel * sizeof(float)) == 0;
}

/* Every tensor of `loaded`: equal to `src` when its name starts with one of
 * the prefixes in from_src ("" = encoder), else to `own` (loaded's params
 * before the load). Prints the first mismatch. */
static int check_params(const Model *loaded, const Model *src, const float *own, int want_ner_src,
                        int want_qa_src) {
    float *pl = params(loaded), *ps = params(src);
    int ok = 1;
    for (int i = 0; i < model_num_tensors(loaded); i++) {
        const ParamInfo *p = model_tensor(loaded, i);
        int from_src = !is_head_name(p->name) || (want_ner_src && !strncmp(p->name, "ner.", 4)) ||
                       (want_qa_src && !strncmp(p->name, "qa.", 3));
        int eq = from_src ? same_tensor(loaded, pl, src, ps, p->name)
                          : memcmp(pl + p->offset, own + p->offset, p->numel * sizeof(float)) == 0;
        if (!eq) {
            printf("\n  tensor %s differs from the %s\n", p->name, from_src ? "source model" : "model's own init");
            ok = 0;
            break;
        }
    }
    free(pl);
    free(ps);
    return ok;
}

/* The source model of the load tests and its NER / QA exports. */
static Fixture src_model;
static char dir_ner[512], dir_qa[512];

static int suite_models_init(void) {
    /* no CUnit assertions here (there is no current test) */
    Err err;
    snprintf(vocab_file, sizeof vocab_file, "%s", tmp_path("vocab.txt"));
    if (vocab_text_write(vocab_file, &err)) goto fail;
    char dir[512];
    snprintf(dir, sizeof dir, "%s", tmp_path("cfg_model"));
    if (mkdir_p(dir, &err)) goto fail;
    cJSON *j = tiny_config_json();
    char *txt = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    char p[600];
    snprintf(p, sizeof p, "%s/config.json", dir);
    int rc = txt ? atomic_write_file(p, txt, strlen(txt), &err) : err_set(&err, "tiny config");
    free(txt);
    if (rc) goto fail;
    ModelConfig c;
    HfInfo info;
    if (hf_read_config(dir, &c, &info, &err)) goto fail;
    src_model = try_make_model(&c, 7);
    if (!src_model.m) return 1;
    snprintf(dir_ner, sizeof dir_ner, "%s", tmp_path("export_ner"));
    snprintf(dir_qa, sizeof dir_qa, "%s", tmp_path("export_qa/sub")); /* mkdir -p */
    if (hf_export_task(src_model.m, TASK_NER, vocab_file, 1, -1, dir_ner, &err) ||
        hf_export_task(src_model.m, TASK_QA, vocab_file, 1, -1, dir_qa, &err))
        goto fail;
    return 0;
fail:
    fprintf(stderr, "hf models setup: %s\n", err.msg);
    return 1;
}

static int suite_models_clean(void) {
    if (src_model.m) model_free(src_model.m);
    if (src_model.be) src_model.be->destroy(src_model.be);
    return 0;
}

/* A model made from dir's config.json (distinct init). */
static Fixture model_from_dir(const char *dir, int heads, uint64_t seed, HfInfo *info) {
    ModelConfig c;
    Err err = {{0}};
    int rc = hf_read_config(dir, &c, info, &err);
    if (rc) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    c.heads = heads;
    return make_model(&c, seed);
}

static void test_export_files(void) {
    const ModelConfig *sc = model_config(src_model.m);
    Err err;
    char p[600];
    /* config.json */
    snprintf(p, sizeof p, "%s/config.json", dir_ner);
    size_t len;
    char *txt = read_file_all(p, &len, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(txt);
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(j, "architectures");
    CU_ASSERT(cJSON_IsArray(arch) && cJSON_GetArraySize(arch) == 1 &&
              !strcmp(cJSON_GetArrayItem(arch, 0)->valuestring, "BertForTokenClassification"));
    const cJSON *id2 = cJSON_GetObjectItemCaseSensitive(j, "id2label");
    const cJSON *l2i = cJSON_GetObjectItemCaseSensitive(j, "label2id");
    CU_ASSERT(cJSON_IsObject(id2) && cJSON_GetArraySize(id2) == NER_NUM_LABELS);
    const cJSON *one = cJSON_GetObjectItemCaseSensitive(id2, "1");
    CU_ASSERT(cJSON_IsString(one) && !strcmp(one->valuestring, "B-PER"));
    for (int i = 0; i < NER_NUM_LABELS; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", i);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(id2, key);
        CU_ASSERT(cJSON_IsString(v) && !strcmp(v->valuestring, CONLL_LABELS[i]));
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(l2i, CONLL_LABELS[i]);
        CU_ASSERT(cJSON_IsNumber(k) && k->valueint == i);
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "model_type");
    CU_ASSERT(cJSON_IsString(mt) && !strcmp(mt->valuestring, "bert"));
    const cJSON *hs = cJSON_GetObjectItemCaseSensitive(j, "hidden_size");
    CU_ASSERT(cJSON_IsNumber(hs) && hs->valueint == sc->C);
    cJSON_Delete(j);

    snprintf(p, sizeof p, "%s/config.json", dir_qa);
    txt = read_file_all(p, &len, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(txt);
    j = cJSON_Parse(txt);
    free(txt);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    arch = cJSON_GetObjectItemCaseSensitive(j, "architectures");
    CU_ASSERT(cJSON_IsArray(arch) && !strcmp(cJSON_GetArrayItem(arch, 0)->valuestring, "BertForQuestionAnswering"));
    CU_ASSERT_PTR_NULL(cJSON_GetObjectItemCaseSensitive(j, "id2label"));
    cJSON_Delete(j);

    /* the exported config reads back as the model's config */
    ModelConfig c;
    HfInfo info;
    CU_ASSERT_EQUAL_FATAL(hf_read_config(dir_ner, &c, &info, &err), 0);
    CU_ASSERT(c.L == sc->L && c.C == sc->C && c.NH == sc->NH && c.FFN == sc->FFN && c.V == sc->V &&
              c.maxT == sc->maxT && c.type_vocab == sc->type_vocab);
    CU_ASSERT_EQUAL(c.ln_eps, sc->ln_eps);
    CU_ASSERT_EQUAL(c.init_std, sc->init_std);
    CU_ASSERT_EQUAL(info.n_labels, NER_NUM_LABELS);
    for (int i = 0; i < NER_NUM_LABELS; i++) CU_ASSERT_STRING_EQUAL(info.labels[i], CONLL_LABELS[i]);
    CU_ASSERT_EQUAL(info.lower, 1);

    /* tokenizer_config.json: do_lower_case true */
    snprintf(p, sizeof p, "%s/tokenizer_config.json", dir_ner);
    txt = read_file_all(p, &len, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(txt);
    j = cJSON_Parse(txt);
    free(txt);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "do_lower_case")));
    const cJSON *mml = cJSON_GetObjectItemCaseSensitive(j, "model_max_length");
    CU_ASSERT(cJSON_IsNumber(mml) && mml->valueint == sc->maxT);
    cJSON_Delete(j);

    /* vocab.txt copied byte for byte */
    size_t la, lb;
    char *va = read_file_all(vocab_file, &la, &err);
    snprintf(p, sizeof p, "%s/vocab.txt", dir_qa);
    char *vb = read_file_all(p, &lb, &err);
    CU_ASSERT(va && vb && la == lb && memcmp(va, vb, la) == 0);
    free(va);
    free(vb);

    /* model.safetensors: "bert." encoder, QKV split, the task's head only */
    SafeTensors st;
    snprintf(p, sizeof p, "%s/model.safetensors", dir_ner);
    CU_ASSERT_EQUAL_FATAL(st_open(p, &st, &err), 0);
    int L = sc->L, C = sc->C;
    CU_ASSERT_EQUAL(st.n, 5 + 16 * L + 2);
    float *ps = params(src_model.m);
    for (int i = 0; i < st.n; i++) CU_ASSERT_EQUAL(st.t[i].dtype, ST_F32);
    const StTensor *cw = st_find(&st, "classifier.weight");
    CU_ASSERT(cw && cw->ndim == 2 && cw->shape[0] == NER_NUM_LABELS && cw->shape[1] == C);
    CU_ASSERT_PTR_NOT_NULL(st_find(&st, "classifier.bias"));
    CU_ASSERT_PTR_NULL(st_find(&st, "qa_outputs.weight"));
    CU_ASSERT_PTR_NOT_NULL(st_find(&st, "bert.embeddings.word_embeddings.weight"));
    CU_ASSERT_PTR_NOT_NULL(st_find(&st, "bert.embeddings.LayerNorm.weight"));
    const ParamInfo *qkv = model_find_tensor(src_model.m, "layer1.attn.qkv.w");
    const ParamInfo *qkvb = model_find_tensor(src_model.m, "layer1.attn.qkv.b");
    CU_ASSERT_FATAL(qkv && qkvb);
    static const char *parts[3] = {"query", "key", "value"};
    float *buf = malloc((size_t)C * C * sizeof *buf);
    for (int k = 0; k < 3; k++) {
        char name[128];
        snprintf(name, sizeof name, "bert.encoder.layer.1.attention.self.%s.weight", parts[k]);
        const StTensor *t = st_find(&st, name);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        CU_ASSERT(t->ndim == 2 && t->shape[0] == C && t->shape[1] == C);
        CU_ASSERT_EQUAL(st_read_f32(&st, t, buf, &err), 0);
        CU_ASSERT(memcmp(buf, ps + qkv->offset + (size_t)k * C * C, (size_t)C * C * 4) == 0);
        snprintf(name, sizeof name, "bert.encoder.layer.1.attention.self.%s.bias", parts[k]);
        t = st_find(&st, name);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        CU_ASSERT(t->ndim == 1 && t->shape[0] == C);
        CU_ASSERT_EQUAL(st_read_f32(&st, t, buf, &err), 0);
        CU_ASSERT(memcmp(buf, ps + qkvb->offset + (size_t)k * C, (size_t)C * 4) == 0);
    }
    const StTensor *up = st_find(&st, "bert.encoder.layer.0.intermediate.dense.weight");
    CU_ASSERT(up && up->shape[0] == sc->FFN && up->shape[1] == C);
    st_close(&st);
    snprintf(p, sizeof p, "%s/model.safetensors", dir_qa);
    CU_ASSERT_EQUAL_FATAL(st_open(p, &st, &err), 0);
    CU_ASSERT_EQUAL(st.n, 5 + 16 * L + 2);
    const StTensor *qw = st_find(&st, "qa_outputs.weight");
    CU_ASSERT(qw && qw->shape[0] == 2 && qw->shape[1] == C);
    CU_ASSERT_PTR_NULL(st_find(&st, "classifier.weight"));
    st_close(&st);
    free(buf);
    free(ps);

    /* a head the model lacks cannot be exported */
    ModelConfig nc = *sc;
    nc.heads = HEAD_NER;
    Fixture ner_only = make_model(&nc, 3);
    Err e = {{0}};
    CU_ASSERT_EQUAL(hf_export_task(ner_only.m, TASK_QA, vocab_file, 1, -1, tmp_path("export_none"), &e), -1);
    CU_ASSERT(strstr(e.msg, "QA") != NULL);
    CU_ASSERT_EQUAL(access(tmp_path("export_none/config.json"), F_OK), -1);
    free_model(&ner_only);
}

static void test_load_round_trip(void) {
    HfInfo info;
    HfLoadReport rep;
    Err err = {{0}};
    /* NER export -> encoder + NER head; QA head keeps its own init */
    Fixture b = model_from_dir(dir_ner, HEAD_NER | HEAD_QA, 99, &info);
    float *before = params(b.m);
    CU_ASSERT_EQUAL(info.n_labels, NER_NUM_LABELS);
    int rc = hf_load_weights(&info, b.m, &rep, &err);
    if (rc) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT(check_params(b.m, src_model.m, before, 1, 0));
    CU_ASSERT_EQUAL(rep.encoder_tensors, count_encoder_tensors(b.m));
    CU_ASSERT_EQUAL(rep.encoder_tensors, 5 + 12 * 2);
    CU_ASSERT_EQUAL(rep.ner_head, 1);
    CU_ASSERT_EQUAL(rep.qa_head, 0);
    CU_ASSERT_EQUAL(rep.n_ignored, 0);
    CU_ASSERT_STRING_EQUAL(rep.ignored, "");
    CU_ASSERT_STRING_EQUAL(rep.head_note, "");
    free(before);
    free_model(&b);

    /* QA export -> encoder + QA head; NER head keeps its own init */
    Fixture c = model_from_dir(dir_qa, HEAD_NER | HEAD_QA, 123, &info);
    before = params(c.m);
    CU_ASSERT_EQUAL(info.n_labels, 0);
    rc = hf_load_weights(&info, c.m, &rep, &err);
    if (rc) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT(check_params(c.m, src_model.m, before, 0, 1));
    CU_ASSERT_EQUAL(rep.encoder_tensors, count_encoder_tensors(c.m));
    CU_ASSERT_EQUAL(rep.ner_head, 0);
    CU_ASSERT_EQUAL(rep.qa_head, 1);
    CU_ASSERT_EQUAL(rep.n_ignored, 0);
    free(before);
    free_model(&c);

    /* an NER-only model from the QA export: qa_outputs.* ignored and listed */
    Fixture d = model_from_dir(dir_qa, HEAD_NER, 5, &info);
    before = params(d.m);
    CU_ASSERT_EQUAL_FATAL(hf_load_weights(&info, d.m, &rep, &err), 0);
    CU_ASSERT(check_params(d.m, src_model.m, before, 0, 0));
    CU_ASSERT(rep.ner_head == 0 && rep.qa_head == 0);
    CU_ASSERT_EQUAL(rep.n_ignored, 2);
    CU_ASSERT(strstr(rep.ignored, "qa_outputs.weight") && strstr(rep.ignored, "qa_outputs.bias"));
    free(before);
    free_model(&d);
}

/* ---- rewriting an exported directory ------------------------------------ */

typedef struct {
    const char *omit;        /* drop this file tensor */
    const char *transpose;   /* write this 2-D tensor with its dims swapped */
    const char *shorten;     /* write this tensor with one row (element) fewer */
    int strip_prefix;        /* "bert.X" -> "X" */
    int old_ln;              /* LayerNorm.weight / .bias -> LayerNorm.gamma / .beta */
    const int *perm;         /* classifier rows: new row j = old row perm[j] */
    int keep_rows;           /* classifier: keep only the first keep_rows rows (0: all) */
    const char *extra[4];    /* extra F32 [2] tensors to add (ignored by the loader) */
    const char *poison;      /* this tensor gets poison_value at element poison_at */
    int poison_at;
    float poison_value;
} Edit;

/* dst = src with model.safetensors rewritten per e; config.json,
 * vocab.txt and tokenizer_config.json copied. */
static void rewrite_dir(const char *src, const char *dst, const Edit *e) {
    make_dir(dst);
    static const char *copy[] = {"config.json", "vocab.txt", "tokenizer_config.json"};
    Err err;
    char p[600], q[600];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", src, copy[i]);
        snprintf(q, sizeof q, "%s/%s", dst, copy[i]);
        size_t len;
        char *buf = read_file_all(p, &len, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
        write_bytes(q, buf, len);
        free(buf);
    }
    snprintf(p, sizeof p, "%s/model.safetensors", src);
    SafeTensors st;
    CU_ASSERT_EQUAL_FATAL(st_open(p, &st, &err), 0);
    StOut *out = calloc((size_t)st.n + 4, sizeof *out);
    float **data = calloc((size_t)st.n + 4, sizeof *data);
    char (*names)[200] = calloc((size_t)st.n + 4, sizeof *names);
    static const float extra_data[2] = {1.0f, 2.0f};
    int n = 0;
    for (int i = 0; i < st.n; i++) {
        const StTensor *t = &st.t[i];
        if (e->omit && !strcmp(t->name, e->omit)) continue;
        data[n] = malloc((size_t)t->numel * sizeof(float) + 4);
        CU_ASSERT_EQUAL_FATAL(st_read_f32(&st, t, data[n], &err), 0);
        const char *name = t->name;
        if (e->strip_prefix && !strncmp(name, "bert.", 5)) name += 5;
        snprintf(names[n], sizeof names[n], "%s", name);
        char *ln = strstr(names[n], "LayerNorm.");
        if (e->old_ln && ln) {
            if (!strcmp(ln + 10, "weight")) strcpy(ln + 10, "gamma");
            else if (!strcmp(ln + 10, "bias")) strcpy(ln + 10, "beta");
        }
        out[n].name = names[n];
        out[n].data = data[n];
        out[n].ndim = t->ndim;
        out[n].shape[0] = t->shape[0];
        out[n].shape[1] = t->ndim > 1 ? t->shape[1] : 0;
        int is_cls = !strncmp(t->name, "classifier.", 11);
        if (is_cls && e->perm) {
            size_t row = t->ndim > 1 ? (size_t)t->shape[1] : 1;
            float *perm = malloc((size_t)t->numel * sizeof(float));
            for (int r = 0; r < t->shape[0]; r++)
                memcpy(perm + (size_t)r * row, data[n] + (size_t)e->perm[r] * row, row * sizeof(float));
            free(data[n]);
            data[n] = perm;
            out[n].data = perm;
        }
        if (is_cls && e->keep_rows) out[n].shape[0] = e->keep_rows;
        if (e->transpose && !strcmp(t->name, e->transpose)) {
            out[n].shape[0] = t->shape[1];
            out[n].shape[1] = t->shape[0];
        }
        if (e->shorten && !strcmp(t->name, e->shorten)) out[n].shape[0]--;
        if (e->poison && !strcmp(t->name, e->poison)) data[n][e->poison_at] = e->poison_value;
        n++;
    }
    for (int k = 0; k < 4 && e->extra[k]; k++, n++) {
        out[n] = (StOut){e->extra[k], extra_data, 1, {2, 0}};
        data[n] = NULL;
    }
    snprintf(q, sizeof q, "%s/model.safetensors", dst);
    CU_ASSERT_EQUAL(st_write_f32(q, out, n, &err), 0);
    for (int i = 0; i < n; i++) free(data[i]);
    free(data);
    free(names);
    free(out);
    st_close(&st);
}

/* A failing load: rc -1, the message holds want1..want3, m bitwise unchanged. */
static void expect_load_fail(const char *dir, const char *want1, const char *want2, const char *want3) {
    HfInfo info;
    Fixture b = model_from_dir(dir, HEAD_NER | HEAD_QA, 31, &info);
    float *before = params(b.m), *after = malloc(model_num_params(b.m) * sizeof(float));
    HfLoadReport rep;
    Err err = {{0}};
    int rc = hf_load_weights(&info, b.m, &rep, &err);
    CU_ASSERT_EQUAL(rc, -1);
    const char *w[3] = {want1, want2, want3};
    int ok = 1;
    for (int i = 0; i < 3; i++)
        if (w[i] && !strstr(err.msg, w[i])) ok = 0;
    CU_ASSERT(ok);
    if (rc != -1 || !ok) printf("\n  rc %d, want '%s', got: %s\n", rc, want1, err.msg);
    model_params_to_host(b.m, after);
    CU_ASSERT(memcmp(before, after, model_num_params(b.m) * sizeof(float)) == 0);
    free(before);
    free(after);
    free_model(&b);
}

static void test_load_failures(void) {
    char d[512];
    /* the last layer's key bias missing (tensors before it were already read) */
    snprintf(d, sizeof d, "%s", tmp_path("fail_missing"));
    rewrite_dir(dir_ner, d, &(Edit){.omit = "bert.encoder.layer.1.attention.self.key.bias"});
    expect_load_fail(d, "missing tensor 'encoder.layer.1.attention.self.key.bias'", "layer1.attn.qkv.b",
                     "model.safetensors");
    /* the same with the encoder's last tensor */
    snprintf(d, sizeof d, "%s", tmp_path("fail_missing2"));
    rewrite_dir(dir_ner, d, &(Edit){.omit = "bert.encoder.layer.1.output.LayerNorm.bias"});
    expect_load_fail(d, "encoder.layer.1.output.LayerNorm.bias", "layer1.ln2.b", NULL);
    /* a wrong shape: [FFN, C] written as [C, FFN] */
    snprintf(d, sizeof d, "%s", tmp_path("fail_shape"));
    rewrite_dir(dir_ner, d, &(Edit){.transpose = "bert.encoder.layer.1.intermediate.dense.weight"});
    expect_load_fail(d, "'bert.encoder.layer.1.intermediate.dense.weight'", "[16, 32]", "[32, 16]");
    /* a 1-D tensor one element short */
    snprintf(d, sizeof d, "%s", tmp_path("fail_short"));
    rewrite_dir(dir_ner, d, &(Edit){.shorten = "bert.encoder.layer.1.output.LayerNorm.weight"});
    expect_load_fail(d, "'bert.encoder.layer.1.output.LayerNorm.weight'", "[15]", "[16]");
    /* a word embedding with fewer rows than vocab_size */
    snprintf(d, sizeof d, "%s", tmp_path("fail_vocab"));
    rewrite_dir(dir_ner, d, &(Edit){.shorten = "bert.embeddings.word_embeddings.weight"});
    expect_load_fail(d, "word_embeddings", "config.json", NULL);

    /* an unsupported dtype: the last layer's ln2 bias as I32 (same byte size;
     * the header edited in place) */
    snprintf(d, sizeof d, "%s", tmp_path("fail_dtype"));
    rewrite_dir(dir_ner, d, &(Edit){0});
    char p[600];
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    size_t len;
    Err err;
    char *raw = read_file_all(p, &len, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(raw);
    const char *key = "\"bert.encoder.layer.1.output.LayerNorm.bias\":{\"dtype\":\"F32\"";
    char *at = strstr(raw + 8, key);
    CU_ASSERT_PTR_NOT_NULL_FATAL(at);
    memcpy(at + strlen(key) - 4, "I32", 3);
    write_bytes(p, raw, len);
    free(raw);
    SafeTensors st;
    CU_ASSERT_EQUAL_FATAL(st_open(p, &st, &err), 0); /* a valid file */
    CU_ASSERT_EQUAL(st_find(&st, "bert.encoder.layer.1.output.LayerNorm.bias")->dtype, ST_I32);
    st_close(&st);
    expect_load_fail(d, "'bert.encoder.layer.1.output.LayerNorm.bias'", "I32", NULL);

    /* a NaN / Inf in an encoder tensor or in a head that fits: refused (a head
     * that does not fit is skipped with a note; one with a NaN is an error) */
    snprintf(d, sizeof d, "%s", tmp_path("fail_nan"));
    rewrite_dir(dir_ner, d, &(Edit){.poison = "bert.encoder.layer.1.attention.self.key.weight", .poison_at = 5,
                                    .poison_value = NAN});
    expect_load_fail(d, "model.safetensors: tensor 'bert.encoder.layer.1.attention.self.key.weight' element 5 is nan",
                     NULL, NULL);
    snprintf(d, sizeof d, "%s", tmp_path("fail_inf_head"));
    rewrite_dir(dir_ner, d, &(Edit){.poison = "classifier.bias", .poison_at = 2, .poison_value = -INFINITY});
    expect_load_fail(d, "'classifier.bias' element 2 is -inf", NULL, NULL);
    snprintf(d, sizeof d, "%s", tmp_path("fail_inf_qa"));
    rewrite_dir(dir_qa, d, &(Edit){.poison = "qa_outputs.weight", .poison_at = 0, .poison_value = INFINITY});
    expect_load_fail(d, "'qa_outputs.weight' element 0 is inf", NULL, NULL);

    /* no model.safetensors, or a truncated one */
    snprintf(d, sizeof d, "%s", tmp_path("fail_nofile"));
    rewrite_dir(dir_ner, d, &(Edit){0});
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    raw = read_file_all(p, &len, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(raw);
    write_bytes(p, raw, len - 1);
    free(raw);
    expect_load_fail(d, "model.safetensors", NULL, NULL);
    unlink(p);
    expect_load_fail(d, "model.safetensors", NULL, NULL);
}

/* Rewrite dir/config.json with id2label = labels[0..n) (and label2id). */
static void set_id2label(const char *dir, const char *const *labels, int n) {
    char p[600];
    snprintf(p, sizeof p, "%s/config.json", dir);
    size_t len;
    Err err;
    char *txt = read_file_all(p, &len, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(txt);
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    cJSON *id2 = cJSON_CreateObject(), *l2i = cJSON_CreateObject();
    for (int i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", i);
        cJSON_AddStringToObject(id2, key, labels[i]);
        cJSON_AddNumberToObject(l2i, labels[i], i);
    }
    cJSON_ReplaceItemInObjectCaseSensitive(j, "id2label", id2);
    cJSON_ReplaceItemInObjectCaseSensitive(j, "label2id", l2i);
    write_json_file(dir, "config.json", j);
    cJSON_Delete(j);
}

/* Load dir into a fresh model; returns the model, fills rep. */
static Fixture load_dir(const char *dir, HfLoadReport *rep, float **before) {
    HfInfo info;
    Fixture b = model_from_dir(dir, HEAD_NER | HEAD_QA, 55, &info);
    *before = params(b.m);
    Err err = {{0}};
    int rc = hf_load_weights(&info, b.m, rep, &err);
    if (rc) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, 0);
    return b;
}

static void test_label_permutation(void) {
    static const int q[NER_NUM_LABELS] = {4, 7, 0, 2, 8, 1, 6, 3, 5}; /* file id j = our label q[j] */
    const char *labels[NER_NUM_LABELS];
    for (int j = 0; j < NER_NUM_LABELS; j++) labels[j] = CONLL_LABELS[q[j]];
    HfLoadReport rep;
    float *before;
    const ParamInfo *w = model_find_tensor(src_model.m, "ner.w"), *bb = model_find_tensor(src_model.m, "ner.b");
    CU_ASSERT_FATAL(w && bb);
    const int C = w->shape[1];
    float *ps = params(src_model.m);

    /* rows and id2label permuted together: the same model comes back */
    char d[512];
    snprintf(d, sizeof d, "%s", tmp_path("perm_both"));
    rewrite_dir(dir_ner, d, &(Edit){.perm = q});
    set_id2label(d, labels, NER_NUM_LABELS);
    Fixture b = load_dir(d, &rep, &before);
    CU_ASSERT_EQUAL(rep.ner_head, 1);
    CU_ASSERT(check_params(b.m, src_model.m, before, 1, 0));
    free(before);
    free_model(&b);

    /* id2label permuted, rows as exported: our row i = file row j with
     * id2label[j] = CONLL_LABELS[i], i.e. source row q[j] */
    snprintf(d, sizeof d, "%s", tmp_path("perm_labels"));
    rewrite_dir(dir_ner, d, &(Edit){0});
    set_id2label(d, labels, NER_NUM_LABELS);
    b = load_dir(d, &rep, &before);
    CU_ASSERT_EQUAL(rep.ner_head, 1);
    float *pb = params(b.m);
    const ParamInfo *w2 = model_find_tensor(b.m, "ner.w"), *b2 = model_find_tensor(b.m, "ner.b");
    int rows_ok = 0;
    for (int j = 0; j < NER_NUM_LABELS; j++) {
        int i = q[j]; /* our label of file row j */
        rows_ok += memcmp(pb + w2->offset + (size_t)i * C, ps + w->offset + (size_t)j * C, (size_t)C * 4) == 0 &&
                   f2u(pb[b2->offset + i]) == f2u(ps[bb->offset + j]);
    }
    CU_ASSERT_EQUAL(rows_ok, NER_NUM_LABELS);
    /* and it is not the identity */
    CU_ASSERT(memcmp(pb + w2->offset, ps + w->offset, (size_t)C * 4) != 0);
    free(pb);
    free(before);
    free_model(&b);

    /* 5 labels with a 9-row classifier: the head keeps its init, a note says why */
    snprintf(d, sizeof d, "%s", tmp_path("perm_five"));
    rewrite_dir(dir_ner, d, &(Edit){0});
    set_id2label(d, CONLL_LABELS, 5);
    b = load_dir(d, &rep, &before);
    CU_ASSERT_EQUAL(rep.ner_head, 0);
    CU_ASSERT_EQUAL(rep.encoder_tensors, count_encoder_tensors(b.m));
    CU_ASSERT(strstr(rep.head_note, "5 labels") != NULL);
    CU_ASSERT(check_params(b.m, src_model.m, before, 0, 0));
    CU_ASSERT_EQUAL(rep.n_ignored, 2);
    CU_ASSERT(strstr(rep.ignored, "classifier.weight") && strstr(rep.ignored, "classifier.bias"));
    free(before);
    free_model(&b);

    /* 5 labels and a 5-row classifier (a real 5-label model) */
    snprintf(d, sizeof d, "%s", tmp_path("perm_five_rows"));
    rewrite_dir(dir_ner, d, &(Edit){.keep_rows = 5});
    set_id2label(d, CONLL_LABELS, 5);
    b = load_dir(d, &rep, &before);
    CU_ASSERT_EQUAL(rep.ner_head, 0);
    CU_ASSERT(strstr(rep.head_note, "classifier.weight") && strstr(rep.head_note, "[5, 16]"));
    CU_ASSERT(check_params(b.m, src_model.m, before, 0, 0));
    free(before);
    free_model(&b);

    /* 9 labels, one not ours */
    const char *odd[NER_NUM_LABELS];
    for (int j = 0; j < NER_NUM_LABELS; j++) odd[j] = CONLL_LABELS[j];
    odd[7] = "B-MISCELLANEOUS";
    snprintf(d, sizeof d, "%s", tmp_path("perm_odd"));
    rewrite_dir(dir_ner, d, &(Edit){0});
    set_id2label(d, odd, NER_NUM_LABELS);
    b = load_dir(d, &rep, &before);
    CU_ASSERT_EQUAL(rep.ner_head, 0);
    CU_ASSERT(strstr(rep.head_note, "'B-MISC'") != NULL);
    CU_ASSERT(check_params(b.m, src_model.m, before, 0, 0));
    free(before);
    free_model(&b);
    free(ps);
}

static void test_names_optional(void) {
    static const struct {
        const char *dir;
        Edit e;
    } cases[] = {
        {"names_noprefix", {.strip_prefix = 1}},
        {"names_gamma", {.old_ln = 1}},
        {"names_both", {.strip_prefix = 1, .old_ln = 1}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char d[512];
        snprintf(d, sizeof d, "%s", tmp_path(cases[i].dir));
        rewrite_dir(dir_ner, d, &cases[i].e);
        /* the rewrite really renamed */
        char p[600];
        snprintf(p, sizeof p, "%s/model.safetensors", d);
        SafeTensors st;
        Err err;
        CU_ASSERT_EQUAL_FATAL(st_open(p, &st, &err), 0);
        const char *want = cases[i].e.strip_prefix ? (cases[i].e.old_ln ? "embeddings.LayerNorm.gamma"
                                                                          : "embeddings.LayerNorm.weight")
                                                   : "bert.embeddings.LayerNorm.gamma";
        CU_ASSERT_PTR_NOT_NULL(st_find(&st, want));
        CU_ASSERT_PTR_NULL(st_find(&st, "bert.embeddings.LayerNorm.weight"));
        st_close(&st);
        HfLoadReport rep;
        float *before;
        Fixture b = load_dir(d, &rep, &before);
        CU_ASSERT(check_params(b.m, src_model.m, before, 1, 0));
        CU_ASSERT_EQUAL(rep.encoder_tensors, count_encoder_tensors(b.m));
        CU_ASSERT_EQUAL(rep.ner_head, 1);
        CU_ASSERT_EQUAL(rep.n_ignored, 0);
        free(before);
        free_model(&b);
    }

    /* pooler / MLM / position_ids tensors are ignored and listed */
    char d[512];
    snprintf(d, sizeof d, "%s", tmp_path("names_extra"));
    rewrite_dir(dir_ner, d,
                &(Edit){.strip_prefix = 1,
                        .extra = {"bert.pooler.dense.bias", "cls.predictions.bias", "embeddings.position_ids"}});
    HfLoadReport rep;
    float *before;
    Fixture b = load_dir(d, &rep, &before);
    CU_ASSERT(check_params(b.m, src_model.m, before, 1, 0));
    CU_ASSERT_EQUAL(rep.n_ignored, 3);
    CU_ASSERT(strstr(rep.ignored, "bert.pooler.dense.bias") && strstr(rep.ignored, "cls.predictions.bias") &&
              strstr(rep.ignored, "embeddings.position_ids"));
    free(before);
    free_model(&b);
}

/* hf_write_tokenizer_files + hf_read_tokenizer_config agree on every case
 * setting: the effective strip_accents (-1 = as lower) survives. */
static void test_tokenizer_files_round_trip(void) {
    static const int cases[][2] = {{1, -1}, {0, -1}, {1, 1}, {1, 0}, {0, 1}, {0, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int lower = cases[i][0], strip = cases[i][1];
        char d[512];
        snprintf(d, sizeof d, "%s", tmp_path("tokfiles"));
        make_dir(d);
        Err err = {{0}};
        CU_ASSERT_EQUAL_FATAL(hf_write_tokenizer_files(d, vocab_file, lower, strip, 64, &err), 0);
        HfInfo info;
        CU_ASSERT_EQUAL_FATAL(hf_read_tokenizer_config(d, &info, &err), 0);
        CU_ASSERT_EQUAL(info.lower, lower);
        int want = strip < 0 ? lower : strip;
        int got = info.strip_accents < 0 ? info.lower : info.strip_accents;
        CU_ASSERT_EQUAL(got, want);
        if (got != want)
            printf("\n  lower=%d strip_accents=%d written, read back as strip_accents=%d (effective %d)\n",
                   lower, strip, info.strip_accents, got);
    }
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mtl_test_hf.%ld", (long)getpid());
    Err err;
    if (mkdir_p(tmpdir, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    static const TestCase st_tests[] = {
        {"round trip: layout, offsets, bitwise data", test_st_round_trip},
        {"StList dump helper round trip", test_st_list},
        {"F16 / BF16 exact, other dtypes refused", test_st_dtypes},
        {"malformed headers and layouts refused", test_st_bad_files},
        {"every truncation refused", test_st_truncations},
        {"nothing but spaces after the header object", test_st_header_trailing},
        {"fixture files", test_st_fixtures},
        {NULL, NULL}};
    static const TestCase cfg_tests[] = {
        {"config.json: tiny BERT and refusals", test_read_config},
        {"tokenizer_config.json", test_read_tokenizer_config},
        {"hf_resolve", test_resolve},
        {NULL, NULL}};
    static const TestCase model_tests[] = {
        {"export: config, tokenizer, safetensors", test_export_files},
        {"export -> load round trip (bitwise)", test_load_round_trip},
        {"failed loads leave the model unchanged", test_load_failures},
        {"classifier rows follow id2label", test_label_permutation},
        {"no bert. prefix, gamma / beta, extras ignored", test_names_optional},
        {"tokenizer files round trip", test_tokenizer_files_round_trip},
        {NULL, NULL}};
    testutil_add_suite("safetensors", st_tests);
    testutil_add_suite("hf config", cfg_tests);
    CU_pSuite s = CU_add_suite("hf models", suite_models_init, suite_models_clean);
    if (!s) {
        fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
        return 1;
    }
    for (const TestCase *t = model_tests; t->name; t++)
        if (!CU_add_test(s, t->name, t->fn)) {
            fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
            return 1;
        }
    int rc = testutil_run_all();
    testutil_remove_tree(tmpdir);
    return rc;
}

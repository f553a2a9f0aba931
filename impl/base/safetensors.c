/* safetensors.c — the safetensors reader and writer (format: safetensors.h). */
#include "safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jsonr.h"

static const struct {
    const char *name;
    StDtype dtype;
    size_t size;
} DTYPES[] = {
    {"F32", ST_F32, 4}, {"F16", ST_F16, 2}, {"BF16", ST_BF16, 2}, {"F64", ST_F64, 8},
    {"I64", ST_I64, 8}, {"I32", ST_I32, 4}, {"I16", ST_I16, 2},   {"I8", ST_I8, 1},
    {"U8", ST_U8, 1},   {"BOOL", ST_BOOL, 1}, {"U16", ST_OTHER, 2}, {"U32", ST_OTHER, 4},
    {"U64", ST_OTHER, 8}, {"F8_E4M3", ST_OTHER, 1}, {"F8_E5M2", ST_OTHER, 1},
};

size_t st_dtype_size(StDtype d) {
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (DTYPES[i].dtype == d && d != ST_OTHER) return DTYPES[i].size;
    return 0;
}

/* The dtype and its element size; -1 for a name the format does not define. */
static int dtype_from_name(const char *s, StDtype *d, size_t *size) {
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (!strcmp(DTYPES[i].name, s)) {
            *d = DTYPES[i].dtype;
            *size = DTYPES[i].size;
            return 0;
        }
    return -1;
}

/* ------------------------------------------------------------------ reader */

/* A JSON number that is a non-negative integer below 2^53 (exact in a double). */
static int json_uint(const cJSON *j, int64_t *out) {
    if (!cJSON_IsNumber(j)) return -1;
    double v = j->valuedouble;
    if (!(v >= 0 && v <= 9007199254740992.0) || v != floor(v)) return -1;
    *out = (int64_t)v;
    return 0;
}

static int parse_shape(const SafeTensors *st, StTensor *t, const cJSON *shape, Err *err) {
    if (!cJSON_IsArray(shape))
        return err_set(err, "%s: tensor '%s': \"shape\" is not an array", st->path, t->name);
    int nd = cJSON_GetArraySize(shape);
    if (nd > ST_MAX_DIMS)
        return err_set(err, "%s: tensor '%s': %d dimensions (at most %d)", st->path, t->name, nd,
                       ST_MAX_DIMS);
    t->ndim = nd;
    t->numel = 1;
    for (int i = 0; i < nd; i++) {
        if (json_uint(cJSON_GetArrayItem(shape, i), &t->shape[i]))
            return err_set(err, "%s: tensor '%s': shape[%d] is not a non-negative integer",
                           st->path, t->name, i);
        if (t->shape[i] != 0 && t->numel > INT64_MAX / 16 / t->shape[i])
            return err_set(err, "%s: tensor '%s': shape product overflows", st->path, t->name);
        t->numel *= t->shape[i];
    }
    return 0;
}

static int parse_offsets(const SafeTensors *st, StTensor *t, const cJSON *offs, size_t esz, Err *err) {
    int64_t b, e;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 ||
        json_uint(cJSON_GetArrayItem(offs, 0), &b) || json_uint(cJSON_GetArrayItem(offs, 1), &e))
        return err_set(err, "%s: tensor '%s': \"data_offsets\" must be [BEGIN, END] integers",
                       st->path, t->name);
    if (b > e || (uint64_t)e > st->data_len)
        return err_set(err, "%s: tensor '%s': data_offsets [%lld, %lld] outside the %zu-byte data buffer",
                       st->path, t->name, (long long)b, (long long)e, st->data_len);
    if ((uint64_t)(e - b) != (uint64_t)t->numel * esz)
        return err_set(err, "%s: tensor '%s': %s shape of %lld elements needs %lld bytes, data_offsets give %lld",
                       st->path, t->name, t->dtype_name, (long long)t->numel,
                       (long long)(t->numel * (int64_t)esz), (long long)(e - b));
    t->begin = (size_t)b;
    t->end = (size_t)e;
    return 0;
}

static int parse_entry(const SafeTensors *st, const cJSON *item, StTensor *t, Err *err) {
    t->name = xstrdup(item->string);
    if (!cJSON_IsObject(item))
        return err_set(err, "%s: header entry '%s' is not an object", st->path, t->name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    if (!cJSON_IsString(dt))
        return err_set(err, "%s: tensor '%s': no \"dtype\" string", st->path, t->name);
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", dt->valuestring);
    size_t esz;
    if (dtype_from_name(dt->valuestring, &t->dtype, &esz))
        return err_set(err, "%s: tensor '%s': unknown dtype \"%.40s\"", st->path, t->name, dt->valuestring);
    if (parse_shape(st, t, cJSON_GetObjectItemCaseSensitive(item, "shape"), err)) return -1;
    return parse_offsets(st, t, cJSON_GetObjectItemCaseSensitive(item, "data_offsets"), esz, err);
}

static int cmp_begin(const void *a, const void *b) {
    const StTensor *x = *(const StTensor *const *)a, *y = *(const StTensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const StTensor *const *)a)->name, (*(const StTensor *const *)b)->name);
}

/* No duplicate names, no overlapping ranges, no uncovered bytes. */
static int check_layout(const SafeTensors *st, Err *err) {
    const StTensor **p = xmalloc(((size_t)st->n + 1) * sizeof *p);
    for (int i = 0; i < st->n; i++) p[i] = &st->t[i];
    int rc = 0;
    qsort(p, (size_t)st->n, sizeof *p, cmp_name);
    for (int i = 1; i < st->n && !rc; i++)
        if (!strcmp(p[i - 1]->name, p[i]->name))
            rc = err_set(err, "%s: tensor '%s' appears twice in the header", st->path, p[i]->name);
    qsort(p, (size_t)st->n, sizeof *p, cmp_begin);
    size_t covered = 0;
    for (int i = 0; i < st->n && !rc; i++) {
        if (p[i]->begin < covered)
            rc = err_set(err, "%s: tensor '%s' (bytes %zu..%zu) overlaps tensor '%s' (ends at %zu)",
                         st->path, p[i]->name, p[i]->begin, p[i]->end, p[i - 1]->name, covered);
        else if (p[i]->begin > covered)
            rc = err_set(err, "%s: data bytes %zu..%zu belong to no tensor (before '%s')", st->path,
                         covered, p[i]->begin, p[i]->name);
        else covered = p[i]->end;
    }
    if (!rc && covered != st->data_len)
        rc = err_set(err, "%s: data bytes %zu..%zu belong to no tensor", st->path, covered,
                     st->data_len);
    free(p);
    return rc;
}

/* "__metadata__": an object of string values (the format's {string: string}). */
static int check_metadata(const SafeTensors *st, const cJSON *meta, Err *err) {
    if (!cJSON_IsObject(meta)) return err_set(err, "%s: \"__metadata__\" is not an object", st->path);
    for (const cJSON *m = meta->child; m; m = m->next)
        if (!cJSON_IsString(m))
            return err_set(err, "%s: \"__metadata__\": the value of \"%.100s\" is not a string (the format allows only {string: string})",
                           st->path, m->string);
    return 0;
}

static int parse_header(SafeTensors *st, const char *hdr, size_t hlen, Err *err) {
    char name[1100];
    snprintf(name, sizeof name, "%s: the header", st->path);
    /* only the format's space padding may follow the object */
    cJSON *root = jsonr_parse(hdr, hlen, name, 8, err);
    if (!root) return -1;
    int rc = 0;
    if (!cJSON_IsObject(root)) rc = err_set(err, "%s: the header is not a JSON object", st->path);
    int cap = rc ? 0 : cJSON_GetArraySize(root);
    st->t = xcalloc((size_t)cap + 1, sizeof *st->t);
    for (const cJSON *it = rc ? NULL : root->child; it && !rc; it = it->next) {
        if (!it->string) continue;
        if (!strcmp(it->string, "__metadata__")) {
            rc = check_metadata(st, it, err);
            continue;
        }
        rc = parse_entry(st, it, &st->t[st->n], err);
        st->n++;
    }
    cJSON_Delete(root);
    return rc ? rc : check_layout(st, err);
}

int st_parse(const uint8_t *buf, size_t len, const char *name, SafeTensors *st, Err *err) {
    memset(st, 0, sizeof *st);
    snprintf(st->path, sizeof st->path, "%s", name ? name : "<memory>");
    if (len < 8)
        return err_set(err, "%s: %zu bytes, too short for the 8-byte header length", st->path, len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | buf[i];
    if (hlen > ST_MAX_HEADER || hlen > len - 8)
        return err_set(err, "%s: header length %llu does not fit the file (%zu bytes; at most %u)",
                       st->path, (unsigned long long)hlen, len, ST_MAX_HEADER);
    st->data = buf + 8 + hlen;
    st->data_len = len - 8 - (size_t)hlen;
    if (parse_header(st, (const char *)buf + 8, (size_t)hlen, err)) {
        st_close(st);
        return -1;
    }
    return 0;
}

int st_open(const char *path, SafeTensors *st, Err *err) {
    size_t len;
    uint8_t *buf = (uint8_t *)read_file_all(path, &len, err);
    if (!buf) return -1;
    if (st_parse(buf, len, path, st, err)) {
        free(buf);
        return -1;
    }
    st->owned = buf;
    return 0;
}

void st_close(SafeTensors *st) {
    for (int i = 0; i < st->n; i++) free(st->t[i].name);
    free(st->t);
    free(st->owned);
    st->t = NULL;
    st->owned = NULL;
    st->n = 0;
}

const StTensor *st_find(const SafeTensors *st, const char *name) {
    for (int i = 0; i < st->n; i++)
        if (!strcmp(st->t[i].name, name)) return &st->t[i];
    return NULL;
}

/* IEEE 754 binary16 -> binary32 (exact: every half is a float). */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 31u, man = h & 0x3FFu, bits;
    if (exp == 31) bits = sign | 0x7F800000u | man << 13;           /* inf / NaN */
    else if (exp) bits = sign | (exp + 112) << 23 | man << 13;      /* normal: rebias 15 -> 127 */
    else if (!man) bits = sign;                                     /* +-0 */
    else { /* subnormal: man * 2^-24 */
        float f = ldexpf((float)man, -24);
        memcpy(&bits, &f, 4);
        bits |= sign;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

int st_read_f32(const SafeTensors *st, const StTensor *t, float *dst, Err *err) {
    const uint8_t *src = st->data + t->begin;
    size_t n = (size_t)t->numel;
    switch (t->dtype) {
    case ST_F32:
        memcpy(dst, src, n * 4);
        return 0;
    case ST_F16:
        for (size_t i = 0; i < n; i++) dst[i] = half_to_float((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
        return 0;
    case ST_BF16: /* the top 16 bits of a float32 */
        for (size_t i = 0; i < n; i++) {
            uint32_t bits = (uint32_t)(src[2 * i] | src[2 * i + 1] << 8) << 16;
            memcpy(&dst[i], &bits, 4);
        }
        return 0;
    default:
        return err_set(err, "%s: tensor '%s' has dtype %s (only F32, F16 and BF16 are read)",
                       st->path, t->name, t->dtype_name);
    }
}

/* ------------------------------------------------------------------ writer */

static char *header_json(const StOut *t, int n) {
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    double off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(root, t[i].name);
        cJSON_AddStringToObject(e, "dtype", "F32");
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        double numel = 1;
        for (int d = 0; d < t[i].ndim; d++) {
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t[i].shape[d]));
            numel *= (double)t[i].shape[d];
        }
        cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber(off));
        off += 4 * numel;
        cJSON_AddItemToArray(offs, cJSON_CreateNumber(off));
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

int st_write_f32(const char *path, const StOut *t, int n, Err *err) {
    char *json = header_json(t, n);
    if (!json) return err_set(err, "%s: could not build the safetensors header", path);
    size_t jlen = strlen(json), hlen = (jlen + 7) / 8 * 8; /* pad with spaces to 8 bytes */
    uint8_t *hdr = xmalloc(8 + hlen);
    for (int i = 0; i < 8; i++) hdr[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    memcpy(hdr + 8, json, jlen);
    memset(hdr + 8 + jlen, ' ', hlen - jlen);
    free(json);
    int nseg = n + 1;
    const void **seg = xmalloc((size_t)nseg * sizeof *seg);
    size_t *seglen = xmalloc((size_t)nseg * sizeof *seglen);
    seg[0] = hdr;
    seglen[0] = 8 + hlen;
    for (int i = 0; i < n; i++) {
        size_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) numel *= (size_t)t[i].shape[d];
        seg[i + 1] = t[i].data;
        seglen[i + 1] = numel * sizeof(float);
    }
    int rc = atomic_write_segments(path, seg, seglen, nseg, err);
    free(hdr);
    free(seg);
    free(seglen);
    return rc;
}

/* ------------------------------------------------------------ tensor list */

float *st_list_add(StList *l, const char *name, int rows, int cols) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->t = xrealloc(l->t, (size_t)l->cap * sizeof *l->t);
        l->name = xrealloc(l->name, (size_t)l->cap * sizeof *l->name);
        l->buf = xrealloc(l->buf, (size_t)l->cap * sizeof *l->buf);
    }
    float *b = xmalloc((size_t)rows * (size_t)(cols ? cols : 1) * sizeof(float) + 1);
    snprintf(l->name[l->n], sizeof l->name[l->n], "%s", name);
    l->buf[l->n] = b;
    l->t[l->n] = (StOut){NULL, b, cols ? 2 : 1, {rows, cols}};
    l->n++;
    return b;
}

void st_list_add_ints(StList *l, const char *name, const int *v, int n) {
    float *f = st_list_add(l, name, n, 0);
    for (int i = 0; i < n; i++) f[i] = (float)v[i];
}

int st_list_write(StList *l, const char *path, Err *err) {
    for (int i = 0; i < l->n; i++) l->t[i].name = l->name[i];
    return st_write_f32(path, l->t, l->n, err);
}

void st_list_free(StList *l) {
    for (int i = 0; i < l->n; i++) free(l->buf[i]);
    free(l->t);
    free(l->name);
    free(l->buf);
    memset(l, 0, sizeof *l);
}

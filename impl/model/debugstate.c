/* debugstate.c — reader for the PyTorch golden-state file (format:
 * reference/DEBUG_STATE.md).
 *
 * The whole file is read into memory, then parsed with a cursor that checks
 * every read against the file size before touching a byte. Each tensor's data
 * is copied into its own (aligned) allocation. Errors name the file, the byte
 * offset and the tensor being read. */
#include "debugstate.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "debugstate.c assumes a little-endian host (the file is little-endian)"
#endif

#define DS_VERSION 1u
#define DS_TRAILER 0xC0FFEE01u
#define DS_MAX_TENSORS 100000u
#define DS_MAX_NAME 256u
#define DS_MAX_NDIM 4u
/* Smallest possible tensor record: name length, 1 name byte, dtype, ndim. */
#define DS_MIN_RECORD 13u

static const char DS_MAGIC[8] = {'M', 'T', 'L', 'D', 'B', 'G', 0, 0};

typedef struct {
    const char *path;
    const unsigned char *buf;
    size_t len, pos;
    const char *tensor;   /* name of the tensor being read, once known */
    const char *previous; /* name of the last complete tensor */
    uint32_t index;       /* index of the record being read */
    int in_records;       /* past the header */
} Cursor;

/* Fail unless n more bytes are available at the cursor. */
static int need(Cursor *c, size_t n, const char *what, Err *err) {
    if (n <= c->len - c->pos) return 0;
    if (!c->in_records)
        return err_set(err, "%s: truncated at byte %zu while reading the %s (needs %zu bytes at offset %zu)",
                       c->path, c->len, what, n, c->pos);
    if (!c->tensor)
        return err_set(err, "%s: truncated at byte %zu while reading the %s of tensor #%u, after '%s' (needs %zu bytes at offset %zu)",
                       c->path, c->len, what, c->index, c->previous ? c->previous : "(none)", n,
                       c->pos);
    return err_set(err, "%s: truncated at byte %zu while reading %s of '%s' (needs %zu bytes at offset %zu)",
                   c->path, c->len, what, c->tensor, n, c->pos);
}

static int read_bytes(Cursor *c, void *dst, size_t n, const char *what, Err *err) {
    if (need(c, n, what, err)) return -1;
    memcpy(dst, c->buf + c->pos, n);
    c->pos += n;
    return 0;
}

static int read_u32(Cursor *c, uint32_t *v, const char *what, Err *err) {
    return read_bytes(c, v, sizeof *v, what, err);
}

static size_t dtype_size(uint32_t dtype) {
    switch (dtype) {
    case DS_F32: return 4;
    case DS_I32: return 4;
    case DS_F64: return 8;
    default: return 0;
    }
}

static int read_header(Cursor *c, uint32_t *count, Err *err) {
    char magic[8];
    uint32_t version;
    if (read_bytes(c, magic, sizeof magic, "magic", err)) return -1;
    if (memcmp(magic, DS_MAGIC, sizeof magic) != 0)
        return err_set(err, "%s: bad magic at byte 0 (not an MTLDBG debug-state file)", c->path);
    if (read_u32(c, &version, "version", err)) return -1;
    if (version != DS_VERSION)
        return err_set(err, "%s: unsupported version %u at byte 8 (this reader knows %u)", c->path,
                       version, DS_VERSION);
    if (read_u32(c, count, "tensor count", err)) return -1;
    /* Every record takes >= DS_MIN_RECORD bytes, so a count that cannot fit
     * in the rest of the file is rejected before anything is allocated. */
    size_t fits = (c->len - c->pos) / DS_MIN_RECORD;
    if (*count > DS_MAX_TENSORS)
        return err_set(err, "%s: implausible tensor count %u at byte 12 (max %u)", c->path, *count,
                       DS_MAX_TENSORS);
    if (*count > fits)
        return err_set(err, "%s: truncated at byte %zu: the header's tensor count %u cannot fit in the %zu bytes that follow",
                       c->path, c->len, *count, c->len - c->pos);
    return 0;
}

static int name_is_printable(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e) return 0;
    return 1;
}

static int read_name(Cursor *c, DsTensor *t, uint32_t index, Err *err) {
    uint32_t k;
    size_t at = c->pos;
    if (read_u32(c, &k, "name length", err)) return -1;
    if (k == 0 || k > DS_MAX_NAME)
        return err_set(err, "%s: tensor #%u at byte %zu: name length %u out of range 1..%u", c->path,
                       index, at, k, DS_MAX_NAME);
    if (need(c, k, "name", err)) return -1;
    t->name = xmalloc((size_t)k + 1);
    memcpy(t->name, c->buf + c->pos, k);
    t->name[k] = '\0';
    if (!name_is_printable(t->name, k))
        return err_set(err, "%s: tensor #%u at byte %zu: name is not printable ASCII", c->path,
                       index, c->pos);
    c->pos += k;
    c->tensor = t->name;
    return 0;
}

/* dtype, ndim and shape; computes numel, rejecting a shape whose byte size
 * would overflow. */
static int read_meta(Cursor *c, DsTensor *t, Err *err) {
    uint32_t dtype, ndim;
    size_t at = c->pos;
    if (read_u32(c, &dtype, "dtype", err)) return -1;
    if (!dtype_size(dtype))
        return err_set(err, "%s: byte %zu: unknown dtype %u of '%s'", c->path, at, dtype, t->name);
    at = c->pos;
    if (read_u32(c, &ndim, "ndim", err)) return -1;
    if (ndim > DS_MAX_NDIM)
        return err_set(err, "%s: byte %zu: ndim %u of '%s' exceeds %u", c->path, at, ndim, t->name,
                       DS_MAX_NDIM);
    t->dtype = (int)dtype;
    t->ndim = (int)ndim;
    /* numel * element size must fit in a size_t (and a long); the data
     * read then checks it against the bytes left in the file. */
    size_t limit = (size_t)LONG_MAX / dtype_size(dtype);
    size_t numel = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        uint32_t dim;
        at = c->pos;
        if (read_u32(c, &dim, "shape", err)) return -1;
        if (dim > (uint32_t)INT32_MAX)
            return err_set(err, "%s: byte %zu: shape[%u] = %u of '%s' is out of range", c->path, at,
                           d, dim, t->name);
        if (dim && numel > limit / dim)
            return err_set(err, "%s: byte %zu: shape of '%s' overflows (product too large at shape[%u] = %u)",
                           c->path, at, t->name, d, dim);
        t->shape[d] = (int)dim;
        numel *= dim;
    }
    t->numel = (long)numel;
    return 0;
}

static int read_data(Cursor *c, DsTensor *t, Err *err) {
    size_t bytes = (size_t)t->numel * dtype_size((uint32_t)t->dtype);
    if (need(c, bytes, "data", err)) return -1;
    t->data = xmalloc(bytes);
    memcpy(t->data, c->buf + c->pos, bytes);
    c->pos += bytes;
    return 0;
}

static int check_unique(const DebugState *ds, const Cursor *c, Err *err) {
    const char *name = ds->t[ds->n - 1].name;
    for (int i = 0; i < ds->n - 1; i++)
        if (strcmp(ds->t[i].name, name) == 0)
            return err_set(err, "%s: duplicate tensor name '%s' (record ending at byte %zu)", c->path,
                           name, c->pos);
    return 0;
}

static int read_trailer(Cursor *c, Err *err) {
    uint32_t v;
    c->tensor = NULL;
    size_t at = c->pos;
    if (c->len - c->pos < 4)
        return err_set(err, "%s: missing trailer at byte %zu (file truncated after the last tensor?)",
                       c->path, at);
    if (read_u32(c, &v, "trailer", err)) return -1;
    if (v != DS_TRAILER)
        return err_set(err, "%s: bad trailer 0x%08X at byte %zu (expected 0x%08X)", c->path, v, at,
                       DS_TRAILER);
    if (c->pos != c->len)
        return err_set(err, "%s: %zu unexpected bytes after the trailer at byte %zu", c->path,
                       c->len - c->pos, c->pos);
    return 0;
}

static int parse(Cursor *c, DebugState *ds, Err *err) {
    uint32_t count = 0;
    if (read_header(c, &count, err)) return -1;
    ds->t = xcalloc(count ? count : 1, sizeof *ds->t);
    c->in_records = 1;
    for (uint32_t i = 0; i < count; i++) {
        DsTensor *t = &ds->t[i];
        ds->n = (int)i + 1; /* so that debugstate_free releases partial tensors */
        c->index = i;
        c->tensor = NULL;
        if (read_name(c, t, i, err) || read_meta(c, t, err) || read_data(c, t, err) ||
            check_unique(ds, c, err))
            return -1;
        c->previous = t->name;
    }
    return read_trailer(c, err);
}

DebugState *debugstate_load(const char *path, Err *err) {
    size_t len = 0;
    char *buf = read_file_all(path, &len, err);
    if (!buf) return NULL;
    Cursor c = {.path = path, .buf = (const unsigned char *)buf, .len = len, .pos = 0};
    DebugState *ds = xcalloc(1, sizeof *ds);
    int rc = parse(&c, ds, err);
    free(buf);
    if (rc) {
        debugstate_free(ds);
        return NULL;
    }
    return ds;
}

void debugstate_free(DebugState *ds) {
    if (!ds) return;
    for (int i = 0; i < ds->n; i++) {
        free(ds->t[i].name);
        free(ds->t[i].data);
    }
    free(ds->t);
    free(ds);
}

const DsTensor *debugstate_get(const DebugState *ds, const char *name) {
    if (!ds || !name) return NULL;
    for (int i = 0; i < ds->n; i++)
        if (strcmp(ds->t[i].name, name) == 0) return &ds->t[i];
    return NULL;
}

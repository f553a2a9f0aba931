/* checkpoint.c — see checkpoint.h for the format. */
#include "checkpoint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"

static const char CKPT_MAGIC[8] = {'M', 'T', 'L', 'C', 'K', 'P', 'T', '\0'};
enum {
    CKPT_VERSION = 1,
    CKPT_VERSION_AUX = 2,
    CKPT_VERSION_SPLIT = 3,
    CKPT_VERSION_FROZEN = 4,
    CKPT_MAX_TENSORS = 100000,
    CKPT_MAX_NAME = 255
};

void ckpt_state_free(TrainState *st) {
    free(st->options);
    st->options = NULL;
}

/* ---------------------------------------------------------------- writing */

typedef struct {
    uint8_t *b;
    size_t len, cap;
} Bytes;

static void put_bytes(Bytes *o, const void *p, size_t n) {
    if (o->len + n > o->cap) {
        o->cap = (o->len + n) * 2 + 256;
        o->b = xrealloc(o->b, o->cap);
    }
    memcpy(o->b + o->len, p, n);
    o->len += n;
}
static void put_u32(Bytes *o, uint32_t v) { put_bytes(o, &v, 4); }
static void put_i32(Bytes *o, int32_t v) { put_bytes(o, &v, 4); }
static void put_u64(Bytes *o, uint64_t v) { put_bytes(o, &v, 8); }
static void put_f32(Bytes *o, float v) { put_bytes(o, &v, 4); }

static void put_config(Bytes *o, const ModelConfig *c, uint32_t version) {
    char preset[32] = {0};
    snprintf(preset, sizeof preset, "%s", c->preset);
    put_bytes(o, preset, sizeof preset);
    int32_t ints[9] = {c->L, c->C, c->NH, c->FFN, c->V, c->maxT, c->type_vocab, c->num_labels,
                       c->heads};
    for (int i = 0; i < 9; i++) put_i32(o, ints[i]);
    put_f32(o, c->ln_eps);
    put_f32(o, c->p_drop);
    put_f32(o, c->init_std);
    if (version >= CKPT_VERSION_SPLIT) put_i32(o, config_shared_layers(c));
    if (version == CKPT_VERSION_FROZEN) {
        put_i32(o, c->frozen_encoder);
        put_i32(o, c->lora_rank);
        put_i32(o, c->lora_targets);
        put_f32(o, c->lora_alpha);
    }
}

static void put_state(Bytes *o, const TrainState *st, int adam_t, uint32_t version) {
    put_u64(o, st->seed);
    put_u64(o, (uint64_t)(int64_t)st->step);
    put_i32(o, adam_t);
    put_i32(o, st->n_orders);
    for (int i = 0; i < st->n_orders; i++) {
        put_i32(o, st->order[i].n);
        put_i32(o, st->order[i].epoch);
        put_i32(o, st->order[i].pos);
    }
    if (st->n_aux > 0 || version >= CKPT_VERSION_SPLIT) {
        put_u32(o, (uint32_t)st->n_aux);
        put_bytes(o, st->aux, (size_t)st->n_aux * sizeof(double));
    }
    const char *opt = st->options ? st->options : "";
    put_u32(o, (uint32_t)strlen(opt));
    put_bytes(o, opt, strlen(opt));
}

static void put_table(Bytes *o, const Model *m, uint32_t version) {
    put_u32(o, (uint32_t)model_num_tensors(m));
    for (int i = 0; i < model_num_tensors(m); i++) {
        const ParamInfo *p = model_tensor(m, i);
        put_u32(o, (uint32_t)strlen(p->name));
        put_bytes(o, p->name, strlen(p->name));
        put_u32(o, (uint32_t)p->ndim);
        for (int d = 0; d < p->ndim; d++) put_u32(o, (uint32_t)p->shape[d]);
        put_u64(o, p->offset);
        put_u64(o, p->numel);
    }
    put_u64(o, model_num_params(m));
    if (version == CKPT_VERSION_FROZEN) put_u64(o, model_num_trainable(m));
}

int checkpoint_save(const char *path, const Model *m, const TrainState *st, Err *err) {
    if (st->n_orders < 0 || st->n_orders > CKPT_MAX_ORDERS)
        return err_set(err, "%s: %d data orders (max %d)", path, st->n_orders, CKPT_MAX_ORDERS);
    if (st->n_aux < 0 || st->n_aux > CKPT_MAX_AUX)
        return err_set(err, "%s: %d auxiliary state values (max %d)", path, st->n_aux, CKPT_MAX_AUX);
    size_t n = model_num_params(m), nt = model_num_trainable(m);
    float *params = xmalloc(n * sizeof(float));
    float *mom = xmalloc(nt * sizeof(float));
    float *vel = xmalloc(nt * sizeof(float));
    int adam_t = 0;
    model_params_to_host(m, params);
    model_optstate_to_host(m, mom, vel, &adam_t);

    Bytes hdr = {0};
    put_bytes(&hdr, CKPT_MAGIC, 8);
    /* version 1 when there is no auxiliary state and every layer is shared,
     * 2 with auxiliary state: such files stay readable by older builds */
    uint32_t version = model_config(m)->frozen_encoder ? CKPT_VERSION_FROZEN
                       : model_config(m)->task_layers > 0 ? CKPT_VERSION_SPLIT
                       : st->n_aux > 0                   ? CKPT_VERSION_AUX
                                                         : CKPT_VERSION;
    put_u32(&hdr, version);
    put_config(&hdr, model_config(m), version);
    put_state(&hdr, st, adam_t, version);
    put_table(&hdr, m, version);

    Sha256 sh;
    sha256_init(&sh);
    sha256_update(&sh, hdr.b, hdr.len);
    sha256_update(&sh, params, n * sizeof(float));
    sha256_update(&sh, mom, nt * sizeof(float));
    sha256_update(&sh, vel, nt * sizeof(float));
    uint8_t digest[32];
    sha256_final(&sh, digest);

    const void *seg[5] = {hdr.b, params, mom, vel, digest};
    size_t len[5] = {hdr.len, n * sizeof(float), nt * sizeof(float), nt * sizeof(float), 32};
    int rc = atomic_write_segments(path, seg, len, 5, err);
    free(hdr.b);
    free(params);
    free(mom);
    free(vel);
    return rc;
}

/* ---------------------------------------------------------------- reading */

typedef struct {
    char name[CKPT_MAX_NAME + 1];
    int ndim;
    int shape[4];
    uint64_t offset, numel;
} CkTensor;

/* A parsed checkpoint: views into the file buffer. */
typedef struct {
    char *buf;
    size_t len;
    ModelConfig cfg;
    TrainState st;
    int n_tensors;
    CkTensor *t;
    uint64_t n_params;
    uint64_t n_train; /* Adam moments: of the last n_train parameters (version 4), else n_params */
    const float *params, *m, *v;
} Ckpt;

typedef struct {
    const char *buf;
    size_t len, off;
    const char *path;
    Err *err;
} Cursor;

static int rd(Cursor *c, void *dst, size_t n, const char *what) {
    if (n > c->len - c->off)
        return err_set(c->err, "%s: truncated at byte %zu while reading %s (file has %zu bytes)",
                       c->path, c->off, what, c->len);
    memcpy(dst, c->buf + c->off, n);
    c->off += n;
    return 0;
}

static int rd_config(Cursor *c, ModelConfig *cfg, uint32_t version) {
    memset(cfg, 0, sizeof *cfg);
    int32_t v[9];
    if (rd(c, cfg->preset, 32, "the model config")) return -1;
    cfg->preset[31] = '\0';
    if (rd(c, v, sizeof v, "the model config")) return -1;
    cfg->L = v[0], cfg->C = v[1], cfg->NH = v[2], cfg->FFN = v[3], cfg->V = v[4];
    cfg->maxT = v[5], cfg->type_vocab = v[6], cfg->num_labels = v[7], cfg->heads = v[8];
    if (rd(c, &cfg->ln_eps, 4, "the model config") || rd(c, &cfg->p_drop, 4, "the model config") ||
        rd(c, &cfg->init_std, 4, "the model config"))
        return -1;
    int32_t shared = cfg->L; /* older versions: every layer shared */
    if (version >= CKPT_VERSION_SPLIT && rd(c, &shared, 4, "the shared layer count")) return -1;
    if (version == CKPT_VERSION_SPLIT && (shared < 0 || shared >= cfg->L))
        return err_set(c->err, "%s: shared layer count %d at byte %zu must be in [0, L=%d) in a version-3 checkpoint",
                       c->path, shared, c->off - 4, cfg->L);
    cfg->task_layers = cfg->L - shared;
    if (version == CKPT_VERSION_FROZEN &&
        (rd(c, &cfg->frozen_encoder, 4, "the frozen-encoder flag") || rd(c, &cfg->lora_rank, 4, "the LoRA rank") ||
         rd(c, &cfg->lora_targets, 4, "the LoRA targets") || rd(c, &cfg->lora_alpha, 4, "the LoRA alpha")))
        return -1;
    Err e;
    if (config_validate(cfg, &e) != 0)
        return err_set(c->err, "%s: invalid model config at byte %zu: %s", c->path, c->off, e.msg);
    return 0;
}

/* Version 2: 1..CKPT_MAX_AUX values; version 3: 0..CKPT_MAX_AUX. */
static int rd_aux(Cursor *c, TrainState *st, uint32_t version) {
    uint32_t n = 0, lo = version >= CKPT_VERSION_SPLIT ? 0 : 1;
    if (rd(c, &n, 4, "the auxiliary state count")) return -1;
    if (n < lo || n > CKPT_MAX_AUX)
        return err_set(c->err, "%s: implausible auxiliary state count %u at byte %zu (%u..%d)",
                       c->path, n, c->off - 4, lo, CKPT_MAX_AUX);
    st->n_aux = (int)n;
    return rd(c, st->aux, (size_t)n * sizeof(double), "the auxiliary state");
}

static int rd_state(Cursor *c, TrainState *st, uint32_t version) {
    int64_t step = 0;
    int32_t t = 0, n_orders = 0;
    if (rd(c, &st->seed, 8, "the training state") || rd(c, &step, 8, "the training state") ||
        rd(c, &t, 4, "the training state") || rd(c, &n_orders, 4, "the training state"))
        return -1;
    if (step < 0 || step > TRAIN_MAX_STEPS || t < 0 || t > TRAIN_MAX_STEPS || n_orders < 0 ||
        n_orders > CKPT_MAX_ORDERS)
        return err_set(c->err, "%s: implausible training state before byte %zu (step %lld, adam t %d, %d orders)",
                       c->path, c->off, (long long)step, t, n_orders);
    st->step = (long)step;
    st->adam_t = t;
    st->n_orders = n_orders;
    for (int i = 0; i < n_orders; i++) {
        int32_t o[3] = {0, 0, 0};
        if (rd(c, o, sizeof o, "the data-order state")) return -1;
        if (o[0] < 0 || o[1] < 0 || o[2] < 0 || o[2] > o[0])
            return err_set(c->err, "%s: implausible data order %d at byte %zu (n %d epoch %d pos %d)",
                           c->path, i, c->off - sizeof o, o[0], o[1], o[2]);
        st->order[i] = (OrderState){o[0], o[1], o[2]};
    }
    st->n_aux = 0;
    if (version != CKPT_VERSION && rd_aux(c, st, version)) return -1;
    uint32_t k = 0;
    if (rd(c, &k, 4, "the options length")) return -1;
    if (k > c->len - c->off)
        return err_set(c->err, "%s: truncated at byte %zu: options text of %u bytes does not fit (file has %zu bytes)",
                       c->path, c->off, k, c->len);
    st->options = xmalloc((size_t)k + 1);
    rd(c, st->options, k, "the options");
    st->options[k] = '\0';
    return 0;
}

static int rd_tensor(Cursor *c, CkTensor *t, int i, uint64_t expect_offset) {
    uint32_t k = 0, nd = 0;
    if (rd(c, &k, 4, "a tensor name length")) return -1;
    if (k == 0 || k > CKPT_MAX_NAME)
        return err_set(c->err, "%s: tensor %d at byte %zu: implausible name length %u", c->path, i,
                       c->off - 4, k);
    if (rd(c, t->name, k, "a tensor name")) return -1;
    t->name[k] = '\0';
    if (rd(c, &nd, 4, "a tensor rank")) return -1;
    if (nd < 1 || nd > 4)
        return err_set(c->err, "%s: tensor '%s' at byte %zu: ndim %u not in 1..4", c->path, t->name,
                       c->off - 4, nd);
    t->ndim = (int)nd;
    uint64_t prod = 1;
    for (uint32_t d = 0; d < nd; d++) {
        uint32_t s = 0;
        if (rd(c, &s, 4, "a tensor shape")) return -1;
        if (s == 0 || s > (1u << 30))
            return err_set(c->err, "%s: tensor '%s' at byte %zu: implausible dimension %u", c->path,
                           t->name, c->off - 4, s);
        t->shape[d] = (int)s;
        prod *= s;
        if (prod > (1ull << 40))
            return err_set(c->err, "%s: tensor '%s': shape product overflows", c->path, t->name);
    }
    if (rd(c, &t->offset, 8, "a tensor offset") || rd(c, &t->numel, 8, "a tensor size")) return -1;
    if (t->numel != prod || t->offset != expect_offset)
        return err_set(c->err, "%s: tensor '%s' before byte %zu: offset %llu / numel %llu inconsistent (expected %llu / %llu)",
                       c->path, t->name, c->off, (unsigned long long)t->offset,
                       (unsigned long long)t->numel, (unsigned long long)expect_offset,
                       (unsigned long long)prod);
    return 0;
}

static int rd_table(Cursor *c, Ckpt *k, uint32_t version) {
    uint32_t n = 0;
    if (rd(c, &n, 4, "the tensor count")) return -1;
    if (n == 0 || n > CKPT_MAX_TENSORS)
        return err_set(c->err, "%s: implausible tensor count %u at byte %zu", c->path, n, c->off - 4);
    k->t = xcalloc(n, sizeof *k->t);
    k->n_tensors = (int)n;
    uint64_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (rd_tensor(c, &k->t[i], (int)i, off)) return -1;
        off += k->t[i].numel;
    }
    if (rd(c, &k->n_params, 8, "the parameter count")) return -1;
    if (k->n_params != off)
        return err_set(c->err, "%s: parameter count %llu at byte %zu does not equal the table's sum %llu",
                       c->path, (unsigned long long)k->n_params, c->off - 8,
                       (unsigned long long)off);
    k->n_train = k->n_params;
    if (version == CKPT_VERSION_FROZEN) {
        if (rd(c, &k->n_train, 8, "the trainable parameter count")) return -1;
        if (k->n_train == 0 || k->n_train > k->n_params)
            return err_set(c->err, "%s: trainable parameter count %llu at byte %zu must be in [1, %llu]", c->path,
                           (unsigned long long)k->n_train, c->off - 8, (unsigned long long)k->n_params);
    }
    return 0;
}

/* Payload size check (truncation or trailing bytes), then the checksum. */
static int check_payload(Cursor *c, Ckpt *k) {
    uint64_t need = (k->n_params + 2 * k->n_train) * sizeof(float) + 32;
    if (need > c->len - c->off)
        return err_set(c->err, "%s: truncated: payload starts at byte %zu and needs %llu bytes, file has %zu bytes",
                       c->path, c->off, (unsigned long long)need, c->len);
    if (need < c->len - c->off)
        return err_set(c->err, "%s: %zu unexpected trailing bytes after byte %llu", c->path,
                       c->len - c->off - (size_t)need, (unsigned long long)(c->off + need));
    size_t body = c->len - 32;
    uint8_t digest[32];
    sha256(c->buf, body, digest);
    if (memcmp(digest, c->buf + body, 32) != 0) {
        char want[65], got[65];
        sha256_hex((const uint8_t *)c->buf + body, want);
        sha256_hex(digest, got);
        return err_set(c->err, "%s: checksum mismatch: bytes 0..%zu hash to %.16s..., the trailer at byte %zu says %.16s... (file corrupted)",
                       c->path, body, got, body, want);
    }
    const float *f = (const float *)(c->buf + c->off);
    k->params = f;
    k->m = f + k->n_params;
    k->v = f + k->n_params + k->n_train;
    return 0;
}

/* Every parameter and Adam moment finite (a NaN would otherwise be trained
 * on or predicted from); the message names the tensor and the element. */
static int check_finite(const char *path, const Ckpt *k, Err *err) {
    static const char *const WHAT[3] = {"", " (Adam first moment)", " (Adam second moment)"};
    const char *arr[3] = {(const char *)k->params, (const char *)k->m, (const char *)k->v};
    uint64_t g0 = k->n_params - k->n_train; /* the moments cover [g0, n_params) */
    for (int a = 0; a < 3; a++)
        for (int i = 0; i < k->n_tensors; i++) {
            const CkTensor *t = &k->t[i];
            if (a > 0 && t->offset < g0) continue; /* frozen: no moments */
            const char *x = arr[a] + (t->offset - (a > 0 ? g0 : 0)) * sizeof(float); /* unaligned in the file image */
            if (weights_check_finite(x, t->numel, path, t->name, WHAT[a], err)) return -1;
        }
    return 0;
}

static void ckpt_close(Ckpt *k) {
    free(k->buf);
    free(k->t);
    ckpt_state_free(&k->st);
    memset(k, 0, sizeof *k);
}

static int ckpt_open(const char *path, Ckpt *k, Err *err) {
    memset(k, 0, sizeof *k);
    k->buf = read_file_all(path, &k->len, err);
    if (!k->buf) return -1;
    Cursor c = {k->buf, k->len, 0, path, err};
    char magic[8];
    uint32_t version = 0;
    int rc = -1;
    if (rd(&c, magic, 8, "the magic")) goto out;
    if (memcmp(magic, CKPT_MAGIC, 8) != 0) {
        err_set(err, "%s: not an mtl checkpoint (bad magic at byte 0)", path);
        goto out;
    }
    if (rd(&c, &version, 4, "the version")) goto out;
    if (version < CKPT_VERSION || version > CKPT_VERSION_FROZEN) {
        err_set(err, "%s: unsupported checkpoint version %u at byte 8 (this build reads %d to %d)",
                path, version, CKPT_VERSION, CKPT_VERSION_FROZEN);
        goto out;
    }
    if (rd_config(&c, &k->cfg, version) || rd_state(&c, &k->st, version) || rd_table(&c, k, version) ||
        check_payload(&c, k) ||
        check_finite(path, k, err))
        goto out;
    rc = 0;
out:
    if (rc) ckpt_close(k);
    return rc;
}

/* ------------------------------------------------------- matching a model */

static int config_mismatch(const char *path, const ModelConfig *f, const ModelConfig *h, Err *err) {
    const char *names[13] = {"L", "C", "NH", "FFN", "V", "maxT", "type_vocab", "num_labels", "heads",
                             "shared_layers", "frozen_encoder", "lora_rank", "lora_targets"};
    int a[13] = {f->L, f->C, f->NH, f->FFN, f->V, f->maxT, f->type_vocab, f->num_labels, f->heads,
                 config_shared_layers(f), f->frozen_encoder, f->lora_rank, f->lora_targets};
    int b[13] = {h->L, h->C, h->NH, h->FFN, h->V, h->maxT, h->type_vocab, h->num_labels, h->heads,
                 config_shared_layers(h), h->frozen_encoder, h->lora_rank, h->lora_targets};
    for (int i = 0; i < 13; i++)
        if (a[i] != b[i])
            return err_set(err, "%s: model config mismatch: %s=%d in the checkpoint, %d in this run",
                           path, names[i], a[i], b[i]);
    if (memcmp(&f->lora_alpha, &h->lora_alpha, 4))
        return err_set(err, "%s: model config mismatch: lora_alpha=%g in the checkpoint, %g in this run", path,
                       f->lora_alpha, h->lora_alpha);
    if (memcmp(&f->ln_eps, &h->ln_eps, 4) || memcmp(&f->p_drop, &h->p_drop, 4) ||
        memcmp(&f->init_std, &h->init_std, 4))
        return err_set(err, "%s: model config mismatch: ln_eps/p_drop/init_std %g/%g/%g in the checkpoint, %g/%g/%g in this run",
                       path, f->ln_eps, f->p_drop, f->init_std, h->ln_eps, h->p_drop, h->init_std);
    return 0;
}

static int same_shape(const CkTensor *t, const ParamInfo *p) {
    if (t->ndim != p->ndim) return 0;
    for (int d = 0; d < t->ndim; d++)
        if (t->shape[d] != p->shape[d]) return 0;
    return 1;
}

static int table_mismatch(const char *path, const Ckpt *k, const Model *m, Err *err) {
    if (k->n_tensors != model_num_tensors(m))
        return err_set(err, "%s: %d tensors in the checkpoint, %d in this model", path,
                       k->n_tensors, model_num_tensors(m));
    for (int i = 0; i < k->n_tensors; i++) {
        const ParamInfo *p = model_tensor(m, i);
        if (strcmp(k->t[i].name, p->name) != 0 || !same_shape(&k->t[i], p) ||
            k->t[i].offset != p->offset)
            return err_set(err, "%s: tensor %d is '%s' [%d x %d] in the checkpoint, '%s' [%d x %d] in this model",
                           path, i, k->t[i].name, k->t[i].shape[0],
                           k->t[i].ndim > 1 ? k->t[i].shape[1] : 1, p->name, p->shape[0],
                           p->ndim > 1 ? p->shape[1] : 1);
    }
    return 0;
}

/* The parameters and Adam state of the open checkpoint k into m, and its
 * TrainState into *st (ownership of st->options moves there). */
static int load_into(const char *path, Ckpt *k, Model *m, TrainState *st, Err *err) {
    if (config_mismatch(path, &k->cfg, model_config(m), err) || table_mismatch(path, k, m, err)) return -1;
    if (k->n_train != model_num_trainable(m))
        return err_set(err, "%s: %llu trainable parameters in the checkpoint, %zu in this model", path,
                       (unsigned long long)k->n_train, model_num_trainable(m));
    model_params_from_host(m, k->params);
    model_optstate_from_host(m, k->m, k->v, k->st.adam_t);
    *st = k->st;
    k->st.options = NULL;
    return 0;
}

int checkpoint_load(const char *path, Model *m, TrainState *st, Err *err) {
    Ckpt k;
    if (ckpt_open(path, &k, err)) return -1;
    int rc = load_into(path, &k, m, st, err);
    ckpt_close(&k);
    return rc;
}

int checkpoint_read_config(const char *path, ModelConfig *cfg, Err *err) {
    Ckpt k;
    if (ckpt_open(path, &k, err)) return -1;
    *cfg = k.cfg;
    ckpt_close(&k);
    return 0;
}

int checkpoint_open_model(const char *path, CkptMakeModel make, void *ctx, Model **out, Err *err) {
    Ckpt k;
    *out = NULL;
    if (ckpt_open(path, &k, err)) return -1;
    Model *m = make(&k.cfg, ctx, err);
    TrainState st = {0};
    int rc = m ? load_into(path, &k, m, &st, err) : -1;
    ckpt_state_free(&st);
    ckpt_close(&k);
    if (rc) {
        model_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

/* The file's tensor of this name with p's shape, or NULL. */
static const CkTensor *find_tensor(const Ckpt *k, const char *name, const ParamInfo *p) {
    for (int j = 0; j < k->n_tensors; j++)
        if (!strcmp(k->t[j].name, name) && same_shape(&k->t[j], p)) return &k->t[j];
    return NULL;
}

int checkpoint_init_params(const char *path, Model *m, int *copied, int *skipped, Err *err) {
    Ckpt k;
    if (ckpt_open(path, &k, err)) return -1;
    size_t n = model_num_params(m);
    float *host = xmalloc(n * sizeof(float));
    model_params_to_host(m, host);
    *copied = *skipped = 0;
    for (int i = 0; i < model_num_tensors(m); i++) {
        const ParamInfo *p = model_tensor(m, i);
        /* a QA layer copy absent from the file (one of K = L) starts from the layer it copies */
        const CkTensor *hit = find_tensor(&k, p->name, p);
        if (!hit) hit = find_tensor(&k, model_layer_name(p->name), p);
        if (!hit && !model_name_is_head(p->name) && !model_name_is_adapter(p->name)) {
            /* a head or an adapter may start fresh (e.g. a single-task run into a multi-task one,
             * a fine-tuned encoder under new adapters); the encoder may not */
            err_set(err, "%s: encoder tensor '%s' (%d x %d) is not in the checkpoint with that name and shape: "
                         "--init needs a checkpoint of the same encoder (preset / shape)",
                    path, p->name, p->shape[0], p->ndim > 1 ? p->shape[1] : 1);
            free(host);
            ckpt_close(&k);
            return -1;
        }
        if (!hit) {
            (*skipped)++;
            continue;
        }
        memcpy(host + p->offset, k.params + hit->offset, p->numel * sizeof(float));
        (*copied)++;
    }
    int rc = 0;
    if (*copied == 0) rc = err_set(err, "%s: no tensor matches this model (by name and shape)", path);
    else model_params_from_host(m, host);
    free(host);
    ckpt_close(&k);
    return rc;
}

/* ---------------------------------------------------------------- options */

static int key_ignored(const char *line, size_t keylen, const char *const *ignore) {
    for (; ignore && *ignore; ignore++)
        if (strlen(*ignore) == keylen && !strncmp(line, *ignore, keylen)) return 1;
    return 0;
}

/* Next non-ignored line of s starting at *p: sets [*start, *end). */
static int next_line(const char **p, const char *const *ignore, const char **start,
                     const char **end) {
    while (**p) {
        const char *s = *p, *e = strchr(s, '\n');
        if (!e) e = s + strlen(s);
        *p = *e ? e + 1 : e;
        const char *eq = memchr(s, '=', (size_t)(e - s));
        size_t keylen = eq ? (size_t)(eq - s) : (size_t)(e - s);
        if (e == s || key_ignored(s, keylen, ignore)) continue;
        *start = s;
        *end = e;
        return 1;
    }
    return 0;
}

/* Do two "key=value" lines have the same key? */
static int same_key(const char *sa, const char *ea, const char *sb, const char *eb) {
    const char *ka = memchr(sa, '=', (size_t)(ea - sa)), *kb = memchr(sb, '=', (size_t)(eb - sb));
    if (!ka || !kb) return 0;
    return ka - sa == kb - sb && !memcmp(sa, sb, (size_t)(ka - sa));
}

/* Does the option text s have a (not ignored) line with this key? */
static int has_key(const char *s, const char *key, size_t keylen, const char *const *ignore) {
    const char *p = s ? s : "", *ls, *le;
    while (next_line(&p, ignore, &ls, &le)) {
        const char *eq = memchr(ls, '=', (size_t)(le - ls));
        if (eq && (size_t)(eq - ls) == keylen && !memcmp(ls, key, keylen)) return 1;
    }
    return 0;
}

int ckpt_options_diff(const char *a, const char *b, const char *const *ignore, char *out,
                      size_t outlen) {
    const char *pa = a ? a : "", *pb = b ? b : "";
    for (;;) {
        const char *sa = NULL, *ea = NULL, *sb = NULL, *eb = NULL;
        int ha = next_line(&pa, ignore, &sa, &ea), hb = next_line(&pb, ignore, &sb, &eb);
        if (!ha && !hb) return 0;
        if (ha && hb && ea - sa == eb - sb && !memcmp(sa, sb, (size_t)(ea - sa))) continue;
        if (ha && hb && !same_key(sa, ea, sb, eb)) { /* an option only one side has */
            const char *ka = memchr(sa, '=', (size_t)(ea - sa)), *kb = memchr(sb, '=', (size_t)(eb - sb));
            if (ka && !has_key(b, sa, (size_t)(ka - sa), ignore)) {
                snprintf(out, outlen, "'%.*s' in the checkpoint, not set now", (int)(ea - sa), sa);
                return 1;
            }
            if (kb && !has_key(a, sb, (size_t)(kb - sb), ignore)) {
                snprintf(out, outlen, "'%.*s' now, not set in the checkpoint", (int)(eb - sb), sb);
                return 1;
            }
        }
        snprintf(out, outlen, "'%.*s' in the checkpoint vs '%.*s' now", ha ? (int)(ea - sa) : 6,
                 ha ? sa : "(none)", hb ? (int)(eb - sb) : 6, hb ? sb : "(none)");
        return 1;
    }
}

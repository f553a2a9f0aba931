/* gemm_packed.c — fp32 linear layers on frozen weights through oneDNN's
 * matmul primitive, each weight reordered once into the primitive's blocked
 * layout (cpu_packed.h says why and what it changes).
 *
 * Two caches: the packed copies, one per frozen weight (looked up by
 * address; a model has a few dozen), and the primitives, keyed by the GEMM's
 * shape (inference forwards vary the row count N with the batch's windows;
 * oneDNN's f32 brgemm needs N fixed when the primitive is created, and with a
 * runtime N it falls back to a kernel that packs again on every call). The
 * packed layout is the primitive's choice; one that differs from a weight's
 * packed copy (never seen: minilm's four shapes give BA16a64b for every N
 * from 45 to 12000) repacks it. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_bf16.h"
#include "cpu_packed.h"
#include "util.h"

#ifdef MTL_DNNL
#include "cpu_dnnl.h"

enum { SLOTS = 64, REGIONS = 8, MIN_OC = 16 };

typedef struct {
    const char *lo;
    size_t bytes;
} Region;

typedef struct {
    const float *w; /* the frozen [OC,C] weight */
    int OC, C;
    dnnl_memory_t packed;
} PackedW;

typedef struct {
    int N, C, OC, has_bias, gelu, has_add;
} LinKey;

typedef struct {
    int used;
    LinKey key;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t wmd; /* the layout the primitive wants its weights in */
    dnnl_memory_t src, bias, add, dst;
} LinSlot;

struct PackedGemm {
    int threads;
    int bf16; /* inputs and weights bf16 (the bf16 backend), else f32 */
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    Region region[REGIONS];
    int nregion;
    PackedW *w;
    int nw, capw;
    size_t packed_bytes;
    LinSlot slot[SLOTS];
    int next_victim;
    char impl[64];
};

PackedGemm *packed_gemm_create(int threads, int bf16, char *why, size_t why_len) {
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa(), want = (unsigned)dnnl_cpu_isa_avx512_core;
    if ((isa & want) != want) {
        if (why) snprintf(why, why_len, "oneDNN's fp32 brgemm matmul needs AVX-512 (avx512_core)");
        return NULL;
    }
    PackedGemm *g = xcalloc(1, sizeof *g);
    g->threads = threads > 0 ? threads : 1;
    g->bf16 = bf16 != 0;
    cpu_dnnl_check(dnnl_engine_create(&g->engine, dnnl_cpu, 0), "engine_create");
    cpu_dnnl_check(dnnl_stream_create(&g->stream, g->engine, dnnl_stream_default_flags), "stream_create");
    snprintf(g->impl, sizeof g->impl, "none yet");
    return g;
}

static void slot_clear(LinSlot *s) {
    if (!s->used) return;
    dnnl_primitive_destroy(s->prim);
    dnnl_memory_destroy(s->src);
    dnnl_memory_destroy(s->bias);
    dnnl_memory_destroy(s->add);
    dnnl_memory_destroy(s->dst);
    s->used = 0;
}

static void packed_w_clear(PackedGemm *g, PackedW *p) {
    const dnnl_memory_desc_t *md = NULL;
    if (dnnl_memory_get_memory_desc(p->packed, &md) == dnnl_success && md)
        g->packed_bytes -= dnnl_memory_desc_get_size(md);
    dnnl_memory_destroy(p->packed);
}

void packed_gemm_destroy(PackedGemm *g) {
    if (!g) return;
    for (int i = 0; i < SLOTS; i++) slot_clear(&g->slot[i]);
    for (int i = 0; i < g->nw; i++) packed_w_clear(g, &g->w[i]);
    free(g->w);
    dnnl_stream_destroy(g->stream);
    dnnl_engine_destroy(g->engine);
    free(g);
}

void packed_gemm_freeze(PackedGemm *g, const void *p, size_t bytes) {
    if (g->nregion == REGIONS) die("packed_gemm_freeze: more than %d frozen regions", REGIONS);
    g->region[g->nregion++] = (Region){p, bytes};
}

static int in_region(const Region *r, const void *p) {
    const char *c = p;
    return c >= r->lo && c < r->lo + r->bytes;
}

void packed_gemm_thaw(PackedGemm *g, const void *p) {
    for (int i = 0; i < g->nregion; i++) {
        if (g->region[i].lo != p) continue;
        for (int k = 0; k < g->nw;) {
            if (in_region(&g->region[i], g->w[k].w)) {
                packed_w_clear(g, &g->w[k]);
                g->w[k] = g->w[--g->nw];
            } else {
                k++;
            }
        }
        g->region[i] = g->region[--g->nregion];
        return;
    }
}

static int frozen(const PackedGemm *g, const float *w, int OC, int C) {
    for (int i = 0; i < g->nregion; i++)
        if (in_region(&g->region[i], w) && in_region(&g->region[i], w + (size_t)OC * C - 1)) return 1;
    return 0;
}

/* A row-major [rows, cols] matrix; the weight w[OC,C] is the [C,OC] matrix
 * B of out = inp . B with strides {1, C}. */
static void plain_desc(dnnl_memory_desc_t *md, int rows, int cols, int transposed, dnnl_data_type_t dt) {
    dnnl_dims_t dims = {rows, cols};
    dnnl_dims_t strides = {transposed ? 1 : cols, transposed ? rows : 1};
    cpu_dnnl_check(dnnl_memory_desc_init_by_strides(md, 2, dims, dt, strides), "memory_desc_init");
}

static void f32_desc(dnnl_memory_desc_t *md, int rows, int cols, int transposed) {
    plain_desc(md, rows, cols, transposed, dnnl_f32);
}

/* The epilogue after the bias: GELU (erf form, x Phi(x)) or + add[N,OC]. */
static dnnl_primitive_attr_t epilogue(const LinKey *k, const dnnl_memory_desc_t *dst) {
    dnnl_primitive_attr_t attr;
    cpu_dnnl_check(dnnl_primitive_attr_create(&attr), "attr_create");
    if (!k->gelu && !k->has_add) return attr;
    dnnl_post_ops_t po;
    cpu_dnnl_check(dnnl_post_ops_create(&po), "post_ops_create");
    if (k->gelu) cpu_dnnl_check(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_gelu_erf, 0.0f, 0.0f), "append_eltwise");
    if (k->has_add) cpu_dnnl_check(dnnl_post_ops_append_binary(po, dnnl_binary_add, dst), "append_binary");
    cpu_dnnl_check(dnnl_primitive_attr_set_post_ops(attr, po), "set_post_ops");
    dnnl_post_ops_destroy(po);
    return attr;
}

static void slot_build(PackedGemm *g, LinSlot *s, const LinKey *k) {
    dnnl_memory_desc_t src, wany, bias, dst;
    const dnnl_data_type_t in = g->bf16 ? dnnl_bf16 : dnnl_f32;
    plain_desc(&src, k->N, k->C, 0, in);
    dnnl_dims_t wdims = {k->C, k->OC}, bdims = {1, k->OC};
    cpu_dnnl_check(dnnl_memory_desc_init_by_tag(&wany, 2, wdims, in, dnnl_format_tag_any), "memory_desc_init");
    cpu_dnnl_check(dnnl_memory_desc_init_by_tag(&bias, 2, bdims, dnnl_f32, dnnl_ab), "memory_desc_init");
    f32_desc(&dst, k->N, k->OC, 0);
    dnnl_matmul_desc_t md;
    cpu_dnnl_check(dnnl_matmul_desc_init(&md, &src, &wany, k->has_bias ? &bias : NULL, &dst), "matmul_desc_init");
    dnnl_primitive_attr_t attr = epilogue(k, &dst);
    dnnl_primitive_desc_t pd;
    dnnl_status_t st = dnnl_primitive_desc_create(&pd, &md, attr, g->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        die("oneDNN: no %s matmul for N=%d C=%d OC=%d (status %d)", g->bf16 ? "bf16" : "f32", k->N, k->C, k->OC,
            (int)st);
    cpu_dnnl_impl(pd, g->impl, sizeof g->impl);
    s->wmd = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    cpu_dnnl_check(dnnl_primitive_create(&s->prim, pd), "primitive_create");
    dnnl_primitive_desc_destroy(pd);
    s->src = cpu_dnnl_unbound(&src, g->engine);
    s->bias = cpu_dnnl_unbound(&bias, g->engine);
    s->add = cpu_dnnl_unbound(&dst, g->engine);
    s->dst = cpu_dnnl_unbound(&dst, g->engine);
    s->key = *k;
    s->used = 1;
}

static LinSlot *slot_for(PackedGemm *g, const LinKey *k) {
    for (int i = 0; i < SLOTS; i++)
        if (g->slot[i].used && !memcmp(&g->slot[i].key, k, sizeof *k)) return &g->slot[i];
    LinSlot *s = &g->slot[g->next_victim];
    g->next_victim = (g->next_victim + 1) % SLOTS;
    slot_clear(s);
    slot_build(g, s, k);
    return s;
}

/* w[OC,C] reordered into the layout wmd (one oneDNN reorder); for bf16,
 * rounded first by bf16_round (cpu_bf16.h: the same bits as every other
 * bf16 GEMM input here, subnormals included), so the reorder only moves. */
static dnnl_memory_t pack(PackedGemm *g, const float *w, int OC, int C, const dnnl_memory_desc_t *wmd) {
    dnnl_memory_desc_t plain;
    plain_desc(&plain, C, OC, 1, g->bf16 ? dnnl_bf16 : dnnl_f32);
    bf16 *rounded = NULL;
    if (g->bf16) {
        rounded = xmalloc((size_t)OC * C * sizeof *rounded);
        cpu_bf16_round_matrix(rounded, w, OC, C, C, g->threads);
    }
    dnnl_memory_t from, to;
    cpu_dnnl_check(dnnl_memory_create(&from, &plain, g->engine, rounded ? (void *)rounded : (void *)w), "memory_create");
    cpu_dnnl_check(dnnl_memory_create(&to, wmd, g->engine, DNNL_MEMORY_ALLOCATE), "memory_create");
    dnnl_primitive_desc_t rpd;
    cpu_dnnl_check(dnnl_reorder_primitive_desc_create(&rpd, &plain, g->engine, wmd, g->engine, NULL),
                   "reorder_primitive_desc_create");
    dnnl_primitive_t r;
    cpu_dnnl_check(dnnl_primitive_create(&r, rpd), "primitive_create");
    dnnl_primitive_desc_destroy(rpd);
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    cpu_dnnl_check(dnnl_primitive_execute(r, g->stream, 2, args), "primitive_execute");
    cpu_dnnl_check(dnnl_stream_wait(g->stream), "stream_wait");
    dnnl_primitive_destroy(r);
    dnnl_memory_destroy(from);
    free(rounded);
    g->packed_bytes += dnnl_memory_desc_get_size(wmd);
    return to;
}

/* The packed copy of w in layout wmd, made (or remade) on first use. */
static dnnl_memory_t packed_weight(PackedGemm *g, const float *w, int OC, int C, const dnnl_memory_desc_t *wmd) {
    PackedW *p = NULL;
    for (int i = 0; i < g->nw && !p; i++)
        if (g->w[i].w == w && g->w[i].OC == OC && g->w[i].C == C) p = &g->w[i];
    if (p) {
        const dnnl_memory_desc_t *have = NULL;
        cpu_dnnl_check(dnnl_memory_get_memory_desc(p->packed, &have), "memory_get_memory_desc");
        if (dnnl_memory_desc_equal(have, wmd)) return p->packed;
        packed_w_clear(g, p);
    } else {
        if (g->nw == g->capw) {
            g->capw = g->capw ? 2 * g->capw : 32;
            g->w = xrealloc(g->w, (size_t)g->capw * sizeof *g->w);
        }
        p = &g->w[g->nw++];
    }
    *p = (PackedW){w, OC, C, pack(g, w, OC, C, wmd)};
    return p->packed;
}

int packed_gemm_bf16(const PackedGemm *g) { return g->bf16; }

int packed_linear_takes(const PackedGemm *g, const float *w, const float *add, int gelu, int N, int C, int OC) {
    return N > 0 && OC >= MIN_OC && C > 0 && !(gelu && add) && frozen(g, w, OC, C);
}

int packed_linear(PackedGemm *g, float *out, const void *inp, const float *w, const float *bias,
                  const float *add, int gelu, int N, int C, int OC) {
    if (!packed_linear_takes(g, w, add, gelu, N, C, OC)) return 0;
    /* oneDNN's OpenMP runtime uses the calling thread's max threads */
    omp_set_num_threads(g->threads);
    LinKey k = {N, C, OC, bias != NULL, gelu != 0, add != NULL};
    LinSlot *s = slot_for(g, &k);
    dnnl_memory_t wm = packed_weight(g, w, OC, C, &s->wmd);
    cpu_dnnl_check(dnnl_memory_set_data_handle(s->src, (void *)inp), "set_data_handle");
    cpu_dnnl_check(dnnl_memory_set_data_handle(s->dst, out), "set_data_handle");
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, s->src}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, s->dst}};
    int nargs = 3;
    if (bias) {
        cpu_dnnl_check(dnnl_memory_set_data_handle(s->bias, (void *)bias), "set_data_handle");
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, s->bias};
    }
    if (add) {
        cpu_dnnl_check(dnnl_memory_set_data_handle(s->add, (void *)add), "set_data_handle");
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, s->add};
    }
    cpu_dnnl_check(dnnl_primitive_execute(s->prim, g->stream, nargs, args), "primitive_execute");
    cpu_dnnl_check(dnnl_stream_wait(g->stream), "stream_wait");
    return 1;
}

void packed_gemm_describe(const PackedGemm *g, char *out, size_t len) {
    const dnnl_version_t *v = dnnl_version();
    snprintf(out, len, "oneDNN %d.%d.%d %s, %d %s weights packed (%.1f MiB)", v->major, v->minor, v->patch,
             g->impl, g->nw, g->bf16 ? "bf16" : "f32", (double)g->packed_bytes / (1024.0 * 1024.0));
}

#else /* no oneDNN in this build */

PackedGemm *packed_gemm_create(int threads, int bf16, char *why, size_t why_len) {
    (void)threads, (void)bf16;
    if (why) snprintf(why, why_len, "this build has no oneDNN (install libdnnl-dev and rebuild; make USE_DNNL=auto)");
    return NULL;
}

void packed_gemm_destroy(PackedGemm *g) { (void)g; }
void packed_gemm_freeze(PackedGemm *g, const void *p, size_t bytes) { (void)g, (void)p, (void)bytes; }
void packed_gemm_thaw(PackedGemm *g, const void *p) { (void)g, (void)p; }

int packed_gemm_bf16(const PackedGemm *g) { return (void)g, 0; }

int packed_linear_takes(const PackedGemm *g, const float *w, const float *add, int gelu, int N, int C, int OC) {
    (void)g, (void)w, (void)add, (void)gelu, (void)N, (void)C, (void)OC;
    return 0;
}

int packed_linear(PackedGemm *g, float *out, const void *inp, const float *w, const float *bias,
                  const float *add, int gelu, int N, int C, int OC) {
    (void)g, (void)out, (void)inp, (void)w, (void)bias, (void)add, (void)gelu, (void)N, (void)C, (void)OC;
    return 0;
}

void packed_gemm_describe(const PackedGemm *g, char *out, size_t len) {
    (void)g;
    snprintf(out, len, "none (no oneDNN)");
}
#endif

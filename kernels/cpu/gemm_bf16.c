/* gemm_bf16.c — bf16 GEMM through oneDNN's matmul primitive (cpu_bf16.h).
 *
 * oneDNN picks its kernel per shape and thread count when a primitive is
 * created (e.g. brgemm on AMX tiles); creating one costs far more than a
 * small GEMM, so primitives are kept in a small cache keyed by everything
 * that shapes them. Memory objects are created without data and pointed at
 * the caller's buffers on each call. Without oneDNN (USE_DNNL=0) only the
 * rounding is here and cpu_bf16_native() says why bf16 is unavailable. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "cpu_bf16.h"
#include "cpu_internal.h"
#include "tile_bf16.h"
#include "util.h"

void cpu_bf16_round_matrix(bf16 *dst, const float *src, int rows, int cols, int ld, int threads) {
    size_t total = (size_t)rows * (size_t)cols;
    int nth = total < 65536 ? 1 : threads;
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int r = 0; r < rows; r++) {
        const float *s = src + (size_t)r * (size_t)ld;
        tb_round_row(dst + (size_t)r * (size_t)cols, s, cols, cols);
    }
}

#ifdef MTL_DNNL
#include "cpu_dnnl.h"

enum { CACHE_SLOTS = 64 };

typedef struct {
    int M, N, K, transA, transB, lda, ldb, ldc;
    float alpha, beta;
} GemmKey;
/* compared with memcmp: no padding bytes */
_Static_assert(sizeof(GemmKey) == 8 * sizeof(int) + 2 * sizeof(float), "GemmKey has padding");

typedef struct {
    int used;
    GemmKey key;
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c;
} GemmSlot;

struct Bf16Gemm {
    int threads;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    GemmSlot slot[CACHE_SLOTS];
    int next_victim; /* round-robin eviction */
};

static char last_impl[64] = "none yet";

void cpu_dnnl_check(dnnl_status_t s, const char *what) {
    if (s != dnnl_success) die("oneDNN: %s failed (status %d)", what, (int)s);
}

dnnl_memory_t cpu_dnnl_unbound(const dnnl_memory_desc_t *md, dnnl_engine_t engine) {
    dnnl_memory_t m;
    cpu_dnnl_check(dnnl_memory_create(&m, md, engine, DNNL_MEMORY_NONE), "memory_create");
    return m;
}

void cpu_dnnl_impl(const_dnnl_primitive_desc_t pd, char *out, size_t len) {
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
        snprintf(out, len, "%s", impl);
}

const char *cpu_bf16_isa(void) {
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_sse41: return "sse41";
    default: return "other";
    }
}

const char *cpu_bf16_impl(void) { return last_impl; }

const char *cpu_bf16_library(void) {
    static char buf[96];
    const dnnl_version_t *v = dnnl_version();
    snprintf(buf, sizeof buf, "oneDNN %d.%d.%d, ISA %s", v->major, v->minor, v->patch, cpu_bf16_isa());
    return buf;
}

int cpu_bf16_native(char *why, size_t why_len) {
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    /* the ISA values are bit sets: each includes the ones below it */
    if (((unsigned)isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) ==
        (unsigned)dnnl_cpu_isa_avx512_core_bf16)
        return 1;
    if (why)
        snprintf(why, why_len,
                 "this CPU has no native bf16 instructions (oneDNN ISA %s; bf16 needs AVX512-BF16 "
                 "or AMX)",
                 cpu_bf16_isa());
    return 0;
}

int cpu_bf16_amx(void) {
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa(), amx = (unsigned)dnnl_cpu_isa_avx512_core_amx;
    return (isa & amx) == amx;
}

Bf16Gemm *bf16_gemm_create(int threads) {
    Bf16Gemm *g = xcalloc(1, sizeof *g);
    g->threads = threads > 0 ? threads : 1;
    cpu_dnnl_check(dnnl_engine_create(&g->engine, dnnl_cpu, 0), "engine_create");
    cpu_dnnl_check(dnnl_stream_create(&g->stream, g->engine, dnnl_stream_default_flags), "stream_create");
    return g;
}

static void slot_clear(GemmSlot *s) {
    if (!s->used) return;
    dnnl_primitive_destroy(s->prim);
    dnnl_memory_destroy(s->a);
    dnnl_memory_destroy(s->b);
    dnnl_memory_destroy(s->c);
    s->used = 0;
}

void bf16_gemm_destroy(Bf16Gemm *g) {
    if (!g) return;
    for (int i = 0; i < CACHE_SLOTS; i++) slot_clear(&g->slot[i]);
    dnnl_stream_destroy(g->stream);
    dnnl_engine_destroy(g->engine);
    free(g);
}

/* A row-major [rows, cols] matrix (or its transpose, stored [cols, rows]
 * with leading dimension ld) as a oneDNN descriptor of the logical shape. */
static void matrix_desc(dnnl_memory_desc_t *md, int rows, int cols, int trans, int ld,
                        dnnl_data_type_t dt) {
    dnnl_dims_t dims = {rows, cols};
    dnnl_dims_t strides = {trans ? 1 : ld, trans ? ld : 1};
    cpu_dnnl_check(dnnl_memory_desc_init_by_strides(md, 2, dims, dt, strides), "memory_desc_init");
}

/* alpha scales the product (output scales); beta = 1 adds C (a sum post-op). */
static dnnl_primitive_attr_t gemm_attr(float alpha, float beta) {
    dnnl_primitive_attr_t attr;
    cpu_dnnl_check(dnnl_primitive_attr_create(&attr), "attr_create");
    if (alpha != 1.0f) cpu_dnnl_check(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha), "output_scales");
    if (beta != 0.0f) {
        dnnl_post_ops_t po;
        cpu_dnnl_check(dnnl_post_ops_create(&po), "post_ops_create");
        cpu_dnnl_check(dnnl_post_ops_append_sum(po, beta), "append_sum");
        cpu_dnnl_check(dnnl_primitive_attr_set_post_ops(attr, po), "set_post_ops");
        dnnl_post_ops_destroy(po);
    }
    return attr;
}

static void slot_build(Bf16Gemm *g, GemmSlot *s, const GemmKey *k) {
    dnnl_memory_desc_t a, b, c;
    matrix_desc(&a, k->M, k->K, k->transA, k->lda, dnnl_bf16);
    matrix_desc(&b, k->K, k->N, k->transB, k->ldb, dnnl_bf16);
    matrix_desc(&c, k->M, k->N, 0, k->ldc, dnnl_f32);
    dnnl_matmul_desc_t md;
    cpu_dnnl_check(dnnl_matmul_desc_init(&md, &a, &b, NULL, &c), "matmul_desc_init");
    dnnl_primitive_attr_t attr = gemm_attr(k->alpha, k->beta);
    dnnl_primitive_desc_t pd;
    dnnl_status_t st = dnnl_primitive_desc_create(&pd, &md, attr, g->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        die("oneDNN: no bf16 matmul for M=%d N=%d K=%d on this CPU (status %d, ISA %s)", k->M, k->N,
            k->K, (int)st, cpu_bf16_isa());
    cpu_dnnl_impl(pd, last_impl, sizeof last_impl);
    cpu_dnnl_check(dnnl_primitive_create(&s->prim, pd), "primitive_create");
    dnnl_primitive_desc_destroy(pd);
    s->a = cpu_dnnl_unbound(&a, g->engine);
    s->b = cpu_dnnl_unbound(&b, g->engine);
    s->c = cpu_dnnl_unbound(&c, g->engine);
    s->key = *k;
    s->used = 1;
}

static GemmSlot *slot_for(Bf16Gemm *g, const GemmKey *k) {
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (g->slot[i].used && !memcmp(&g->slot[i].key, k, sizeof *k)) return &g->slot[i];
    GemmSlot *s = &g->slot[g->next_victim];
    g->next_victim = (g->next_victim + 1) % CACHE_SLOTS;
    slot_clear(s);
    slot_build(g, s, k);
    return s;
}

void bf16_gemm(Bf16Gemm *g, int transA, int transB, int M, int N, int K, float alpha,
               const bf16 *A, int lda, const bf16 *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) die("bf16_gemm: K = %d (the caller must handle an empty sum)", K);
    GemmKey k = {M, N, K, transA, transB, lda, ldb, ldc, alpha, beta};
    /* oneDNN's OpenMP runtime uses the calling thread's max threads */
    omp_set_num_threads(g->threads);
    GemmSlot *s = slot_for(g, &k);
    cpu_dnnl_check(dnnl_memory_set_data_handle(s->a, (void *)A), "set_data_handle");
    cpu_dnnl_check(dnnl_memory_set_data_handle(s->b, (void *)B), "set_data_handle");
    cpu_dnnl_check(dnnl_memory_set_data_handle(s->c, C), "set_data_handle");
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, s->a}, {DNNL_ARG_WEIGHTS, s->b}, {DNNL_ARG_DST, s->c}};
    cpu_dnnl_check(dnnl_primitive_execute(s->prim, g->stream, 3, args), "primitive_execute");
    cpu_dnnl_check(dnnl_stream_wait(g->stream), "stream_wait");
}

#else /* no oneDNN in this build */

int cpu_bf16_native(char *why, size_t why_len) {
    if (why)
        snprintf(why, why_len,
                 "this build has no oneDNN (install libdnnl-dev and rebuild; make USE_DNNL=auto)");
    return 0;
}

int cpu_bf16_amx(void) { return 0; }
const char *cpu_bf16_isa(void) { return "none (no oneDNN)"; }
const char *cpu_bf16_impl(void) { return "none (no oneDNN)"; }
const char *cpu_bf16_library(void) { return "no oneDNN in this build"; }

Bf16Gemm *bf16_gemm_create(int threads) {
    (void)threads;
    die("bf16_gemm_create: this build has no oneDNN");
}

void bf16_gemm_destroy(Bf16Gemm *g) { (void)g; }

void bf16_gemm(Bf16Gemm *g, int transA, int transB, int M, int N, int K, float alpha,
               const bf16 *A, int lda, const bf16 *B, int ldb, float beta, float *C, int ldc) {
    die("bf16_gemm: this build has no oneDNN");
}
#endif

/* Intel's AVX512-BF16 without AMX issues its bf16 dot product on one port
 * (bf16 GEMM peak 0.50x the sgemm peak on an Emerald Rapids Xeon without
 * AMX, 2026-11-30). AMD Zen 5 issues it at the FMA's rate with twice its
 * products per instruction (bf16 GEMM peak ~1.9x the AVX-512 sgemm peak,
 * 2026-12-01), as Zen 4 does by its documented throughput. */
int cpu_bf16_slower_than_fp32(void) {
    __builtin_cpu_init();
    return !cpu_bf16_amx() && !__builtin_cpu_is("amd");
}

/* backend_cpu.c — the CPU Backend: host memory and the op table. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cpu_blas.h"
#include "cpu_internal.h"
#include "util.h"

int cpu_threads(const Backend *be) {
    const CpuCtx *ctx = be->ctx;
    int n = ctx->threads > 0 ? ctx->threads : omp_get_max_threads();
    return n > 0 ? n : 1;
}

/* ---- memory: plain host memory, 64-byte aligned for AVX-512 loads -------- *
 * Blocks of 2 MiB and more are mapped straight from the kernel: its pages are
 * zero already and become resident only when first touched, so a model sized
 * for its largest batch costs memory only for what the calls use (mtl predict
 * on one sentence no longer zeroes and keeps ~670 MB of activations for
 * 32 windows of 384 tokens). Smaller blocks, and every block under ASan (whose
 * allocator guards heap blocks, not mappings), come from posix_memalign and are
 * zeroed here. A 64-byte header before each block records which, and its size. */
#if defined(__SANITIZE_ADDRESS__)
#define CPU_MAP_MIN ((size_t)-1)
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CPU_MAP_MIN ((size_t)-1)
#endif
#endif
#ifndef CPU_MAP_MIN
#define CPU_MAP_MIN ((size_t)2 << 20)
#endif
enum { CPU_HDR = 64 };
typedef struct {
    size_t total; /* bytes from the block's base, header included */
    int mapped;
} CpuBlock;

static void *cpu_alloc(Backend *be, size_t bytes) {
    (void)be;
    size_t total = (bytes ? bytes : 1) + CPU_HDR;
    if (total < bytes) die("cpu backend: allocation of %zu bytes is too large", bytes);
    CpuBlock h = {total, total >= CPU_MAP_MIN};
    char *base;
    if (h.mapped) {
        void *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) die("cpu backend: out of memory mapping %zu bytes", bytes);
        base = p;
    } else {
        void *p = NULL;
        if (posix_memalign(&p, 64, total) != 0 || !p) die("cpu backend: out of memory allocating %zu bytes", bytes);
        base = p;
        memset(base + CPU_HDR, 0, total - CPU_HDR);
    }
    memcpy(base, &h, sizeof h);
    return base + CPU_HDR;
}

static void cpu_free(Backend *be, void *p) {
    if (!p) return;
    CpuCtx *ctx = be->ctx;
    if (ctx->pgemm) packed_gemm_thaw(ctx->pgemm, p);
    char *base = (char *)p - CPU_HDR;
    CpuBlock h;
    memcpy(&h, base, sizeof h);
    if (h.mapped)
        munmap(base, h.total);
    else
        free(base);
}

static void cpu_memcpy(Backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    if (bytes) memmove(dst, src, bytes);
}

/* One memset per thread over 64-byte-aligned slices: a single core does not
 * saturate memory bandwidth (measured 25 GB/s on one core, 48 GB/s on two,
 * for the 8 MiB FFN gradient buffers), and zeroing is ~5% of a mini step. */
static void cpu_zero(Backend *be, void *p, size_t bytes) {
    enum { PAR_MIN_BYTES = 256 * 1024 };
    int nth = cpu_threads(be);
    if (nth <= 1 || bytes < PAR_MIN_BYTES) {
        if (bytes) memset(p, 0, bytes);
        return;
    }
#pragma omp parallel num_threads(nth)
    {
        size_t lo, hi;
        cpu_split(bytes, omp_get_thread_num(), omp_get_num_threads(), 64, &lo, &hi);
        if (hi > lo) memset((char *)p + lo, 0, hi - lo);
    }
}

static void cpu_sync(Backend *be) { (void)be; }

static void cpu_destroy(Backend *be) {
    if (!be) return;
    CpuCtx *ctx = be->ctx;
    bf16_gemm_destroy(ctx->bgemm);
    packed_gemm_destroy(ctx->pgemm);
    for (int i = 0; i < CPU_BF16_SCRATCH; i++) free(ctx->scratch[i]);
    free(ctx);
    free(be);
}

bf16 *cpu_bf16_scratch(Backend *be, int slot, size_t n) {
    CpuCtx *ctx = be->ctx;
    if (n > ctx->scratch_cap[slot]) {
        free(ctx->scratch[slot]);
        ctx->scratch[slot] = NULL;
        if (posix_memalign((void **)&ctx->scratch[slot], 64, n * sizeof(bf16)) != 0)
            die("cpu backend: out of memory allocating %zu bf16 values", n);
        ctx->scratch_cap[slot] = n;
    }
    return ctx->scratch[slot];
}

const bf16 *cpu_bf16_copy(Backend *be, int slot, const float *src, int rows, int cols, int ld) {
    bf16 *dst = cpu_bf16_scratch(be, slot, (size_t)rows * (size_t)cols);
    cpu_bf16_round_matrix(dst, src, rows, cols, ld, cpu_threads(be));
    return dst;
}

/* Frozen weights run through cpu_packed.h: packed once, as fp32 or, on the
 * bf16 backend, as bf16. */
static int cpu_freeze_weights(Backend *be, const void *p, size_t bytes, char *note, size_t note_len) {
    CpuCtx *ctx = be->ctx;
    if (!ctx->pgemm) ctx->pgemm = packed_gemm_create(cpu_threads(be), ctx->bgemm != NULL, note, note_len);
    if (!ctx->pgemm) return 0;
    packed_gemm_freeze(ctx->pgemm, p, bytes);
    if (note) snprintf(note, note_len, "oneDNN %s matmul on weights packed once", ctx->bgemm ? "bf16" : "f32");
    return 1;
}

static void cpu_thaw_weights(Backend *be, const void *p) {
    CpuCtx *ctx = be->ctx;
    if (ctx->pgemm) packed_gemm_thaw(ctx->pgemm, p);
}

int cpu_packed_linear(Backend *be, float *out, const float *inp, const float *w, const float *bias,
                      const float *add, int gelu, int N, int C, int OC) {
    CpuCtx *ctx = be->ctx;
    if (!ctx->pgemm || !packed_linear_takes(ctx->pgemm, w, add, gelu, N, C, OC)) return 0;
    const void *src = packed_gemm_bf16(ctx->pgemm) ? (const void *)cpu_bf16_copy(be, 0, inp, N, C, C) : inp;
    return packed_linear(ctx->pgemm, out, src, w, bias, add, gelu, N, C, OC);
}

static void cpu_gemm_describe(const Backend *be, char *out, size_t len) {
    const CpuCtx *ctx = be->ctx;
    if (ctx->pgemm)
        packed_gemm_describe(ctx->pgemm, out, len);
    else if (ctx->bgemm)
        snprintf(out, len, "%s %s", cpu_bf16_library(), cpu_bf16_impl());
    else
        snprintf(out, len, "OpenBLAS sgemm (%s)", cpu_blas_setup());
}

static void fill_memory_ops(Backend *be) {
    be->alloc = cpu_alloc;
    be->free = cpu_free;
    be->upload = cpu_memcpy;
    be->download = cpu_memcpy;
    be->zero = cpu_zero;
    be->copy = cpu_memcpy;
    be->sync = cpu_sync;
    be->destroy = cpu_destroy;
    be->freeze_weights = cpu_freeze_weights;
    be->gemm_describe = cpu_gemm_describe;
    be->thaw_weights = cpu_thaw_weights;
    be->linear_fused = cpu_packed_linear;
}

static void fill_compute_ops(Backend *be) {
#define CPU_OP_FILL(name, ret, params, args) be->name = cpu_##name;
    MTL_COMPUTE_OPS(CPU_OP_FILL)
#undef CPU_OP_FILL
}

Backend *backend_cpu(int threads) {
    cpu_blas_setup();
    cpu_blas_single_thread();
    if (threads > 0) omp_set_num_threads(threads);
    Backend *be = xcalloc(1, sizeof *be);
    CpuCtx *ctx = xcalloc(1, sizeof *ctx);
    ctx->threads = threads > 0 ? threads : 0;
    be->name = "cpu";
    be->precision = PREC_FP32;
    be->attn_recompute_ok = 1;
    be->matmul_exact = 1;
    be->ctx = ctx;
    fill_memory_ops(be);
    fill_compute_ops(be);
    return be;
}

Backend *backend_cpu_bf16(int threads, char *why, size_t why_len) {
    if (!cpu_bf16_native(why, why_len)) return NULL;
    Backend *be = backend_cpu(threads);
    CpuCtx *ctx = be->ctx;
    ctx->bgemm = bf16_gemm_create(cpu_threads(be));
    be->precision = PREC_BF16;
    be->matmul_exact = 0;
    return be;
}

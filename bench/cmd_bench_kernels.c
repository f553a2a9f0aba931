/* cmd_bench_kernels.c — `mtl bench-kernels`: time every Backend op at the
 * shapes of one training step, against this machine's sgemm and copy peaks
 * measured in the same run; print a table and write a CSV
 * (bench/bench_kernels.h says what is counted). */
#include <libgen.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_kernels.h"
#include "bench_kernels_cuda.h"
#include "buildinfo.h"
#include "cli.h"
#include "config.h"
#include "cpu/cpu_bf16.h"
#include "cpu/cpu_blas.h"
#include "manifest.h"
#include "opts.h"
#include "peak.h"

typedef struct {
    Device device;
    const char *preset, *out, *ops;
    int B, T, threads, repeats, tf32, lora_rank, attention;
    Precision precision;
} BkOpts;

#define OS BkOpts
static const OptSpec BK_OPTS[] = {
    {OPT_ENUM(OS, "device", device, DEVICE_NAMES, "backend to time")},
    {OPT_ARG(OS, "preset", preset, "model size: tiny | mini | minilm | base")},
    {OPT_INT(OS, "batch", B, 1, 1000000, "sequences per step")},
    {OPT_INT(OS, "seq", T, 1, 1000000, "tokens per sequence")},
    {OPT_INT(OS, "threads", threads, 0, 1024, "CPU threads (0 = all OpenMP threads)")},
    {OPT_INT(OS, "repeats", repeats, 1, 1000000, "timed calls per op, median reported (>= 10 advised)")},
    {OPT_ARG(OS, "out", out, "CSV path [runs/bench-kernels-<device>[-tf32].csv]")},
    {OPT_FLAG(OS, "tf32", tf32, "cuda: TF32 tensor-core matmuls (peak measured in TF32 too)")},
    {OPT_INT(OS, "lora-rank", lora_rank, 1, CONFIG_MAX_LORA_RANK, "also time the LoRA adapters of rank r on every projection (mtl train --lora-rank)")},
    {OPT_ENUM(OS, "precision", precision, PRECISION_NAMES, "linear layers: bf16 = GEMM inputs rounded to bf16, fp32 accumulation (fp32 with a note where the device lacks bf16)")},
    {OPT_ENUM(OS, "attention", attention, ATTENTION_NAMES, ATTENTION_HELP)},
    {OPT_ARG(OS, "ops", ops, "time only the ops whose name contains one of these comma-separated parts, e.g. attention or matmul_forward,gelu [all]")},
};
#undef OS

static const OptTable BK_TABLE = {
    .cmd = "bench-kernels",
    .synopsis = "usage: mtl bench-kernels [--device cpu|cuda] [--preset P] [--batch B] [--seq T] [options]",
    .about = "Times every backend op at the shapes of one training step against this machine's\n"
             "sgemm and copy peaks; prints a table and writes a CSV.\n",
    .specs = BK_OPTS,
    .n = (int)(sizeof BK_OPTS / sizeof BK_OPTS[0]),
};

/* The device's label in file names and the CSV: cpu, cuda or cuda-tf32,
 * then -bf16 for --precision bf16 (cpu-bf16, cuda-bf16). */
static const char *device_label(const BkOpts *o) {
    static char label[32];
    snprintf(label, sizeof label, "%s%s",
             o->tf32 && o->device == DEVICE_CUDA ? "cuda-tf32" : enum_name(DEVICE_NAMES, o->device),
             o->precision == PREC_BF16 ? "-bf16" : "");
    return label;
}

static Backend *make_backend(const BkOpts *o) {
    char why[512] = "";
    Backend *be = backend_open(o->device, o->threads, o->tf32, o->precision, why, sizeof why);
    if (!be) fprintf(stderr, "mtl bench-kernels: --device %s: %s\n", enum_name(DEVICE_NAMES, o->device), why);
    else if (why[0]) fprintf(stderr, "mtl bench-kernels: note: %s\n", why);
    if (be && backend_set_attn_recompute(be, o->attention, why, sizeof why)) {
        fprintf(stderr, "mtl bench-kernels: %s\n", why);
        be->destroy(be);
        return NULL;
    }
    return be;
}

static void print_table(const KernelTiming *r, int n, double step_s) {
    printf("%-28s %-26s %5s %11s %9s %8s %7s %6s\n", "op", "shape", "calls", "us/call", "GFLOP/s",
           "GB/s", "%peak", "%step");
    for (int i = 0; i < n; i++) {
        char gf[16] = "-", gb[16] = "-", pk[16] = "-";
        if (r[i].gflops > 0) snprintf(gf, sizeof gf, "%.1f", r[i].gflops);
        if (r[i].gbs > 0) snprintf(gb, sizeof gb, "%.2f", r[i].gbs);
        if (r[i].pct_peak >= 0) snprintf(pk, sizeof pk, "%.1f", r[i].pct_peak);
        double share = step_s > 0 ? 100.0 * r[i].calls * r[i].median_us * 1e-6 / step_s : 0;
        printf("%-28s %-26s %5d %11.1f %9s %8s %7s %6.1f\n", r[i].op, r[i].shape, r[i].calls,
               r[i].median_us, gf, gb, pk, share);
    }
}

/* Makes the CSV's directory; returns 0 or prints why. */
static int make_out_dir(const char *path) {
    char *dup = xstrdup(path);
    Err err = {{0}};
    int rc = mkdir_p(dirname(dup), &err);
    if (rc) fprintf(stderr, "mtl bench-kernels: %s\n", err.msg);
    free(dup);
    return rc;
}

static void print_summary(const KernelTiming *rows, int n, double peak_gf, Precision prec, const char *ops) {
    double flops = 0, step_s = bench_kernels_step_seconds(rows, n, &flops);
    printf("\nsum over %s of calls x median: %.2f ms per step; GEMM FLOPs per step %.2f G",
           ops ? "the selected ops" : "ops", step_s * 1e3, flops * 1e-9);
    if (peak_gf > 0 && step_s > 0)
        printf("; %.1f GFLOP/s = %.1f%% of the %s peak (kernels only, no framework overhead)",
               flops / step_s * 1e-9, 100.0 * flops / step_s * 1e-9 / peak_gf,
               prec == PREC_BF16 ? "bf16 GEMM" : "sgemm");
    printf("\n");
}

/* The peaks are measured after the ops: OpenBLAS's multi-threaded peak run
 * leaves its worker threads spinning for a while, which would slow the first
 * ops timed after it. */
static void measure_peaks(const BkOpts *o, const Backend *be, BenchCuda *bc, double *gf, double *gbs) {
    *gf = *gbs = 0;
    if (bc) {
        bench_cuda_peaks(bc, gf, gbs);
        printf("device cuda: %s; peaks: %s sgemm %.1f GFLOP/s, copy %.2f GB/s; per-op times from "
               "cudaEvents, L2 flushed before each call\n",
               bench_cuda_info(bc), o->tf32 ? "TF32" : "fp32", *gf, *gbs);
        return;
    }
    int th = o->threads > 0 ? o->threads : omp_get_max_threads();
    *gf = bench_sgemm_peak_gflops(th);
    *gbs = bench_copy_gbs(th);
    const char *user = cpu_blas_user_core();
    printf("device cpu, %d threads, OpenBLAS core %s (%s%s); peaks: sgemm %.1f GFLOP/s, copy %.2f GB/s\n", th,
           cpu_blas_setup(), user ? "set by OPENBLAS_CORETYPE=" : "detected ", user ? user : cpu_blas_detected_core(),
           *gf, *gbs);
    if (be->precision == PREC_BF16) {
        *gf = bench_bf16_peak_gflops(th);
        printf("precision bf16: oneDNN %s, ISA %s; bf16 GEMM peak %.1f GFLOP/s (the %%peak "
               "column's reference)\n",
               cpu_bf16_impl(), cpu_bf16_isa(), *gf);
    }
}

/* What ran where, for the CSV's first line: command, build, device, date. */
static void provenance(const BkOpts *o, const Backend *be, const char *gpu_info, char *out,
                       size_t len) {
    char cpu[256], now[32], bf[160] = "";
    cpu_model_name(cpu, sizeof cpu);
    utc_now_iso(now);
    int th = o->threads > 0 ? o->threads : omp_get_max_threads();
    if (be->precision == PREC_BF16)
        snprintf(bf, sizeof bf, "\nbf16 GEMM oneDNN %s (ISA %s)", cpu_bf16_impl(), cpu_bf16_isa());
    snprintf(out, len,
             "mtl bench-kernels --device %s%s --preset %s --batch %d --seq %d --repeats %d%s%s\n"
             "commit %s, %s, %s\nBLAS %s\nCPU %s, %d threads%s%s\nat %s",
             enum_name(DEVICE_NAMES, o->device), o->tf32 ? " --tf32" : "", o->preset, o->B, o->T, o->repeats,
             o->ops ? " --ops " : "", o->ops ? o->ops : "",
             build_git_commit(), build_compiler(), build_cflags(), build_blas(), cpu, th,
             gpu_info ? "\nGPU " : "", gpu_info ? gpu_info : "", now);
}

static int run_bench(const BkOpts *o, Backend *be, const ModelConfig *cfg) {
    BenchKernelsOpts bo = {o->B, o->T, o->repeats, NULL, o->ops};
    KernelTiming *rows = NULL;
    int n = 0;
    Err err = {{0}};
    BenchCuda *bc = NULL;
    if (o->device == DEVICE_CUDA) {
        if (!(bc = bench_cuda_open(be, &err))) {
            fprintf(stderr, "mtl bench-kernels: %s\n", err.msg);
            return 1;
        }
        bo.timer = bench_cuda_timer(bc);
    }
    int ran = bench_kernels_run(be, cfg, &bo, &rows, &n, &err);
    if (ran) {
        fprintf(stderr, "mtl bench-kernels: %s\n", err.msg);
        bench_cuda_close(bc);
        return ran == -2 ? 2 : 1;
    }
    double peak_gf, peak_gbs;
    measure_peaks(o, be, bc, &peak_gf, &peak_gbs);
    char prov[2048];
    provenance(o, be, bc ? bench_cuda_info(bc) : NULL, prov, sizeof prov);
    bench_cuda_close(bc);
    printf("preset %s, B=%d T=%d, median of %d calls per op\n\n", cfg->preset, o->B, o->T, o->repeats);
    bench_kernels_apply_peaks(rows, n, peak_gf, peak_gbs);
    print_table(rows, n, bench_kernels_step_seconds(rows, n, NULL));
    print_summary(rows, n, peak_gf, be->precision, o->ops);
    int rc = 0;
    if (bench_kernels_write_csv(o->out, device_label(o), prov, rows, n, peak_gf, peak_gbs, &err)) {
        fprintf(stderr, "mtl bench-kernels: %s\n", err.msg);
        rc = 1;
    } else {
        printf("wrote %s\n", o->out);
    }
    free(rows);
    return rc;
}

int cmd_bench_kernels(int argc, char **argv) {
    BkOpts o = {DEVICE_CPU, "mini", NULL, NULL, 16, 128, 0, 15, 0, 0, 0, PREC_FP32};
    int rc = opts_command(&BK_TABLE, &o, argc, argv, NULL);
    if (rc >= 0) return rc;
    char out_default[64];
    snprintf(out_default, sizeof out_default, "runs/bench-kernels-%s.csv", device_label(&o));
    if (!o.out) o.out = out_default;
    ModelConfig cfg;
    Err err = {{0}};
    if (config_from_preset(&cfg, o.preset, &err)) {
        fprintf(stderr, "mtl bench-kernels: %s\n", err.msg);
        return 2;
    }
    if (o.lora_rank > 0) config_set_lora(&cfg, o.lora_rank); /* as mtl train --lora-rank r */
    if (o.T > cfg.maxT) {
        fprintf(stderr, "mtl bench-kernels: --seq %d exceeds the %d positions of preset %s\n", o.T,
                cfg.maxT, cfg.preset);
        return 2;
    }
    if (make_out_dir(o.out)) return 1;
    Backend *be = make_backend(&o);
    if (!be) return 1;
    rc = run_bench(&o, be, &cfg);
    be->destroy(be);
    return rc;
}

/* cmd_bench_kernels.c — `mtl bench-kernels`: time every Backend op at the
 * shapes of one training step, against this machine's sgemm and copy peaks
 * measured in the same run; print a table and write a CSV
 * (bench/bench_kernels.h says what is counted). */
#include <libgen.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench/bench_kernels.h"
#include "../bench/bench_kernels_cuda.h"
#include "buildinfo.h"
#include "cli.h"
#include "config.h"
#include "cpu/cpu_bf16.h"
#include "cpu/cpu_blas.h"
#include "manifest.h"
#include "../bench/peak.h"

typedef struct {
    const char *device, *preset, *out;
    int B, T, threads, repeats, tf32;
    Precision precision;
} BkOpts;

static void bk_usage(FILE *f) {
    fprintf(f,
            "usage: mtl bench-kernels [--device cpu|cuda] [--preset P] [--batch B] [--seq T]\n"
            "                         [--threads N] [--repeats R] [--out FILE] [--tf32]\n"
            "                         [--precision fp32|bf16]\n"
            "  --device   backend to time (default cpu)\n"
            "  --preset   model size: tiny, mini, minilm, base (default mini)\n"
            "  --batch    sequences per step (default 16)\n"
            "  --seq      tokens per sequence (default 128)\n"
            "  --threads  CPU threads (default: all OpenMP threads)\n"
            "  --repeats  timed calls per op, median reported (default 15, >= 10 advised)\n"
            "  --out      CSV path (default runs/bench-kernels-<device>[-tf32].csv)\n"
            "  --tf32     cuda: TF32 tensor-core matmuls (peak measured in TF32 too)\n"
            "  --precision fp32 (default) or bf16 (GEMM inputs in bf16, fp32 accumulation;\n"
            "             the peak is then the bf16 GEMM's)\n");
}

/* Parses a positive int option value; returns 0 or prints why and returns -1. */
static int parse_pos_int(const char *opt, const char *s, int *v) {
    char *end = NULL;
    long x = strtol(s, &end, 10);
    if (!*s || *end || x < 1 || x > 1000000) {
        fprintf(stderr, "mtl bench-kernels: %s wants a positive integer, got '%s'\n", opt, s);
        return -1;
    }
    *v = (int)x;
    return 0;
}

/* Returns -1 to continue, else the exit status. */
static int parse_bk_args(int argc, char **argv, BkOpts *o) {
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            bk_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--tf32")) {
            o->tf32 = 1;
            i--; /* a flag: no value to skip */
        } else if (!v) {
            fprintf(stderr, "mtl bench-kernels: option '%s' needs a value\n", a);
            bad = 2;
        } else if (!strcmp(a, "--device")) {
            o->device = v;
        } else if (!strcmp(a, "--preset")) {
            o->preset = v;
        } else if (!strcmp(a, "--out")) {
            o->out = v;
        } else if (!strcmp(a, "--precision")) {
            int p = precision_from_name(v);
            if (p < 0) {
                fprintf(stderr, "mtl bench-kernels: --precision must be fp32 or bf16, got '%s'\n", v);
                bad = 2;
            } else {
                o->precision = (Precision)p;
            }
        } else if (!strcmp(a, "--batch")) {
            bad = parse_pos_int(a, v, &o->B) ? 2 : 0;
        } else if (!strcmp(a, "--seq")) {
            bad = parse_pos_int(a, v, &o->T) ? 2 : 0;
        } else if (!strcmp(a, "--threads")) {
            bad = parse_pos_int(a, v, &o->threads) ? 2 : 0;
        } else if (!strcmp(a, "--repeats")) {
            bad = parse_pos_int(a, v, &o->repeats) ? 2 : 0;
        } else {
            bad = 1;
        }
        if (bad) {
            if (bad == 1) fprintf(stderr, "mtl bench-kernels: bad argument '%s'\n", a);
            bk_usage(stderr);
            return 2;
        }
    }
    if (strcmp(o->device, "cpu") && strcmp(o->device, "cuda")) {
        fprintf(stderr, "mtl bench-kernels: --device must be cpu or cuda, got '%s'\n", o->device);
        return 2;
    }
    return -1;
}

static Backend *make_backend(const BkOpts *o) {
    char why[512] = "";
    Backend *be = backend_open(o->device, o->threads, o->tf32, o->precision, why, sizeof why);
    if (!be) fprintf(stderr, "mtl bench-kernels: --device %s: %s\n", o->device, why);
    else if (why[0]) fprintf(stderr, "mtl bench-kernels: note: %s\n", why);
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

static void print_summary(const KernelTiming *rows, int n, double peak_gf, Precision prec) {
    double flops = 0, step_s = bench_kernels_step_seconds(rows, n, &flops);
    printf("\nsum over ops of calls x median: %.2f ms per step; GEMM FLOPs per step %.2f G",
           step_s * 1e3, flops * 1e-9);
    if (peak_gf > 0 && step_s > 0)
        printf("; %.1f GFLOP/s = %.1f%% of the %s GEMM peak (kernels only, no framework overhead)",
               flops / step_s * 1e-9, 100.0 * flops / step_s * 1e-9 / peak_gf,
               prec == PREC_BF16 ? "bf16" : "sgemm");
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
    printf("device cpu, %d threads, OpenBLAS core %s (detected %s); peaks: sgemm %.1f GFLOP/s, "
           "copy %.2f GB/s\n",
           th, cpu_blas_setup(), cpu_blas_detected_core(), *gf, *gbs);
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
             "mtl bench-kernels --device %s%s --precision %s --preset %s --batch %d --seq %d "
             "--repeats %d\ncommit %s, %s, %s\nBLAS %s%s\nCPU %s, %d threads%s%s\nat %s",
             o->device, o->tf32 ? " --tf32" : "", precision_name(be->precision), o->preset, o->B,
             o->T, o->repeats, build_git_commit(), build_compiler(), build_cflags(), build_blas(),
             bf, cpu, th, gpu_info ? "\nGPU " : "", gpu_info ? gpu_info : "", now);
}

static int run_bench(const BkOpts *o, Backend *be, const ModelConfig *cfg) {
    BenchKernelsOpts bo = {o->B, o->T, o->repeats, NULL};
    KernelTiming *rows = NULL;
    int n = 0;
    Err err = {{0}};
    BenchCuda *bc = NULL;
    if (!strcmp(o->device, "cuda")) {
        if (!(bc = bench_cuda_open(be, &err))) {
            fprintf(stderr, "mtl bench-kernels: %s\n", err.msg);
            return 1;
        }
        bo.timer = bench_cuda_timer(bc);
    }
    if (bench_kernels_run(be, cfg, &bo, &rows, &n, &err)) {
        fprintf(stderr, "mtl bench-kernels: %s\n", err.msg);
        bench_cuda_close(bc);
        return 1;
    }
    double peak_gf, peak_gbs;
    measure_peaks(o, be, bc, &peak_gf, &peak_gbs);
    char prov[2048];
    provenance(o, be, bc ? bench_cuda_info(bc) : NULL, prov, sizeof prov);
    bench_cuda_close(bc);
    printf("preset %s, B=%d T=%d, median of %d calls per op\n\n", cfg->preset, o->B, o->T, o->repeats);
    bench_kernels_apply_peaks(rows, n, peak_gf, peak_gbs);
    print_table(rows, n, bench_kernels_step_seconds(rows, n, NULL));
    print_summary(rows, n, peak_gf, be->precision);
    int rc = 0;
    char device[32];
    snprintf(device, sizeof device, "%s%s", o->tf32 && !strcmp(o->device, "cuda") ? "cuda-tf32" : o->device,
             be->precision == PREC_BF16 ? "-bf16" : "");
    if (bench_kernels_write_csv(o->out, device, prov, rows, n, peak_gf, peak_gbs, &err)) {
        fprintf(stderr, "mtl bench-kernels: %s\n", err.msg);
        rc = 1;
    } else {
        printf("wrote %s\n", o->out);
    }
    free(rows);
    return rc;
}

int cmd_bench_kernels(int argc, char **argv) {
    BkOpts o = {"cpu", "mini", NULL, 16, 128, 0, 15, 0, PREC_FP32};
    int rc = parse_bk_args(argc, argv, &o);
    if (rc >= 0) return rc;
    char out_default[64];
    snprintf(out_default, sizeof out_default, "runs/bench-kernels-%s%s%s.csv", o.device,
             o.tf32 && !strcmp(o.device, "cuda") ? "-tf32" : "",
             o.precision == PREC_BF16 ? "-bf16" : "");
    if (!o.out) o.out = out_default;
    ModelConfig cfg;
    Err err = {{0}};
    if (config_from_preset(&cfg, o.preset, &err)) {
        fprintf(stderr, "mtl bench-kernels: %s\n", err.msg);
        return 2;
    }
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

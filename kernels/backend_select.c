/* backend_open (the one place a device and precision become a backend) and
 * the words of the devices and precisions; when the CUDA backend is not
 * compiled in, backend_cuda() says so. */
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "cpu/cpu_bf16.h"
#include "cpu/cpu_blas.h"
#include "cpu/tile_bf16.h"

#ifndef MTL_CUDA
Backend *backend_cuda(int tf32, char *why, size_t why_len) {
    (void)tf32;
    if (why) snprintf(why, why_len, "this build has no CUDA backend (rebuild with USE_CUDA=1 where nvcc is installed)");
    return NULL;
}
Backend *backend_cuda_bf16(char *why, size_t why_len) { return backend_cuda(0, why, why_len); }
#endif

const EnumName DEVICE_NAMES[] = {{"cpu", DEVICE_CPU}, {"cuda", DEVICE_CUDA}, {NULL, 0}};
const EnumName PRECISION_NAMES[] = {{"fp32", PREC_FP32}, {"bf16", PREC_BF16}, {NULL, 0}};

const char *precision_name(Precision p) { return enum_name(PRECISION_NAMES, (int)p); }

const EnumName ATTENTION_NAMES[] = {{"store", 0}, {"recompute", 1}, {NULL, 0}};

int backend_set_attn_recompute(Backend *be, int on, char *why, size_t why_len) {
    if (on && !be->attn_recompute_ok) {
        if (why) snprintf(why, why_len, "--attention recompute: the %s backend stores the attention probabilities "
                                        "(its backward does not recompute them); use --attention store", be->name);
        return -1;
    }
    be->attn_recompute = on;
    return 0;
}

/* bf16 on the CPU, or fp32 with the reason in why when the CPU lacks it;
 * bf16 where it is slower than fp32 comes with a note in why: it is what was
 * asked for (the numerics), but not a speed-up there. */
static Backend *open_cpu_precision(int threads, Precision prec, char *why, size_t why_len) {
    if (prec == PREC_FP32) return backend_cpu(threads);
    char reason[256];
    Backend *be = backend_cpu_bf16(threads, reason, sizeof reason);
    if (be && cpu_bf16_slower_than_fp32() && why)
        snprintf(why, why_len, "--precision bf16: this Intel CPU has AVX512-BF16 but no AMX (%s); its bf16 "
                 "dot products do no more multiply-adds per cycle than fp32 FMAs, so bf16 can be slower than "
                 "fp32 here (`mtl bench-step --precision bf16` prints both GEMM peaks); running bf16 as asked",
                 cpu_bf16_library());
    if (be) return be;
    if (why) snprintf(why, why_len, "--precision bf16: %s; running fp32 instead", reason);
    return backend_cpu(threads);
}

/* open_cpu_precision, with the BLAS note (cpu_blas.h) added to why when the
 * user's OPENBLAS_CORETYPE holds OpenBLAS below this CPU */
static Backend *open_cpu(int threads, Precision prec, char *why, size_t why_len) {
    Backend *be = open_cpu_precision(threads, prec, why, why_len);
    const char *note = cpu_blas_note();
    if (note && why && why_len) {
        size_t used = strlen(why);
        snprintf(why + used, why_len - used, "%s%s", used ? "; " : "", note);
    }
    return be;
}

Backend *backend_open(Device device, int threads, int tf32, Precision prec, char *why,
                      size_t why_len) {
    if (why && why_len) why[0] = '\0';
    if (device == DEVICE_CPU) return open_cpu(threads, prec, why, why_len);
    if (device == DEVICE_CUDA) {
        if (prec == PREC_BF16 && tf32) {
            if (why) snprintf(why, why_len, "--tf32 and --precision bf16 exclude each other (bf16 already runs the matmuls on tensor cores)");
            return NULL;
        }
        return prec == PREC_BF16 ? backend_cuda_bf16(why, why_len) : backend_cuda(tf32, why, why_len);
    }
    if (why) snprintf(why, why_len, "unknown device %d (cpu or cuda)", (int)device);
    return NULL;
}

void backend_precision_describe(const Backend *be, char *out, size_t len) {
    if (be->precision == PREC_BF16 && !strcmp(be->name, "cpu"))
        snprintf(out, len, "bf16 (%s; attention products: %s)", cpu_bf16_library(), tb_impl());
    else if (be->precision == PREC_BF16)
        snprintf(out, len, "bf16 (cublasGemmEx, CUBLAS_COMPUTE_32F)");
    else
        snprintf(out, len, "%s", precision_name(be->precision));
}

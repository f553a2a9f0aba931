/* matmul.c — linear layer (nn.Linear layout), forward and backward. */
#include <omp.h>
#include <string.h>

#include "cpu_internal.h"

/* out[N,OC] = inp[N,C] . w[OC,C]^T + bias: out is pre-filled with the bias
 * (or zeros) and the GEMM accumulates onto it with beta = 1. In bf16, inp
 * and w are rounded to bf16 first (cpu_bf16.h); the bias is added in fp32.
 * Frozen weights (an inference model's) go through oneDNN on their packed
 * copies, the bias in the kernel (cpu_packed.h). */
void cpu_matmul_forward(Backend *be, float *out, const float *inp, const float *w,
                        const float *bias, int N, int C, int OC) {
    int nth = cpu_threads(be);
    if (cpu_packed_linear(be, out, inp, w, bias, NULL, 0, N, C, OC)) return;
    CpuCtx *ctx = be->ctx;
    if (bias) {
#pragma omp parallel for schedule(static) num_threads(nth)
        for (int n = 0; n < N; n++) memcpy(out + (size_t)n * OC, bias, (size_t)OC * sizeof *out);
    }
    float beta = bias ? 1.0f : 0.0f;
    if (ctx->bgemm) {
        const bf16 *x = cpu_bf16_copy(be, 0, inp, N, C, C), *wb = cpu_bf16_copy(be, 1, w, OC, C, C);
        bf16_gemm(ctx->bgemm, 0, 1, N, OC, C, 1.0f, x, C, wb, C, beta, out, OC);
        return;
    }
    cpu_sgemm(nth, 0, 1, N, OC, C, 1.0f, inp, C, w, C, beta, out, OC);
}

/* dbias[o] += sum_n dout[n,o]: threads own column ranges, rows in order. */
static void bias_backward(int nth, float *dbias, const float *dout, int N, int OC) {
#pragma omp parallel num_threads(nth)
    {
        size_t lo, hi;
        cpu_split((size_t)OC, omp_get_thread_num(), omp_get_num_threads(), 16, &lo, &hi);
        for (int n = 0; n < N; n++) {
            const float *d = dout + (size_t)n * OC;
            for (size_t o = lo; o < hi; o++) dbias[o] += d[o];
        }
    }
}

/* dinp[N,C] += dout[N,OC] . w[OC,C] ; dw[OC,C] += dout^T . inp ; dbias += column sums. */
static void matmul_backward_bf16(Backend *be, float *dinp, float *dw, const float *dout,
                                const float *inp, const float *w, int N, int C, int OC) {
    Bf16Gemm *g = ((CpuCtx *)be->ctx)->bgemm;
    const bf16 *d = cpu_bf16_copy(be, 0, dout, N, OC, OC);
    if (dinp) {
        const bf16 *wb = cpu_bf16_copy(be, 1, w, OC, C, C);
        bf16_gemm(g, 0, 0, N, C, OC, 1.0f, d, OC, wb, C, 1.0f, dinp, C);
    }
    if (!dw) return;
    const bf16 *x = cpu_bf16_copy(be, 2, inp, N, C, C);
    bf16_gemm(g, 1, 0, OC, C, N, 1.0f, d, OC, x, C, 1.0f, dw, C);
}

void cpu_matmul_backward(Backend *be, float *dinp, float *dw, float *dbias, const float *dout,
                         const float *inp, const float *w, int N, int C, int OC) {
    int nth = cpu_threads(be);
    if (((CpuCtx *)be->ctx)->bgemm) {
        matmul_backward_bf16(be, dinp, dw, dout, inp, w, N, C, OC);
        if (dbias) bias_backward(nth, dbias, dout, N, OC);
        return;
    }
    if (dinp) cpu_sgemm(nth, 0, 0, N, C, OC, 1.0f, dout, OC, w, C, 1.0f, dinp, C);
    if (dw) cpu_sgemm(nth, 1, 0, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dw, C);
    if (dbias) bias_backward(nth, dbias, dout, N, OC);
}

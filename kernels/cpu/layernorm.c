/* layernorm.c — LayerNorm over the last dim, forward and backward. */
#include <math.h>
#include <omp.h>

#include "cpu_internal.h"
#include "cpu_math.h"

/* y = (x - mean) * rstd * w + b, mean = sum(x)/C,
 * rstd = 1/sqrt(sum((x - mean)^2)/C + eps) (biased variance, two passes). */
void cpu_layernorm_forward(Backend *be, float *out, float *mean, float *rstd, const float *inp,
                           const float *w, const float *b, int N, int C, float eps) {
    int nth = cpu_threads(be);
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *y = out + (size_t)n * C;
        float m = cpu_sum(x, C) / (float)C;
        float var = cpu_sum_sqdev(x, m, C) / (float)C;
        float s = 1.0f / sqrtf(var + eps);
        for (int c = 0; c < C; c++) y[c] = ((x[c] - m) * s) * w[c] + b[c];
        mean[n] = m;
        rstd[n] = s;
    }
}

/* One row of dx. With xhat = (x - mean) rstd and g = dout * w:
 *   dx = rstd * (g - mean(g) - xhat * mean(g * xhat))          */
static void layernorm_backward_row(float *dx, const float *dy, const float *x, const float *w,
                                   float m, float s, int C) {
    cpu_vf acc_g = {0}, acc_gx = {0};
    int c = 0;
    for (; c + CPU_LANES <= C; c += CPU_LANES) {
        cpu_vf g = cpu_vload(dy + c) * cpu_vload(w + c);
        acc_g += g;
        acc_gx += g * ((cpu_vload(x + c) - m) * s);
    }
    float sum_g = cpu_vhsum(acc_g), sum_gx = cpu_vhsum(acc_gx);
    for (; c < C; c++) {
        float g = dy[c] * w[c];
        sum_g += g;
        sum_gx += g * ((x[c] - m) * s);
    }
    float mean_g = sum_g / (float)C, mean_gx = sum_gx / (float)C;
    for (c = 0; c < C; c++) {
        float xhat = (x[c] - m) * s;
        dx[c] += s * ((dy[c] * w[c] - mean_g) - xhat * mean_gx);
    }
}

/* dinp by rows; dw += sum_n dout*xhat, db += sum_n dout by column ranges, each
 * column summed over n in order (independent of the thread count). dw and db
 * are both NULL for a frozen LayerNorm (or both set). */
void cpu_layernorm_backward(Backend *be, float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, const float *mean, const float *rstd,
                            int N, int C) {
    int nth = cpu_threads(be);
#pragma omp parallel num_threads(nth)
    {
#pragma omp for schedule(static)
        for (int n = 0; n < N; n++)
            layernorm_backward_row(dinp + (size_t)n * C, dout + (size_t)n * C,
                                   inp + (size_t)n * C, w, mean[n], rstd[n], C);
        size_t lo = 0, hi = 0; /* a frozen LayerNorm (dw, db NULL): no column work */
        if (dw && db) cpu_split((size_t)C, omp_get_thread_num(), omp_get_num_threads(), 16, &lo, &hi);
        for (int n = 0; n < N; n++) {
            const float *dy = dout + (size_t)n * C, *x = inp + (size_t)n * C;
            float m = mean[n], s = rstd[n];
            for (size_t c = lo; c < hi; c++) {
                dw[c] += dy[c] * ((x[c] - m) * s);
                db[c] += dy[c];
            }
        }
    }
}

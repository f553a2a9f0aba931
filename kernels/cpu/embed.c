/* embed.c — token + position + token-type embeddings, forward and backward. */
#include <omp.h>

#include "cpu_internal.h"

/* out[b,t,:] = wte[ids[b,t]] + wpe[t] + wtt[tt[b,t]]   (ids, tt in range:
 * the caller validates token ids against the vocabulary). */
void cpu_embed_forward(Backend *be, float *out, const int *ids, const int *tt, const float *wte,
                       const float *wpe, const float *wtt, int B, int T, int C) {
    int nth = cpu_threads(be);
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int bt = 0; bt < B * T; bt++) {
        const float *e = wte + (size_t)ids[bt] * C;
        const float *p = wpe + (size_t)(bt % T) * C;
        const float *y = wtt + (size_t)tt[bt] * C;
        float *o = out + (size_t)bt * C;
        for (int c = 0; c < C; c++) o[c] = (e[c] + p[c]) + y[c];
    }
}

/* Scatter-add dout into the tables. Every table element receives its terms in
 * (b, t) order, as a serial loop would: dwte/dwtt rows can repeat, so threads
 * own column ranges and each walks all (b, t); dwpe rows are distinct per t,
 * so threads own positions. The result does not depend on the thread count. */
void cpu_embed_backward(Backend *be, float *dwte, float *dwpe, float *dwtt, const float *dout,
                        const int *ids, const int *tt, int B, int T, int C) {
    int nth = cpu_threads(be);
#pragma omp parallel num_threads(nth)
    {
        size_t lo, hi;
        cpu_split((size_t)C, omp_get_thread_num(), omp_get_num_threads(), 16, &lo, &hi);
        for (int bt = 0; bt < B * T; bt++) {
            const float *d = dout + (size_t)bt * C;
            float *e = dwte + (size_t)ids[bt] * C;
            float *y = dwtt + (size_t)tt[bt] * C;
            for (size_t c = lo; c < hi; c++) e[c] += d[c];
            for (size_t c = lo; c < hi; c++) y[c] += d[c];
        }
#pragma omp for schedule(static)
        for (int t = 0; t < T; t++) {
            float *p = dwpe + (size_t)t * C;
            for (int b = 0; b < B; b++) {
                const float *d = dout + ((size_t)b * T + t) * C;
                for (int c = 0; c < C; c++) p[c] += d[c];
            }
        }
    }
}

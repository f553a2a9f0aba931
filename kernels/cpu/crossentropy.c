/* crossentropy.c — softmax cross-entropy (forward and backward) and the QA
 * logits layout change (forward and backward). */
#include <math.h>
#include <omp.h>

#include "cpu_internal.h"
#include "cpu_math.h"

/* Per row, numerically stable: m = max_v x_v, s = sum_v exp(x_v - m),
 *   probs_v = exp(x_v - m) / s,  loss = log(s) - (x_t - m).
 * Ignored rows (target MTL_IGNORE_INDEX) get loss 0 (their probs are still
 * written); a target outside [0, V) gives a NaN loss rather than a wild read. */
void cpu_crossentropy_forward(Backend *be, float *losses, float *probs, const float *logits,
                              const int *targets, int N, int V) {
    int nth = cpu_threads(be);
#pragma omp parallel for schedule(static) num_threads(nth) if (N >= 64)
    for (int n = 0; n < N; n++) {
        const float *x = logits + (size_t)n * V;
        float *pr = probs + (size_t)n * V;
        float m = -INFINITY;
        for (int v = 0; v < V; v++)
            if (x[v] > m) m = x[v];
        for (int v = 0; v < V; v++) pr[v] = cpu_expf(x[v] - m);
        float s = cpu_sum(pr, V);
        float inv = 1.0f / s;
        for (int v = 0; v < V; v++) pr[v] *= inv;
        int t = targets[n];
        if (t == MTL_IGNORE_INDEX)
            losses[n] = 0.0f;
        else if (t < 0 || t >= V)
            losses[n] = NAN;
        else
            losses[n] = logf(s) - (x[t] - m);
    }
}

/* dlogits[n] += dscale * (probs[n] - onehot(targets[n])), ignored rows skipped. */
void cpu_crossentropy_backward(Backend *be, float *dlogits, const float *probs, const int *targets,
                               float dscale, int N, int V) {
    int nth = cpu_threads(be);
#pragma omp parallel for schedule(static) num_threads(nth) if (N >= 64)
    for (int n = 0; n < N; n++) {
        int t = targets[n];
        if (t == MTL_IGNORE_INDEX || t < 0 || t >= V) continue;
        float *d = dlogits + (size_t)n * V;
        const float *pr = probs + (size_t)n * V;
        for (int v = 0; v < V; v++) d[v] += dscale * (pr[v] - (v == t ? 1.0f : 0.0f));
    }
}

/* split[k,b,t] = qa[b,t,k] for k in {0 start, 1 end} */
void cpu_qa_split_forward(Backend *be, float *split, const float *qa, int B, int T) {
    (void)be;
    size_t n = (size_t)B * T;
    for (size_t i = 0; i < n; i++) {
        split[i] = qa[2 * i];
        split[n + i] = qa[2 * i + 1];
    }
}

void cpu_qa_split_backward(Backend *be, float *dqa, const float *dsplit, int B, int T) {
    (void)be;
    size_t n = (size_t)B * T;
    for (size_t i = 0; i < n; i++) {
        dqa[2 * i] += dsplit[i];
        dqa[2 * i + 1] += dsplit[n + i];
    }
}

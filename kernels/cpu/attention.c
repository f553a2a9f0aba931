/* attention.c — multi-head self-attention with a key padding mask and
 * attention dropout, forward and backward (semantics in backend.h).
 *
 * Work is split over the B*NH (batch, head) pairs; each pair runs its GEMMs as
 * single-threaded sgemm calls straight on the strided q, k, v columns of qkv
 * (leading dimension 3C), so nothing is permuted. (Measured on the 2-core dev
 * box, mini shapes B=16 T=128 C=256 NH=4, forward GEMMs only: OpenMP over the
 * pairs 1.9 ms, a serial loop letting OpenBLAS use 2 threads 2.9 ms.) Keys after the last real
 * token of a sequence (the padded tail) are skipped in every GEMM: their
 * probabilities are exactly 0, so the sums are unchanged, and short sentences
 * in a long batch cost proportionally less. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"
#include "cpu_math.h"
#include "util.h"

typedef struct {
    int B, T, C, NH, hs;
    float p;              /* dropout probability */
    uint64_t seed;
    uint32_t step, stream;
    uint64_t first;       /* element index of P'[0,0,0,0] (backend.h) */
} AttnShape;

/* Keys j >= span(mask) are padding: 1 + the last index with mask 1 (0 if none). */
static int key_span(const int *mask, int T) {
    int L = T;
    while (L > 0 && mask[L - 1] == 0) L--;
    return L;
}

/* max_j s[j] over j < L with mask[j] != 0 (-inf if none), 16 lanes at a
 * time; max is exact, so the order does not matter. */
static float masked_max(const float *s, const int *mask, int L) {
    const cpu_vf neg_inf = (cpu_vf){0} - INFINITY;
    cpu_vf acc = neg_inf;
    int j = 0;
    for (; j + CPU_LANES <= L; j += CPU_LANES) {
        cpu_vf v = cpu_vselect(cpu_vloadi(mask + j) != 0, cpu_vload(s + j), neg_inf);
        acc = cpu_vselect(v > acc, v, acc);
    }
    float mx = -INFINITY;
    for (int l = 0; l < CPU_LANES; l++) mx = acc[l] > mx ? acc[l] : mx;
    for (; j < L; j++)
        if (mask[j] && s[j] > mx) mx = s[j];
    return mx;
}

/* Row i of the softmax over the first L keys, in place; keys with mask 0 and
 * all keys >= L get probability exactly 0. A row with no real key is all 0.
 *   P_j = exp(S_j - max) / sum_k exp(S_k - max), max and sum over real keys. */
static void masked_softmax_row(float *s, const int *mask, int L, int T) {
    float mx = masked_max(s, mask, L); /* L > 0 implies a real key (mask[L-1] == 1) */
    for (int j = 0; j < L; j++) s[j] = mask[j] ? cpu_expf(s[j] - mx) : 0.0f;
    if (L > 0) {
        float inv = 1.0f / cpu_sum(s, L);
        for (int j = 0; j < L; j++) s[j] *= inv;
    }
    if (L < T) memset(s + L, 0, (size_t)(T - L) * sizeof *s);
}

/* Rows of P' = dropout(P) for keys < L: dst = keep ? src / (1-p) : 0, with
 * the element index ((b*NH + h)*T + i)*T + j. The keep bytes of row i are
 * left in keep[i*T .. i*T+L) (a T*T tile) for the backward's second use.
 * They are drawn for the whole tile in one call (the padded keys j >= L too,
 * unused): row by row, every row start that is not a multiple of the RNG's
 * group cost a partly wasted group at each end (T = 217: 27% more Philox). */
static void dropout_rows(float *dst, const float *src, uint8_t *keep, const AttnShape *a, int bh,
                         int L) {
    int T = a->T;
    float q = 1.0f - a->p;
    cpu_rng_keep(keep, a->seed, a->step, a->stream, a->first + (uint64_t)bh * T * T, (size_t)(T - 1) * T + L, a->p);
    for (int i = 0; i < T; i++) {
        const uint8_t *k = keep + (size_t)i * T;
        const float *s = src + (size_t)i * T;
        float *d = dst + (size_t)i * T;
        for (int j = 0; j < L; j++) d[j] = k[j] ? s[j] / q : 0.0f;
    }
}

static void attention_forward_head(float *out, float *att, float *pdrop, uint8_t *keep,
                                   const float *qkv, const int *mask, const AttnShape *a, int bh) {
    int T = a->T, C = a->C, hs = a->hs, b = bh / a->NH, h = bh % a->NH;
    int ld = 3 * C;
    const float *q = qkv + (size_t)b * T * ld + (size_t)h * hs, *k = q + C, *v = q + 2 * C;
    const int *m = mask + (size_t)b * T;
    float *S = att + (size_t)bh * T * T;
    float *o = out + (size_t)b * T * C + (size_t)h * hs;
    int L = key_span(m, T);
    /* S = q k^T / sqrt(hs) on the first L keys */
    cpu_sgemm_serial(0, 1, T, L, hs, 1.0f / sqrtf((float)hs), q, ld, k, ld, 0.0f, S, T);
    for (int i = 0; i < T; i++) masked_softmax_row(S + (size_t)i * T, m, L, T);
    const float *P = S;
    if (a->p > 0.0f && L > 0) {
        float *Pd = pdrop + (size_t)bh * T * T;
        dropout_rows(Pd, S, keep, a, bh, L);
        P = Pd;
    }
    if (L == 0) { /* no real key: the output is 0 */
        for (int i = 0; i < T; i++) memset(o + (size_t)i * C, 0, (size_t)hs * sizeof *o);
        return;
    }
    cpu_sgemm_serial(0, 0, T, hs, L, 1.0f, P, T, v, ld, 0.0f, o, C); /* out = P' v */
}

void cpu_attention_forward(Backend *be, float *out, float *att, float *scratch, const float *qkv,
                           const int *mask, int B, int T, int C, int NH, float p_drop,
                           uint64_t seed, uint32_t step, uint32_t stream, uint64_t first) {
    AttnShape a = {B, T, C, NH, C / NH, p_drop, seed, step, stream, first};
    int nth = cpu_threads(be);
    cpu_blas_single_thread();
#pragma omp parallel num_threads(nth)
    {
        uint8_t *keep = xmalloc((size_t)T * T); /* this thread's keep tile */
#pragma omp for schedule(static)
        for (int bh = 0; bh < B * NH; bh++)
            attention_forward_head(out, att, scratch, keep, qkv, mask, &a, bh);
        free(keep);
    }
}

/* dS = P * (dP - rowsum(P * dP)) in place on the first L columns, where
 * dP = dP' * keep / (1-p) (just dP' without dropout); `keep` is the T*T tile
 * that dropout_rows() filled for this (b, h). */
static void softmax_backward_rows(float *dS, const float *P, const uint8_t *keep,
                                  const AttnShape *a, int L) {
    int T = a->T;
    float q = 1.0f - a->p;
    for (int i = 0; i < T; i++) {
        float *d = dS + (size_t)i * T;
        const float *p = P + (size_t)i * T;
        if (a->p > 0.0f) {
            const uint8_t *k = keep + (size_t)i * T;
            for (int j = 0; j < L; j++) d[j] = k[j] ? d[j] / q : 0.0f;
        }
        float rowdot = cpu_dot(p, d, L);
        for (int j = 0; j < L; j++) d[j] = p[j] * (d[j] - rowdot);
    }
}

static void attention_backward_head(float *dqkv, float *buf, uint8_t *keep, const float *dout,
                                    const float *qkv, const float *att, const int *mask,
                                    const AttnShape *a, int bh) {
    int T = a->T, C = a->C, hs = a->hs, b = bh / a->NH, h = bh % a->NH;
    int ld = 3 * C;
    int L = key_span(mask + (size_t)b * T, T);
    if (L == 0) return; /* all probabilities 0: no gradient */
    size_t off = (size_t)b * T * ld + (size_t)h * hs;
    const float *q = qkv + off, *k = q + C, *v = q + 2 * C;
    float *dq = dqkv + off, *dk = dq + C, *dv = dq + 2 * C;
    const float *dO = dout + (size_t)b * T * C + (size_t)h * hs;
    const float *P = att + (size_t)bh * T * T;
    float scale = 1.0f / sqrtf((float)hs);
    const float *Pd = P;
    if (a->p > 0.0f) { /* recompute P' from P and the RNG */
        dropout_rows(buf, P, keep, a, bh, L);
        Pd = buf;
    }
    cpu_sgemm_serial(1, 0, L, hs, T, 1.0f, Pd, T, dO, C, 1.0f, dv, ld);  /* dv += P'^T dO */
    cpu_sgemm_serial(0, 1, T, L, hs, 1.0f, dO, C, v, ld, 0.0f, buf, T);  /* dP' = dO v^T */
    softmax_backward_rows(buf, P, keep, a, L);                           /* buf = dS */
    cpu_sgemm_serial(0, 0, T, hs, L, scale, buf, T, k, ld, 1.0f, dq, ld); /* dq += dS k/sqrt(hs) */
    cpu_sgemm_serial(1, 0, L, hs, T, scale, buf, T, q, ld, 1.0f, dk, ld); /* dk += dS^T q/sqrt(hs) */
}

void cpu_attention_backward(Backend *be, float *dqkv, float *scratch, const float *dout,
                            const float *qkv, const float *att, const int *mask, int B, int T,
                            int C, int NH, float p_drop, uint64_t seed, uint32_t step,
                            uint32_t stream, uint64_t first) {
    AttnShape a = {B, T, C, NH, C / NH, p_drop, seed, step, stream, first};
    int nth = cpu_threads(be);
    cpu_blas_single_thread();
#pragma omp parallel num_threads(nth)
    {
        uint8_t *keep = xmalloc((size_t)T * T); /* this thread's keep tile */
#pragma omp for schedule(static)
        for (int bh = 0; bh < B * NH; bh++)
            attention_backward_head(dqkv, scratch + (size_t)bh * T * T, keep, dout, qkv, att,
                                    mask, &a, bh);
        free(keep);
    }
}

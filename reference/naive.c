/* naive.c — double-precision reference ops (see naive.h). Written for
 * clarity, not speed: one loop per formula. */
#include "naive.h"

#include <math.h>
#include <stdlib.h>

#include "backend.h" /* MTL_IGNORE_INDEX */
#include "rng.h"
#include "util.h"

/* ---- embeddings ---------------------------------------------------------- */

void naive_embed_forward(double *out, const int *ids, const int *tt, const double *wte,
                         const double *wpe, const double *wtt, int B, int T, int C) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int i = b * T + t;
            for (int c = 0; c < C; c++)
                out[(size_t)i * C + c] = wte[(size_t)ids[i] * C + c] + wpe[(size_t)t * C + c] +
                                         wtt[(size_t)tt[i] * C + c];
        }
}

void naive_embed_backward(double *dwte, double *dwpe, double *dwtt, const double *dout,
                          const int *ids, const int *tt, int B, int T, int C) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int i = b * T + t;
            for (int c = 0; c < C; c++) {
                double d = dout[(size_t)i * C + c];
                dwte[(size_t)ids[i] * C + c] += d;
                dwpe[(size_t)t * C + c] += d;
                dwtt[(size_t)tt[i] * C + c] += d;
            }
        }
}

/* ---- layernorm ----------------------------------------------------------- */

void naive_layernorm_forward(double *out, double *mean, double *rstd, const double *inp,
                             const double *w, const double *b, int N, int C, double eps) {
    for (int n = 0; n < N; n++) {
        const double *x = inp + (size_t)n * C;
        double m = 0, v = 0;
        for (int c = 0; c < C; c++) m += x[c];
        m /= C;
        for (int c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
        v /= C;
        double s = 1.0 / sqrt(v + eps);
        for (int c = 0; c < C; c++) out[(size_t)n * C + c] = (x[c] - m) * s * w[c] + b[c];
        mean[n] = m;
        rstd[n] = s;
    }
}

/* xhat = (x - mean) rstd, g = dout w:
 *   dx = rstd (g - mean_c(g) - xhat mean_c(g xhat)), dw += dout xhat, db += dout */
void naive_layernorm_backward(double *dinp, double *dw, double *db, const double *dout,
                              const double *inp, const double *w, const double *mean,
                              const double *rstd, int N, int C) {
    for (int n = 0; n < N; n++) {
        const double *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
        double mg = 0, mgx = 0;
        for (int c = 0; c < C; c++) {
            double xhat = (x[c] - mean[n]) * rstd[n];
            mg += dy[c] * w[c];
            mgx += dy[c] * w[c] * xhat;
        }
        mg /= C;
        mgx /= C;
        for (int c = 0; c < C; c++) {
            double xhat = (x[c] - mean[n]) * rstd[n];
            dinp[(size_t)n * C + c] += rstd[n] * (dy[c] * w[c] - mg - xhat * mgx);
            if (dw) dw[c] += dy[c] * xhat;
            if (db) db[c] += dy[c];
        }
    }
}

/* ---- matmul -------------------------------------------------------------- */

void naive_matmul_forward(double *out, const double *inp, const double *w, const double *bias,
                          int N, int C, int OC) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = bias ? bias[o] : 0.0;
            for (int c = 0; c < C; c++) s += inp[(size_t)n * C + c] * w[(size_t)o * C + c];
            out[(size_t)n * OC + o] = s;
        }
}

void naive_matmul_backward(double *dinp, double *dw, double *dbias, const double *dout,
                           const double *inp, const double *w, int N, int C, int OC) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double d = dout[(size_t)n * OC + o];
            for (int c = 0; c < C; c++) {
                if (dinp) dinp[(size_t)n * C + c] += d * w[(size_t)o * C + c];
                if (dw) dw[(size_t)o * C + c] += d * inp[(size_t)n * C + c];
            }
            if (dbias) dbias[o] += d;
        }
}

/* ---- lora ------------------------------------------------------------------ */

/* u[n,r] = sum_c inp[n,c] a[r,c] ; out[n,o] += s sum_r u[n,r] b[o,r] */
void naive_lora_forward(double *out, double *u, const double *inp, const double *a, const double *b,
                        int N, int C, int R, int OC, double s) {
    for (int n = 0; n < N; n++) {
        for (int r = 0; r < R; r++) {
            double acc = 0;
            for (int c = 0; c < C; c++) acc += inp[(size_t)n * C + c] * a[(size_t)r * C + c];
            u[(size_t)n * R + r] = acc;
        }
        for (int o = 0; o < OC; o++) {
            double acc = 0;
            for (int r = 0; r < R; r++) acc += u[(size_t)n * R + r] * b[(size_t)o * R + r];
            out[(size_t)n * OC + o] += s * acc;
        }
    }
}

/* The chain rule through the two products: du = s dout b ; db += s dout^T u ;
 * da += du^T inp ; dinp += du a (dinp may be NULL). */
void naive_lora_backward(double *dinp, double *da, double *db, double *du, const double *dout,
                         const double *inp, const double *u, const double *a, const double *b,
                         int N, int C, int R, int OC, double s) {
    for (int n = 0; n < N; n++)
        for (int r = 0; r < R; r++) {
            double acc = 0;
            for (int o = 0; o < OC; o++) acc += dout[(size_t)n * OC + o] * b[(size_t)o * R + r];
            du[(size_t)n * R + r] = s * acc;
        }
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++)
            for (int r = 0; r < R; r++)
                db[(size_t)o * R + r] += s * dout[(size_t)n * OC + o] * u[(size_t)n * R + r];
    for (int n = 0; n < N; n++)
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++) {
                double d = du[(size_t)n * R + r];
                da[(size_t)r * C + c] += d * inp[(size_t)n * C + c];
                if (dinp) dinp[(size_t)n * C + c] += d * a[(size_t)r * C + c];
            }
}

/* ---- attention ------------------------------------------------------------ */

/* Index helpers: q/k/v element d of head h at token t of batch b, and the
 * attention element (b, h, i, j). */
static size_t qkv_at(int b, int t, int part, int h, int d, int T, int C, int hs) {
    return ((size_t)b * T + t) * 3 * C + (size_t)part * C + (size_t)h * hs + d;
}
static size_t att_at(int b, int h, int i, int j, int NH, int T) {
    return (((size_t)b * NH + h) * T + i) * T + j;
}

/* dropout factor of P[b,h,i,j]: keep / (1 - p) */
static double att_drop_factor(size_t idx, float p, uint64_t seed, uint32_t step, uint32_t stream) {
    if (p <= 0.0f) return 1.0;
    return rng_keep(seed, step, stream, idx, p) ? 1.0 / (1.0 - (double)p) : 0.0;
}

void naive_attention_forward(double *out, double *att, const double *qkv, const int *mask, int B,
                             int T, int C, int NH, float p_drop, uint64_t seed, uint32_t step,
                             uint32_t stream, uint64_t first) {
    int hs = C / NH;
    double scale = 1.0 / sqrt((double)hs);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < T; i++) {
                double *P = att + att_at(b, h, i, 0, NH, T);
                double mx = -INFINITY;
                for (int j = 0; j < T; j++) {
                    double s = 0;
                    for (int d = 0; d < hs; d++)
                        s += qkv[qkv_at(b, i, 0, h, d, T, C, hs)] * qkv[qkv_at(b, j, 1, h, d, T, C, hs)];
                    P[j] = s * scale;
                    if (mask[b * T + j] && P[j] > mx) mx = P[j];
                }
                double sum = 0;
                for (int j = 0; j < T; j++) {
                    P[j] = mask[b * T + j] ? exp(P[j] - mx) : 0.0;
                    sum += P[j];
                }
                for (int j = 0; j < T; j++) P[j] = sum > 0 ? P[j] / sum : 0.0;
                for (int d = 0; d < hs; d++) {
                    double o = 0;
                    for (int j = 0; j < T; j++)
                        o += P[j] * att_drop_factor(first + att_at(b, h, i, j, NH, T), p_drop, seed, step, stream) *
                             qkv[qkv_at(b, j, 2, h, d, T, C, hs)];
                    out[((size_t)b * T + i) * C + (size_t)h * hs + d] = o;
                }
            }
}

/* With P' = P * f (f the dropout factor):
 *   dv_j += sum_i P'_ij dO_i ;  dP_ij = f_ij (dO_i . v_j)
 *   dS_ij = P_ij (dP_ij - sum_k P_ik dP_ik)
 *   dq_i += sum_j dS_ij k_j / sqrt(hs) ;  dk_j += sum_i dS_ij q_i / sqrt(hs) */
void naive_attention_backward(double *dqkv, const double *dout, const double *qkv,
                              const double *att, const int *mask, int B, int T, int C, int NH,
                              float p_drop, uint64_t seed, uint32_t step, uint32_t stream,
                              uint64_t first) {
    (void)mask; /* masked keys already have P = 0, hence dS = 0 */
    int hs = C / NH;
    double scale = 1.0 / sqrt((double)hs);
    double *dP = xmalloc((size_t)T * sizeof *dP);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < T; i++) {
                const double *P = att + att_at(b, h, i, 0, NH, T);
                const double *dO = dout + ((size_t)b * T + i) * C + (size_t)h * hs;
                double rowdot = 0;
                for (int j = 0; j < T; j++) {
                    double f = att_drop_factor(first + att_at(b, h, i, j, NH, T), p_drop, seed, step, stream);
                    double dpd = 0;
                    for (int d = 0; d < hs; d++) {
                        dpd += dO[d] * qkv[qkv_at(b, j, 2, h, d, T, C, hs)];
                        dqkv[qkv_at(b, j, 2, h, d, T, C, hs)] += P[j] * f * dO[d];
                    }
                    dP[j] = f * dpd;
                    rowdot += P[j] * dP[j];
                }
                for (int j = 0; j < T; j++) {
                    double dS = P[j] * (dP[j] - rowdot);
                    for (int d = 0; d < hs; d++) {
                        dqkv[qkv_at(b, i, 0, h, d, T, C, hs)] +=
                            dS * qkv[qkv_at(b, j, 1, h, d, T, C, hs)] * scale;
                        dqkv[qkv_at(b, j, 1, h, d, T, C, hs)] +=
                            dS * qkv[qkv_at(b, i, 0, h, d, T, C, hs)] * scale;
                    }
                }
            }
    free(dP);
}

/* ---- gelu, residual, dropout ------------------------------------------------ */

void naive_gelu_forward(double *out, const double *inp, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = 0.5 * inp[i] * (1.0 + erf(inp[i] / sqrt(2.0)));
}

/* d/dx = 0.5 (1 + erf(x/sqrt2)) + x exp(-x^2/2) / sqrt(2 pi) */
void naive_gelu_backward(double *dinp, const double *inp, const double *dout, size_t n) {
    const double inv_sqrt_2pi = 0.39894228040143267794;
    for (size_t i = 0; i < n; i++) {
        double x = inp[i];
        double g = 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) * inv_sqrt_2pi;
        dinp[i] += dout[i] * g;
    }
}

void naive_residual_forward(double *out, const double *a, const double *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void naive_residual_backward(double *da, double *db, const double *dout, size_t n) {
    for (size_t i = 0; i < n; i++) {
        da[i] += dout[i];
        db[i] += dout[i];
    }
}

void naive_dropout_forward(double *out, const double *inp, size_t n, float p, uint64_t seed,
                           uint32_t step, uint32_t stream, uint64_t first) {
    for (size_t i = 0; i < n; i++)
        out[i] = inp[i] * att_drop_factor(first + i, p, seed, step, stream);
}

void naive_dropout_backward(double *dinp, const double *dout, size_t n, float p, uint64_t seed,
                            uint32_t step, uint32_t stream, uint64_t first) {
    for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * att_drop_factor(first + i, p, seed, step, stream);
}

/* ---- cross-entropy, qa split --------------------------------------------- */

void naive_crossentropy_forward(double *losses, double *probs, const double *logits,
                                const int *targets, int N, int V) {
    for (int n = 0; n < N; n++) {
        const double *x = logits + (size_t)n * V;
        double mx = -INFINITY, sum = 0;
        for (int v = 0; v < V; v++) mx = x[v] > mx ? x[v] : mx;
        for (int v = 0; v < V; v++) sum += exp(x[v] - mx);
        for (int v = 0; v < V; v++) probs[(size_t)n * V + v] = exp(x[v] - mx) / sum;
        int t = targets[n];
        if (t == MTL_IGNORE_INDEX)
            losses[n] = 0.0;
        else if (t < 0 || t >= V)
            losses[n] = NAN;
        else
            losses[n] = log(sum) + mx - x[t]; /* -log softmax(x)_t */
    }
}

void naive_crossentropy_backward(double *dlogits, const double *probs, const int *targets,
                                 double dscale, int N, int V) {
    for (int n = 0; n < N; n++) {
        int t = targets[n];
        if (t == MTL_IGNORE_INDEX || t < 0 || t >= V) continue;
        for (int v = 0; v < V; v++)
            dlogits[(size_t)n * V + v] += dscale * (probs[(size_t)n * V + v] - (v == t ? 1.0 : 0.0));
    }
}

void naive_qa_split_forward(double *split, const double *qa, int B, int T) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int k = 0; k < 2; k++)
                split[((size_t)k * B + b) * T + t] = qa[((size_t)b * T + t) * 2 + k];
}

void naive_qa_split_backward(double *dqa, const double *dsplit, int B, int T) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int k = 0; k < 2; k++)
                dqa[((size_t)b * T + t) * 2 + k] += dsplit[((size_t)k * B + b) * T + t];
}

/* ---- optimiser ------------------------------------------------------------ */

double naive_sumsq(const double *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i] * x[i];
    return s;
}

void naive_scale(double *x, size_t n, double s) {
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

void naive_adamw_update(double *p, const double *g, double *m, double *v, size_t n, double lr,
                        double b1, double b2, double eps, double wd, int t) {
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        double mhat = m[i] / (1 - pow(b1, t)), vhat = v[i] / (1 - pow(b2, t));
        p[i] -= lr * (mhat / (sqrt(vhat) + eps) + wd * p[i]);
    }
}

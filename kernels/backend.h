/* backend.h — the one per-op interface that the CPU and the CUDA backends both
 * implement (darknet-style). The model code in impl/ only calls through a
 * Backend, so it does not care where the memory lives.
 *
 * Conventions (llm.c naming):
 *   B batch, T tokens, C channels, NH heads, hs = C/NH head size,
 *   OC output channels, N = B*T rows, V classes (vocabulary, labels, or T for
 *   the QA span losses).
 *   All tensors are fp32, row-major, contiguous. Integer inputs are int32.
 *   Pointers to tensors are backend memory (host memory on the CPU backend,
 *   device memory on CUDA). Scalars are host values.
 *
 *   BACKWARD KERNELS ACCUMULATE: every gradient output (dinp, dweight, dbias,
 *   ...) is added to (+=), never overwritten; the caller zeroes gradients.
 *   This is what lets residual branches and the two task heads share buffers.
 *
 *   Determinism: for a fixed backend, build and thread count, every op is a
 *   pure function of its inputs: no atomics feeding gradients, reductions in a
 *   fixed order. Dropout masks come from impl/rng.h (Philox), so the CPU and
 *   the GPU draw the same masks.
 */
#ifndef MTL_BACKEND_H
#define MTL_BACKEND_H

#include <stddef.h>
#include <stdint.h>

/* Label value that the cross-entropy ignores (PyTorch's ignore_index). */
#define MTL_IGNORE_INDEX (-100)

typedef struct Backend Backend;

struct Backend {
    const char *name; /* "cpu" or "cuda" */
    void *ctx;        /* backend-private state (cuBLAS handle, stream, arena) */

    /* ---- memory -------------------------------------------------------- */
    void *(*alloc)(Backend *be, size_t bytes); /* zero-filled; dies with a clear message on OOM */
    void (*free)(Backend *be, void *p);
    void (*upload)(Backend *be, void *dst, const void *host_src, size_t bytes);
    void (*download)(Backend *be, void *host_dst, const void *src, size_t bytes);
    void (*zero)(Backend *be, void *p, size_t bytes);
    void (*copy)(Backend *be, void *dst, const void *src, size_t bytes);
    void (*sync)(Backend *be);

    /* ---- embeddings: out[b,t,:] = wte[ids[b,t]] + wpe[t] + wtt[tt[b,t]] ----
     * wte [V,C], wpe [maxT,C], wtt [2,C]. Backward scatters dout into the
     * three tables in a fixed order (no races). */
    void (*embed_forward)(Backend *be, float *out, const int *ids, const int *tt, const float *wte,
                          const float *wpe, const float *wtt, int B, int T, int C);
    void (*embed_backward)(Backend *be, float *dwte, float *dwpe, float *dwtt, const float *dout,
                           const int *ids, const int *tt, int B, int T, int C);

    /* ---- LayerNorm over the last dim, N rows of C --------------------------
     * y = (x - mean) * rstd * w + b, rstd = 1/sqrt(var + eps), var biased.
     * mean[N], rstd[N] are saved for the backward. */
    void (*layernorm_forward)(Backend *be, float *out, float *mean, float *rstd, const float *inp,
                              const float *w, const float *b, int N, int C, float eps);
    void (*layernorm_backward)(Backend *be, float *dinp, float *dw, float *db, const float *dout,
                               const float *inp, const float *w, const float *mean,
                               const float *rstd, int N, int C);

    /* ---- linear layer (PyTorch nn.Linear layout) ---------------------------
     * out[N,OC] = inp[N,C] . w[OC,C]^T + bias[OC]   (bias may be NULL)
     * backward: dinp += dout . w ; dw += dout^T . inp ; dbias += sum_n dout
     * (dinp may be NULL when the input needs no gradient). */
    void (*matmul_forward)(Backend *be, float *out, const float *inp, const float *w,
                           const float *bias, int N, int C, int OC);
    void (*matmul_backward)(Backend *be, float *dinp, float *dw, float *dbias, const float *dout,
                            const float *inp, const float *w, int N, int C, int OC);

    /* ---- multi-head self-attention with a key padding mask ----------------
     * qkv [B,T,3C] holds q | k | v along the last dim (head h uses columns
     * h*hs .. h*hs+hs-1 of each). mask [B,T] is 1 for real tokens, 0 for pad.
     *   S[b,h,i,j] = q_i . k_j / sqrt(hs)            (j with mask 0 excluded)
     *   P = softmax_j(S)  -> saved in att [B,NH,T,T] (masked entries are 0)
     *   P' = dropout(P, p)  with stream `stream`, step `step`, element index
     *        first + ((b*NH + h)*T + i)*T + j
     *   out[b,i,h*hs:(h+1)*hs] = sum_j P'[b,h,i,j] v_j
     * scratch must hold 4*B*T*C + B*NH*T*T floats (permuted q,k,v, the
     * attention output before un-permuting, and P'); its content on return
     * from forward is not needed by backward (backward recomputes P' from att
     * and the RNG), so one scratch can be shared by all layers.
     * backward: dqkv += d/dqkv. */
    void (*attention_forward)(Backend *be, float *out, float *att, float *scratch, const float *qkv,
                              const int *mask, int B, int T, int C, int NH, float p_drop,
                              uint64_t seed, uint32_t step, uint32_t stream, uint64_t first);
    void (*attention_backward)(Backend *be, float *dqkv, float *scratch, const float *dout,
                               const float *qkv, const float *att, const int *mask, int B, int T,
                               int C, int NH, float p_drop, uint64_t seed, uint32_t step,
                               uint32_t stream, uint64_t first);

    /* ---- GELU, erf form: y = 0.5 x (1 + erf(x / sqrt 2)) ------------------ */
    void (*gelu_forward)(Backend *be, float *out, const float *inp, size_t n);
    void (*gelu_backward)(Backend *be, float *dinp, const float *inp, const float *dout, size_t n);

    /* ---- residual: out = a + b; backward da += dout, db += dout ----------- */
    void (*residual_forward)(Backend *be, float *out, const float *a, const float *b, size_t n);
    void (*residual_backward)(Backend *be, float *da, float *db, const float *dout, size_t n);

    /* ---- dropout (inverted): out = keep ? inp / (1-p) : 0 ----------------
     * keep = rng_keep(seed, step, stream, first + i, p) for element i
     * (impl/rng.h); `first` > 0 when the tensor is a slice of a larger one
     * (a rank's share of a global batch, impl/dist.h), so that the slice
     * draws the mask the whole tensor would.
     * p == 0 is the identity. The mask is not stored: backward redraws it.
     * out may alias inp (in place). */
    void (*dropout_forward)(Backend *be, float *out, const float *inp, size_t n, float p,
                            uint64_t seed, uint32_t step, uint32_t stream, uint64_t first);
    void (*dropout_backward)(Backend *be, float *dinp, const float *dout, size_t n, float p,
                             uint64_t seed, uint32_t step, uint32_t stream, uint64_t first);

    /* ---- softmax cross-entropy over the last dim, N rows of V classes -----
     * losses[n] = -log softmax(logits[n])[targets[n]], or 0 where
     * targets[n] == MTL_IGNORE_INDEX. probs[N,V] saved for the backward.
     * The caller reduces losses on the host (fixed order).
     * backward: dlogits[n] += dscale * (probs[n] - onehot(targets[n])); rows
     * with the ignore label get nothing. dscale is e.g. lambda / num_valid. */
    void (*crossentropy_forward)(Backend *be, float *losses, float *probs, const float *logits,
                                 const int *targets, int N, int V);
    void (*crossentropy_backward)(Backend *be, float *dlogits, const float *probs,
                                  const int *targets, float dscale, int N, int V);

    /* ---- QA logits layout change ------------------------------------------
     * qa [B,T,2] (start, end interleaved) <-> split [2,B,T] (all starts, then
     * all ends). backward: dqa += un-split of dsplit. */
    void (*qa_split_forward)(Backend *be, float *split, const float *qa, int B, int T);
    void (*qa_split_backward)(Backend *be, float *dqa, const float *dsplit, int B, int T);

    /* ---- optimiser ----------------------------------------------------------
     * Sum of squares of n floats, accumulated in double in a fixed order;
     * returned to the host. */
    double (*sumsq)(Backend *be, const float *x, size_t n);
    /* x *= s */
    void (*scale)(Backend *be, float *x, size_t n, float s);
    /* AdamW (Loshchilov & Hutter), bias-corrected, decoupled weight decay:
     *   m = b1 m + (1-b1) g ;  v = b2 v + (1-b2) g^2
     *   mhat = m / (1 - b1^t) ; vhat = v / (1 - b2^t)
     *   p -= lr * (mhat / (sqrt(vhat) + eps) + wd * p)
     * t is the 1-based step count. */
    void (*adamw_update)(Backend *be, float *p, const float *g, float *m, float *v, size_t n,
                         float lr, float b1, float b2, float eps, float wd, int t);

    void (*destroy)(Backend *be);
};

/* Backends. backend_cpu() never fails. backend_cuda() returns NULL and fills
 * why (if non-NULL) when the binary was built without CUDA or no GPU is
 * usable. `threads` sets OpenBLAS + OpenMP threads for the CPU backend
 * (0 = leave the library default). */
Backend *backend_cpu(int threads);
Backend *backend_cuda(int tf32, char *why, size_t why_len);

#endif

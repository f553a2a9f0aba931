/* ops.h — the one list of backend ops (an X-macro). Everything that names the
 * ops is generated from it: the Backend members (backend.h), the CPU and CUDA
 * prototypes and fill tables (cpu_internal.h, backend_cpu.c, cuda_common.cuh,
 * backend_cuda.cu), the profiler's wrappers, enum and names
 * (kernels/profile_backend.c), the op enum and names of bench-kernels, and the
 * "every op is filled" check (backend_missing_op, kernels/backend_select.c).
 *
 * An entry is X(name, ret, params, args):
 *   name    the member and the suffix of cpu_<name> / cu_<name>;
 *   ret     its return type, one token (void or double);
 *   params  the parameter list after the leading `Backend *be`, in parentheses;
 *   args    the same parameter names, in parentheses (to forward a call).
 * OPS_UNPAREN(params) drops the parentheses.
 *
 * Adding an op (checklist):
 *   1. an entry below, with its contract in a comment (the math, what
 *      accumulates, what may be NULL);
 *   2. cpu_<name> in kernels/cpu/<family>.c (the op family's file);
 *   3. cu_<name> in kernels/cuda/<family>.cu;
 *   4. in reference/naive_<family>.c (reference/op_check.h): its naive
 *      double-precision version, its nv_<name> wrapper, its cases in
 *      op_cases_<family> (tests/test_backend_ops runs them on every backend
 *      present, each against the naive version) and, for a backward, a
 *      finite-difference check in op_fd_<family> (tests/test_gradcheck);
 *   5. its shapes in bench/bench_kernels.c's build_specs (calls per step).
 * The prototypes, fill tables, profiler and names follow from step 1. A new
 * family: new files in steps 2-4 and its name in OP_FAMILIES (op_check.h).
 *
 * Conventions (all ops): see backend.h. */
#ifndef MTL_OPS_H
#define MTL_OPS_H

#include <stddef.h>
#include <stdint.h>

#define OPS_UNPAREN(...) __VA_ARGS__

/* Memory ops the profiler times (alloc, free, sync, destroy are not timed and
 * are plain members of Backend). upload/download copy host <-> backend
 * memory; zero fills bytes with 0; copy is backend -> backend. */
#define MTL_MEMORY_OPS(X)                                                                      \
    X(zero, void, (void *p, size_t bytes), (p, bytes))                                         \
    X(copy, void, (void *dst, const void *src, size_t bytes), (dst, src, bytes))              \
    X(upload, void, (void *dst, const void *host_src, size_t bytes), (dst, host_src, bytes))  \
    X(download, void, (void *host_dst, const void *src, size_t bytes), (host_dst, src, bytes))

/* The compute ops, in the order of a training step.
 *
 * embed: out[b,t,:] = wte[ids[b,t]] + wpe[t] + wtt[tt[b,t]]; wte [V,C],
 *   wpe [maxT,C], wtt [2,C]. Backward scatters dout into the three tables in
 *   a fixed order (no races).
 * layernorm over the last dim, N rows of C: y = (x - mean) * rstd * w + b,
 *   rstd = 1/sqrt(var + eps), var biased; mean[N], rstd[N] saved for the
 *   backward; dinp += d/dinp, dw and db accumulate (both NULL: frozen).
 * matmul (nn.Linear layout): out[N,OC] = inp[N,C] . w[OC,C]^T + bias[OC]
 *   (bias may be NULL); backward: dinp += dout . w ; dw += dout^T . inp ;
 *   dbias += sum_n dout (dinp may be NULL when the input needs no gradient;
 *   dw and dbias may be NULL for a frozen layer: LoRA, heads-only training).
 * lora (Hu et al., ICLR 2022), the low-rank update of a frozen linear layer,
 *   added onto that layer's output: with a [R,C] (Gaussian init) and b [OC,R]
 *   (zero init), s = alpha / R,
 *     u[N,R] = inp[N,C] . a^T                     (saved for the backward)
 *     out[N,OC] += s * u . b^T
 *   backward (du [N,R] is scratch, overwritten):
 *     du = s * dout . b ;  db += s * dout^T . u ;  da += du^T . inp ;
 *     dinp += du . a      (dinp may be NULL)
 *   out may be NULL: u only. u may be NULL in the backward: recomputed there as
 *   inp . a^T, where the backward reads inp anyway (the model runs the layer on
 *   the merged weight below and then skips lora_forward: no pass over inp in
 *   the forward).
 *   fp32 on every backend and precision: R is small (4-16), so these GEMMs
 *   are a few percent of the layer's FLOPs.
 * lora_merge: w_eff[OC,C] = w[OC,C] + s * b . a, the frozen weight with its
 *   adapter folded in (as mtl export writes it). inp . w_eff^T is the layer
 *   plus its update in one GEMM, and dout . w_eff both inputs' gradients, so
 *   lora_forward and lora_backward skip their passes over out and dinp
 *   (the model uses it at fp32 only: rounding w_eff to bf16 or TF32 would
 *   bury the update's low bits in the weight's).
 * attention, multi-head self-attention with a key padding mask: qkv [B,T,3C]
 *   holds q | k | v along the last dim (head h uses columns h*hs ..
 *   h*hs+hs-1 of each); mask [B,T] is 1 for real tokens, 0 for pad.
 *     S[b,h,i,j] = q_i . k_j / sqrt(hs)            (j with mask 0 excluded)
 *     P = softmax_j(S)  -> saved in att [B,NH,T,T] (masked entries are 0),
 *          as -P where dropout drops the element: |att| = P, and the
 *          backward may read the keep decisions from the sign (att > 0)
 *          instead of drawing them again;
 *          att may be NULL: P is then not kept. Inference (p_drop 0, no
 *          backward) may pass NULL to any backend; training may pass NULL
 *          to the forward and the backward of a backend with
 *          attn_recompute_ok (backend.h), whose backward recomputes P from
 *          qkv and mask, bitwise what the forward computed
 *     P' = dropout(P, p)  with stream `stream`, step `step`, element index
 *          first + ((b*NH + h)*T + i)*T + j
 *     out[b,i,h*hs:(h+1)*hs] = sum_j P'[b,h,i,j] v_j
 *   scratch (backends with attn_scratch, backend.h; the others ignore it
 *   and take NULL) must hold 4*B*T*C + B*NH*T*T floats (permuted q,k,v, the
 *   attention output before un-permuting, and P'); its content on return
 *   from forward is not needed by backward (backward recomputes P' from att,
 *   and the RNG or att's signs), so one scratch can be shared by all layers.
 *   backward: dqkv += d/dqkv.
 * gelu, erf form: y = 0.5 x (1 + erf(x / sqrt 2)).
 * residual: out = a + b; backward da += dout, db += dout.
 * dropout (inverted): out = keep ? inp / (1-p) : 0, keep = rng_keep(seed,
 *   step, stream, first + i, p) for element i (impl/base/rng.h); `first` > 0 when
 *   the tensor is a slice of a larger one (a rank's share of a global batch,
 *   impl/train/dist.h), so that the slice draws the mask the whole tensor would.
 *   p == 0 is the identity. The mask is not stored: backward redraws it.
 *   out may alias inp (in place).
 * crossentropy, softmax over the last dim, N rows of V classes:
 *   losses[n] = -log softmax(logits[n])[targets[n]], or 0 where targets[n]
 *   == MTL_IGNORE_INDEX; probs[N,V] saved for the backward. The caller
 *   reduces losses on the host (fixed order). backward: dlogits[n] +=
 *   dscale * (probs[n] - onehot(targets[n])); rows with the ignore label
 *   get nothing. dscale is e.g. lambda / num_valid.
 * qa_split: qa [B,T,2] (start, end interleaved) <-> split [2,B,T] (all
 *   starts, then all ends); backward: dqa += un-split of dsplit.
 * sumsq: sum of squares of n floats, accumulated in double in a fixed order,
 *   returned to the host.
 * scale: x *= s.
 * adamw_update (Loshchilov & Hutter), bias-corrected, decoupled decay:
 *   m = b1 m + (1-b1) g ;  v = b2 v + (1-b2) g^2
 *   mhat = m / (1 - b1^t) ; vhat = v / (1 - b2^t)
 *   p -= lr * (mhat / (sqrt(vhat) + eps) + wd * p)
 *   t is the 1-based step count. */
#define MTL_COMPUTE_OPS(X)                                                                      \
    X(embed_forward, void,                                                                      \
      (float *out, const int *ids, const int *tt, const float *wte, const float *wpe,           \
       const float *wtt, int B, int T, int C),                                                  \
      (out, ids, tt, wte, wpe, wtt, B, T, C))                                                   \
    X(embed_backward, void,                                                                     \
      (float *dwte, float *dwpe, float *dwtt, const float *dout, const int *ids, const int *tt, \
       int B, int T, int C),                                                                    \
      (dwte, dwpe, dwtt, dout, ids, tt, B, T, C))                                               \
    X(layernorm_forward, void,                                                                  \
      (float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b,  \
       int N, int C, float eps),                                                                \
      (out, mean, rstd, inp, w, b, N, C, eps))                                                  \
    X(layernorm_backward, void,                                                                 \
      (float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,  \
       const float *mean, const float *rstd, int N, int C),                                     \
      (dinp, dw, db, dout, inp, w, mean, rstd, N, C))                                           \
    X(matmul_forward, void,                                                                     \
      (float *out, const float *inp, const float *w, const float *bias, int N, int C, int OC),  \
      (out, inp, w, bias, N, C, OC))                                                            \
    X(matmul_backward, void,                                                                    \
      (float *dinp, float *dw, float *dbias, const float *dout, const float *inp,               \
       const float *w, int N, int C, int OC),                                                   \
      (dinp, dw, dbias, dout, inp, w, N, C, OC))                                                \
    X(lora_forward, void,                                                                       \
      (float *out, float *u, const float *inp, const float *a, const float *b, int N, int C,    \
       int R, int OC, float s),                                                                 \
      (out, u, inp, a, b, N, C, R, OC, s))                                                      \
    X(lora_merge, void, (float *w_eff, const float *w, const float *a, const float *b, int OC, int C, \
                         int R, float s),                                                       \
      (w_eff, w, a, b, OC, C, R, s))                                                            \
    X(lora_backward, void,                                                                      \
      (float *dinp, float *da, float *db, float *du, const float *dout, const float *inp,       \
       const float *u, const float *a, const float *b, int N, int C, int R, int OC, float s),   \
      (dinp, da, db, du, dout, inp, u, a, b, N, C, R, OC, s))                                   \
    X(attention_forward, void,                                                                  \
      (float *out, float *att, float *scratch, const float *qkv, const int *mask, int B, int T, \
       int C, int NH, float p_drop, uint64_t seed, uint32_t step, uint32_t stream,              \
       uint64_t first),                                                                         \
      (out, att, scratch, qkv, mask, B, T, C, NH, p_drop, seed, step, stream, first))           \
    X(attention_backward, void,                                                                 \
      (float *dqkv, float *scratch, const float *dout, const float *qkv, const float *att,      \
       const int *mask, int B, int T, int C, int NH, float p_drop, uint64_t seed,               \
       uint32_t step, uint32_t stream, uint64_t first),                                         \
      (dqkv, scratch, dout, qkv, att, mask, B, T, C, NH, p_drop, seed, step, stream, first))    \
    X(gelu_forward, void, (float *out, const float *inp, size_t n), (out, inp, n))             \
    X(gelu_backward, void, (float *dinp, const float *inp, const float *dout, size_t n),       \
      (dinp, inp, dout, n))                                                                     \
    X(residual_forward, void, (float *out, const float *a, const float *b, size_t n),          \
      (out, a, b, n))                                                                           \
    X(residual_backward, void, (float *da, float *db, const float *dout, size_t n),            \
      (da, db, dout, n))                                                                        \
    X(dropout_forward, void,                                                                    \
      (float *out, const float *inp, size_t n, float p, uint64_t seed, uint32_t step,           \
       uint32_t stream, uint64_t first),                                                        \
      (out, inp, n, p, seed, step, stream, first))                                              \
    X(dropout_backward, void,                                                                   \
      (float *dinp, const float *dout, size_t n, float p, uint64_t seed, uint32_t step,         \
       uint32_t stream, uint64_t first),                                                        \
      (dinp, dout, n, p, seed, step, stream, first))                                            \
    X(crossentropy_forward, void,                                                               \
      (float *losses, float *probs, const float *logits, const int *targets, int N, int V),     \
      (losses, probs, logits, targets, N, V))                                                   \
    X(crossentropy_backward, void,                                                              \
      (float *dlogits, const float *probs, const int *targets, float dscale, int N, int V),     \
      (dlogits, probs, targets, dscale, N, V))                                                  \
    X(qa_split_forward, void, (float *split, const float *qa, int B, int T), (split, qa, B, T)) \
    X(qa_split_backward, void, (float *dqa, const float *dsplit, int B, int T),                \
      (dqa, dsplit, B, T))                                                                      \
    X(sumsq, double, (const float *x, size_t n), (x, n))                                        \
    X(scale, void, (float *x, size_t n, float s), (x, n, s))                                    \
    X(adamw_update, void,                                                                       \
      (float *p, const float *g, float *m, float *v, size_t n, float lr, float b1, float b2,    \
       float eps, float wd, int t),                                                             \
      (p, g, m, v, n, lr, b1, b2, eps, wd, t))

/* Every op: the compute ops, then the timed memory ops. */
#define MTL_OPS(X) MTL_COMPUTE_OPS(X) MTL_MEMORY_OPS(X)

/* OP_<name> for every op, and their count. */
#define OPS_ENUM_ENTRY(name, ret, params, args) OP_##name,
typedef enum { MTL_OPS(OPS_ENUM_ENTRY) NUM_OPS } OpId;
#undef OPS_ENUM_ENTRY

/* "matmul_forward" etc. for an OpId (NULL out of range). */
const char *op_name(int op);

#endif

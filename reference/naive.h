/* naive.h — the yardstick: plain-loop, obviously-correct double-precision
 * versions of every Backend op (kernels/backend.h), same argument order, no
 * BLAS, no threads, no Backend pointer. Backward functions ACCUMULATE (+=)
 * like the fast kernels. Dropout decisions use rng_keep() from impl/base/rng.h with
 * the same element indices (from `first`, as kernels/ops.h), so with dropout on the naive and fast results can
 * be compared element by element. */
#ifndef MTL_NAIVE_H
#define MTL_NAIVE_H

#include <stddef.h>
#include <stdint.h>

void naive_embed_forward(double *out, const int *ids, const int *tt, const double *wte,
                         const double *wpe, const double *wtt, int B, int T, int C);
void naive_embed_backward(double *dwte, double *dwpe, double *dwtt, const double *dout,
                          const int *ids, const int *tt, int B, int T, int C);

void naive_layernorm_forward(double *out, double *mean, double *rstd, const double *inp,
                             const double *w, const double *b, int N, int C, double eps);
void naive_layernorm_backward(double *dinp, double *dw, double *db, const double *dout,
                              const double *inp, const double *w, const double *mean,
                              const double *rstd, int N, int C);

void naive_matmul_forward(double *out, const double *inp, const double *w, const double *bias,
                          int N, int C, int OC);
void naive_matmul_backward(double *dinp, double *dw, double *dbias, const double *dout,
                           const double *inp, const double *w, int N, int C, int OC);

/* kernels/ops.h: lora; u [N,R] is written by the forward, du [N,R] by the backward. */
void naive_lora_forward(double *out, double *u, const double *inp, const double *a, const double *b,
                        int N, int C, int R, int OC, double s);
void naive_lora_backward(double *dinp, double *da, double *db, double *du, const double *dout,
                         const double *inp, const double *u, const double *a, const double *b,
                         int N, int C, int R, int OC, double s);

/* No scratch: the naive attention needs none. att [B,NH,T,T] holds P. */
void naive_attention_forward(double *out, double *att, const double *qkv, const int *mask, int B,
                             int T, int C, int NH, float p_drop, uint64_t seed, uint32_t step,
                             uint32_t stream, uint64_t first);
void naive_attention_backward(double *dqkv, const double *dout, const double *qkv,
                              const double *att, const int *mask, int B, int T, int C, int NH,
                              float p_drop, uint64_t seed, uint32_t step, uint32_t stream,
                              uint64_t first);

void naive_gelu_forward(double *out, const double *inp, size_t n);
void naive_gelu_backward(double *dinp, const double *inp, const double *dout, size_t n);

void naive_residual_forward(double *out, const double *a, const double *b, size_t n);
void naive_residual_backward(double *da, double *db, const double *dout, size_t n);

void naive_dropout_forward(double *out, const double *inp, size_t n, float p, uint64_t seed,
                           uint32_t step, uint32_t stream, uint64_t first);
void naive_dropout_backward(double *dinp, const double *dout, size_t n, float p, uint64_t seed,
                            uint32_t step, uint32_t stream, uint64_t first);

void naive_crossentropy_forward(double *losses, double *probs, const double *logits,
                                const int *targets, int N, int V);
void naive_crossentropy_backward(double *dlogits, const double *probs, const int *targets,
                                 double dscale, int N, int V);

void naive_qa_split_forward(double *split, const double *qa, int B, int T);
void naive_qa_split_backward(double *dqa, const double *dsplit, int B, int T);

double naive_sumsq(const double *x, size_t n);
void naive_scale(double *x, size_t n, double s);
void naive_adamw_update(double *p, const double *g, double *m, double *v, size_t n, double lr,
                        double b1, double b2, double eps, double wd, int t);

#endif

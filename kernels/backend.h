/* backend.h — the one per-op interface that the CPU and the CUDA backends both
 * implement (darknet-style). The model code in impl/ only calls through a
 * Backend, so it does not care where the memory lives. The ops themselves,
 * with their contracts and the checklist for adding one, are the list in
 * kernels/ops.h; this struct's members are generated from it.
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
 *   fixed order. Dropout masks come from impl/base/rng.h (Philox), so the CPU and
 *   the GPU draw the same masks.
 */
#ifndef MTL_BACKEND_H
#define MTL_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "names.h"
#include "ops.h"

/* Label value that the cross-entropy ignores (PyTorch's ignore_index). */
#define MTL_IGNORE_INDEX (-100)

/* The arithmetic of the products (--precision). fp32: all fp32. bf16: the
 * two inputs of every matmul_forward/backward GEMM rounded to bf16 (nearest
 * even), the products accumulated in fp32; on the CPU also the inputs of
 * attention's six products (S = q k^T, out = P' v, dP' = dO v^T,
 * dv = P'^T dO, dq = dS k, dk = dS^T q: kernels/cpu/attention.c, on AMX
 * tiles where the CPU has them, kernels/cpu/tile_bf16.h); everything else
 * (the softmax and its backward, the stored P, LayerNorm, GELU, losses,
 * reductions, AdamW, the master weights and the gradients) stays fp32, and
 * so does every tensor in memory: bf16 copies live only in per-op scratch.
 * The CUDA bf16 backend keeps attention in fp32 (bf16 attention there is
 * owed). */
typedef enum { PREC_FP32 = 0, PREC_BF16 = 1 } Precision;
extern const EnumName PRECISION_NAMES[]; /* "fp32", "bf16" */

/* "fp32" / "bf16" (enum_name of PRECISION_NAMES). */
const char *precision_name(Precision p);

/* The devices a --device option names, and their words ("cpu", "cuda"). */
typedef enum { DEVICE_CPU = 0, DEVICE_CUDA = 1 } Device;
extern const EnumName DEVICE_NAMES[];

typedef struct Backend Backend;

struct Backend {
    const char *name;    /* "cpu" or "cuda" */
    Precision precision; /* what the ops really compute in (see backend_open) */
    int attn_recompute_ok; /* attention_backward accepts att NULL and recomputes P (ops.h) */
    int matmul_exact;      /* matmul_forward/backward round no input (fp32, no bf16, no TF32):
                              the model folds LoRA adapters into the weight (ops.h lora_merge) */
    int attn_recompute;    /* the model passes att NULL and keeps no [B,NH,T,T] tensor
                              (backend_set_attn_recompute; --attention recompute) */
    int attn_scratch;      /* attention_forward/backward work in their scratch argument
                              (CUDA); 0: the backend keeps its own and scratch may be NULL */
    void *ctx;        /* backend-private state (cuBLAS handle, stream, arena) */

    /* ---- optional (NULL where a backend has nothing to offer) ------------ */
    /* [p, p + bytes) holds weights that nothing writes again (an inference
     * model's parameters): the backend may keep them in a faster layout for
     * matmul_forward (CPU: kernels/cpu/cpu_packed.h). Returns 1 when it
     * will, 0 when not; note says which library or why not. */
    int (*freeze_weights)(Backend *be, const void *p, size_t bytes, char *note, size_t note_len);
    /* The region frozen at p is about to be written: forget what was kept. */
    void (*thaw_weights)(Backend *be, const void *p);
    /* out[N,OC] = f(inp[N,C] . w[OC,C]^T + bias) (+ add[N,OC]) in one pass,
     * f = GELU when gelu (never with add), for a frozen w: returns 1; 0,
     * touching nothing, where it cannot (the caller then runs matmul_forward
     * and gelu_forward / residual_forward). The GELU may differ from
     * gelu_forward in the last bits; the add is bitwise residual_forward's. */
    int (*linear_fused)(Backend *be, float *out, const float *inp, const float *w, const float *bias,
                        const float *add, int gelu, int N, int C, int OC);
    /* What ran the linear layers so far, for reports: "OpenBLAS sgemm" or
     * e.g. "oneDNN 2.6.3 brg:avx512_core, 24 f32 weights packed (40.5 MiB)". */
    void (*gemm_describe)(const Backend *be, char *out, size_t len);

    /* ---- memory -------------------------------------------------------- */
    void *(*alloc)(Backend *be, size_t bytes); /* zero-filled; dies with a clear message on OOM */
    void (*free)(Backend *be, void *p);
    void (*sync)(Backend *be);

    /* ---- the ops of kernels/ops.h (their contracts are there): the timed
     * memory ops (zero, copy, upload, download) and the compute ops, each
     * `ret (*name)(Backend *be, params)` */
#define OPS_MEMBER(name, ret, params, args) ret (*name)(Backend * be, OPS_UNPAREN params);
    MTL_OPS(OPS_MEMBER)
#undef OPS_MEMBER

    void (*destroy)(Backend *be);
};

/* --attention store|recompute: 0, or -1 with why filled when on is asked of a
 * backend whose backward cannot recompute P (attn_recompute_ok 0: CUDA). */
extern const EnumName ATTENTION_NAMES[];
#define ATTENTION_HELP "the attention probabilities for the backward: store them, or recompute them in the backward (CPU only: no [B,heads,T,T] tensor, a slower backward; bitwise the same results)"
int backend_set_attn_recompute(Backend *be, int on, char *why, size_t why_len);

/* --prepack on|off (inference commands): model_freeze_weights or not. */
#define PREPACK_HELP "on the CPU: run the linear layers through oneDNN on weights packed once into its layout (in bf16: rounded once), with the bias, GELU and residual adds in the kernel (fp32: ~1.1-1.3x OpenBLAS's GEMM, last bits differ from the training forward; where oneDNN and AVX-512 are there), or off: the training forward's GEMMs"

/* Backends. backend_cpu() never fails. backend_cuda() returns NULL and fills
 * why (if non-NULL) when the binary was built without CUDA or no GPU is
 * usable. `threads` sets OpenBLAS + OpenMP threads for the CPU backend
 * (0 = leave the library default). */
Backend *backend_cpu(int threads);
Backend *backend_cuda(int tf32, char *why, size_t why_len);

/* The bf16 CPU backend: NULL with why filled when this CPU has no native
 * bf16 (AVX512-BF16 or AMX, as oneDNN reports it). The bf16 CUDA backend
 * (matmuls through cublasGemmEx on bf16 copies): NULL with why as
 * backend_cuda. */
Backend *backend_cpu_bf16(int threads, char *why, size_t why_len);
Backend *backend_cuda_bf16(char *why, size_t why_len);

/* The backend of a --device and --precision: DEVICE_CPU (threads as
 * backend_cpu) or DEVICE_CUDA (tf32 as backend_cuda). NULL with why filled
 * for cuda without a usable GPU or CUDA build, or for --tf32 with bf16. bf16
 * where the device cannot do it natively falls back to fp32: the backend is
 * returned (its precision says PREC_FP32) and why holds the note for the
 * user; otherwise why is "" on success. */
Backend *backend_open(Device device, int threads, int tf32, Precision prec, char *why,
                      size_t why_len);

/* What `be` computes in, for manifests and reports: "fp32", or e.g.
 * "bf16 (oneDNN 2.6.3, ISA avx512_core_amx)". */
void backend_precision_describe(const Backend *be, char *out, size_t len);

/* The name of the first op (kernels/ops.h) or memory member that `be` leaves
 * NULL, or NULL when every one is filled. */
const char *backend_missing_op(const Backend *be);

#endif

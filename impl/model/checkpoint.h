/* checkpoint.h — training checkpoints: parameters, Adam moments, optimiser
 * step, data-order state and the training options, with a SHA-256 checksum.
 * No wall-clock value is stored, so two runs with the same seed, build and
 * machine write byte-identical checkpoints.
 *
 * File format (little-endian; all writes atomic: temp file, fsync, rename):
 *   magic      8 bytes "MTLCKPT\0"
 *   version    u32: 1, or 2 when the trainer has auxiliary state, or 3 when
 *              the model has per-task top layers (shared layers K < L), or
 *              4 when its encoder is frozen (heads-only training, LoRA)
 *   config     char preset[32]; i32 L C NH FFN V maxT type_vocab num_labels
 *              heads; f32 ln_eps p_drop init_std; versions 3 and 4: i32 K
 *              (0 <= K < L; older versions: K = L); version 4: i32
 *              frozen_encoder lora_rank lora_targets, f32 lora_alpha
 *   state      u64 seed; i64 step; i32 adam_t;
 *              i32 n_orders (0..4), then n_orders x (i32 n, epoch, pos)
 *   aux        version 2: u32 n_aux (1..32), versions 3, 4: u32 n_aux (0..32);
 *              then f64 aux[n_aux] (the trainer's extra state, e.g.
 *              GradNorm's weights: gradnorm.h)
 *   options    u32 length K, K bytes: the training options as "key=value\n"
 *   table      u32 n_tensors; per tensor: u32 name length, name bytes,
 *              u32 ndim (1..4), ndim x u32 shape, u64 offset, u64 numel
 *              (offset and numel in floats; offsets are contiguous in table
 *              order and sum to n_params)
 *   n_params   u64; version 4: u64 n_train (the trainable suffix of the
 *              table: the Adam moments cover parameters n_params - n_train
 *              on; older versions: n_train = n_params)
 *   payload    f32 params[n_params], f32 adam_m[n_train], f32 adam_v[n_train]
 *   checksum   32 bytes: SHA-256 of every byte before it
 */
#ifndef MTL_CHECKPOINT_H
#define MTL_CHECKPOINT_H

#include <stdint.h>

#include "config.h"
#include "model.h"
#include "util.h"

#define CKPT_MAX_ORDERS 4
#define CKPT_MAX_AUX 32

typedef struct {
    int n, epoch, pos;
} OrderState;

typedef struct {
    uint64_t seed;
    long step;            /* optimiser steps completed */
    int adam_t;           /* AdamW step counter (filled by checkpoint_save/load) */
    int n_orders;
    OrderState order[CKPT_MAX_ORDERS]; /* one per task: TASK_NER, TASK_QA */
    int n_aux;            /* 0: none (a version-1 file) */
    double aux[CKPT_MAX_AUX];
    char *options;        /* "key=value\n" lines; owned (free with ckpt_state_free) */
} TrainState;

void ckpt_state_free(TrainState *st);

/* Write the model (params + Adam state) and st to path, atomically. */
int checkpoint_save(const char *path, const Model *m, const TrainState *st, Err *err);

/* Load a checkpoint into m: the stored ModelConfig and tensor table must
 * equal m's exactly (else an error naming the field / tensor that differs).
 * Fills *st (st->options allocated). Truncation, bad magic/version,
 * implausible sizes (config.h's bounds) and checksum mismatches are errors
 * naming the file and the byte offset; a parameter or Adam moment that is not
 * finite is an error naming the tensor and the element. */
int checkpoint_load(const char *path, Model *m, TrainState *st, Err *err);

/* Only the stored ModelConfig (validated file, no model needed). */
int checkpoint_read_config(const char *path, ModelConfig *cfg, Err *err);

/* The file read once for a caller that sizes the model from it: make(cfg,
 * ctx, err) creates the model the stored config describes (NULL on error),
 * then the parameters are loaded into it as checkpoint_load does; *out is the
 * model, or NULL and an error (the file is checked before make is called). */
typedef Model *(*CkptMakeModel)(const ModelConfig *cfg, void *ctx, Err *err);
int checkpoint_open_model(const char *path, CkptMakeModel make, void *ctx, Model **out, Err *err);

/* --init: copy every stored parameter tensor whose name and shape match a
 * tensor of m (e.g. the encoder and NER head of a single-task run into an
 * MTL model); a QA layer copy "qa.layer{l}.*" the file lacks (a K = L
 * checkpoint) takes "layer{l}.*"; Adam state and step are not taken. *copied / *skipped count
 * tensors of m that were / were not found in the file. Fails if nothing
 * matched. */
int checkpoint_init_params(const char *path, Model *m, int *copied, int *skipped, Err *err);

/* First line that differs between two option texts, as "key: A vs B" in
 * out (for --resume checks). Returns 0 if equal. Lines whose key is in
 * `ignore` (NULL-terminated) are skipped. */
int ckpt_options_diff(const char *a, const char *b, const char *const *ignore, char *out,
                      size_t outlen);

#endif

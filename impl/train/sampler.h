/* sampler.h — data order and task sampling for training, all drawn from
 * Philox (impl/base/rng.h) so that one seed fixes everything.
 *
 * Philox streams used here (the model uses (pass << 16) | site for dropout
 * and 0x1000 + tensor for init, both below 0x00030000):
 *   SAMPLER_STREAM_ORDER + task   data order of that task; the Philox `step`
 *                                 word is the epoch number
 *   SAMPLER_STREAM_TASK           task choice; `step` word = optimiser step
 */
#ifndef MTL_SAMPLER_H
#define MTL_SAMPLER_H

#include <stdint.h>

#include "names.h"
#include "tasks.h"
#include "util.h"

#define SAMPLER_STREAM_ORDER 0xA0000000u
#define SAMPLER_STREAM_TASK 0xA0001000u

typedef enum { SAMPLING_JOINT = 0, SAMPLING_ROUND_ROBIN, SAMPLING_PROPORTIONAL, SAMPLING_TEMPERATURE } Sampling;
/* Their words: joint, round_robin, proportional, temperature. */
extern const EnumName SAMPLING_NAMES[];

/* Fisher-Yates shuffle of perm[0..n) (initialised to the identity) for one
 * epoch: for i = n-1 .. 1, j = floor(u32 * (i+1) / 2^32) with u32 the i-th
 * Philox output of (seed, epoch, stream) (multiply-shift; its bias is below
 * n / 2^32, negligible). */
void shuffle_epoch(int *perm, int n, uint64_t seed, uint32_t epoch, uint32_t stream);

/* Endless stream of epochs over n items, each epoch a fresh permutation.
 * State that a checkpoint must hold: (epoch, pos). */
typedef struct {
    int n;         /* dataset size (> 0) */
    int epoch;     /* current epoch, 0-based */
    int pos;       /* next position in perm, 0..n */
    int *perm;     /* permutation of the current epoch */
    uint64_t seed;
    uint32_t stream;
    const int *len; /* item lengths for group-by-length (NULL: off); not owned */
    int group;      /* items per length group */
} DataOrder;

void order_init(DataOrder *o, int n, uint64_t seed, uint32_t stream);
void order_free(DataOrder *o);
/* Restore (epoch, pos) from a checkpoint. Returns -1 if out of range. */
int order_seek(DataOrder *o, int epoch, int pos, Err *err);
/* The next B item indices; an epoch that runs out continues into the next
 * one (no item is dropped, B may exceed n). */
void order_next_batch(DataOrder *o, int B, int *out);
/* Group by length (as Hugging Face's group_by_length): after each epoch's
 * shuffle, every run of `group` consecutive items (the last may be shorter)
 * is stably sorted by len, longest first, so that a batch holds windows of
 * similar length and little padding. The epoch still holds each item
 * exactly once; only the order inside a group changes. len must outlive o.
 * Re-derives the current epoch (call before training or after order_seek). */
void order_group_by_length(DataOrder *o, const int *len, int group);

/* Which task(s) an optimiser step trains; every array is indexed by task
 * (TASK_* of model.h). */
typedef struct {
    int strategy;         /* SAMPLING_* */
    int tasks;            /* bitmask 1 << TASK_* of the tasks with data */
    int n[NUM_TASKS];     /* training windows per task (0 = absent) */
    double p[NUM_TASKS];  /* P(task) for proportional / temperature */
} TaskSampler;

/* n[k] is the number of training windows of task k (0 = task absent).
 * proportional: p_k = n_k / sum_j n_j; temperature T:
 * p_k = n_k^(1/T) / sum_j n_j^(1/T). */
int task_sampler_init(TaskSampler *s, int strategy, const int n[NUM_TASKS], double temperature,
                      Err *err);
/* Bitmask of the tasks of step `step` (0-based): joint -> every task,
 * round_robin -> task step mod NUM_TASKS, proportional/temperature -> the
 * first task k with u < p_0 + ... + p_k (the last task otherwise), u =
 * rng_uniform(seed, step, SAMPLER_STREAM_TASK, 0). With a single task
 * present, always that task. */
int task_sampler_pick(const TaskSampler *s, uint64_t seed, long step);

/* Optimiser steps in one epoch for batch size B, where an "epoch" means:
 * one task: ceil(n/B); joint: ceil(max_k n_k / B) (the smaller sets cycle);
 * round_robin: NUM_TASKS * that; proportional/temperature: sum_k ceil(n_k/B). */
long steps_per_epoch(const TaskSampler *s, int B);

#endif

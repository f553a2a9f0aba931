#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "rng.h"

/* i-th raw 32-bit Philox output of (seed, epoch, stream). */
static uint32_t philox_u32(uint64_t seed, uint32_t epoch, uint32_t stream, uint64_t i) {
    Philox4 b = rng_block(seed, epoch, stream, i >> 2);
    return b.v[i & 3];
}

void shuffle_epoch(int *perm, int n, uint64_t seed, uint32_t epoch, uint32_t stream) {
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        uint32_t u = philox_u32(seed, epoch, stream, (uint64_t)i);
        int j = (int)(((uint64_t)u * (uint64_t)(i + 1)) >> 32);
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* Stable sort of perm[a..b) by len, descending (bottom-up merge sort
 * through tmp; ties keep their shuffled order). */
static void sort_group(int *perm, int a, int b, const int *len, int *tmp) {
    for (int w = 1; w < b - a; w *= 2) {
        for (int lo = a; lo < b; lo += 2 * w) {
            int mid = lo + w < b ? lo + w : b, hi = lo + 2 * w < b ? lo + 2 * w : b;
            int i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = len[perm[j]] > len[perm[i]] ? perm[j++] : perm[i++];
            while (i < mid) tmp[k++] = perm[i++];
            while (j < hi) tmp[k++] = perm[j++];
        }
        memcpy(perm + a, tmp + a, (size_t)(b - a) * sizeof(int));
    }
}

/* The permutation of epoch e: Fisher-Yates, then the length groups. */
static void new_epoch(DataOrder *o, uint32_t epoch) {
    shuffle_epoch(o->perm, o->n, o->seed, epoch, o->stream);
    if (!o->len || o->group < 2) return;
    int *tmp = xmalloc((size_t)o->n * sizeof(int));
    for (int a = 0; a < o->n; a += o->group)
        sort_group(o->perm, a, a + o->group < o->n ? a + o->group : o->n, o->len, tmp);
    free(tmp);
}

void order_group_by_length(DataOrder *o, const int *len, int group) {
    o->len = len;
    o->group = group;
    if (o->n > 0) new_epoch(o, (uint32_t)o->epoch);
}

void order_init(DataOrder *o, int n, uint64_t seed, uint32_t stream) {
    memset(o, 0, sizeof *o);
    o->n = n;
    o->seed = seed;
    o->stream = stream;
    o->perm = xmalloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    if (n > 0) shuffle_epoch(o->perm, n, seed, 0, stream);
}

void order_free(DataOrder *o) {
    free(o->perm);
    o->perm = NULL;
}

int order_seek(DataOrder *o, int epoch, int pos, Err *err) {
    if (epoch < 0 || pos < 0 || pos > o->n)
        return err_set(err, "data order: epoch %d position %d out of range for %d items", epoch,
                       pos, o->n);
    o->epoch = epoch;
    o->pos = pos;
    if (o->n > 0) new_epoch(o, (uint32_t)epoch);
    return 0;
}

void order_next_batch(DataOrder *o, int B, int *out) {
    for (int b = 0; b < B; b++) {
        if (o->pos == o->n) {
            o->epoch++;
            o->pos = 0;
            new_epoch(o, (uint32_t)o->epoch);
        }
        out[b] = o->perm[o->pos++];
    }
}

int task_sampler_init(TaskSampler *s, int strategy, int n_ner, int n_qa, double temperature,
                      Err *err) {
    memset(s, 0, sizeof *s);
    if (strategy < SAMPLING_JOINT || strategy > SAMPLING_TEMPERATURE)
        return err_set(err, "sampler: unknown strategy %d", strategy);
    if (n_ner < 0 || n_qa < 0 || n_ner + n_qa == 0)
        return err_set(err, "sampler: no training data (NER %d, QA %d windows)", n_ner, n_qa);
    s->strategy = strategy;
    s->tasks = (n_ner > 0 ? 1 << TASK_NER : 0) | (n_qa > 0 ? 1 << TASK_QA : 0);
    if (strategy == SAMPLING_TEMPERATURE && !(temperature > 0))
        return err_set(err, "sampler: temperature must be > 0 (got %g)", temperature);
    double e = strategy == SAMPLING_TEMPERATURE ? 1.0 / temperature : 1.0;
    double wn = pow((double)n_ner, e), wq = pow((double)n_qa, e);
    s->p_ner = wn / (wn + wq);
    return 0;
}

int task_sampler_pick(const TaskSampler *s, uint64_t seed, long step) {
    if (s->tasks != ALL_TASKS) return s->tasks;
    switch (s->strategy) {
    case SAMPLING_JOINT: return ALL_TASKS;
    case SAMPLING_ROUND_ROBIN: return 1 << (int)(step % NUM_TASKS);
    default: {
        float u = rng_uniform(seed, (uint32_t)step, SAMPLER_STREAM_TASK, 0);
        return (double)u < s->p_ner ? 1 << TASK_NER : 1 << TASK_QA;
    }
    }
}

static long ceil_div(long a, long b) { return (a + b - 1) / b; }

long steps_per_epoch(const TaskSampler *s, int n_ner, int n_qa, int B) {
    if (s->tasks != ALL_TASKS) return ceil_div(s->tasks == (1 << TASK_NER) ? n_ner : n_qa, B);
    long longest = ceil_div(n_ner > n_qa ? n_ner : n_qa, B);
    switch (s->strategy) {
    case SAMPLING_JOINT: return longest;
    case SAMPLING_ROUND_ROBIN: return NUM_TASKS * longest;
    default: return ceil_div(n_ner, B) + ceil_div(n_qa, B);
    }
}

const EnumName SAMPLING_NAMES[] = {{"joint", SAMPLING_JOINT},
                                   {"round_robin", SAMPLING_ROUND_ROBIN},
                                   {"proportional", SAMPLING_PROPORTIONAL},
                                   {"temperature", SAMPLING_TEMPERATURE},
                                   {NULL, 0}};

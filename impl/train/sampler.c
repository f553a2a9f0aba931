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

/* "NER 0, QA 0" for the message of an empty training set. */
static void sizes_text(const int n[NUM_TASKS], char *buf, size_t len) {
    size_t used = 0;
    buf[0] = '\0';
    for (int k = 0; k < NUM_TASKS && used < len; k++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s %d", k ? ", " : "", task_name(k), n[k]);
}

int task_sampler_init(TaskSampler *s, int strategy, const int n[NUM_TASKS], double temperature,
                      Err *err) {
    memset(s, 0, sizeof *s);
    if (strategy < SAMPLING_JOINT || strategy > SAMPLING_TEMPERATURE)
        return err_set(err, "sampler: unknown strategy %d", strategy);
    long total = 0;
    for (int k = 0; k < NUM_TASKS; k++) {
        if (n[k] < 0) total = -1;
        if (total >= 0) total += n[k];
        s->n[k] = n[k];
        if (n[k] > 0) s->tasks |= 1 << k;
    }
    if (total <= 0) {
        char sizes[128];
        sizes_text(n, sizes, sizeof sizes);
        return err_set(err, "sampler: no training data (%s windows)", sizes);
    }
    s->strategy = strategy;
    if (strategy == SAMPLING_TEMPERATURE && !(temperature > 0))
        return err_set(err, "sampler: temperature must be > 0 (got %g)", temperature);
    double e = strategy == SAMPLING_TEMPERATURE ? 1.0 / temperature : 1.0, w[NUM_TASKS], sum = 0;
    for (int k = 0; k < NUM_TASKS; k++) sum += w[k] = pow((double)n[k], e);
    for (int k = 0; k < NUM_TASKS; k++) s->p[k] = w[k] / sum;
    return 0;
}

/* The task drawn by u: the first k with u < p_0 + ... + p_k. */
static int draw_task(const TaskSampler *s, double u) {
    double c = 0;
    for (int k = 0; k < NUM_TASKS - 1; k++)
        if (u < (c += s->p[k])) return k;
    return NUM_TASKS - 1;
}

int task_sampler_pick(const TaskSampler *s, uint64_t seed, long step) {
    if (s->tasks != ALL_TASKS) return s->tasks;
    switch (s->strategy) {
    case SAMPLING_JOINT: return ALL_TASKS;
    case SAMPLING_ROUND_ROBIN: return 1 << (int)(step % NUM_TASKS);
    default: return 1 << draw_task(s, (double)rng_uniform(seed, (uint32_t)step, SAMPLER_STREAM_TASK, 0));
    }
}

static long ceil_div(long a, long b) { return (a + b - 1) / b; }

long steps_per_epoch(const TaskSampler *s, int B) {
    long longest = 0, sum = 0;
    for (int k = 0; k < NUM_TASKS; k++) {
        long steps = ceil_div(s->n[k], B);
        if (steps > longest) longest = steps;
        sum += steps;
    }
    if (s->tasks != ALL_TASKS) return sum; /* one task: its own epoch */
    switch (s->strategy) {
    case SAMPLING_JOINT: return longest;
    case SAMPLING_ROUND_ROBIN: return NUM_TASKS * longest;
    default: return sum;
    }
}

const EnumName SAMPLING_NAMES[] = {{"joint", SAMPLING_JOINT},
                                   {"round_robin", SAMPLING_ROUND_ROBIN},
                                   {"proportional", SAMPLING_PROPORTIONAL},
                                   {"temperature", SAMPLING_TEMPERATURE},
                                   {NULL, 0}};

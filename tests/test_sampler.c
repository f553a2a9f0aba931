/* Data order (Fisher-Yates with Philox per epoch) and task sampling:
 * permutations, determinism, resumability, and sampling proportions. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "sampler.h"
#include "testutil.h"

static int is_permutation(const int *p, int n) {
    char *seen = calloc((size_t)n, 1);
    int ok = 1;
    for (int i = 0; i < n; i++) {
        if (p[i] < 0 || p[i] >= n || seen[p[i]]) ok = 0;
        else seen[p[i]] = 1;
    }
    free(seen);
    return ok;
}

static void test_shuffle_permutation_and_determinism(void) {
    enum { N = 1000 };
    int a[N], b[N], c[N], d[N];
    shuffle_epoch(a, N, 42, 0, SAMPLER_STREAM_ORDER);
    shuffle_epoch(b, N, 42, 0, SAMPLER_STREAM_ORDER);
    shuffle_epoch(c, N, 42, 1, SAMPLER_STREAM_ORDER);
    shuffle_epoch(d, N, 43, 0, SAMPLER_STREAM_ORDER);
    CU_ASSERT(is_permutation(a, N));
    CU_ASSERT(is_permutation(c, N));
    CU_ASSERT(memcmp(a, b, sizeof a) == 0);
    CU_ASSERT(memcmp(a, c, sizeof a) != 0);
    CU_ASSERT(memcmp(a, d, sizeof a) != 0);
    int fixed = 0; /* a random permutation has ~1 fixed point; identity has N */
    for (int i = 0; i < N; i++) fixed += a[i] == i;
    CU_ASSERT(fixed < 10);
    int one[1];
    shuffle_epoch(one, 1, 42, 0, 7);
    CU_ASSERT_EQUAL(one[0], 0);
}

/* Where item 0 lands over many epochs of a 10-item shuffle: each of the 10
 * positions should get 1/10 of 20000 epochs. Chi-square with 9 degrees of
 * freedom; 27.9 is its 0.999 quantile (a correct shuffle fails 1 in 1000
 * seeds, and the seed is fixed). */
static void test_shuffle_uniform(void) {
    enum { N = 10, E = 20000 };
    long count[N] = {0};
    int p[N];
    for (int e = 0; e < E; e++) {
        shuffle_epoch(p, N, 7, (uint32_t)e, SAMPLER_STREAM_ORDER);
        for (int i = 0; i < N; i++)
            if (p[i] == 0) count[i]++;
    }
    double chi2 = 0, expect = (double)E / N;
    for (int i = 0; i < N; i++) chi2 += (count[i] - expect) * (count[i] - expect) / expect;
    printf("\n  chi2 of item-0 position over %d epochs: %.2f (limit 27.9)\n", E, chi2);
    CU_ASSERT(chi2 < 27.9);
}

static void test_order_epochs_and_seek(void) {
    enum { N = 37, B = 8, BATCHES = 20 };
    DataOrder o;
    order_init(&o, N, 5, SAMPLER_STREAM_ORDER + 1);
    int all[BATCHES * B];
    int states_epoch[BATCHES], states_pos[BATCHES];
    for (int k = 0; k < BATCHES; k++) {
        states_epoch[k] = o.epoch;
        states_pos[k] = o.pos;
        order_next_batch(&o, B, all + k * B);
    }
    /* every epoch (the first 4 full ones: 4*37 = 148 < 160 items) is a permutation */
    for (int e = 0; e < 4; e++) CU_ASSERT(is_permutation(all + e * N, N));
    CU_ASSERT_EQUAL(o.epoch, (BATCHES * B) / N);
    CU_ASSERT_EQUAL(o.pos, (BATCHES * B) % N);
    /* resuming from any recorded state continues the exact same stream */
    for (int k = 0; k < BATCHES; k += 3) {
        DataOrder r;
        order_init(&r, N, 5, SAMPLER_STREAM_ORDER + 1);
        Err err;
        CU_ASSERT_EQUAL(order_seek(&r, states_epoch[k], states_pos[k], &err), 0);
        int rest[BATCHES * B];
        int left = (BATCHES - k) * B;
        order_next_batch(&r, left, rest);
        CU_ASSERT(memcmp(rest, all + k * B, (size_t)left * sizeof(int)) == 0);
        order_free(&r);
    }
    Err err;
    CU_ASSERT_EQUAL(order_seek(&o, 0, N + 1, &err), -1);
    CU_ASSERT(strstr(err.msg, "out of range") != NULL);
    order_free(&o);
    /* batch larger than the dataset wraps into the next epochs */
    DataOrder s;
    order_init(&s, 3, 1, 9);
    int big[7];
    order_next_batch(&s, 7, big);
    CU_ASSERT(is_permutation(big, 3) && is_permutation(big + 3, 3));
    CU_ASSERT_EQUAL(s.epoch, 2);
    CU_ASSERT_EQUAL(s.pos, 1);
    order_free(&s);
}

static double frac_ner(const TaskSampler *s, uint64_t seed, long steps) {
    long ner = 0;
    for (long i = 0; i < steps; i++) ner += task_sampler_pick(s, seed, i) == (1 << TASK_NER);
    return (double)ner / steps;
}

static void test_task_sampler(void) {
    TaskSampler s;
    Err err;
    /* proportional 1000 : 3000 -> p_ner = 0.25; 100k draws, sigma = 0.00137,
     * accept within 5 sigma */
    CU_ASSERT_EQUAL(task_sampler_init(&s, SAMPLING_PROPORTIONAL, (int[NUM_TASKS]){1000, 3000}, 0, &err), 0);
    CU_ASSERT_DOUBLE_EQUAL(s.p[TASK_NER], 0.25, 1e-12);
    double f = frac_ner(&s, 11, 100000);
    printf("\n  proportional: NER fraction %.4f (expected 0.25)\n", f);
    CU_ASSERT(fabs(f - 0.25) < 5 * sqrt(0.25 * 0.75 / 100000));
    /* temperature 2 on 1000 : 9000 -> sqrt sizes 31.6 : 94.9 -> p = 0.25 */
    CU_ASSERT_EQUAL(task_sampler_init(&s, SAMPLING_TEMPERATURE, (int[NUM_TASKS]){1000, 9000}, 2.0, &err), 0);
    CU_ASSERT_DOUBLE_EQUAL(s.p[TASK_NER], 0.25, 1e-12);
    f = frac_ner(&s, 11, 100000);
    printf("  temperature 2: NER fraction %.4f (expected 0.25)\n", f);
    CU_ASSERT(fabs(f - 0.25) < 5 * sqrt(0.25 * 0.75 / 100000));
    /* determinism: same seed same choices, different seed different */
    int same = 1, diff = 0;
    for (long i = 0; i < 1000; i++) {
        same &= task_sampler_pick(&s, 3, i) == task_sampler_pick(&s, 3, i);
        diff += task_sampler_pick(&s, 3, i) != task_sampler_pick(&s, 4, i);
    }
    CU_ASSERT(same);
    CU_ASSERT(diff > 100);
    /* joint and round robin */
    CU_ASSERT_EQUAL(task_sampler_init(&s, SAMPLING_JOINT, (int[NUM_TASKS]){10, 20}, 0, &err), 0);
    CU_ASSERT_EQUAL(task_sampler_pick(&s, 1, 0), 3);
    CU_ASSERT_EQUAL(task_sampler_pick(&s, 1, 5), 3);
    CU_ASSERT_EQUAL(task_sampler_init(&s, SAMPLING_ROUND_ROBIN, (int[NUM_TASKS]){10, 20}, 0, &err), 0);
    CU_ASSERT_EQUAL(task_sampler_pick(&s, 1, 0), 1 << TASK_NER);
    CU_ASSERT_EQUAL(task_sampler_pick(&s, 1, 1), 1 << TASK_QA);
    CU_ASSERT_EQUAL(task_sampler_pick(&s, 1, 2), 1 << TASK_NER);
    /* a single task: always that one, whatever the strategy */
    CU_ASSERT_EQUAL(task_sampler_init(&s, SAMPLING_PROPORTIONAL, (int[NUM_TASKS]){0, 20}, 0, &err), 0);
    CU_ASSERT_EQUAL(task_sampler_pick(&s, 1, 7), 1 << TASK_QA);
    /* errors */
    CU_ASSERT_EQUAL(task_sampler_init(&s, SAMPLING_TEMPERATURE, (int[NUM_TASKS]){10, 20}, 0.0, &err), -1);
    CU_ASSERT(strstr(err.msg, "temperature") != NULL);
    CU_ASSERT_EQUAL(task_sampler_init(&s, SAMPLING_JOINT, (int[NUM_TASKS]){0, 0}, 0, &err), -1);
    int v = -1;
    CU_ASSERT_EQUAL(enum_value(SAMPLING_NAMES, "round_robin", &v), 0);
    CU_ASSERT_EQUAL(v, SAMPLING_ROUND_ROBIN);
    CU_ASSERT_EQUAL(enum_value(SAMPLING_NAMES, "bogus", &v), -1);
    CU_ASSERT_STRING_EQUAL(enum_name(SAMPLING_NAMES, SAMPLING_TEMPERATURE), "temperature");
}

/* Group by length: each epoch still holds every item once, each group is
 * sorted longest first (ties in shuffled order), seek reproduces it, and
 * the padding of batches falls. */
static void test_group_by_length(void) {
    enum { N = 1000, B = 8, G = 40 };
    int len[N], seen[N], plain_pad = 0, grouped_pad = 0;
    for (int i = 0; i < N; i++) len[i] = 5 + (i * 7919) % 120;
    DataOrder plain, grp, again;
    order_init(&plain, N, 11, 3);
    order_init(&grp, N, 11, 3);
    order_group_by_length(&grp, len, G);
    for (int epoch = 0; epoch < 2; epoch++) {
        memset(seen, 0, sizeof seen);
        int rows[B], prow[B];
        for (int step = 0; step < N / B; step++) {
            order_next_batch(&grp, B, rows);
            order_next_batch(&plain, B, prow);
            int mx = 0, pmx = 0, sum = 0, psum = 0;
            for (int b = 0; b < B; b++) {
                seen[rows[b]]++;
                mx = len[rows[b]] > mx ? len[rows[b]] : mx;
                pmx = len[prow[b]] > pmx ? len[prow[b]] : pmx;
                sum += len[rows[b]], psum += len[prow[b]];
            }
            grouped_pad += B * mx - sum;
            plain_pad += B * pmx - psum;
        }
        int once = 1;
        for (int i = 0; i < N; i++) once &= seen[i] == 1;
        CU_ASSERT(once);
    }
    /* within each group of the current epoch: non-increasing lengths */
    int sorted = 1;
    for (int i = 1; i < N; i++)
        if (i % G && len[grp.perm[i]] > len[grp.perm[i - 1]]) sorted = 0;
    CU_ASSERT(sorted);
    /* the same items per group as the plain shuffle of that epoch */
    int same_sets = 1;
    for (int a = 0; a < N; a += G) {
        long s1 = 0, s2 = 0;
        for (int i = a; i < a + G; i++) s1 += (long)plain.perm[i] * plain.perm[i], s2 += (long)grp.perm[i] * grp.perm[i];
        same_sets &= s1 == s2;
    }
    CU_ASSERT(same_sets);
    Err err;
    order_init(&again, N, 11, 3);
    order_group_by_length(&again, len, G);
    CU_ASSERT_EQUAL(order_seek(&again, grp.epoch, grp.pos, &err), 0);
    CU_ASSERT(memcmp(again.perm, grp.perm, sizeof(int) * N) == 0);
    printf("\n  padding tokens over 2 epochs: plain %d, grouped %d", plain_pad, grouped_pad);
    CU_ASSERT(grouped_pad * 4 < plain_pad);
    order_free(&plain);
    order_free(&grp);
    order_free(&again);
}

static void test_steps_per_epoch(void) {
    TaskSampler s;
    Err err;
    task_sampler_init(&s, SAMPLING_JOINT, (int[NUM_TASKS]){100, 33}, 0, &err);
    CU_ASSERT_EQUAL(steps_per_epoch(&s, 16), 7);
    task_sampler_init(&s, SAMPLING_ROUND_ROBIN, (int[NUM_TASKS]){100, 33}, 0, &err);
    CU_ASSERT_EQUAL(steps_per_epoch(&s, 16), 14);
    task_sampler_init(&s, SAMPLING_PROPORTIONAL, (int[NUM_TASKS]){100, 33}, 0, &err);
    CU_ASSERT_EQUAL(steps_per_epoch(&s, 16), 7 + 3);
    task_sampler_init(&s, SAMPLING_JOINT, (int[NUM_TASKS]){0, 33}, 0, &err);
    CU_ASSERT_EQUAL(steps_per_epoch(&s, 16), 3);
}

int main(void) {
    static const TestCase tests[] = {
        {"shuffle is a deterministic permutation", test_shuffle_permutation_and_determinism},
        {"shuffle positions are uniform (chi-square)", test_shuffle_uniform},
        {"data order across epochs, seek == continue", test_order_epochs_and_seek},
        {"task sampler proportions and determinism", test_task_sampler},
        {"steps per epoch", test_steps_per_epoch},
        {"group by length: same items, sorted groups, less padding", test_group_by_length},
        {NULL, NULL}};
    testutil_add_suite("sampler", tests);
    return testutil_run_all();
}

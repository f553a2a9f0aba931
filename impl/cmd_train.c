/* cmd_train.c — `mtl train`: one run, or one run per seed (--seeds 1,2,3)
 * into OUT/seed-S followed by OUT/aggregate.json (mean +- sample std). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dist.h"
#include "train.h"

/* "1,2,3" -> seeds; returns the count or -1 on a malformed list. */
static int parse_seed_list(const char *s, long long *out, int max, Err *err) {
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || (*end && *end != ','))
            return err_set(err, "--seeds: malformed list '%s' (want e.g. 1,2,3)", s);
        if (n == max) return err_set(err, "--seeds: more than %d seeds", max);
        if (v < 0) return err_set(err, "--seeds: %lld is negative (seeds are 0..2^62)", v);
        for (int i = 0; i < n; i++)
            if (out[i] == v) return err_set(err, "--seeds: %lld given twice in '%s' (one run per seed)", v, s);
        out[n++] = v;
        p = *end ? end + 1 : end;
    }
    if (n == 0) return err_set(err, "--seeds: empty list");
    return n;
}

static int run_seeds(const TrainOptions *base, int argc, char **argv, int *sig, Err *err) {
    long long seeds[64];
    int n = parse_seed_list(base->seeds, seeds, 64, err);
    if (n < 0) return -1;
    RunSummary *sums = xcalloc((size_t)n, sizeof *sums);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        TrainOptions o = *base;
        o.seed = seeds[i];
        o.seeds[0] = '\0';
        if (snprintf(o.out, sizeof o.out, "%s/seed-%lld", base->out, seeds[i]) >= (int)sizeof o.out) {
            rc = err_set(err, "--out: path too long");
            break;
        }
        if (dist_rank() == 0)
            fprintf(stderr, "mtl train: seed %lld (%d of %d) -> %s\n", seeds[i], i + 1, n, o.out);
        rc = train_run(&o, argc, argv, &sums[i], err);
        *sig = sums[i].stop_signal;
    }
    if (rc == 0 && dist_rank() == 0) {
        char path[1200];
        snprintf(path, sizeof path, "%s/aggregate.json", base->out);
        rc = train_write_aggregate(path, base, sums, n, err);
        if (rc == 0) fprintf(stderr, "mtl train: wrote %s\n", path);
    }
    free(sums);
    return rc;
}

/* As several MPI ranks each rank says which it is (a fault may be one rank's). */
static void say_error(const Err *err) {
    if (dist_size() > 1) fprintf(stderr, "mtl train (rank %d of %d): %s\n", dist_rank(), dist_size(), err->msg);
    else fprintf(stderr, "mtl train: %s\n", err->msg);
}

int cmd_train(int argc, char **argv) {
    TrainOptions o;
    train_options_default(&o);
    Err err;
    int prc = train_options_parse(&o, argc, argv, &err);
    if (prc == 1) {
        train_options_usage(stdout);
        return 0;
    }
    if (prc != 0) {
        say_error(&err);
        return 2;
    }
    int rc, sig = 0;
    if (o.seeds[0]) {
        rc = run_seeds(&o, argc, argv, &sig, &err);
    } else {
        RunSummary s;
        rc = train_run(&o, argc, argv, &s, &err);
        sig = s.stop_signal;
    }
    if (rc != 0) {
        if (sig) dist_failure_is_collective(); /* all ranks stopped at the same step */
        say_error(&err);
        return sig ? 128 + sig : 1; /* as a shell reports a process a signal ended */
    }
    return 0;
}

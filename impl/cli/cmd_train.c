/* cmd_train.c — `mtl train`: one run, or one run per seed (--seeds 1,2,3)
 * into OUT/seed-S followed by OUT/aggregate.json (mean +- sample std). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dist.h"
#include "train.h"

static int run_seeds(const TrainOptions *base, int argc, char **argv, int *sig, Err *err) {
    long long seeds[TRAIN_MAX_SEEDS];
    int n = train_seed_list(base->seeds, seeds, err);
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

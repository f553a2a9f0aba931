/* profile_backend.h — a Backend that forwards every op to another backend
 * and records the wall time and the call count of each op (the per-kernel
 * breakdown of bench-step). On a CUDA inner backend it synchronises before
 * and after each op so that the time is the op's own; on the CPU the ops are
 * synchronous already. */
#ifndef MTL_PROFILE_BACKEND_H
#define MTL_PROFILE_BACKEND_H

#include <stdio.h>

#include "backend.h"

typedef struct {
    const char *name; /* e.g. "matmul_forward" */
    long calls;
    double seconds;
    int sgemm; /* 1 for the ops built on sgemm: matmul and attention */
} ProfileOp;

/* Wrap `inner`; the wrapper owns it (destroy() destroys both). */
Backend *backend_profiled(Backend *inner);

/* Turn timing on (the default) or off. Off, ops pass straight through with
 * no synchronisation, so an asynchronous backend keeps its overlap (time the
 * steps with profiling off, then profile a few more steps). */
void profile_set_enabled(Backend *p, int on);

/* Clear the totals (e.g. after warm-up steps). */
void profile_reset(Backend *p);

/* The per-op table (fixed order); returns the number of entries. */
int profile_ops(Backend *p, const ProfileOp **ops);

/* Total seconds of all timed ops, and of the sgemm-based ones. */
double profile_total_seconds(Backend *p);
double profile_sgemm_seconds(Backend *p);

/* Table sorted by time: op, calls, total ms, ms per call, share of
 * total_s (the caller's wall time of the same region; the remainder is
 * reported as time outside the backend's ops). */
void profile_report(Backend *p, FILE *f, double total_s);

#endif

/* profile_backend.c — timing wrapper around any Backend. */
#include "profile_backend.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

typedef struct {
    Backend *inner;
    int sync;    /* synchronise around each op (asynchronous inner backend) */
    int enabled; /* time ops at all */
    ProfileOp ops[NUM_OPS];
} ProfCtx;

static ProfCtx *ctx_of(Backend *be) { return (ProfCtx *)be->ctx; }

static double prof_begin(ProfCtx *pc) {
    if (!pc->enabled) return 0.0;
    if (pc->sync) pc->inner->sync(pc->inner);
    return now_seconds();
}

static void prof_end(ProfCtx *pc, int op, double t0) {
    if (!pc->enabled) return;
    if (pc->sync) pc->inner->sync(pc->inner);
    pc->ops[op].seconds += now_seconds() - t0;
    pc->ops[op].calls++;
}

static void *p_alloc(Backend *be, size_t bytes) {
    Backend *in = ctx_of(be)->inner;
    return in->alloc(in, bytes);
}
static void p_free(Backend *be, void *p) {
    Backend *in = ctx_of(be)->inner;
    in->free(in, p);
}
static void p_sync(Backend *be) {
    Backend *in = ctx_of(be)->inner;
    in->sync(in);
}
/* p_<name>: the inner backend's op, timed under OP_<name>. PROF_CALL_<ret>
 * forwards the call and returns its value where there is one. */
#define PROF_CALL_void(call) \
    call;                    \
    prof_end(pc, op, t0);
#define PROF_CALL_double(call) \
    double r = call;           \
    prof_end(pc, op, t0);      \
    return r;
#define PROF_WRAPPER(name, ret, params, args)                             \
    static ret p_##name(Backend *be, OPS_UNPAREN params) {                \
        ProfCtx *pc = ctx_of(be);                                         \
        const int op = OP_##name;                                         \
        double t0 = prof_begin(pc);                                       \
        PROF_CALL_##ret(pc->inner->name(pc->inner, OPS_UNPAREN args))     \
    }
MTL_OPS(PROF_WRAPPER)
#undef PROF_WRAPPER

static void p_destroy(Backend *be) {
    ProfCtx *pc = ctx_of(be);
    pc->inner->destroy(pc->inner);
    free(pc);
    free(be);
}

Backend *backend_profiled(Backend *inner) {
    ProfCtx *pc = xcalloc(1, sizeof *pc);
    pc->inner = inner;
    pc->sync = strcmp(inner->name, "cuda") == 0;
    pc->enabled = 1;
    for (int i = 0; i < NUM_OPS; i++) {
        pc->ops[i].name = op_name(i);
        pc->ops[i].sgemm = i == OP_matmul_forward || i == OP_matmul_backward ||
                           i == OP_attention_forward || i == OP_attention_backward;
    }
    Backend *be = xcalloc(1, sizeof *be);
    be->name = inner->name;
    be->precision = inner->precision;
    be->attn_recompute_ok = inner->attn_recompute_ok;
    be->matmul_exact = inner->matmul_exact;
    be->attn_scratch = inner->attn_scratch;
    be->attn_recompute = inner->attn_recompute;
    be->ctx = pc;
    be->alloc = p_alloc;
    be->free = p_free;
    be->sync = p_sync;
    be->destroy = p_destroy;
#define PROF_FILL(name, ret, params, args) be->name = p_##name;
    MTL_OPS(PROF_FILL)
#undef PROF_FILL
    return be;
}

void profile_set_enabled(Backend *p, int on) { ctx_of(p)->enabled = on; }

void profile_reset(Backend *p) {
    ProfCtx *pc = ctx_of(p);
    for (int i = 0; i < NUM_OPS; i++) {
        pc->ops[i].calls = 0;
        pc->ops[i].seconds = 0.0;
    }
}

int profile_ops(Backend *p, const ProfileOp **ops) {
    *ops = ctx_of(p)->ops;
    return NUM_OPS;
}

static double sum_seconds(Backend *p, int sgemm_only) {
    const ProfCtx *pc = ctx_of(p);
    double s = 0.0;
    for (int i = 0; i < NUM_OPS; i++)
        if (!sgemm_only || pc->ops[i].sgemm) s += pc->ops[i].seconds;
    return s;
}
double profile_total_seconds(Backend *p) { return sum_seconds(p, 0); }
double profile_sgemm_seconds(Backend *p) { return sum_seconds(p, 1); }

static int by_seconds_desc(const void *a, const void *b) {
    double sa = (*(const ProfileOp *const *)a)->seconds, sb = (*(const ProfileOp *const *)b)->seconds;
    return (sa < sb) - (sa > sb);
}

void profile_report(Backend *p, FILE *f, double total_s) {
    ProfCtx *pc = ctx_of(p);
    const ProfileOp *sorted[NUM_OPS];
    for (int i = 0; i < NUM_OPS; i++) sorted[i] = &pc->ops[i];
    qsort(sorted, NUM_OPS, sizeof sorted[0], by_seconds_desc);
    double denom = total_s > 0.0 ? total_s : 1.0;
    fprintf(f, "  %-22s %8s %11s %10s %7s\n", "op", "calls", "total ms", "ms/call", "share");
    for (int i = 0; i < NUM_OPS; i++) {
        const ProfileOp *o = sorted[i];
        if (o->calls == 0) continue;
        fprintf(f, "  %-22s %8ld %11.2f %10.4f %6.1f%%\n", o->name, o->calls, 1e3 * o->seconds,
                1e3 * o->seconds / (double)o->calls, 100.0 * o->seconds / denom);
    }
    double ops = profile_total_seconds(p), sg = profile_sgemm_seconds(p);
    fprintf(f, "  %-22s %8s %11.2f %10s %6.1f%%\n", "(outside ops)", "", 1e3 * (total_s - ops), "",
            100.0 * (total_s - ops) / denom);
    fprintf(f, "  sgemm-based ops (matmul + attention): %.1f%% of the time\n", 100.0 * sg / denom);
}

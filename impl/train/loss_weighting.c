/* loss_weighting.c — uncertainty weighting and DWA; the math is in loss_weighting.h. */
#include "loss_weighting.h"

#include <math.h>
#include <string.h>

#include "optim.h"

static int has_task(int tasks, int k) { return (tasks >> k) & 1; }

/* A count stored as a double: finite, >= 0, whole. */
static int is_count(double x) { return isfinite(x) && x >= 0 && x == floor(x) && x <= 9e15; }

static int all_finite(const double *in, int n) {
    for (int i = 0; i < n; i++)
        if (!isfinite(in[i])) return 0;
    return 1;
}

/* ---- homoscedastic uncertainty ---------------------------------------------- */

void uncertainty_init(UncertaintyState *u, double lr, const float lambda[NUM_TASKS]) {
    memset(u, 0, sizeof *u);
    u->lr = lr;
    for (int k = 0; k < NUM_TASKS; k++) {
        u->s[k] = 0.0 - log((double)lambda[k]); /* +0 (not -0) for lambda 1 */
        u->grad[k] = NAN;
    }
}

double uncertainty_weight(const UncertaintyState *u, int task) { return exp(-u->s[task]); }

void uncertainty_update(UncertaintyState *u, int tasks, const double loss[NUM_TASKS]) {
    for (int k = 0; k < NUM_TASKS; k++) {
        u->grad[k] = NAN;
        if (!has_task(tasks, k)) continue;
        /* d/ds (exp(-s) L + s) = 1 - exp(-s) L, at the s the step used */
        u->grad[k] = 1.0 - exp(-u->s[k]) * loss[k];
        u->t[k]++;
        u->s[k] = adam_scalar_step(u->s[k], u->grad[k], &u->m[k], &u->v[k], u->t[k], u->lr);
    }
}

/* The packed layout: s[NUM_TASKS], m[..], v[..], t[..]. */
enum { UN_S = 0, UN_M = NUM_TASKS, UN_V = 2 * NUM_TASKS, UN_T = 3 * NUM_TASKS };

void uncertainty_pack(const UncertaintyState *u, double out[UNCERTAINTY_STATE_LEN]) {
    for (int k = 0; k < NUM_TASKS; k++) {
        out[UN_S + k] = u->s[k];
        out[UN_M + k] = u->m[k];
        out[UN_V + k] = u->v[k];
        out[UN_T + k] = (double)u->t[k];
    }
}

int uncertainty_unpack(UncertaintyState *u, const double *in, int n, Err *err) {
    if (n != UNCERTAINTY_STATE_LEN)
        return err_set(err, "uncertainty weighting state has %d values, expected %d", n, UNCERTAINTY_STATE_LEN);
    if (!all_finite(in, n)) return err_set(err, "uncertainty weighting state holds a value that is not finite");
    for (int k = 0; k < NUM_TASKS; k++)
        if (!(in[UN_V + k] >= 0) || !is_count(in[UN_T + k]))
            return err_set(err, "implausible uncertainty weighting state for %s (v %g, t %g)", task_name(k),
                           in[UN_V + k], in[UN_T + k]);
    for (int k = 0; k < NUM_TASKS; k++) {
        u->s[k] = in[UN_S + k];
        u->m[k] = in[UN_M + k];
        u->v[k] = in[UN_V + k];
        u->t[k] = (long)in[UN_T + k];
        u->grad[k] = NAN;
    }
    return 0;
}

/* ---- dynamic weight averaging ----------------------------------------------- */

void dwa_init(DwaState *d, long period, double temperature, const float lambda[NUM_TASKS]) {
    memset(d, 0, sizeof *d);
    d->period = period;
    d->temperature = temperature;
    for (int k = 0; k < NUM_TASKS; k++) {
        d->lambda[k] = lambda[k];
        d->w[k] = lambda[k];
        d->r[k] = 1.0;
        d->mean_closed[k] = NAN;
    }
}

void dwa_weights(const DwaState *d, const double r[NUM_TASKS], double w[NUM_TASKS]) {
    double lsum = 0, rmax = r[0], esum = 0, e[NUM_TASKS];
    for (int k = 0; k < NUM_TASKS; k++) {
        lsum += d->lambda[k];
        if (r[k] > rmax) rmax = r[k];
    }
    for (int k = 0; k < NUM_TASKS; k++) {
        e[k] = exp((r[k] - rmax) / d->temperature); /* exp(r_k / T) / exp(rmax / T) */
        esum += e[k];
    }
    /* K lbar = K (lsum / K) = lsum */
    for (int k = 0; k < NUM_TASKS; k++) w[k] = lsum * e[k] / esum;
}

/* The weights of the period that starts after d->steps steps. */
static void set_weights(DwaState *d) {
    if (d->steps / d->period < 2)
        for (int k = 0; k < NUM_TASKS; k++) d->w[k] = d->lambda[k];
    else dwa_weights(d, d->r, d->w);
}

/* End of a period: its means, the ratios to the period before, the next weights. */
static void close_period(DwaState *d) {
    for (int k = 0; k < NUM_TASKS; k++) {
        double mean = d->n[k] > 0 ? d->sum[k] / (double)d->n[k] : 0.0;
        if (mean > 0 && d->mean_prev[k] > 0) d->r[k] = mean / d->mean_prev[k]; /* else: kept */
        d->mean_closed[k] = d->n[k] > 0 ? mean : NAN;
        d->mean_prev[k] = mean;
        d->sum[k] = 0;
        d->n[k] = 0;
    }
    set_weights(d);
}

void dwa_update(DwaState *d, int tasks, const double loss[NUM_TASKS]) {
    for (int k = 0; k < NUM_TASKS; k++) {
        d->mean_closed[k] = NAN;
        if (!has_task(tasks, k)) continue;
        d->sum[k] += loss[k];
        d->n[k]++;
    }
    d->steps++;
    if (d->steps % d->period == 0) close_period(d);
}

/* The packed layout: sum[NUM_TASKS], n[..], mean_prev[..], r[..], steps. */
enum { DW_SUM = 0, DW_N = NUM_TASKS, DW_PREV = 2 * NUM_TASKS, DW_R = 3 * NUM_TASKS, DW_STEPS = 4 * NUM_TASKS };

void dwa_pack(const DwaState *d, double out[DWA_STATE_LEN]) {
    for (int k = 0; k < NUM_TASKS; k++) {
        out[DW_SUM + k] = d->sum[k];
        out[DW_N + k] = (double)d->n[k];
        out[DW_PREV + k] = d->mean_prev[k];
        out[DW_R + k] = d->r[k];
    }
    out[DW_STEPS] = (double)d->steps;
}

int dwa_unpack(DwaState *d, const double *in, int n, Err *err) {
    if (n != DWA_STATE_LEN) return err_set(err, "DWA state has %d values, expected %d", n, DWA_STATE_LEN);
    if (!all_finite(in, n)) return err_set(err, "DWA state holds a value that is not finite");
    int bad = !is_count(in[DW_STEPS]);
    for (int k = 0; k < NUM_TASKS; k++)
        bad |= !(in[DW_SUM + k] >= 0) || !is_count(in[DW_N + k]) || !(in[DW_PREV + k] >= 0) || !(in[DW_R + k] >= 0);
    if (bad) return err_set(err, "implausible DWA state (a negative loss sum, mean or ratio, or a count that is not whole)");
    for (int k = 0; k < NUM_TASKS; k++) {
        d->sum[k] = in[DW_SUM + k];
        d->n[k] = (long)in[DW_N + k];
        d->mean_prev[k] = in[DW_PREV + k];
        d->r[k] = in[DW_R + k];
        d->mean_closed[k] = NAN;
    }
    d->steps = (long)in[DW_STEPS];
    set_weights(d);
    return 0;
}

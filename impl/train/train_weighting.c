/* train_weighting.c — the trainer's side of --loss-weighting uncertainty and
 * dwa (the math: loss_weighting.h): the weight of each backward pass, the
 * update after each step with its weights.csv row, and the state a
 * checkpoint carries. GradNorm, which needs the model's gradients, lives in
 * train.c. Every rank runs the same update on the same reduced losses, so
 * the weights are identical on all ranks. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "train_internal.h"

double train_task_weight(const Trainer *t, int task) {
    switch (t->o->loss_weighting) {
    case LOSS_WEIGHTING_GRADNORM: return t->gn.s.w[task];
    case LOSS_WEIGHTING_UNCERTAINTY: return uncertainty_weight(&t->unc, task);
    case LOSS_WEIGHTING_DWA: return t->dwa.w[task];
    default: return t->o->lambda[task];
    }
}

void train_weighting_init(Trainer *t) {
    const TrainOptions *o = t->o;
    if (o->loss_weighting == LOSS_WEIGHTING_UNCERTAINTY) uncertainty_init(&t->unc, o->uncertainty_lr, o->lambda);
    if (o->loss_weighting == LOSS_WEIGHTING_DWA)
        dwa_init(&t->dwa, o->dwa_period > 0 ? o->dwa_period : t->per_epoch, o->dwa_temperature, o->lambda);
}

/* ",%.17g" per task of v (an empty field for NaN). */
static void csv_per_task(StrBuf *b, const double v[NUM_TASKS]) {
    for (int k = 0; k < NUM_TASKS; k++) {
        if (isnan(v[k])) sb_printf(b, ",");
        else sb_printf(b, ",%.17g", v[k]);
    }
}

/* The column stems of weights.csv, each followed by one column per task
 * ("w" -> w_ner,w_qa); what each holds: impl/train.h. */
static const char *const UNC_COLUMNS[] = {"w", "s", "m", "v", NULL};
static const char *const DWA_COLUMNS[] = {"w", "r", "Lbar", NULL};

static const char *const *weights_columns(const Trainer *t) {
    if (t->o->loss_weighting == LOSS_WEIGHTING_UNCERTAINTY) return UNC_COLUMNS;
    if (t->o->loss_weighting == LOSS_WEIGHTING_DWA) return DWA_COLUMNS;
    return NULL;
}

void train_weighting_header(const Trainer *t, char *out, size_t n) {
    const char *const *col = weights_columns(t);
    size_t used = 0;
    out[0] = '\0';
    if (!col) return;
    used += (size_t)snprintf(out, n, "step");
    for (; *col && used < n; col++)
        for (int k = 0; k < NUM_TASKS && used < n; k++)
            used += (size_t)snprintf(out + used, n - used, ",%s_%s", *col, task_name(k));
    if (used < n) snprintf(out + used, n - used, "\n");
}

void train_weighting_step(Trainer *t, long done, int tasks, const double loss[NUM_TASKS]) {
    LossWeighting lw = t->o->loss_weighting;
    if (lw != LOSS_WEIGHTING_UNCERTAINTY && lw != LOSS_WEIGHTING_DWA) return;
    double w_used[NUM_TASKS];
    for (int k = 0; k < NUM_TASKS; k++) w_used[k] = train_task_weight(t, k);
    sb_printf(&t->wlog, "%ld", done);
    csv_per_task(&t->wlog, w_used);
    if (lw == LOSS_WEIGHTING_UNCERTAINTY) {
        uncertainty_update(&t->unc, tasks, loss);
        csv_per_task(&t->wlog, t->unc.s);
        csv_per_task(&t->wlog, t->unc.m);
        csv_per_task(&t->wlog, t->unc.v);
    } else {
        double r_used[NUM_TASKS];
        memcpy(r_used, t->dwa.r, sizeof r_used);
        dwa_update(&t->dwa, tasks, loss);
        csv_per_task(&t->wlog, r_used);
        csv_per_task(&t->wlog, t->dwa.mean_closed);
    }
    sb_printf(&t->wlog, "\n");
}

void train_weighting_pack(const Trainer *t, TrainState *st) {
    if (t->o->loss_weighting == LOSS_WEIGHTING_UNCERTAINTY) {
        st->n_aux = UNCERTAINTY_STATE_LEN;
        uncertainty_pack(&t->unc, st->aux);
    } else if (t->o->loss_weighting == LOSS_WEIGHTING_DWA) {
        st->n_aux = DWA_STATE_LEN;
        dwa_pack(&t->dwa, st->aux);
    }
}

int train_weighting_unpack(Trainer *t, const TrainState *st, Err *err) {
    Err e;
    int rc = 0;
    switch (t->o->loss_weighting) {
    case LOSS_WEIGHTING_UNCERTAINTY: rc = uncertainty_unpack(&t->unc, st->aux, st->n_aux, &e); break;
    case LOSS_WEIGHTING_DWA:
        rc = dwa_unpack(&t->dwa, st->aux, st->n_aux, &e);
        if (rc == 0 && t->dwa.steps != st->step)
            rc = err_set(&e, "DWA state after %ld steps in a checkpoint at step %ld", t->dwa.steps, st->step);
        break;
    default:
        if (st->n_aux != 0)
            return err_set(err, "%s: the checkpoint carries %d values of loss-weighting state, this run has none",
                           t->ckpt, st->n_aux);
    }
    return rc ? err_set(err, "%s: %s", t->ckpt, e.msg) : 0;
}

/* gradnorm.c — GradNorm loss balancing; the math is in gradnorm.h. */
#include "gradnorm.h"
#include "optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* No weight may fall below this fraction of the total (a weight at 0 would
 * stop its task's gradient and with it the measurement). */
static const double GN_MIN_SHARE = 1e-3;

void gradnorm_state_init(GradNormState *s, double alpha, double lr, const double w0[NUM_TASKS]) {
    memset(s, 0, sizeof *s);
    s->alpha = alpha;
    s->lr = lr;
    for (int k = 0; k < NUM_TASKS; k++) {
        s->w[k] = w0[k];
        s->w_total += w0[k];
    }
}

static double sign_of(double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0; }

/* r_i = Lt_i / mean(Lt), Lt_i = L_i / L_i(0); a task with no usable L_i(0)
 * (zero or not finite) counts as training at the average rate. */
static void relative_rates(const GradNormState *s, const double loss[NUM_TASKS], double r[NUM_TASKS]) {
    double lt[NUM_TASKS], sum = 0.0;
    for (int i = 0; i < NUM_TASKS; i++) {
        double q = loss[i] / s->loss0[i];
        lt[i] = s->loss0[i] > 0 && isfinite(q) ? q : NAN;
        sum += lt[i];
    }
    double mean = sum / NUM_TASKS;
    for (int i = 0; i < NUM_TASKS; i++) r[i] = isfinite(lt[i]) && mean > 0 ? lt[i] / mean : 1.0;
}

/* Adam on the weights (PyTorch's torch.optim.Adam, no weight decay), one step count for all. */
static void adam_on_weights(GradNormState *s, const double grad[NUM_TASKS]) {
    s->t++;
    for (int i = 0; i < NUM_TASKS; i++) s->w[i] = adam_scalar_step(s->w[i], grad[i], &s->m[i], &s->v[i], s->t, s->lr);
}

static void renormalise(GradNormState *s) {
    double floor_w = GN_MIN_SHARE * s->w_total, sum = 0.0;
    for (int i = 0; i < NUM_TASKS; i++) {
        if (!(s->w[i] >= floor_w)) s->w[i] = floor_w; /* also catches NaN */
        sum += s->w[i];
    }
    double k = s->w_total / sum;
    for (int i = 0; i < NUM_TASKS; i++) s->w[i] *= k;
}

void gradnorm_update(GradNormState *s, const double loss[NUM_TASKS], const double G[NUM_TASKS]) {
    if (s->t == 0)
        for (int i = 0; i < NUM_TASKS; i++) s->loss0[i] = loss[i];
    relative_rates(s, loss, s->r);
    double gsum = 0.0, grad[NUM_TASKS];
    for (int i = 0; i < NUM_TASKS; i++) gsum += G[i];
    double gbar = gsum / NUM_TASKS;
    s->lgrad = 0;
    for (int i = 0; i < NUM_TASKS; i++) {
        s->G[i] = G[i];
        s->target[i] = gbar * pow(s->r[i], s->alpha);
        s->lgrad += fabs(G[i] - s->target[i]);
        /* dG_i/dw_i = ||dL_i/dW|| = G_i / w_i (w_i > 0 always) */
        grad[i] = sign_of(G[i] - s->target[i]) * G[i] / s->w[i];
    }
    adam_on_weights(s, grad);
    renormalise(s);
}

/* The packed layout: w[NUM_TASKS], loss0[..], m[..], v[..], t. */
enum { GN_W = 0, GN_LOSS0 = NUM_TASKS, GN_M = 2 * NUM_TASKS, GN_V = 3 * NUM_TASKS, GN_T = 4 * NUM_TASKS };

void gradnorm_pack(const GradNormState *s, double out[GRADNORM_STATE_LEN]) {
    for (int i = 0; i < NUM_TASKS; i++) {
        out[GN_W + i] = s->w[i];
        out[GN_LOSS0 + i] = s->loss0[i];
        out[GN_M + i] = s->m[i];
        out[GN_V + i] = s->v[i];
    }
    out[GN_T] = (double)s->t;
}

int gradnorm_unpack(GradNormState *s, const double *in, int n, Err *err) {
    if (n != GRADNORM_STATE_LEN)
        return err_set(err, "GradNorm state has %d values, expected %d", n, GRADNORM_STATE_LEN);
    for (int i = 0; i < n; i++)
        if (!isfinite(in[i])) return err_set(err, "GradNorm state value %d is not finite", i);
    double wsum = 0.0;
    int bad = in[GN_T] < 0 || in[GN_T] != floor(in[GN_T]);
    for (int i = 0; i < NUM_TASKS; i++) {
        bad |= !(in[GN_W + i] > 0) || !(in[GN_V + i] >= 0);
        wsum += in[GN_W + i];
    }
    if (bad) return err_set(err, "implausible GradNorm state (w %g/%g, t %g)", in[GN_W], in[GN_W + 1], in[GN_T]);
    if (fabs(wsum - s->w_total) > 1e-9 * s->w_total)
        return err_set(err, "GradNorm weights sum to %.9g, this run's lambdas to %.9g", wsum, s->w_total);
    for (int i = 0; i < NUM_TASKS; i++) {
        s->w[i] = in[GN_W + i];
        s->loss0[i] = in[GN_LOSS0 + i];
        s->m[i] = in[GN_M + i];
        s->v[i] = in[GN_V + i];
    }
    s->t = (long)in[GN_T];
    return 0;
}

/* ---- measurement on a model ------------------------------------------------ */

/* The last shared layer's ffn.down.w (layer K-1; K = 0: the embedding
 * LayerNorm's weight, the last shared tensor then). */
void gradnorm_default_layer(const Model *m, char *out, size_t n) {
    int K = config_shared_layers(model_config(m));
    if (K > 0) snprintf(out, n, "layer%d.ffn.down.w", K - 1);
    else snprintf(out, n, "emb.ln.w");
}

int gradnorm_init(GradNorm *g, const Model *m, const char *layer, double alpha, double lr,
                  const double w0[NUM_TASKS], Err *err) {
    memset(g, 0, sizeof *g);
    char name[64];
    if (layer && layer[0]) snprintf(name, sizeof name, "%s", layer);
    else gradnorm_default_layer(m, name, sizeof name);
    g->W = model_find_tensor(m, name);
    if (!g->W) return err_set(err, "--gradnorm-layer: no tensor '%s' in this model", name);
    if (g->W->task >= 0)
        return err_set(err, "--gradnorm-layer: '%s' is %s's own (a task head or a top layer of --shared-layers), not a shared tensor",
                       name, task_name(g->W->task));
    for (int k = 0; k < NUM_TASKS; k++)
        if (!(w0[k] > 0))
            return err_set(err, "GradNorm needs positive initial weights (lambda-%s %g)", task_name(k), w0[k]);
    gradnorm_state_init(&g->s, alpha, lr, w0);
    g->g_prev = xmalloc(g->W->numel * sizeof(float));
    g->g_now = xmalloc(g->W->numel * sizeof(float));
    return 0;
}

void gradnorm_free(GradNorm *g) {
    free(g->g_prev);
    free(g->g_now);
    memset(g, 0, sizeof *g);
}

void gradnorm_after_task(GradNorm *g, const Model *m, int task) {
    model_grad_tensor_to_host(m, g->W, g->g_now);
    if (g->reduce) g->reduce(g->g_now, g->W->numel);
    double s = 0; /* in index order: a fixed function of the gradients */
    for (size_t i = 0; i < g->W->numel; i++) {
        double d = (double)g->g_now[i] - (task > 0 ? (double)g->g_prev[i] : 0.0);
        s += d * d;
    }
    g->G[task] = sqrt(s);
    float *t = g->g_prev; /* this task's gradient is the next one's "before" */
    g->g_prev = g->g_now;
    g->g_now = t;
}

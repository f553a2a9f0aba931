/* gradnorm.h — GradNorm loss balancing (Chen, Badrinarayanan, Lee and
 * Rabinovich, "GradNorm: Gradient Normalization for Adaptive Loss Balancing
 * in Deep Multitask Networks", ICML 2018) for the tasks of a joint step (arrays
 * indexed by task, tasks.h).
 *
 * The loss of a joint step is sum_i w_i L_i with weights that learn:
 *   G_i    = || d(w_i L_i)/dW ||_2     W: one shared tensor (default the last
 *                                      encoder layer's FFN output weight)
 *   Lt_i   = L_i(t) / L_i(0)           loss ratio (L_i(0): first step's loss)
 *   r_i    = Lt_i / mean_j Lt_j        relative inverse training rate
 *   target = mean_j G_j * r_i^alpha    held constant (no gradient through it)
 *   L_grad = sum_i | G_i - target_i |
 *   dL_grad/dw_i = sign(G_i - target_i) * ||dL_i/dW||   (G_i = w_i ||dL_i/dW||)
 * then one Adam step on w (beta 0.9/0.999, eps 1e-8, no decay), w_i clamped
 * to >= 1e-3 * W_total, and renormalised so that sum_i w_i = W_total (the sum of
 * the initial weights, the --lambda-* options). A task that trains slower
 * than the others (r_i > 1) is pushed towards a larger gradient share.
 *
 * The network's gradient of step t uses w(t); the update gives w(t+1). The
 * per-task gradients come from the one joint backward, the tasks in index
 * order: W's gradient is copied to the host after each task's pass, and
 * G_i = ||grad after task i - grad after task i-1|| (0 before the first; in
 * double, fixed order). All of it is deterministic and backend-independent.
 *
 * The seed report's snippet (weights ~ ratio^-alpha, gradient norms computed
 * and unused) does neither: it ignores the gradients and gives the slower
 * task the smaller weight. */
#ifndef MTL_GRADNORM_H
#define MTL_GRADNORM_H

#include <stddef.h>

#include "model.h"
#include "util.h"

enum { GRADNORM_STATE_LEN = 4 * NUM_TASKS + 1 }; /* doubles in gradnorm_pack's output */

typedef struct {
    double alpha, lr;   /* asymmetry and learning rate of the weights */
    double w[NUM_TASKS];        /* task weights (TASK_NER, TASK_QA) */
    double w_total;             /* sum of the weights, kept by renormalisation */
    double loss0[NUM_TASKS];    /* L_i(0) */
    double m[NUM_TASKS], v[NUM_TASKS]; /* Adam moments of w */
    long t;             /* updates done (0: loss0 not set yet) */
    /* the last update, for gradnorm.csv */
    double G[NUM_TASKS], target[NUM_TASKS], r[NUM_TASKS], lgrad;
} GradNormState;

/* Pure math: one update from this step's unweighted losses and measured
 * weighted gradient norms G_i = ||d(w_i L_i)/dW||. */
void gradnorm_state_init(GradNormState *s, double alpha, double lr, const double w0[NUM_TASKS]);
void gradnorm_update(GradNormState *s, const double loss[NUM_TASKS], const double G[NUM_TASKS]);
/* The part of the state that a checkpoint must carry (for bitwise resume):
 * w[NUM_TASKS], loss0[..], m[..], v[..], t. */
void gradnorm_pack(const GradNormState *s, double out[GRADNORM_STATE_LEN]);
int gradnorm_unpack(GradNormState *s, const double *in, int n, Err *err);

/* The measurement on a model: W's gradient copied to the host. */
typedef struct {
    GradNormState s;
    const ParamInfo *W;
    float *g_prev, *g_now; /* host, W->numel each: W's gradient after the previous / this task */
    double G[NUM_TASKS];   /* this step's measured norms */
    /* data parallel: sums each copy over the ranks (dist_sum_floats), so
     * that G is the global batch's; NULL in one process */
    void (*reduce)(float *x, size_t n);
} GradNorm;

/* The last shared layer's "layer{K-1}.ffn.down.w" (K = L: layer{L-1}; K = 0: "emb.ln.w"). */
void gradnorm_default_layer(const Model *m, char *out, size_t n);
/* layer "" = the default. Fails (naming the tensor) if it is not in the model. */
int gradnorm_init(GradNorm *g, const Model *m, const char *layer, double alpha, double lr,
                  const double w0[NUM_TASKS], Err *err);
void gradnorm_free(GradNorm *g);
/* Call after each task's backward of a joint step, the tasks in index order
 * and the gradients zeroed before the first: sets g->G[task], the weighted
 * norm of that task's share of W's gradient. */
void gradnorm_after_task(GradNorm *g, const Model *m, int task);

#endif

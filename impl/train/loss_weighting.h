/* loss_weighting.h — two learned task weightings of a multi-task step next to
 * GradNorm (gradnorm.h): pure math on the steps' unweighted losses (arrays
 * indexed by task, tasks.h; a set of tasks is a bitmask of 1 << task). The
 * trainer (train_weighting.c) uses w_i as the weight of task i's backward
 * pass in a step and feeds the step's losses in afterwards; the weights of
 * step t come from steps 1..t-1 only. All in double, in a fixed order.
 *
 * --loss-weighting uncertainty: homoscedastic uncertainty (Kendall, Gal and
 * Cipolla, "Multi-Task Learning Using Uncertainty to Weigh Losses for Scene
 * Geometry and Semantics", CVPR 2018), with learned log-variances s_i:
 *   L        = sum_i exp(-s_i) L_i + s_i
 *   w_i      = exp(-s_i)                   (the network sees w_i L_i)
 *   dL/ds_i  = 1 - exp(-s_i) L_i           (0 at the fixed point s_i = log L_i)
 *   s_i(0)   = -log lambda_i               (the initial weights are the lambdas)
 * After each step, one Adam step (torch.optim.Adam: betas 0.9/0.999, eps 1e-8,
 * no decay, optim.h adam_scalar_step) on s_i for each task that had a loss
 * in it, each s_i with its own step count: with proportional, temperature
 * or round-robin sampling a task absent from a step is not updated (as
 * torch.optim.Adam skips a parameter whose gradient is None). This is the
 * form the issue asks for and common implementations use; the paper's
 * classification likelihood, 1/sigma^2 L + log sigma with s = log sigma^2,
 * halves the regulariser (s_i / 2), whose fixed point is s_i = log(2 L_i).
 *
 * --loss-weighting dwa: Dynamic Weight Averaging (Liu, Johns and Davison,
 * "End-to-End Multi-Task Learning with Attention", CVPR 2019). Training is
 * cut into averaging periods of P steps (period q: steps qP+1 .. (q+1)P;
 * the paper's period is one epoch, here --dwa-period), and in period p
 *   w_i(p)   = K lbar exp(r_i / T) / sum_j exp(r_j / T)
 *   r_i      = Lbar_i(p-1) / Lbar_i(p-2)
 * where Lbar_i(q) is the mean of task i's training losses over period q,
 * K = NUM_TASKS, T = --dwa-temperature and lbar the mean of the lambdas (1
 * with the paper's unit lambdas: the weights then sum to K). In periods 0
 * and 1 w_i = lambda_i. A task with no loss in period p-1 or p-2 (or a mean
 * of 0, which makes no ratio) keeps its previous ratio (1 before its first
 * one). The exponentials are taken of (r_i - max_j r_j) / T: the same weights, no overflow. */
#ifndef MTL_LOSS_WEIGHTING_H
#define MTL_LOSS_WEIGHTING_H

#include "tasks.h"
#include "util.h"

/* ---- homoscedastic uncertainty ---------------------------------------------- */

enum { UNCERTAINTY_STATE_LEN = 4 * NUM_TASKS }; /* doubles in uncertainty_pack's output */

typedef struct {
    double lr;                          /* Adam's learning rate of s (--uncertainty-lr) */
    double s[NUM_TASKS];                /* log-variances */
    double m[NUM_TASKS], v[NUM_TASKS];  /* Adam moments of s */
    long t[NUM_TASKS];                  /* Adam steps of each s_i (steps with task i) */
    double grad[NUM_TASKS];             /* dL/ds_i of the last update (NaN: task absent) */
} UncertaintyState;

/* s_i = -log lambda_i; every lambda > 0 (train_opts.c checks it). */
void uncertainty_init(UncertaintyState *u, double lr, const float lambda[NUM_TASKS]);
/* w_i = exp(-s_i). */
double uncertainty_weight(const UncertaintyState *u, int task);
/* One Adam step on s_i for each task in `tasks`, from its loss[i] of the
 * step that used the current weights. */
void uncertainty_update(UncertaintyState *u, int tasks, const double loss[NUM_TASKS]);
/* What a checkpoint carries: s[NUM_TASKS], m[..], v[..], t[..]. */
void uncertainty_pack(const UncertaintyState *u, double out[UNCERTAINTY_STATE_LEN]);
/* Refuses a wrong count, a non-finite value, v < 0 or a t that is not a
 * count, naming what is wrong; u (its lr set) is untouched then. */
int uncertainty_unpack(UncertaintyState *u, const double *in, int n, Err *err);

/* ---- dynamic weight averaging ----------------------------------------------- */

enum { DWA_STATE_LEN = 4 * NUM_TASKS + 1 }; /* doubles in dwa_pack's output */

typedef struct {
    long period;                  /* P: steps per averaging period (>= 1) */
    double temperature;           /* T */
    double lambda[NUM_TASKS];     /* the weights of periods 0 and 1 */
    double sum[NUM_TASKS];        /* this period's losses, summed in step order ... */
    long n[NUM_TASKS];            /* ... and counted */
    double mean_prev[NUM_TASKS];  /* Lbar_i of the last closed period (0: none) */
    double r[NUM_TASKS];          /* the ratios behind w (1 until known) */
    long steps;                   /* steps fed in so far */
    double w[NUM_TASKS];          /* the current period's weights */
    double mean_closed[NUM_TASKS];/* Lbar_i of a period closed by the last update (NaN: none / task absent) */
} DwaState;

void dwa_init(DwaState *d, long period, double temperature, const float lambda[NUM_TASKS]);
/* Feed one step's losses (the tasks in `tasks`); at the end of a period the
 * ratios and the weights of the next one. */
void dwa_update(DwaState *d, int tasks, const double loss[NUM_TASKS]);
/* w = K lbar softmax(r / T), the weights of a period >= 2. */
void dwa_weights(const DwaState *d, const double r[NUM_TASKS], double w[NUM_TASKS]);
/* What a checkpoint carries: sum[NUM_TASKS], n[..], mean_prev[..], r[..], steps. */
void dwa_pack(const DwaState *d, double out[DWA_STATE_LEN]);
/* Refuses a wrong count, a non-finite or negative value or counts that are
 * not whole numbers, naming what is wrong; d (its period, T and lambdas set)
 * is untouched then. The weights follow from the state. */
int dwa_unpack(DwaState *d, const double *in, int n, Err *err);

#endif

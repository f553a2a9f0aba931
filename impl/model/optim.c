/* optim.c — AdamW defaults and the linear warmup/decay schedule. */
#include "optim.h"

#include <math.h>

AdamWParams adamw_defaults(void) {
    AdamWParams p = {.lr = 2e-5f,
                     .beta1 = 0.9f,
                     .beta2 = 0.999f,
                     .eps = 1e-8f,
                     .weight_decay = 0.01f,
                     .clip = 1.0f};
    return p;
}

float lr_schedule(int step, int total, int warmup, float peak) {
    if (step < 0) step = 0;
    if (warmup > 0 && step < warmup) return peak * (float)step / (float)warmup;
    if (total <= warmup) return 0.0f;
    double frac = (double)(total - step) / (double)(total - warmup);
    if (frac < 0.0) frac = 0.0;
    return (float)(peak * frac);
}

static const double ADAM_BETA1 = 0.9, ADAM_BETA2 = 0.999, ADAM_EPS = 1e-8;

double adam_scalar_step(double p, double g, double *m, double *v, long t, double lr) {
    double bc1 = 1.0 - pow(ADAM_BETA1, (double)t), bc2 = 1.0 - pow(ADAM_BETA2, (double)t);
    *m = ADAM_BETA1 * *m + (1.0 - ADAM_BETA1) * g;
    *v = ADAM_BETA2 * *v + (1.0 - ADAM_BETA2) * g * g;
    return p - lr / bc1 * *m / (sqrt(*v) / sqrt(bc2) + ADAM_EPS);
}

/* optim.c — AdamW defaults and the linear warmup/decay schedule. */
#include "optim.h"

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

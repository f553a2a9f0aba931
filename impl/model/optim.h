/* optim.h — AdamW hyper-parameters and the learning-rate schedule.
 * The update itself runs on the backend (Backend.adamw_update), driven per
 * parameter tensor by model_adamw_step() in model.h. */
#ifndef MTL_OPTIM_H
#define MTL_OPTIM_H

/* The one record of these settings: `mtl train` parses its options into
 * TrainOptions.adamw (defaults from adamw_defaults()). */
typedef struct {
    float lr;           /* peak learning rate (lr_schedule scales it per step) */
    float beta1, beta2; /* moment decay rates */
    float eps;          /* added to sqrt(vhat) */
    float weight_decay; /* decoupled; 0 for biases and LayerNorm (BERT's no_decay) */
    float clip;         /* max global grad L2 norm; <= 0 disables clipping */
} AdamWParams;

/* BERT fine-tuning defaults: 2e-5, 0.9, 0.999, 1e-8, 0.01, clip 1.0. */
AdamWParams adamw_defaults(void);

/* Linear warmup then linear decay to 0 (the HF "linear" schedule), for the
 * 0-based step s of `total` steps with `warmup` warmup steps:
 *   s <  warmup:  lr = peak * s / warmup
 *   s >= warmup:  lr = peak * max(0, (total - s) / (total - warmup))
 * warmup <= 0 means no warmup; total <= warmup gives peak during warmup and 0
 * after it. */
float lr_schedule(int step, int total, int warmup, float peak);

/* One step of PyTorch's torch.optim.Adam (betas 0.9/0.999, eps 1e-8, no
 * weight decay) on a scalar double parameter p with gradient g: the learned
 * loss weights (gradnorm.h, loss_weighting.h). *m, *v are its moments, t its
 * step number counting this one (1, 2, ...). Returns the new p:
 *   m = 0.9 m + 0.1 g;  v = 0.999 v + 0.001 g^2
 *   p - lr / (1 - 0.9^t) * m / (sqrt(v) / sqrt(1 - 0.999^t) + 1e-8) */
double adam_scalar_step(double p, double g, double *m, double *v, long t, double lr);

#endif

/* lora.c — the low-rank update of a frozen linear layer (ops.h: lora), forward
 * and backward: four small GEMMs through the same sgemm as the linear layers,
 * always in fp32. */
#include "cpu_internal.h"

/* u = inp . a^T ; out += s * u . b^T */
void cpu_lora_forward(Backend *be, float *out, float *u, const float *inp, const float *a,
                      const float *b, int N, int C, int R, int OC, float s) {
    if (N <= 0 || R <= 0) return;
    int nth = cpu_threads(be);
    cpu_sgemm(nth, 0, 1, N, R, C, 1.0f, inp, C, a, C, 0.0f, u, R);
    cpu_sgemm(nth, 0, 1, N, OC, R, s, u, R, b, R, 1.0f, out, OC);
}

/* du = s * dout . b ; db += s * dout^T . u ; da += du^T . inp ; dinp += du . a */
void cpu_lora_backward(Backend *be, float *dinp, float *da, float *db, float *du,
                       const float *dout, const float *inp, const float *u, const float *a,
                       const float *b, int N, int C, int R, int OC, float s) {
    if (N <= 0 || R <= 0) return;
    int nth = cpu_threads(be);
    cpu_sgemm(nth, 0, 0, N, R, OC, s, dout, OC, b, R, 0.0f, du, R);
    cpu_sgemm(nth, 1, 0, OC, R, N, s, dout, OC, u, R, 1.0f, db, R);
    cpu_sgemm(nth, 1, 0, R, C, N, 1.0f, du, R, inp, C, 1.0f, da, C);
    if (dinp) cpu_sgemm(nth, 0, 0, N, C, R, 1.0f, du, R, a, C, 1.0f, dinp, C);
}

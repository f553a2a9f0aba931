/* backend_open (the one place a device becomes a backend) and the words of
 * the devices and precisions; when the CUDA backend is not compiled in,
 * backend_cuda() says so. */
#include <stdio.h>

#include "backend.h"

#ifndef MTL_CUDA
Backend *backend_cuda(int tf32, char *why, size_t why_len) {
    (void)tf32;
    if (why) snprintf(why, why_len, "this build has no CUDA backend (rebuild with USE_CUDA=1 where nvcc is installed)");
    return NULL;
}
#endif

const EnumName DEVICE_NAMES[] = {{"cpu", DEVICE_CPU}, {"cuda", DEVICE_CUDA}, {NULL, 0}};
const EnumName PRECISION_NAMES[] = {{"fp32", PREC_FP32}, {"bf16", PREC_BF16}, {NULL, 0}};

Backend *backend_open(Device device, int threads, int tf32, char *why, size_t why_len) {
    if (device == DEVICE_CPU) return backend_cpu(threads);
    if (device == DEVICE_CUDA) return backend_cuda(tf32, why, why_len);
    if (why) snprintf(why, why_len, "unknown device %d (cpu or cuda)", (int)device);
    return NULL;
}

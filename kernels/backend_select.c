/* backend_open (the one place a device name becomes a backend); when the
 * CUDA backend is not compiled in, backend_cuda() says so. */
#include <stdio.h>
#include <string.h>

#include "backend.h"

#ifndef MTL_CUDA
Backend *backend_cuda(int tf32, char *why, size_t why_len) {
    (void)tf32;
    if (why) snprintf(why, why_len, "this build has no CUDA backend (rebuild with USE_CUDA=1 where nvcc is installed)");
    return NULL;
}
#endif

Backend *backend_open(const char *device, int threads, int tf32, char *why, size_t why_len) {
    if (!strcmp(device, "cpu")) return backend_cpu(threads);
    if (!strcmp(device, "cuda")) return backend_cuda(tf32, why, why_len);
    if (why) snprintf(why, why_len, "unknown device '%s' (cpu or cuda)", device);
    return NULL;
}

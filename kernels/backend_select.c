/* When the CUDA backend is not compiled in, backend_cuda() says so. */
#include <stdio.h>

#include "backend.h"

#ifndef MTL_CUDA
Backend *backend_cuda(int tf32, char *why, size_t why_len) {
    (void)tf32;
    if (why) snprintf(why, why_len, "this build has no CUDA backend (rebuild with USE_CUDA=1 where nvcc is installed)");
    return NULL;
}
#endif

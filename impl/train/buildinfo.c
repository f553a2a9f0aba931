#include "buildinfo.h"

#include <cblas.h>
#include <stdio.h>

#include "cpu/cpu_blas.h"

#ifndef MTL_GIT_COMMIT
#define MTL_GIT_COMMIT "unknown"
#endif
#ifndef MTL_CFLAGS
#define MTL_CFLAGS "unknown"
#endif

const char *build_git_commit(void) { return MTL_GIT_COMMIT; }

const char *build_compiler(void) {
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#else
    return "unknown";
#endif
}

const char *build_cflags(void) { return MTL_CFLAGS; }

const char *build_blas(void) {
    static char buf[320]; /* written once, read-only afterwards */
    const char *detected = cpu_blas_detected_core();
    const char *used = cpu_blas_setup(); /* the core the kernels will really use */
    const char *user = cpu_blas_user_core();
    if (user)
        snprintf(buf, sizeof buf, "%s (core %s, set by OPENBLAS_CORETYPE=%s)", openblas_get_config(), used, user);
    else
        snprintf(buf, sizeof buf, "%s (core %s, detected at load %s)", openblas_get_config(), used, detected);
    return buf;
}

int build_has_cuda(void) {
#ifdef MTL_CUDA
    return 1;
#else
    return 0;
#endif
}

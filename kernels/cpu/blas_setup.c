/* blas_setup.c — pick the right OpenBLAS kernels (see cpu_blas.h). */
#include "cpu_blas.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Exported by DYNAMIC_ARCH builds of OpenBLAS only, hence weak: a build
 * without them simply keeps whatever core it has. */
extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));

static char detected_core[32]; /* written once, by the first setup call */
static char user_core[32];     /* OPENBLAS_CORETYPE as the user set it ("" unset), read by that call */

/* The best OpenBLAS core type this CPU can run, or NULL if we have no opinion. */
static const char *wanted_core(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return NULL;
}

/* True when the core is one of OpenBLAS's pre-AVX2 x86 fallbacks. */
static int core_is_fallback(const char *core) {
    static const char *const old[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem",
                                      "Atom", "Sandybridge", "Katmai", "Northwood", NULL};
    for (int i = 0; old[i]; i++)
        if (!strcasecmp(core, old[i])) return 1;
    return 0;
}

int cpu_blas_core_below(const char *core, const char *want) {
    if (!core || !want) return 0;
    if (core_is_fallback(core)) return 1;
    return !strcmp(want, "SkylakeX") && (!strcasecmp(core, "Haswell") || !strcasecmp(core, "Zen"));
}

const char *cpu_blas_setup(void) {
    if (detected_core[0]) return openblas_get_corename();
    snprintf(detected_core, sizeof detected_core, "%s", openblas_get_corename());
    const char *env = getenv("OPENBLAS_CORETYPE");
    snprintf(user_core, sizeof user_core, "%s", env ? env : "");
    const char *want = wanted_core();
    if (env || !want || !cpu_blas_core_below(detected_core, want) ||
        !gotoblas_dynamic_init || !gotoblas_dynamic_quit)
        return openblas_get_corename();
    setenv("OPENBLAS_CORETYPE", want, 0);
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    return openblas_get_corename();
}

const char *cpu_blas_detected_core(void) {
    return detected_core[0] ? detected_core : openblas_get_corename();
}

const char *cpu_blas_user_core(void) {
    cpu_blas_setup();
    return user_core[0] ? user_core : NULL;
}

const char *cpu_blas_note(void) {
    static char note[320]; /* written once, like the setup */
    const char *core = cpu_blas_setup(), *want = wanted_core();
    if (!user_core[0] || !cpu_blas_core_below(core, want)) return NULL;
    if (!note[0])
        snprintf(note, sizeof note,
                 "OPENBLAS_CORETYPE=%s in the environment holds OpenBLAS to its %s kernels, below the %s "
                 "kernels this CPU can run (sgemm at about half this CPU's peak, or less): unset it unless "
                 "that is what you mean to measure",
                 user_core, core, want);
    return note;
}

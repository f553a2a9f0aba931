/* cpu_blas.h — OpenBLAS set-up for the CPU backend, public to bench/ and
 * impl/ (include as "cpu/cpu_blas.h").
 *
 * OpenBLAS 0.3.21 (Debian 12) built with DYNAMIC_ARCH does not know recent
 * Intel models and falls back to its "Prescott" (SSE3) kernels — about 5x
 * slower sgemm on an AVX-512 machine (OpenBLAS issue #4267, fixed in
 * 0.3.25). The documented override is the environment variable
 * OPENBLAS_CORETYPE, read when the library loads. cpu_blas_setup() applies the
 * same override in-process when the variable is unset and the detected core
 * lacks instructions the CPU has: it sets OPENBLAS_CORETYPE and re-runs
 * OpenBLAS's dynamic core selection. Idempotent, call it before any sgemm
 * (backend_cpu() does). */
#ifndef MTL_CPU_BLAS_H
#define MTL_CPU_BLAS_H

/* Returns the OpenBLAS core name in use after the fix (e.g. "SkylakeX"). */
const char *cpu_blas_setup(void);

/* The core name OpenBLAS picked by itself at load time (before any fix), or
 * the current one when cpu_blas_setup() has not run. */
const char *cpu_blas_detected_core(void);

/* OPENBLAS_CORETYPE as the user set it before the setup (it is then what
 * OpenBLAS "detected" at load), or NULL when unset. */
const char *cpu_blas_user_core(void);

/* 1 when OpenBLAS core `core` lacks instructions that core `want` (the best
 * this CPU runs: "SkylakeX" with AVX-512, "Haswell" with AVX2 + FMA) has: a
 * pre-AVX2 fallback, or an AVX2 core (Haswell, Zen) where SkylakeX runs.
 * 0 when either is NULL. */
int cpu_blas_core_below(const char *core, const char *want);

/* A note when the user's OPENBLAS_CORETYPE holds OpenBLAS below what this
 * CPU runs (the setup never overrides the user), else NULL. Static text. */
const char *cpu_blas_note(void);

#endif

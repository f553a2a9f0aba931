/* cpu_dnnl.h — what the CPU backend's two oneDNN users share (gemm_bf16.c,
 * gemm_packed.c). Only in builds with oneDNN (MTL_DNNL). */
#ifndef MTL_CPU_DNNL_H
#define MTL_CPU_DNNL_H
#ifdef MTL_DNNL
#include <dnnl.h>

/* Dies with "oneDNN: <what> failed (status N)" unless s is dnnl_success. */
void cpu_dnnl_check(dnnl_status_t s, const char *what);

#endif
#endif

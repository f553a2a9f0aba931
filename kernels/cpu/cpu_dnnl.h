/* cpu_dnnl.h — what the CPU backend's two oneDNN users share (gemm_bf16.c,
 * gemm_packed.c). Only in builds with oneDNN (MTL_DNNL). */
#ifndef MTL_CPU_DNNL_H
#define MTL_CPU_DNNL_H
#ifdef MTL_DNNL
#include <dnnl.h>

/* Dies with "oneDNN: <what> failed (status N)" unless s is dnnl_success. */
void cpu_dnnl_check(dnnl_status_t s, const char *what);

/* A memory object of layout md with no data yet (dnnl_memory_set_data_handle
 * points it at the caller's buffer on each call). */
dnnl_memory_t cpu_dnnl_unbound(const dnnl_memory_desc_t *md, dnnl_engine_t engine);

/* The implementation oneDNN chose for pd ("brg:avx512_core", ...) into out,
 * which keeps its old text when the library does not say. */
void cpu_dnnl_impl(const_dnnl_primitive_desc_t pd, char *out, size_t len);

#endif
#endif

/* cuda_dist.h — the data-parallel gradient sum on GPUs over NCCL
 * (kernels/cuda/dist_nccl.cu; called by impl/train/dist.c, which bootstraps the
 * communicator over MPI). Each returns 0, or -1 with `why` filled. */
#ifndef MTL_CUDA_DIST_H
#define MTL_CUDA_DIST_H

#include <stddef.h>

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

size_t cu_dist_id_bytes(void);
/* A new ncclUniqueId into id (cu_dist_id_bytes bytes), on rank 0. */
int cu_dist_new_id(void *id, char *why, size_t why_len);
/* Join the communicator of nranks ranks on be's device. */
int cu_dist_init(Backend *be, const void *id, int nranks, int rank, char *why, size_t why_len);
/* x[n] (device memory) = its sum over the ranks, in rank order (bitwise the
 * same on every rank and for every run with the same N). */
void cu_dist_sum(Backend *be, float *x, size_t n);
void cu_dist_free(void);

#ifdef __cplusplus
}
#endif

#endif

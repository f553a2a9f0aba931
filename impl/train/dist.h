/* dist.h — data parallelism over MPI: `mpirun -np N build/mtl train ...`.
 *
 * Design. The sampler still produces ONE global sequence of batches of
 * --batch rows; rank r computes rows [r*B/N, (r+1)*B/N) of each (its share;
 * dist_share). Each rank's loss is its rows' share of the global batch's loss
 * (normalised by the global batch's valid-target counts, Batch.sliced) and
 * its dropout masks are the global batch's (counters offset by the first
 * row), so the ranks' gradients sum to exactly the gradient one process
 * computes on the whole batch, up to the order of the additions. The sum is
 * done here, in rank order, by our own reduce-scatter + all-gather (not
 * MPI_Allreduce, whose summation order depends on the MPI library, N and the
 * message size): element k of the result is
 *     ((g_0[k] + g_1[k]) + g_2[k]) + ... + g_{N-1}[k]
 * on every rank, whatever the network, so the same N gives bitwise the same
 * run, and every rank applies the same AdamW update to the same weights
 * (checked: dist_check_same).
 *
 * Without MPI (built with USE_MPI=0, or mtl not started by an MPI launcher)
 * there is one rank and every function below is the identity / a no-op.
 *
 * Faults: a rank that fails prints "rank r: <message>" and calls dist_abort,
 * which ends every rank (MPI_Abort); a rank killed by a signal makes mpirun
 * end the job. Either way no rank waits forever in a collective. */
#ifndef MTL_DIST_H
#define MTL_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "util.h"

/* Start MPI when launched by mpirun / srun (environment variables of
 * Open MPI, MPICH / PMI or PMIx); otherwise, or in a build without MPI, one
 * rank. Call once, first thing in main. Returns 0, or -1 with a message on
 * stderr when the launcher asks for MPI and this build has none. */
int dist_init(int *argc, char ***argv);
void dist_finalize(void);
int dist_rank(void);
int dist_size(void);
/* The MPI library of this run, "Open MPI v4.1.4" (for the manifest), or
 * "none" when there is one process; and what the build has ("built in
 * (MPI 3.1 headers)" / "not built", for mtl version). */
const char *dist_library(void);
const char *dist_build(void);

/* Rows [*lo, *hi) of a global batch of B rows that this rank computes. */
void dist_share(int B, int *lo, int *hi);

/* In-place sum over the ranks, element k = sum in rank order (see above):
 * dist_reduce_scatter then dist_all_gather over even shards. */
void dist_sum_floats(float *x, size_t n);
/* Shards of an n-element vector: rank r owns [b[r], b[r+1]) (b has N+1
 * entries; an even split). */
void dist_shards(size_t n, size_t *b);
/* Host x: this rank's shard becomes the sum over the ranks of their x on it,
 * in rank order (an all-to-all of the shards in rounds of 4M floats, scratch
 * 16 MB per rank); the rest of x is left as it was. Bytes sent per rank:
 * (N-1)/N of the vector. */
void dist_reduce_scatter(float *x, const size_t *b);
/* Host x: every rank's shard to every rank (the other half of an all-reduce;
 * with dist_reduce_scatter, ZeRO-1: AdamW on the own shard, then the weights
 * gathered). */
void dist_all_gather(float *x, const size_t *b);
void dist_sum_doubles(double *x, int n);
/* Overlap (PyTorch DDP's idea on our rank-order sum): the reduce-scatter of
 * a host vector x[n] cut into fixed buckets (the same cut on every rank),
 * started bucket by bucket while the backward still runs.
 *   begin:  the receives for every bucket are posted (into a buffer of
 *           (N-1) x this rank's shard);
 *   ready:  bucket k of x holds this rank's final values: its pieces go to
 *           the ranks that own them (non-blocking), and pending transfers
 *           are pushed on (MPI moves data only inside MPI calls);
 *   finish: the buckets not yet ready are sent, every transfer is waited
 *           for, and this rank's shard is summed in rank order.
 * Element k of the result is ((g_0[k] + g_1[k]) + ...) + g_{N-1}[k], the
 * same float operations as dist_reduce_scatter: bitwise its result, whatever
 * the cut and whichever buckets a rank reports (a rank without rows in the
 * batch reports none). x must not change between ready(k) and finish. */
typedef struct DistOverlap DistOverlap;
/* ends[k] = end of bucket k (increasing, ends[nb-1] = b[N]); b: the shards. */
DistOverlap *dist_overlap_new(const size_t *ends, int nb, const size_t *b);
void dist_overlap_free(DistOverlap *o);
void dist_overlap_begin(DistOverlap *o, float *x);
void dist_overlap_ready(DistOverlap *o, int k);
void dist_overlap_finish(DistOverlap *o);
/* Seconds spent inside ready (posting, pushing) and finish (the exposed
 * part: waiting and summing) since the last call; both reset. */
void dist_overlap_times(DistOverlap *o, double *in_ready, double *in_finish);
/* The same sum of x[n] in be's memory: in place on the CPU backend; on CUDA
 * over NCCL (kernels/cuda/dist_nccl.cu, the same order) after
 * dist_gpu_init, else staged through the host. */
void dist_sum_backend(Backend *be, float *x, size_t n);
/* The same sum of a [nrows_all, ncols] matrix in be's memory of which only
 * the listed rows can be non-zero on any rank (the others are 0 everywhere,
 * so their sum is 0 too): on the host only those rows travel (a batch's
 * word-embedding gradient: ~1k of 30k rows). `rows` must be the same list
 * on every rank. Other backends sum the whole matrix. */
void dist_sum_rows(Backend *be, float *x, size_t nrows_all, size_t ncols, const int *rows, int nrows);
/* GPU ranks: join the job's NCCL communicator on be's device (rank 0 makes
 * the id, MPI broadcasts it). 0, or -1 with err. No-op with one rank or on
 * the CPU; without NCCL in the build the sums are staged through the host. */
int dist_gpu_init(Backend *be, Err *err);
/* 1 when every rank passes the same 32 bytes (e.g. a sha256 of its weights);
 * on rank 0, *first_diff is the lowest rank whose bytes differ (or -1). */
int dist_check_same(const uint8_t digest[32], int *first_diff);
/* End every rank now with exit code `code` (exit(code) with one rank). */
_Noreturn void dist_abort(int code);
/* The failure about to be returned is every rank's, decided together (a
 * stop signal all ranks agreed on): main then finalizes MPI and exits with
 * it instead of aborting the job. */
void dist_failure_is_collective(void);
int dist_collective_failure(void);
void dist_barrier(void);

#endif

/* dist.c — data parallelism over MPI (design in dist.h). Compiled with MPI
 * when MTL_MPI is defined (make USE_MPI=1 / auto with mpicc present). */
#include "dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static int g_rank = 0, g_size = 1, g_collective;

void dist_failure_is_collective(void) { g_collective = 1; }
int dist_collective_failure(void) { return g_collective; }

int dist_rank(void) { return g_rank; }
int dist_size(void) { return g_size; }

void dist_share(int B, int *lo, int *hi) {
    *lo = (int)((long long)B * g_rank / g_size);
    *hi = (int)((long long)B * (g_rank + 1) / g_size);
}

void dist_shards(size_t n, size_t *b) {
    for (int r = 0; r <= g_size; r++) b[r] = n / (size_t)g_size * (size_t)r + (n % (size_t)g_size) * (size_t)r / (size_t)g_size;
}

void dist_sum_floats(float *x, size_t n) {
    if (g_size == 1 || n == 0) return;
    size_t *b = xmalloc(((size_t)g_size + 1) * sizeof *b);
    dist_shards(n, b);
    dist_reduce_scatter(x, b);
    dist_all_gather(x, b);
    free(b);
}

/* Was this process started by an MPI launcher? (Open MPI, MPICH/Hydra,
 * Slurm PMI, PMIx) */
static int launched_by_mpi(void) {
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

#ifdef MTL_NCCL
#include "cuda/cuda_dist.h"
static int g_nccl; /* cu_dist_init done */
#endif

static int is_host_backend(const Backend *be) { return strcmp(be->name, "cpu") == 0; }

/* x in device memory: download, sum on the host, upload. */
static void sum_staged(Backend *be, float *x, size_t n) {
    float *h = xmalloc(n * sizeof(float));
    be->download(be, h, x, n * sizeof(float));
    dist_sum_floats(h, n);
    be->upload(be, x, h, n * sizeof(float));
    free(h);
}

void dist_sum_backend(Backend *be, float *x, size_t n) {
    if (dist_size() == 1) return;
    if (is_host_backend(be)) {
        dist_sum_floats(x, n);
        return;
    }
#ifdef MTL_NCCL
    if (g_nccl) {
        cu_dist_sum(be, x, n);
        return;
    }
#endif
    sum_staged(be, x, n);
}

void dist_sum_rows(Backend *be, float *x, size_t nrows_all, size_t ncols, const int *rows, int nrows) {
    if (dist_size() == 1) return;
    if (!is_host_backend(be)) {
        dist_sum_backend(be, x, nrows_all * ncols);
        return;
    }
    float *packed = xmalloc((size_t)nrows * ncols * sizeof(float) + 1);
    for (int k = 0; k < nrows; k++) memcpy(packed + (size_t)k * ncols, x + (size_t)rows[k] * ncols, ncols * sizeof(float));
    dist_sum_floats(packed, (size_t)nrows * ncols);
    for (int k = 0; k < nrows; k++) memcpy(x + (size_t)rows[k] * ncols, packed + (size_t)k * ncols, ncols * sizeof(float));
    free(packed);
}

/* ---- overlapped reduce-scatter (dist.h) ---------------------------------- */

#ifdef MTL_MPI
#include <mpi.h>
typedef MPI_Request DistRequest;
#else
typedef int DistRequest;
#endif

struct DistOverlap {
    int nb;             /* buckets */
    size_t *ends;       /* [nb]: bucket k is [ends[k-1], ends[k]) (ends[-1] = 0) */
    size_t *b;          /* [N+1]: the shards */
    float *x, *recv;    /* recv: the other ranks' values on my shard, (N-1) x shard */
    unsigned char *sent; /* [nb] */
    DistRequest *req;
    int nreq, cap;
    double t_ready, t_finish;
};

/* Bucket k's piece in rank j's shard: [*lo, *hi) (empty when *lo >= *hi). */
static void piece_of(const DistOverlap *o, int k, int j, size_t *lo, size_t *hi) {
    size_t s = k ? o->ends[k - 1] : 0, e = o->ends[k];
    *lo = s > o->b[j] ? s : o->b[j];
    *hi = e < o->b[j + 1] ? e : o->b[j + 1];
}

/* recv slot of rank i (i != me): ranks below me first, then those above */
static float *recv_slot(const DistOverlap *o, int i) {
    size_t mine = o->b[g_rank + 1] - o->b[g_rank];
    return o->recv + (size_t)(i < g_rank ? i : i - 1) * mine;
}

DistOverlap *dist_overlap_new(const size_t *ends, int nb, const size_t *b) {
    if (nb < 1 || nb > 32767) die("dist_overlap_new: %d buckets (1..32767: MPI tags)", nb);
    DistOverlap *o = xcalloc(1, sizeof *o);
    o->nb = nb;
    o->ends = xmalloc((size_t)nb * sizeof *o->ends);
    memcpy(o->ends, ends, (size_t)nb * sizeof *ends);
    o->b = xmalloc(((size_t)g_size + 1) * sizeof *o->b);
    memcpy(o->b, b, ((size_t)g_size + 1) * sizeof *b);
    if (ends[nb - 1] != b[g_size]) die("dist_overlap_new: the buckets end at %zu, the shards at %zu", ends[nb - 1], b[g_size]);
    for (int k = 0; k < nb; k++)
        if ((k && ends[k] < ends[k - 1]) || ends[k] - (k ? ends[k - 1] : 0) > (size_t)INT32_MAX)
            die("dist_overlap_new: bucket %d is not an increasing range of at most 2^31-1 floats", k);
    size_t mine = b[g_rank + 1] - b[g_rank];
    o->recv = xmalloc(((size_t)g_size - 1) * mine * sizeof(float) + 1);
    o->sent = xcalloc((size_t)nb, 1);
    /* a bucket has at most one piece per rank: N-1 receives and N-1 sends */
    o->cap = 2 * nb * (g_size > 1 ? g_size - 1 : 1);
    o->req = xmalloc((size_t)o->cap * sizeof *o->req);
    return o;
}

void dist_overlap_free(DistOverlap *o) {
    if (!o) return;
    free(o->ends), free(o->b), free(o->recv), free(o->sent), free(o->req);
    free(o);
}

void dist_overlap_times(DistOverlap *o, double *in_ready, double *in_finish) {
    *in_ready = o->t_ready;
    *in_finish = o->t_finish;
    o->t_ready = o->t_finish = 0;
}

#ifdef MTL_MPI
void dist_overlap_begin(DistOverlap *o, float *x) {
    if (o->nreq) die("dist_overlap_begin: the last reduction was not finished");
    o->x = x;
    memset(o->sent, 0, (size_t)o->nb);
    for (int k = 0; k < o->nb; k++) {
        size_t lo, hi;
        piece_of(o, k, g_rank, &lo, &hi);
        if (lo >= hi) continue;
        for (int i = 0; i < g_size; i++)
            if (i != g_rank)
                MPI_Irecv(recv_slot(o, i) + (lo - o->b[g_rank]), (int)(hi - lo), MPI_FLOAT, i, k, MPI_COMM_WORLD,
                          &o->req[o->nreq++]);
    }
}

static void send_bucket(DistOverlap *o, int k) {
    o->sent[k] = 1;
    for (int j = 0; j < g_size; j++) {
        size_t lo, hi;
        piece_of(o, k, j, &lo, &hi);
        if (j != g_rank && lo < hi)
            MPI_Isend(o->x + lo, (int)(hi - lo), MPI_FLOAT, j, k, MPI_COMM_WORLD, &o->req[o->nreq++]);
    }
}

void dist_overlap_ready(DistOverlap *o, int k) {
    if (k < 0 || k >= o->nb || o->sent[k] || !o->x) return;
    double t0 = now_seconds();
    send_bucket(o, k);
    int done; /* pushes the transfers on; completed requests become MPI_REQUEST_NULL */
    MPI_Testall(o->nreq, o->req, &done, MPI_STATUSES_IGNORE);
    o->t_ready += now_seconds() - t0;
}

void dist_overlap_finish(DistOverlap *o) {
    double t0 = now_seconds();
    for (int k = 0; k < o->nb; k++)
        if (!o->sent[k]) send_bucket(o, k);
    MPI_Waitall(o->nreq, o->req, MPI_STATUSES_IGNORE);
    o->nreq = 0;
    float *out = o->x + o->b[g_rank];
    size_t mine = o->b[g_rank + 1] - o->b[g_rank];
    for (size_t e = 0; e < mine; e++) { /* in rank order, as dist_reduce_scatter */
        float s = g_rank == 0 ? out[e] : recv_slot(o, 0)[e];
        for (int i = 1; i < g_size; i++) s += i == g_rank ? out[e] : recv_slot(o, i)[e];
        out[e] = s;
    }
    o->x = NULL;
    o->t_finish += now_seconds() - t0;
}
#else
void dist_overlap_begin(DistOverlap *o, float *x) { o->x = x; }
void dist_overlap_ready(DistOverlap *o, int k) { (void)o, (void)k; }
void dist_overlap_finish(DistOverlap *o) { o->x = NULL; }
#endif

#ifdef MTL_MPI
static int g_mpi; /* MPI_Init was called */
static char g_lib[MPI_MAX_LIBRARY_VERSION_STRING] = "none";

int dist_init(int *argc, char ***argv) {
    if (!launched_by_mpi()) return 0;
    MPI_Init(argc, argv);
    g_mpi = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    /* errors in MPI calls end the job (the default, stated) */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(v, &len);
    v[strcspn(v, ",\n")] = '\0'; /* "Open MPI v4.1.4, package: ..." -> "Open MPI v4.1.4" */
    snprintf(g_lib, sizeof g_lib, "%s", v);
    return 0;
}

void dist_finalize(void) {
#ifdef MTL_NCCL
    if (g_nccl) cu_dist_free();
    g_nccl = 0;
#endif
    if (g_mpi) MPI_Finalize();
    g_mpi = 0;
}

int dist_gpu_init(Backend *be, Err *err) {
    if (g_size == 1 || is_host_backend(be)) return 0;
#ifdef MTL_NCCL
    if (g_nccl) return 0;
    char id[256], why[512] = "";
    size_t nb = cu_dist_id_bytes();
    if (nb > sizeof id) return err_set(err, "NCCL id of %zu bytes", nb);
    int ok = g_rank != 0 || cu_dist_new_id(id, why, sizeof why) == 0;
    MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (!ok) return err_set(err, "NCCL: %s", g_rank == 0 ? why : "rank 0 could not create the NCCL id");
    MPI_Bcast(id, (int)nb, MPI_BYTE, 0, MPI_COMM_WORLD);
    if (cu_dist_init(be, id, g_size, g_rank, why, sizeof why)) return err_set(err, "NCCL: %s", why);
    g_nccl = 1;
#else
    (void)err;
#endif
    return 0;
}

const char *dist_library(void) { return g_lib; }

#define STR2(x) #x
#define STR(x) STR2(x)
#ifdef MTL_NCCL
#define NCCL_NOTE ", NCCL for --device cuda"
#else
#define NCCL_NOTE ""
#endif
const char *dist_build(void) {
    return "built in (MPI " STR(MPI_VERSION) "." STR(MPI_SUBVERSION) " headers" NCCL_NOTE ")";
}

enum { ROUND = 1 << 22 }; /* floats of one rank's shard per all-to-all round */

/* Round k of rank j's shard: counts and offsets for the MPI calls (int:
 * vectors up to 2^31 floats, checked). */
static void round_of(const size_t *b, int j, size_t k, int *cnt, int *dsp) {
    size_t lo = b[j] + k * ROUND, hi = lo + ROUND;
    lo = lo < b[j + 1] ? lo : b[j + 1];
    hi = hi < b[j + 1] ? hi : b[j + 1];
    cnt[j] = (int)(hi - lo);
    dsp[j] = (int)lo;
}

static size_t rounds_of(const size_t *b) {
    size_t most = 0;
    for (int j = 0; j < g_size; j++) most = b[j + 1] - b[j] > most ? b[j + 1] - b[j] : most;
    if (b[g_size] > (size_t)INT32_MAX) die("dist: %zu floats exceed MPI's int counts", b[g_size]);
    return (most + ROUND - 1) / ROUND;
}

void dist_reduce_scatter(float *x, const size_t *b) {
    if (g_size == 1) return;
    int N = g_size;
    float *scratch = xmalloc((size_t)N * ROUND * sizeof(float));
    int *ib = xmalloc(4 * (size_t)N * sizeof(int)), *cnt = ib, *dsp = ib + N, *rcnt = ib + 2 * N, *rdsp = ib + 3 * N;
    size_t rounds = rounds_of(b);
    for (size_t k = 0; k < rounds; k++) {
        for (int j = 0; j < N; j++) round_of(b, j, k, cnt, dsp);
        int mine = cnt[g_rank];
        for (int i = 0; i < N; i++) rcnt[i] = mine, rdsp[i] = i * ROUND;
        MPI_Alltoallv(x, cnt, dsp, MPI_FLOAT, scratch, rcnt, rdsp, MPI_FLOAT, MPI_COMM_WORLD);
        float *out = x + dsp[g_rank];
        for (int e = 0; e < mine; e++) { /* in rank order */
            float s = scratch[e];
            for (int i = 1; i < N; i++) s += scratch[(size_t)i * ROUND + e];
            out[e] = s;
        }
    }
    free(ib);
    free(scratch);
}

void dist_all_gather(float *x, const size_t *b) {
    if (g_size == 1) return;
    int N = g_size, *ib = xmalloc(2 * (size_t)N * sizeof(int)), *cnt = ib, *dsp = ib + N;
    size_t rounds = rounds_of(b);
    for (size_t k = 0; k < rounds; k++) {
        for (int j = 0; j < N; j++) round_of(b, j, k, cnt, dsp);
        MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, cnt, dsp, MPI_FLOAT, MPI_COMM_WORLD);
    }
    free(ib);
}

void dist_sum_doubles(double *x, int n) {
    if (g_size == 1 || n <= 0) return;
    double *all = xmalloc((size_t)g_size * n * sizeof(double));
    MPI_Allgather(x, n, MPI_DOUBLE, all, n, MPI_DOUBLE, MPI_COMM_WORLD);
    for (int k = 0; k < n; k++) {
        double s = all[k];
        for (int i = 1; i < g_size; i++) s += all[(size_t)i * n + k];
        x[k] = s;
    }
    free(all);
}

int dist_check_same(const uint8_t digest[32], int *first_diff) {
    *first_diff = -1;
    if (g_size == 1) return 1;
    uint8_t *all = xmalloc((size_t)g_size * 32);
    MPI_Allgather(digest, 32, MPI_BYTE, all, 32, MPI_BYTE, MPI_COMM_WORLD);
    for (int i = 1; i < g_size && *first_diff < 0; i++)
        if (memcmp(all, all + (size_t)i * 32, 32)) *first_diff = i;
    free(all);
    return *first_diff < 0;
}

_Noreturn void dist_abort(int code) {
    fflush(stdout);
    fflush(stderr);
    if (g_mpi && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
    dist_finalize();
    exit(code);
}

void dist_barrier(void) {
    if (g_mpi) MPI_Barrier(MPI_COMM_WORLD);
}

#else /* one process, no MPI in this build */

/* The job size the launcher announces (1 when it says nothing). */
static long launcher_size(void) {
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v) return strtol(v, NULL, 10);
    }
    return 1;
}


int dist_init(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (launched_by_mpi() && launcher_size() > 1) {
        fprintf(stderr, "mtl: started as one of %ld MPI processes, but this build has no MPI "
                        "(install libopenmpi-dev, then `make USE_MPI=1`; see README)\n", launcher_size());
        return -1;
    }
    return 0;
}
void dist_finalize(void) {}
int dist_gpu_init(Backend *be, Err *err) {
    (void)be;
    (void)err;
    return 0;
}
const char *dist_library(void) { return "none"; }
const char *dist_build(void) { return "not built"; }
void dist_reduce_scatter(float *x, const size_t *b) { (void)x, (void)b; }
void dist_all_gather(float *x, const size_t *b) { (void)x, (void)b; }
void dist_sum_doubles(double *x, int n) { (void)x, (void)n; }
int dist_check_same(const uint8_t digest[32], int *first_diff) {
    (void)digest;
    *first_diff = -1;
    return 1;
}
_Noreturn void dist_abort(int code) {
    fflush(stdout);
    fflush(stderr);
    exit(code);
}
void dist_barrier(void) {}

#endif

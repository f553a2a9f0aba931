/* manifest.h — manifest.json of a run: what produced it, on what, from which
 * data. Fields: command, git commit and dirty flag, compiler and flags, BLAS,
 * CPU model and core count, OS, threads, device (GPU name and driver from
 * nvidia-smi when the device is cuda), seeds, sha256 + size of every data
 * file and of the vocab, start / end time (UTC, ISO 8601) and wall seconds. */
#ifndef MTL_MANIFEST_H
#define MTL_MANIFEST_H

#include "backend.h"
#include "util.h"

#define MANIFEST_MAX_FILES 64
#define MANIFEST_MAX_SEEDS 64

typedef struct {
    char role[128]; /* e.g. "conll2003/train", "vocab", "init/config.json" */
    char path[1024];
    char sha256[65];
    long long bytes;
} ManifestFile;

typedef struct {
    char command[4096];
    char device[16];
    int threads;
    char gpu[256];      /* "" when not on a GPU */
    char precision[96]; /* what the backend computes in (backend_precision_describe) */
    char start_time[32];
    double start_wall;  /* now_seconds() at manifest_begin */
    int n_seeds;
    long long seeds[MANIFEST_MAX_SEEDS];
    int n_files;
    ManifestFile files[MANIFEST_MAX_FILES];
} Manifest;

/* Record the command line, device, threads and the start time. */
void manifest_begin(Manifest *m, int argc, char **argv, Device device, int threads);
void manifest_add_seed(Manifest *m, long long seed);
/* Hash a file (raw bytes) and add it. Returns -1 with err if unreadable. */
int manifest_add_file(Manifest *m, const char *role, const char *path, Err *err);
/* Hash every regular file under dir (sub-directories to depth 2, sorted by
 * name) as "<role>/<relative path>" (e.g. the files of a --init checkpoint). */
int manifest_add_dir(Manifest *m, const char *role, const char *dir, Err *err);
/* --resume: every data file of the earlier manifest.json at old_path (same
 * role) must have the sha256 it has now, or the continued run would not be
 * the one that started. A missing old manifest is not an error. Returns 0,
 * or -1 with err naming the role, the file and both hashes. */
int manifest_check_same_data(const Manifest *now, const char *old_path, Err *err);
/* Write manifest.json atomically; `finished` adds end_time and wall_s. */
int manifest_write(const Manifest *m, const char *path, int finished, Err *err);

/* Helpers also used elsewhere: "YYYY-MM-DDTHH:MM:SSZ" now, and the CPU
 * model name from /proc/cpuinfo ("unknown" if absent). */
void utc_now_iso(char out[32]);
void cpu_model_name(char *out, size_t outlen);

#endif

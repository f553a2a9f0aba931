#include "manifest.h"

#include "dist.h"
#include "tokenizer.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "buildinfo.h"
#include "dist.h"
#include "jsonr.h"
#include "jsonw.h"
#include "sha256.h"

void utc_now_iso(char out[32]) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void cpu_model_name(char *out, size_t outlen) {
    snprintf(out, outlen, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        const char *colon = strchr(line, ':');
        if (!colon) continue;
        colon++;
        while (*colon == ' ' || *colon == '\t') colon++;
        snprintf(out, outlen, "%s", colon);
        out[strcspn(out, "\n")] = '\0';
        break;
    }
    fclose(f);
}

/* GPU name and driver through nvidia-smi (the manifest is informational; a
 * missing tool leaves "unknown"). */
static void gpu_description(char *out, size_t outlen) {
    snprintf(out, outlen, "unknown (nvidia-smi not available)");
    FILE *p = popen("nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null",
                    "r");
    if (!p) return;
    char line[256];
    if (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0]) snprintf(out, outlen, "%s", line);
    }
    pclose(p);
}

void manifest_begin(Manifest *m, int argc, char **argv, Device device, int threads) {
    memset(m, 0, sizeof *m);
    size_t used = 0;
    for (int i = 0; i < argc && used + 2 < sizeof m->command; i++) {
        int n = snprintf(m->command + used, sizeof m->command - used, "%s%s", i ? " " : "", argv[i]);
        if (n < 0) break;
        used += (size_t)n;
    }
    snprintf(m->device, sizeof m->device, "%s", enum_name(DEVICE_NAMES, device));
    m->threads = threads;
    if (device == DEVICE_CUDA) gpu_description(m->gpu, sizeof m->gpu);
    utc_now_iso(m->start_time);
    m->start_wall = now_seconds();
}

void manifest_add_seed(Manifest *m, long long seed) {
    if (m->n_seeds < MANIFEST_MAX_SEEDS) m->seeds[m->n_seeds++] = seed;
}

int manifest_add_file(Manifest *m, const char *role, const char *path, Err *err) {
    if (m->n_files >= MANIFEST_MAX_FILES) return err_set(err, "manifest: too many data files");
    ManifestFile *f = &m->files[m->n_files];
    if (strlen(role) >= sizeof f->role || strlen(path) >= sizeof f->path)
        return err_set(err, "manifest: name too long: %.200s (%.200s)", role, path);
    if (sha256_file_hex(path, f->sha256, err)) return -1;
    struct stat st;
    f->bytes = stat(path, &st) == 0 ? (long long)st.st_size : -1;
    memcpy(f->role, role, strlen(role) + 1);
    memcpy(f->path, path, strlen(path) + 1);
    m->n_files++;
    return 0;
}

static int skip_entry(const struct dirent *e) { return e->d_name[0] != '.'; }

/* Regular files of dir and its sub-directories (depth <= 2), by name. */
static int add_dir_files(Manifest *m, const char *role, const char *dir, int depth, Err *err) {
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, skip_entry, alphasort), rc = 0;
    if (n < 0) return err_set(err, "%s: cannot list the directory: %s", dir, strerror(errno));
    for (int i = 0; i < n; i++) {
        char path[1024], r[512];
        int np = snprintf(path, sizeof path, "%s/%s", dir, ents[i]->d_name);
        int nr = snprintf(r, sizeof r, "%s/%s", role, ents[i]->d_name);
        if (rc == 0 && (np >= (int)sizeof path || nr >= (int)sizeof m->files[0].role))
            rc = err_set(err, "%s/%s: path too long for the manifest", dir, ents[i]->d_name);
        struct stat st;
        if (rc == 0 && stat(path, &st) == 0) {
            if (S_ISREG(st.st_mode)) rc = manifest_add_file(m, r, path, err);
            else if (S_ISDIR(st.st_mode) && depth < 2) rc = add_dir_files(m, r, path, depth + 1, err);
        }
        free(ents[i]);
    }
    free(ents);
    return rc;
}

int manifest_add_dir(Manifest *m, const char *role, const char *dir, Err *err) {
    return add_dir_files(m, role, dir, 1, err);
}

static void write_build(JsonW *w) {
    const char *commit = build_git_commit();
    size_t n = strlen(commit);
    int dirty = n >= 6 && !strcmp(commit + n - 6, "-dirty");
    jw_str(w, "git_commit", commit);
    jw_bool(w, "git_dirty", dirty);
    jw_str(w, "compiler", build_compiler());
    jw_str(w, "cflags", build_cflags());
    jw_str(w, "blas", build_blas());
    jw_str(w, "unicode", tokenizer_unicode_info());
    jw_bool(w, "cuda_built", build_has_cuda());
}

static void write_machine(JsonW *w, const Manifest *m) {
    char cpu[256], host[256] = "unknown";
    cpu_model_name(cpu, sizeof cpu);
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    struct utsname u;
    char os[512] = "unknown";
    if (uname(&u) == 0) snprintf(os, sizeof os, "%s %s %s", u.sysname, u.release, u.machine);
    jw_str(w, "cpu_model", cpu);
    jw_int(w, "cpu_count", sysconf(_SC_NPROCESSORS_ONLN));
    jw_str(w, "os", os);
    jw_str(w, "hostname", host);
    jw_str(w, "device", m->device);
    jw_int(w, "threads", m->threads);
    jw_str(w, "precision", m->precision[0] ? m->precision : "fp32");
    jw_int(w, "ranks", dist_size()); /* MPI processes (impl/train/dist.h); threads is per rank */
    jw_str(w, "mpi", dist_library());
    if (m->gpu[0]) jw_str(w, "gpu", m->gpu);
    else jw_null(w, "gpu");
}

int manifest_write(const Manifest *m, const char *path, int finished, Err *err) {
    JsonW w;
    jw_init(&w);
    jw_obj(&w, NULL);
    jw_str(&w, "command", m->command);
    write_build(&w);
    write_machine(&w, m);
    jw_arr(&w, "seeds");
    for (int i = 0; i < m->n_seeds; i++) jw_int(&w, NULL, m->seeds[i]);
    jw_end(&w);
    jw_arr(&w, "data_files");
    for (int i = 0; i < m->n_files; i++) {
        jw_obj(&w, NULL);
        jw_str(&w, "role", m->files[i].role);
        jw_str(&w, "path", m->files[i].path);
        jw_str(&w, "sha256", m->files[i].sha256);
        jw_int(&w, "bytes", m->files[i].bytes);
        jw_end(&w);
    }
    jw_end(&w);
    jw_str(&w, "start_time", m->start_time);
    if (finished) {
        char end[32];
        utc_now_iso(end);
        jw_str(&w, "end_time", end);
        jw_num(&w, "wall_s", now_seconds() - m->start_wall);
    } else {
        jw_null(&w, "end_time");
    }
    int rc = jw_write_file(&w, path, err);
    jw_free(&w);
    return rc;
}

/* The sha256 of role in m, or NULL. */
static const char *sha_of_role(const Manifest *m, const char *role) {
    for (int i = 0; i < m->n_files; i++)
        if (!strcmp(m->files[i].role, role)) return m->files[i].sha256;
    return NULL;
}

int manifest_check_same_data(const Manifest *now, const char *old_path, Err *err) {
    if (!file_exists(old_path)) return 0;
    cJSON *old = jsonr_read_file(old_path, err);
    if (!old) return -1;
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(old, "data_files"), *f;
    int rc = 0;
    cJSON_ArrayForEach(f, files) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(f, "role");
        const cJSON *sha = cJSON_GetObjectItemCaseSensitive(f, "sha256");
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(f, "path");
        if (!cJSON_IsString(role) || !cJSON_IsString(sha)) continue;
        const char *cur = sha_of_role(now, role->valuestring);
        if (cur && strcmp(cur, sha->valuestring)) {
            rc = err_set(err, "--resume: %s (%s) has changed since the run started (sha256 %.12s... in %s, "
                              "%.12s... now): the continued run would not be the one that started",
                         role->valuestring, cJSON_IsString(path) ? path->valuestring : "?", sha->valuestring,
                         old_path, cur);
            break;
        }
    }
    cJSON_Delete(old);
    return rc;
}

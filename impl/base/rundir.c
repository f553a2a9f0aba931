/* rundir.c — one run per run directory (rundir.h). */
#include "rundir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* "NAME.tmp.PID" (util.c atomic writes) whose process no longer exists. */
static int is_stale_temp(const char *name) {
    const char *t = strstr(name, ".tmp.");
    if (!t || t == name) return 0;
    char *end;
    long pid = strtol(t + 5, &end, 10);
    if (*end || pid <= 0 || end == t + 5) return 0;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Remove stale temp files; count the other entries, naming up to three. */
static int scan_dir(RunDir *rd, char *names, size_t n, Err *err) {
    DIR *d = opendir(rd->dir);
    if (!d) return err_set(err, "%s: cannot read the run directory: %s", rd->dir, strerror(errno));
    int count = 0;
    names[0] = '\0';
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (is_stale_temp(e->d_name) && unlinkat(dirfd(d), e->d_name, 0) == 0) {
            rd->stale++;
            continue;
        }
        if (count < 3) {
            size_t l = strlen(names);
            snprintf(names + l, n - l, "%s%.60s", count ? ", " : "", e->d_name);
        }
        count++;
    }
    closedir(d);
    return count;
}

int rundir_acquire(RunDir *rd, const char *dir, int resume, int overwrite, Err *err) {
    memset(rd, 0, sizeof *rd);
    rd->fd = -1;
    if (snprintf(rd->dir, sizeof rd->dir, "%s", dir) >= (int)sizeof rd->dir)
        return err_set(err, "--out %.100s...: path too long", dir);
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        if (mkdir_p(dir, err)) return -1;
        rd->created = 1;
    } else if (!S_ISDIR(sb.st_mode)) {
        return err_set(err, "--out %s: exists and is not a directory", dir);
    }
    rd->fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rd->fd < 0) return err_set(err, "--out %s: cannot open: %s", dir, strerror(errno));
    if (flock(rd->fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        rundir_release(rd, 0);
        if (e == EWOULDBLOCK)
            return err_set(err, "--out %s: another process is training into this directory (it holds its lock); "
                                "wait for it or choose another --out", dir);
        return err_set(err, "--out %s: cannot lock: %s", dir, strerror(e));
    }
    char names[200];
    int n = scan_dir(rd, names, sizeof names, err);
    if (n < 0) {
        rundir_release(rd, 1);
        return -1;
    }
    rd->nonempty = n > 0;
    if (rd->nonempty && !resume && !overwrite) {
        rundir_release(rd, 0);
        return err_set(err, "--out %s: already holds a run (%s%s): --resume continues it, --overwrite "
                            "replaces it, or choose another --out", dir, names, n > 3 ? ", ..." : "");
    }
    return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    if (ftw->level == 0) return 0; /* the run directory itself stays */
    return remove(path);
}

int rundir_clear(RunDir *rd, Err *err) {
    if (!rd->nonempty) return 0;
    if (nftw(rd->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return err_set(err, "--overwrite: cannot clear %s: %s", rd->dir, strerror(errno));
    rd->nonempty = 0;
    return 0;
}

void rundir_release(RunDir *rd, int remove_if_created) {
    if (rd->fd >= 0) close(rd->fd); /* drops the flock */
    rd->fd = -1;
    if (remove_if_created && rd->created) rmdir(rd->dir); /* only if still empty */
    rd->created = 0;
}

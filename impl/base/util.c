#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

int err_set(Err *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("mtl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory allocating %zu bytes", n);
    return p;
}

void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) die("out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) die("out of memory reallocating to %zu bytes", n);
    return q;
}

char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = xmalloc(n);
    memcpy(d, s, n);
    return d;
}

int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

int open_regular_file(const char *path, Err *err) {
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return err_set(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(err, "%s: not a regular file (a directory, FIFO or device is not read)", path);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* gzread handles both compressed and plain files, but we only use it for .gz
 * so that a plain file's size is known up front. */
static char *read_gz(const char *path, size_t *len, Err *err) {
    int fd = open_regular_file(path, err);
    if (fd < 0) return NULL;
    gzFile f = gzdopen(fd, "rb");
    if (!f) {
        close(fd);
        err_set(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 20, n = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = xrealloc(buf, cap + 1);
        }
        int got = gzread(f, buf + n, (unsigned)(cap - n));
        if (got < 0) {
            int zerr;
            const char *msg = gzerror(f, &zerr);
            err_set(err, "%s: gzip error after %zu decompressed bytes: %s", path, n, msg);
            gzclose(f);
            free(buf);
            return NULL;
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    /* gzread returns 0 at EOF also for a truncated stream; gzclose_r reports it. */
    int rc = gzclose(f);
    if (rc != Z_OK) {
        err_set(err, "%s: truncated or corrupt gzip stream (after %zu decompressed bytes)", path, n);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

char *read_file_all(const char *path, size_t *len, Err *err) {
    if (ends_with(path, ".gz")) return read_gz(path, len, err);
    int fd = open_regular_file(path, err);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "rb");
    struct stat st;
    if (!f || fstat(fd, &st) != 0) {
        err_set(err, "%s: cannot open: %s", path, strerror(errno));
        if (f) fclose(f);
        else close(fd);
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    char *buf = xmalloc(n + 1);
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    if (got != n) {
        err_set(err, "%s: short read (%zu of %zu bytes)", path, got, n);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int fsync_dir_of(const char *path) {
    char *copy = xstrdup(path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    free(copy);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* a and b name the same path, but for trailing slashes */
static int same_path_text(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    while (na > 1 && a[na - 1] == '/') na--;
    while (nb > 1 && b[nb - 1] == '/') nb--;
    return na == nb && memcmp(a, b, na) == 0;
}

int output_path_check(const char *path, const char *opt, const char *made_dir, Err *err) {
    if (!path[0]) return err_set(err, "%s: empty path", opt);
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode) && !(S_ISLNK(st.st_mode) && file_exists(path)))
        return err_set(err, "%s %s: exists and is not a regular file", opt, path);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    if (made_dir && same_path_text(dir, made_dir) && lstat(dir, &st) != 0 && errno == ENOENT)
        return 0; /* the command makes it first */
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return err_set(err, "%s %s: the directory %s does not exist", opt, path, dir);
    if (access(dir, W_OK) != 0)
        return err_set(err, "%s %s: the directory %s is not writable: %s", opt, path, dir, strerror(errno));
    return 0;
}

int atomic_write_segments(const char *path, const void *const *seg, const size_t *seglen,
                          int nseg, Err *err) {
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode) && !(S_ISLNK(st.st_mode) && file_exists(path)))
        return err_set(err, "%s exists and is not a regular file (a FIFO, device, directory or "
                            "dangling link): not replacing it", path);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return err_set(err, "%s: cannot create: %s", tmp, strerror(errno));
    size_t done = 0;
    for (int s = 0; s < nseg; s++) {
        const char *p = seg[s];
        size_t left = seglen[s];
        while (left > 0) {
            ssize_t w = write(fd, p, left);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                int e = w < 0 ? errno : ENOSPC;
                close(fd);
                unlink(tmp);
                return err_set(err, "%s: write failed after %zu bytes: %s", path, done,
                               strerror(e));
            }
            p += w;
            left -= (size_t)w;
            done += (size_t)w;
        }
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return err_set(err, "%s: fsync/close failed: %s", path, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return err_set(err, "%s: rename from %s failed: %s", path, tmp, strerror(e));
    }
    fsync_dir_of(path);
    return 0;
}

int atomic_write_file(const char *path, const void *data, size_t len, Err *err) {
    const void *seg[1] = {data};
    return atomic_write_segments(path, seg, &len, 1, err);
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

size_t peak_rss_bytes(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (size_t)ru.ru_maxrss * 1024; /* Linux reports KiB */
}

int mkdir_p(const char *path, Err *err) {
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf) return err_set(err, "%s: path too long", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return err_set(err, "%s: cannot create directory: %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    return 0;
}

/* ---- UTF-8 ------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s[i] (strict: shortest form, no
 * surrogates, at most U+10FFFF), or 0 if invalid. */
static int utf8_seq_len(const unsigned char *s, size_t i, size_t len) {
    unsigned c = s[i];
    if (c < 0x80) return 1;
    int n;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;      /* no overlongs */
        if (c == 0xED) hi = 0x9F;      /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;      /* no overlongs */
        if (c == 0xF4) hi = 0x8F;      /* <= U+10FFFF */
    } else
        return 0;
    if (i + (size_t)n > len) return 0;
    if (s[i + 1] < lo || s[i + 1] > hi) return 0;
    for (int k = 2; k < n; k++)
        if ((s[i + k] & 0xC0) != 0x80) return 0;
    return n;
}

long utf8_first_invalid(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        int n = utf8_seq_len(u, i, len);
        if (!n) return (long)i;
        i += (size_t)n;
    }
    return -1;
}

int utf8_count_cp(const char *s, size_t len) {
    int n = 0;
    for (size_t i = 0; i < len; i++) n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

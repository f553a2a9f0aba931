/* util.h — errors, checked allocation, atomic file writes, timing, memory.
 *
 * Error convention used across the project: a function that can fail on bad
 * input returns 0 on success and non-zero on failure, and fills an Err with a
 * message that names the file and the line or byte offset. Only the CLI layer
 * turns an Err into a message on stderr and a non-zero exit status.
 */
#ifndef MTL_UTIL_H
#define MTL_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct Err {
    char msg[1024];
} Err;

/* printf-style: write a message into err (err may be NULL). Returns -1 so that
 * callers can write `return err_set(err, "...")`. */
int err_set(Err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print "mtl: <msg>" to stderr and exit(1). For unrecoverable conditions. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Checked allocation: die with the requested size on failure. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* Read a whole file into memory (adds a terminating NUL, not counted in *len).
 * Files ending in .gz are decompressed. Returns NULL and fills err on failure. */
char *read_file_all(const char *path, size_t *len, Err *err);
/* open(2) for reading, refusing anything but a regular file before a FIFO or
 * device could block: the descriptor, or -1 with err. */
int open_regular_file(const char *path, Err *err);
/* 1 if path names a regular file (after symlinks), else 0. */
int file_exists(const char *path);

/* Atomic write: write to "<path>.tmp.<pid>", fsync, rename over path, fsync
 * the directory. On any failure the temp file is removed, path is untouched,
 * and err names the path and the errno text. A path that exists and is not a
 * regular file (or a link to one) is refused, never replaced. */
int atomic_write_file(const char *path, const void *data, size_t len, Err *err);
/* Can an atomic write create path later? (checked before any work starts):
 * not empty, not an existing non-regular file, and its directory exists and
 * is writable, or is made_dir (may be NULL), a directory the command makes
 * before it writes path, not there yet. opt names the option in the message.
 * 0 or -1 with err. */
int output_path_check(const char *path, const char *opt, const char *made_dir, Err *err);
/* The same for nseg buffers written back to back (no concatenated copy). */
int atomic_write_segments(const char *path, const void *const *seg, const size_t *seglen,
                          int nseg, Err *err);

/* Monotonic wall-clock seconds. */
double now_seconds(void);

/* Peak resident set size of this process in bytes (from getrusage). */
size_t peak_rss_bytes(void);

/* mkdir -p. Returns 0 on success. */
int mkdir_p(const char *path, Err *err);

/* ---- UTF-8 (RFC 3629: shortest forms, no surrogates, at most U+10FFFF) -- */

/* Byte offset of the first invalid UTF-8 sequence (overlong, surrogate,
 * > U+10FFFF, truncated), or -1 if s[0..len) is valid. NUL is valid here. */
long utf8_first_invalid(const char *s, size_t len);
/* Number of code points of valid UTF-8 s[0..len). */
int utf8_count_cp(const char *s, size_t len);

#endif

/* fuzz_memfd.h — the fuzz input as a file: the readers under test open paths.
 * The bytes go to an in-memory file (memfd) whose /proc/self/fd path is put
 * in path. Returns the descriptor (close it when done), or -1. */
#ifndef MTL_FUZZ_MEMFD_H
#define MTL_FUZZ_MEMFD_H
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

static inline int fuzz_memfd(const uint8_t *data, size_t size, char path[64]) {
    int fd = memfd_create("fuzz_input", 0);
    if (fd < 0) return -1;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return -1;
    }
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    return fd;
}
#endif

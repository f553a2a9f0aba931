/* sha256.h — SHA-256 (FIPS 180-4), streaming, for data-file fingerprints in
 * run manifests and for checkpoint checksums. */
#ifndef MTL_SHA256_H
#define MTL_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef struct {
    uint32_t h[8];     /* chaining state H0..H7 */
    uint64_t nbytes;   /* total message length so far */
    uint8_t block[64]; /* pending partial block */
    size_t nblock;     /* bytes in block */
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t len);
void sha256_final(Sha256 *s, uint8_t digest[32]);

/* One-shot digest of a buffer. */
void sha256(const void *data, size_t len, uint8_t digest[32]);
/* 64 lowercase hex characters + NUL. */
void sha256_hex(const uint8_t digest[32], char hex[65]);
/* Digest of a file's raw bytes (not decompressed). Returns 0, or -1 with err
 * naming the file. */
int sha256_file_hex(const char *path, char hex[65], Err *err);

#endif

/* sha256.h — SHA-256 (FIPS 180-4), streaming, for data-file fingerprints in
 * run manifests, checkpoint checksums and the data-parallel replica check.
 * The digest is OpenSSL's (libcrypto's EVP interface: SHA-NI / AVX2 code
 * where the CPU has it, ~10x a plain C loop on a checkpoint). */
#ifndef MTL_SHA256_H
#define MTL_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef struct {
    void *ctx; /* OpenSSL's EVP_MD_CTX, from sha256_init until sha256_final frees it */
} Sha256;

/* Every sha256_init must be followed by sha256_final (which frees the
 * context). Dies with a message if OpenSSL cannot make one (out of memory). */
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

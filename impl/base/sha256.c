/* sha256.c — SHA-256 through OpenSSL's EVP digest interface (libcrypto); the
 * hex form and the file digest are ours. tests/test_checkpoint checks the
 * FIPS 180-4 example vectors. */
#include "sha256.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sha256_init(Sha256 *s) {
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) die("OpenSSL: cannot start a SHA-256 digest");
    s->ctx = c;
}

void sha256_update(Sha256 *s, const void *data, size_t len) {
    if (len && EVP_DigestUpdate(s->ctx, data, len) != 1) die("OpenSSL: SHA-256 update failed");
}

void sha256_final(Sha256 *s, uint8_t digest[32]) {
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(s->ctx, digest, &n) != 1 || n != 32) die("OpenSSL: SHA-256 final failed");
    EVP_MD_CTX_free(s->ctx);
    s->ctx = NULL;
}

void sha256(const void *data, size_t len, uint8_t digest[32]) {
    Sha256 s;
    sha256_init(&s);
    sha256_update(&s, data, len);
    sha256_final(&s, digest);
}

void sha256_hex(const uint8_t digest[32], char hex[65]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[64] = '\0';
}

int sha256_file_hex(const char *path, char hex[65], Err *err) {
    int fd = open_regular_file(path, err);
    if (fd < 0) return -1;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return err_set(err, "%s: cannot open: %s", path, strerror(errno));
    }
    Sha256 s;
    sha256_init(&s);
    enum { CHUNK = 1 << 20 };
    uint8_t *buf = xmalloc(CHUNK);
    size_t got;
    while ((got = fread(buf, 1, CHUNK, f)) > 0) sha256_update(&s, buf, got);
    int bad = ferror(f);
    fclose(f);
    free(buf);
    uint8_t d[32];
    sha256_final(&s, d); /* also on a read error: frees the context */
    if (bad) return err_set(err, "%s: read error", path);
    sha256_hex(d, hex);
    return 0;
}

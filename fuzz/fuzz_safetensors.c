/* fuzz_safetensors.c — libFuzzer target: the safetensors reader on arbitrary
 * bytes (impl/base/safetensors.h).
 *
 *   bash fuzz/run.sh 60 fuzz_safetensors     (seeds: tests/fixtures/hf/)
 *
 * st_parse must either refuse the input or return tensors that all lie in
 * the data buffer, with byte ranges that match their shape and dtype, do not
 * overlap and cover the buffer; then st_read_f32 of every tensor (bounded
 * size) must read only those bytes and succeed exactly for F32/F16/BF16.
 * Any broken invariant is a __builtin_trap(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"
#include "util.h"

#define MAX_NUMEL ((int64_t)1 << 20)

static void check(int ok) {
    if (!ok) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* an exact-size copy: ASan flags any read past the input */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    SafeTensors st;
    Err err;
    err.msg[0] = '\0';
    if (st_parse(buf, size, "fuzz", &st, &err) != 0) {
        check(err.msg[0] != '\0');        /* a refusal always says why */
        check(st.n == 0 && st.t == NULL); /* and leaves nothing behind */
        free(buf);
        return 0;
    }
    check(size >= 8 && st.data >= buf + 8 && st.data + st.data_len == buf + size);
    size_t covered = 0;
    for (int i = 0; i < st.n; i++) {
        const StTensor *t = &st.t[i];
        check(t->name != NULL);
        check(t->begin <= t->end && t->end <= st.data_len);
        check(t->ndim >= 0 && t->ndim <= ST_MAX_DIMS && t->numel >= 0);
        int64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            check(t->shape[d] >= 0);
            numel *= t->shape[d]; /* cannot overflow: st_parse bounded the product */
        }
        check(numel == t->numel);
        size_t esz = st_dtype_size(t->dtype);
        if (esz) check((uint64_t)(t->end - t->begin) == (uint64_t)t->numel * esz);
        check(st_find(&st, t->name) != NULL);
        covered += t->end - t->begin;
        if (t->numel > MAX_NUMEL) continue;
        float *dst = malloc((size_t)t->numel * sizeof(float) + sizeof(float));
        if (!dst) continue;
        int rc = st_read_f32(&st, t, dst, &err);
        int readable = t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16;
        check(readable ? rc == 0 : rc == -1);
        free(dst);
    }
    /* no overlap and no hole: the ranges add up to the whole buffer */
    check(covered == st.data_len);
    st_close(&st);
    free(buf);
    return 0;
}

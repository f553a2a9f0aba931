/* rng.h — counter-based random numbers (Philox4x32-10, Salmon et al., SC'11).
 *
 * Header-only and usable from C and CUDA, so the CPU and the GPU draw the very
 * same numbers: a random value is a pure function of (key, counter), with no
 * state carried between calls. This is what makes dropout masks identical on
 * both backends and independent of thread count or launch geometry.
 *
 * Conventions used by the project (see dropout in kernels/backend.h):
 *   key     = {seed low 32 bits, seed high 32 bits}
 *   counter = {element_index / 4 (low 32), element_index / 4 (high 32),
 *              stream, step}
 * where `stream` identifies the tensor (and the pass within a step) and the
 * 4 outputs of one Philox call cover 4 consecutive elements.
 */
#ifndef MTL_RNG_H
#define MTL_RNG_H

#include <stdint.h>

#ifdef __CUDACC__
#define MTL_HD __host__ __device__ __forceinline__
#else
#define MTL_HD static inline
#endif

typedef struct {
    uint32_t v[4];
} Philox4;

MTL_HD uint32_t philox_mulhilo(uint32_t a, uint32_t b, uint32_t *hi) {
    uint64_t p = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

/* One Philox4x32 round:
 *   (hi0, lo0) = M0 * c0,  (hi1, lo1) = M1 * c2
 *   c' = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)                          */
MTL_HD Philox4 philox_round(Philox4 c, uint32_t k0, uint32_t k1) {
    uint32_t hi0, hi1;
    uint32_t lo0 = philox_mulhilo(0xD2511F53u, c.v[0], &hi0);
    uint32_t lo1 = philox_mulhilo(0xCD9E8D57u, c.v[2], &hi1);
    Philox4 r;
    r.v[0] = hi1 ^ c.v[1] ^ k0;
    r.v[1] = lo1;
    r.v[2] = hi0 ^ c.v[3] ^ k1;
    r.v[3] = lo0;
    return r;
}

/* Philox4x32-10: ten rounds, the key bumped by the Weyl constants between
 * rounds (W0 = 0x9E3779B9, W1 = 0xBB67AE85). */
MTL_HD Philox4 philox4x32_10(Philox4 ctr, uint32_t k0, uint32_t k1) {
    for (int i = 0; i < 10; i++) {
        if (i > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        ctr = philox_round(ctr, k0, k1);
    }
    return ctr;
}

/* Uniform float in [0, 1) from the top 24 bits: exact in fp32, same on CPU and
 * GPU. */
MTL_HD float rng_u32_to_unit(uint32_t x) {
    return (float)(x >> 8) * (1.0f / 16777216.0f);
}

/* The 4 uniforms for elements [4*q, 4*q+3] of stream `stream` at `step`. */
MTL_HD Philox4 rng_block(uint64_t seed, uint32_t step, uint32_t stream, uint64_t q) {
    Philox4 c;
    c.v[0] = (uint32_t)q;
    c.v[1] = (uint32_t)(q >> 32);
    c.v[2] = stream;
    c.v[3] = step;
    return philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
}

/* Uniform in [0,1) for element i. */
MTL_HD float rng_uniform(uint64_t seed, uint32_t step, uint32_t stream, uint64_t i) {
    Philox4 b = rng_block(seed, step, stream, i >> 2);
    return rng_u32_to_unit(b.v[i & 3]);
}

/* Dropout keep decision for element i: keep iff u >= p (so P(keep) = 1 - p). */
MTL_HD int rng_keep(uint64_t seed, uint32_t step, uint32_t stream, uint64_t i, float p) {
    return rng_uniform(seed, step, stream, i) >= p;
}

#endif

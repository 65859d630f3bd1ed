/* The one random number generator of the library: splitmix64, a counter-based
 * generator, so a dropout mask element is a pure function of (base, index)
 * and can be drawn in parallel, on any backend, with the same result. */
#ifndef LM_RNG_H
#define LM_RNG_H

#include <stdint.h>

#define LM_RNG_GAMMA 0x9e3779b97f4a7c15ULL

typedef struct {
    uint64_t state;
} lm_rng;

/* splitmix64 output function: a bijective 64-bit mix. */
static inline uint64_t lm_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void lm_rng_seed(lm_rng *r, uint64_t seed) { r->state = lm_mix64(seed ^ 0x6a09e667f3bcc909ULL); }

static inline uint64_t lm_rng_next(lm_rng *r) {
    r->state += LM_RNG_GAMMA;
    return lm_mix64(r->state);
}

/* Uniform in [0, 1) with 24 random bits (exact in float). */
static inline float lm_rng_uniform(lm_rng *r) { return (float)(lm_rng_next(r) >> 40) * (1.0f / 16777216.0f); }

/* Element i of the stream that starts at `base`: independent of call order. */
static inline uint64_t lm_rng_at(uint64_t base, uint64_t i) { return lm_mix64(base + (i + 1) * LM_RNG_GAMMA); }

#endif

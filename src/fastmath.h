/* Vectorisable exp, sigmoid and tanh for the CPU kernels: branch-free so the
 * compiler turns loops over them into AVX-512/AVX2 code, unlike libm's calls.
 * Accuracy against libm is checked by tests/test_fastmath.c (exp within
 * 2 ulp over [-87, 88]; sigmoid and tanh within 2e-7 absolute). */
#ifndef LM_FASTMATH_H
#define LM_FASTMATH_H

#include <stdint.h>
#include <string.h>

/* exp(x) = 2^k e^r with k = round(x / ln 2), r = x - k ln 2 split in two
 * parts (Cody-Waite), e^r by a degree-6 minimax polynomial (Cephes expf).
 * Inputs are clamped to [-87.3, 88]: below, the result is ~1e-38, not 0.
 * NaN in, NaN out. */
static inline float lm_expf(float in) {
    /* NaN would reach the float -> int conversion below (undefined); it is
     * computed as 0 and put back at the end, so NaN still propagates. */
    float x = in != in ? 0.0f : in;
    x = x < -87.3365f ? -87.3365f : x;
    x = x > 88.0f ? 88.0f : x;  /* keeps 2^k finite */
    float k = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  /* round to nearest */
    float r = x - k * 0.693359375f - k * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return in != in ? in : p * scale;
}

/* sigm(x) = 1/(1+exp(-x)) */
static inline float lm_sigmf(float x) { return 1.0f / (1.0f + lm_expf(-x)); }

/* tanh(x) = 1 - 2/(exp(2x)+1): exact limits +-1, absolute error ~1e-7. */
static inline float lm_tanhf(float x) { return 1.0f - 2.0f / (lm_expf(2.0f * x) + 1.0f); }

#endif

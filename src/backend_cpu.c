/* CPU backend: matrix products through CBLAS (OpenBLAS), elementwise kernels
 * in plain C vectorised by the compiler and split across cores with OpenMP
 * when they are big enough to pay for it. Reductions use fixed chunks so
 * results do not depend on the thread count. */
#include "backend.h"
#include "internal.h"
#include "rng.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Below this many elements a parallel region costs more than it saves. */
#define PAR_MIN 32768

static void *cpu_alloc(size_t bytes) { return lm_alloc(bytes); }
static void cpu_free(void *p) { free(p); }
static void cpu_memcpy(void *dst, const void *src, size_t bytes) { memcpy(dst, src, bytes); }

static void cpu_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, const float *B,
                     int ldb, float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, A,
                lda, B, ldb, beta, C, ldc);
}

static void cpu_embed_forward(float *out, const int32_t *ids, const float *emb, size_t rows, int n) {
    for (size_t r = 0; r < rows; r++) memcpy(out + r * n, emb + (size_t)ids[r] * n, (size_t)n * sizeof *out);
}

static void cpu_embed_backward(float *demb, const int32_t *ids, const float *dout, size_t rows, int n) {
    for (size_t r = 0; r < rows; r++) {
        float *d = demb + (size_t)ids[r] * n;
        const float *g = dout + r * n;
        for (int j = 0; j < n; j++) d[j] += g[j];
    }
}

static void cpu_dropout_forward(float *out, float *mask, const float *x, size_t count, float p, uint64_t base) {
    const float scale = 1.0f / (1.0f - p);
    const uint64_t threshold = (uint64_t)((double)p * 16777216.0);  /* keep iff 24-bit u >= p */
#pragma omp parallel for schedule(static) if (count >= PAR_MIN)
    for (size_t i = 0; i < count; i++) {
        float m = (lm_rng_at(base, i) >> 40) >= threshold ? scale : 0.0f;
        mask[i] = m;
        out[i] = x[i] * m;
    }
}

static void cpu_mul(float *y, const float *x, const float *mask, size_t count) {
#pragma omp parallel for schedule(static) if (count >= PAR_MIN)
    for (size_t i = 0; i < count; i++) y[i] = x[i] * mask[i];
}

static void cpu_add(float *y, const float *x, size_t count) {
    for (size_t i = 0; i < count; i++) y[i] += x[i];
}

static void cpu_bias_rows(float *y, const float *b1, const float *b2, size_t rows, int cols) {
    for (int j = 0; j < cols; j++) y[j] = b1[j] + b2[j];
    for (size_t r = 1; r < rows; r++) memcpy(y + r * cols, y, (size_t)cols * sizeof *y);
}

/* sigm(x) = 1/(1+exp(-x)) */
static inline float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }

static void cpu_lstm_forward(float *gates, float *c, float *h, float *tanh_c, const float *c_prev, int B, int n) {
#pragma omp parallel for schedule(static) if ((size_t)B * n >= PAR_MIN / 2)
    for (int b = 0; b < B; b++) {
        float *gi = gates + (size_t)b * 4 * n, *gf = gi + n, *gg = gf + n, *go = gg + n;
        const float *cp = c_prev + (size_t)b * n;
        float *cb = c + (size_t)b * n, *hb = h + (size_t)b * n, *tb = tanh_c + (size_t)b * n;
        for (int j = 0; j < n; j++) {
            float i = sigm(gi[j]), f = sigm(gf[j]), g = tanhf(gg[j]), o = sigm(go[j]);
            float cc = f * cp[j] + i * g;  /* c_t = f . c_{t-1} + i . g */
            float tc = tanhf(cc);
            gi[j] = i, gf[j] = f, gg[j] = g, go[j] = o;
            cb[j] = cc, tb[j] = tc, hb[j] = o * tc;  /* h_t = o . tanh(c_t) */
        }
    }
}

static void cpu_lstm_backward(float *dgates, float *dc_prev, const float *dh, const float *dc, const float *gates,
                              const float *c_prev, const float *tanh_c, int B, int n) {
#pragma omp parallel for schedule(static) if ((size_t)B * n >= PAR_MIN / 2)
    for (int b = 0; b < B; b++) {
        const float *gi = gates + (size_t)b * 4 * n, *gf = gi + n, *gg = gf + n, *go = gg + n;
        float *di = dgates + (size_t)b * 4 * n, *df = di + n, *dg = df + n, *dout = dg + n;
        const size_t o = (size_t)b * n;
        for (int j = 0; j < n; j++) {
            float i = gi[j], f = gf[j], g = gg[j], og = go[j], tc = tanh_c[o + j];
            float dhj = dh[o + j];
            float dct = dc[o + j] + dhj * og * (1.0f - tc * tc);
            dout[j] = dhj * tc * og * (1.0f - og);
            di[j] = dct * g * i * (1.0f - i);
            dg[j] = dct * i * (1.0f - g * g);
            df[j] = dct * c_prev[o + j] * f * (1.0f - f);
            dc_prev[o + j] = dct * f;
        }
    }
}

static void cpu_softmax_xent(float *logits, double *row_nll, const float *bias, const int32_t *targets, size_t rows,
                             int V, float dscale, int want_grad) {
#pragma omp parallel for schedule(static) if (rows * (size_t)V >= PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        float *z = logits + r * V;
        float mx = -INFINITY;
        for (int j = 0; j < V; j++) {
            z[j] += bias[j];
            mx = z[j] > mx ? z[j] : mx;
        }
        const float zt = z[targets[r]];
        double sum = 0.0;
        if (want_grad) {
            float s = 0.0f;
            for (int j = 0; j < V; j++) s += (z[j] = expf(z[j] - mx));
            sum = s;
            const float k = dscale / s;
            for (int j = 0; j < V; j++) z[j] *= k;
            z[targets[r]] -= dscale;
        } else {
            float s = 0.0f;
            for (int j = 0; j < V; j++) s += expf(z[j] - mx);
            sum = s;
        }
        row_nll[r] = (double)mx + log(sum) - (double)zt;  /* log-sum-exp - z_target */
    }
}

static void cpu_col_sum(float *db, const float *dy, size_t rows, int cols) {
    enum { BLK = 256 };
#pragma omp parallel for schedule(static) if (rows * (size_t)cols >= PAR_MIN)
    for (int j0 = 0; j0 < cols; j0 += BLK) {
        int j1 = j0 + BLK < cols ? j0 + BLK : cols;
        for (size_t r = 0; r < rows; r++) {
            const float *row = dy + r * cols;
            for (int j = j0; j < j1; j++) db[j] += row[j];
        }
    }
}

static double cpu_sumsq(const float *x, size_t n) {
    enum { CHUNKS = 64 };
    double part[CHUNKS];
    size_t per = (n + CHUNKS - 1) / CHUNKS;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int c = 0; c < CHUNKS; c++) {
        size_t lo = (size_t)c * per, hi = lo + per < n ? lo + per : n;
        double s = 0.0;
        for (size_t i = lo; i < hi; i++) s += (double)x[i] * x[i];
        part[c] = s;
    }
    double s = 0.0;
    for (int c = 0; c < CHUNKS; c++) s += part[c];
    return s;
}

static void cpu_axpy(float *y, float a, const float *x, size_t n) {
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) y[i] += a * x[i];
}

static void cpu_zero(float *x, size_t n) { memset(x, 0, n * sizeof *x); }
static void cpu_copy(float *dst, const float *src, size_t n) { memmove(dst, src, n * sizeof *dst); }

static const lm_backend cpu_backend = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_memcpy,
    .download = cpu_memcpy,
    .gemm = cpu_gemm,
    .embed_forward = cpu_embed_forward,
    .embed_backward = cpu_embed_backward,
    .dropout_forward = cpu_dropout_forward,
    .mul = cpu_mul,
    .add = cpu_add,
    .bias_rows = cpu_bias_rows,
    .lstm_forward = cpu_lstm_forward,
    .lstm_backward = cpu_lstm_backward,
    .softmax_xent = cpu_softmax_xent,
    .col_sum = cpu_col_sum,
    .sumsq = cpu_sumsq,
    .axpy = cpu_axpy,
    .zero = cpu_zero,
    .copy = cpu_copy,
};

const lm_backend *lm_backend_cpu(void) { return &cpu_backend; }

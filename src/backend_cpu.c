/* CPU backend: matrix products through CBLAS (OpenBLAS), elementwise kernels
 * in plain C vectorised by the compiler and split across cores with OpenMP
 * when they are big enough to pay for it. Reductions use fixed chunks so
 * results do not depend on the thread count. */
#include "backend.h"
#include "fastmath.h"
#include "gemm_bf16.h"
#include "internal.h"
#include "rng.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Below this many elements a parallel region costs more than it saves. */
#define PAR_MIN 32768

static void *cpu_alloc(size_t bytes) { return lm_alloc(bytes); }
static void cpu_free(void *p) { free(p); }
static void cpu_memcpy(void *dst, const void *src, size_t bytes) { memcpy(dst, src, bytes); }

static void cpu_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, const float *B,
                     int ldb, float beta, float *C, int ldc) {
    if (m == 1 && !ta) {  /* one row (a scoring stream): C = op(B)^T a, a matrix-vector product */
        cblas_sgemv(CblasRowMajor, tb ? CblasNoTrans : CblasTrans, tb ? n : k, tb ? k : n, alpha, B, ldb, A, 1, beta,
                    C, 1);
        return;
    }
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

static void cpu_bias_rows(float *y, const float *b1, const float *b2, size_t rows, int cols) {
    for (int j = 0; j < cols; j++) y[j] = b1[j] + b2[j];
    for (size_t r = 1; r < rows; r++) memcpy(y + r * cols, y, (size_t)cols * sizeof *y);
}


/* One row of the LSTM step: gates (4n) i,f,g,o pre-activations in,
 * activations out. Separate functions with restrict arguments let the
 * compiler vectorise the loops. */
static void lstm_row_forward(float *restrict gi, float *restrict gf, float *restrict gg, float *restrict go,
                             float *restrict c, float *restrict h, float *restrict tanh_c,
                             const float *restrict c_prev, size_t n) {
    for (size_t j = 0; j < n; j++) {
        float i = lm_sigmf(gi[j]), f = lm_sigmf(gf[j]), g = lm_tanhf(gg[j]), o = lm_sigmf(go[j]);
        float cc = f * c_prev[j] + i * g;  /* c_t = f . c_{t-1} + i . g */
        float tc = lm_tanhf(cc);
        gi[j] = i, gf[j] = f, gg[j] = g, go[j] = o;
        c[j] = cc, tanh_c[j] = tc, h[j] = o * tc;  /* h_t = o . tanh(c_t) */
    }
}

/* The recurrence is split across threads in blocks of hidden units. A
 * block's products need the previous step's whole h (or dG) but only its own
 * units' rows of W_hh, and its cell only its own units, so one barrier per
 * time step suffices. Thread k has a home range of blocks, the same every
 * step (its weights and cell state stay in its core's caches: taking blocks
 * from one shared counter instead measured 10-20 % slower products and cells);
 * it takes those from the front, then takes other threads' untaken blocks
 * from the back, so a thread that falls behind (its core shared with another
 * process) holds the other at the barrier for one block, not for its whole
 * range. Each element is computed the same whichever thread takes its block.
 * OpenBLAS (OpenMP build) runs single-threaded inside the region, so the
 * M = B products are split by us.
 * BF16: blocks of one packed panel (64 units). FP32: one block per thread,
 * rounded to whole cache lines (small sgemm calls cost their overhead). */
enum { MAX_THREADS = 64 };
/* The ranges live in arrays of MAX_THREADS: no more threads than that. */
static int rec_threads(void) {
    const int nt = omp_get_max_threads();
    return nt < MAX_THREADS ? nt : MAX_THREADS;
}
/* Units of block jb of size bs: [jb bs, jb bs + width). */
static inline int rec_width(int jb, int bs, int n) { return n - jb * bs < bs ? n - jb * bs : bs; }
static int rec_block(int n, int bf16) {
    if (bf16) return LM_BF16_NR;
    const int nt = omp_get_num_threads();
    const int chunk = (n + nt - 1) / nt;
    return (chunk + 15) / 16 * 16;
}

/* A home range's untaken blocks [lo, hi) as one word, lo in the low half and
 * hi + 2^30 in the high half: the owner's increment of lo and a thief's
 * decrement of hi are single atomic operations, so no block is taken twice.
 * Two sets, for even and odd steps: thread 0 resets the next step's while
 * the current one is in use. */
typedef unsigned long long rec_range;
enum { REC_BIAS = 1 << 30 };
static void rec_ranges_reset(rec_range *r, int nb) {
    const int nt = omp_get_num_threads();
    for (int k = 0; k < nt; k++)
        r[k] = (rec_range)(nb * k / nt) | (rec_range)(nb * (k + 1) / nt + REC_BIAS) << 32;
}
static int rec_take(rec_range *r) {
    const int nt = omp_get_num_threads(), id = omp_get_thread_num();
    rec_range old;
#pragma omp atomic capture
    { old = r[id]; r[id] += 1; }
    long long lo = (long long)(old & 0xffffffffu), hi = (long long)(old >> 32) - REC_BIAS;
    if (lo < hi) return (int)lo;
    for (int d = 1; d < nt; d++) {  /* the others' ranges, from their back */
        const int k = (id + d) % nt;
#pragma omp atomic capture
        { old = r[k]; r[k] -= (rec_range)1 << 32; }
        lo = (long long)(old & 0xffffffffu), hi = (long long)(old >> 32) - REC_BIAS;
        if (lo < hi) return (int)hi - 1;
    }
    return -1;
}
/* Step t's end: the ranges of step t + 1 reset (nobody uses them until
 * after the barrier), then the barrier. */
static void rec_step_end(rec_range (*ranges)[MAX_THREADS], int t, int nb) {
    if (omp_get_thread_num() == 0) rec_ranges_reset(ranges[(t + 1) & 1], nb);
#pragma omp barrier
}
/* Both sets for the first step; every thread waits for them. */
static void rec_ranges_init(rec_range (*ranges)[MAX_THREADS], int nb) {
#pragma omp single
    rec_ranges_reset(ranges[0], nb), rec_ranges_reset(ranges[1], nb);
}

/* The BF16 per-step products: W_hh packed once per window into buffers
 * shared by the threads (each packs a share of the panels), each thread's
 * packed left operand its own. Buffers persist between calls; BF16 callers
 * take turns (state.c), the FP32 path touches none of this. */
/* The BF16 products' packing buffers (rec_w and rec_ws here, the
 * workspace in gemm_bf16.c) are process-wide: BF16 calls from different
 * caller threads (two models, or scoring states, in one process) take turns.
 * Held for one product or one layer's recurrence; nothing inside takes it. */
static pthread_mutex_t bf16_turn = PTHREAD_MUTEX_INITIALIZER;
static lm_bf16_b rec_w[4];  /* forward: gate q's rows of W_hh as op(B) = W_q^T (n, n); backward: rec_w[0] = W_hh (4n, n) */
static struct rec_ws {
    uint32_t *a;  /* the step's packed left operand (h_{t-1} or dG_{t+1}) */
    size_t a_cap;
} rec_ws[MAX_THREADS];

/* Room for a packed (B, ka) left operand in every thread's buffers and for
 * nw packed (kw, n) weights; 0 (use FP32) without memory. */
static int rec_reserve(int B, int ka, int nw, int kw, int n) {
    const int nt = rec_threads();
    for (int id = 0; id < nt; id++)
        if (!(rec_ws[id].a = lm_grow(rec_ws[id].a, &rec_ws[id].a_cap, lm_bf16_a_pairs(B, ka) * sizeof *rec_ws[id].a)))
            return 0;
    for (int q = 0; q < nw; q++)
        if (!lm_bf16_b_reserve(&rec_w[q], kw, n)) return 0;
    return 1;
}
/* This thread's home range of the panels of rec_w[q] (all threads call it):
 * packed by the core that will mostly read them. */
static void rec_pack_share(int q, int tb, const float *W, int ldw) {
    const int np = (rec_w[q].n + LM_BF16_NR - 1) / LM_BF16_NR, nt = omp_get_num_threads(), id = omp_get_thread_num();
    lm_bf16_pack_b_panels(&rec_w[q], tb, W, ldw, np * id / nt, np * (id + 1) / nt);
}

/* Where the next recurrence adds its per-thread mean product and cell
 * seconds (profile_recurrence); NULL when not profiling. */
static _Thread_local double *rec_prof;  /* per caller thread: states are stepped from many */
static void cpu_profile_recurrence(double *acc) { rec_prof = acc; }

/* Per-thread timing of the recurrence's two parts, only when profiling. */
typedef struct { int on; double prod, cell, t; } rec_timer;
static inline void rt_start(rec_timer *r) { if (r->on) r->t = omp_get_wtime(); }
static inline void rt_lap(rec_timer *r, double *into) {
    if (r->on) { const double now = omp_get_wtime(); *into += now - r->t; r->t = now; }
}
static void rt_finish(const rec_timer *r, double *acc) {
    if (!r->on) return;
    const double k = 1.0 / omp_get_num_threads();
#pragma omp atomic
    acc[0] += r->prod * k;
#pragma omp atomic
    acc[1] += r->cell * k;
}

static void lstm_layer_forward(float *G, float *H, float *C, float *TC, const float *W_hh, int T, int B, int n,
                               int bf16) {
    /* packing W_hh costs about as much as 4 rows of products: few rows stay FP32 */
    if (bf16 && ((size_t)T * B < 8 || !rec_reserve(B, n, 4, n, n))) bf16 = 0;
    const size_t N = (size_t)n, Bn = (size_t)B * N, G4 = 4 * N;
    rec_range ranges[2][MAX_THREADS];
    double *const prof = rec_prof;
    rec_prof = NULL;
#pragma omp parallel num_threads(rec_threads()) if ((size_t)B * n * 4 >= PAR_MIN / 4)
    {
        rec_timer tm = {.on = prof != NULL};
        const int bs = rec_block(n, bf16), nb = (n + bs - 1) / bs;
        uint32_t *a = bf16 ? rec_ws[omp_get_thread_num()].a : NULL;
        rec_ranges_init(ranges, nb);
        if (bf16) {
            for (int q = 0; q < 4; q++) rec_pack_share(q, 1, W_hh + q * N * N, n);
#pragma omp barrier
        }
        for (int t = 0; t < T; t++) {
            float *Gt = G + (size_t)t * B * G4;
            int packed = 0;
            for (int jb; (jb = rec_take(ranges[t & 1])) >= 0;) {
                const size_t u0 = (size_t)jb * bs;
                const int w = rec_width(jb, bs, n);
                rt_start(&tm);
                if (bf16) {  /* gate block q, units u0.. += h_{t-1} W_hh[q N + u0.., :]^T */
                    if (!packed) lm_bf16_pack_a(a, B, n, H + t * Bn, n), packed = 1;
                    for (int q = 0; q < 4; q++)
                        lm_bf16_mul_panels(B, a, &rec_w[q], jb, jb + 1, Gt + q * N, (int)G4, 1);
                } else {
                    for (size_t q = 0; q < 4; q++)  /* cpu_gemm: one row (B = 1) is a matrix-vector product */
                        cpu_gemm(0, 1, B, w, n, 1.0f, H + t * Bn, n, W_hh + (q * N + u0) * N, n, 1.0f,
                                 Gt + q * N + u0, (int)G4);
                }
                rt_lap(&tm, &tm.prod);
                for (int b = 0; b < B; b++) {
                    float *g = Gt + b * G4 + u0;
                    const size_t o = b * N + u0;
                    lstm_row_forward(g, g + N, g + 2 * N, g + 3 * N, C + (t + 1) * Bn + o, H + (t + 1) * Bn + o,
                                     TC + t * Bn + o, C + t * Bn + o, (size_t)w);
                }
                rt_lap(&tm, &tm.cell);
            }
            rec_step_end(ranges, t, nb);
        }
        rt_finish(&tm, prof);
    }
}

static void cpu_lstm_layer_forward(float *G, float *H, float *C, float *TC, const float *W_hh, int T, int B, int n) {
    lstm_layer_forward(G, H, C, TC, W_hh, T, B, n, 0);
}
static void bf16_lstm_layer_forward(float *G, float *H, float *C, float *TC, const float *W_hh, int T, int B,
                                    int n) {
    pthread_mutex_lock(&bf16_turn);
    lstm_layer_forward(G, H, C, TC, W_hh, T, B, n, 1);
    pthread_mutex_unlock(&bf16_turn);
}

/* dc may equal dc_prev (in place): each element is read before written, so
 * those two are not restrict. */
static void lstm_row_backward(float *restrict di, float *restrict df, float *restrict dg, float *restrict dout,
                              float *dc_prev, const float *restrict dh, const float *dc, const float *restrict gi,
                              const float *restrict gf, const float *restrict gg, const float *restrict go,
                              const float *restrict c_prev, const float *restrict tanh_c, size_t n) {
    for (size_t j = 0; j < n; j++) {
        float i = gi[j], f = gf[j], g = gg[j], og = go[j], tc = tanh_c[j], dhj = dh[j];
        float dct = dc[j] + dhj * og * (1.0f - tc * tc);
        dout[j] = dhj * tc * og * (1.0f - og);
        di[j] = dct * g * i * (1.0f - i);
        dg[j] = dct * i * (1.0f - g * g);
        df[j] = dct * c_prev[j] * f * (1.0f - f);
        dc_prev[j] = dct * f;
    }
}

static void lstm_layer_backward(float *dG, float *dH, float *dc, float *dh_rec, const float *G, const float *C,
                                const float *TC, const float *W_hh, int T, int B, int n, int bf16) {
    if (bf16 && !rec_reserve(B, 4 * n, 1, 4 * n, n)) bf16 = 0;
    const size_t N = (size_t)n, Bn = (size_t)B * N, G4 = 4 * N;
    rec_range ranges[2][MAX_THREADS];
    double *const prof = rec_prof;
    rec_prof = NULL;
    memset(dc, 0, Bn * sizeof *dc);
#pragma omp parallel num_threads(rec_threads()) if ((size_t)B * n * 4 >= PAR_MIN / 4)
    {
        rec_timer tm = {.on = prof != NULL};
        const int bs = rec_block(n, bf16), nb = (n + bs - 1) / bs;
        uint32_t *a = bf16 ? rec_ws[omp_get_thread_num()].a : NULL;
        rec_ranges_init(ranges, nb);
        if (bf16) {
            rec_pack_share(0, 0, W_hh, n);
#pragma omp barrier
        }
        for (int t = T - 1; t >= 0; t--) {
            const float *dGn = dG + (size_t)(t + 1) * B * G4;  /* step t+1's, complete since the last barrier */
            int packed = 0;
            for (int jb; (jb = rec_take(ranges[t & 1])) >= 0;) {
                const size_t u0 = (size_t)jb * bs;
                const int w = rec_width(jb, bs, n);
                rt_start(&tm);
                if (t < T - 1) {  /* the recurrent gradient: dh_rec[:, u0..] = dG_{t+1} (B, 4n) W_hh[:, u0..] */
                    if (bf16) {
                        if (!packed) lm_bf16_pack_a(a, B, 4 * n, dGn, (int)G4), packed = 1;
                        lm_bf16_mul_panels(B, a, &rec_w[0], jb, jb + 1, dh_rec, n, 0);
                    } else {
                        cpu_gemm(0, 0, B, w, (int)G4, 1.0f, dGn, (int)G4, W_hh + u0, n, 0.0f, dh_rec + u0, n);
                    }
                }
                rt_lap(&tm, &tm.prod);
                for (int b = 0; b < B; b++) {
                    const size_t o = b * N + u0;
                    float *dh = dH + t * Bn + o, *d = dG + (size_t)t * B * G4 + b * G4 + u0;
                    const float *g = G + (size_t)t * B * G4 + b * G4 + u0;
                    if (t < T - 1)
                        for (int j = 0; j < w; j++) dh[j] += dh_rec[o + j];
                    lstm_row_backward(d, d + N, d + 2 * N, d + 3 * N, dc + o, dh, dc + o, g, g + N, g + 2 * N,
                                      g + 3 * N, C + t * Bn + o, TC + t * Bn + o, (size_t)w);
                }
                rt_lap(&tm, &tm.cell);
            }
            rec_step_end(ranges, t, nb);
        }
        rt_finish(&tm, prof);
    }
}

static void cpu_lstm_layer_backward(float *dG, float *dH, float *dc, float *dh_rec, const float *G, const float *C,
                                    const float *TC, const float *W_hh, int T, int B, int n) {
    lstm_layer_backward(dG, dH, dc, dh_rec, G, C, TC, W_hh, T, B, n, 0);
}
static void bf16_lstm_layer_backward(float *dG, float *dH, float *dc, float *dh_rec, const float *G, const float *C,
                                     const float *TC, const float *W_hh, int T, int B, int n) {
    pthread_mutex_lock(&bf16_turn);
    lstm_layer_backward(dG, dH, dc, dh_rec, G, C, TC, W_hh, T, B, n, 1);
    pthread_mutex_unlock(&bf16_turn);
}

/* Sums and maxima over a row in 16 independent lanes, so the loops vectorise
 * without reassociation flags; lanes are combined in a fixed order. */
enum { LANES = 16 };

static float row_max(const float *z, int V) {
    float m[LANES];
    for (int l = 0; l < LANES; l++) m[l] = -INFINITY;
    int j = 0;
    for (; j + LANES <= V; j += LANES)
        for (int l = 0; l < LANES; l++) m[l] = z[j + l] > m[l] ? z[j + l] : m[l];
    for (; j < V; j++) m[0] = z[j] > m[0] ? z[j] : m[0];
    float mx = m[0];
    for (int l = 1; l < LANES; l++) mx = m[l] > mx ? m[l] : mx;
    return mx;
}

/* z = exp(z - mx) when store, returns the sum of exp(z - mx). */
static float row_exp_sum(float *z, int V, float mx, int store) {
    float acc[LANES] = {0};
    int j = 0;
    for (; j + LANES <= V; j += LANES)
        for (int l = 0; l < LANES; l++) {
            float e = lm_expf(z[j + l] - mx);
            if (store) z[j + l] = e;
            acc[l] += e;
        }
    for (; j < V; j++) {
        float e = lm_expf(z[j] - mx);
        if (store) z[j] = e;
        acc[0] += e;
    }
    float s = 0;
    for (int l = 0; l < LANES; l++) s += acc[l];
    return s;
}

static void cpu_softmax_xent(float *logits, double *row_nll, const float *bias, const int32_t *targets, size_t rows,
                             int V, float dscale, int want_grad) {
#pragma omp parallel for schedule(static) if (rows * (size_t)V >= PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        float *z = logits + r * V;
        if (targets[r] < 0) {  /* no prediction here: no loss, no gradient */
            row_nll[r] = 0.0;
            if (want_grad) memset(z, 0, (size_t)V * sizeof *z);
            else for (int j = 0; j < V; j++) z[j] += bias[j];
            continue;
        }
        for (int j = 0; j < V; j++) z[j] += bias[j];
        const float mx = row_max(z, V), zt = z[targets[r]];
        const float s = row_exp_sum(z, V, mx, want_grad);
        if (want_grad) {  /* dz = dscale * (softmax - onehot) */
            const float k = dscale / s;
            for (int j = 0; j < V; j++) z[j] *= k;
            z[targets[r]] -= dscale;
        }
        row_nll[r] = (double)mx + log((double)s) - (double)zt;  /* log-sum-exp - z_target */
    }
}

static void cpu_col_sum(float *db, const float *dy, size_t rows, int cols) {
    enum { BLK = 256 };
#pragma omp parallel for schedule(static) if (rows * (size_t)cols >= PAR_MIN)
    for (int j0 = 0; j0 < cols; j0 += BLK) {
        int j1 = j0 + BLK < cols ? j0 + BLK : cols;
        for (int j = j0; j < j1; j++) db[j] = 0.0f;
        for (size_t r = 0; r < rows; r++) {
            const float *row = dy + r * cols;
            for (int j = j0; j < j1; j++) db[j] += row[j];
        }
    }
}

/* 64 fixed chunks, so the sum does not depend on the thread count. Each
 * chunk keeps 16 partial sums: one running sum is bound by the latency of a
 * double add (4 cycles an element); 16 are bound by memory (the large
 * model's SGD step, norm and update, went from 38 to 23 ms a window). */
static double cpu_sumsq(const float *x, size_t n) {
    enum { CHUNKS = 64, LANES = 16 };
    double part[CHUNKS];
    size_t per = (n + CHUNKS - 1) / CHUNKS;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int c = 0; c < CHUNKS; c++) {
        size_t lo = (size_t)c * per < n ? (size_t)c * per : n, hi = lo + per < n ? lo + per : n, i = lo;
        double acc[LANES] = {0};
        for (; i + LANES <= hi; i += LANES)
            for (int j = 0; j < LANES; j++) acc[j] += (double)x[i + j] * x[i + j];
        double s = 0.0;
        for (; i < hi; i++) s += (double)x[i] * x[i];
        for (int j = 0; j < LANES; j++) s += acc[j];
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
    .bias_rows = cpu_bias_rows,
    .lstm_layer_forward = cpu_lstm_layer_forward,
    .lstm_layer_backward = cpu_lstm_layer_backward,
    .softmax_xent = cpu_softmax_xent,
    .col_sum = cpu_col_sum,
    .sumsq = cpu_sumsq,
    .axpy = cpu_axpy,
    .zero = cpu_zero,
    .copy = cpu_copy,
    .profile_recurrence = cpu_profile_recurrence,
};

const lm_backend *lm_backend_cpu(void) { return &cpu_backend; }

/* BF16 products round and pack their operands per call: for a single row
 * (a scoring stream) the packing costs more than the product saves, so one
 * row stays an FP32 matrix-vector product. */
static void bf16_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, const float *B,
                      int ldb, float beta, float *C, int ldc) {
    if (m == 1 && !ta) {
        cpu_gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    pthread_mutex_lock(&bf16_turn);
    lm_gemm_bf16(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
    pthread_mutex_unlock(&bf16_turn);
}

/* The same backend with every matrix product in BF16 (FP32 accumulation and
 * master weights); NULL where the CPU lacks AVX512_BF16. */
static lm_backend cpu_bf16_backend;
static pthread_once_t cpu_bf16_once = PTHREAD_ONCE_INIT;

static void cpu_bf16_make(void) {
    lm_backend b = cpu_backend;
    b.name = "cpu-bf16";
    b.gemm = bf16_gemm;
    b.lstm_layer_forward = bf16_lstm_layer_forward;
    b.lstm_layer_backward = bf16_lstm_layer_backward;
    cpu_bf16_backend = b;
}

const lm_backend *lm_backend_cpu_bf16(void) {
    if (!lm_bf16_available()) return NULL;
    pthread_once(&cpu_bf16_once, cpu_bf16_make);  /* models may be loaded from several threads */
    return &cpu_bf16_backend;
}

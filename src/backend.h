/* The compute backend seam: every numeric kernel the model needs, as a table
 * of functions over backend memory. model.c orchestrates the LSTM once, in
 * terms of these; a CUDA backend fills the same table.
 * Shapes are row-major; "=" or "+=" says whether an output is overwritten or
 * accumulated. */
#ifndef LM_BACKEND_H
#define LM_BACKEND_H

#include <stddef.h>
#include <stdint.h>

typedef struct lm_backend {
    const char *name;
    void *(*alloc)(size_t bytes);                       /* zeroed; NULL on failure */
    void (*free)(void *p);
    void (*upload)(void *dst, const void *src, size_t bytes);    /* host -> backend */
    void (*download)(void *dst, const void *src, size_t bytes);  /* backend -> host */

    /* C (m,n) = alpha * op(A) op(B) + beta * C; op(A) is (m,k), op(B) (k,n). */
    void (*gemm)(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc);
    /* out (rows, n) = emb[ids[r]]  (=) */
    void (*embed_forward)(float *out, const int32_t *ids, const float *emb, size_t rows, int n);
    /* demb[ids[r]] += dout[r]  (+=; rows with repeated ids accumulate) */
    void (*embed_backward)(float *demb, const int32_t *ids, const float *dout, size_t rows, int n);
    /* mask[i] = u_i >= p ? 1/(1-p) : 0 with u_i uniform from (base, i);
     * out = x * mask  (both =) */
    void (*dropout_forward)(float *out, float *mask, const float *x, size_t count, float p, uint64_t base);
    /* y = x * mask  (=) */
    void (*mul)(float *y, const float *x, const float *mask, size_t count);
    /* y (rows, cols) = b1 + b2 broadcast over rows  (=) */
    void (*bias_rows)(float *y, const float *b1, const float *b2, size_t rows, int cols);
    /* The recurrence of one layer over a window of T steps and B streams.
     * In: G (T, B, 4n) holding the input projections plus biases (gate blocks
     * i,f,g,o); H, C (T+1, B, n) with slot 0 the carried-in state.
     * Out: G = gate activations, H and C slots 1..T, TC (T, B, n) = tanh(c_t).
     * Computes per step: G_t += H_{t-1} W_hh^T, then the cell
     * c_t = sigm(f) c_{t-1} + sigm(i) tanh(g), h_t = sigm(o) tanh(c_t). */
    void (*lstm_layer_forward)(float *G, float *H, float *C, float *TC, const float *W_hh, int T, int B, int n);
    /* Its backward (truncated BPTT: no gradient leaves the window).
     * In: dH (T, B, n) = dL/dh_t from the layer above, overwritten (scratch);
     * G, C, TC as left by the forward. Out: dG (T, B, 4n) = dL/d(pre-activations)  (=).
     * Scratch: dc, dh_rec (B, n). */
    void (*lstm_layer_backward)(float *dG, float *dH, float *dc, float *dh_rec, const float *G, const float *C,
                                const float *TC, const float *W_hh, int T, int B, int n);
    /* logits (rows, V) += bias, then row_nll[r] = -log softmax(logits[r])[targets[r]].
     * With want_grad, logits = dscale * (softmax - onehot(target))  (=).
     * A negative target marks a row without a prediction: nll 0, gradient 0. */
    void (*softmax_xent)(float *logits, double *row_nll, const float *bias, const int32_t *targets, size_t rows,
                         int V, float dscale, int want_grad);
    /* db (cols) = sum over rows of dy (rows, cols) */
    void (*col_sum)(float *db, const float *dy, size_t rows, int cols);
    /* sum of squares, deterministic for any thread count */
    double (*sumsq)(const float *x, size_t n);
    /* y += a * x */
    void (*axpy)(float *y, float a, const float *x, size_t n);
    void (*zero)(float *x, size_t n);
    /* Profiling (may be NULL): with acc != NULL, the next lstm_layer_forward
     * or _backward adds the seconds its threads spent, on average, in the
     * per-step products to acc[0] and in the cell to acc[1]; the rest of its
     * wall time is waiting at the per-step barriers. NULL: off. */
    void (*profile_recurrence)(double *acc);
    void (*copy)(float *dst, const float *src, size_t n);
} lm_backend;

const lm_backend *lm_backend_cpu(void);
const lm_backend *lm_backend_cpu_bf16(void);  /* NULL without AVX512_BF16 */

#endif

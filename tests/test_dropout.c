/* Dropout placement. An independent, deliberately naive LSTM (double
 * precision, plain loops, written from SPEC.md section 1) takes the masks the
 * model drew and applies them at the L+1 non-recurrent sites only; the
 * model's loss must equal it. A model that dropped h_{t-1} or c_{t-1}, used a
 * mask at a different site, or reused one mask across steps, would not. */
#include "test_util.h"

#include <math.h>

enum { V = 12, N = 5, T = 4, B = 3 };

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

/* Loss (sum_t mean_b CE) from a zero state; masks[s] (T,B,N) or NULL. */
static double naive_loss(lm_model *m, int L, const int32_t *x, const int32_t *y, const float *const *masks) {
    float *P = lm_model_params(m);
    const float *emb = tensor_ptr(m, P, "emb.weight", NULL);
    const float *ow = tensor_ptr(m, P, "out.weight", NULL), *ob = tensor_ptr(m, P, "out.bias", NULL);
    double h[8][B][N] = {{{0}}}, c[8][B][N] = {{{0}}}, loss = 0;
    for (int t = 0; t < T; t++) {
        for (int b = 0; b < B; b++) {
            double in[N];
            const size_t at = ((size_t)t * B + b) * N;
            for (int j = 0; j < N; j++) in[j] = emb[x[t * B + b] * N + j] * (masks ? masks[0][at + j] : 1.0);
            for (int l = 0; l < L; l++) {
                char name[40];
                snprintf(name, sizeof name, "rnn.weight_ih_l%d", l);
                const float *wi = tensor_ptr(m, P, name, NULL);
                snprintf(name, sizeof name, "rnn.weight_hh_l%d", l);
                const float *wh = tensor_ptr(m, P, name, NULL);
                snprintf(name, sizeof name, "rnn.bias_ih_l%d", l);
                const float *bi = tensor_ptr(m, P, name, NULL);
                snprintf(name, sizeof name, "rnn.bias_hh_l%d", l);
                const float *bh = tensor_ptr(m, P, name, NULL);
                double a[4 * N];
                for (int r = 0; r < 4 * N; r++) {
                    a[r] = bi[r] + bh[r];
                    for (int j = 0; j < N; j++) a[r] += wi[r * N + j] * in[j] + wh[r * N + j] * h[l][b][j];
                }
                for (int j = 0; j < N; j++) {  /* PyTorch gate order i, f, g, o */
                    double i = sigm(a[j]), f = sigm(a[N + j]), g = tanh(a[2 * N + j]), o = sigm(a[3 * N + j]);
                    c[l][b][j] = f * c[l][b][j] + i * g;
                    h[l][b][j] = o * tanh(c[l][b][j]);
                }
                for (int j = 0; j < N; j++) in[j] = h[l][b][j] * (masks ? masks[l + 1][at + j] : 1.0);
            }
            double z[V], mx = -INFINITY, s = 0;
            for (int v = 0; v < V; v++) {
                z[v] = ob[v];
                for (int j = 0; j < N; j++) z[v] += ow[v * N + j] * in[j];
                mx = fmax(mx, z[v]);
            }
            for (int v = 0; v < V; v++) s += exp(z[v] - mx);
            loss += (mx + log(s) - z[y[t * B + b]]) / B;
        }
    }
    return loss;
}

static void placement(int L, float p) {
    lm_config c = tiny_config(L, N, T, B, p);
    lm_model *m;
    lm_error err;
    assert_int_equal(lm_model_create(&m, &c, V, &err), LM_OK);
    int32_t x[T * B], y[T * B];
    random_tokens(x, T * B, V, 3);
    random_tokens(y, T * B, V, 4);

    lm_model_reset_state(m, B);
    double loss = lm_model_forward(m, x, y, T, B, 1) / B;
    const float *masks[9];
    for (int s = 0; s <= L; s++) {
        masks[s] = lm_model_dropout_mask(m, s);
        assert_non_null(masks[s]);
        for (size_t i = 0; i < (size_t)T * B * N; i++)
            assert_true(masks[s][i] == 0.0f || fabsf(masks[s][i] - 1.0f / (1.0f - p)) < 1e-6f);
    }
    assert_null(lm_model_dropout_mask(m, L + 1));  /* exactly L+1 sites */
    double ref = naive_loss(m, L, x, y, masks);
    double ref_nodrop = naive_loss(m, L, x, y, NULL);
    printf("  L=%d p=%.2f: model %.8f, reference with the L+1 masks %.8f, without dropout %.8f\n", L, p, loss, ref,
           ref_nodrop);
    assert_true(fabs(loss - ref) < 1e-5 * fabs(ref));
    assert_true(fabs(loss - ref_nodrop) > 1e-3);  /* the masks did something */

    /* Evaluation draws no masks and matches the reference without dropout. */
    lm_model_reset_state(m, B);
    double eval = lm_model_forward(m, x, y, T, B, 0) / B;
    assert_null(lm_model_dropout_mask(m, 0));
    assert_true(fabs(eval - ref_nodrop) < 1e-5 * fabs(ref_nodrop));
    lm_model_free(m);
}

static void sites_two_layers(void **state) { (void)state; placement(2, 0.5f); }
static void sites_three_layers(void **state) { (void)state; placement(3, 0.3f); }

/* Keep rate over many elements, and fresh masks per step and per window. */
static void keep_rate_and_freshness(void **state) {
    (void)state;
    const int n = 200, steps = 20, batch = 20;
    const float rates[] = {0.5f, 0.65f, 0.2f};
    for (size_t r = 0; r < 3; r++) {
        lm_config c = tiny_config(2, n, steps, batch, rates[r]);
        lm_model *m;
        lm_error err;
        assert_int_equal(lm_model_create(&m, &c, 50, &err), LM_OK);
        int32_t x[20 * 20], y[20 * 20];
        random_tokens(x, 400, 50, 5);
        random_tokens(y, 400, 50, 6);
        lm_model_reset_state(m, batch);
        lm_model_forward(m, x, y, steps, batch, 1);
        const size_t count = (size_t)steps * batch * n, per_step = (size_t)batch * n;
        float *first = malloc(count * sizeof *first);
        memcpy(first, lm_model_dropout_mask(m, 0), count * sizeof *first);
        for (int s = 0; s <= 2; s++) {
            const float *mk = lm_model_dropout_mask(m, s);
            size_t kept = 0;
            for (size_t i = 0; i < count; i++) kept += mk[i] != 0.0f;
            double rate = (double)kept / (double)count;
            printf("  p=%.2f site %d: keep rate %.4f (expected %.4f)\n", rates[r], s, rate, 1.0 - rates[r]);
            assert_true(fabs(rate - (1.0 - rates[r])) < 0.01);  /* 80,000 draws: sd ~0.002 */
            assert_true(memcmp(mk, mk + per_step, per_step * sizeof *mk) != 0);  /* step 0 vs step 1 */
            if (s > 0) assert_true(memcmp(mk, lm_model_dropout_mask(m, 0), count * sizeof *mk) != 0);
        }
        lm_model_forward(m, x, y, steps, batch, 1);
        assert_true(memcmp(first, lm_model_dropout_mask(m, 0), count * sizeof *first) != 0);  /* next window */
        free(first);
        lm_model_free(m);
    }
}

int main(void) {
    lm_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sites_two_layers),
        cmocka_unit_test(sites_three_layers),
        cmocka_unit_test(keep_rate_and_freshness),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

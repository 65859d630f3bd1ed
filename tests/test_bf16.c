/* The BF16 matrix products: every transpose case and ragged edge against a
 * double-precision product of the same bf16-rounded operands (so only FP32
 * accumulation may differ), the packed per-step products of the recurrence,
 * a whole model in BF16 against the same model in FP32, and two BF16 models
 * used from two threads at once. Each runs once per kernel, vdpbf16ps and AMX
 * tiles; skipped on CPUs without AVX512_BF16 (or AMX, for its runs). */
#include "test_util.h"

#include "gemm_bf16.h"

#include <math.h>
#include <pthread.h>

static float round_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

static float urand(uint64_t *s) { return (float)((double)(test_rand(s) >> 11) / 9007199254740992.0) - 0.5f; }

/* rows x k: row r = row r of X (trans: column r), bf16-rounded, in double.
 * Rounded once, read in order: the references' inner loops stay cheap in the
 * sanitizer build, which runs them at -O0. */
static double *rounded_rows(const float *X, int ld, int trans, int rows, int k) {
    double *R = malloc((size_t)rows * k * sizeof *R);
    for (int r = 0; r < rows; r++)
        for (int q = 0; q < k; q++)
            R[(size_t)r * k + q] = round_bf16(trans ? X[(size_t)q * ld + r] : X[(size_t)r * ld + q]);
    return R;
}

/* sum_q a[q] b[q] in double, and sum |a[q] b[q]| into *sa (the error scale) */
static double ref_dot(const double *a, const double *b, int k, double *sa) {
    double s = 0;
    *sa = 0;
    for (int q = 0; q < k; q++) {
        const double p = a[q] * b[q];
        s += p, *sa += fabs(p);
    }
    return s;
}

/* Worst error of C against alpha op(A) op(B) + beta C0 (bf16-rounded operands),
 * relative to sum |a b|; -1 if anything outside the (m, n) block changed: the
 * columns right of it and two guard rows below it (a tile store writes 16
 * rows whole). */
static double gemm_error(int ta, int tb, int m, int n, int k, float alpha, float beta, uint64_t seed) {
    enum { GUARD = 2 };
    const int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 5;
    const size_t na = (size_t)(ta ? k : m) * lda, nb = (size_t)(tb ? n : k) * ldb, nc = (size_t)(m + GUARD) * ldc;
    float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *C = malloc(nc * sizeof *C),
          *C0 = malloc(nc * sizeof *C0);
    for (size_t i = 0; i < na; i++) A[i] = urand(&seed);
    for (size_t i = 0; i < nb; i++) B[i] = urand(&seed);
    for (size_t i = 0; i < nc; i++) C0[i] = urand(&seed);
    for (size_t i = 0; i < nc; i++)  /* beta 0: C unread */
        C[i] = beta == 0.0f && (int)(i % ldc) < n && i < (size_t)m * ldc ? NAN : C0[i];
    lm_gemm_bf16(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
    double *Ar = rounded_rows(A, lda, ta, m, k), *Bc = rounded_rows(B, ldb, !tb, n, k);  /* op(A), op(B)^T */
    double worst = 0;
    for (size_t i = (size_t)m * ldc; i < nc; i++)
        if (C[i] != C0[i]) worst = -1;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < ldc; j++) {
            const float got = C[(size_t)i * ldc + j];
            if (j >= n) {
                if (got != C0[(size_t)i * ldc + j]) worst = -1;
                continue;
            }
            double sa;
            const double s = ref_dot(Ar + (size_t)i * k, Bc + (size_t)j * k, k, &sa);
            const double ref = alpha * s + (beta == 0.0f ? 0.0 : beta * C0[(size_t)i * ldc + j]);
            const double e = fabs(got - ref) / (fabs(alpha) * sa + fabs(beta) + 1e-30);
            if (worst >= 0 && !(e <= worst)) worst = isnan(e) ? 1e30 : e;
        }
    free(A), free(B), free(C), free(C0), free(Ar), free(Bc);
    return worst;
}

static void skip_without_bf16(void) {
    if (!lm_bf16_available()) {
        printf("# no AVX512_BF16 on this CPU: skipped\n");
        skip();
    }
}

/* The kernel a test runs with is its state: 0 vdpbf16ps, 1 AMX. */
static int kernel_vdp = 0, kernel_amx = 1;
static void use_kernel(void **state) {
    const int amx = *(const int *)*state;
    if (amx && !lm_amx_available()) {
        printf("# no AMX on this CPU (or not granted): skipped\n");
        skip();
    }
    if (lm_bf16_available()) lm_bf16_use_amx(amx);
    printf("# kernel: %s\n", amx ? "amx" : "avx512bf16");
}

static void test_gemm_cases(void **state) {
    skip_without_bf16();
    use_kernel(state);
    /* k around the block sizes (LM_BF16_KC, and AMX's LM_BF16_KC_AMX): one
     * block, a ragged second, three */
    /* m: MR (6) and past it; AMX's 16-row and 32-row blocks whole, and ragged */
    const int ms[] = {1, 6, 7, 16, 20, 32, 37}, ns[] = {1, 16, 17, 64, 65, 130};
    const int ks[] = {1, 2, 3, LM_BF16_KC_AMX + 1, LM_BF16_KC - 1, LM_BF16_KC, LM_BF16_KC + 1, 2 * LM_BF16_KC + 88};
    const float betas[] = {0.0f, 1.0f, 0.5f};
    uint64_t seed = 1;
    double worst = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int a = 0; a < 7; a++)
                for (int b = 0; b < 6; b++)
                    for (int c = 0; c < 8; c++) {
                        const double e = gemm_error(ta, tb, ms[a], ns[b], ks[c], c % 2 ? 1.0f : 0.7f,
                                                    betas[(a + b + c) % 3], seed++);
                        if (e < 0) fail_msg("wrote outside C: ta %d tb %d m %d n %d k %d", ta, tb, ms[a], ns[b], ks[c]);
                        if (e > worst) worst = e;
                    }
    /* big enough for the threaded path (both loop orders) */
    lm_set_threads(2);
    const double big1 = gemm_error(0, 1, 300, 1000, 130, 1.0f, 0.0f, 99);
    const double big2 = gemm_error(1, 0, 1000, 130, 300, 1.0f, 1.0f, 98);
    /* k >> m, n: threads split k and add their partial sums */
    const double split1 = gemm_error(0, 0, 50, 70, 2 * LM_BF16_KC + 1000, 0.9f, 0.5f, 97);
    const double split2 = gemm_error(1, 1, 45, 66, 1100, 1.0f, 0.0f, 96);
    lm_set_threads(1);
    printf("# worst relative error %.2e (small cases), %.2e, %.2e (threaded), %.2e, %.2e (split k)\n", worst, big1,
           big2, split1, split2);
    assert_true(split1 >= 0 && split1 < 1e-6);
    assert_true(split2 >= 0 && split2 < 1e-6);
    assert_true(worst < 1e-6);
    assert_true(big1 >= 0 && big1 < 1e-6);
    assert_true(big2 >= 0 && big2 < 1e-6);
}

/* The per-step path: pack B once (plain or transposed),
 * pack A, multiply with and without accumulation. A short k, and one of
 * several AMX blocks (summed block by block in the kernel) with 20 and 16
 * rows; 48 rows, two blocks of A. */
static void packed_case(int m, int k, int n, uint64_t seed) {
    float *A = malloc((size_t)m * k * sizeof *A), *W = malloc((size_t)n * k * sizeof *W);
    float *C = malloc((size_t)m * n * sizeof *C), *C0 = malloc((size_t)m * n * sizeof *C0);
    for (int i = 0; i < m * k; i++) A[i] = urand(&seed);
    for (int i = 0; i < n * k; i++) W[i] = urand(&seed);
    for (int i = 0; i < m * n; i++) C0[i] = urand(&seed);
    double *Ar = rounded_rows(A, k, 0, m, k), *Wr = rounded_rows(W, k, 0, n, k);  /* the reference's operands */
    /* buffers full of NaN first: packing must write every pair a kernel reads */
    uint32_t *work = malloc(lm_bf16_a_pairs(m, k) * sizeof *work);
    memset(work, 0xff, lm_bf16_a_pairs(m, k) * sizeof *work);
    lm_bf16_pack_a(work, m, k, A, k);
    lm_bf16_b pb = {0};
    assert_true(lm_bf16_b_reserve(&pb, k, n));
    memset(pb.p, 0xff, pb.cap);
    for (int variant = 0; variant < 2; variant++)
        for (int acc = 0; acc < 2; acc++) {
            if (variant == 0) assert_true(lm_bf16_pack_b(&pb, 1, k, n, W, k));   /* op(B) = W^T */
            float *Wt = NULL;
            if (variant == 1) {  /* op(B) = Wt (k, n) stored plainly */
                Wt = malloc((size_t)k * n * sizeof *Wt);
                for (int q = 0; q < k; q++)
                    for (int j = 0; j < n; j++) Wt[(size_t)q * n + j] = W[(size_t)j * k + q];
                assert_true(lm_bf16_pack_b(&pb, 0, k, n, Wt, n));
            }
            memcpy(C, C0, (size_t)m * n * sizeof *C);
            lm_bf16_mul(m, work, &pb, C, n, acc);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double sa;
                    const double dot = ref_dot(Ar + (size_t)i * k, Wr + (size_t)j * k, k, &sa);
                    const double s = dot + (acc ? C0[i * n + j] : 0);
                    assert_true(fabs(C[i * n + j] - s) <= 1e-6 * (sa + 1));
                }
            free(Wt);
        }
    lm_bf16_b_free(&pb);
    free(A), free(W), free(C), free(C0), free(work), free(Ar), free(Wr);
}

static void test_packed(void **state) {
    skip_without_bf16();
    use_kernel(state);
    packed_case(7, 131, 150, 5);
    packed_case(20, 2 * LM_BF16_KC_AMX + 77, 70, 6);
    packed_case(16, 2 * LM_BF16_KC_AMX + 77, 70, 7);  /* whole 16-row tiles, k in blocks */
    packed_case(48, 300, 130, 8);                       /* a second 32-row block of A */
}

/* One training window of the same model in FP32 and BF16 (2 threads, ragged
 * unit slices): loss and gradient agree to bf16 accuracy, and switching back
 * to FP32 reproduces the FP32 model bit for bit. */
static void test_model(void **state) {
    skip_without_bf16();
    use_kernel(state);
    enum { V = 50, N = 110, L = 2, T = 6, B = 20 };  /* B N 4 >= PAR_MIN / 4: the threaded recurrence */
    lm_set_threads(2);
    lm_config c = tiny_config(L, N, T, B, 0.3f);
    c.init = 0.1f;
    lm_model *f32, *b16;
    lm_error err;
    assert_int_equal(lm_model_create(&f32, &c, V, &err), LM_OK);
    c.bf16 = 1;
    assert_int_equal(lm_model_create(&b16, &c, V, &err), LM_OK);
    int32_t x[T * B], y[T * B];
    random_tokens(x, T * B, V, 3);
    random_tokens(y, T * B, V, 4);
    const size_t np = lm_model_num_params(f32);
    assert_memory_equal(lm_model_params(f32), lm_model_params(b16), np * sizeof(float));

    const double l32 = lm_model_forward(f32, x, y, T, B, 1);
    lm_model_backward(f32);
    const double l16 = lm_model_forward(b16, x, y, T, B, 1);
    lm_model_backward(b16);
    const float *g32 = lm_model_grads(f32), *g16 = lm_model_grads(b16);
    double d2 = 0, n2 = 0, dot = 0, m2 = 0;
    for (size_t i = 0; i < np; i++) {
        d2 += (double)(g16[i] - g32[i]) * (g16[i] - g32[i]);
        n2 += (double)g32[i] * g32[i], m2 += (double)g16[i] * g16[i], dot += (double)g16[i] * g32[i];
    }
    const double rel = sqrt(d2 / n2), cosine = dot / sqrt(n2 * m2);
    printf("# loss fp32 %.6f bf16 %.6f; gradient relative error %.2e, cosine %.6f\n", l32, l16, rel, cosine);
    assert_true(fabs(l16 - l32) < 2e-3 * fabs(l32));
    assert_true(rel < 2e-2);
    assert_true(cosine > 0.9995);

    /* the same window again in FP32 after switching: identical to the FP32 model */
    assert_int_equal(lm_model_set_bf16(b16, 0, &err), LM_OK);
    lm_model_reset_state(f32, B), lm_model_reset_state(b16, B);
    lm_model_set_rng_state(b16, lm_model_rng_state(f32));
    const double a = lm_model_forward(f32, x, y, T, B, 1), b = lm_model_forward(b16, x, y, T, B, 1);
    assert_true(a == b);
    lm_model_free(f32);
    lm_model_free(b16);
    lm_set_threads(1);
}

/* More threads than the recurrence keeps work ranges for (64): the window
 * runs on at most that many and agrees with the 2-thread one, FP32 and BF16
 * (the products' split of k depends on the thread count, so not bit for bit). */
static void test_many_threads(void **state) {
    use_kernel(state);
    enum { V = 40, N = 130, L = 1, T = 3, B = 16 };  /* B N 4 >= PAR_MIN / 4: the threaded recurrence */
    /* FP32 once, in the first kernel's run: it does not depend on the kernel */
    for (int bf16 = *(const int *)*state; bf16 < 1 + lm_bf16_available(); bf16++) {
        lm_config c = tiny_config(L, N, T, B, 0.0f);
        c.init = 0.1f;
        c.bf16 = bf16;
        int32_t x[T * B], y[T * B];
        random_tokens(x, T * B, V, 5);
        random_tokens(y, T * B, V, 6);
        double loss[2];
        float *grads[2];
        size_t np = 0;
        const int threads[2] = {2, 66};
        for (int k = 0; k < 2; k++) {
            lm_set_threads(threads[k]);
            lm_model *m;
            lm_error err;
            assert_int_equal(lm_model_create(&m, &c, V, &err), LM_OK);
            loss[k] = lm_model_forward(m, x, y, T, B, 1);
            lm_model_backward(m);
            np = lm_model_num_params(m);
            grads[k] = malloc(np * sizeof *grads[k]);
            memcpy(grads[k], lm_model_grads(m), np * sizeof *grads[k]);
            lm_model_free(m);
        }
        double d2 = 0, n2 = 0;
        for (size_t i = 0; i < np; i++)
            d2 += (double)(grads[1][i] - grads[0][i]) * (grads[1][i] - grads[0][i]), n2 += (double)grads[0][i] * grads[0][i];
        printf("# %s: loss %.9f at 2 threads, %.9f at 66; gradient relative difference %.2e\n", bf16 ? "bf16" : "fp32",
               loss[0], loss[1], sqrt(d2 / n2));
        assert_true(fabs(loss[1] - loss[0]) <= 1e-6 * fabs(loss[0]));
        assert_true(sqrt(d2 / n2) < 1e-5);
        free(grads[0]), free(grads[1]);
    }
    lm_set_threads(1);
}

/* Two BF16 models stepped from two threads at once (the products share
 * process-wide packing buffers, which take turns): each thread's windows give
 * exactly what they give when it runs alone. */
typedef struct {
    lm_model *m;
    int T, B, reps;
    const int32_t *x, *y;
    double loss, grad_sum;  /* over every repetition */
} stepper;

static void *run_stepper(void *p) {
    stepper *s = p;
    s->loss = s->grad_sum = 0;
    for (int r = 0; r < s->reps; r++) {
        lm_model_reset_state(s->m, s->B);
        s->loss += lm_model_forward(s->m, s->x, s->y, s->T, s->B, 1);
        lm_model_backward(s->m);
        const float *g = lm_model_grads(s->m);
        for (size_t i = 0; i < lm_model_num_params(s->m); i++) s->grad_sum += g[i] * (double)(i % 7 + 1);
    }
    return NULL;
}

static void test_two_threads(void **state) {
    skip_without_bf16();
    use_kernel(state);
    enum { V = 60, T = 5, B = 24, REPS = 12 };
    const int hidden[2] = {130, 70};  /* two shapes: the shared buffers are also regrown */
    int32_t x[T * B], y[T * B];
    random_tokens(x, T * B, V, 7);
    random_tokens(y, T * B, V, 8);
    stepper s[2];
    lm_error err;
    for (int k = 0; k < 2; k++) {
        lm_config c = tiny_config(2, hidden[k], T, B, 0.0f);
        c.init = 0.1f, c.bf16 = 1, c.seed = 11 + (uint64_t)k;
        s[k] = (stepper){NULL, T, B, REPS, x, y, 0, 0};
        assert_int_equal(lm_model_create(&s[k].m, &c, V, &err), LM_OK);
    }
    double alone[2][2];
    for (int k = 0; k < 2; k++) {  /* alone, in a thread of its own (OpenMP's per-thread settings alike) */
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, run_stepper, &s[k]), 0);
        pthread_join(t, NULL);
        alone[k][0] = s[k].loss, alone[k][1] = s[k].grad_sum;
    }
    for (int round = 0; round < 3; round++) {
        pthread_t t[2];
        for (int k = 0; k < 2; k++) assert_int_equal(pthread_create(&t[k], NULL, run_stepper, &s[k]), 0);
        for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
        for (int k = 0; k < 2; k++)
            if (s[k].loss != alone[k][0] || s[k].grad_sum != alone[k][1])
                fail_msg("model %d, round %d: loss %.17g and gradient sum %.17g side by side, %.17g and %.17g alone", k,
                         round, s[k].loss, s[k].grad_sum, alone[k][0], alone[k][1]);
    }
    for (int k = 0; k < 2; k++) lm_model_free(s[k].m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define BOTH(f) cmocka_unit_test_prestate(f, &kernel_vdp), cmocka_unit_test_prestate(f, &kernel_amx)
        BOTH(test_gemm_cases), BOTH(test_packed), BOTH(test_model), BOTH(test_many_threads), BOTH(test_two_threads),
#undef BOTH
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

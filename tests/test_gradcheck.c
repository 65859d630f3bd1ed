/* Analytic gradients of the whole model against central finite differences,
 * for every parameter tensor, with dropout off and on (the masks are the
 * same in every evaluation because the RNG state is restored). The window
 * starts from a non-zero carried state, so the truncated gradient with a
 * given initial state is what is checked. */
#include "test_util.h"

#include <math.h>

enum { V = 12, N = 5, L = 2, T = 4, B = 3 };

typedef struct {
    lm_model *m;
    int32_t x0[T * B], y0[T * B], x1[T * B], y1[T * B];
    uint64_t rng;
} setup;

/* Loss of window 1 (sum_t mean_b CE) after window 0 set the carried state.
 * Only window 1 sees the current parameters' perturbation when the caller
 * applies it between the two forwards, hence the callback shape. */
static double window1_loss(setup *s, float *param, float delta) {
    lm_model_set_rng_state(s->m, s->rng);
    lm_model_reset_state(s->m, B);
    lm_model_forward(s->m, s->x0, s->y0, T, B, 1);
    float saved = 0;
    if (param) saved = *param, *param += delta;
    double loss = lm_model_forward(s->m, s->x1, s->y1, T, B, 1) / B;
    if (param) *param = saved;
    return loss;
}

static void check(float dropout) {
    lm_config c = tiny_config(L, N, T, B, dropout);
    setup s;
    lm_error err;
    assert_int_equal(lm_model_create(&s.m, &c, V, &err), LM_OK);
    int32_t stream[2 * T * B + B];
    random_tokens(stream, sizeof stream / sizeof *stream, V, 7);
    for (int i = 0; i < T * B; i++) {
        s.x0[i] = stream[i], s.y0[i] = stream[i + B];
        s.x1[i] = stream[T * B + i], s.y1[i] = stream[T * B + B + i];
    }
    s.rng = lm_model_rng_state(s.m);

    window1_loss(&s, NULL, 0);
    lm_model_backward(s.m);
    size_t np = lm_model_num_params(s.m);
    float *analytic = malloc(np * sizeof *analytic);
    memcpy(analytic, lm_model_grads(s.m), np * sizeof *analytic);
    if (dropout > 0) assert_non_null(lm_model_dropout_mask(s.m, 0));

    float *params = lm_model_params(s.m);
    const float eps = 1e-2f;
    double worst = 0;
    for (int k = 0; k < lm_model_num_tensors(s.m); k++) {
        const lm_tensor_info *t = lm_model_tensor(s.m, k);
        double diff2 = 0, a2 = 0, n2 = 0;
        for (size_t i = 0; i < t->size; i++) {
            float *p = params + t->offset + i;
            double num = (window1_loss(&s, p, eps) - window1_loss(&s, p, -eps)) / (2.0 * eps);
            double a = analytic[t->offset + i];
            diff2 += (a - num) * (a - num), a2 += a * a, n2 += num * num;
        }
        double rel = sqrt(diff2) / fmax(fmax(sqrt(a2), sqrt(n2)), 1e-12);
        printf("  dropout %.2f  %-18s |g| %9.3e  relative error %.2e\n", dropout, t->name, sqrt(a2), rel);
        assert_true(sqrt(a2) > 1e-6);  /* a zero gradient would pass vacuously */
        worst = fmax(worst, rel);
    }
    printf("  worst relative error %.2e\n", worst);
    assert_true(worst < 1e-2);
    free(analytic);
    lm_model_free(s.m);
}

static void gradcheck_no_dropout(void **state) { (void)state; check(0.0f); }
static void gradcheck_with_dropout(void **state) { (void)state; check(0.4f); }

int main(void) {
    lm_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gradcheck_no_dropout),
        cmocka_unit_test(gradcheck_with_dropout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

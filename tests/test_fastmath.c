/* The fast exp, sigmoid and tanh of the CPU kernels against libm over the
 * ranges the model uses (softmax: exp of x <= 0; gates: any pre-activation). */
#include "test_util.h"
#include "fastmath.h"

#include <math.h>

static void exp_within_two_ulp(void **state) {
    (void)state;
    double worst = 0;
    float at = 0;
    for (float x = -87.0f; x <= 88.0f; x += 0.000731f) {
        double ref = exp((double)x), got = lm_expf(x);
        double ulp = ldexp(1.0, ilogb(ref) - 23);
        double e = fabs(got - ref) / ulp;
        if (e > worst) worst = e, at = x;
    }
    printf("  exp: max error %.2f ulp (at x = %g)\n", worst, at);
    assert_true(worst <= 2.0);
    assert_true(lm_expf(-1000.0f) < 1e-37f && lm_expf(-INFINITY) < 1e-37f);  /* banned logits */
    assert_true(isfinite(lm_expf(1000.0f)));
}

static void sigmoid_and_tanh_absolute_error(void **state) {
    (void)state;
    double ws = 0, wt = 0;
    for (float x = -30.0f; x <= 30.0f; x += 0.0001237f) {
        ws = fmax(ws, fabs(lm_sigmf(x) - 1.0 / (1.0 + exp(-(double)x))));
        wt = fmax(wt, fabs(lm_tanhf(x) - tanh((double)x)));
    }
    printf("  sigmoid: max abs error %.2e; tanh: %.2e\n", ws, wt);
    assert_true(ws < 2e-7 && wt < 2e-7);
    assert_true(lm_tanhf(50.0f) == 1.0f && lm_tanhf(-50.0f) == -1.0f && lm_tanhf(0.0f) == 0.0f);
}

/* NaN propagates (a diverged model must not look finite) and reaches no
 * undefined float -> int conversion (UBSan in the sanitizer build). */
static void nan_in_nan_out(void **state) {
    (void)state;
    assert_true(isnan(lm_expf(NAN)));
    assert_true(isnan(lm_sigmf(NAN)));
    assert_true(isnan(lm_tanhf(NAN)));
    assert_true(lm_expf(INFINITY) > 1e38f && lm_expf(-INFINITY) < 1e-37f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exp_within_two_ulp),
        cmocka_unit_test(sigmoid_and_tanh_absolute_error),
        cmocka_unit_test(nan_in_nan_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The same seed gives bit-identical training; another seed does not; timing
 * the phases (lm_model_profile) changes nothing. */
#include "test_util.h"

enum { V = 40, WORDS = 3000 };

typedef struct {
    double nll[2];
    float *params;
    size_t n_params;
} run_result;

static run_result run(uint64_t seed, int threads, int profile) {
    lm_set_threads(threads);
    lm_config c = tiny_config(2, 24, 6, 5, 0.3f);
    c.seed = seed;
    c.init = 0.1f;
    lm_model *m;
    lm_error err;
    assert_int_equal(lm_model_create(&m, &c, V, &err), LM_OK);
    if (profile) lm_model_profile(m, 1);
    int32_t *ids = malloc(WORDS * sizeof *ids);
    random_tokens(ids, WORDS, V, 11);
    lm_tokens t = {.ids = ids, .n = WORDS};
    run_result r;
    for (int e = 0; e < 2; e++) {
        lm_run_stats s;
        size_t done;
        assert_int_equal(lm_train_epoch(m, &t, 0.5f, 0, NULL, NULL, &s, &done, &err), LM_OK);
        assert_int_equal(done, lm_train_windows(m, &t));
        r.nll[e] = s.nll;
    }
    if (profile) {  /* every phase named, none negative, the recurrence's parts seen */
        lm_phase_time ph[64];
        const int n = lm_model_profile_read(m, ph, 64);
        double total = 0;
        assert_true(n >= 10 && n <= 64);
        for (int i = 0; i < n; i++) {
            assert_non_null(ph[i].name);
            assert_true(ph[i].seconds >= 0);
            total += ph[i].seconds;
            if (strstr(ph[i].name, "per step") || strstr(ph[i].name, "SGD")) assert_true(ph[i].seconds > 0);
        }
        assert_true(total > 0);
        lm_model_profile(m, 0);
    }
    r.n_params = lm_model_num_params(m);
    r.params = malloc(r.n_params * sizeof *r.params);
    memcpy(r.params, lm_model_params(m), r.n_params * sizeof *r.params);
    free(ids);
    lm_model_free(m);
    return r;
}

static void same_seed_bit_identical(void **state) {
    (void)state;
    for (int threads = 1; threads <= 2; threads++) {
        run_result a = run(5, threads, 0), b = run(5, threads, 1), c = run(6, threads, 0);
        printf("  threads %d: seed 5 epoch losses %.17g %.17g / %.17g %.17g; seed 6 %.17g\n", threads, a.nll[0],
               a.nll[1], b.nll[0], b.nll[1], c.nll[1]);
        assert_memory_equal(a.nll, b.nll, sizeof a.nll);
        assert_memory_equal(a.params, b.params, a.n_params * sizeof *a.params);
        assert_true(a.nll[1] != c.nll[1]);
        assert_true(memcmp(a.params, c.params, a.n_params * sizeof *a.params) != 0);
        free(a.params), free(b.params), free(c.params);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(same_seed_bit_identical)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

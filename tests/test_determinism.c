/* The same seed gives bit-identical training; another seed does not. */
#include "test_util.h"

enum { V = 40, WORDS = 3000 };

typedef struct {
    double nll[2];
    float *params;
    size_t n_params;
} run_result;

static run_result run(uint64_t seed, int threads) {
    lm_set_threads(threads);
    lm_config c = tiny_config(2, 24, 6, 5, 0.3f);
    c.seed = seed;
    c.init = 0.1f;
    lm_model *m;
    lm_error err;
    assert_int_equal(lm_model_create(&m, &c, V, &err), LM_OK);
    int32_t *ids = malloc(WORDS * sizeof *ids);
    random_tokens(ids, WORDS, V, 11);
    lm_tokens t = {ids, WORDS, 0};
    run_result r;
    for (int e = 0; e < 2; e++) {
        lm_run_stats s;
        size_t done;
        assert_int_equal(lm_train_epoch(m, &t, 0.5f, 0, NULL, NULL, &s, &done, &err), LM_OK);
        assert_int_equal(done, lm_train_windows(m, &t));
        r.nll[e] = s.nll;
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
        run_result a = run(5, threads), b = run(5, threads), c = run(6, threads);
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

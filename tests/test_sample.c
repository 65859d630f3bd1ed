/* Generation and model averaging: sampling is deterministic under a seed,
 * honours banned words, top-k and temperature 0 (the argmax); an ensemble of
 * a model with itself equals the model, and a real mixture is computed as the
 * mean of probabilities. */
#include "test_util.h"

#include <math.h>

enum { V = 25 };

static lm_model *model(uint64_t seed) {
    lm_config c = tiny_config(2, 12, 6, 3, 0.0f);
    c.seed = seed;
    c.init = 1.0f;  /* peaked distributions, so top-k and argmax matter */
    lm_model *m;
    lm_error err;
    assert_int_equal(lm_model_create(&m, &c, V, &err), LM_OK);
    return m;
}

static void sampling_is_deterministic_and_honours_options(void **state) {
    (void)state;
    lm_model *m = model(1);
    const int32_t prefix[] = {0, 3, 4, 5, 6, 7, 8, 9, 10};  /* longer than one window of 6 */
    int32_t a[200], b[200], c[200];
    lm_error err;
    lm_sample_opts o = {1.0f, 0, NULL};
    uint64_t r1 = 77, r2 = 77, r3 = 78;
    assert_int_equal(lm_sample(m, prefix, 9, 200, &o, &r1, a, &err), LM_OK);
    assert_int_equal(lm_sample(m, prefix, 9, 200, &o, &r2, b, &err), LM_OK);
    assert_int_equal(lm_sample(m, prefix, 9, 200, &o, &r3, c, &err), LM_OK);
    assert_memory_equal(a, b, sizeof a);
    assert_true(memcmp(a, c, sizeof a) != 0);

    unsigned char banned[V] = {0};
    banned[1] = banned[2] = 1;
    int seen[V] = {0};
    o.banned = banned;
    assert_int_equal(lm_sample(m, prefix, 9, 200, &o, &r1, a, &err), LM_OK);
    for (int i = 0; i < 200; i++) seen[a[i]]++;
    assert_int_equal(seen[1] + seen[2], 0);
    int distinct = 0;
    for (int j = 0; j < V; j++) distinct += seen[j] > 0;
    assert_true(distinct > 3);  /* it does sample */

    /* Temperature 0: every word is the argmax of the model's logits. */
    o = (lm_sample_opts){0.0f, 0, NULL};
    assert_int_equal(lm_sample(m, prefix, 9, 20, &o, &r1, a, &err), LM_OK);
    int32_t seq[30];
    memcpy(seq, prefix, sizeof prefix);
    memcpy(seq + 9, a, 20 * sizeof *a);
    lm_model_reset_state(m, 1);
    float z[V];
    int32_t dummy[6] = {0};
    for (int i = 0; i < 9 + 19; i++) {
        lm_model_forward(m, &seq[i], dummy, 1, 1, 0);
        lm_model_logits_row(m, 0, z);
        if (i >= 8) {
            int best = 0;
            for (int j = 1; j < V; j++) best = z[j] > z[best] ? j : best;
            assert_int_equal(a[i - 8], best);
        }
    }
    /* Top-1 sampling is the argmax too. */
    o = (lm_sample_opts){1.0f, 1, NULL};
    assert_int_equal(lm_sample(m, prefix, 9, 20, &o, &r1, b, &err), LM_OK);
    assert_memory_equal(a, b, 20 * sizeof *a);
    lm_model_free(m);
}

static void ensemble_of_itself_and_mixture(void **state) {
    (void)state;
    lm_model *a = model(1), *b = model(2), *a2 = model(1);  /* a2: a's twin, same weights */
    int32_t *ids = malloc(500 * sizeof *ids);
    random_tokens(ids, 500, V, 9);
    lm_tokens t = {.ids = ids, .n = 500};
    lm_error err;
    lm_run_stats single, each[2], ens;
    for (int batch = 1; batch <= 3; batch += 2) {
        assert_int_equal(lm_evaluate(a, &t, batch, 6, NULL, NULL, &single, &err), LM_OK);
        lm_model *same[2] = {a, a2};
        assert_int_equal(lm_evaluate_ensemble(same, 2, &t, batch, 6, NULL, NULL, each, &ens, &err), LM_OK);
        printf("  batch %d: model %.6f, ensemble with itself %.6f\n", batch, lm_perplexity(&single), lm_perplexity(&ens));
        assert_int_equal(ens.words, single.words);
        assert_true(fabs(lm_perplexity(&ens) - lm_perplexity(&single)) < 1e-9 * lm_perplexity(&single));
        assert_true(fabs(each[0].nll - single.nll) < 1e-12 * single.nll);
    }
    /* Two different models: the mixture's NLL per word is -log((p_a + p_b) / 2). */
    lm_model *two[2] = {a, b};
    assert_int_equal(lm_evaluate_ensemble(two, 2, &t, 1, 6, NULL, NULL, each, &ens, &err), LM_OK);
    double expect = 0;
    lm_model_reset_state(a, 1), lm_model_reset_state(b, 1);
    for (size_t i = 0; i + 1 < t.n; i++) {
        double na = lm_model_forward(a, &ids[i], &ids[i + 1], 1, 1, 0);
        double nb = lm_model_forward(b, &ids[i], &ids[i + 1], 1, 1, 0);
        expect += -log(0.5 * (exp(-na) + exp(-nb)));
    }
    printf("  models %.4f and %.4f, mixture %.4f (by hand %.4f)\n", lm_perplexity(&each[0]), lm_perplexity(&each[1]),
           lm_perplexity(&ens), exp(expect / (double)(t.n - 1)));
    assert_true(fabs(ens.nll - expect) < 1e-6 * expect);
    lm_model *twice[2] = {a, a};  /* one object cannot carry two states */
    assert_int_equal(lm_evaluate_ensemble(twice, 2, &t, 1, 6, NULL, NULL, each, &ens, &err), LM_EARG);
    assert_string_equal(err.msg, "model 2 is model 1 again: load the file twice");
    lm_model *hole[2] = {a, NULL};
    assert_int_equal(lm_evaluate_ensemble(hole, 2, &t, 1, 6, NULL, NULL, each, &ens, &err), LM_EARG);
    assert_string_equal(err.msg, "model 2 is NULL");
    assert_int_equal(lm_evaluate_ensemble(two, 0, &t, 1, 6, NULL, NULL, each, &ens, &err), LM_EARG);
    lm_config c = tiny_config(2, 12, 6, 3, 0.0f);
    lm_model *wider;  /* one more word: the members would average different events */
    assert_int_equal(lm_model_create(&wider, &c, V + 1, &err), LM_OK);
    lm_model *mixed[2] = {a, wider};
    assert_int_equal(lm_evaluate_ensemble(mixed, 2, &t, 1, 6, NULL, NULL, each, &ens, &err), LM_EARG);
    assert_non_null(strstr(err.msg, "model 2 has 26 words, model 1 has 25"));
    lm_model_free(wider);
    /* a member of another kind is named by its kind, before any vocabulary
     * comparison (a frames model has as many "words" as classes) */
    c.task = LM_TASK_FRAMES, c.input_dim = 4, c.delay = 0;
    lm_model *frames;
    assert_int_equal(lm_model_create(&frames, &c, 7, &err), LM_OK);
    lm_model *kinds[2] = {a, frames};
    assert_int_equal(lm_evaluate_ensemble(kinds, 2, &t, 1, 6, NULL, NULL, each, &ens, &err), LM_EARG);
    assert_string_equal(err.msg, "model 2: evaluation on text needs a model that reads words; this one classifies "
                                 "frames of 4 features");
    lm_model_free(frames);
    free(ids);
    lm_model_free(a), lm_model_free(b), lm_model_free(a2);
}

int main(void) {
    lm_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sampling_is_deterministic_and_honours_options),
        cmocka_unit_test(ensemble_of_itself_and_mixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

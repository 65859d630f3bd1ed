/* Exact resume: training stopped at a window boundary, saved with its
 * training state, loaded into a fresh model and continued ends with weights
 * and losses bit-identical to an uninterrupted run. */
#include "test_util.h"

enum { V = 30, WORDS = 4000 };

static int stop_at = -1;
static int stop_after(void *user, size_t done, size_t total, const lm_run_stats *s) {
    (void)user, (void)total, (void)s;
    return (int)done == stop_at;
}

static lm_model *fresh(void) {
    lm_config c = tiny_config(2, 16, 5, 4, 0.3f);
    c.init = 0.1f, c.epochs = 2, c.max_epoch = 1;
    lm_model *m;
    lm_error err;
    assert_int_equal(lm_model_create(&m, &c, V, &err), LM_OK);
    return m;
}

static void resumed_run_is_bit_identical(void **state) {
    (void)state;
    int32_t *ids = malloc(WORDS * sizeof *ids);
    random_tokens(ids, WORDS, V, 3);
    lm_tokens t = {.ids = ids, .n = WORDS};
    const char *words[V];
    char names[V][8];
    for (int i = 0; i < V; i++) snprintf(names[i], 8, "w%d", i), words[i] = names[i];
    lm_vocab *v;
    lm_error err;
    assert_int_equal(lm_vocab_from_words(&v, words, V, &err), LM_OK);

    /* Uninterrupted: 2 epochs. */
    lm_model *a = fresh();
    lm_run_stats sa[2];
    size_t done;
    for (int e = 0; e < 2; e++)
        assert_int_equal(lm_train_epoch(a, &t, lm_config_lr_at(lm_model_config(a), e + 1), 0, NULL, NULL, &sa[e],
                                        &done, &err), LM_OK);
    const size_t n_windows = lm_train_windows(a, &t);

    /* Interrupted in epoch 1 at several points, resumed from the file. */
    const int stops[] = {1, 37, (int)n_windows - 1};
    for (size_t k = 0; k < 3; k++) {
        lm_model *b = fresh();
        lm_run_stats sb;
        stop_at = stops[k];
        assert_int_equal(lm_train_epoch(b, &t, 1.0f, 0, stop_after, NULL, &sb, &done, &err), LM_OK);
        assert_int_equal(done, (size_t)stops[k]);
        lm_train_state ts = {1, done, sb, NULL};
        char pbuf[128];
        const char *path = test_file(pbuf, "resume.safetensors");
        assert_int_equal(lm_checkpoint_save(b, v, &ts, path, &err), LM_OK);
        lm_model_free(b);

        lm_vocab *v2;
        lm_train_state loaded;
        assert_int_equal(lm_checkpoint_load(&b, &v2, &loaded, path, 1, &err), LM_OK);
        stop_at = -1;
        lm_run_stats s1 = loaded.partial, s2;
        assert_int_equal(lm_train_epoch(b, &t, 1.0f, loaded.window, NULL, NULL, &s1, &done, &err), LM_OK);
        assert_int_equal(lm_train_epoch(b, &t, lm_config_lr_at(lm_model_config(b), 2), 0, NULL, NULL, &s2, &done,
                                        &err), LM_OK);
        printf("  stopped at window %d of %zu: epoch losses %.17g %.17g vs %.17g %.17g\n", stops[k], n_windows,
               s1.nll, s2.nll, sa[0].nll, sa[1].nll);
        assert_true(s1.nll == sa[0].nll && s1.words == sa[0].words);
        assert_true(s2.nll == sa[1].nll);
        assert_memory_equal(lm_model_params(b), lm_model_params(a), lm_model_num_params(a) * sizeof(float));
        free(loaded.history);
        lm_model_free(b);
        lm_vocab_free(v2);
        unlink(path);
    }
    lm_model_free(a);
    lm_vocab_free(v);
    free(ids);
}

int main(void) {
    lm_set_threads(2);
    const struct CMUnitTest tests[] = {cmocka_unit_test(resumed_run_is_bit_identical)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

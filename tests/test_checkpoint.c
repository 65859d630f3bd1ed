/* Checkpoints: a bit-exact round trip, and truncated, corrupted or foreign
 * files rejected with an error instead of a crash. */
#include "test_util.h"

#include <sys/stat.h>

static void make_model(lm_model **m, lm_vocab **v) {
    const char *words[] = {"<eos>", "the", "cat", "<unk>", "sat"};
    lm_error err;
    assert_int_equal(lm_vocab_from_words(v, words, 5, &err), LM_OK);
    lm_config c = tiny_config(2, 7, 3, 2, 0.25f);
    assert_int_equal(lm_model_create(m, &c, 5, &err), LM_OK);
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    struct stat st;
    fstat(fileno(f), &st);
    *n = (size_t)st.st_size;
    unsigned char *b = malloc(*n);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static void round_trip_is_exact(void **state) {
    (void)state;
    lm_model *m, *m2;
    lm_vocab *v, *v2;
    lm_error err;
    make_model(&m, &v);
    const char *path = "/tmp/lstmlm_test_roundtrip.ckpt";
    assert_int_equal(lm_checkpoint_save(m, v, path, &err), LM_OK);
    assert_int_equal(lm_checkpoint_load(&m2, &v2, path, 1, &err), LM_OK);
    assert_int_equal(lm_model_num_params(m2), lm_model_num_params(m));
    assert_memory_equal(lm_model_params(m2), lm_model_params(m), lm_model_num_params(m) * sizeof(float));
    const lm_config *a = lm_model_config(m), *b = lm_model_config(m2);
    assert_int_equal(a->hidden, b->hidden);
    assert_int_equal(a->layers, b->layers);
    assert_true(a->dropout == b->dropout);
    assert_int_equal(lm_vocab_size(v2), 5);
    for (int i = 0; i < 5; i++) assert_string_equal(lm_vocab_word(v, i), lm_vocab_word(v2, i));
    struct stat st;
    assert_int_equal(stat("/tmp/lstmlm_test_roundtrip.ckpt.tmp", &st), -1);  /* temp file renamed away */
    lm_model_free(m), lm_model_free(m2), lm_vocab_free(v), lm_vocab_free(v2);
    unlink(path);
}

static void damaged_files_are_rejected(void **state) {
    (void)state;
    lm_model *m, *m2;
    lm_vocab *v, *v2;
    lm_error err;
    make_model(&m, &v);
    const char *path = "/tmp/lstmlm_test_damaged.ckpt";
    assert_int_equal(lm_checkpoint_save(m, v, path, &err), LM_OK);
    size_t n;
    unsigned char *good = slurp(path, &n);
    char tmp[64];
    size_t rejected = 0;
    for (size_t cut = 0; cut < n; cut += 1 + cut / 8) {  /* truncations */
        write_temp(tmp, good, cut);
        assert_int_not_equal(lm_checkpoint_load(&m2, &v2, tmp, 1, &err), LM_OK);
        assert_null(m2);
        unlink(tmp), rejected++;
    }
    for (size_t at = 0; at < n; at += 1 + at / 16) {  /* single flipped bytes */
        good[at] ^= 0x5a;
        write_temp(tmp, good, n);
        assert_int_equal(lm_checkpoint_load(&m2, &v2, tmp, 1, &err), LM_EFORMAT);
        good[at] ^= 0x5a;
        unlink(tmp), rejected++;
    }
    const char foreign[] = "just some text, not a model\n";
    write_temp(tmp, foreign, sizeof foreign - 1);
    assert_int_equal(lm_checkpoint_load(&m2, &v2, tmp, 1, &err), LM_EFORMAT);
    assert_non_null(strstr(err.msg, "not an lstmlm checkpoint"));
    unlink(tmp);
    assert_int_equal(lm_checkpoint_load(&m2, &v2, "/nonexistent.ckpt", 1, &err), LM_EIO);
    printf("  %zu damaged files rejected\n", rejected);
    free(good);
    lm_model_free(m), lm_vocab_free(v);
    unlink(path);
}

int main(void) {
    lm_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_is_exact),
        cmocka_unit_test(damaged_files_are_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Checkpoints (safetensors): bit-exact round trips with and without a
 * training state, and every kind of damaged or lying file rejected with an
 * error instead of a crash or an out-of-bounds read. */
#include "test_util.h"
#include "safetensors.h"

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
    char pbuf[128];
    const char *path = test_file(pbuf, "roundtrip.safetensors");
    assert_int_equal(lm_checkpoint_save(m, v, NULL, path, &err), LM_OK);
    if (lm_checkpoint_load(&m2, &v2, NULL, path, 1, &err) != LM_OK) fail_msg("%s", err.msg);
    assert_int_equal(lm_model_num_params(m2), lm_model_num_params(m));
    assert_memory_equal(lm_model_params(m2), lm_model_params(m), lm_model_num_params(m) * sizeof(float));
    const lm_config *a = lm_model_config(m), *b = lm_model_config(m2);
    assert_int_equal(a->hidden, b->hidden);
    assert_int_equal(a->layers, b->layers);
    assert_int_equal(a->seed, b->seed);
    assert_true(a->dropout == b->dropout && a->init == b->init && a->decay == b->decay && a->clip == b->clip);
    assert_int_equal(lm_vocab_size(v2), 5);
    for (int i = 0; i < 5; i++) assert_string_equal(lm_vocab_word(v, i), lm_vocab_word(v2, i));
    struct stat st;
    char tbuf[128];
    assert_int_equal(stat(test_file(tbuf, "roundtrip.safetensors.tmp"), &st), -1);  /* renamed away */
    lm_model_free(m2), lm_vocab_free(v2);
    lm_train_state ts;
    assert_int_equal(lm_checkpoint_load(&m2, &v2, &ts, path, 1, &err), LM_EFORMAT);  /* no state in it */
    assert_non_null(strstr(err.msg, "training state"));
    assert_null(m2);

    /* With a training state: every field back exactly. */
    int32_t x[6] = {1, 2, 3, 4, 0, 1}, y[6] = {2, 3, 4, 0, 1, 2};
    lm_model_reset_state(m, 2);
    lm_model_forward(m, x, y, 3, 2, 1);  /* non-zero carried state and advanced RNG */
    lm_train_state saved = {2, 17, {1234.5678901234567, 340, 2.5, 0}, "{\"epoch\": 1}\n{\"epoch\": 2}\n"};
    assert_int_equal(lm_checkpoint_save(m, v, &saved, path, &err), LM_OK);
    assert_int_equal(lm_checkpoint_load(&m2, &v2, &ts, path, 1, &err), LM_OK);
    assert_int_equal(ts.epoch, 2);
    assert_int_equal(ts.window, 17);
    assert_true(ts.partial.nll == saved.partial.nll && ts.partial.words == 340 && ts.partial.seconds == 2.5);
    assert_string_equal(ts.history, saved.history);
    assert_int_equal(lm_model_rng_state(m2), lm_model_rng_state(m));
    /* The carried state continues: the next window's loss is identical. */
    double l1 = lm_model_forward(m, x, y, 3, 2, 0), l2 = lm_model_forward(m2, x, y, 3, 2, 0);
    assert_true(l1 == l2);
    free(ts.history);
    lm_model_free(m), lm_model_free(m2), lm_vocab_free(v), lm_vocab_free(v2);
    unlink(path);
}

static void damaged_files_are_rejected(void **state) {
    (void)state;
    lm_model *m, *m2;
    lm_vocab *v, *v2;
    lm_error err;
    make_model(&m, &v);
    char pbuf[128];
    const char *path = test_file(pbuf, "damaged.safetensors");
    assert_int_equal(lm_checkpoint_save(m, v, NULL, path, &err), LM_OK);
    size_t n;
    unsigned char *good = slurp(path, &n);
    uint64_t hl;
    memcpy(&hl, good, 8);
    char tmp[64];
    size_t truncations = 0, flips = 0;
    for (size_t cut = 0; cut < n; cut += 1 + cut / 64, truncations++) {
        write_temp(tmp, good, cut);
        assert_int_not_equal(lm_checkpoint_load(&m2, &v2, NULL, tmp, 1, &err), LM_OK);
        assert_null(m2);
        unlink(tmp);
    }
    /* Every byte of the length and header, then a sample of the data. */
    for (size_t at = 0; at < n; at += at < 8 + hl ? 1 : 7, flips++) {
        good[at] ^= 0x5a;
        write_temp(tmp, good, n);
        lm_status st = lm_checkpoint_load(&m2, &v2, NULL, tmp, 1, &err);
        if (st == LM_OK) fail_msg("flipping byte %zu was not detected", at);
        assert_null(m2);
        good[at] ^= 0x5a;
        unlink(tmp);
    }
    printf("  %zu truncations and %zu flipped bytes rejected\n", truncations, flips);
    const char foreign[] = "just some text, not a model\n";
    write_temp(tmp, foreign, sizeof foreign - 1);
    assert_int_equal(lm_checkpoint_load(&m2, &v2, NULL, tmp, 1, &err), LM_EFORMAT);
    unlink(tmp);
    assert_int_equal(lm_checkpoint_load(&m2, &v2, NULL, "/nonexistent.safetensors", 1, &err), LM_EIO);
    free(good);
    lm_model_free(m), lm_vocab_free(v);
    unlink(path);
}

/* A safetensors image with this header and `data_len` zero bytes of data. */
static unsigned char *image(const char *header, size_t data_len, size_t *n) {
    size_t hl = strlen(header);
    *n = 8 + hl + data_len;
    unsigned char *b = calloc(1, *n);
    uint64_t h = hl;
    memcpy(b, &h, 8);
    memcpy(b + 8, header, hl);
    return b;
}

static void lying_headers_are_rejected(void **state) {
    (void)state;
    static const struct {
        const char *header;
        size_t data;
        const char *phrase;
    } cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, NULL},  /* the valid baseline */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "not matching its shape"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "outside the file"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16, "gap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlaps"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, "not covered"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "impossible shape"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}", 8, "impossible shape"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "outside the file"},
        {"{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}}", 8, "expected F32"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "lacks"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{}}", 8, "not valid JSON"},
        {"{\"__metadata__\":{\"k\":3}}", 0, "not a string"},
        {"[1,2,3]", 0, "not a JSON object"},
        {"{\"a\":", 0, "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t n;
        unsigned char *b = image(cases[i].header, cases[i].data, &n);
        lm_st_file f;
        lm_error err = {{0}};
        lm_status st = lm_st_parse(&f, b, n, "case", &err);
        printf("  case %zu: %s\n", i, st == LM_OK ? "accepted" : err.msg);
        if (!cases[i].phrase) {
            assert_int_equal(st, LM_OK);
            lm_st_free(&f);
        } else {
            assert_int_equal(st, LM_EFORMAT);
            assert_non_null(strstr(err.msg, cases[i].phrase));
        }
        free(b);
    }
    /* A header length beyond the file. */
    size_t n;
    unsigned char *b = image("{}", 0, &n);
    uint64_t big = 1ULL << 40;
    memcpy(b, &big, 8);
    lm_st_file f;
    lm_error err;
    assert_int_equal(lm_st_parse(&f, b, n, "case", &err), LM_EFORMAT);
    assert_non_null(strstr(err.msg, "does not fit"));  /* header length beyond the file */
    free(b);
}

/* A structurally valid file whose tensors disagree with its configuration. */
static void shapes_must_match_the_configuration(void **state) {
    (void)state;
    lm_model *m, *m2;
    lm_vocab *v, *v2;
    lm_error err;
    make_model(&m, &v);
    char pbuf[128];
    const char *path = test_file(pbuf, "shapes.safetensors");
    float zeros[64] = {0};
    /* One tensor of the wrong shape, with otherwise valid metadata copied over. */
    assert_int_equal(lm_checkpoint_save(m, v, NULL, path, &err), LM_OK);
    lm_st_file good;
    assert_int_equal(lm_st_load(&good, path, &err), LM_OK);
    lm_st_tensor t = {"emb.weight", zeros, 2, {5, 6}, LM_ST_F32};
    assert_int_equal(lm_st_save(path, &t, 1, good.meta, &err), LM_OK);
    assert_int_equal(lm_checkpoint_load(&m2, &v2, NULL, path, 1, &err), LM_EFORMAT);
    printf("  %s\n", err.msg);
    lm_st_free(&good);
    lm_model_free(m), lm_vocab_free(v);
    unlink(path);
}

int main(void) {
    lm_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_is_exact),
        cmocka_unit_test(damaged_files_are_rejected),
        cmocka_unit_test(lying_headers_are_rejected),
        cmocka_unit_test(shapes_must_match_the_configuration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Text reading, vocabulary, batching into streams, and every bad input the
 * reader must reject with a clear message instead of crashing. */
#include "test_util.h"

static void batching_matches_hand_example(void **state) {
    (void)state;
    /* 21 words 0..20, 2 streams of 10 (word 20 dropped), windows of 3:
     * stream 0 = 0..9, stream 1 = 10..19, (10-1)/3 = 3 windows. */
    int32_t ids[21];
    for (int i = 0; i < 21; i++) ids[i] = i;
    lm_tokens t = {.ids = ids, .n = 21};
    lm_batcher bt;
    lm_error err;
    assert_int_equal(lm_batcher_init(&bt, &t, 2, 3, &err), LM_OK);
    assert_int_equal(bt.stream_len, 10);
    assert_int_equal(bt.n_windows, 3);
    int32_t x[6], y[6];
    lm_batcher_window(&bt, 0, x, y);  /* time-major: x[t*B + b] */
    const int32_t x0[6] = {0, 10, 1, 11, 2, 12}, y0[6] = {1, 11, 2, 12, 3, 13};
    assert_memory_equal(x, x0, sizeof x0);
    assert_memory_equal(y, y0, sizeof y0);
    lm_batcher_window(&bt, 2, x, y);
    const int32_t x2[6] = {6, 16, 7, 17, 8, 18}, y2[6] = {7, 17, 8, 18, 9, 19};
    assert_memory_equal(x, x2, sizeof x2);
    assert_memory_equal(y, y2, sizeof y2);
}

static void too_short_for_one_window(void **state) {
    (void)state;
    int32_t ids[8] = {0};
    lm_tokens t = {.ids = ids, .n = 8};
    lm_batcher bt;
    lm_error err;
    assert_int_equal(lm_batcher_init(&bt, &t, 2, 4, &err), LM_EDATA);  /* streams of 4 < 4 + 1 ... */
    assert_non_null(strstr(err.msg, "shorter than one window"));
    t.n = 8;
    assert_int_equal(lm_batcher_init(&bt, &t, 2, 3, &err), LM_OK);  /* ... but 4 >= 3 + 1 */
}

static void vocabulary_order_and_eos(void **state) {
    (void)state;
    char path[64];
    const char text[] = " a b\nb c \n\tc c";  /* unterminated last line still ends with <eos> */
    write_temp(path, text, sizeof text - 1);
    lm_vocab *v;
    lm_error err;
    assert_int_equal(lm_vocab_build(&v, path, &err), LM_OK);
    /* counts: c 3, <eos> 3, b 2, a 1; ties by bytes ('<' < 'c') */
    assert_int_equal(lm_vocab_size(v), 4);
    assert_string_equal(lm_vocab_word(v, 0), "<eos>");
    assert_string_equal(lm_vocab_word(v, 1), "c");
    assert_string_equal(lm_vocab_word(v, 2), "b");
    assert_string_equal(lm_vocab_word(v, 3), "a");
    lm_tokens t;
    assert_int_equal(lm_tokens_read(&t, path, v, &err), LM_OK);
    const int32_t expect[] = {3, 2, 0, 2, 1, 0, 1, 1, 0};
    assert_int_equal(t.n, 9);
    assert_memory_equal(t.ids, expect, sizeof expect);
    lm_tokens_free(&t);
    lm_vocab_free(v);
    unlink(path);
}

static void unknown_words(void **state) {
    (void)state;
    char train[64], other[64];
    const char with_unk[] = "a <unk> b\n", test[] = "a b\nb zebra\n";
    lm_vocab *v;
    lm_tokens t;
    lm_error err;
    write_temp(train, with_unk, sizeof with_unk - 1);
    write_temp(other, test, sizeof test - 1);
    assert_int_equal(lm_vocab_build(&v, train, &err), LM_OK);
    assert_int_equal(lm_tokens_read(&t, other, v, &err), LM_OK);
    assert_int_equal(t.ids[4], lm_vocab_find(v, "<unk>"));
    lm_tokens_free(&t);
    lm_vocab_free(v);

    const char no_unk[] = "a b\n";
    unlink(train);
    write_temp(train, no_unk, sizeof no_unk - 1);
    assert_int_equal(lm_vocab_build(&v, train, &err), LM_OK);
    assert_int_equal(lm_tokens_read(&t, other, v, &err), LM_EDATA);
    assert_non_null(strstr(err.msg, other));   /* the file */
    assert_non_null(strstr(err.msg, ":2:"));   /* the line */
    assert_non_null(strstr(err.msg, "zebra")); /* the word */
    assert_null(t.ids);
    lm_vocab_free(v);
    unlink(train), unlink(other);
}

/* Each bad input: status and a phrase the message must contain. */
static void bad_inputs_are_rejected(void **state) {
    (void)state;
    static const struct {
        const char *bytes;
        size_t len;
        lm_status status;
        const char *phrase;
    } cases[] = {
        {"", 0, LM_EDATA, "empty"},
        {" \n\n\t \n", 6, LM_EDATA, "no words"},
        {"a b\nc\0d\n", 8, LM_EDATA, ":2: NUL"},
        {"ok\n\xff\xfe\n", 6, LM_EDATA, ":2: invalid UTF-8"},
        {"\xc0\xaf\n", 3, LM_EDATA, "invalid UTF-8"},            /* overlong '/' */
        {"abc \xe2\x82", 6, LM_EDATA, "invalid UTF-8"},          /* truncated sequence */
        {"\xed\xa0\x80\n", 4, LM_EDATA, "invalid UTF-8"},        /* surrogate */
        {"caf\xc3\xa9 na\xc3\xafve \xe2\x82\xac\n", 17, LM_OK, NULL},  /* valid UTF-8 is fine */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[64];
        write_temp(path, cases[i].bytes, cases[i].len);
        lm_vocab *v = NULL;
        lm_error err = {{0}};
        lm_status st = lm_vocab_build(&v, path, &err);
        printf("  case %zu: status %d, \"%s\"\n", i, st, st ? err.msg : "ok");
        assert_int_equal(st, cases[i].status);
        if (cases[i].phrase) {
            assert_null(v);
            assert_non_null(strstr(err.msg, cases[i].phrase));
            assert_non_null(strstr(err.msg, path));
        }
        lm_vocab_free(v);
        unlink(path);
    }
    lm_vocab *v = NULL;
    lm_error err;
    assert_int_equal(lm_vocab_build(&v, "/nonexistent/ptb.train.txt", &err), LM_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/ptb.train.txt"));
    assert_int_equal(lm_vocab_build(&v, "/tmp", &err), LM_EIO);  /* a directory */
    assert_null(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batching_matches_hand_example), cmocka_unit_test(too_short_for_one_window),
        cmocka_unit_test(vocabulary_order_and_eos),      cmocka_unit_test(unknown_words),
        cmocka_unit_test(bad_inputs_are_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

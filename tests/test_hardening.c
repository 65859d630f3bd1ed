/* Regression tests for the hostile-input findings of issue 10 that live in
 * the library: allocation failures, checkpoints forged with a valid checksum
 * (FNV is no signature), memory spent before validation, files the writer
 * could make but the reader would refuse, and line input. Every forged file
 * here carries a correct checksum, so only the semantic checks can stop it. */
#include "test_util.h"

#include <jansson.h>
#include <math.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char dir[64];

static const char *tmp_path(const char *name) {
    static char buf[4][128];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static long peak_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* ---------------------------------------------------------------- forging */

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

typedef void (*mutator)(json_t *meta, unsigned char *data, size_t data_size);

/* Rewrite the checkpoint at src into dst through `mutate`, then give it the
 * checksum FORMAT.md describes, as anyone forging a file can. */
static void forge(const char *src, const char *dst, mutator mutate) {
    FILE *f = fopen(src, "rb");
    assert_non_null(f);
    struct stat st;
    fstat(fileno(f), &st);
    unsigned char *img = malloc((size_t)st.st_size);
    assert_int_equal(fread(img, 1, (size_t)st.st_size, f), (size_t)st.st_size);
    fclose(f);
    uint64_t hl;
    memcpy(&hl, img, 8);
    json_error_t jerr;
    json_t *hdr = json_loadb((const char *)img + 8, hl, 0, &jerr);
    assert_non_null(hdr);
    json_t *meta = json_object_get(hdr, "__metadata__");
    unsigned char *data = img + 8 + hl;
    size_t data_size = (size_t)st.st_size - 8 - hl;
    mutate(meta, data, data_size);
    const char *cfg = json_string_value(json_object_get(meta, "config"));
    const char *vocab = json_string_value(json_object_get(meta, "vocab"));
    const char *state = json_string_value(json_object_get(meta, "train_state"));
    uint64_t h = fnv(0xcbf29ce484222325ULL, cfg, strlen(cfg) + 1);
    h = fnv(h, vocab, strlen(vocab) + 1);
    if (state) h = fnv(h, state, strlen(state) + 1);
    h = fnv(h, data, data_size);
    char hex[20];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
    json_object_set_new(meta, "checksum", json_string(hex));
    char *text = json_dumps(hdr, JSON_COMPACT);
    size_t len = strlen(text), padded = (len + 7) / 8 * 8;
    f = fopen(dst, "wb");
    assert_non_null(f);
    uint64_t nl = padded;
    fwrite(&nl, 8, 1, f);
    fwrite(text, 1, len, f);
    for (size_t i = len; i < padded; i++) fputc(' ', f);
    fwrite(data, 1, data_size, f);
    assert_int_equal(fclose(f), 0);
    free(text);
    json_decref(hdr);
    free(img);
}

/* Replace key `key` of the JSON object in metadata string `field` by the JSON text `value`. */
static void set_json_field(json_t *meta, const char *field, const char *key, const char *value) {
    json_error_t jerr;
    json_t *o = json_loads(json_string_value(json_object_get(meta, field)), 0, &jerr);
    assert_non_null(o);
    json_object_set_new(o, key, json_loads(value, JSON_DECODE_ANY, &jerr));
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_object_set_new(meta, field, json_string(s));
    free(s);
    json_decref(o);
}

static void first_weight_nan(json_t *meta, unsigned char *data, size_t n) {
    (void)meta, (void)n;
    const float nan = NAN;
    memcpy(data, &nan, 4);
}
static void last_weight_inf(json_t *meta, unsigned char *data, size_t n) {
    (void)meta;
    const float inf = INFINITY;
    memcpy(data + n - 4, &inf, 4);
}
static void swap_sep_and_word(json_t *meta, unsigned char *data, size_t n) {
    (void)data, (void)n;
    const char *v = json_string_value(json_object_get(meta, "vocab"));  /* "<eos>\n<sep>\n<unk>\nx..." */
    char *s = strdup(v), *sep = strstr(s, "<sep>");
    assert_non_null(sep);
    memcpy(sep, "<zzz>", 5);  /* the vocabulary no longer holds <sep> */
    json_object_set_new(meta, "vocab", json_string(s));
    free(s);
}
static void space_in_word(json_t *meta, unsigned char *data, size_t n) {
    (void)data, (void)n;
    char *s = strdup(json_string_value(json_object_get(meta, "vocab")));
    char *w = strstr(s, "cat");
    assert_non_null(w);
    w[1] = ' ';
    json_object_set_new(meta, "vocab", json_string(s));
    free(s);
}
static void huge_window(json_t *meta, unsigned char *data, size_t n) {
    (void)data, (void)n;
    set_json_field(meta, "config", "steps", "10000");
    set_json_field(meta, "config", "batch", "10000");
}
static void huge_model_no_tensors(json_t *meta, unsigned char *data, size_t n) {
    (void)data, (void)n;
    set_json_field(meta, "config", "hidden", "16384");
    set_json_field(meta, "config", "steps", "10000");
    set_json_field(meta, "config", "batch", "10000");
}
static void negative_words(json_t *meta, unsigned char *data, size_t n) {
    (void)data, (void)n;
    set_json_field(meta, "train_state", "words", "-5");
}

static void bad_dropout(json_t *meta, unsigned char *data, size_t n) {
    (void)data, (void)n;
    set_json_field(meta, "config", "dropout", "1.5");
}
static void duplicate_word(json_t *meta, unsigned char *data, size_t n) {
    (void)data, (void)n;
    char *s = strdup(json_string_value(json_object_get(meta, "vocab")));
    char *w = strstr(s, "sat");
    assert_non_null(w);
    memcpy(w, "cat", 3);
    json_object_set_new(meta, "vocab", json_string(s));
    free(s);
}

static void make_model(lm_model **m, lm_vocab **v, int task) {
    const char *lm_words[] = {"<eos>", "the", "cat", "<unk>", "sat"};
    const char *mt_words[] = {"<eos>", "<sep>", "<unk>", "cat", "chat"};
    lm_error err;
    assert_int_equal(lm_vocab_from_words(v, task ? mt_words : lm_words, 5, &err), LM_OK);
    lm_config c = tiny_config(2, 7, 3, 2, 0.25f);
    c.task = task;
    assert_int_equal(lm_model_create(m, &c, 5, &err), LM_OK);
}

/* Load `path` and expect LM_EFORMAT with `phrase` in the message and nothing allocated. */
static void refused(const char *path, int with_state, const char *phrase) {
    lm_model *m = (lm_model *)1;
    lm_vocab *v = (lm_vocab *)1;
    lm_train_state ts;
    lm_error err = {""};
    lm_status st = lm_checkpoint_load(&m, &v, with_state ? &ts : NULL, path, 1, &err);
    if (st != LM_EFORMAT || !strstr(err.msg, phrase)) fail_msg("status %d, message \"%s\", wanted \"%s\"", st, err.msg, phrase);
    assert_null(m);
    assert_null(v);
}

/* ---------------------------------------------------------------- tests */

/* Item 1: a failed allocation reported with the right size, no use after free
 * (ASan, with allocator_may_return_null=1 set by CTest, sees the read). */
static void allocation_failure_is_reported(void **state) {
    (void)state;
    lm_config c = tiny_config(8, 16384, 35, 20, 0.0f);
    lm_model *m = (lm_model *)1;
    lm_error err;
    assert_int_equal(lm_model_create(&m, &c, 1 << 24, &err), LM_ENOMEM);
    assert_null(m);
    /* emb + out: 2 V n + V; 8 layers of 2 (4n x n) + 2 (4n) */
    const size_t n = 16384, V = (size_t)1 << 24, want = 2 * V * n + V + 8 * (8 * n * n + 8 * n);
    char phrase[64];
    snprintf(phrase, sizeof phrase, "(%zu parameters)", want);
    if (!strstr(err.msg, phrase)) fail_msg("message \"%s\" lacks \"%s\"", err.msg, phrase);
    assert_int_equal(lm_model_create(&m, &c, (1 << 24) + 1, &err), LM_EARG);  /* the reader's vocabulary limit */
}

/* Item 2a: NaN or infinite weights are refused at load, and never written. */
static void non_finite_weights_refused(void **state) {
    (void)state;
    lm_model *m;
    lm_vocab *v;
    lm_error err;
    make_model(&m, &v, LM_TASK_LM);
    const char *good = tmp_path("good.safetensors");
    assert_int_equal(lm_checkpoint_save(m, v, NULL, good, &err), LM_OK);
    forge(good, tmp_path("nan.safetensors"), first_weight_nan);
    refused(tmp_path("nan.safetensors"), 0, "NaN or infinite");
    forge(good, tmp_path("inf.safetensors"), last_weight_inf);
    refused(tmp_path("inf.safetensors"), 0, "NaN or infinite");
    lm_model_params(m)[3] = NAN;
    assert_int_not_equal(lm_checkpoint_save(m, v, NULL, tmp_path("never.safetensors"), &err), LM_OK);
    assert_non_null(strstr(err.msg, "NaN or infinite"));
    assert_int_equal(access(tmp_path("never.safetensors"), F_OK), -1);
    lm_model_free(m), lm_vocab_free(v);
}

/* Item 2b: a translation model must hold <eos>, <sep>, <unk> at ids 0, 1, 2,
 * and no vocabulary word may contain white space. */
static void vocabulary_invariants_refused(void **state) {
    (void)state;
    lm_model *m;
    lm_vocab *v;
    lm_error err;
    make_model(&m, &v, LM_TASK_TRANSLATE);
    const char *good = tmp_path("mt.safetensors");
    assert_int_equal(lm_checkpoint_save(m, v, NULL, good, &err), LM_OK);
    forge(good, tmp_path("nosep.safetensors"), swap_sep_and_word);
    refused(tmp_path("nosep.safetensors"), 0, "must be <eos>, <sep>, <unk>");
    lm_model_free(m), lm_vocab_free(v);

    make_model(&m, &v, LM_TASK_LM);
    assert_int_equal(lm_checkpoint_save(m, v, NULL, good, &err), LM_OK);
    forge(good, tmp_path("space.safetensors"), space_in_word);
    refused(tmp_path("space.safetensors"), 0, "white space");
    lm_model_free(m), lm_vocab_free(v);

    /* The writer refuses what the reader would: a word with a space, a
     * translation vocabulary without the special words in place. */
    const char *spaced[] = {"<eos>", "a b", "c"};
    assert_int_equal(lm_vocab_from_words(&v, spaced, 3, &err), LM_OK);
    lm_config c = tiny_config(1, 4, 2, 2, 0.0f);
    assert_int_equal(lm_model_create(&m, &c, 3, &err), LM_OK);
    assert_int_not_equal(lm_checkpoint_save(m, v, NULL, tmp_path("spaced.safetensors"), &err), LM_OK);
    lm_model_free(m), lm_vocab_free(v);
    const char *misplaced[] = {"<sep>", "<eos>", "<unk>"};
    assert_int_equal(lm_vocab_from_words(&v, misplaced, 3, &err), LM_OK);
    c.task = LM_TASK_TRANSLATE;
    assert_int_equal(lm_model_create(&m, &c, 3, &err), LM_OK);
    assert_int_not_equal(lm_checkpoint_save(m, v, NULL, tmp_path("misplaced.safetensors"), &err), LM_OK);
    lm_model_free(m), lm_vocab_free(v);
}

/* Item 2: weights that are finite but overflow the logits: sampling and
 * translation report it instead of indexing with an id they did not draw. */
static void overflowing_model_cannot_sample(void **state) {
    (void)state;
    for (int task = 0; task < 2; task++) {
        lm_model *m;
        lm_vocab *v;
        lm_error err;
        make_model(&m, &v, task);
        float *p = lm_model_params(m);
        for (size_t i = 0; i < lm_model_num_params(m); i++) p[i] = (i % 2 ? 3e38f : -3e38f);
        int32_t prefix[2] = {0, 3}, out[8], srcv[3] = {3, 4, 1};
        uint64_t rng = 1;
        lm_sample_opts so = {1.0f, 0, NULL};
        /* sampling is for language models; a translation model is refused by kind */
        assert_int_equal(lm_sample(m, prefix, 2, 8, &so, &rng, out, &err), task ? LM_EARG : LM_EDATA);
        if (task) {
            lm_beam_opts bo = {2, 8, 0.0f};
            size_t n_out;
            double logp;
            assert_int_equal(lm_translate(m, srcv, 3, &bo, out, 8, &n_out, &logp, &err), LM_EDATA);
        }
        /* ids outside the vocabulary are refused by the forward itself */
        int32_t bad_x[2] = {0, 5}, y[2] = {1, 1};
        lm_model_reset_state(m, 1);
        assert_true(isnan(lm_model_forward(m, bad_x, y, 2, 1, 0)));
        bad_x[1] = -1;
        assert_true(isnan(lm_model_forward(m, bad_x, y, 2, 1, 0)));
        lm_model_free(m), lm_vocab_free(v);
    }
}

/* The carried state is B rows: a window of another B must start from a
 * reset, and a refused forward leaves nothing for the backward. */
static void windows_keep_their_streams(void **state) {
    (void)state;
    lm_model *m;
    lm_vocab *v;
    make_model(&m, &v, LM_TASK_LM);
    int32_t x[4] = {0, 1, 2, 3}, y[4] = {1, 2, 3, 0};
    lm_model_reset_state(m, 2);
    assert_false(isnan(lm_model_forward(m, x, y, 2, 2, 1)));
    assert_true(isnan(lm_model_forward(m, x, y, 2, 1, 1)));  /* 1 stream after 2, state carried */
    /* the refused forward cleared the last one's gradient: the backward does nothing */
    const size_t np = lm_model_num_params(m);
    float *g = lm_model_grads(m);
    for (size_t i = 0; i < np; i++) g[i] = 7.0f;
    lm_model_backward(m);
    for (size_t i = 0; i < np; i++) assert_true(g[i] == 7.0f);
    lm_model_reset_state(m, 1);
    assert_false(isnan(lm_model_forward(m, x, y, 2, 1, 1)));
    lm_model_backward(m);
    size_t changed = 0;
    for (size_t i = 0; i < np; i++) changed += g[i] != 7.0f;
    assert_true(changed > 0);
    lm_model_free(m), lm_vocab_free(v);
}

/* Item 3: a file is checked against itself before memory is spent on it,
 * and evaluation allocates what it needs, not what training would. */
static void validation_before_allocation(void **state) {
    (void)state;
    lm_model *m;
    lm_vocab *v;
    lm_error err;
    make_model(&m, &v, LM_TASK_LM);
    const char *good = tmp_path("small.safetensors");
    assert_int_equal(lm_checkpoint_save(m, v, NULL, good, &err), LM_OK);
    lm_model_free(m), lm_vocab_free(v);
    const long before = peak_kb();
    /* Claims 16384 units but holds tensors of 7: refused from the file alone. */
    forge(good, tmp_path("claims.safetensors"), huge_model_no_tensors);
    refused(tmp_path("claims.safetensors"), 0, "its shape does not match");
    /* A genuine file whose training window is 10000 x 10000: loading it for
     * evaluation allocates its parameters only, and evaluating with batch 1
     * a window of 3. Before, the load alone reserved (10^8 rows) x V logits. */
    forge(good, tmp_path("window.safetensors"), huge_window);
    assert_int_equal(lm_checkpoint_load(&m, &v, NULL, tmp_path("window.safetensors"), 1, &err), LM_OK);
    int32_t ids[40];
    for (int i = 0; i < 40; i++) ids[i] = i % 5;
    lm_tokens t = {.ids = ids, .n = 40};
    lm_run_stats s;
    assert_int_equal(lm_evaluate(m, &t, 1, 3, NULL, NULL, &s, &err), LM_OK);
    assert_int_equal(s.words, 39);
    lm_model_free(m), lm_vocab_free(v);
    const long grew = peak_kb() - before;
    if (grew > 20 * 1024) fail_msg("peak memory grew by %ld kB loading and evaluating tiny models", grew);
}

/* Item 14: a training state with negative counts is called invalid, not "model-only". */
static void invalid_state_named(void **state) {
    (void)state;
    lm_model *m;
    lm_vocab *v;
    lm_error err;
    make_model(&m, &v, LM_TASK_LM);
    lm_train_state ts = {1, 3, {12.5, 24, 1.0, 0}, "{\"epoch\": 1}\n"};
    const char *good = tmp_path("state.safetensors");
    assert_int_equal(lm_checkpoint_save(m, v, &ts, good, &err), LM_OK);
    forge(good, tmp_path("negative.safetensors"), negative_words);
    refused(tmp_path("negative.safetensors"), 1, "training state is invalid: expected words >= 0");
    lm_model_free(m), lm_vocab_free(v);
}

/* Item 9: the writer refuses a header the reader would refuse (over 100 MiB),
 * and leaves neither the file nor a temporary one. */
static void writer_applies_reader_limits(void **state) {
    (void)state;
    enum { V = 105000, LEN = 1000 };
    char *store = malloc((size_t)V * (LEN + 1));
    const char **words = malloc(V * sizeof *words);
    for (int i = 0; i < V; i++) {
        char *w = store + (size_t)i * (LEN + 1);
        memset(w, 'a' + i % 26, LEN);
        snprintf(w, LEN + 1, "%d", i);
        w[strlen(w)] = 'x';  /* unique prefix, then 999 letters */
        w[LEN] = '\0';
        words[i] = w;
    }
    lm_vocab *v;
    lm_model *m;
    lm_error err;
    assert_int_equal(lm_vocab_from_words(&v, words, V, &err), LM_OK);
    lm_config c = tiny_config(1, 1, 1, 1, 0.0f);
    assert_int_equal(lm_model_create(&m, &c, V, &err), LM_OK);
    const char *path = tmp_path("huge_vocab.safetensors");
    assert_int_equal(lm_checkpoint_save(m, v, NULL, path, &err), LM_EARG);
    assert_non_null(strstr(err.msg, "exceeds"));
    assert_int_equal(access(path, F_OK), -1);
    lm_model_free(m), lm_vocab_free(v);
    free(words), free(store);
}

/* Items 9, 13: text input refuses absurd words; a line is checked as files are. */
static void text_limits_and_lines(void **state) {
    (void)state;
    char *big = malloc(3000);
    memset(big, 'q', 2000);
    memcpy(big + 2000, " a b\n", 6);
    FILE *f = fopen(tmp_path("bigword.txt"), "w");
    fputs(big, f);
    fclose(f);
    lm_vocab *v;
    lm_error err;
    assert_int_equal(lm_vocab_build(&v, tmp_path("bigword.txt"), &err), LM_EDATA);
    assert_non_null(strstr(err.msg, "a word of 2000 bytes"));
    const char *words[] = {"<eos>", "a", "b", "<unk>"};
    assert_int_equal(lm_vocab_from_words(&v, words, 4, &err), LM_OK);
    int32_t ids[16];
    size_t n, oov;
    assert_int_equal(lm_line_ids(v, "a  zz b\tc\n", 10, ids, &n, &oov, NULL, &err), LM_OK);
    assert_int_equal(n, 4);
    assert_int_equal(oov, 2);
    assert_int_equal(ids[0], 1), assert_int_equal(ids[1], 3), assert_int_equal(ids[2], 2), assert_int_equal(ids[3], 3);
    assert_int_equal(lm_line_ids(v, "a\0b\n", 4, ids, &n, &oov, NULL, &err), LM_EDATA);
    assert_non_null(strstr(err.msg, "NUL"));
    assert_int_equal(lm_line_ids(v, "a \xff\n", 4, ids, &n, &oov, NULL, &err), LM_EDATA);
    assert_non_null(strstr(err.msg, "UTF-8"));
    assert_int_equal(lm_line_ids(v, big, 2000, ids, &n, &oov, NULL, &err), LM_EDATA);
    assert_int_equal(lm_line_ids(v, " \t\n", 3, ids, &n, &oov, NULL, &err), LM_OK);
    assert_int_equal(n, 0);
    lm_vocab_free(v);
    free(big);
}

/* Item 5: checkpoints are written through unique temporary names. */
static void unique_temporary_names(void **state) {
    (void)state;
    lm_model *m;
    lm_vocab *v;
    lm_error err;
    make_model(&m, &v, LM_TASK_LM);
    const char *path = tmp_path("m.safetensors");
    char stale[256];
    snprintf(stale, sizeof stale, "%s.tmp", path);
    FILE *f = fopen(stale, "w");  /* another writer's fixed temporary name: not ours to touch */
    fputs("other", f);
    fclose(f);
    assert_int_equal(lm_checkpoint_save(m, v, NULL, path, &err), LM_OK);
    f = fopen(stale, "r");
    char buf[8] = "";
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    assert_string_equal(buf, "other");
    remove(stale);
    lm_model_free(m), lm_vocab_free(v);
}

/* The public API's contracts (a review of include/lstmlm.h, 2026-11-29):
 * err may be NULL; decoding limits are checked before anything is sized by
 * them; one model cannot stand twice in an ensemble; targets are words. */
static void api_contracts(void **state) {
    (void)state;
    lm_model *m, *lm;
    lm_vocab *v, *lv;
    lm_error err;
    /* a forged configuration or vocabulary refused with err == NULL */
    make_model(&lm, &lv, LM_TASK_LM);
    const char *good = tmp_path("api.safetensors");
    assert_int_equal(lm_checkpoint_save(lm, lv, NULL, good, &err), LM_OK);
    forge(good, tmp_path("dropout.safetensors"), bad_dropout);
    refused(tmp_path("dropout.safetensors"), 0, "bad configuration: dropout");
    forge(good, tmp_path("dup.safetensors"), duplicate_word);
    refused(tmp_path("dup.safetensors"), 0, "cat");
    lm_model *mm = NULL;
    lm_vocab *vv = NULL;
    assert_int_equal(lm_checkpoint_load(&mm, &vv, NULL, tmp_path("dropout.safetensors"), 1, NULL), LM_EFORMAT);
    assert_int_equal(lm_checkpoint_load(&mm, &vv, NULL, tmp_path("dup.safetensors"), 1, NULL), LM_EFORMAT);
    assert_null(mm);

    /* beam search: max_len bounds every buffer, so it is checked first */
    make_model(&m, &v, LM_TASK_TRANSLATE);
    int32_t src[3] = {3, 4, 3}, out[8];
    size_t n_out;
    double logp;
    lm_beam_opts bo = {2, SIZE_MAX, 0.0f};
    assert_int_equal(lm_translate(m, src, 3, &bo, out, 8, &n_out, &logp, &err), LM_EARG);
    assert_non_null(strstr(err.msg, "max_len"));
    bo.max_len = 0;
    assert_int_equal(lm_translate(m, src, 3, &bo, out, 8, &n_out, &logp, &err), LM_EARG);
    bo.max_len = (size_t)LM_MAX_DECODE_LEN + 1;
    assert_int_equal(lm_translate(m, src, 3, &bo, out, 8, &n_out, &logp, NULL), LM_EARG);
    bo.max_len = 8, bo.length_norm = NAN;
    assert_int_equal(lm_translate(m, src, 3, &bo, out, 8, &n_out, &logp, &err), LM_EARG);
    bo.length_norm = 0.0f;
    assert_int_equal(lm_translate(m, src, 3, &bo, out, 8, &n_out, &logp, &err), LM_OK);
    /* the same model twice would step one state twice per word */
    lm_model *twice[2] = {m, m};
    assert_int_equal(lm_translate_ensemble(twice, 2, src, 3, &bo, out, 8, &n_out, &logp, &err), LM_EARG);
    assert_non_null(strstr(err.msg, "model 2 is model 1 again"));
    /* a caption model: the reason is the inner check's, whole */
    lm_config cc = tiny_config(1, 4, 3, 2, 0.0f);
    cc.task = LM_TASK_CAPTION, cc.input_dim = 3;
    lm_model *cap;
    assert_int_equal(lm_model_create(&cap, &cc, 5, &err), LM_OK);
    assert_int_equal(lm_translate(cap, src, 3, &bo, out, 8, &n_out, &logp, &err), LM_EARG);
    if (strcmp(err.msg, "translation needs a model of words alone; this one starts from a vector of 3 features") != 0)
        fail_msg("message \"%s\"", err.msg);
    assert_int_equal(lm_translate(cap, src, 3, &bo, out, 8, &n_out, &logp, NULL), LM_EARG);
    /* captioners of two feature sizes cannot read one image vector */
    cc.input_dim = 4;
    lm_model *cap4;
    assert_int_equal(lm_model_create(&cap4, &cc, 5, &err), LM_OK);
    lm_model *caps[2] = {cap, cap4};
    const float feat[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    assert_int_equal(lm_caption(caps, 2, feat, &bo, out, 8, &n_out, &logp, &err), LM_EARG);
    assert_string_equal(err.msg, "model 2 reads vectors of 4 features, model 1 of 3");
    lm_model_free(cap4);
    lm_model_free(cap);
    lm_model_free(m), lm_vocab_free(v);

    /* a caller-built token list: a negative id is not silently padding */
    int32_t ids[4] = {0, 1, -1, 2};
    lm_tokens t = {ids, 4, 0, 0, 0};
    lm_run_stats rs;
    assert_int_equal(lm_evaluate(lm, &t, 1, 2, NULL, NULL, &rs, &err), LM_EARG);
    assert_non_null(strstr(err.msg, "token 2"));
    ids[2] = 5;  /* one past the vocabulary */
    assert_int_equal(lm_evaluate(lm, &t, 1, 2, NULL, NULL, &rs, &err), LM_EARG);
    ids[2] = 4;
    assert_int_equal(lm_evaluate(lm, &t, 1, 2, NULL, NULL, &rs, &err), LM_OK);
    ids[2] = -1;
    size_t done;
    assert_int_equal(lm_train_epoch(lm, &t, 1.0f, 0, NULL, NULL, &rs, &done, &err), LM_EARG);
    /* a logits row the last forward did not compute reads as NaN */
    float row[5];
    lm_model_logits_row(lm, 1, row);  /* batch 1, last window T = 1 after 3 predictions in windows of 2 */
    assert_true(isnan(row[0]) && isnan(row[4]));
    lm_model_logits_row(lm, 0, row);
    assert_false(isnan(row[0]));
    lm_model_free(lm), lm_vocab_free(lv);
}

/* An error message quoting a path or a file's text holds no control byte:
 * a forged name cannot move the terminal's cursor or start a new line. */
static void messages_free_of_control_bytes(void **state) {
    (void)state;
    lm_run *r;
    lm_error err;
    assert_int_equal(lm_run_claim(&r, tmp_path("no\x1b[2Jsuch\nrun"), 1, &err), LM_EIO);
    assert_non_null(strstr(err.msg, "no?[2Jsuch?run"));
    for (const char *c = err.msg; *c; c++) assert_true((unsigned char)*c >= 0x20 && *c != 0x7f);
}

/* A run folder has one owner: a second claim fails from this process too,
 * a classic record lock of another process (an older build) is respected,
 * and the lock file is never reached through a link. */
static void run_folder_one_owner(void **state) {
    (void)state;
    lm_run *a, *b;
    lm_error err;
    const char *dir = tmp_path("owned");
    assert_int_equal(lm_run_claim(&a, dir, 0, &err), LM_OK);
    assert_int_equal(lm_run_claim(&b, dir, 1, &err), LM_EARG);
    assert_non_null(strstr(err.msg, "in use by another lstmlm run"));
    assert_null(b);
    /* the failed claim closed its own descriptor: the owner still holds it */
    assert_int_equal(lm_run_claim(&b, dir, 1, &err), LM_EARG);
    char longname[100];
    memset(longname, 'x', sizeof longname - 1), longname[sizeof longname - 1] = '\0';
    const char *f = lm_run_file(a, longname);
    assert_non_null(f);
    assert_int_equal(strlen(f), strlen(dir) + 1 + strlen(longname));
    lm_run_info info = {.kind = "lm", .data = "/", .threads = 1};
    assert_int_equal(lm_run_write_info(a, &info, &err), LM_OK);  /* now the folder holds a run */
    lm_run_release(a);
    assert_int_equal(access(tmp_path("owned/lock"), F_OK), 0);
    assert_int_equal(lm_run_claim(&b, dir, 1, &err), LM_OK);
    lm_run_release(b);

    /* another process holding an F_SETLK record lock on DIR/lock */
    int ready[2], done[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(done), 0);
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const int fd = open(tmp_path("owned/lock"), O_RDWR);
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        char c = fd >= 0 && fcntl(fd, F_SETLK, &fl) == 0 ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1 || read(done[0], &c, 1) != 1) _exit(1);
        _exit(0);
    }
    char c = 0;
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(c, 'y');
    assert_int_equal(lm_run_claim(&b, dir, 1, &err), LM_EARG);
    assert_int_equal(write(done[1], &c, 1), 1);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(ready[0]), close(ready[1]), close(done[0]), close(done[1]);
    assert_int_equal(lm_run_claim(&b, dir, 1, &err), LM_OK);
    lm_run_release(b);

    /* a new run released before it wrote anything (its data was refused)
     * leaves no trace: a folder the claim made goes, a folder that was there
     * stays, without the lock file */
    assert_int_equal(lm_run_claim(&a, tmp_path("unused/deep/er/"), 0, &err), LM_OK);
    assert_int_equal(access(tmp_path("unused/deep/er/lock"), F_OK), 0);
    lm_run_release(a);
    assert_int_equal(access(tmp_path("unused"), F_OK), -1);  /* with the parents it made */
    assert_int_equal(mkdir(tmp_path("mine"), 0755), 0);
    assert_int_equal(lm_run_claim(&a, tmp_path("mine/sub"), 0, &err), LM_OK);
    lm_run_release(a);
    assert_int_equal(access(tmp_path("mine/sub"), F_OK), -1);
    assert_int_equal(access(tmp_path("mine"), F_OK), 0);
    assert_int_equal(lm_run_claim(&a, tmp_path("mine"), 0, &err), LM_OK);
    lm_run_release(a);
    assert_int_equal(access(tmp_path("mine"), F_OK), 0);
    assert_int_equal(access(tmp_path("mine/lock"), F_OK), -1);
    assert_int_equal(lm_run_claim(&a, tmp_path("mine"), 0, &err), LM_OK);  /* and it can be claimed again */
    lm_run_release(a);
    /* a file named lock that was there before is the user's, and stays; a
     * path through a folder that did not exist to one that did removes neither */
    FILE *keep = fopen(tmp_path("mine/lock"), "w");
    assert_non_null(keep);
    assert_int_equal(fclose(keep), 0);
    assert_int_equal(lm_run_claim(&a, tmp_path("mine"), 0, &err), LM_OK);
    lm_run_release(a);
    assert_int_equal(access(tmp_path("mine/lock"), F_OK), 0);
    assert_int_equal(lm_run_claim(&a, tmp_path("new/../mine"), 0, &err), LM_OK);
    lm_run_release(a);
    assert_int_equal(access(tmp_path("mine/lock"), F_OK), 0);

    /* DIR/lock a dangling link: refused, and nothing created at its target */
    const char *linked = tmp_path("linked");
    assert_int_equal(mkdir(linked, 0755), 0);
    assert_int_equal(symlink(tmp_path("elsewhere"), tmp_path("linked/lock")), 0);
    assert_int_equal(lm_run_claim(&b, linked, 1, &err), LM_EIO);
    assert_int_equal(access(tmp_path("elsewhere"), F_OK), -1);
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/lstmlm_hardening_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);  /* our own mkdtemp name: no user text */
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(windows_keep_their_streams),
        cmocka_unit_test(validation_before_allocation),  /* first: it measures peak memory */
        cmocka_unit_test(allocation_failure_is_reported),
        cmocka_unit_test(non_finite_weights_refused),
        cmocka_unit_test(vocabulary_invariants_refused),
        cmocka_unit_test(overflowing_model_cannot_sample),
        cmocka_unit_test(invalid_state_named),
        cmocka_unit_test(writer_applies_reader_limits),
        cmocka_unit_test(text_limits_and_lines),
        cmocka_unit_test(unique_temporary_names),
        cmocka_unit_test(api_contracts),
        cmocka_unit_test(run_folder_one_owner),
        cmocka_unit_test(messages_free_of_control_bytes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

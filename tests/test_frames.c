/* Frame datasets: a written file reads back equal; every broken invariant,
 * in a file forged with the safetensors writer, is refused with a message
 * naming the file and the item; the writer refuses what the reader would. */
#include "test_util.h"
#include "safetensors.h"

#include <math.h>

enum { DIM = 3, FRAMES = 7, UTTS = 2, K = 4 };

/* A valid dataset: utterances of 3 and 4 frames. */
typedef struct {
    float features[FRAMES * DIM];
    int32_t labels[FRAMES];
    int64_t offsets[UTTS + 1];
    char *names[K];
    lm_frames d;
} fixture;

static void make(fixture *f) {
    static char n0[] = "sil", n1[] = "aa_1", n2[] = "aa_2", n3[] = "aa_3";
    for (int i = 0; i < FRAMES * DIM; i++) f->features[i] = (float)i * 0.25f - 2.0f;
    for (int i = 0; i < FRAMES; i++) f->labels[i] = i % K;
    f->offsets[0] = 0, f->offsets[1] = 3, f->offsets[2] = FRAMES;
    f->names[0] = n0, f->names[1] = n1, f->names[2] = n2, f->names[3] = n3;
    f->d = (lm_frames){.dim = DIM, .n_classes = K, .n_frames = FRAMES, .n_utts = UTTS, .features = f->features,
                       .labels = f->labels, .offsets = f->offsets, .class_names = f->names, .provenance = "test"};
}

static void round_trip(void **state) {
    (void)state;
    fixture f;
    make(&f);
    char path[128];
    lm_error err;
    assert_int_equal(lm_frames_save(&f.d, test_file(path, "ok.safetensors"), &err), LM_OK);
    lm_frames r;
    assert_int_equal(lm_frames_load(&r, path, &err), LM_OK);
    assert_int_equal(r.dim, DIM);
    assert_int_equal(r.n_classes, K);
    assert_int_equal(r.n_frames, FRAMES);
    assert_int_equal(r.n_utts, UTTS);
    assert_memory_equal(r.features, f.features, sizeof f.features);
    assert_memory_equal(r.labels, f.labels, sizeof f.labels);
    assert_memory_equal(r.offsets, f.offsets, sizeof f.offsets);
    for (int k = 0; k < K; k++) assert_string_equal(r.class_names[k], f.names[k]);
    assert_string_equal(r.provenance, "test");
    lm_frames_free(&r);
    /* a frame dataset is not a checkpoint: its integer tensors are refused there */
    lm_model *m = NULL;
    lm_vocab *v = NULL;
    assert_int_not_equal(lm_checkpoint_load(&m, &v, NULL, path, 1, &err), LM_OK);
    assert_null(m);
    remove(path);
}

/* Write the fixture's tensors as given, with metadata (format, version, classes). */
static void forge(const char *path, const fixture *f, const char *format, const char *classes, lm_st_dtype label_type,
                  size_t n_offsets) {
    json_t *meta = json_object();
    if (format) json_object_set_new(meta, "format", json_string(format));
    json_object_set_new(meta, "version", json_string("1"));
    if (classes) json_object_set_new(meta, "classes", json_string(classes));
    const lm_st_tensor t[3] = {
        {"features", f->features, 2, {FRAMES, DIM}, LM_ST_F32},
        {"labels", f->labels, 1, {FRAMES}, label_type},
        {"offsets", f->offsets, 1, {n_offsets}, LM_ST_I64},
    };
    lm_error err;
    assert_int_equal(lm_st_save(path, t, 3, meta, &err), LM_OK);
    json_decref(meta);
}

/* Loading path fails with a message containing `want`; *d stays empty. */
static void refused(const char *path, const char *want) {
    lm_frames d;
    lm_error err;
    assert_int_not_equal(lm_frames_load(&d, path, &err), LM_OK);
    printf("  %s\n", err.msg);
    if (!strstr(err.msg, want)) fail_msg("expected \"%s\" in: %s", want, err.msg);
    assert_null(d.features);
    assert_null(d.class_names);
    remove(path);
}

static void forged_files_refused(void **state) {
    (void)state;
    char path[128];
    test_file(path, "bad.safetensors");
    const char *names = "sil aa_1 aa_2 aa_3";
    fixture f;
    make(&f);
    forge(path, &f, "lstmlm-frames", names, LM_ST_I32, UTTS + 1);
    lm_frames ok;
    lm_error err;
    assert_int_equal(lm_frames_load(&ok, path, &err), LM_OK);  /* the forger itself makes valid files */
    lm_frames_free(&ok);

    forge(path, &f, NULL, names, LM_ST_I32, UTTS + 1);
    refused(path, "not a frame dataset");
    forge(path, &f, "lstmlm-frames", NULL, LM_ST_I32, UTTS + 1);
    refused(path, "classes");
    forge(path, &f, "lstmlm-frames", "sil aa_1 aa_2", LM_ST_I32, UTTS + 1);  /* labels reach 3 */
    refused(path, "label 3 outside 0..2");
    forge(path, &f, "lstmlm-frames", "sil aa_1 aa_2 sil", LM_ST_I32, UTTS + 1);
    refused(path, "appears twice");
    forge(path, &f, "lstmlm-frames", names, LM_ST_F32, UTTS + 1);  /* labels stored as floats */
    refused(path, "labels I32");

    make(&f);
    f.offsets[0] = 1;
    forge(path, &f, "lstmlm-frames", names, LM_ST_I32, UTTS + 1);
    refused(path, "offsets[0]");
    make(&f);
    f.offsets[1] = 0;  /* utterance 0 empty */
    forge(path, &f, "lstmlm-frames", names, LM_ST_I32, UTTS + 1);
    refused(path, "utterance 0 is empty");
    make(&f);
    f.offsets[2] = FRAMES - 1;
    forge(path, &f, "lstmlm-frames", names, LM_ST_I32, UTTS + 1);
    refused(path, "last offset");
    make(&f);
    f.offsets[2] = (int64_t)1 << 62;  /* far outside */
    forge(path, &f, "lstmlm-frames", names, LM_ST_I32, UTTS + 1);
    refused(path, "last offset");
    make(&f);
    f.labels[5] = -1;
    forge(path, &f, "lstmlm-frames", names, LM_ST_I32, UTTS + 1);
    refused(path, "utterance 1, frame 2: label -1");
    make(&f);
    f.features[4 * DIM + 1] = NAN;
    forge(path, &f, "lstmlm-frames", names, LM_ST_I32, UTTS + 1);
    refused(path, "utterance 1, frame 1: feature 1 is not finite");
    make(&f);
    f.features[0] = INFINITY;
    forge(path, &f, "lstmlm-frames", names, LM_ST_I32, UTTS + 1);
    refused(path, "utterance 0, frame 0: feature 0");
    make(&f);
    forge(path, &f, "lstmlm-frames", names, LM_ST_I32, 1);  /* offsets without an utterance */
    refused(path, "no utterance");
}

static void writer_refuses_invalid(void **state) {
    (void)state;
    char path[128];
    test_file(path, "w.safetensors");
    fixture f;
    lm_error err;
    make(&f);
    f.labels[0] = K;
    assert_int_equal(lm_frames_save(&f.d, path, &err), LM_EFORMAT);
    make(&f);
    static char spaced[] = "a b";
    f.names[2] = spaced;
    assert_int_equal(lm_frames_save(&f.d, path, &err), LM_EFORMAT);
    make(&f);
    f.features[3] = -INFINITY;
    assert_int_equal(lm_frames_save(&f.d, path, &err), LM_EFORMAT);
    assert_int_equal(access(path, F_OK), -1);  /* nothing written */
}

/* A frames model saved with its class names as the vocabulary loads back
 * with the same configuration and computes the same loss. */
static void frames_model_checkpoint(void **state) {
    (void)state;
    fixture f;
    make(&f);
    lm_config c = tiny_config(2, 6, 4, 2, 0.0f);
    c.task = LM_TASK_FRAMES, c.input_dim = DIM, c.delay = 2;
    lm_model *m, *m2;
    lm_vocab *v, *v2;
    lm_error err;
    assert_int_equal(lm_model_create(&m, &c, K, &err), LM_OK);
    assert_int_equal(lm_vocab_from_words(&v, (const char *const *)f.names, K, &err), LM_OK);
    char path[128];
    assert_int_equal(lm_checkpoint_save(m, v, NULL, test_file(path, "frames_model.safetensors"), &err), LM_OK);
    assert_int_equal(lm_checkpoint_load(&m2, &v2, NULL, path, 1, &err), LM_OK);
    assert_int_equal(lm_model_config(m2)->task, LM_TASK_FRAMES);
    assert_int_equal(lm_model_config(m2)->input_dim, DIM);
    assert_int_equal(lm_model_config(m2)->delay, 2);
    assert_string_equal(lm_model_tensor(m2, 0)->name, "in.weight");
    assert_int_equal(lm_model_vocab_size(m2), K);
    const int32_t y[8] = {-1, -1, 0, 1, 2, 3, 1, 0};
    lm_model_reset_state(m, 2);
    assert_int_equal(lm_model_reserve(m2, 4, 2, 0, &err), LM_OK);
    lm_model_reset_state(m2, 2);
    const double a = lm_model_forward_frames(m, f.features, y, 4, 2, 0);
    const double b = lm_model_forward_frames(m2, f.features, y, 4, 2, 0);
    printf("  loss %.9f saved, %.9f loaded\n", a, b);
    assert_true(a > 0 && a == b);
    /* one SGD step moves the projection (dense, unlike the sparse embedding) */
    const float before = lm_model_params(m)[0];
    lm_model_forward_frames(m, f.features, y, 4, 2, 1);
    lm_model_backward(m);
    assert_true(lm_model_grads(m)[0] != 0.0f);
    lm_model_sgd_step(m, 0.5f, 0.0f);
    assert_true(lm_model_params(m)[0] != before);
    /* the word functions refuse it with a reason, not a NaN */
    int32_t ids[64] = {0};
    lm_tokens t = {.ids = ids, .n = 64};
    lm_run_stats s;
    assert_int_equal(lm_evaluate(m2, &t, 2, 4, NULL, NULL, &s, &err), LM_EARG);
    assert_non_null(strstr(err.msg, "classifies frames"));
    lm_model_free(m), lm_model_free(m2), lm_vocab_free(v), lm_vocab_free(v2);
    remove(path);
}

/* A task that needs the delay and the windows: the class of frame t is the
 * largest of its 4 features, heard `delay` steps later; utterances of 3..40
 * frames (longer than the model's 8 steps). */
static lm_frames task_data(size_t n_utts, uint64_t seed) {
    static char c0[] = "a", c1[] = "b", c2[] = "c", c3[] = "d";
    static char *names[4] = {c0, c1, c2, c3};
    lm_frames d = {.dim = 4, .n_classes = 4, .n_utts = n_utts, .class_names = names};
    d.offsets = malloc((n_utts + 1) * sizeof *d.offsets);
    d.offsets[0] = 0;
    for (size_t u = 0; u < n_utts; u++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        d.offsets[u + 1] = d.offsets[u] + 3 + (int64_t)((seed >> 33) % 38);
    }
    d.n_frames = (size_t)d.offsets[n_utts];
    d.features = malloc(d.n_frames * 4 * sizeof *d.features);
    d.labels = malloc(d.n_frames * sizeof *d.labels);
    for (size_t f = 0; f < d.n_frames; f++) {
        int best = 0;
        for (int j = 0; j < 4; j++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            d.features[f * 4 + j] = (float)((seed >> 40) % 2001) / 1000.0f - 1.0f;
            if (d.features[f * 4 + j] > d.features[f * 4 + best]) best = j;
        }
        d.labels[f] = best;
    }
    return d;
}

static void frames_training_learns(void **state) {
    (void)state;
    lm_frames train = task_data(200, 1), valid = task_data(20, 2);
    lm_config c = tiny_config(2, 24, 8, 4, 0.0f);
    c.task = LM_TASK_FRAMES, c.input_dim = 4, c.delay = 2, c.clip = 5.0f;
    lm_model *m;
    lm_error err;
    assert_int_equal(lm_model_create(&m, &c, 4, &err), LM_OK);
    lm_run_stats s, e1, e5;
    assert_int_equal(lm_frames_evaluate(m, &valid, 1, NULL, NULL, &e1, &err), LM_OK);
    const double before = (double)e1.correct / (double)e1.words;
    for (int epoch = 0; epoch < 60; epoch++)
        assert_int_equal(lm_frames_train_epoch(m, &train, 1.0f, (uint64_t)epoch, NULL, NULL, &s, &err), LM_OK);
    assert_int_equal(s.words, train.n_frames);  /* every frame predicted once */
    assert_int_equal(lm_frames_evaluate(m, &valid, 1, NULL, NULL, &e1, &err), LM_OK);
    assert_int_equal(lm_frames_evaluate(m, &valid, 5, NULL, NULL, &e5, &err), LM_OK);
    const double acc = (double)e1.correct / (double)e1.words;
    printf("  valid frame accuracy %.3f before, %.3f after 60 epochs (train %.3f); nll %.9f (batch 1) %.9f (batch 5)\n",
           before, acc, (double)s.correct / (double)s.words, e1.nll, e5.nll);
    assert_int_equal(e1.words, valid.n_frames);
    assert_true(acc > 0.55 && before < 0.4);  /* chance is about 0.28 */
    /* batching and padding change nothing: each utterance is scored alone */
    assert_int_equal(e1.correct, e5.correct);
    assert_true(fabs(e1.nll - e5.nll) < 1e-6 * e1.nll);
    /* data of another shape is refused */
    lm_frames other = task_data(3, 3);
    other.dim = 2;
    assert_int_equal(lm_frames_evaluate(m, &other, 1, NULL, NULL, &e1, &err), LM_EARG);
    printf("  %s\n", err.msg);
    lm_model_free(m);
    free(train.offsets), free(train.features), free(train.labels);
    free(valid.offsets), free(valid.features), free(valid.labels);
    free(other.offsets), free(other.features), free(other.labels);
}

/* Feature files (the captions' conditioning vectors): a written file reads
 * back equal; forged ones are refused naming the file and the item; the
 * writer refuses what the reader would. */
static void feature_files(void **state) {
    (void)state;
    char path[128];
    test_file(path, "feat.safetensors");
    float x[3 * 2] = {0.5f, -1.0f, 2.0f, 0.0f, 3.5f, -0.25f};
    char names[] = "a.jpg\nb.jpg\nc.jpg", prov[] = "test";
    lm_features f = {.dim = 2, .n = 3, .data = x, .names = names, .provenance = prov}, r;
    lm_error err;
    assert_int_equal(lm_features_save(&f, path, &err), LM_OK);
    assert_int_equal(lm_features_load(&r, path, &err), LM_OK);
    assert_int_equal(r.dim, 2);
    assert_int_equal(r.n, 3);
    assert_memory_equal(r.data, x, sizeof x);
    assert_string_equal(r.names, names);
    lm_features_free(&r);
    /* a frame dataset or a checkpoint is not a feature file, and the other way round */
    fixture fr;
    make(&fr);
    forge(path, &fr, "lstmlm-frames", "sil aa_1 aa_2 aa_3", LM_ST_I32, UTTS + 1);
    assert_int_equal(lm_features_load(&r, path, &err), LM_EFORMAT);
    assert_non_null(strstr(err.msg, "not a feature file"));
    assert_null(r.data);
    /* forged: written with the safetensors writer, as an attacker would */
    struct {
        const char *format, *version, *names;
        int tensors;
        size_t rows;
        lm_st_dtype dtype;
        int bad_value;
        const char *want;
    } cases[] = {
        {"lstmlm-features", "2", NULL, 1, 3, LM_ST_F32, 0, "version 2"},
        {"lstmlm-features", "1", NULL, 1, 3, LM_ST_I32, 0, "features F32"},
        {"lstmlm-features", "1", NULL, 2, 3, LM_ST_F32, 0, "exactly one tensor"},
        {"lstmlm-features", "1", "a\nb", 1, 3, LM_ST_F32, 0, "2 item names for 3 items"},
        {"lstmlm-features", "1", NULL, 1, 3, LM_ST_F32, 1, "item 2: feature 1 is not finite"},
        {"lstmlm-features", "1", NULL, 1, 0, LM_ST_F32, 0, "expected items >= 1"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        float v[6];
        memcpy(v, x, sizeof v);
        if (cases[k].bad_value) v[5] = NAN;
        json_t *meta = json_object();
        json_object_set_new(meta, "format", json_string(cases[k].format));
        json_object_set_new(meta, "version", json_string(cases[k].version));
        if (cases[k].names) json_object_set_new(meta, "names", json_string(cases[k].names));
        const lm_st_tensor t[2] = {{"features", v, 2, {cases[k].rows, 2}, cases[k].dtype},
                                   {"extra", v, 1, {2}, LM_ST_F32}};
        assert_int_equal(lm_st_save(path, t, cases[k].tensors, meta, &err), LM_OK);
        json_decref(meta);
        assert_int_not_equal(lm_features_load(&r, path, &err), LM_OK);
        printf("  %s\n", err.msg);
        if (!strstr(err.msg, cases[k].want) || !strstr(err.msg, path)) fail_msg("expected \"%s\" in: %s", cases[k].want, err.msg);
        assert_null(r.data);
    }
    /* the writer checks first */
    x[0] = INFINITY;
    assert_int_equal(lm_features_save(&f, path, &err), LM_EFORMAT);
    assert_non_null(strstr(err.msg, "item 0: feature 0"));
    remove(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(forged_files_refused),
        cmocka_unit_test(feature_files),
        cmocka_unit_test(writer_refuses_invalid),
        cmocka_unit_test(frames_model_checkpoint),
        cmocka_unit_test(frames_training_learns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The C model against an independent PyTorch reference: the loss of a
 * window, every parameter gradient, and the losses of 3 SGD steps with
 * clipping and carried state, for the language model (golden/tiny_lstm.txt,
 * by golden/make_golden.py) and the frames model with its feature
 * projection and masked per-frame loss (golden/tiny_frames.txt, by
 * golden/make_golden_frames.py), and the caption model whose first window
 * starts with a projected vector (golden/tiny_caption.txt, by
 * golden/make_golden_caption.py). */
#include "test_util.h"

#include <math.h>

typedef struct {
    int V, n, L, T, B;
    int d;              /* frames, caption: features per step or per sequence (0: a language model) */
    int caption;        /* the caption model: cond at step 0 of window 0, then words */
    float *feats;       /* frames: (3T, B, d); caption: (B, d) */
    int32_t *labels;    /* frames, caption: targets (3T, B) */
    double lr, clip, loss0, final_loss, sgd_losses[3];
    lm_tokens tokens;
    char names[64][40];
    double *params[64], *grads[64];
    size_t sizes[64];
    int n_tensors;
} golden;

static double *read_values(FILE *f, size_t *count) {
    assert_int_equal(fscanf(f, "%zu", count), 1);
    double *v = malloc(*count * sizeof *v);
    for (size_t i = 0; i < *count; i++) assert_int_equal(fscanf(f, "%lf", &v[i]), 1);
    return v;
}

static void load_golden(golden *g, const char *variable) {
    const char *path = getenv(variable);
    if (!path) fail_msg("set %s to the golden file", variable);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open golden file %s (%s)", path, variable);
    memset(g, 0, sizeof *g);
    char tag[64];
    while (fscanf(f, "%63s", tag) == 1) {
        if (!strcmp(tag, "config")) {
            assert_int_equal(fscanf(f, "%d %d %d %d %d %lf %lf", &g->V, &g->n, &g->L, &g->T, &g->B, &g->lr, &g->clip), 7);
        } else if (!strcmp(tag, "frames_config")) {
            assert_int_equal(fscanf(f, "%d %d %d %d %d %d %lf %lf", &g->d, &g->V, &g->n, &g->L, &g->T, &g->B, &g->lr,
                                    &g->clip), 8);
        } else if (!strcmp(tag, "caption_config")) {
            g->caption = 1;
            assert_int_equal(fscanf(f, "%d %d %d %d %d %d %lf %lf", &g->d, &g->V, &g->n, &g->L, &g->T, &g->B, &g->lr,
                                    &g->clip), 8);
        } else if (!strcmp(tag, "feats") || !strcmp(tag, "cond") || !strcmp(tag, "labels")) {
            size_t n;
            double *v = read_values(f, &n);
            if (tag[0] != 'l') {
                g->feats = malloc(n * sizeof *g->feats);
                for (size_t i = 0; i < n; i++) g->feats[i] = (float)v[i];
            } else {
                g->labels = malloc(n * sizeof *g->labels);
                for (size_t i = 0; i < n; i++) g->labels[i] = (int32_t)v[i];
            }
            free(v);
        } else if (!strcmp(tag, "tokens")) {
            size_t n;
            double *v = read_values(f, &n);
            g->tokens.ids = malloc(n * sizeof *g->tokens.ids);
            g->tokens.n = n;
            for (size_t i = 0; i < n; i++) g->tokens.ids[i] = (int32_t)v[i];
            free(v);
        } else if (!strcmp(tag, "param") || !strcmp(tag, "grad")) {
            char name[40];
            assert_int_equal(fscanf(f, "%39s", name), 1);
            int k = 0;
            while (k < g->n_tensors && strcmp(g->names[k], name)) k++;
            if (k == g->n_tensors) snprintf(g->names[g->n_tensors++], 40, "%s", name);
            double *v = read_values(f, &g->sizes[k]);
            if (tag[0] == 'p') g->params[k] = v;
            else g->grads[k] = v;
        } else if (!strcmp(tag, "loss0")) {
            assert_int_equal(fscanf(f, "%lf", &g->loss0), 1);
        } else if (!strcmp(tag, "final_loss")) {
            assert_int_equal(fscanf(f, "%lf", &g->final_loss), 1);
        } else if (!strcmp(tag, "sgd_losses")) {
            size_t n;
            double *v = read_values(f, &n);
            assert_int_equal(n, 3);
            memcpy(g->sgd_losses, v, sizeof g->sgd_losses);
            free(v);
        } else {
            fail_msg("unknown tag %s in golden file", tag);
        }
    }
    fclose(f);
}

static lm_model *model_from_golden(const golden *g) {
    lm_config c = tiny_config(g->L, g->n, g->T, g->B, 0.0f);
    c.lr = (float)g->lr, c.clip = (float)g->clip;
    if (g->d > 0) c.task = g->caption ? LM_TASK_CAPTION : LM_TASK_FRAMES, c.input_dim = g->d;
    lm_model *m;
    lm_error err;
    assert_int_equal(lm_model_create(&m, &c, g->V, &err), LM_OK);
    assert_int_equal(lm_model_num_tensors(m), g->n_tensors);
    for (int k = 0; k < g->n_tensors; k++) {
        size_t size = 0;
        float *p = tensor_ptr(m, lm_model_params(m), g->names[k], &size);
        if (!p) fail_msg("tensor %s of the reference is not in the model", g->names[k]);
        assert_int_equal(size, g->sizes[k]);
        for (size_t i = 0; i < size; i++) p[i] = (float)g->params[k][i];
    }
    return m;
}

/* Window w of the golden's data: from the token stream (language model) or
 * from its frames; the loss as the reference states it, summed / B. */
static double window_loss(lm_model *m, const golden *g, const lm_batcher *bt, size_t w, int train) {
    if (g->caption) {
        const size_t rows = (size_t)g->T * g->B;
        const int32_t *x = g->tokens.ids + w * rows, *y = g->labels + w * rows;
        return (w == 0 ? lm_model_forward_cond(m, g->feats, x, y, g->T, g->B, train)
                       : lm_model_forward(m, x, y, g->T, g->B, train)) / g->B;
    }
    if (g->d > 0) {
        const size_t rows = (size_t)g->T * g->B;
        return lm_model_forward_frames(m, g->feats + w * rows * g->d, g->labels + w * rows, g->T, g->B, train) / g->B;
    }
    int32_t x[256], y[256];
    lm_batcher_window(bt, w, x, y);
    return lm_model_forward(m, x, y, bt->steps, bt->batch, train) / bt->batch;
}

static void matches_pytorch(const char *variable) {
    golden g;
    load_golden(&g, variable);
    lm_model *m = model_from_golden(&g);
    lm_batcher bt = {0};
    lm_error err;
    if (g.d == 0 && !g.caption) {
        assert_int_equal(lm_batcher_init(&bt, &g.tokens, g.B, g.T, &err), LM_OK);
        assert_true(bt.n_windows >= 3);
    } else {
        assert_non_null(g.feats);
        assert_non_null(g.labels);
    }

    lm_model_reset_state(m, g.B);
    double loss = window_loss(m, &g, &bt, 0, 1);
    printf("  loss      C %.9f  torch %.9f\n", loss, g.loss0);
    assert_true(fabs(loss - g.loss0) < 1e-5 * fabs(g.loss0));
    lm_model_backward(m);
    for (int k = 0; k < g.n_tensors; k++) {
        size_t size = 0;
        const float *gr = tensor_ptr(m, lm_model_grads(m), g.names[k], &size);
        double maxdiff = 0, maxref = 0;
        for (size_t i = 0; i < size; i++) {
            maxdiff = fmax(maxdiff, fabs(gr[i] - g.grads[k][i]));
            maxref = fmax(maxref, fabs(g.grads[k][i]));
        }
        printf("  grad %-18s max |diff| %.2e  (max |g| %.2e)\n", g.names[k], maxdiff, maxref);
        assert_true(maxref > 0);
        assert_true(maxdiff <= 1e-5 * maxref + 1e-8);
    }

    /* 3 SGD steps with clipping, state carried; then window 0 from zero state. */
    lm_model_free(m);
    m = model_from_golden(&g);
    lm_model_reset_state(m, g.B);
    for (size_t w = 0; w < 3; w++) {
        loss = window_loss(m, &g, &bt, w, 1);
        lm_model_backward(m);
        double norm = lm_model_sgd_step(m, (float)g.lr, (float)g.clip);
        printf("  sgd step %zu loss C %.9f torch %.9f (grad norm %.3f, clip %.2f)\n", w, loss, g.sgd_losses[w],
               norm, g.clip);
        assert_true(fabs(loss - g.sgd_losses[w]) < 1e-5 * fabs(g.sgd_losses[w]));
        if (w == 0) assert_true(norm > g.clip);  /* the golden exercises clipping */
    }
    lm_model_reset_state(m, g.B);
    loss = window_loss(m, &g, &bt, 0, 0);
    printf("  after 3 steps: C %.9f  torch %.9f\n", loss, g.final_loss);
    assert_true(fabs(loss - g.final_loss) < 1e-5 * fabs(g.final_loss));

    lm_model_free(m);
    for (int k = 0; k < g.n_tensors; k++) free(g.params[k]), free(g.grads[k]);
    lm_tokens_free(&g.tokens);
    free(g.feats);
    free(g.labels);
}

static void language_model(void **state) {
    (void)state;
    matches_pytorch("LSTMLM_GOLDEN");
}

static void frames_model(void **state) {
    (void)state;
    matches_pytorch("LSTMLM_GOLDEN_FRAMES");
}

static void caption_model(void **state) {
    (void)state;
    matches_pytorch("LSTMLM_GOLDEN_CAPTION");
}

int main(void) {
    lm_set_threads(1);
    const struct CMUnitTest tests[] = {cmocka_unit_test(language_model), cmocka_unit_test(frames_model),
                                       cmocka_unit_test(caption_model)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

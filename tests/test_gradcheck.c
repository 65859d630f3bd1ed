/* Analytic gradients of the whole model against central finite differences,
 * for every parameter tensor, with dropout off and on (the masks are the
 * same in every evaluation because the RNG state is restored). The window
 * starts from a non-zero carried state, so the truncated gradient with a
 * given initial state is what is checked. The same for a frames model:
 * feature vectors through the input projection, a class per step, and
 * steps without a target (the output delay, padding) masked out; and for a
 * caption model, whose window starts with a projected vector at step 0 and
 * reads words after it. A words model is checked at batch 1 too: one row
 * takes matrix-vector products in the recurrence. */
#include "test_util.h"

#include <math.h>

enum { V = 12, N = 5, L = 2, T = 4, B = 3, D = 3 };
enum { KIND_WORDS, KIND_FRAMES, KIND_CAPTION };

typedef struct {
    lm_model *m;
    int32_t x0[T * B], y0[T * B], x1[T * B], y1[T * B];
    float f0[T * B * D], f1[T * B * D];  /* frames model: features in place of x; caption: f1's first B rows */
    int frames;                          /* KIND_* */
    int b;                               /* batch: B, or 1 for a words model */
    uint64_t rng;
} setup;

static double forward(setup *s, int w) {
    if (s->frames == KIND_FRAMES)
        return lm_model_forward_frames(s->m, w ? s->f1 : s->f0, w ? s->y1 : s->y0, T, s->b, 1);
    if (s->frames == KIND_CAPTION && w) return lm_model_forward_cond(s->m, s->f1, s->x1, s->y1, T, s->b, 1);
    return lm_model_forward(s->m, w ? s->x1 : s->x0, w ? s->y1 : s->y0, T, s->b, 1);
}

/* Loss of window 1 (sum_t mean_b CE) after window 0 set the carried state.
 * Only window 1 sees the current parameters' perturbation when the caller
 * applies it between the two forwards, hence the callback shape. */
static double window1_loss(setup *s, float *param, float delta) {
    lm_model_set_rng_state(s->m, s->rng);
    lm_model_reset_state(s->m, s->b);
    forward(s, 0);
    float saved = 0;
    if (param) saved = *param, *param += delta;
    double loss = forward(s, 1) / s->b;
    if (param) *param = saved;
    return loss;
}

static void check(float dropout, int frames, int b) {
    assert_true(b == B || (b == 1 && frames == KIND_WORDS));
    lm_config c = tiny_config(L, N, T, b, dropout);
    setup s = {.frames = frames, .b = b};
    lm_error err;
    if (frames == KIND_FRAMES) c.task = LM_TASK_FRAMES, c.input_dim = D, c.delay = 1;
    if (frames == KIND_CAPTION) c.task = LM_TASK_CAPTION, c.input_dim = D;
    assert_int_equal(lm_model_create(&s.m, &c, V, &err), LM_OK);
    int32_t stream[2 * T * B + B];
    random_tokens(stream, (size_t)(2 * T * b + b), V, 7);
    for (int i = 0; i < T * b; i++) {
        s.x0[i] = stream[i], s.y0[i] = stream[i + b];
        s.x1[i] = stream[T * b + i], s.y1[i] = stream[T * b + b + i];
    }
    if (frames) {  /* features for both kinds */
        uint64_t r = 99;
        for (int i = 0; i < T * B * D; i++) {
            r = r * 6364136223846793005ULL + 1442695040888963407ULL;
            s.f0[i] = (float)((r >> 40) % 2001) / 1000.0f - 1.0f;
            r = r * 6364136223846793005ULL + 1442695040888963407ULL;
            s.f1[i] = (float)((r >> 40) % 2001) / 1000.0f - 1.0f;
        }
    }
    if (frames == KIND_CAPTION) {  /* the vector must be finite; a words-only window zeroes in.* gradients */
        float bad[B * D];
        memcpy(bad, s.f1, sizeof bad);
        bad[1] = INFINITY;
        assert_true(isnan(lm_model_forward_cond(s.m, bad, s.x1, s.y1, T, B, 1)));
        assert_true(isnan(lm_model_forward_frames(s.m, s.f1, s.y1, T, B, 1)));
        lm_model_reset_state(s.m, B);
        lm_model_forward_cond(s.m, s.f1, s.x1, s.y1, T, B, 1);
        lm_model_backward(s.m);
        lm_model_forward(s.m, s.x0, s.y0, T, B, 1);
        lm_model_backward(s.m);
        size_t size = 0;
        const float *gw = tensor_ptr(s.m, lm_model_grads(s.m), "in.weight", &size);
        assert_non_null(gw);
        for (size_t i = 0; i < size; i++) assert_true(gw[i] == 0.0f);
    }
    if (frames == KIND_FRAMES) {
        s.y1[0] = s.y1[1] = -1;  /* no target at step 0 of streams 0, 1 (delay) and for */
        s.y1[T * B - 1] = -1;   /* the last step of stream 2 (padding) */
        /* masked steps add no loss (and, checked below, no gradient) */
        s.rng = lm_model_rng_state(s.m);
        window1_loss(&s, NULL, 0);
        const double *nll = lm_model_row_nll(s.m);
        assert_true(nll[0] == 0 && nll[1] == 0 && nll[T * B - 1] == 0);
        assert_true(nll[2] > 0 && nll[T * B - 2] > 0);
        assert_true(isnan(lm_model_forward(s.m, s.x1, s.y1, T, B, 1)));  /* a frames model reads no words */
        float bad[T * B * D];
        memcpy(bad, s.f1, sizeof bad);
        bad[5] = NAN;
        assert_true(isnan(lm_model_forward_frames(s.m, bad, s.y1, T, B, 1)));  /* nor features that are not finite */
    }
    s.rng = lm_model_rng_state(s.m);

    window1_loss(&s, NULL, 0);
    lm_model_backward(s.m);
    size_t np = lm_model_num_params(s.m);
    float *analytic = malloc(np * sizeof *analytic);
    memcpy(analytic, lm_model_grads(s.m), np * sizeof *analytic);
    if (dropout > 0) assert_non_null(lm_model_dropout_mask(s.m, 0));

    float *params = lm_model_params(s.m);
    const float eps = 1e-2f;
    double worst = 0;
    for (int k = 0; k < lm_model_num_tensors(s.m); k++) {
        const lm_tensor_info *t = lm_model_tensor(s.m, k);
        double diff2 = 0, a2 = 0, n2 = 0;
        for (size_t i = 0; i < t->size; i++) {
            float *p = params + t->offset + i;
            double num = (window1_loss(&s, p, eps) - window1_loss(&s, p, -eps)) / (2.0 * eps);
            double a = analytic[t->offset + i];
            diff2 += (a - num) * (a - num), a2 += a * a, n2 += num * num;
        }
        double rel = sqrt(diff2) / fmax(fmax(sqrt(a2), sqrt(n2)), 1e-12);
        printf("  %s batch %d dropout %.2f  %-18s |g| %9.3e  relative error %.2e\n",
               frames == KIND_FRAMES ? "frames " : frames == KIND_CAPTION ? "caption" : "words  ", b, dropout,
               t->name, sqrt(a2), rel);
        assert_true(sqrt(a2) > 1e-6);  /* a zero gradient would pass vacuously */
        worst = fmax(worst, rel);
    }
    printf("  worst relative error %.2e\n", worst);
    assert_true(worst < 1e-2);
    free(analytic);
    lm_model_free(s.m);
}

static void gradcheck_no_dropout(void **state) { (void)state; check(0.0f, KIND_WORDS, B); }
static void gradcheck_with_dropout(void **state) { (void)state; check(0.4f, KIND_WORDS, B); }
static void gradcheck_batch1(void **state) { (void)state; check(0.4f, KIND_WORDS, 1); }
static void gradcheck_frames(void **state) { (void)state; check(0.0f, KIND_FRAMES, B); }
static void gradcheck_frames_dropout(void **state) { (void)state; check(0.4f, KIND_FRAMES, B); }
static void gradcheck_caption(void **state) { (void)state; check(0.0f, KIND_CAPTION, B); }
static void gradcheck_caption_dropout(void **state) { (void)state; check(0.4f, KIND_CAPTION, B); }

int main(void) {
    lm_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gradcheck_no_dropout),
        cmocka_unit_test(gradcheck_with_dropout),
        cmocka_unit_test(gradcheck_batch1),
        cmocka_unit_test(gradcheck_frames),
        cmocka_unit_test(gradcheck_frames_dropout),
        cmocka_unit_test(gradcheck_caption),
        cmocka_unit_test(gradcheck_caption_dropout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

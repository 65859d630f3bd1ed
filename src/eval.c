/* Evaluation without dropout, of one model or of the average of several
 * (model averaging). The mixture's probability of each target word is the
 * mean of the models' probabilities, so only each model's per-word
 * cross-entropy is needed: nll_mix = -log(mean_k exp(-nll_k)), computed
 * stably; with one model that is its own cross-entropy, exactly. */
#include "internal.h"
#include "model_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Windows of the evaluation layout: batch 1 = the whole stream in order. */
static size_t eval_windows(const lm_tokens *t, int batch, int steps, lm_batcher *bt, lm_error *err, lm_status *st) {
    if (batch == 1) return t->n >= 2 ? (t->n - 1 + (size_t)steps - 1) / (size_t)steps : 0;
    *st = lm_batcher_init(bt, t, batch, steps, err);
    return *st == LM_OK ? bt->n_windows : 0;
}

static lm_status eval_stream(lm_model *const *models, int k, const lm_tokens *t, int batch, int steps,
                             lm_progress_fn progress, void *user, lm_run_stats *each, lm_run_stats *ens,
                             lm_error *err);

lm_status lm_evaluate_ensemble(lm_model *const *models, int k, const lm_tokens *t, int batch, int steps,
                               lm_progress_fn progress, void *user, lm_run_stats *each, lm_run_stats *ens,
                               lm_error *err) {
    lm_status st = lm_ensemble_check(models, k, LM_TASK_LM, "evaluation on text", err);
    if (st != LM_OK) return st;
    if (batch < 1 || steps < 1) return lm_fail(err, LM_EARG, "evaluation batch and steps must be positive");
    if ((st = lm_tokens_check(t, lm_model_vocab_size(models[0]), err)) != LM_OK) return st;
    lm_tokens from_start = *t;
    int32_t *shifted = NULL;
    if (t->starts_sentence) {  /* read <eos> first: every word of the text is predicted */
        if (t->eos < 0 || t->eos >= lm_model_vocab_size(models[0]))
            return lm_fail(err, LM_EARG, "the text's <eos> id %ld is outside the vocabulary", (long)t->eos);
        if (!(shifted = malloc((t->n + 1) * sizeof *shifted))) return lm_fail(err, LM_ENOMEM, "out of memory");
        shifted[0] = t->eos;
        if (t->n) memcpy(shifted + 1, t->ids, t->n * sizeof *shifted);
        from_start.ids = shifted, from_start.n = t->n + 1, from_start.starts_sentence = 0;
        t = &from_start;
    }
    st = eval_stream(models, k, t, batch, steps, progress, user, each, ens, err);
    free(shifted);
    return st;
}

static lm_status eval_stream(lm_model *const *models, int k, const lm_tokens *t, int batch, int steps,
                             lm_progress_fn progress, void *user, lm_run_stats *each, lm_run_stats *ens,
                             lm_error *err) {
    if (t->n < 2) return lm_fail(err, LM_EDATA, "need at least 2 words to evaluate");
    lm_batcher bt;
    lm_status st = LM_OK;
    const size_t n_win = eval_windows(t, batch, steps, &bt, err, &st);
    if (st != LM_OK) return st;
    for (int i = 0; i < k; i++)
        if ((st = lm_model_reserve(models[i], steps, batch, 0, err)) != LM_OK) return st;
    const size_t TB = (size_t)steps * batch;
    int32_t *x = malloc(TB * sizeof *x), *y = malloc(TB * sizeof *y);
    double *mix = malloc(TB * (size_t)k * sizeof *mix);
    if (!x || !y || !mix) { free(x), free(y), free(mix); return lm_fail(err, LM_ENOMEM, "out of memory"); }
    *ens = (lm_run_stats){0};
    for (int i = 0; i < k; i++) {
        lm_model_reset_state(models[i], batch);
        if (each) each[i] = (lm_run_stats){0};
    }
    const double t0 = lm_now();
    for (size_t w = 0; w < n_win; w++) {
        const int32_t *xs = x, *ys = y;
        int T = steps;
        if (batch == 1) {
            size_t start = w * (size_t)steps, total = t->n - 1;
            T = (int)(total - start < (size_t)steps ? total - start : (size_t)steps);
            xs = t->ids + start, ys = t->ids + start + 1;
        } else {
            lm_batcher_window(&bt, w, x, y);
        }
        const size_t rows = (size_t)T * batch;
        for (int i = 0; i < k; i++) {
            double nll = lm_model_forward(models[i], xs, ys, T, batch, 0);
            if (isnan(nll)) { st = lm_fail(err, LM_EARG, "model %d cannot evaluate these ids", i + 1); goto done; }
            if (each) each[i].nll += nll, each[i].words += rows;
            const double *row = lm_model_row_nll(models[i]);
            for (size_t r = 0; r < rows; r++) mix[r * k + i] = -row[r];
        }
        for (size_t r = 0; r < rows; r++) ens->nll -= lm_log_mean_exp(mix + r * k, k);
        ens->words += rows;
        ens->seconds = lm_now() - t0;
        if (progress && progress(user, w + 1, n_win, ens) && w + 1 < n_win) {
            st = lm_fail(err, LM_ESTOPPED, "evaluation stopped after %zu of %zu windows", w + 1, n_win);
            break;
        }
    }
    if (each)
        for (int i = 0; i < k; i++) each[i].seconds = ens->seconds;
done:
    free(x), free(y), free(mix);
    return st;
}

/* Training and evaluation of a frames model over a frame dataset. Utterances
 * are batched by length (few padded steps) and each batch starts from a
 * zero state; a batch longer than the model's steps runs as consecutive
 * truncated-BPTT windows with the state carried between them, as text does.
 * Step t of an utterance reads frame t and predicts the class of frame
 * t - delay, so the batch runs delay steps past its longest utterance; steps
 * without a class (the first delay steps, padding) are masked. */
#include "internal.h"
#include "model_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Rows of the last forward whose most probable class is their target. In
 * training the logits were replaced by dscale (softmax - onehot), which
 * keeps the order of the probabilities once dscale is added back at the
 * target. */
static size_t count_correct(lm_model *m, const int32_t *y, size_t rows, int train, float dscale, float *row) {
    size_t correct = 0;
    for (size_t r = 0; r < rows; r++) {
        if (y[r] < 0) continue;
        lm_model_logits_row(m, r, row);
        if (train) row[y[r]] += dscale;
        int best = 0;
        for (int j = 1; j < m->V; j++)
            if (row[j] > row[best]) best = j;
        correct += best == y[r];
    }
    return correct;
}

static lm_status run(lm_model *m, const lm_frames *d, int batch, int train, float lr, uint64_t seed,
                     lm_progress_fn progress, void *user, lm_run_stats *stats, lm_error *err) {
    *stats = (lm_run_stats){0};
    const int dim = m->cfg.input_dim, T = m->T_max, delay = m->cfg.delay;
    if (dim < 1) return lm_fail(err, LM_EARG, "this model reads words, not feature frames");
    if (d->dim != dim || d->n_classes != m->V)
        return lm_fail(err, LM_EARG, "the data has %d features and %d classes per frame; the model %d and %d", d->dim,
                       d->n_classes, dim, m->V);
    if (batch < 1 || batch > 10000) return lm_fail(err, LM_EARG, "batch %d: must be 1..10000", batch);
    lm_status st = lm_model_reserve(m, T, batch, train, err);
    if (st != LM_OK) return st;
    size_t *len = malloc(d->n_utts * sizeof *len);
    const size_t n_batches = (d->n_utts + (size_t)batch - 1) / (size_t)batch;
    size_t *bo = malloc(n_batches * sizeof *bo), *order = NULL;
    float *x = malloc((size_t)T * batch * dim * sizeof *x), *row = malloc((size_t)m->V * sizeof *row);
    int32_t *y = malloc((size_t)T * batch * sizeof *y);
    if (len) {
        for (size_t u = 0; u < d->n_utts; u++) len[u] = (size_t)(d->offsets[u + 1] - d->offsets[u]);
        order = lm_length_order(len, d->n_utts);
    }
    if (!len || !order || !bo || !x || !row || !y) {
        st = lm_fail(err, LM_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n_batches; i++) bo[i] = i;
    if (train) lm_shuffle(bo, n_batches, seed);
    const double t0 = lm_now();
    for (size_t k = 0; k < n_batches && st == LM_OK; k++) {
        const size_t *ex = order + bo[k] * (size_t)batch;
        const int B = (int)(bo[k] * (size_t)batch + (size_t)batch <= d->n_utts ? (size_t)batch
                                                                                : d->n_utts - bo[k] * (size_t)batch);
        size_t steps = 0;
        for (int b = 0; b < B; b++)
            if (len[ex[b]] > steps) steps = len[ex[b]];
        steps += (size_t)delay;
        lm_model_reset_state(m, B);  /* every utterance starts from a zero state */
        for (size_t w0 = 0; w0 < steps; w0 += (size_t)T) {
            const int Tw = (int)(steps - w0 < (size_t)T ? steps - w0 : (size_t)T);
            size_t frames = 0;
            for (int t = 0; t < Tw; t++)
                for (int b = 0; b < B; b++) {
                    const size_t s = w0 + (size_t)t, n = len[ex[b]];
                    const float *f = d->features + ((size_t)d->offsets[ex[b]] + s) * (size_t)dim;
                    float *xo = x + ((size_t)t * B + b) * (size_t)dim;
                    if (s < n) memcpy(xo, f, (size_t)dim * sizeof *xo);
                    else memset(xo, 0, (size_t)dim * sizeof *xo);  /* padding: read silence, predict nothing */
                    const int has = s >= (size_t)delay && s - (size_t)delay < n;
                    y[t * B + b] = has ? d->labels[(size_t)d->offsets[ex[b]] + s - (size_t)delay] : -1;
                    frames += has;
                }
            const double nll = lm_model_forward_frames(m, x, y, Tw, B, train);
            if (lm_loss_diverged(nll, frames)) {
                st = lm_fail(err, LM_EDATA, "%s diverged: loss %g nats per frame (try a lower --lr)",
                             train ? "training" : "evaluation", frames ? nll / (double)frames : nll);
                break;
            }
            stats->correct += count_correct(m, y, (size_t)Tw * B, train, 1.0f / (float)B, row);
            if (train) {
                lm_model_backward(m);
                lm_model_sgd_step(m, lr, m->cfg.clip);
            }
            stats->nll += nll;
            stats->words += frames;
        }
        stats->seconds = lm_now() - t0;
        if (st == LM_OK && progress && progress(user, k + 1, n_batches, stats)) {
            st = LM_ESTOPPED;
            lm_fail(err, st, "stopped after %zu of %zu batches", k + 1, n_batches);
        }
    }
done:
    free(len), free(order), free(bo), free(x), free(row), free(y);
    return st;
}

lm_status lm_frames_train_epoch(lm_model *m, const lm_frames *d, float lr, uint64_t seed, lm_progress_fn progress,
                                void *user, lm_run_stats *stats, lm_error *err) {
    return run(m, d, m->cfg.batch, 1, lr, seed, progress, user, stats, err);
}

lm_status lm_frames_evaluate(lm_model *m, const lm_frames *d, int batch, lm_progress_fn progress, void *user,
                             lm_run_stats *stats, lm_error *err) {
    return run(m, d, batch, 0, 0.0f, 0, progress, user, stats, err);
}

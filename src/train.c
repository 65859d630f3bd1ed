/* The training loop over a token stream: batching into windows, carrying
 * state, SGD with clipping, the perplexity sums; and stop/resume points. */
#include "internal.h"
#include "model_impl.h"

#include <math.h>
#include <stdlib.h>

size_t lm_train_windows(const lm_model *m, const lm_tokens *train) {
    lm_batcher bt;
    return lm_batcher_init(&bt, train, m->cfg.batch, m->cfg.steps, NULL) == LM_OK ? bt.n_windows : 0;
}

lm_status lm_train_epoch(lm_model *m, const lm_tokens *train, float lr, size_t start, lm_progress_fn progress,
                         void *user, lm_run_stats *stats, size_t *done, lm_error *err) {
    const lm_config *c = &m->cfg;
    lm_batcher bt;
    *done = start;
    lm_status st = lm_model_needs_task(m, LM_TASK_LM, "training on text", err);
    if (st == LM_OK) st = lm_tokens_check(train, m->V, err);
    if (st != LM_OK) return st;
    st = lm_batcher_init(&bt, train, c->batch, c->steps, err);
    if (st != LM_OK) return st;
    if (start > bt.n_windows)
        return lm_fail(err, LM_EARG, "resume point window %zu is past the epoch's %zu windows", start, bt.n_windows);
    if ((st = lm_model_reserve(m, c->steps, c->batch, 1, err)) != LM_OK) return st;
    const size_t TB = (size_t)c->steps * c->batch;
    int32_t *x = malloc(TB * sizeof *x), *y = malloc(TB * sizeof *y);
    if (!x || !y) { free(x), free(y); return lm_fail(err, LM_ENOMEM, "out of memory"); }

    if (start == 0) {
        *stats = (lm_run_stats){0};
        lm_model_reset_state(m, c->batch);
    }
    const double t0 = lm_now() - stats->seconds;
    for (size_t w = start; w < bt.n_windows; w++) {
        lm_batcher_window(&bt, w, x, y);
        double nll = lm_model_forward(m, x, y, c->steps, c->batch, 1);
        if (lm_loss_diverged(nll, TB)) {
            st = lm_fail(err, LM_EDATA, "training diverged: loss is %g nats per word at window %zu (try a lower --lr or "
                         "--clip)", nll / (double)TB, w);
            break;
        }
        lm_model_backward(m);
        lm_model_sgd_step(m, lr, c->clip);
        stats->nll += nll;
        stats->words += TB;
        stats->seconds = lm_now() - t0;
        *done = w + 1;
        if (progress && progress(user, w + 1, bt.n_windows, stats)) break;
    }
    free(x), free(y);
    return st;
}

lm_status lm_evaluate(lm_model *m, const lm_tokens *t, int batch, int steps, lm_progress_fn progress, void *user,
                      lm_run_stats *stats, lm_error *err) {
    return lm_evaluate_ensemble(&m, 1, t, batch, steps, progress, user, NULL, stats, err);  /* one model */
}

double lm_perplexity(const lm_run_stats *s) { return s->words ? exp(s->nll / (double)s->words) : NAN; }

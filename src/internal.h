/* Helpers shared by the library's modules: error reporting and checked
 * allocation. Nothing here is part of the public API. */
#ifndef LM_INTERNAL_H
#define LM_INTERNAL_H

#include "lstmlm.h"
#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* A byte no message or recorded name may hold: it could drive a terminal
 * (an escape) or forge a line (a newline). */
static inline int lm_control_byte(char c) { return (unsigned char)c < 0x20 || c == 0x7f; }

/* Format a message into err (if not NULL) and return status. */
lm_status lm_fail(lm_error *err, lm_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 64-byte aligned, zeroed allocation; NULL on failure. Free with free(). */
void *lm_alloc(size_t bytes);
/* A reusable buffer: p itself if its *cap bytes hold `bytes`, else p freed
 * and a fresh lm_alloc of `bytes` (*cap updated); NULL on failure (*cap 0). */
void *lm_grow(void *p, size_t *cap, size_t bytes);

/* Whether a window's summed loss nll over n predictions ends training: not a
 * number, or a perplexity that overflows (exp(709) is the largest double). */
static inline int lm_loss_diverged(double nll, size_t n) { return !isfinite(nll) || (n && nll / (double)n > 700.0); }

/* log(mean_i exp(x[i])) over k >= 1 values, stably: the log-probability of
 * an ensemble's averaged distribution from its members' log-probabilities. */
static inline double lm_log_mean_exp(const double *x, int k) {
    double mx = x[0], s = 0.0;
    for (int i = 1; i < k; i++) mx = fmax(mx, x[i]);
    for (int i = 0; i < k; i++) s += exp(x[i] - mx);
    return mx + log(s) - log((double)k);
}

/* LM_OK if models[0..k) can be one ensemble for `what`: k >= 1, none NULL,
 * no object twice (one model's state cannot follow two members), each of
 * `task` (LM_TASK_*), one vocabulary, one input size (captions); else LM_EARG
 * saying which member fails and why, in that order. (model.c) */
lm_status lm_ensemble_check(lm_model *const *models, int k, int task, const char *what, lm_error *err);

/* LM_OK if every id of t is a word of a V-word vocabulary (a caller-built
 * list may hold anything; a negative target would be read as padding and
 * silently not scored), else LM_EARG naming the first bad one. (vocab.c) */
lm_status lm_tokens_check(const lm_tokens *t, int V, lm_error *err);

/* Indices 0..n-1 ordered by len[i], ties by index (deterministic); NULL
 * without memory. Free with free(). (order.c) */
size_t *lm_length_order(const size_t *len, size_t n);
/* A seeded Fisher-Yates shuffle of a[0..n). */
void lm_shuffle(size_t *a, size_t n, uint64_t seed);

#endif

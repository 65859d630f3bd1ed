/* Text generation: condition on a prefix, then draw words one at a time
 * from softmax(logits / temperature), optionally restricted to the top k and
 * never emitting banned words. */
#include "internal.h"
#include "model_impl.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Draw one id from the logits z (V), modified in place; -1 when an allowed
 * logit is not finite (the sort and the sums below need numbers). */
static int32_t draw(float *z, int V, const lm_sample_opts *o, float *scratch, lm_rng *rng) {
    int best = -1;
    for (int j = 0; j < V; j++) {
        if (o->banned && o->banned[j]) z[j] = -INFINITY;
        else if (!isfinite(z[j])) return -1;
        if (z[j] > -INFINITY && (best < 0 || z[j] > z[best])) best = j;
    }
    if (best < 0 || o->temperature <= 0.0f) return best;
    float cut = -INFINITY;
    if (o->top_k > 0 && o->top_k < V) {
        memcpy(scratch, z, (size_t)V * sizeof *z);
        qsort(scratch, (size_t)V, sizeof *scratch, desc);
        cut = scratch[o->top_k - 1];
    }
    double total = 0;
    for (int j = 0; j < V; j++) {
        double p = z[j] >= cut && z[j] > -INFINITY ? exp((double)(z[j] - z[best]) / o->temperature) : 0.0;
        scratch[j] = (float)p;
        total += p;
    }
    double u = (double)(lm_rng_next(rng) >> 11) * 0x1.0p-53 * total, acc = 0;
    for (int j = 0; j < V; j++) {
        acc += scratch[j];
        if (u < acc && scratch[j] > 0) return j;
    }
    return best;  /* rounding at the very end of the range */
}

lm_status lm_sample(lm_model *m, const int32_t *prefix, size_t n_prefix, size_t n_words, const lm_sample_opts *o,
                    uint64_t *rng_state, int32_t *out, lm_error *err) {
    const int V = lm_model_vocab_size(m), steps = lm_model_read_chunk(m);
    if (lm_model_needs_task(m, LM_TASK_LM, "sampling", err) != LM_OK) return LM_EARG;
    if (n_prefix == 0) return lm_fail(err, LM_EARG, "sampling needs at least one word to condition on");
    if (o->temperature < 0 || !isfinite(o->temperature)) return lm_fail(err, LM_EARG, "temperature must be >= 0");
    if (o->top_k < 0) return lm_fail(err, LM_EARG, "top-k must be >= 0");
    for (size_t i = 0; i < n_prefix; i++)
        if (prefix[i] < 0 || prefix[i] >= V) return lm_fail(err, LM_EARG, "prefix word id %d out of range", prefix[i]);
    if (o->banned) {
        int allowed = 0;
        for (int j = 0; j < V && !allowed; j++) allowed = !o->banned[j];
        if (!allowed) return lm_fail(err, LM_EARG, "every word is excluded");
    }
    lm_status st = lm_model_reserve(m, steps, 1, 0, err);
    if (st != LM_OK) return st;
    float *z = malloc((size_t)V * sizeof *z), *scratch = malloc((size_t)V * sizeof *scratch);
    int32_t *dummy = calloc((size_t)steps, sizeof *dummy);
    if (!z || !scratch || !dummy) { free(z), free(scratch), free(dummy); return lm_fail(err, LM_ENOMEM, "out of memory"); }
    lm_rng rng = {*rng_state};
    lm_model_reset_state(m, 1);
    size_t last = 0;  /* rows in the last forward */
    for (size_t at = 0; at < n_prefix; at += last) {
        last = n_prefix - at < (size_t)steps ? n_prefix - at : (size_t)steps;
        lm_model_forward(m, prefix + at, dummy, (int)last, 1, 0);
    }
    for (size_t i = 0; i < n_words; i++) {
        lm_model_logits_row(m, last - 1, z);
        int32_t id = draw(z, V, o, scratch, &rng);
        if (id < 0 || id >= V) {  /* every allowed logit NaN: a model that overflowed */
            st = lm_fail(err, LM_EDATA, "the model's scores are not finite numbers; it cannot be sampled");
            break;
        }
        out[i] = id;
        lm_model_forward(m, &out[i], dummy, 1, 1, 0);
        last = 1;
    }
    *rng_state = rng.state;
    free(z), free(scratch), free(dummy);
    return st;
}

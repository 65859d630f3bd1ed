/* Cutting a word stream into parallel streams and truncated-BPTT windows,
 * exactly as TensorFlow's ptb_producer (and the paper's reference code). */
#include "internal.h"

lm_status lm_batcher_init(lm_batcher *bt, const lm_tokens *t, int batch, int steps, lm_error *err) {
    if (batch <= 0 || steps <= 0) return lm_fail(err, LM_EARG, "batch and steps must be positive");
    size_t stream_len = t->n / (size_t)batch;
    if (stream_len < (size_t)steps + 1)
        return lm_fail(err, LM_EDATA,
                       "corpus of %zu words is shorter than one window (%d streams x %d steps needs %zu)",
                       t->n, batch, steps, (size_t)batch * ((size_t)steps + 1));
    bt->data = t->ids;
    bt->stream_len = stream_len;
    bt->n_windows = (stream_len - 1) / (size_t)steps;
    bt->batch = batch;
    bt->steps = steps;
    return LM_OK;
}

void lm_batcher_window(const lm_batcher *bt, size_t w, int32_t *x, int32_t *y) {
    for (int t = 0; t < bt->steps; t++)
        for (int b = 0; b < bt->batch; b++) {
            size_t pos = (size_t)b * bt->stream_len + w * (size_t)bt->steps + (size_t)t;
            x[t * bt->batch + b] = bt->data[pos];
            y[t * bt->batch + b] = bt->data[pos + 1];
        }
}

/* libFuzzer target for checkpoints, from the bytes to their use: any byte
 * string must be either loaded or rejected with an error, never a crash,
 * leak or out-of-bounds access (built with address and undefined-behaviour
 * sanitizers). A file that loads is then used the way the commands use one:
 * evaluated, sampled from and, for a translation model, translated with (a
 * frames model: refused by those, run forward over frames instead), so
 * the loader's semantic guarantees (finite weights, special words in place,
 * sizes that match) are fuzzed, not only its parsing. The build defines
 * FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, which skips the checksum: an
 * attacker forges a valid one as easily, and mutations must reach the
 * checks behind it. Seeded by fuzz_seed. Build and run: tests/fuzz.sh. */
#include "lstmlm.h"
#include "safetensors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A violated guarantee: crash so libFuzzer records the input. */
static void check(int ok) {
    if (!ok) __builtin_trap();
}

static void use(lm_model *m, lm_vocab *v, const uint8_t *data, size_t size) {
    const int V = lm_model_vocab_size(m);
    const lm_config *c = lm_model_config(m);
    check(V == lm_vocab_size(v));
    int32_t ids[8], out[6], src[5];
    for (int i = 0; i < 8; i++) ids[i] = (int32_t)(data[(size_t)i * 7 % size] % (unsigned)V);
    lm_tokens t = {.ids = ids, .n = 8};
    lm_run_stats s;
    lm_error err;
    if (lm_evaluate(m, &t, 1, 3, NULL, NULL, &s, &err) == LM_OK) check(s.words == 7);
    lm_evaluate(m, &t, 2, 2, NULL, NULL, &s, &err);
    uint64_t rng = size;
    lm_sample_opts so = {1.0f, 2, NULL};
    if (lm_sample(m, ids, 3, 6, &so, &rng, out, &err) == LM_OK)
        for (int i = 0; i < 6; i++) check(out[i] >= 0 && out[i] < V && lm_vocab_word(v, out[i]));
    if (c->task == LM_TASK_FRAMES) {  /* the word functions refuse it; frames go through */
        check(c->input_dim >= 1 && c->input_dim <= 65536);
        const size_t d = (size_t)c->input_dim;
        float *f = malloc(4 * d * sizeof *f);
        int32_t y[4];
        for (size_t i = 0; i < 4 * d; i++) f[i] = (float)(data[i % size] % 7) - 3.0f;
        for (int i = 0; i < 4; i++) y[i] = i == 0 ? -1 : (int32_t)(data[(size_t)i % size] % (unsigned)V);
        if (f && lm_model_reserve(m, 2, 2, 0, &err) == LM_OK) {
            lm_model_reset_state(m, 2);
            const double nll = lm_model_forward_frames(m, f, y, 2, 2, 0);
            check(!(nll < 0));  /* a cross-entropy; NaN only where huge weights overflow */
        }
        free(f);
    }
    if (c->task == LM_TASK_TRANSLATE) {
        size_t n_src = lm_pairs_source(m, v, ids, 4, src), n_out;
        check(n_src == 5 && src[4] >= 0 && src[4] < V);
        lm_beam_opts bo = {c->batch < 3 ? c->batch : 3, 6, 0.5f};
        double logp;
        if (lm_translate(m, src, n_src, &bo, out, 6, &n_out, &logp, &err) == LM_OK)
            for (size_t i = 0; i < n_out; i++) check(out[i] >= 0 && out[i] < V && lm_vocab_word(v, out[i]));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lm_model *m;
    lm_vocab *v;
    lm_train_state ts;
    lm_error err;
    if (size == 0) return 0;
    /* With and without the training state: both paths parse different fields. */
    if (lm_checkpoint_load_image(&m, &v, &ts, data, size, &err) == LM_OK) {
        free(ts.history);
        use(m, v, data, size);
        lm_model_free(m);
        lm_vocab_free(v);
    }
    if (lm_checkpoint_load_image(&m, &v, NULL, data, size, &err) == LM_OK) {
        use(m, v, data, size);
        lm_model_free(m);
        lm_vocab_free(v);
    }
    return 0;
}

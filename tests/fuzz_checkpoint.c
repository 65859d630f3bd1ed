/* libFuzzer target for the checkpoint reader: any byte string must be either
 * loaded or rejected with an error; never a crash, leak or out-of-bounds read
 * (built with address and undefined-behaviour sanitizers). Seeded with valid
 * checkpoints by fuzz_seed. Build and run: see tests/fuzz.sh. */
#include "lstmlm.h"
#include "safetensors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lm_model *m;
    lm_vocab *v;
    lm_train_state ts;
    lm_error err;
    /* With and without the training state: both paths parse different fields. */
    if (lm_checkpoint_load_image(&m, &v, &ts, data, size, &err) == LM_OK) {
        free(ts.history);
        lm_model_free(m);
        lm_vocab_free(v);
    }
    if (lm_checkpoint_load_image(&m, &v, NULL, data, size, &err) == LM_OK) {
        lm_model_free(m);
        lm_vocab_free(v);
    }
    return 0;
}

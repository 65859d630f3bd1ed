/* Writes the fuzzer's seed corpus: small valid checkpoints of the three tasks,
 * with and without a training state. Usage: fuzz_seed DIR */
#include "lstmlm.h"

#include <stdio.h>

static int write_pair(const char *dir, const char *name, const char *const *words, int V, int task) {
    lm_vocab *v;
    lm_model *m;
    lm_error err;
    lm_config c = {1, 3, 2, 2, 0.5f, 0.1f, 1.0f, 1, 2, 2.0f, 5.0f, 7, 1, task, 0, 0, 0, 0};
    if (task == LM_TASK_FRAMES) c.input_dim = 3, c.delay = 1;
    char path[4096];
    if (lm_vocab_from_words(&v, words, V, &err) || lm_model_create(&m, &c, V, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
    lm_train_state ts = {1, 3, {12.5, 24, 1.0, 0}, "{\"epoch\": 1}\n"};
    snprintf(path, sizeof path, "%s/%s_model.safetensors", dir, name);
    if (lm_checkpoint_save(m, v, NULL, path, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
    snprintf(path, sizeof path, "%s/%s_state.safetensors", dir, name);
    if (lm_checkpoint_save(m, v, &ts, path, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
    lm_model_free(m);
    lm_vocab_free(v);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: fuzz_seed DIR\n"); return 2; }
    const char *lm_words[] = {"<eos>", "a", "b", "<unk>"};
    const char *mt_words[] = {"<eos>", "<sep>", "<unk>", "a", "b"};
    const char *classes[] = {"sil", "a_1", "a_2"};
    return write_pair(argv[1], "lm", lm_words, 4, LM_TASK_LM) || write_pair(argv[1], "mt", mt_words, 5, LM_TASK_TRANSLATE) ||
           write_pair(argv[1], "frames", classes, 3, LM_TASK_FRAMES);
}

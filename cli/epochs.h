/* The epoch loop of the tasks trained on whole sequences from a zero state
 * (translation pairs, speech utterances): train an epoch, evaluate on
 * validation, keep the best epoch's model (early stopping), then test it.
 * One loop; each task brings its data and two functions. */
#ifndef LM_CLI_EPOCHS_H
#define LM_CLI_EPOCHS_H

#include "lstmlm.h"

#include <stdio.h>

typedef struct {
    const char *command;     /* for messages, e.g. "translate-train" */
    const char *unit;        /* what a prediction is: "target words", "frames" */
    int accuracy;            /* report frame accuracy and select the best epoch by it (else perplexity) */
    lm_status (*train)(lm_model *m, const void *data, float lr, uint64_t seed, lm_progress_fn progress,
                       void *user, lm_run_stats *stats, lm_error *err);
    lm_status (*evaluate)(lm_model *m, const void *data, int batch, lm_progress_fn progress, void *user,
                          lm_run_stats *stats, lm_error *err);
    size_t (*predictions)(const void *data);  /* of a whole pass over data */
} epoch_task;

/* Sentence pairs and captions (lm_pairs) as an epoch task's functions. */
lm_status epoch_pairs_train(lm_model *m, const void *data, float lr, uint64_t seed, lm_progress_fn progress,
                            void *user, lm_run_stats *stats, lm_error *err);
lm_status epoch_pairs_eval(lm_model *m, const void *data, int batch, lm_progress_fn progress, void *user,
                           lm_run_stats *stats, lm_error *err);
size_t epoch_pairs_predictions(const void *data);

/* In the claimed run folder `run`: write run.json, info with the data
 * folder and (a new run) the threads, then train *m on data[0], select on data[1], test on data[2];
 * the best epoch is saved as the run's model (with vocabulary v) and left in
 * *m. Epoch lines go to stdout and to the run's metrics. After every epoch
 * the run's state file holds the model and the history, to resume from.
 * Stops cleanly on SIGINT/SIGTERM (the epoch in progress is dropped).
 * resume: NULL for a new run; else the training state loaded with *m from
 * the run's state file (taken over and freed; info is the run's run.json
 * with the data flags in use, rewritten so that they hold for the next
 * --resume; the threads stay the run's), and the run
 * continues at its epoch exactly as if never stopped.
 * @return the exit status: 0, 1 (error, reported) or EXIT_STOPPED. */
int run_epochs(const epoch_task *t, lm_model **m, const lm_vocab *v, const void *const data[3], const lm_config *c,
               lm_run *run, lm_run_info *info, const char *data_dir, int quiet, lm_train_state *resume);

#endif

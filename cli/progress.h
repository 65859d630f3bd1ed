/* Progress display for long loops: a line on stderr redrawn in place on a
 * terminal, or plain lines at every tenth of the work otherwise. */
#ifndef LM_CLI_PROGRESS_H
#define LM_CLI_PROGRESS_H

#include "lstmlm.h"

typedef struct {
    char label[48];   /* e.g. "epoch 3/13" or "valid" */
    int tty;          /* stderr is a terminal */
    int quiet;
    double last_draw;
    int last_tenth;
} progress;

void progress_begin(progress *p, const char *label, int quiet);
/* An lm_progress_fn (never asks to stop): user is a progress*. */
int progress_update(void *user, size_t done, size_t total, const lm_run_stats *s);
/* Erase the in-place line (terminal) before other output. */
void progress_end(progress *p);

#endif

/* Shared pieces of the lstmlm subcommands: strict option-value parsing,
 * locating PTB, the run directory layout, and the long-option ids. */
#ifndef LM_CLI_COMMON_H
#define LM_CLI_COMMON_H

#include "lstmlm.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

/* A byte no message may print: an escape could drive the terminal, a
 * newline end a gnuplot command. */
static inline int control_byte(char c) { return (unsigned char)c < 0x20 || c == 0x7f; }

extern const char *prog;

/* Run directory layout. */
#define RUN_MODEL "model.safetensors"    /* weights, config, vocabulary: for eval and sample */
#define RUN_STATE "state.safetensors"    /* the model plus the training state: for --resume */
#define RUN_METRICS "metrics.jsonl"      /* one JSON object per epoch, then the test result */
#define RUN_INFO "run.json"              /* how the run was started (data folder, threads) */
#define EXIT_STOPPED 130                 /* stopped by SIGINT/SIGTERM */

/* Each returns 1, or prints "prog: --opt: ..." and returns 0. */
int parse_int(const char *opt, const char *s, int lo, int hi, int *out);
int parse_float(const char *opt, const char *s, float *out);
int parse_u64(const char *opt, const char *s, uint64_t *out);

/* A hyperparameter flag (--layers ... --seed, --threads, --bf16) into c:
 * 1 parsed, 0 bad value (reported), -1 not such a flag. */
int parse_config_option(int opt, const char *arg, lm_config *c);
/* DIR/NAME.safetensors into path (cap bytes), checked to be a readable
 * file: 1, or 0 with the reason reported ("not found (HINT DIR)"). */
int safetensors_path(char *path, size_t cap, const char *dir, const char *name, const char *hint);
/* The long options of parse_config_option that every training command takes
 * (--steps is not among them: only train and frames-train take it). */
#define CONFIG_LONG_OPTIONS                                                                                        \
    {"layers", required_argument, 0, OPT_LAYERS}, {"hidden", required_argument, 0, OPT_HIDDEN},                   \
        {"batch", required_argument, 0, OPT_BATCH}, {"dropout", required_argument, 0, OPT_DROPOUT},               \
        {"init", required_argument, 0, OPT_INIT}, {"lr", required_argument, 0, OPT_LR},                           \
        {"max-epoch", required_argument, 0, OPT_MAX_EPOCH}, {"epochs", required_argument, 0, OPT_EPOCHS},         \
        {"decay", required_argument, 0, OPT_DECAY}, {"clip", required_argument, 0, OPT_CLIP},                     \
        {"seed", required_argument, 0, OPT_SEED}, {"threads", required_argument, 0, OPT_THREADS},                 \
        {"bf16", no_argument, 0, OPT_BF16}

int file_exists(const char *path);
/* 1 for a regular file, 0 if it does not exist, -1 (reported) for a folder,
 * pipe or device: input files are read whole, never from a FIFO. */
int input_file(const char *path);
/* 1 for a regular file; else 0, said once: not found, or what it is instead. */
int require_input(const char *path);
/* Warn on stderr when more than 5% of t's words were not in the vocabulary. */
void warn_oov(const char *path, const lm_tokens *t);
/* x formatted with fmt, or "null" where it is not finite (JSON has no inf). */
const char *json_number(char *buf, size_t n, const char *fmt, double x);
/* Flush standard output; on an error report it and turn rc 0 into 1. */
int finish_stdout(int rc);
int mkdir_p(const char *path);
/* The PTB folder: given, else $LSTMLM_DATA, else ../shared/data/ptb, else data/ptb. */
const char *find_data_dir(const char *given);
/* buf = DIR/ptb.SPLIT.txt; prints how to get the data and returns 0 if missing. */
int data_path(char *buf, size_t n, const char *dir, const char *split);
/* Long jobs stop cleanly on SIGINT/SIGTERM: after stop_on_signals() the
 * handler only records the signal here, and the job checks it between steps. */
extern volatile sig_atomic_t stop_signal;
extern volatile sig_atomic_t stop_count;  /* signals received so far */
void stop_on_signals(void);
/* Load k (1..MAX_MODELS) models of one task that share one vocabulary (the
 * same words in the same order) and, for feature inputs, one input size,
 * into models[] and *v (the first model's vocabulary). 1, or 0 with the
 * reason reported (nothing left allocated). */
enum { MAX_MODELS = 32 };
int load_models(const char *const *paths, int k, int threads, int task, lm_model **models, lm_vocab **v);
/* 1 if m (loaded from path) was trained for task (LM_TASK_*); else 0, reported
 * with both kinds: numbers from another kind of model would look plausible. */
int check_task(const char *path, const lm_model *m, int task);
void free_models(lm_model **models, int k);
/* An output file written whole or not at all: a temporary file beside
 * `path`, renamed onto it by out_file_commit once every write succeeded.
 * A path that exists and is not a regular file (a device such as /dev/stdout
 * or /dev/full, a FIFO, a symbolic link) is written in place instead: the
 * rename would replace it.
 * Each returns 1, or reports and returns 0 (the temporary file removed). */
typedef struct {
    FILE *f;
    const char *path;
    char *tmp;
} out_file;
int out_file_open(out_file *o, const char *path);
int out_file_commit(out_file *o);
/* Commit every open file of files[0..n) together: all are flushed and closed
 * before any is renamed, so a write error leaves none of them behind. */
int out_file_commit_all(out_file *const *files, int n);
void out_file_abort(out_file *o);  /* remove the temporary file; no-op when committed */
/* A run's metrics.jsonl made to hold exactly `history` (the completed
 * epochs' lines, may be NULL), replaced whole (no moment holds less), then
 * opened for appending; NULL with the reason reported. */
FILE *metrics_restart(const char *path, const char *history);
/* 1 when a and b hold the same words in the same order. */
int same_vocab(const lm_vocab *a, const lm_vocab *b);
/* The four training commands (train, frames-train, translate-train,
 * caption-train) start alike.
 * train_option: parse_config_option for command `cmd`, noting a --threads
 * flag in *threads_given and any other in *settings (they refuse --resume);
 * -1 (after "Try 'prog cmd --help'.") when opt is not such a flag.
 * train_claim: the run folder dir claimed, a new run or (resume) one of
 * `kind` that holds a saved training state; then *info is its run.json (a
 * new run's: empty but for the kind) and
 * c->threads the run's unless --threads was given (a note says when they
 * differ). 0, or the exit status (2: the folder cannot be ours, 1: nothing
 * to resume) with the reason reported and *run released.
 * train_load_state: the model, vocabulary and training state of a resumed
 * run; *c becomes the saved configuration, c->threads kept. 1, or 0 with the
 * reason reported (the model must be of `task`). */
int train_option(const char *cmd, int opt, const char *arg, lm_config *c, int *threads_given, int *settings);
int train_claim(lm_run **run, const char *cmd, const char *dir, const char *kind, int resume, int threads_given,
                lm_config *c, lm_run_info *info);
int train_load_state(lm_run *run, const char *cmd, const char *kind, int task, lm_model **m, lm_vocab **v,
                     lm_train_state *ts, lm_config *c);
/* A data flag's value for a training run: the one given (non-NULL), else,
 * resuming (recorded: the run's run.json), the one the run started with,
 * else dflt. Values read back go through the same checks as given ones. */
const char *data_flag(const char *given, const lm_run_info *recorded, const char *name, const char *dflt);
/* *out = the integer flag `name` that run (resuming: non-NULL) recorded in
 * its run.json, checked as parse_int does, left as it is when none was; 0
 * with the reason reported (the value itself is not echoed). */
int recorded_int(lm_run *run, const lm_run_info *recorded, const char *name, int lo, int hi, int *out);
/* On resuming a run whose run.json predates recorded data flags: a note
 * that the flags not given take their defaults. */
void old_run_note(lm_run *run);
/* Note name = value (non-NULL) in *info, the run.json run_epochs writes, so
 * that --resume needs no data flag; 0 with the reason reported. */
int record_flag(lm_run_info *info, const char *name, const char *value);
/* The training schedule, one line on stdout, the same for every training
 * command: "batch .. lr .. max_epoch .. epochs .. decay .. clip .. seed ..
 * threads ..[ bf16]", ending the line the caller began. */
void print_schedule(const lm_config *c);
/* Print "prog: message" to stderr. */
void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

enum {
    OPT_LAYERS = 256, OPT_HIDDEN, OPT_STEPS, OPT_BATCH, OPT_DROPOUT, OPT_INIT, OPT_LR, OPT_MAX_EPOCH,
    OPT_EPOCHS, OPT_DECAY, OPT_CLIP, OPT_SEED, OPT_THREADS, OPT_DATA, OPT_OUT, OPT_PRESET, OPT_QUIET,
    OPT_MODEL, OPT_SPLIT, OPT_TEXT, OPT_NO_TEST, OPT_RESUME, OPT_SAVE_EVERY, OPT_PREFIX, OPT_WORDS,
    OPT_TEMPERATURE, OPT_TOPK, OPT_EXCLUDE, OPT_SAMPLES, OPT_OUTPUT, OPT_BF16, OPT_PROFILE,
};

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_bench(int argc, char **argv);
/* frames-train and frames-eval (argv[0] says which) */
int cmd_frames(int argc, char **argv);
int cmd_caption_train(int argc, char **argv);
int cmd_caption(int argc, char **argv);
int cmd_caption_eval(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_rescore(int argc, char **argv);
/* translate-train, translate and bleu (argv[0] says which) */
int cmd_translation(int argc, char **argv);

#endif

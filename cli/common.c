/* Option-value parsing, data discovery and folder creation for the CLI. */
#include "common.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *prog = "lstmlm";

void report(const char *fmt, ...) {
    /* Messages quote paths and text from files that may be forged: no control
     * byte (a terminal escape, a newline) reaches the terminal. */
    char small[512], *msg = small;
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    const int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n >= (int)sizeof small && (msg = malloc((size_t)n + 1))) vsnprintf(msg, (size_t)n + 1, fmt, again);
    if (!msg) msg = small;  /* out of memory: the message cut short */
    va_end(again);
    va_end(ap);
    for (char *c = msg; *c; c++)
        if (control_byte(*c)) *c = '?';
    fprintf(stderr, "%s: %s\n", prog, msg);
    if (msg != small) free(msg);
}

/* strtol and strtof also take leading white space, hex ("0x10", "0x1p3"),
 * "inf" and "nan"; an option value is plain decimal. */
static int plain_decimal(const char *s, int real) {
    if (*s == '+' || *s == '-') s++;
    if (!(*s >= '0' && *s <= '9') && !(real && *s == '.')) return 0;
    for (; *s; s++)
        if (!(*s >= '0' && *s <= '9') && !(real && (*s == '.' || *s == 'e' || *s == 'E' || *s == '+' || *s == '-')))
            return 0;
    return 1;
}

/* *out = s if it is a plain decimal integer in [lo, hi]; else 0, silently. */
static int decimal_in(const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!plain_decimal(s, 0) || errno || end == s || *end || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

int parse_int(const char *opt, const char *s, int lo, int hi, int *out) {
    if (decimal_in(s, lo, hi, out)) return 1;
    report("--%s: expected an integer in [%d, %d], got \"%s\"", opt, lo, hi, s);
    return 0;
}

int parse_float(const char *opt, const char *s, float *out) {
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (!plain_decimal(s, 1) || errno || end == s || *end || !isfinite(v)) {
        report("--%s: expected a number, got \"%s\"", opt, s);
        return 0;
    }
    *out = v;
    return 1;
}

int parse_u64(const char *opt, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!plain_decimal(s, 0) || errno || end == s || *end || s[0] == '-') {
        report("--%s: expected a non-negative integer, got \"%s\"", opt, s);
        return 0;
    }
    *out = v;
    return 1;
}

int parse_config_option(int opt, const char *arg, lm_config *c) {
    switch (opt) {
    case OPT_LAYERS: return parse_int("layers", arg, 1, 8, &c->layers);
    case OPT_HIDDEN: return parse_int("hidden", arg, 1, 16384, &c->hidden);
    case OPT_STEPS: return parse_int("steps", arg, 1, 10000, &c->steps);
    case OPT_BATCH: return parse_int("batch", arg, 1, 10000, &c->batch);
    case OPT_DROPOUT: return parse_float("dropout", arg, &c->dropout);
    case OPT_INIT: return parse_float("init", arg, &c->init);
    case OPT_LR: return parse_float("lr", arg, &c->lr);
    case OPT_MAX_EPOCH: return parse_int("max-epoch", arg, 0, 100000, &c->max_epoch);
    case OPT_EPOCHS: return parse_int("epochs", arg, 1, 100000, &c->epochs);
    case OPT_DECAY: return parse_float("decay", arg, &c->decay);
    case OPT_CLIP: return parse_float("clip", arg, &c->clip);
    case OPT_SEED: return parse_u64("seed", arg, &c->seed);
    case OPT_THREADS: return parse_int("threads", arg, 1, 1024, &c->threads);
    case OPT_BF16: c->bf16 = 1; return 1;
    default: return -1;
    }
}

int safetensors_path(char *path, size_t cap, const char *dir, const char *name, const char *hint) {
    if ((size_t)snprintf(path, cap, "%s/%s.safetensors", dir, name) >= cap) {
        report("%s: path too long", dir);
        return 0;
    }
    const int kind = input_file(path);
    if (kind == 0) report("%s not found (%s %s)", path, hint, dir);
    return kind > 0;
}

int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int mkdir_p(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) return 0;
            *p = '/';
        }
    return mkdir(buf, 0777) == 0 || errno == EEXIST;
}

const char *find_data_dir(const char *given) {
    static char probe[4096];
    if (given) return given;
    const char *env = getenv("LSTMLM_DATA");
    if (env && *env) return env;
    const char *candidates[] = {"../shared/data/ptb", "data/ptb"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(probe, sizeof probe, "%s/ptb.train.txt", candidates[i]);
        if (file_exists(probe)) return candidates[i];
    }
    return "../shared/data/ptb";
}

int input_file(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    if (S_ISREG(st.st_mode)) return 1;
    report("%s is %s, not a regular file", path, S_ISDIR(st.st_mode) ? "a folder" : "a pipe or device");
    return -1;
}

int require_input(const char *path) {
    const int kind = input_file(path);
    if (kind == 0) report("%s: not found", path);
    return kind > 0;
}

int data_path(char *buf, size_t n, const char *dir, const char *split) {
    if ((size_t)snprintf(buf, n, "%s/ptb.%s.txt", dir, split) >= n) {
        report("data folder name too long: %s", dir);
        return 0;
    }
    int kind = input_file(buf);
    if (kind > 0) return 1;
    if (kind == 0)
        report("%s not found. Give the PTB folder with --data DIR or LSTMLM_DATA=DIR, "
               "or fetch it with scripts/get_ptb.sh (writes data/ptb).", buf);
    return 0;
}

void warn_oov(const char *path, const lm_tokens *t) {
    if (t->n && (double)t->n_oov > 0.05 * (double)t->n)
        fprintf(stderr, "%s: warning: %s: %.1f%% of the words (%zu of %zu) are not in the model's vocabulary and read "
                "as <unk>; the perplexity says little about this text\n", prog, path,
                100.0 * (double)t->n_oov / (double)t->n, t->n_oov, t->n);
}

const char *json_number(char *buf, size_t n, const char *fmt, double x) {
    if (!isfinite(x)) snprintf(buf, n, "null");
    else snprintf(buf, n, fmt, x);
    return buf;
}

int finish_stdout(int rc) {
    /* Output lost on a full disk or a closed pipe must not exit 0. */
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (errno) report("error writing to standard output: %s", strerror(errno));
        else report("error writing to standard output");
        return rc == 0 ? 1 : rc;
    }
    return rc;
}

volatile sig_atomic_t stop_signal, stop_count;
static void on_stop_signal(int sig) {
    stop_signal = sig;
    if (stop_count < 1000) stop_count++;
}

void stop_on_signals(void) {
    /* sigaction, not signal(): strict C11's signal() resets the handler after
     * the first delivery, so a second Ctrl-C would kill the process while it
     * saves. Here every further signal only records itself again. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESTART;  /* a save's write or fsync is not cut short */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void free_models(lm_model **models, int k) {
    for (int i = 0; i < k; i++) lm_model_free(models[i]), models[i] = NULL;
}

int check_task(const char *path, const lm_model *m, int task) {
    static const char *const kinds[] = {"language", "translation", "frames", "caption"};
    const int have = lm_model_config(m)->task;
    if (have == task) return 1;
    report("%s is a %s model, not a %s model", path, kinds[have], kinds[task]);
    return 0;
}

int load_models(const char *const *paths, int k, int threads, int task, lm_model **models, lm_vocab **v) {
    lm_error err;
    *v = NULL;
    for (int i = 0; i < k; i++) models[i] = NULL;
    for (int i = 0; i < k; i++) {
        lm_vocab *vi = NULL;
        if (!require_input(paths[i])) goto fail;
        if (lm_checkpoint_load(&models[i], &vi, NULL, paths[i], threads, &err) != LM_OK) {
            report("%s", err.msg);
            goto fail;
        }
        const lm_config *c = lm_model_config(models[i]);
        if (!check_task(paths[i], models[i], task)) {
            lm_vocab_free(vi);
            goto fail;
        }
        if (i == 0) {
            *v = vi;
            continue;
        }
        const int same = c->input_dim == lm_model_config(models[0])->input_dim && same_vocab(vi, *v);
        lm_vocab_free(vi);
        if (!same) {
            report("%s and %s have different vocabularies or input sizes: an ensemble needs one", paths[0], paths[i]);
            goto fail;
        }
    }
    return 1;
fail:
    free_models(models, k);
    lm_vocab_free(*v);
    *v = NULL;
    return 0;
}

/* ------------------------------------------------------------ output files */

int out_file_open(out_file *o, const char *path) {
    memset(o, 0, sizeof *o);
    o->path = path;
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        /* a device, pipe or link (/dev/stdout, /dev/null, a FIFO): written
         * through in place; a rename would replace it with a plain file */
        if (!(o->f = fopen(path, "w"))) {
            report("cannot write %s: %s", path, strerror(errno));
            return 0;
        }
        return 1;
    }
    size_t n = strlen(path) + 8;
    if (!(o->tmp = malloc(n))) { report("%s: out of memory", path); return 0; }
    snprintf(o->tmp, n, "%s.XXXXXX", path);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        report("cannot write %s: %s", path, strerror(errno));
        free(o->tmp), o->tmp = NULL;
        return 0;
    }
    mode_t mask = umask(0);  /* the mode fopen would have given the file, not mkstemp's 0600 */
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0 || !(o->f = fdopen(fd, "w"))) {
        report("cannot write %s: %s", path, strerror(errno));
        close(fd), unlink(o->tmp), free(o->tmp), o->tmp = NULL;
        return 0;
    }
    return 1;
}

int out_file_commit(out_file *o) {
    return o->f && out_file_commit_all((out_file *const[]){o}, 1);
}

FILE *metrics_restart(const char *path, const char *history) {
    out_file o;
    if (!out_file_open(&o, path)) return NULL;
    if (history && fputs(history, o.f) < 0) {
        report("cannot write %s: %s", path, strerror(errno));
        out_file_abort(&o);
        return NULL;
    }
    if (!out_file_commit(&o)) return NULL;
    FILE *f = fopen(path, "a");
    if (!f) report("cannot write %s: %s", path, strerror(errno));
    return f;
}

int out_file_commit_all(out_file *const *files, int n) {
    int ok = 1;
    for (int i = 0; i < n; i++) {  /* flush and close each: the step that can fail on a full disk */
        out_file *o = files[i];
        if (!o->f) continue;
        errno = 0;
        int bad = fflush(o->f) != 0 || ferror(o->f);
        bad |= fclose(o->f) != 0;
        o->f = NULL;
        if (bad && ok) report("cannot write %s: %s", o->path, errno ? strerror(errno) : "write error"), ok = 0;
    }
    for (int i = 0; i < n; i++) {
        out_file *o = files[i];
        if (!o->tmp) continue;
        if (ok && rename(o->tmp, o->path) != 0) report("cannot write %s: %s", o->path, strerror(errno)), ok = 0;
        if (!ok) unlink(o->tmp);
        free(o->tmp), o->tmp = NULL;
    }
    return ok;
}

void out_file_abort(out_file *o) {
    if (o->f) fclose(o->f), o->f = NULL;
    if (o->tmp) unlink(o->tmp), free(o->tmp), o->tmp = NULL;
}

int same_vocab(const lm_vocab *a, const lm_vocab *b) {
    int same = lm_vocab_size(a) == lm_vocab_size(b);
    for (int w = 0; same && w < lm_vocab_size(a); w++) same = strcmp(lm_vocab_word(a, w), lm_vocab_word(b, w)) == 0;
    return same;
}

void print_schedule(const lm_config *c) {
    printf("batch %d lr %g max_epoch %d epochs %d decay %g clip %g seed %llu threads %d%s\n", c->batch, c->lr,
           c->max_epoch, c->epochs, c->decay, c->clip, (unsigned long long)c->seed, c->threads, c->bf16 ? " bf16" : "");
}

int train_option(const char *cmd, int opt, const char *arg, lm_config *c, int *threads_given, int *settings) {
    const int ok = parse_config_option(opt, arg, c);
    if (ok < 0) fprintf(stderr, "Try '%s %s --help'.\n", prog, cmd);
    else if (opt == OPT_THREADS) *threads_given = 1;
    else *settings = 1;
    return ok;
}

/* What a run.json's kind names, for messages; run.json may be forged, so its
 * own text is never printed. */
static const char *run_kind_name(const char *kind) {
    static const char *const names[][2] = {
        {"lm", "a language-model run"}, {"translation", "a translation run"},
        {"frames", "a frames run"},     {"caption", "a caption run"},
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(kind, names[i][0]) == 0) return names[i][1];
    return "a run of an unknown kind";
}

int train_claim(lm_run **run, const char *cmd, const char *dir, const char *kind, int resume, int threads_given,
                lm_config *c, lm_run_info *info) {
    lm_error err;
    if (lm_run_claim(run, dir, resume, &err) != LM_OK) {
        report("%s: %s", cmd, err.msg);
        return 2;
    }
    if (!resume) {  /* run.json to be: the kind, the rest filled in by the command */
        memset(info, 0, sizeof *info);
        snprintf(info->kind, sizeof info->kind, "%s", kind);
        return 0;
    }
    int rc = 1;
    if (lm_run_read_info(*run, info, &err) != LM_OK) report("%s", err.msg);
    else if (strcmp(info->kind, kind) != 0)
        report("%s: %s holds %s, which %s --resume cannot continue", cmd, dir, run_kind_name(info->kind), cmd);
    else if (!file_exists(lm_run_file(*run, RUN_STATE)))
        report("%s: %s holds no %s to resume from (the run stopped before its first save)", cmd, dir, RUN_STATE);
    else
        rc = 0;
    if (rc) {
        lm_run_release(*run);
        *run = NULL;
        return rc;
    }
    if (!threads_given) c->threads = info->threads;
    else if (c->threads != info->threads)
        printf("note: %d threads instead of the run's %d: results are no longer bit-identical to an "
               "uninterrupted run\n", c->threads, info->threads);
    return 0;
}

const char *data_flag(const char *given, const lm_run_info *recorded, const char *name, const char *dflt) {
    const char *was = recorded ? lm_run_flag_get(recorded, name) : NULL;
    return given ? given : was ? was : dflt;
}

int recorded_int(lm_run *run, const lm_run_info *recorded, const char *name, int lo, int hi, int *out) {
    const char *was = recorded ? lm_run_flag_get(recorded, name) : NULL;
    if (!was || decimal_in(was, lo, hi, out)) return 1;
    report("%s: expected \"flags\".\"%s\": an integer in [%d, %d]", lm_run_file(run, RUN_INFO), name, lo, hi);
    return 0;
}

void old_run_note(lm_run *run) {
    printf("note: %s records no data flags (an older run): those not given take their defaults, and the "
           "vocabulary check is all that catches other data\n", lm_run_file(run, RUN_INFO));
}

int record_flag(lm_run_info *info, const char *name, const char *value) {
    lm_error err;
    if (lm_run_flag_set(info, name, value, &err) == LM_OK) return 1;
    report("%s", err.msg);
    return 0;
}

int train_load_state(lm_run *run, const char *cmd, const char *kind, int task, lm_model **m, lm_vocab **v,
                     lm_train_state *ts, lm_config *c) {
    lm_error err;
    const char *path = lm_run_file(run, RUN_STATE);
    if (lm_checkpoint_load(m, v, ts, path, c->threads, &err) != LM_OK) {
        report("%s", err.msg);
        return 0;
    }
    const int threads = c->threads;
    *c = *lm_model_config(*m);
    c->threads = threads;
    if (c->task != task) {
        report("%s: %s is not the state of a %s run", cmd, path, kind);
        return 0;
    }
    return 1;
}

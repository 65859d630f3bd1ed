/* Option-value parsing, data discovery and folder creation for the CLI. */
#include "common.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *prog = "lstmlm";

void report(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int parse_int(const char *opt, const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        report("--%s: expected an integer in [%d, %d], got \"%s\"", opt, lo, hi, s);
        return 0;
    }
    *out = (int)v;
    return 1;
}

int parse_float(const char *opt, const char *s, float *out) {
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || !isfinite(v)) {
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
    if (errno || end == s || *end || s[0] == '-') {
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

int data_path(char *buf, size_t n, const char *dir, const char *split) {
    snprintf(buf, n, "%s/ptb.%s.txt", dir, split);
    if (file_exists(buf)) return 1;
    report("%s not found. Give the PTB folder with --data DIR or LSTMLM_DATA=DIR, "
           "or fetch it with scripts/get_ptb.sh (writes data/ptb).", buf);
    return 0;
}

volatile sig_atomic_t stop_signal;
static void on_stop_signal(int sig) { stop_signal = sig; }

void stop_on_signals(void) {
    signal(SIGINT, on_stop_signal);
    signal(SIGTERM, on_stop_signal);
}

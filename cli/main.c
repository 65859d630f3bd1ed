/* lstmlm command line: `train` and `eval` subcommands over the library.
 * The only place that prints results, chooses exit codes and touches the
 * run directory layout (model.ckpt, metrics.jsonl). */
#include "lstmlm.h"
#include "progress.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#ifndef LSTMLM_VERSION
#define LSTMLM_VERSION "dev"
#endif

static const char *prog = "lstmlm";

static int die(const char *fmt, const char *a, const char *b) {
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return 2;
}

/* Strict number parsing: the whole string, in range, finite. */
static int parse_int(const char *opt, const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "%s: --%s: expected an integer in [%d, %d], got \"%s\"\n", prog, opt, lo, hi, s);
        return 0;
    }
    *out = (int)v;
    return 1;
}

static int parse_float(const char *opt, const char *s, float *out) {
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || !isfinite(v)) {
        fprintf(stderr, "%s: --%s: expected a number, got \"%s\"\n", prog, opt, s);
        return 0;
    }
    *out = v;
    return 1;
}

static int parse_u64(const char *opt, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-') {
        fprintf(stderr, "%s: --%s: expected a non-negative integer, got \"%s\"\n", prog, opt, s);
        return 0;
    }
    *out = v;
    return 1;
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The PTB directory: --data, else $LSTMLM_DATA, else ../shared/data/ptb, else data/ptb. */
static const char *find_data_dir(const char *given) {
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

static int data_path(char *buf, size_t n, const char *dir, const char *split) {
    snprintf(buf, n, "%s/ptb.%s.txt", dir, split);
    if (!file_exists(buf)) {
        fprintf(stderr,
                "%s: %s not found. Give the PTB folder with --data DIR or LSTMLM_DATA=DIR, "
                "or fetch it with scripts/get_ptb.sh (writes data/ptb).\n",
                prog, buf);
        return 0;
    }
    return 1;
}

static int mkdir_p(const char *path) {
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

/* ------------------------------------------------------------------ train */

enum {
    OPT_LAYERS = 256, OPT_HIDDEN, OPT_STEPS, OPT_BATCH, OPT_DROPOUT, OPT_INIT, OPT_LR, OPT_MAX_EPOCH,
    OPT_EPOCHS, OPT_DECAY, OPT_CLIP, OPT_SEED, OPT_THREADS, OPT_DATA, OPT_OUT, OPT_PRESET, OPT_QUIET,
    OPT_MODEL, OPT_SPLIT, OPT_TEXT, OPT_HELP, OPT_NO_TEST,
};

static void train_usage(FILE *f, const lm_config *c) {
    fprintf(f,
            "Usage: %s train [options]\n"
            "Train a regularised deep LSTM language model on PTB (Zaremba et al. 2014),\n"
            "validating after every epoch and reporting test perplexity at the end.\n"
            "\n"
            "  --preset NAME     small | medium | large (default small); flags below override it\n"
            "  --data DIR        folder with ptb.{train,valid,test}.txt\n"
            "                    (default: $LSTMLM_DATA, else ../shared/data/ptb, else data/ptb)\n"
            "  --out DIR         run directory for model.ckpt and metrics.jsonl (default runs/PRESET)\n"
            "  --layers N        LSTM layers (preset: %d)\n"
            "  --hidden N        units per layer and embedding size (preset: %d)\n"
            "  --steps N         truncated-BPTT window (preset: %d)\n"
            "  --batch N         parallel streams (preset: %d)\n"
            "  --dropout P       drop probability on non-recurrent connections (preset: %g)\n"
            "  --init X          parameters ~ U[-X, X] (preset: %g)\n"
            "  --lr X            initial learning rate (preset: %g)\n"
            "  --max-epoch N     epochs at the initial rate (preset: %d)\n"
            "  --epochs N        total epochs (preset: %d)\n"
            "  --decay X         lr divisor per epoch after max-epoch (preset: %g)\n"
            "  --clip X          max global gradient norm, 0 = off (preset: %g)\n"
            "  --seed N          RNG seed for initialisation and dropout (default %llu)\n"
            "  --threads N       BLAS and OpenMP threads (default %d)\n"
            "  --no-test         skip the final test evaluation\n"
            "  --quiet           no progress line\n"
            "  -h, --help        this help\n",
            prog, c->layers, c->hidden, c->steps, c->batch, c->dropout, c->init, c->lr, c->max_epoch, c->epochs,
            c->decay, c->clip, (unsigned long long)c->seed, c->threads);
}

static void print_config(const lm_config *c, int V, size_t n_params) {
    printf("config: layers %d hidden %d steps %d batch %d dropout %g init %g lr %g max_epoch %d epochs %d "
           "decay %g clip %g seed %llu threads %d\n",
           c->layers, c->hidden, c->steps, c->batch, c->dropout, c->init, c->lr, c->max_epoch, c->epochs, c->decay,
           c->clip, (unsigned long long)c->seed, c->threads);
    printf("model: vocabulary %d, %zu parameters; BLAS kernel %s\n", V, n_params, lm_blas_kernel());
}

static int cmd_train(int argc, char **argv) {
    const char *preset = "small", *data = NULL, *out = NULL;
    int quiet = 0, no_test = 0;
    lm_error err;
    lm_config c;
    /* First pass: the preset, so flags override it regardless of order. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--preset") == 0 && i + 1 < argc) preset = argv[i + 1];
        else if (strncmp(argv[i], "--preset=", 9) == 0) preset = argv[i] + 9;
    }
    if (lm_config_preset(&c, preset, &err) != LM_OK) return die("%s%s", err.msg, "");

    static const struct option opts[] = {
        {"preset", required_argument, 0, OPT_PRESET}, {"data", required_argument, 0, OPT_DATA},
        {"out", required_argument, 0, OPT_OUT},       {"layers", required_argument, 0, OPT_LAYERS},
        {"hidden", required_argument, 0, OPT_HIDDEN}, {"steps", required_argument, 0, OPT_STEPS},
        {"batch", required_argument, 0, OPT_BATCH},   {"dropout", required_argument, 0, OPT_DROPOUT},
        {"init", required_argument, 0, OPT_INIT},     {"lr", required_argument, 0, OPT_LR},
        {"max-epoch", required_argument, 0, OPT_MAX_EPOCH}, {"epochs", required_argument, 0, OPT_EPOCHS},
        {"decay", required_argument, 0, OPT_DECAY},   {"clip", required_argument, 0, OPT_CLIP},
        {"seed", required_argument, 0, OPT_SEED},     {"threads", required_argument, 0, OPT_THREADS},
        {"no-test", no_argument, 0, OPT_NO_TEST},     {"quiet", no_argument, 0, OPT_QUIET},
        {"help", no_argument, 0, 'h'},                {0, 0, 0, 0},
    };
    int o, ok = 1;
    optind = 1;
    while (ok && (o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case OPT_PRESET: break;
        case OPT_DATA: data = optarg; break;
        case OPT_OUT: out = optarg; break;
        case OPT_LAYERS: ok = parse_int("layers", optarg, 1, 8, &c.layers); break;
        case OPT_HIDDEN: ok = parse_int("hidden", optarg, 1, 16384, &c.hidden); break;
        case OPT_STEPS: ok = parse_int("steps", optarg, 1, 10000, &c.steps); break;
        case OPT_BATCH: ok = parse_int("batch", optarg, 1, 10000, &c.batch); break;
        case OPT_DROPOUT: ok = parse_float("dropout", optarg, &c.dropout); break;
        case OPT_INIT: ok = parse_float("init", optarg, &c.init); break;
        case OPT_LR: ok = parse_float("lr", optarg, &c.lr); break;
        case OPT_MAX_EPOCH: ok = parse_int("max-epoch", optarg, 0, 100000, &c.max_epoch); break;
        case OPT_EPOCHS: ok = parse_int("epochs", optarg, 1, 100000, &c.epochs); break;
        case OPT_DECAY: ok = parse_float("decay", optarg, &c.decay); break;
        case OPT_CLIP: ok = parse_float("clip", optarg, &c.clip); break;
        case OPT_SEED: ok = parse_u64("seed", optarg, &c.seed); break;
        case OPT_THREADS: ok = parse_int("threads", optarg, 1, 1024, &c.threads); break;
        case OPT_NO_TEST: no_test = 1; break;
        case OPT_QUIET: quiet = 1; break;
        case 'h': train_usage(stdout, &c); return 0;
        default: fprintf(stderr, "Try '%s train --help'.\n", prog); return 2;
        }
    }
    if (!ok) return 2;
    if (optind < argc) return die("train: unexpected argument \"%s\" (see --help)%s", argv[optind], "");
    if (lm_config_validate(&c, &err) != LM_OK) return die("train: %s%s", err.msg, "");

    char run_dir[1024], ckpt[1100], metrics_path[1100], path[3][1100];
    snprintf(run_dir, sizeof run_dir, "%s", out ? out : "runs/");
    if (!out) snprintf(run_dir, sizeof run_dir, "runs/%s", preset);
    data = find_data_dir(data);
    const char *splits[3] = {"train", "valid", "test"};
    for (int i = 0; i < 3; i++)
        if (!data_path(path[i], sizeof path[i], data, splits[i])) return 1;

    lm_set_threads(c.threads);
    lm_vocab *vocab = NULL;
    lm_tokens tok[3] = {{0}};
    lm_model *m = NULL;
    FILE *metrics = NULL;
    int rc = 1;
    if (lm_vocab_build(&vocab, path[0], &err) != LM_OK) goto fail;
    for (int i = 0; i < 3; i++)
        if (lm_tokens_read(&tok[i], path[i], vocab, &err) != LM_OK) goto fail;
    if (lm_model_create(&m, &c, lm_vocab_size(vocab), &err) != LM_OK) goto fail;
    printf("data: %s (train %zu, valid %zu, test %zu words)\n", data, tok[0].n, tok[1].n, tok[2].n);
    print_config(&c, lm_vocab_size(vocab), lm_model_num_params(m));

    if (!mkdir_p(run_dir)) {
        fprintf(stderr, "%s: cannot create run directory %s: %s\n", prog, run_dir, strerror(errno));
        goto out;
    }
    snprintf(ckpt, sizeof ckpt, "%s/model.ckpt", run_dir);
    snprintf(metrics_path, sizeof metrics_path, "%s/metrics.jsonl", run_dir);
    if (!(metrics = fopen(metrics_path, "w"))) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, metrics_path, strerror(errno));
        goto out;
    }
    printf("run directory: %s\n", run_dir);
    printf("\n%5s %9s %10s %10s %9s %9s\n", "epoch", "lr", "train ppl", "valid ppl", "time(s)", "words/s");
    fflush(stdout);
    double t_start = time(NULL), train_seconds = 0;
    size_t train_words = 0;
    for (int e = 1; e <= c.epochs; e++) {
        float lr = lm_config_lr_at(&c, e);
        char label[48];
        progress pr;
        lm_run_stats tr, va;
        snprintf(label, sizeof label, "epoch %d/%d", e, c.epochs);
        progress_begin(&pr, label, quiet);
        if (lm_train_epoch(m, &tok[0], lr, progress_update, &pr, &tr, &err) != LM_OK) { progress_end(&pr); goto fail; }
        progress_end(&pr);
        progress_begin(&pr, "validation", quiet);
        if (lm_evaluate(m, &tok[1], c.batch, c.steps, progress_update, &pr, &va, &err) != LM_OK) {
            progress_end(&pr);
            goto fail;
        }
        progress_end(&pr);
        train_seconds += tr.seconds, train_words += tr.words;
        double wps = (double)tr.words / tr.seconds;
        printf("%5d %9.4g %10.2f %10.2f %9.1f %9.0f\n", e, lr, lm_perplexity(&tr), lm_perplexity(&va),
               tr.seconds + va.seconds, wps);
        fflush(stdout);
        fprintf(metrics,
                "{\"epoch\": %d, \"lr\": %.6g, \"train_ppl\": %.4f, \"valid_ppl\": %.4f, \"train_seconds\": %.2f, "
                "\"valid_seconds\": %.2f, \"train_words_per_s\": %.1f, \"valid_words_per_s\": %.1f}\n",
                e, lr, lm_perplexity(&tr), lm_perplexity(&va), tr.seconds, va.seconds, wps,
                (double)va.words / va.seconds);
        fflush(metrics);
        if (lm_checkpoint_save(m, vocab, ckpt, &err) != LM_OK) goto fail;
    }
    if (!no_test) {
        progress pr;
        lm_run_stats te;
        progress_begin(&pr, "test", quiet);
        if (lm_evaluate(m, &tok[2], 1, c.steps, progress_update, &pr, &te, &err) != LM_OK) { progress_end(&pr); goto fail; }
        progress_end(&pr);
        printf("\ntest perplexity %.2f (%zu words predicted, batch 1, state carried; %.1fs)\n", lm_perplexity(&te),
               te.words, te.seconds);
        fprintf(metrics, "{\"test_ppl\": %.4f, \"test_words\": %zu, \"test_seconds\": %.2f}\n", lm_perplexity(&te),
                te.words, te.seconds);
    }
    printf("total %.0fs wall, training %.0f words/s overall; model saved to %s\n", time(NULL) - t_start,
           (double)train_words / train_seconds, ckpt);
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "%s: %s\n", prog, err.msg);
out:
    if (metrics && fclose(metrics) != 0) {
        fprintf(stderr, "%s: writing %s failed\n", prog, metrics_path);
        rc = 1;
    }
    lm_model_free(m);
    for (int i = 0; i < 3; i++) lm_tokens_free(&tok[i]);
    lm_vocab_free(vocab);
    return rc;
}

/* ------------------------------------------------------------------ eval */

static void eval_usage(FILE *f) {
    fprintf(f,
            "Usage: %s eval --model FILE [options]\n"
            "Perplexity of a trained model on a PTB split or any text file.\n"
            "\n"
            "  --model FILE      checkpoint written by `lstmlm train` (required)\n"
            "  --data DIR        PTB folder (default as for train)\n"
            "  --split NAME      test | valid | train (default test)\n"
            "  --text FILE       evaluate this file instead of a PTB split\n"
            "  --batch N         parallel streams; 1 = whole stream in order, the paper's test\n"
            "                    protocol (default 1)\n"
            "  --steps N         window length (default: the model's)\n"
            "  --threads N       BLAS and OpenMP threads (default 2)\n"
            "  --quiet           no progress line\n"
            "  -h, --help        this help\n",
            prog);
}

static int cmd_eval(int argc, char **argv) {
    const char *model_path = NULL, *data = NULL, *split = "test", *text = NULL;
    int batch = 1, steps = 0, threads = 2, quiet = 0, ok = 1, o;
    static const struct option opts[] = {
        {"model", required_argument, 0, OPT_MODEL}, {"data", required_argument, 0, OPT_DATA},
        {"split", required_argument, 0, OPT_SPLIT}, {"text", required_argument, 0, OPT_TEXT},
        {"batch", required_argument, 0, OPT_BATCH}, {"steps", required_argument, 0, OPT_STEPS},
        {"threads", required_argument, 0, OPT_THREADS}, {"quiet", no_argument, 0, OPT_QUIET},
        {"help", no_argument, 0, 'h'},              {0, 0, 0, 0},
    };
    optind = 1;
    while (ok && (o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case OPT_MODEL: model_path = optarg; break;
        case OPT_DATA: data = optarg; break;
        case OPT_SPLIT: split = optarg; break;
        case OPT_TEXT: text = optarg; break;
        case OPT_BATCH: ok = parse_int("batch", optarg, 1, 10000, &batch); break;
        case OPT_STEPS: ok = parse_int("steps", optarg, 1, 10000, &steps); break;
        case OPT_THREADS: ok = parse_int("threads", optarg, 1, 1024, &threads); break;
        case OPT_QUIET: quiet = 1; break;
        case 'h': eval_usage(stdout); return 0;
        default: fprintf(stderr, "Try '%s eval --help'.\n", prog); return 2;
        }
    }
    if (!ok) return 2;
    if (optind < argc) return die("eval: unexpected argument \"%s\" (see --help)%s", argv[optind], "");
    if (!model_path) return die("eval: --model FILE is required (see --help)%s%s", "", "");
    if (strcmp(split, "test") && strcmp(split, "valid") && strcmp(split, "train"))
        return die("eval: --split must be test, valid or train, not \"%s\"%s", split, "");
    char path[1100];
    if (text) snprintf(path, sizeof path, "%s", text);
    else if (!data_path(path, sizeof path, find_data_dir(data), split)) return 1;

    lm_set_threads(threads);
    lm_error err;
    lm_model *m = NULL;
    lm_vocab *v = NULL;
    lm_tokens tok = {0};
    int rc = 1;
    if (lm_checkpoint_load(&m, &v, model_path, threads, &err) != LM_OK) goto fail;
    const lm_config *c = lm_model_config(m);
    if (steps == 0) steps = c->steps;
    if (batch > c->batch || steps > c->steps) {
        fprintf(stderr, "%s: eval: batch and steps can be at most the model's %d and %d\n", prog, c->batch, c->steps);
        goto out;
    }
    if (lm_tokens_read(&tok, path, v, &err) != LM_OK) goto fail;
    progress pr;
    lm_run_stats s;
    progress_begin(&pr, "eval", quiet);
    if (lm_evaluate(m, &tok, batch, steps, progress_update, &pr, &s, &err) != LM_OK) { progress_end(&pr); goto fail; }
    progress_end(&pr);
    printf("%s: perplexity %.2f (%zu words predicted, batch %d, steps %d, %.1fs, %.0f words/s)\n", path,
           lm_perplexity(&s), s.words, batch, steps, s.seconds, (double)s.words / s.seconds);
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "%s: %s\n", prog, err.msg);
out:
    lm_tokens_free(&tok);
    lm_model_free(m);
    lm_vocab_free(v);
    return rc;
}

static void usage(FILE *f) {
    fprintf(f,
            "Usage: %s COMMAND [options]\n"
            "Deep LSTM language models regularised with dropout (Zaremba et al. 2014).\n"
            "\n"
            "Commands:\n"
            "  train     train on PTB and report validation and test perplexity\n"
            "  eval      perplexity of a saved model on a split or a text file\n"
            "\n"
            "`%s COMMAND --help` lists each command's options. --version prints the version.\n",
            prog, prog);
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) { usage(stdout); return 0; }
    if (!strcmp(cmd, "--version")) { printf("lstmlm %s\n", LSTMLM_VERSION); return 0; }
    if (!strcmp(cmd, "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc - 1, argv + 1);
    fprintf(stderr, "%s: unknown command \"%s\"\n", prog, cmd);
    usage(stderr);
    return 2;
}

/* `lstmlm train`: a full training run with per-epoch validation, the final
 * test evaluation, checkpoints, metrics, exact resume and clean stops on
 * SIGINT/SIGTERM. */
#include "common.h"
#include "progress.h"

#include <errno.h>
#include <math.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    lm_model *m;
    lm_vocab *v;
    lm_train_state ts;   /* epoch in progress and the history of completed ones */
    char state_path[4200], model_path[4200], metrics_path[4200];
    double save_every;   /* seconds between mid-epoch state saves; 0 = every window */
    double last_save;
    progress pr;
    lm_error err;
    int save_failed;
} trainer;

static lm_status save_state(trainer *t, size_t window, const lm_run_stats *partial) {
    t->ts.window = window;
    t->ts.partial = *partial;
    t->last_save = lm_now();
    return lm_checkpoint_save(t->m, t->v, &t->ts, t->state_path, &t->err);
}

/* Called after every window: progress, periodic state saves, stop requests. */
static int on_window(void *user, size_t done, size_t total, const lm_run_stats *s) {
    trainer *t = user;
    progress_update(&t->pr, done, total, s);
    if (stop_signal) return 1;
    if (done < total && lm_now() - t->last_save >= t->save_every && save_state(t, done, s) != LM_OK) {
        t->save_failed = 1;
        return 1;
    }
    return 0;
}

/* Progress of validation and test passes, which stop on SIGINT/SIGTERM too. */
static int on_eval_window(void *user, size_t done, size_t total, const lm_run_stats *s) {
    progress_update(user, done, total, s);
    return stop_signal != 0;
}

static int append_history(trainer *t, const char *line) {
    size_t old = t->ts.history ? strlen(t->ts.history) : 0, add = strlen(line);
    char *h = realloc(t->ts.history, old + add + 1);
    if (!h) return 0;
    memcpy(h + old, line, add + 1);
    t->ts.history = h;
    return 1;
}

static void train_usage(FILE *f, const lm_config *c) {
    fprintf(f,
            "Usage: %s train [options]\n"
            "       %s train --resume RUN_DIR [--threads N] [--data DIR] [--quiet]\n"
            "Train a regularised deep LSTM language model on PTB (Zaremba et al. 2014),\n"
            "validating after every epoch and reporting test perplexity at the end.\n"
            "\n"
            "  --preset NAME     small | medium | large (default small); flags below override it\n"
            "  --data DIR        folder with ptb.{train,valid,test}.txt\n"
            "                    (default: $LSTMLM_DATA, else ../shared/data/ptb, else data/ptb)\n"
            "  --train FILE --valid FILE --test FILE\n"
            "                    any corpus instead of --data: one sentence per line, tokens\n"
            "                    separated by spaces; the vocabulary comes from the training file\n"
            "  --min-count N     words seen fewer times in training read as <unk> (default 1)\n"
            "  --max-vocab N     at most N words, the most frequent, <eos> and <unk> included\n"
            "                    (default 0: no limit)\n"
            "  --out DIR         run directory (default runs/PRESET); must not hold a run already\n"
            "  --resume DIR      continue the interrupted run in DIR exactly where it stopped\n"
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
            "  --bf16            matrix products in BF16 with FP32 accumulation and FP32 weights\n"
            "                    (CPUs with AVX512_BF16, on AMX tiles where the CPU has them;\n"
            "                    measured 1.5x to 2.5x FP32's speed, same perplexity)\n"
            "  --save-every S    also save the training state every S seconds within an epoch\n"
            "                    (default 300; 0 = after every window)\n"
            "  --no-test         skip the final test evaluation\n"
            "  --quiet           no progress line\n"
            "  -h, --help        this help\n"
            "\n"
            "RUN_DIR receives model.safetensors (after every epoch), state.safetensors (for\n"
            "--resume), metrics.jsonl and run.json. SIGINT or SIGTERM saves the state at the\n"
            "next window boundary and exits; --resume then continues bit-identically (on\n"
            "the same BF16 kernel: LSTMLM_AMX=0 keeps BF16 products off AMX tiles).\n",
            prog, prog, c->layers, c->hidden, c->steps, c->batch, c->dropout, c->init, c->lr, c->max_epoch,
            c->epochs, c->decay, c->clip, (unsigned long long)c->seed, c->threads);
}

static void print_config(const lm_config *c, int V, size_t n_params) {
    printf("config: layers %d hidden %d steps %d dropout %g init %g ", c->layers, c->hidden, c->steps, c->dropout,
           c->init);
    print_schedule(c);
    printf("model: vocabulary %d, %zu parameters; BLAS kernel %s", V, n_params, lm_blas_kernel());
    if (c->bf16) printf("; BF16 products on %s", lm_bf16_kernel());  /* resumes are bit-identical on the same one */
    printf("\n");
}

/* Every split is checked against the configuration before a model exists or
 * an epoch trains: a too-short file is found in a second, named. */
static int check_splits(const lm_config *c, const lm_tokens *tok, char path[3][4200]) {
    lm_batcher bt;
    lm_error err;
    if (lm_batcher_init(&bt, &tok[0], c->batch, c->steps, &err) != LM_OK || bt.n_windows == 0) {
        report("%s: %zu words is shorter than one window of %d streams x %d steps", path[0], tok[0].n, c->batch,
               c->steps);
        return 0;
    }
    if (lm_batcher_init(&bt, &tok[1], c->batch, c->steps, &err) != LM_OK || bt.n_windows == 0) {
        report("%s: %zu words is too short to validate with %d streams x %d steps", path[1], tok[1].n, c->batch,
               c->steps);
        return 0;
    }
    if (tok[2].n < 2) { report("%s: at least 2 words are needed for the test", path[2]); return 0; }
    return 1;
}

/* Perplexities that overflowed or are not numbers mean the run diverged. */
static int diverged(const char *what, double ppl, int epoch) {
    if (isfinite(ppl)) return 0;
    report("training diverged: %s perplexity is %g%s%d (try a lower --lr or --clip); nothing of this epoch is saved",
           what, ppl, epoch ? " at epoch " : "", epoch);
    return 1;
}

int cmd_train(int argc, char **argv) {
    enum { OPT_TRAIN_FILE = 600, OPT_VALID_FILE, OPT_TEST_FILE, OPT_MIN_COUNT, OPT_MAX_VOCAB };
    const char *preset = "small", *data = NULL, *out = NULL, *resume = NULL, *files[3] = {NULL, NULL, NULL};
    int quiet = 0, no_test = 0, threads_given = 0, config_flags = 0, min_count = 1, max_vocab = 0;
    float save_every = 300;
    lm_config c;
    trainer t;
    memset(&t, 0, sizeof t);
    static const struct option opts[] = {
        CONFIG_LONG_OPTIONS,
        {"preset", required_argument, 0, OPT_PRESET}, {"data", required_argument, 0, OPT_DATA},
        {"out", required_argument, 0, OPT_OUT}, {"resume", required_argument, 0, OPT_RESUME},
        {"steps", required_argument, 0, OPT_STEPS}, {"save-every", required_argument, 0, OPT_SAVE_EVERY},
        {"no-test", no_argument, 0, OPT_NO_TEST}, {"quiet", no_argument, 0, OPT_QUIET},
        {"train", required_argument, 0, OPT_TRAIN_FILE}, {"valid", required_argument, 0, OPT_VALID_FILE},
        {"test", required_argument, 0, OPT_TEST_FILE}, {"min-count", required_argument, 0, OPT_MIN_COUNT},
        {"max-vocab", required_argument, 0, OPT_MAX_VOCAB}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int o, ok = 1;
    /* The preset first, so the flags override it whatever their order: a
     * silent pass of the same parser (which also takes "--pre large"). */
    opterr = 0, optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1)
        if (o == OPT_PRESET) preset = optarg;
    opterr = 1;
    if (lm_config_preset(&c, preset, &t.err) != LM_OK) { report("%s", t.err.msg); return 2; }
    optind = 1;
    while (ok && (o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case OPT_PRESET: config_flags++; break;
        case OPT_DATA: data = optarg; break;
        case OPT_TRAIN_FILE: files[0] = optarg, config_flags++; break;
        case OPT_VALID_FILE: files[1] = optarg, config_flags++; break;
        case OPT_TEST_FILE: files[2] = optarg, config_flags++; break;
        case OPT_MIN_COUNT: ok = parse_int("min-count", optarg, 1, 1 << 30, &min_count), config_flags++; break;
        case OPT_MAX_VOCAB:
            ok = parse_int("max-vocab", optarg, 0, 1 << 24, &max_vocab), config_flags++;
            if (ok && max_vocab > 0 && max_vocab < 3) report("--max-vocab: 0 (no limit) or at least 3"), ok = 0;
            break;
        case OPT_OUT: out = optarg; break;
        case OPT_RESUME: resume = optarg; break;
        case OPT_SAVE_EVERY:
            ok = parse_float("save-every", optarg, &save_every);
            if (ok && save_every < 0) report("--save-every: must be >= 0"), ok = 0;
            break;
        case OPT_NO_TEST: no_test = 1; break;
        case OPT_QUIET: quiet = 1; break;
        case 'h': train_usage(stdout, &c); return 0;
        default:
            if ((ok = train_option("train", o, optarg, &c, &threads_given, &config_flags)) < 0) return 2;
        }
    }
    if (!ok) return 2;
    if (optind < argc) { report("train: unexpected argument \"%s\" (see --help)", argv[optind]); return 2; }
    if (resume && (config_flags || out)) {
        report("train: --resume continues a run with its own settings and data files; drop the preset, "
               "hyperparameter, file and --out flags");
        return 2;
    }
    const int given_files = (files[0] != NULL) + (files[1] != NULL) + (files[2] != NULL);
    if (given_files && given_files < 3) { report("train: give --train, --valid and --test together"); return 2; }
    if (given_files && data) { report("train: --data or --train/--valid/--test, not both"); return 2; }
    if (lm_config_validate(&c, &t.err) != LM_OK) { report("train: %s", t.err.msg); return 2; }

    /* The run folder first: its owner is this process from here on, and a
     * folder that cannot be ours is refused before any data is read. */
    char run_dir[4200], path[3][4200];
    const char *splits[3] = {"train", "valid", "test"};
    lm_run *run = NULL;
    lm_run_info info;
    lm_tokens tok[3] = {{0}};
    FILE *metrics = NULL;
    int rc = 1, finished = 0, saved = 0;
    if ((size_t)snprintf(run_dir, sizeof run_dir, "%s", resume ? resume : out ? out : "runs/") >= 4096) {
        report("train: the run folder name is too long");
        return 2;
    }
    if (!resume && !out) snprintf(run_dir, sizeof run_dir, "runs/%s", preset);
    if ((rc = train_claim(&run, "train", run_dir, "lm", resume != NULL, threads_given, &c, &info))) return rc;
    rc = 1;
    snprintf(t.state_path, sizeof t.state_path, "%s", lm_run_file(run, RUN_STATE));
    snprintf(t.model_path, sizeof t.model_path, "%s", lm_run_file(run, RUN_MODEL));
    snprintf(t.metrics_path, sizeof t.metrics_path, "%s", lm_run_file(run, RUN_METRICS));
    if (!resume) {
        memset(&info, 0, sizeof info);
        snprintf(info.kind, sizeof info.kind, "lm");
        snprintf(info.preset, sizeof info.preset, "%s", preset);
        info.threads = c.threads;
    }
    char data_buf[4200];
    int recorded = 0;  /* run.json names all three splits: resume reads the files it recorded */
    for (int i = 0; resume && i < 3; i++)
        for (int j = 0; j < info.n_splits; j++)
            if (!strcmp(info.splits[j].name, splits[i])) {
                snprintf(path[i], sizeof path[i], "%s", info.splits[j].path);
                recorded++;
                break;
            }
    if (resume && info.n_splits && (recorded != 3 || info.n_splits != 3)) {  /* no split may escape its check */
        report("%s: run.json's splits must be train, valid and test, each once", run_dir);
        goto out;
    }
    if (resume && !data && recorded == 3) {
        data = info.data;
    } else if (given_files) {
        for (int i = 0; i < 3; i++) {
            if ((size_t)snprintf(path[i], sizeof path[i], "%s", files[i]) >= sizeof path[i]) {
                report("train: %s: path too long", files[i]);
                goto out;
            }
            const int kind = input_file(path[i]);
            if (kind == 0) report("%s: not found", path[i]);
            if (kind <= 0) goto out;
        }
        /* run.json's data folder: the training file's */
        snprintf(data_buf, sizeof data_buf, "%s", files[0]);
        char *slash = strrchr(data_buf, '/');
        if (slash) *(slash == data_buf ? slash + 1 : slash) = '\0';
        else snprintf(data_buf, sizeof data_buf, ".");
        data = data_buf;
    } else {
        data = find_data_dir(data ? data : resume ? info.data : NULL);
        for (int i = 0; i < 3; i++)
            if (!data_path(path[i], sizeof path[i], data, splits[i])) goto out;
    }

    lm_set_threads(c.threads);
    if (resume) {
        if (!train_load_state(run, "train", "language-model", LM_TASK_LM, &t.m, &t.v, &t.ts, &c)) goto out;
    } else if (lm_vocab_build_limited(&t.v, path[0], min_count, max_vocab, &t.err) != LM_OK) {
        goto fail;
    }
    for (int i = 0; i < 3; i++) {
        if (lm_tokens_read(&tok[i], path[i], t.v, &t.err) != LM_OK) goto fail;
        if (resume && lm_run_check_split(&info, splits[i], path[i], &tok[i], &t.err) != LM_OK) goto fail;
        if (i) warn_oov(path[i], &tok[i]);
    }
    if (!check_splits(&c, tok, path)) goto out;
    if (!resume) {
        if (lm_model_create(&t.m, &c, lm_vocab_size(t.v), &t.err) != LM_OK) goto fail;
        t.ts.epoch = 1;
    }
    const size_t n_windows = lm_train_windows(t.m, &tok[0]);
    /* run.json: the data by absolute path and fingerprint; a run.json from
     * before fingerprints gains them at its first resume. */
    if (!resume || info.n_splits == 0) {
        if (lm_run_set_data(&info, data, &t.err) != LM_OK) goto fail;
        info.n_splits = 3;
        for (int i = 0; i < 3; i++)
            if (lm_run_split_set(&info.splits[i], splits[i], path[i], &tok[i], &t.err) != LM_OK) goto fail;
        if (lm_run_write_info(run, &info, &t.err) != LM_OK) goto fail;
    }
    if (given_files || (resume && strcmp(path[0], "") && !strstr(path[0], "ptb.train.txt")))
        printf("data: %s, %s, %s (train %zu, valid %zu, test %zu words)\n", path[0], path[1], path[2], tok[0].n,
               tok[1].n, tok[2].n);
    else
        printf("data: %s (train %zu, valid %zu, test %zu words)\n", data, tok[0].n, tok[1].n, tok[2].n);
    print_config(&c, lm_vocab_size(t.v), lm_model_num_params(t.m));
    finished = t.ts.epoch > c.epochs;
    if (finished && no_test) {  /* leave the run, its test line included, as it is */
        printf("%s already trained all %d epochs; nothing to do with --no-test\n", run_dir, c.epochs);
        rc = 0;
        goto out;
    }
    /* metrics.jsonl holds exactly the completed epochs, then grows. */
    if (!(metrics = metrics_restart(t.metrics_path, t.ts.history))) goto out;
    if (finished) printf("%s already trained all %d epochs; evaluating the test split again\n", run_dir, c.epochs);
    else if (resume) printf("resuming %s at epoch %d, window %zu of %zu\n", run_dir, t.ts.epoch, t.ts.window, n_windows);
    else printf("run directory: %s\n", run_dir);
    printf("\n%5s %9s %10s %10s %9s %9s\n", "epoch", "lr", "train ppl", "valid ppl", "time(s)", "words/s");
    if (t.ts.history && *t.ts.history) printf("(epochs 1-%d: see %s)\n", t.ts.epoch - 1, t.metrics_path);
    fflush(stdout);

    stop_on_signals();
    t.save_every = save_every;
    const double t_start = lm_now();
    for (; t.ts.epoch <= c.epochs; t.ts.epoch++) {
        const int e = t.ts.epoch;
        const float lr = lm_config_lr_at(&c, e);
        char label[48];
        lm_run_stats tr = t.ts.partial, va;
        size_t done;
        snprintf(label, sizeof label, "epoch %d/%d", e, c.epochs);
        progress_begin(&t.pr, label, quiet);
        t.last_save = lm_now();
        lm_status st = lm_train_epoch(t.m, &tok[0], lr, t.ts.window, on_window, &t, &tr, &done, &t.err);
        progress_end(&t.pr);
        if (st != LM_OK || t.save_failed) goto fail;
        if (done < n_windows) {  /* stopped by a signal at a window boundary */
            if (save_state(&t, done, &tr) != LM_OK) goto fail;
            printf("\ninterrupted by signal %d: state saved at epoch %d, window %zu of %zu.\n"
                   "Continue with: %s train --resume %s\n", (int)stop_signal, e, done, n_windows, prog, run_dir);
            rc = EXIT_STOPPED;
            goto out;
        }
        if (diverged("training", lm_perplexity(&tr), e)) goto out;
        progress_begin(&t.pr, "validation", quiet);
        st = lm_evaluate(t.m, &tok[1], c.batch, c.steps, on_eval_window, &t.pr, &va, &t.err);
        progress_end(&t.pr);
        if (st == LM_ESTOPPED) {  /* the epoch is trained: resuming validates it */
            if (save_state(&t, n_windows, &tr) != LM_OK) goto fail;
            printf("\ninterrupted by signal %d during validation: state saved after epoch %d's training.\n"
                   "Continue with: %s train --resume %s\n", (int)stop_signal, e, prog, run_dir);
            rc = EXIT_STOPPED;
            goto out;
        }
        if (st != LM_OK) goto fail;
        if (diverged("validation", lm_perplexity(&va), e)) goto out;
        const double wps = (double)tr.words / tr.seconds;
        printf("%5d %9.4g %10.2f %10.2f %9.1f %9.0f\n", e, lr, lm_perplexity(&tr), lm_perplexity(&va),
               tr.seconds + va.seconds, wps);
        fflush(stdout);
        char line[512], n[7][32];
        snprintf(line, sizeof line,
                 "{\"epoch\": %d, \"lr\": %s, \"train_ppl\": %s, \"valid_ppl\": %s, \"train_seconds\": %s, "
                 "\"valid_seconds\": %s, \"train_words_per_s\": %s, \"valid_words_per_s\": %s}\n",
                 e, json_number(n[0], 32, "%.6g", lr), json_number(n[1], 32, "%.4f", lm_perplexity(&tr)),
                 json_number(n[2], 32, "%.4f", lm_perplexity(&va)), json_number(n[3], 32, "%.2f", tr.seconds),
                 json_number(n[4], 32, "%.2f", va.seconds), json_number(n[5], 32, "%.1f", wps),
                 json_number(n[6], 32, "%.1f", (double)va.words / va.seconds));
        if (!append_history(&t, line)) { report("out of memory"); goto out; }
        if (fputs(line, metrics) < 0 || fflush(metrics) != 0) {
            report("cannot write %s: %s", t.metrics_path, strerror(errno));
            goto out;
        }
        /* The model for users, then the state for resuming the next epoch. */
        if (lm_checkpoint_save(t.m, t.v, NULL, t.model_path, &t.err) != LM_OK) goto fail;
        t.ts.epoch = e + 1;
        if (save_state(&t, 0, &(lm_run_stats){0}) != LM_OK) goto fail;
        t.ts.epoch = e;  /* the loop increments it */
        t.ts.window = 0, t.ts.partial = (lm_run_stats){0};
        if (stop_signal) {
            printf("\ninterrupted by signal %d after epoch %d.\nContinue with: %s train --resume %s\n",
                   (int)stop_signal, e, prog, run_dir);
            rc = EXIT_STOPPED;
            goto out;
        }
    }
    if (!file_exists(t.model_path)) {
        if (lm_checkpoint_save(t.m, t.v, NULL, t.model_path, &t.err) != LM_OK) goto fail;
        saved = 1;
    }
    if (!no_test) {
        lm_run_stats te;
        progress_begin(&t.pr, "test", quiet);
        lm_status st = lm_evaluate(t.m, &tok[2], 1, c.steps, on_eval_window, &t.pr, &te, &t.err);
        progress_end(&t.pr);
        if (st == LM_ESTOPPED) {
            printf("\ninterrupted by signal %d during the test evaluation; the trained model is %s.\n"
                   "Test it with: %s eval --model %s (or %s train --resume %s)\n", (int)stop_signal, t.model_path,
                   prog, t.model_path, prog, run_dir);
            rc = EXIT_STOPPED;
            goto out;
        }
        if (st != LM_OK) goto fail;
        if (diverged("test", lm_perplexity(&te), 0)) goto out;
        printf("\ntest perplexity %.2f (%zu words predicted, batch 1, state carried; %.1fs)\n", lm_perplexity(&te),
               te.words, te.seconds);
        char secs[32];
        if (fprintf(metrics, "{\"test_ppl\": %.4f, \"test_words\": %zu, \"test_seconds\": %s}\n", lm_perplexity(&te),
                    te.words, json_number(secs, sizeof secs, "%.2f", te.seconds)) < 0 || fflush(metrics) != 0) {
            report("cannot write %s: %s", t.metrics_path, strerror(errno));
            goto out;
        }
    }
    if (finished && !saved) printf("done; the model is %s (unchanged)\n", t.model_path);
    else printf("done in %.0fs; model saved to %s\n", lm_now() - t_start, t.model_path);
    rc = 0;
    goto out;
fail:
    report("%s", t.err.msg);
out:
    if (metrics && fclose(metrics) != 0) {
        report("writing %s failed", t.metrics_path);
        rc = 1;
    }
    lm_run_release(run);
    lm_model_free(t.m);
    for (int i = 0; i < 3; i++) lm_tokens_free(&tok[i]);
    lm_vocab_free(t.v);
    free(t.ts.history);
    return rc;
}

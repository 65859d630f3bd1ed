/* `lstmlm frames-train` and `lstmlm frames-eval`: frame classification (the
 * paper's speech experiment, SPEC.md section 4) on frame datasets
 * (docs/FORMAT.md), e.g. the corpus of `lstmlm-speech-corpus`. */
#include "common.h"
#include "epochs.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_DELAY = 600 };

static void train_usage(FILE *f) {
    fprintf(f,
            "Usage: %s frames-train [options]\n"
            "       %s frames-train --resume RUN_DIR [--threads N] [--data DIR] [--quiet]\n"
            "Train a deep LSTM frame classifier: every step reads a feature frame and predicts\n"
            "the class of the frame `delay` steps back. Utterances are batched by length, each\n"
            "from a zero state, in windows of --steps with the state carried. Reports\n"
            "perplexity and frame accuracy on training and validation after every epoch,\n"
            "keeps the epoch with the best validation accuracy, and tests it.\n"
            "\n"
            "  --data DIR        folder with train/valid/test.safetensors frame datasets\n"
            "                    (default data/speech, as lstmlm-speech-corpus writes it)\n"
            "  --out DIR         run directory (default runs/frames); it must not hold a run\n"
            "  --resume DIR      continue the stopped run in DIR at the epoch where it stopped\n"
            "  --delay N         output delay in frames (default 5)\n"
            "  --layers N (3)  --hidden N (400)  --steps N (50)  --batch N (16)  --dropout P (0)\n"
            "  --init X (0.1)  --lr X (1)  --max-epoch N (4)  --epochs N (12)  --decay X (2)\n"
            "  --clip X (5)  --seed N (1)  --threads N (2)  --quiet\n"
            "  --bf16            matrix products in BF16, FP32 accumulation (AVX512_BF16)\n"
            "  -h, --help        this help\n"
            "RUN_DIR receives model.safetensors (the best epoch's), state.safetensors (after\n"
            "every epoch, for --resume), metrics.jsonl and run.json. SIGINT or SIGTERM ends\n"
            "training at the next batch; the epoch in progress is dropped, the best completed\n"
            "epoch is tested (exit status 130), and --resume redoes that epoch bit-identically.\n",
            prog, prog);
}

/* DIR/NAME.safetensors into d: 1, or 0 with the reason reported. */
static int load_split(lm_frames *d, const char *dir, const char *name) {
    char path[4200];
    lm_error err;
    if (!safetensors_path(path, sizeof path, dir, name, "build a corpus with: lstmlm-speech-corpus --out")) return 0;
    if (lm_frames_load(d, path, &err) != LM_OK) {
        report("%s", err.msg);
        return 0;
    }
    return 1;
}

static lm_status frames_train(lm_model *m, const void *d, float lr, uint64_t seed, lm_progress_fn f, void *u,
                              lm_run_stats *s, lm_error *err) {
    return lm_frames_train_epoch(m, d, lr, seed, f, u, s, err);
}
static lm_status frames_eval(lm_model *m, const void *d, int batch, lm_progress_fn f, void *u, lm_run_stats *s,
                             lm_error *err) {
    return lm_frames_evaluate(m, d, batch, f, u, s, err);
}
static size_t frames_predictions(const void *d) { return ((const lm_frames *)d)->n_frames; }
static const epoch_task frames_task = {"frames-train", "frames", 1, frames_train, frames_eval, frames_predictions};

/* The splits of data folder `dir` into d, checked to agree with each other:
 * 1, or 0 with the reason reported. */
static int load_splits(lm_frames d[3], const char *dir) {
    static const char *const names[3] = {"train", "valid", "test"};
    for (int s = 0; s < 3; s++)
        if (!load_split(&d[s], dir, names[s])) return 0;
    for (int s = 1; s < 3; s++) {
        if (d[s].dim != d[0].dim || d[s].n_classes != d[0].n_classes) {
            report("%s/%s.safetensors has %d features and %d classes; train has %d and %d", dir, names[s], d[s].dim,
                   d[s].n_classes, d[0].dim, d[0].n_classes);
            return 0;
        }
        for (int k = 0; k < d[0].n_classes; k++)
            if (strcmp(d[s].class_names[k], d[0].class_names[k]) != 0) {
                report("%s/%s.safetensors names class %d \"%s\", train \"%s\"", dir, names[s], k,
                       d[s].class_names[k], d[0].class_names[k]);
                return 0;
            }
    }
    return 1;
}

/* A resumed run's model must read the data's features and name its classes. */
static int model_fits(const lm_model *m, const lm_vocab *v, const lm_frames *d, const char *dir) {
    const lm_config *c = lm_model_config(m);
    if (c->input_dim != d->dim || lm_vocab_size(v) != d->n_classes) {
        report("%s/train.safetensors has %d features and %d classes; the run's model %d and %d", dir, d->dim,
               d->n_classes, c->input_dim, lm_vocab_size(v));
        return 0;
    }
    for (int k = 0; k < d->n_classes; k++)
        if (strcmp(d->class_names[k], lm_vocab_word(v, k)) != 0) {
            report("%s/train.safetensors names class %d \"%s\"; the run's model \"%s\"", dir, k, d->class_names[k],
                   lm_vocab_word(v, k));
            return 0;
        }
    return 1;
}

static int cmd_frames_train(int argc, char **argv) {
    const char *data = NULL, *out = NULL, *resume = NULL;
    int quiet = 0, ok = 1, settings = 0, threads_given = 0, o;
    lm_config c = {.layers = 3, .hidden = 400, .steps = 50, .batch = 16, .dropout = 0.0f, .init = 0.1f, .lr = 1.0f,
                   .max_epoch = 4, .epochs = 12, .decay = 2.0f, .clip = 5.0f, .seed = 1, .threads = 2,
                   .task = LM_TASK_FRAMES, .delay = 5};
    static const struct option opts[] = {
        CONFIG_LONG_OPTIONS,
        {"data", required_argument, 0, OPT_DATA}, {"out", required_argument, 0, OPT_OUT},
        {"resume", required_argument, 0, OPT_RESUME}, {"delay", required_argument, 0, OPT_DELAY},
        {"steps", required_argument, 0, OPT_STEPS}, {"quiet", no_argument, 0, OPT_QUIET},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    optind = 1;
    while (ok && (o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case OPT_DATA: data = optarg; break;
        case OPT_OUT: out = optarg, settings = 1; break;
        case OPT_RESUME: resume = optarg; break;
        case OPT_DELAY: ok = parse_int("delay", optarg, 0, 1000, &c.delay), settings = 1; break;
        case OPT_QUIET: quiet = 1; break;
        case 'h': train_usage(stdout); return 0;
        default:
            if ((ok = train_option("frames-train", o, optarg, &c, &threads_given, &settings)) < 0) return 2;
        }
    }
    if (!ok) return 2;
    if (optind < argc) { report("frames-train: unexpected argument \"%s\"", argv[optind]); return 2; }
    if (resume && settings) {
        report("frames-train: --resume continues a run with its own settings; drop the model, training and --out flags");
        return 2;
    }
    c.input_dim = 1;  /* validated now, set from the data below */
    lm_error err;
    if (!resume && lm_config_validate(&c, &err) != LM_OK) { report("frames-train: %s", err.msg); return 2; }
    lm_frames d[3] = {{0}};
    lm_model *m = NULL;
    lm_vocab *v = NULL;
    lm_run *run = NULL;
    lm_run_info info;
    lm_train_state ts = {0};
    /* The run folder is ours before any data is read (see lm_run_claim). */
    const char *dir = resume ? resume : out ? out : "runs/frames";
    int rc = train_claim(&run, "frames-train", dir, "frames", resume != NULL, threads_given, &c, &info);
    if (rc) return rc;
    rc = 1;
    if (!data) data = resume ? info.data : "data/speech";
    lm_set_threads(c.threads);
    if (!load_splits(d, data)) goto done;
    if (resume) {
        if (!train_load_state(run, "frames-train", "frames", LM_TASK_FRAMES, &m, &v, &ts, &c) ||
            !model_fits(m, v, &d[0], data))
            goto done;
    } else {
        c.input_dim = d[0].dim;
        if (lm_vocab_from_words(&v, (const char *const *)d[0].class_names, d[0].n_classes, &err) != LM_OK) goto fail;
        if (lm_model_create(&m, &c, d[0].n_classes, &err) != LM_OK) goto fail;
    }
    printf("data: %s: %zu / %zu / %zu utterances, %zu / %zu / %zu frames of %d features, %d classes\n", data,
           d[0].n_utts, d[1].n_utts, d[2].n_utts, d[0].n_frames, d[1].n_frames, d[2].n_frames, d[0].dim,
           d[0].n_classes);
    printf("model: layers %d hidden %d delay %d steps %d dropout %g init %g, %zu parameters; ", c.layers, c.hidden,
           c.delay, c.steps, c.dropout, c.init, lm_model_num_params(m));
    print_schedule(&c);
    printf("run directory: %s\n", dir);
    fflush(stdout);
    const void *const sets[3] = {&d[0], &d[1], &d[2]};
    rc = run_epochs(&frames_task, &m, v, sets, &c, run, &info, data, quiet, resume ? &ts : NULL);
    if (rc == EXIT_STOPPED) printf("Continue with: %s frames-train --resume %s\n", prog, dir);
    goto done;
fail:
    report("%s", err.msg);
done:
    free(ts.history);
    lm_run_release(run);
    for (int s = 0; s < 3; s++) lm_frames_free(&d[s]);
    lm_model_free(m);
    lm_vocab_free(v);
    return rc;
}

static void eval_usage(FILE *f) {
    fprintf(f,
            "Usage: %s frames-eval --model FILE --data FILE [options]\n"
            "Frame accuracy and perplexity of a frames model on a frame dataset.\n"
            "\n"
            "  --model FILE      a model saved by frames-train\n"
            "  --data FILE       a frame dataset with the model's features and classes\n"
            "  --batch N         utterances per batch (default 16; the result does not depend on it)\n"
            "  --threads N       BLAS and OpenMP threads (default 2)\n"
            "  --bf16            matrix products in BF16 (AVX512_BF16)\n"
            "  -h, --help        this help\n",
            prog);
}

static int cmd_frames_eval(int argc, char **argv) {
    const char *model_path = NULL, *data = NULL;
    int batch = 16, threads = 2, bf16 = 0, ok = 1, o;
    static const struct option opts[] = {
        {"model", required_argument, 0, OPT_MODEL}, {"data", required_argument, 0, OPT_DATA},
        {"batch", required_argument, 0, OPT_BATCH}, {"threads", required_argument, 0, OPT_THREADS},
        {"bf16", no_argument, 0, OPT_BF16},         {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    optind = 1;
    while (ok && (o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case OPT_MODEL: model_path = optarg; break;
        case OPT_DATA: data = optarg; break;
        case OPT_BATCH: ok = parse_int("batch", optarg, 1, 10000, &batch); break;
        case OPT_THREADS: ok = parse_int("threads", optarg, 1, 1024, &threads); break;
        case OPT_BF16: bf16 = 1; break;
        case 'h': eval_usage(stdout); return 0;
        default: fprintf(stderr, "Try '%s frames-eval --help'.\n", prog); return 2;
        }
    }
    if (!ok) return 2;
    if (!model_path || !data || optind < argc) { eval_usage(stderr); return 2; }
    lm_set_threads(threads);
    lm_error err;
    lm_model *m = NULL;
    lm_vocab *v = NULL;
    lm_frames d = {0};
    lm_run_stats s;
    int rc = 1;
    if (!require_input(model_path) || !require_input(data)) return 1;
    if (lm_checkpoint_load(&m, &v, NULL, model_path, threads, &err) != LM_OK) goto fail;
    if (!check_task(model_path, m, LM_TASK_FRAMES)) goto done;
    if (bf16 && lm_model_set_bf16(m, 1, &err) != LM_OK) goto fail;
    if (lm_frames_load(&d, data, &err) != LM_OK) goto fail;
    for (int k = 0; k < d.n_classes && k < lm_vocab_size(v); k++)
        if (strcmp(d.class_names[k], lm_vocab_word(v, k)) != 0) {
            report("%s names class %d \"%s\"; the model \"%s\"", data, k, d.class_names[k], lm_vocab_word(v, k));
            goto done;
        }
    if (lm_frames_evaluate(m, &d, batch, NULL, NULL, &s, &err) != LM_OK) goto fail;
    printf("frames %zu  accuracy %.2f%%  perplexity %.3f  (%.0f frames/s)\n", s.words,
           100.0 * (double)s.correct / (double)s.words, lm_perplexity(&s), (double)s.words / s.seconds);
    rc = 0;
    goto done;
fail:
    report("%s", err.msg);
done:
    lm_frames_free(&d);
    lm_model_free(m);
    lm_vocab_free(v);
    return rc;
}

int cmd_frames(int argc, char **argv) {
    return strcmp(argv[0], "frames-eval") == 0 ? cmd_frames_eval(argc, argv) : cmd_frames_train(argc, argv);
}

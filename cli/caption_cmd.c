/* `lstmlm caption-train`: captions conditioned on one vector per item (the
 * paper's image-caption experiment, SPEC.md section 4, Table 4): a feature
 * file per split (docs/FORMAT.md, "Feature files") and K caption files per
 * split whose line i describes item i. */
#define _XOPEN_SOURCE 700  /* realpath */
#include "common.h"
#include "epochs.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_CAPTIONS = 700, OPT_FEATURES, OPT_LANG, OPT_REFS, OPT_TRAIN, OPT_VALID, OPT_TEST, OPT_MIN_COUNT,
       OPT_MAX_LEN };
enum { MAX_REFS = 64 };

static void train_usage(FILE *f) {
    fprintf(f,
            "Usage: %s caption-train [options]\n"
            "       %s caption-train --resume RUN_DIR [data flags] [--threads N] [--quiet]\n"
            "Train a caption generator: step 0 reads an item's feature vector through a learned\n"
            "projection, then the LSTM reads the caption's words and predicts each next one and\n"
            "\"<eos>\" (Show and Tell, regularised as Zaremba et al.). Every caption of every item\n"
            "is a training sequence. Reports perplexity on validation after every epoch, keeps\n"
            "the best epoch and tests it.\n"
            "\n"
            "  --captions DIR    caption files SPLIT.K.LANG, K = 1..refs (default\n"
            "                    ../shared/data/multi30k-captions)\n"
            "  --features DIR    feature files SPLIT.safetensors, item i = line i of the captions\n"
            "                    (default data/caption-features, from scripts/caption_features.py)\n"
            "  --lang LANG       caption language (default en)\n"
            "  --refs K          captions per item (default 5)\n"
            "  --train NAME      training split (default train); --valid NAME (val); --test NAME\n"
            "                    (test_2016)\n"
            "  --min-count N     words seen fewer times in training become <unk> (default 3)\n"
            "  --max-len N       longest caption in tokens, with <eos> (default 128)\n"
            "  --out DIR         run directory (default runs/caption); it must not hold a run\n"
            "  --resume DIR      continue the stopped run in DIR at the epoch where it stopped,\n"
            "                    with its own model and training settings and the data flags it\n"
            "                    started with (a data flag given overrides; the vocabulary and\n"
            "                    feature size must match)\n"
            "  --layers N (1)  --hidden N (512)  --dropout P (0)  --init X (0.1)  --lr X (1)\n"
            "  --max-epoch N (3)  --epochs N (8)  --decay X (2)  --clip X (5)  --batch N (64)\n"
            "  --seed N (1)  --threads N (2)  --quiet\n"
            "  --bf16            matrix products in BF16, FP32 accumulation (AVX512_BF16)\n"
            "  -h, --help        this help\n"
            "SIGINT or SIGTERM ends training at the next batch; the epoch in progress is\n"
            "dropped, the best completed epoch is tested (exit status 130), and --resume\n"
            "redoes that epoch bit-identically.\n",
            prog, prog);
}

static const epoch_task caption_task = {"caption-train", "words", 0, epoch_pairs_train, epoch_pairs_eval,
                                        epoch_pairs_predictions};

/* The k caption file names of a split into paths[k] (storage in buf). */
static int caption_paths(char buf[][4200], const char **paths, int k, const char *dir, const char *split,
                         const char *lang) {
    for (int j = 0; j < k; j++) {
        if ((size_t)snprintf(buf[j], sizeof buf[j], "%s/%s.%d.%s", dir, split, j + 1, lang) >= sizeof buf[j]) {
            report("%s: path too long", dir);
            return 0;
        }
        const int kind = input_file(buf[j]);
        if (kind == 0) report("%s not found (see --captions, --lang, --refs)", buf[j]);
        if (kind <= 0) return 0;
        paths[j] = buf[j];
    }
    return 1;
}

static int load_features(lm_features *f, const char *dir, const char *split) {
    char path[4200];
    lm_error err;
    if (!safetensors_path(path, sizeof path, dir, split, "make stand-in features with scripts/caption_features.py --out"))
        return 0;
    if (lm_features_load(f, path, &err) != LM_OK) {
        report("%s", err.msg);
        return 0;
    }
    return 1;
}

int cmd_caption_train(int argc, char **argv) {
    /* data flags: NULL (or 0) until given, then (resuming) the run's, then the defaults */
    const char *captions = NULL, *features = NULL, *lang = NULL, *splits[3] = {NULL, NULL, NULL};
    const char *out = "runs/caption", *resume = NULL;
    int refs = 5, min_count = 3, refs_given = 0, min_count_given = 0;
    int max_len = 128, quiet = 0, ok = 1, settings = 0, threads_given = 0, o;
    lm_config c = {.layers = 1, .hidden = 512, .steps = 128, .batch = 64, .dropout = 0.0f, .init = 0.1f, .lr = 1.0f,
                   .max_epoch = 3, .epochs = 8, .decay = 2.0f, .clip = 5.0f, .seed = 1, .threads = 2,
                   .task = LM_TASK_CAPTION};
    static const struct option opts[] = {
        CONFIG_LONG_OPTIONS,
        {"captions", required_argument, 0, OPT_CAPTIONS}, {"features", required_argument, 0, OPT_FEATURES},
        {"lang", required_argument, 0, OPT_LANG}, {"refs", required_argument, 0, OPT_REFS},
        {"train", required_argument, 0, OPT_TRAIN}, {"valid", required_argument, 0, OPT_VALID},
        {"test", required_argument, 0, OPT_TEST}, {"min-count", required_argument, 0, OPT_MIN_COUNT},
        {"max-len", required_argument, 0, OPT_MAX_LEN}, {"out", required_argument, 0, OPT_OUT},
        {"resume", required_argument, 0, OPT_RESUME}, {"quiet", no_argument, 0, OPT_QUIET},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    optind = 1;
    while (ok && (o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case OPT_CAPTIONS: captions = optarg; break;
        case OPT_FEATURES: features = optarg; break;
        case OPT_LANG: lang = optarg; break;
        case OPT_REFS: ok = parse_int("refs", optarg, 1, MAX_REFS, &refs), refs_given = 1; break;
        case OPT_TRAIN: splits[0] = optarg; break;
        case OPT_VALID: splits[1] = optarg; break;
        case OPT_TEST: splits[2] = optarg; break;
        case OPT_MIN_COUNT: ok = parse_int("min-count", optarg, 1, 1 << 30, &min_count), min_count_given = 1; break;
        case OPT_MAX_LEN: ok = parse_int("max-len", optarg, 2, 10000, &max_len), settings = 1; break;  /* the model's steps */
        case OPT_OUT: out = optarg, settings = 1; break;
        case OPT_RESUME: resume = optarg; break;
        case OPT_QUIET: quiet = 1; break;
        case 'h': train_usage(stdout); return 0;
        default:
            if ((ok = train_option("caption-train", o, optarg, &c, &threads_given, &settings)) < 0) return 2;
        }
    }
    if (!ok) return 2;
    if (optind < argc) { report("caption-train: unexpected argument \"%s\"", argv[optind]); return 2; }
    c.steps = max_len - 1;  /* inputs: the vector's step and the words, without the last <eos> */
    c.input_dim = 1;        /* validated now, set from the features below */
    lm_error err;
    if (resume && settings) {
        report("caption-train: --resume continues a run with its own settings; drop the model, training, --max-len "
               "and --out flags");
        return 2;
    }
    if (resume) max_len = 10000;  /* the data is read before the model: its own limit is checked once loaded */
    if (lm_config_validate(&c, &err) != LM_OK) { report("caption-train: %s", err.msg); return 2; }
    lm_vocab *v = NULL;
    lm_features feats[3] = {{0}};
    lm_pairs p[3] = {{0}};
    lm_model *m = NULL;
    lm_run *run = NULL;
    lm_train_state ts = {0};
    static char buf[3][MAX_REFS][4200];
    const char *paths[3][MAX_REFS];
    /* The run folder is ours before any data is read (see lm_run_claim). */
    const char *dir = resume ? resume : out;
    lm_run_info info;
    int rc = train_claim(&run, "caption-train", dir, "caption", resume != NULL, threads_given, &c, &info);
    if (rc) return rc;
    rc = 1;
    const lm_run_info *recorded = resume ? &info : NULL;
    static const char *const split_flags[3] = {"train", "valid", "test"}, *const split_defaults[3] = {"train", "val",
                                                                                                       "test_2016"};
    if (!captions) captions = resume ? info.data : "../shared/data/multi30k-captions";
    features = data_flag(features, recorded, "features", "data/caption-features");
    lang = data_flag(lang, recorded, "lang", "en");
    for (int s = 0; s < 3; s++) splits[s] = data_flag(splits[s], recorded, split_flags[s], split_defaults[s]);
    if ((!refs_given && !recorded_int(run, recorded, "refs", 1, MAX_REFS, &refs)) ||
        (!min_count_given && !recorded_int(run, recorded, "min-count", 1, 1 << 30, &min_count)))
        goto done;
    if (resume && info.n_flags == 0) old_run_note(run);
    lm_set_threads(c.threads);
    for (int s = 0; s < 3; s++)
        if (!caption_paths(buf[s], paths[s], refs, captions, splits[s], lang) || !load_features(&feats[s], features, splits[s]))
            goto done;
    for (int s = 1; s < 3; s++)
        if (feats[s].dim != feats[0].dim) {
            report("%s/%s.safetensors has %d features per item, %s %d", features, splits[s], feats[s].dim, splits[0],
                   feats[0].dim);
            goto done;
        }
    lm_run_info next = info;  /* the data flags in use, for the next --resume (a copy: they may point into info) */
    char nums[2][16], *features_abs = realpath(features, NULL);  /* resumable from any folder */
    if (!features_abs) {
        report("%s: %s", features, strerror(errno));
        goto done;
    }
    snprintf(nums[0], sizeof nums[0], "%d", refs);
    snprintf(nums[1], sizeof nums[1], "%d", min_count);
    const int recorded_all = record_flag(&next, "features", features_abs) && record_flag(&next, "lang", lang) &&
                             record_flag(&next, "refs", nums[0]) && record_flag(&next, "train", splits[0]) &&
                             record_flag(&next, "valid", splits[1]) && record_flag(&next, "test", splits[2]) &&
                             record_flag(&next, "min-count", nums[1]);
    free(features_abs);
    if (!recorded_all) goto done;
    if (lm_captions_vocab(&v, paths[0], refs, min_count, &err) != LM_OK) goto fail;
    for (int s = 0; s < 3; s++)
        if (lm_captions_read(&p[s], paths[s], refs, &feats[s], v, (size_t)max_len, &err) != LM_OK) goto fail;
    c.input_dim = feats[0].dim;
    if (resume) {
        lm_vocab *rv = NULL;
        const int loaded = train_load_state(run, "caption-train", "caption", LM_TASK_CAPTION, &m, &rv, &ts, &c);
        const int same = loaded && c.input_dim == feats[0].dim && same_vocab(rv, v);
        lm_vocab_free(rv);
        if (!loaded) goto done;
        if (!same) {
            report("caption-train: --captions %s --features %s --lang %s --refs %d --train %s --min-count %d give "
                   "another vocabulary or feature size than the run in %s was trained on: the data changed, or a "
                   "data flag given is not the run's", captions, features, lang, refs, splits[0], min_count, dir);
            goto done;
        }
    } else if (lm_model_create(&m, &c, lm_vocab_size(v), &err) != LM_OK) {
        goto fail;
    }
    printf("data: %s (%s, %d captions per item), features %s: %zu / %zu / %zu items of %d features (%s, %s, %s)\n",
           captions, lang, refs, features, feats[0].n, feats[1].n, feats[2].n, feats[0].dim, splits[0], splits[1],
           splits[2]);
    printf("vocabulary: %d words (min-count %d); model: layers %d hidden %d dropout %g init %g, %zu parameters; ",
           lm_vocab_size(v), min_count, c.layers, c.hidden, c.dropout, c.init, lm_model_num_params(m));
    print_schedule(&c);
    fflush(stdout);
    const void *const sets[3] = {&p[0], &p[1], &p[2]};
    rc = run_epochs(&caption_task, &m, v, sets, &c, run, &next, captions, quiet, resume ? &ts : NULL);
    if (rc == EXIT_STOPPED) printf("Continue with: %s caption-train --resume %s\n", prog, dir);
    goto done;
fail:
    report("%s", err.msg);
done:
    free(ts.history);
    lm_run_release(run);
    for (int s = 0; s < 3; s++) lm_pairs_free(&p[s]), lm_features_free(&feats[s]);
    lm_model_free(m);
    lm_vocab_free(v);
    return rc;
}

static void caption_usage(FILE *f) {
    fprintf(f,
            "Usage: %s caption --model FILE [--model FILE...] --features FILE [options] > captions.txt\n"
            "Generate a caption for every item of a feature file (one line each, in item order)\n"
            "with beam search.\n"
            "\n"
            "  --model FILE       model.safetensors written by `lstmlm caption-train` (required);\n"
            "                     several: an ensemble averaging their next-word distributions at\n"
            "                     every step (one vocabulary, one feature size)\n"
            "  --features FILE    a feature file with the models' feature size (required)\n"
            "  --beam K           hypotheses kept (default 3); 1 = greedy decoding\n"
            "  --length-norm A    rank finished captions by logp / length^A (default 0: off)\n"
            "  --max-len N        most words per caption (default 30)\n"
            "  --threads N        BLAS and OpenMP threads (default 1)\n"
            "  --quiet            no progress on stderr\n"
            "  -h, --help         this help\n",
            prog);
}

int cmd_caption(int argc, char **argv) {
    enum { OPT_BEAM = 800, OPT_LENGTH_NORM };
    const char *model_paths[MAX_MODELS], *features = NULL;
    int n_models = 0, beam = 3, max_len = 30, threads = 1, quiet = 0, ok = 1, o;
    float length_norm = 0.0f;
    static const struct option opts[] = {
        {"model", required_argument, 0, OPT_MODEL},   {"features", required_argument, 0, OPT_FEATURES},
        {"beam", required_argument, 0, OPT_BEAM},     {"length-norm", required_argument, 0, OPT_LENGTH_NORM},
        {"max-len", required_argument, 0, OPT_MAX_LEN}, {"threads", required_argument, 0, OPT_THREADS},
        {"quiet", no_argument, 0, OPT_QUIET},         {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    optind = 1;
    while (ok && (o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case OPT_MODEL:
            if (n_models == MAX_MODELS) report("caption: at most %d models", MAX_MODELS), ok = 0;
            else model_paths[n_models++] = optarg;
            break;
        case OPT_FEATURES: features = optarg; break;
        case OPT_BEAM: ok = parse_int("beam", optarg, 1, 1000, &beam); break;
        case OPT_LENGTH_NORM:
            ok = parse_float("length-norm", optarg, &length_norm);
            if (ok && !(length_norm >= 0 && length_norm <= 100)) report("--length-norm: must be 0..100"), ok = 0;
            break;
        case OPT_MAX_LEN: ok = parse_int("max-len", optarg, 1, 10000, &max_len); break;
        case OPT_THREADS: ok = parse_int("threads", optarg, 1, 1024, &threads); break;
        case OPT_QUIET: quiet = 1; break;
        case 'h': caption_usage(stdout); return 0;
        default: fprintf(stderr, "Try '%s caption --help'.\n", prog); return 2;
        }
    }
    if (!ok) return 2;
    if (optind < argc) { report("caption: unexpected argument \"%s\"", argv[optind]); return 2; }
    if (!n_models || !features) { report("caption: --model and --features are required (see --help)"); return 2; }
    lm_set_threads(threads);
    lm_error err;
    lm_model *models[MAX_MODELS] = {0};
    lm_vocab *v = NULL;
    lm_features f = {0};
    int32_t *words = malloc((size_t)max_len * sizeof *words);
    int rc = 1;
    if (!words) { report("out of memory"); return 1; }
    if (!load_models(model_paths, n_models, threads, LM_TASK_CAPTION, models, &v)) goto done;
    for (int i = 0; i < n_models; i++)
        if (beam > lm_model_config(models[i])->batch) {
            report("caption: --beam can be at most %d for %s (its training batch)", lm_model_config(models[i])->batch,
                   model_paths[i]);
            rc = 2;  /* a flag beyond what the model allows: bad usage */
            goto done;
        }
    if (!require_input(features)) goto done;
    if (lm_features_load(&f, features, &err) != LM_OK) goto fail;
    if (f.dim != lm_model_config(models[0])->input_dim) {
        report("%s has %d features per item; the model reads %d", features, f.dim, lm_model_config(models[0])->input_dim);
        goto done;
    }
    const double t0 = lm_now();
    const lm_beam_opts bo = {beam, (size_t)max_len, length_norm};
    for (size_t i = 0; i < f.n; i++) {
        size_t n;
        double logp;
        if (lm_caption(models, n_models, f.data + i * (size_t)f.dim, &bo, words, (size_t)max_len, &n, &logp, &err) !=
            LM_OK)
            goto fail;
        for (size_t w = 0; w < n; w++)
            if (printf("%s%s", w ? " " : "", lm_vocab_word(v, words[w])) < 0) goto done;
        if (putchar('\n') == EOF) goto done;
        if (!quiet && (i + 1) % 100 == 0)
            fprintf(stderr, "\r%zu of %zu items, %.1f/s", i + 1, f.n, (double)(i + 1) / (lm_now() - t0));
    }
    if (!quiet && f.n >= 100) fputc('\n', stderr);
    rc = 0;
    goto done;
fail:
    report("%s", err.msg);
done:
    free(words);
    lm_features_free(&f);
    free_models(models, n_models);
    lm_vocab_free(v);
    return finish_stdout(rc);
}

static void caption_eval_usage(FILE *f) {
    fprintf(f,
            "Usage: %s caption-eval --model FILE [--model FILE...] [options]\n"
            "Conditional perplexity of caption models on a split (words and <eos>, every\n"
            "reference caption of every item), and with several --model that of their\n"
            "average: the mean of their next-word distributions (model averaging).\n"
            "\n"
            "  --model FILE       model.safetensors written by `lstmlm caption-train` (repeatable)\n"
            "  --captions DIR     caption files SPLIT.K.LANG (default ../shared/data/multi30k-captions)\n"
            "  --features DIR     feature files SPLIT.safetensors (default data/caption-features)\n"
            "  --split NAME       the split (default test_2016)\n"
            "  --lang L           caption language (default en)\n"
            "  --refs K           caption files per item (default 5)\n"
            "  --max-len N        longest caption in tokens, as in training (default 128)\n"
            "  --batch N          items per batch, at most the models' training batch (default 64,\n"
            "                     or that batch where it is smaller)\n"
            "  --threads N        BLAS and OpenMP threads (default 2)\n"
            "  --bf16             matrix products in BF16 (AVX512_BF16)\n"
            "  -h, --help         this help\n",
            prog);
}

int cmd_caption_eval(int argc, char **argv) {
    const char *model_paths[MAX_MODELS], *captions = "../shared/data/multi30k-captions", *features = "data/caption-features";
    const char *split = "test_2016", *lang = "en";
    enum { OPT_SPLIT_NAME = 900 };
    int n_models = 0, refs = 5, max_len = 128, batch = 0, threads = 2, bf16 = 0, ok = 1, o;  /* batch 0: default */
    static const struct option opts[] = {
        {"model", required_argument, 0, OPT_MODEL},       {"captions", required_argument, 0, OPT_CAPTIONS},
        {"features", required_argument, 0, OPT_FEATURES}, {"split", required_argument, 0, OPT_SPLIT_NAME},
        {"lang", required_argument, 0, OPT_LANG},         {"refs", required_argument, 0, OPT_REFS},
        {"max-len", required_argument, 0, OPT_MAX_LEN},   {"batch", required_argument, 0, OPT_BATCH},
        {"threads", required_argument, 0, OPT_THREADS},   {"bf16", no_argument, 0, OPT_BF16},
        {"help", no_argument, 0, 'h'},                    {0, 0, 0, 0},
    };
    optind = 1;
    while (ok && (o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case OPT_MODEL:
            if (n_models == MAX_MODELS) report("caption-eval: at most %d models", MAX_MODELS), ok = 0;
            else model_paths[n_models++] = optarg;
            break;
        case OPT_CAPTIONS: captions = optarg; break;
        case OPT_FEATURES: features = optarg; break;
        case OPT_SPLIT_NAME: split = optarg; break;
        case OPT_LANG: lang = optarg; break;
        case OPT_REFS: ok = parse_int("refs", optarg, 1, MAX_REFS, &refs); break;
        case OPT_MAX_LEN: ok = parse_int("max-len", optarg, 2, 10000, &max_len); break;
        case OPT_BATCH: ok = parse_int("batch", optarg, 1, 100000, &batch); break;
        case OPT_THREADS: ok = parse_int("threads", optarg, 1, 1024, &threads); break;
        case OPT_BF16: bf16 = 1; break;
        case 'h': caption_eval_usage(stdout); return 0;
        default: fprintf(stderr, "Try '%s caption-eval --help'.\n", prog); return 2;
        }
    }
    if (!ok) return 2;
    if (optind < argc) { report("caption-eval: unexpected argument \"%s\"", argv[optind]); return 2; }
    if (!n_models) { report("caption-eval: --model is required (see --help)"); return 2; }
    lm_set_threads(threads);
    lm_error err;
    lm_model *models[MAX_MODELS] = {0};
    lm_vocab *v = NULL;
    lm_features f = {0};
    lm_pairs p = {0};
    int rc = 1;
    static char buf[MAX_REFS][4200];
    const char *paths[MAX_REFS];
    if (!load_models(model_paths, n_models, threads, LM_TASK_CAPTION, models, &v)) goto done;
    const int given = batch > 0;
    if (!given) batch = 64;
    for (int i = 0; i < n_models; i++) {
        if (lm_model_set_bf16(models[i], bf16, &err) != LM_OK) goto fail;
        if (!given && batch > lm_model_config(models[i])->batch) batch = lm_model_config(models[i])->batch;
        if (batch > lm_model_config(models[i])->batch) {
            report("caption-eval: --batch can be at most %d for %s", lm_model_config(models[i])->batch, model_paths[i]);
            rc = 2;
            goto done;
        }
    }
    if (!caption_paths(buf, paths, refs, captions, split, lang) || !load_features(&f, features, split)) goto done;
    if (f.dim != lm_model_config(models[0])->input_dim) {
        report("%s/%s.safetensors has %d features per item; the models read %d", features, split, f.dim,
               lm_model_config(models[0])->input_dim);
        goto done;
    }
    if (lm_captions_read(&p, paths, refs, &f, v, (size_t)max_len, &err) != LM_OK) goto fail;
    lm_run_stats each[MAX_MODELS], ens;
    if (lm_pairs_evaluate_ensemble(models, n_models, &p, batch, each, &ens, &err) != LM_OK) goto fail;
    printf("%s/%s.{1..%d}.%s: %zu words predicted (with <eos>), %.1fs\n", captions, split, refs, lang, ens.words,
           ens.seconds);
    for (int i = 0; i < n_models; i++) printf("perplexity %.2f  %s\n", lm_perplexity(&each[i]), model_paths[i]);
    if (n_models > 1) printf("perplexity %.2f  ensemble of %d models (mean of distributions)\n", lm_perplexity(&ens), n_models);
    rc = 0;
    goto done;
fail:
    report("%s", err.msg);
done:
    lm_pairs_free(&p);
    lm_features_free(&f);
    free_models(models, n_models);
    lm_vocab_free(v);
    return finish_stdout(rc);
}

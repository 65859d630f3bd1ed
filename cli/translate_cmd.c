/* `lstmlm translate-train`, `lstmlm translate` and `lstmlm bleu`: the paper's
 * machine-translation experiment (SPEC.md section 4) on aligned text files,
 * by default Multi30k English -> French. */
#include "common.h"
#include "epochs.h"
#include "progress.h"

#include <errno.h>
#include <math.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { OPT_SRC = 512, OPT_TGT, OPT_TRAIN, OPT_VALID, OPT_TEST, OPT_REVERSE, OPT_MIN_COUNT, OPT_MAX_LEN, OPT_BEAM,
       OPT_LENGTH_NORM, OPT_MAX_RATIO, OPT_INPUT, OPT_NBEST };

static void train_usage(FILE *f) {
    fprintf(f,
            "Usage: %s translate-train [options]\n"
            "Train the paper's translation model: an LSTM language model over each source\n"
            "sentence, \"<sep>\", its translation and \"<eos>\", the loss on the translation only.\n"
            "Reports the conditional perplexity of the targets on validation after every epoch\n"
            "and on test at the end. Vocabulary: one joint source+target vocabulary, since one\n"
            "embedding and one softmax serve both halves of the sequence.\n"
            "\n"
            "  --data DIR        folder of aligned files SPLIT.LANG (default ../shared/data/multi30k)\n"
            "  --src LANG        source language suffix (default en)\n"
            "  --tgt LANG        target language suffix (default fr)\n"
            "  --train NAME      training split (default train); --valid NAME (val); --test NAME\n"
            "                    (test_2016_flickr)\n"
            "  --reverse         feed source sentences reversed (Sutskever et al. 2014)\n"
            "  --min-count N     words seen fewer times in training become <unk> (default 2)\n"
            "  --max-len N       longest source+target pair in tokens (default 128)\n"
            "  --out DIR         run directory (default runs/mt); its model.safetensors holds the\n"
            "                    epoch with the best validation perplexity (early stopping)\n"
            "  --layers N (2)  --hidden N (256)  --dropout P (0)  --init X (0.1)  --lr X (1)\n"
            "  --max-epoch N (4)  --epochs N (10)  --decay X (2)  --clip X (5)  --batch N (32)\n"
            "  --seed N (1)  --threads N (2)  --quiet\n"
            "  --bf16            matrix products in BF16, FP32 accumulation (AVX512_BF16)\n"
            "  --resume DIR      continue a stopped run from its last completed epoch, with its\n"
            "                    own model and training settings and the data flags it started\n"
            "                    with (a data flag given overrides; the vocabulary must match)\n"
            "  -h, --help        this help\n"
            "SIGINT or SIGTERM ends training at the next batch; the epoch in progress is\n"
            "dropped and the best completed epoch is tested as usual (exit status 130);\n"
            "--resume continues from the last completed epoch.\n",
            prog);
}

static int split_path(char *buf, size_t n, const char *dir, const char *split, const char *lang) {
    if ((size_t)snprintf(buf, n, "%s/%s.%s", dir, split, lang) >= n) { report("%s: path too long", dir); return 0; }
    int kind = input_file(buf);
    if (kind == 0) report("%s not found (give the folder with --data, the split names with --train/--valid/--test)", buf);
    return kind > 0;
}

static const epoch_task pairs_task = {"translate-train", "target words", 0, epoch_pairs_train, epoch_pairs_eval,
                                      epoch_pairs_predictions};

static int cmd_translate_train(int argc, char **argv) {
    /* data flags: NULL until given, then (resuming) the run's, then the defaults */
    const char *data = NULL, *src = NULL, *tgt = NULL, *splits[3] = {NULL, NULL, NULL};
    int min_count_given = 0;
    const char *out = "runs/mt";
    const char *resume = NULL;
    int reverse = 0, min_count = 2, max_len = 128, quiet = 0, ok = 1, settings = 0, threads_given = 0, o;
    lm_config c = {.layers = 2, .hidden = 256, .steps = 128, .batch = 32, .dropout = 0.0f, .init = 0.1f, .lr = 1.0f,
                   .max_epoch = 4, .epochs = 10, .decay = 2.0f, .clip = 5.0f, .seed = 1, .threads = 2,
                   .task = LM_TASK_TRANSLATE};
    static const struct option opts[] = {
        CONFIG_LONG_OPTIONS,
        {"data", required_argument, 0, OPT_DATA}, {"src", required_argument, 0, OPT_SRC},
        {"tgt", required_argument, 0, OPT_TGT}, {"train", required_argument, 0, OPT_TRAIN},
        {"valid", required_argument, 0, OPT_VALID}, {"test", required_argument, 0, OPT_TEST},
        {"reverse", no_argument, 0, OPT_REVERSE}, {"min-count", required_argument, 0, OPT_MIN_COUNT},
        {"max-len", required_argument, 0, OPT_MAX_LEN}, {"out", required_argument, 0, OPT_OUT},
        {"quiet", no_argument, 0, OPT_QUIET}, {"help", no_argument, 0, 'h'},
        {"resume", required_argument, 0, OPT_RESUME}, {0, 0, 0, 0},
    };
    optind = 1;
    while (ok && (o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case OPT_RESUME: resume = optarg; break;
        case OPT_DATA: data = optarg; break;
        case OPT_SRC: src = optarg; break;
        case OPT_TGT: tgt = optarg; break;
        case OPT_TRAIN: splits[0] = optarg; break;
        case OPT_VALID: splits[1] = optarg; break;
        case OPT_TEST: splits[2] = optarg; break;
        case OPT_REVERSE: reverse = 1, settings = 1; break;
        case OPT_MIN_COUNT: ok = parse_int("min-count", optarg, 1, 1 << 30, &min_count), min_count_given = 1; break;
        case OPT_MAX_LEN: ok = parse_int("max-len", optarg, 4, 10000, &max_len), settings = 1; break;  /* the model's steps */
        case OPT_OUT: out = optarg, settings = 1; break;
        case OPT_QUIET: quiet = 1; break;
        case 'h': train_usage(stdout); return 0;
        default:
            if ((ok = train_option("translate-train", o, optarg, &c, &threads_given, &settings)) < 0) return 2;
        }
    }
    if (!ok) return 2;
    if (optind < argc) { report("translate-train: unexpected argument \"%s\"", argv[optind]); return 2; }
    c.reverse_source = reverse;
    c.steps = max_len - 1;  /* inputs are an example without its last token */
    lm_error err;
    if (resume && settings) {
        report("translate-train: --resume continues a run with its own settings; drop the model, training, "
               "--reverse, --max-len and --out flags");
        return 2;
    }
    if (lm_config_validate(&c, &err) != LM_OK) { report("translate-train: %s", err.msg); return 2; }
    lm_vocab *v = NULL;
    lm_pairs p[3] = {{0}};
    lm_model *m = NULL;
    lm_run *run = NULL;
    lm_train_state ts = {0};
    /* The run folder is ours before any data is read (see lm_run_claim). */
    const char *dir = resume ? resume : out;
    lm_run_info info;
    int rc = train_claim(&run, "translate-train", dir, "translation", resume != NULL, threads_given, &c, &info);
    if (rc) return rc;
    rc = 1;
    lm_vocab *rv = NULL;
    if (resume) {  /* the saved model's settings, checked against the data below */
        if (!train_load_state(run, "translate-train", "translation", LM_TASK_TRANSLATE, &m, &rv, &ts, &c)) goto done;
        reverse = c.reverse_source;
        max_len = c.steps + 1;
        if (!data) data = info.data;
    }
    const lm_run_info *recorded = resume ? &info : NULL;
    static const char *const split_flags[3] = {"train", "valid", "test"}, *const split_defaults[3] = {"train", "val",
                                                                                                       "test_2016_flickr"};
    if (!data) data = "../shared/data/multi30k";
    src = data_flag(src, recorded, "src", "en");
    tgt = data_flag(tgt, recorded, "tgt", "fr");
    for (int s = 0; s < 3; s++) splits[s] = data_flag(splits[s], recorded, split_flags[s], split_defaults[s]);
    if (!min_count_given && !recorded_int(run, recorded, "min-count", 1, 1 << 30, &min_count)) goto done;
    if (resume && info.n_flags == 0) old_run_note(run);
    lm_set_threads(c.threads);
    char paths[3][2][4200];
    for (int s = 0; s < 3; s++)
        if (!split_path(paths[s][0], sizeof paths[s][0], data, splits[s], src) ||
            !split_path(paths[s][1], sizeof paths[s][1], data, splits[s], tgt))
            goto done;
    if (lm_pairs_vocab(&v, paths[0][0], paths[0][1], min_count, &err) != LM_OK) goto fail;
    for (int s = 0; s < 3; s++)
        if (lm_pairs_read(&p[s], paths[s][0], paths[s][1], v, reverse, (size_t)max_len, &err) != LM_OK) goto fail;
    if (resume) {
        if (!same_vocab(rv, v)) {
            report("translate-train: %s, --src %s --tgt %s --train %s --min-count %d give another vocabulary than "
                   "the run in %s was trained on: the data changed, or a data flag given is not the run's", data, src, tgt, splits[0],
                   min_count, dir);
            goto done;
        }
    } else if (lm_model_create(&m, &c, lm_vocab_size(v), &err) != LM_OK) {
        goto fail;
    }
    printf("data: %s, %s -> %s: %zu / %zu / %zu pairs (%s, %s, %s)%s\n", data, src, tgt, p[0].n, p[1].n, p[2].n,
           splits[0], splits[1], splits[2], reverse ? ", source reversed" : "");
    printf("vocabulary: %d words (joint, min-count %d); model: layers %d hidden %d dropout %g init %g, %zu "
           "parameters; ",
           lm_vocab_size(v), min_count, c.layers, c.hidden, c.dropout, c.init, lm_model_num_params(m));
    print_schedule(&c);
    fflush(stdout);
    const void *const sets[3] = {&p[0], &p[1], &p[2]};
    lm_run_info next = info;  /* the data flags in use, for the next --resume (a copy: they may point into info) */
    char count[16];
    snprintf(count, sizeof count, "%d", min_count);
    if (!(record_flag(&next, "src", src) && record_flag(&next, "tgt", tgt) && record_flag(&next, "train", splits[0]) &&
          record_flag(&next, "valid", splits[1]) && record_flag(&next, "test", splits[2]) &&
          record_flag(&next, "min-count", count)))
        goto done;
    rc = run_epochs(&pairs_task, &m, v, sets, &c, run, &next, data, quiet, resume ? &ts : NULL);
    if (rc == EXIT_STOPPED) printf("Continue with: %s translate-train --resume %s\n", prog, dir);
    goto done;
fail:
    report("%s", err.msg);
done:
    free(ts.history);
    lm_vocab_free(rv);
    lm_run_release(run);
    for (int s = 0; s < 3; s++) lm_pairs_free(&p[s]);
    lm_model_free(m);
    lm_vocab_free(v);
    return rc;
}

static void translate_usage(FILE *f) {
    fprintf(f,
            "Usage: %s translate --model FILE [--model FILE...] [options] < source.txt > hypotheses.txt\n"
            "Translate one tokenised sentence per line with beam search.\n"
            "\n"
            "  --model FILE       model.safetensors written by `lstmlm translate-train` (required);\n"
            "                     several: an ensemble averaging their next-word distributions\n"
            "                     at every step (one vocabulary)\n"
            "  --input FILE       read sources from FILE instead of standard input\n"
            "  --beam K           hypotheses kept (default 12, the paper's); 1 = greedy decoding\n"
            "  --length-norm A    rank finished hypotheses by logp / length^A (default 0: off)\n"
            "  --max-ratio R      stop after R x source length + 10 words (default 2, at most 100)\n"
            "  --nbest K          write the beam's K best (K <= beam) in the Moses n-best format,\n"
            "                     `ID ||| words ||| MT= logp ||| score` (ID = source line - 1,\n"
            "                     logp the natural-log probability with <eos>, score the ranking\n"
            "                     score logp / length^A), best first; empty sources get no line\n"
            "  --threads N        BLAS and OpenMP threads (default 1)\n"
            "  --quiet            no progress on stderr\n"
            "  -h, --help         this help\n",
            prog);
}

static int cmd_translate(int argc, char **argv) {
    const char *model_paths[MAX_MODELS], *input = NULL;
    int n_models = 0;
    int beam = 12, threads = 1, quiet = 0, nbest = 0, ok = 1, o;
    float length_norm = 0.0f, max_ratio = 2.0f;
    static const struct option opts[] = {
        {"model", required_argument, 0, OPT_MODEL},   {"input", required_argument, 0, OPT_INPUT},
        {"beam", required_argument, 0, OPT_BEAM},     {"length-norm", required_argument, 0, OPT_LENGTH_NORM},
        {"max-ratio", required_argument, 0, OPT_MAX_RATIO}, {"threads", required_argument, 0, OPT_THREADS},
        {"quiet", no_argument, 0, OPT_QUIET},         {"help", no_argument, 0, 'h'},
        {"nbest", required_argument, 0, OPT_NBEST},
        {0, 0, 0, 0},
    };
    optind = 1;
    while (ok && (o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case OPT_NBEST: ok = parse_int("nbest", optarg, 1, 1000, &nbest); break;
        case OPT_MODEL:
            if (n_models == MAX_MODELS) report("translate: at most %d models", MAX_MODELS), ok = 0;
            else model_paths[n_models++] = optarg;
            break;
        case OPT_INPUT: input = optarg; break;
        case OPT_BEAM: ok = parse_int("beam", optarg, 1, 1000, &beam); break;
        case OPT_LENGTH_NORM:
            ok = parse_float("length-norm", optarg, &length_norm);
            if (ok && !(length_norm >= 0 && length_norm <= 100)) report("--length-norm: must be 0..100"), ok = 0;
            break;
        case OPT_MAX_RATIO:
            ok = parse_float("max-ratio", optarg, &max_ratio);
            if (ok && !(max_ratio > 0 && max_ratio <= 100)) report("--max-ratio: must be > 0 and <= 100"), ok = 0;
            break;
        case OPT_THREADS: ok = parse_int("threads", optarg, 1, 1024, &threads); break;
        case OPT_QUIET: quiet = 1; break;
        case 'h': translate_usage(stdout); return 0;
        default: fprintf(stderr, "Try '%s translate --help'.\n", prog); return 2;
        }
    }
    if (!ok) return 2;
    if (optind < argc) { report("translate: unexpected argument \"%s\"", argv[optind]); return 2; }
    if (!n_models) { report("translate: --model FILE is required (see --help)"); return 2; }
    if (nbest > beam) { report("translate: --nbest %d exceeds --beam %d", nbest, beam); return 2; }
    lm_set_threads(threads);
    lm_error err;
    lm_model *models[MAX_MODELS] = {0};
    lm_vocab *v = NULL;
    FILE *in = stdin;
    char *line = NULL;
    size_t cap = 0, lines = 0;
    int32_t *ids = NULL, *srcv = NULL, *outv = NULL;
    size_t *lens = nbest ? malloc((size_t)nbest * sizeof *lens) : NULL;
    double *logps = nbest ? malloc((size_t)nbest * sizeof *logps) : NULL;
    if (nbest && (!lens || !logps)) { free(lens), free(logps); report("out of memory"); return 1; }
    int rc = 1;
    if (!load_models(model_paths, n_models, threads, LM_TASK_TRANSLATE, models, &v)) {
        report("translate: train translation models with translate-train");
        goto done;
    }
    lm_model *m = models[0];
    for (int i = 0; i < n_models; i++)
        if (beam > lm_model_config(models[i])->batch) {
            report("translate: --beam can be at most %d for %s (its training batch)", lm_model_config(models[i])->batch,
                   model_paths[i]);
            rc = 2;
            goto done;
        }
    if (input && input_file(input) < 0) goto done;
    if (input && !(in = fopen(input, "r"))) { report("%s: cannot open: %s", input, strerror(errno)); goto done; }
    const double t0 = lm_now();
    const char *in_name = input ? input : "stdin";
    size_t empty = 0;
    for (ssize_t len; (len = getline(&line, &cap, in)) >= 0;) {
        lines++;
        size_t words = 0, oov;
        int32_t *grown = realloc(ids, ((size_t)len / 2 + 2) * sizeof *ids);
        int32_t *gs = realloc(srcv, ((size_t)len / 2 + 3) * sizeof *srcv);
        if (!grown || !gs) { free(grown ? grown : ids), free(gs ? gs : srcv); ids = srcv = NULL; report("out of memory"); goto done; }
        ids = grown, srcv = gs;
        /* Checked as training text is: NUL, invalid UTF-8, absurd words. */
        if (lm_line_ids(v, line, (size_t)len, ids, &words, &oov, NULL, &err) != LM_OK) {
            report("%s:%zu: %s", in_name, lines, err.msg);
            goto done;
        }
        if (words == 0 && nbest) continue;  /* an n-best list simply has no entry for it */
        if (words == 0) {  /* nothing to translate, but the output stays aligned with the input */
            if (!empty++) report("warning: %s:%zu: empty line; its translation is an empty line", in_name, lines);
            if (putchar('\n') == EOF) goto done;
            continue;
        }
        size_t n_src = lm_pairs_source(m, v, ids, words, srcv);
        const double limit = (double)max_ratio * (double)words + 10;  /* within the library's decoding limit */
        lm_beam_opts bo = {beam, limit < LM_MAX_DECODE_LEN ? (size_t)limit : (size_t)LM_MAX_DECODE_LEN, length_norm};
        size_t n_out;
        double logp;
        int32_t *go = realloc(outv, bo.max_len * (size_t)(nbest ? nbest : 1) * sizeof *outv);
        if (!go) { report("out of memory"); goto done; }
        outv = go;
        if (nbest) {
            int found;
            if (lm_translate_nbest(models, n_models, srcv, n_src, &bo, nbest, outv, lens, logps, &found, &err) != LM_OK)
                goto fail;
            for (int h = 0; h < found; h++) {
                const double score = length_norm > 0 ? logps[h] / pow((double)(lens[h] ? lens[h] : 1), length_norm)
                                                     : logps[h];
                if (printf("%zu ||| ", lines - 1) < 0) goto done;  /* an empty hypothesis: "ID |||  ||| ..." */
                for (size_t i = 0; i < lens[h]; i++)
                    if (printf("%s%s", i ? " " : "", lm_vocab_word(v, outv[(size_t)h * bo.max_len + i])) < 0) goto done;
                if (printf(" ||| MT= %.6f ||| %.6f\n", logps[h], score) < 0) goto done;
            }
            if (!quiet && lines % 50 == 0)
                fprintf(stderr, "\r%zu sentences, %.1f/s", lines, (double)lines / (lm_now() - t0));
            continue;
        }
        if (lm_translate_ensemble(models, n_models, srcv, n_src, &bo, outv, bo.max_len, &n_out, &logp, &err) != LM_OK)
            goto fail;
        for (size_t i = 0; i < n_out; i++) printf("%s%s", i ? " " : "", lm_vocab_word(v, outv[i]));
        if (putchar('\n') == EOF || ferror(stdout)) goto done;  /* a closed pipe or full disk: stop decoding */
        if (!quiet && lines % 50 == 0) fprintf(stderr, "\r%zu sentences, %.1f/s", lines, (double)lines / (lm_now() - t0));
    }
    if (!quiet && lines >= 50) fputc('\n', stderr);
    if (ferror(in)) { report("read error on %s", in_name); goto done; }
    if (empty > 1) report("warning: %zu empty lines in %s, translated as empty lines", empty, in_name);
    rc = 0;
    goto done;
fail:
    report("%s", err.msg);
done:
    if (in && in != stdin) fclose(in);
    free(line), free(ids), free(srcv), free(outv), free(lens), free(logps);
    free_models(models, n_models);
    lm_vocab_free(v);
    return finish_stdout(rc);
}

static void print_bleu(const char *label, const lm_bleu *b) {
    printf("%sBLEU = %.2f, %.1f/%.1f/%.1f/%.1f (BP=%.3f, ratio=%.3f, hyp_len=%zu, ref_len=%zu)\n", label, 100 * b->bleu,
           100 * b->precision[0], 100 * b->precision[1], 100 * b->precision[2], 100 * b->precision[3],
           b->brevity_penalty, (double)b->hyp_len / (double)b->ref_len, b->hyp_len, b->ref_len);
}

static void bleu_usage(FILE *f) {
    fprintf(f,
            "Usage: %s bleu [options] HYPOTHESES REFERENCE [REFERENCE...]\n"
            "Corpus BLEU-4 of tokenised hypotheses against one or more references (line i of\n"
            "every REFERENCE file describes hypothesis i), as multi-bleu.perl computes it:\n"
            "n-gram counts clipped by the most any one reference holds, brevity penalty from\n"
            "the reference closest in length (the shorter on a tie).\n"
            "\n"
            "  --bootstrap N     also a 95%% interval from N resampled corpora (Koehn 2004)\n"
            "  --compare HYP_B   a second system's hypotheses: its BLEU, and with --bootstrap\n"
            "                    the paired test (interval of the difference, how often A wins)\n"
            "  --seed N          resampling seed (default 1)\n"
            "  -h, --help        this help\n",
            prog);
}

static int cmd_bleu(int argc, char **argv) {
    const char *other = NULL;
    int samples = 0, ok = 1, o;
    uint64_t seed = 1;
    enum { OPT_BOOTSTRAP = 1000, OPT_COMPARE };
    static const struct option opts[] = {
        {"bootstrap", required_argument, 0, OPT_BOOTSTRAP}, {"compare", required_argument, 0, OPT_COMPARE},
        {"seed", required_argument, 0, OPT_SEED},           {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    optind = 1;
    while (ok && (o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case OPT_BOOTSTRAP: ok = parse_int("bootstrap", optarg, 1, 1000000, &samples); break;
        case OPT_COMPARE: other = optarg; break;
        case OPT_SEED: ok = parse_u64("seed", optarg, &seed); break;
        case 'h': bleu_usage(stdout); return 0;
        default: fprintf(stderr, "Try '%s bleu --help'.\n", prog); return 2;
        }
    }
    if (!ok) return 2;
    if (argc - optind < 2) { report("bleu: give HYPOTHESES and REFERENCE files (see --help)"); return 2; }
    if (argc - optind - 1 > 64) { report("bleu: at most 64 REFERENCE files"); return 2; }
    const char *hyp = argv[optind], *const *refs = (const char *const *)argv + optind + 1;
    const int k = argc - optind - 1;
    lm_error err;
    lm_bleu *a = NULL, *b = NULL, total;
    size_t na = 0, nb = 0;
    int rc = 1;
    if (lm_bleu_files_sentences_multi(&a, &na, hyp, refs, k, &err) != LM_OK) goto fail;
    if (other && lm_bleu_files_sentences_multi(&b, &nb, other, refs, k, &err) != LM_OK) goto fail;
    for (int sys = 0; sys < (b ? 2 : 1); sys++) {
        lm_bleu_sum(&total, sys ? b : a, na);
        print_bleu(b ? (sys ? "B: " : "A: ") : "", &total);
    }
    if (samples) {
        lm_bleu_resampled r;
        if (lm_bleu_bootstrap(a, b, na, samples, seed, &r, &err) != LM_OK) goto fail;
        printf("%s95%% interval %.2f .. %.2f (%d bootstrap samples)\n", b ? "A: " : "", 100 * r.lo, 100 * r.hi,
               samples);
        if (b)
            printf("A - B: 95%% interval %+.2f .. %+.2f; A higher in %.1f%% of the samples\n", 100 * r.diff_lo,
                   100 * r.diff_hi, 100 * r.win);
    }
    rc = 0;
    goto done;
fail:
    report("%s", err.msg);
done:
    free(a), free(b);
    return rc;
}

int cmd_translation(int argc, char **argv) {
    if (!strcmp(argv[0], "translate-train")) return cmd_translate_train(argc, argv);
    if (!strcmp(argv[0], "translate")) return cmd_translate(argc, argv);
    return cmd_bleu(argc, argv);
}

/* `lstmlm eval`: perplexity of one model, or of the average of several
 * (model averaging), on a PTB split or any text file. */
#include "common.h"
#include "progress.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MODELS 64

static void eval_usage(FILE *f) {
    fprintf(f,
            "Usage: %s eval --model FILE [--model FILE ...] [options]\n"
            "Perplexity of a trained model on a PTB split or a text file, and the total\n"
            "log-probability (natural log) of its words. The text is read from the\n"
            "sentence-start state (the model after reading <eos>), so every word is\n"
            "predicted, each line's <eos> included. Several --model\n"
            "flags evaluate each model and their ensemble: the arithmetic mean of their\n"
            "next-word distributions (the paper's model averaging).\n"
            "\n"
            "  --model FILE      model.safetensors written by `lstmlm train` (required; repeatable)\n"
            "  --data DIR        PTB folder (default: $LSTMLM_DATA, else ../shared/data/ptb, else data/ptb)\n"
            "  --split NAME      test | valid | train (default test)\n"
            "  --text FILE       evaluate this file instead of a PTB split\n"
            "  --batch N         parallel streams; 1 = the whole stream in order, the paper's\n"
            "                    test protocol (default 1)\n"
            "  --steps N         window length (default: the models' smallest)\n"
            "  --threads N       BLAS and OpenMP threads (default 2)\n"
            "  --bf16            matrix products in BF16 with FP32 accumulation (AVX512_BF16);\n"
            "                    default FP32, whatever precision the model was trained in\n"
            "  --quiet           no progress line\n"
            "  -h, --help        this help\n",
            prog);
}

int cmd_eval(int argc, char **argv) {
    const char *paths[MAX_MODELS], *data = NULL, *split = "test", *text = NULL;
    int n_models = 0, batch = 1, steps = 0, threads = 2, quiet = 0, bf16 = 0, split_given = 0, ok = 1, o;
    static const struct option opts[] = {
        {"model", required_argument, 0, OPT_MODEL}, {"data", required_argument, 0, OPT_DATA},
        {"split", required_argument, 0, OPT_SPLIT}, {"text", required_argument, 0, OPT_TEXT},
        {"batch", required_argument, 0, OPT_BATCH}, {"steps", required_argument, 0, OPT_STEPS},
        {"threads", required_argument, 0, OPT_THREADS}, {"quiet", no_argument, 0, OPT_QUIET},
        {"bf16", no_argument, 0, OPT_BF16},         {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    optind = 1;
    while (ok && (o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case OPT_MODEL:
            if (n_models == MAX_MODELS) { report("eval: at most %d models", MAX_MODELS); return 2; }
            paths[n_models++] = optarg;
            break;
        case OPT_DATA: data = optarg; break;
        case OPT_SPLIT: split = optarg, split_given = 1; break;
        case OPT_TEXT: text = optarg; break;
        case OPT_BATCH: ok = parse_int("batch", optarg, 1, 10000, &batch); break;
        case OPT_STEPS: ok = parse_int("steps", optarg, 1, 10000, &steps); break;
        case OPT_THREADS: ok = parse_int("threads", optarg, 1, 1024, &threads); break;
        case OPT_QUIET: quiet = 1; break;
        case OPT_BF16: bf16 = 1; break;
        case 'h': eval_usage(stdout); return 0;
        default: fprintf(stderr, "Try '%s eval --help'.\n", prog); return 2;
        }
    }
    if (!ok) return 2;
    if (optind < argc) { report("eval: unexpected argument \"%s\" (see --help)", argv[optind]); return 2; }
    if (!n_models) { report("eval: --model FILE is required (see --help)"); return 2; }
    if (text && (data || split_given)) {
        report("eval: --text names the file itself; drop --data and --split");
        return 2;
    }
    if (strcmp(split, "test") && strcmp(split, "valid") && strcmp(split, "train")) {
        report("eval: --split must be test, valid or train, not \"%s\"", split);
        return 2;
    }
    char path[4200];
    if (text) {
        if ((size_t)snprintf(path, sizeof path, "%s", text) >= sizeof path) { report("eval: --text: path too long"); return 2; }
        if (input_file(path) < 0) return 1;
    } else if (!data_path(path, sizeof path, find_data_dir(data), split)) {
        return 1;
    }

    lm_set_threads(threads);
    lm_error err;
    lm_model *models[MAX_MODELS] = {0};
    lm_vocab *v = NULL;
    lm_tokens tok = {0};
    int rc = 1, min_batch = 10000, min_steps = 10000;
    /* one kind and one vocabulary (the same words in the same order), or the
     * averaged distributions mean nothing; checked before the text is read */
    if (!load_models(paths, n_models, threads, LM_TASK_LM, models, &v)) return 1;
    for (int i = 0; i < n_models; i++) {
        if (lm_model_set_bf16(models[i], bf16, &err) != LM_OK) goto fail;
        const lm_config *c = lm_model_config(models[i]);
        min_batch = c->batch < min_batch ? c->batch : min_batch;
        min_steps = c->steps < min_steps ? c->steps : min_steps;
    }
    if (steps == 0) steps = min_steps;
    if (batch > min_batch || steps > min_steps) {
        report("eval: --batch and --steps can be at most %d and %d for these models", min_batch, min_steps);
        rc = 2;  /* a flag beyond what the models allow: bad usage */
        goto out;
    }
    if (lm_tokens_read(&tok, path, v, &err) != LM_OK) goto fail;
    warn_oov(path, &tok);
    progress pr;
    lm_run_stats each[MAX_MODELS], ens;
    progress_begin(&pr, "eval", quiet);
    lm_status st = lm_evaluate_ensemble(models, n_models, &tok, batch, steps, progress_update, &pr, each, &ens, &err);
    progress_end(&pr);
    if (st != LM_OK) goto fail;
    printf("%s: %zu words predicted, batch %d, steps %d, %.1fs (%.0f words/s)\n", path, ens.words, batch, steps,
           ens.seconds, (double)ens.words * n_models / ens.seconds);
    for (int i = 0; i < n_models; i++)
        printf("perplexity %.2f  log-probability %.6f  %s\n", lm_perplexity(&each[i]), -each[i].nll, paths[i]);
    if (n_models > 1)
        printf("perplexity %.2f  log-probability %.6f  ensemble of %d models (mean of distributions)\n",
               lm_perplexity(&ens), -ens.nll, n_models);
    rc = 0;
    goto out;
fail:
    report("%s", err.msg);
out:
    lm_tokens_free(&tok);
    free_models(models, n_models);
    lm_vocab_free(v);
    return rc;
}

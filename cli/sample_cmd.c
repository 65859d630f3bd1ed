/* `lstmlm sample`: text drawn from a model conditioned on a prefix (the
 * paper's Figure 4). "<eos>" is printed as a line break. */
#include "common.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void sample_usage(FILE *f) {
    fprintf(f,
            "Usage: %s sample --model FILE [options]\n"
            "Generate text from a trained model, conditioned on a prefix.\n"
            "\n"
            "  --model FILE        model.safetensors written by `lstmlm train` (required)\n"
            "  --prefix TEXT       words to condition on (default: none, i.e. a sentence start);\n"
            "                      every word must be in the vocabulary (PTB's is lower-case)\n"
            "  --words N           words to generate per sample (default 50)\n"
            "  --samples N         independent samples (default 1)\n"
            "  --temperature T     divide logits by T; 0 = most likely word (default 1.0)\n"
            "  --top-k K           sample among the K most likely words; 0 = all (default 0)\n"
            "  --exclude W1,W2     words never emitted, e.g. \"<unk>,N,$\" (default none)\n"
            "  --seed N            sampler seed (default 1)\n"
            "  --threads N         BLAS and OpenMP threads (default 1)\n"
            "  -h, --help          this help\n",
            prog);
}

/* Split `s` at `sep` characters into ids; unknown words are listed in *bad. */
static size_t words_to_ids(const lm_vocab *v, const char *s, const char *sep, int32_t *ids, size_t cap, char *bad,
                           size_t bad_cap) {
    char *copy = strdup(s), *save = NULL;
    size_t n = 0;
    bad[0] = '\0';
    for (char *w = strtok_r(copy, sep, &save); w; w = strtok_r(NULL, sep, &save)) {
        int id = lm_vocab_find(v, w);
        if (id < 0) {
            size_t l = strlen(bad);
            snprintf(bad + l, bad_cap - l, "%s\"%s\"", l ? ", " : "", w);
        } else if (n < cap) {
            ids[n++] = id;
        }
    }
    free(copy);
    return n;
}

int cmd_sample(int argc, char **argv) {
    const char *model_path = NULL, *prefix = "", *exclude = NULL;
    int n_words = 50, n_samples = 1, top_k = 0, threads = 1, ok = 1, o;
    float temperature = 1.0f;
    uint64_t seed = 1;
    static const struct option opts[] = {
        {"model", required_argument, 0, OPT_MODEL},   {"prefix", required_argument, 0, OPT_PREFIX},
        {"words", required_argument, 0, OPT_WORDS},   {"samples", required_argument, 0, OPT_SAMPLES},
        {"temperature", required_argument, 0, OPT_TEMPERATURE}, {"top-k", required_argument, 0, OPT_TOPK},
        {"exclude", required_argument, 0, OPT_EXCLUDE}, {"seed", required_argument, 0, OPT_SEED},
        {"threads", required_argument, 0, OPT_THREADS}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    optind = 1;
    while (ok && (o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case OPT_MODEL: model_path = optarg; break;
        case OPT_PREFIX: prefix = optarg; break;
        case OPT_WORDS: ok = parse_int("words", optarg, 0, 1000000, &n_words); break;
        case OPT_SAMPLES: ok = parse_int("samples", optarg, 1, 100000, &n_samples); break;
        case OPT_TEMPERATURE:
            ok = parse_float("temperature", optarg, &temperature);
            if (ok && temperature < 0) report("--temperature: must be >= 0"), ok = 0;
            break;
        case OPT_TOPK: ok = parse_int("top-k", optarg, 0, 1 << 30, &top_k); break;
        case OPT_EXCLUDE: exclude = optarg; break;
        case OPT_SEED: ok = parse_u64("seed", optarg, &seed); break;
        case OPT_THREADS: ok = parse_int("threads", optarg, 1, 1024, &threads); break;
        case 'h': sample_usage(stdout); return 0;
        default: fprintf(stderr, "Try '%s sample --help'.\n", prog); return 2;
        }
    }
    if (!ok) return 2;
    if (optind < argc) { report("sample: unexpected argument \"%s\" (see --help)", argv[optind]); return 2; }
    if (!model_path) { report("sample: --model FILE is required (see --help)"); return 2; }

    lm_set_threads(threads);
    lm_error err;
    lm_model *m = NULL;
    lm_vocab *v = NULL;
    int rc = 1;
    size_t cap = strlen(prefix) / 2 + 2;
    int32_t *ids = malloc(cap * sizeof *ids), *out = malloc(((size_t)n_words + 1) * sizeof *out);
    unsigned char *banned = NULL;
    char bad[1024];
    if (!ids || !out) { report("out of memory"); goto out; }
    if (lm_checkpoint_load(&m, &v, NULL, model_path, threads, &err) != LM_OK) goto fail;
    if (!check_task(model_path, m, LM_TASK_LM)) goto out;
    const int V = lm_vocab_size(v), eos = lm_vocab_find(v, "<eos>");
    ids[0] = eos >= 0 ? eos : 0;  /* start at a sentence boundary */
    size_t n = 1 + words_to_ids(v, prefix, " \t\n", ids + 1, cap - 1, bad, sizeof bad);
    if (bad[0]) {
        report("sample: prefix words not in the vocabulary: %s%s", bad,
               lm_vocab_find(v, "the") >= 0 ? " (the PTB vocabulary is lower-case)" : "");
        rc = 2;  /* a flag's words the model cannot read: bad usage */
        goto out;
    }
    if (exclude) {
        banned = calloc((size_t)V, 1);
        int32_t *ex = malloc((strlen(exclude) / 2 + 2) * sizeof *ex);
        size_t ne = ex ? words_to_ids(v, exclude, ",", ex, strlen(exclude) / 2 + 2, bad, sizeof bad) : 0;
        for (size_t i = 0; banned && i < ne; i++) banned[ex[i]] = 1;
        free(ex);
        if (!banned) { report("out of memory"); goto out; }
        if (bad[0]) { report("sample: --exclude words not in the vocabulary: %s", bad), rc = 2; goto out; }
    }
    lm_sample_opts so = {temperature, top_k, banned};
    uint64_t rng = seed;
    for (int s = 0; s < n_samples; s++) {
        if (lm_sample(m, ids, n, (size_t)n_words, &so, &rng, out, &err) != LM_OK) goto fail;
        if (s) fputs("\n", stdout);
        fputs(prefix, stdout);
        int at_line_start = prefix[0] == '\0';
        for (int i = 0; i < n_words; i++) {
            if (out[i] == eos) { fputs("\n", stdout); at_line_start = 1; continue; }
            printf("%s%s", at_line_start ? "" : " ", lm_vocab_word(v, out[i]));
            at_line_start = 0;
        }
        if (!at_line_start) fputs("\n", stdout);
        if (ferror(stdout)) goto out;  /* a closed pipe or full disk: no more samples (main reports it) */
    }
    rc = 0;
    goto out;
fail:
    report("%s", err.msg);
out:
    free(ids), free(out), free(banned);
    lm_model_free(m);
    lm_vocab_free(v);
    return rc;
}

/* `lstmlm bench`: steady-state training and evaluation throughput of the
 * paper's presets on synthetic data, as words/s and as achieved GFLOP/s
 * against a large sgemm measured in the same process. Each preset runs in its
 * own child process so its peak resident memory is its own; the parent never
 * starts OpenMP threads, because GNU OpenMP does not survive a fork once its
 * thread pool exists. */
#include "common.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void bench_usage(FILE *f) {
    fprintf(f,
            "Usage: %s bench [options] [PRESET...]\n"
            "Training and evaluation throughput of presets (default: small medium large) on\n"
            "synthetic data: words/s, GFLOP/s by the formula 6 (L 8n^2 + nV) per trained word\n"
            "(2 (L 8n^2 + nV) per evaluated word), that as a fraction of a 2048^3 sgemm and of\n"
            "the BF16 peak (a register-only loop of the products' instruction on every\n"
            "thread: AMX's tdpbf16ps where the products use AMX tiles, else vdpbf16ps where\n"
            "the CPU has AVX512_BF16), both measured in the same process, and peak resident\n"
            "memory. LSTMLM_AMX=0 in the environment keeps the products off AMX.\n"
            "PRESET `frames` is the frame classifier (frames-train) at the shapes of\n"
            "../shared/bench/torch_frames.py: 40 features, 3 x 512, 202 classes, 32 streams,\n"
            "dropout 0.5; its rates are frames/s and its formula adds 2 dn per frame.\n"
            "Median of repetitions, warm-up excluded.\n"
            "\n"
            "  --windows N     timed windows per repetition (default 8)\n"
            "  --reps N        repetitions (default 5)\n"
            "  --threads N     BLAS and OpenMP threads (default 2)\n"
            "  --vocab N       vocabulary size (default 10000, PTB's)\n"
            "  --bf16          matrix products in BF16 with FP32 accumulation (AVX512_BF16)\n"
            "  --profile       then time each phase of a window (milliseconds per window and\n"
            "                  share of it) over as many extra windows, training and evaluation\n"
            "  --scoring TEXT  instead, the streaming scoring API on TEXT's sentences (e.g.\n"
            "                  PTB's test file; the preset's shapes, random weights, random word\n"
            "                  ids at the sentences' lengths): words/s (words and <eos>) of\n"
            "                  lm_evaluate at batch 20 and at batch 1 (state carried), of\n"
            "                  sentence scoring one at a time (the first --sentences, the latency\n"
            "                  case) and of all of them 64 and 256 at a time (lm_score_sentences)\n"
            "  --sentences N   sentences for scoring one at a time (default 200)\n"
            "  -h, --help      this help\n",
            prog);
}

/* Phase times of `windows` more windows (training, then evaluation when
 * eval): milliseconds per window and share of the window. */
static void print_profile(lm_model *m, const char *what, int windows) {
    lm_phase_time ph[32];
    const int n = lm_model_profile_read(m, ph, 32);
    double total = 0;
    for (int i = 0; i < n; i++) total += ph[i].seconds;
    printf("  %s, %d windows: %.1f ms per window\n", what, windows, 1e3 * total / windows);
    for (int i = 0; i < n; i++)
        if (ph[i].seconds > 0)
            printf("    %-36s %9.2f ms %6.1f%%\n", ph[i].name, 1e3 * ph[i].seconds / windows,
                   100 * ph[i].seconds / total);
}

/* The configuration of a benchmark preset; *V = vocabulary or classes. */
static lm_status bench_config(lm_config *c, int *V, const char *name, lm_error *err) {
    if (strcmp(name, "frames") == 0) {  /* torch_frames.py's shapes, our corpus's classes */
        *c = (lm_config){.layers = 3, .hidden = 512, .steps = 50, .batch = 32, .dropout = 0.5f, .init = 0.05f,
                         .lr = 1.0f, .max_epoch = 1, .epochs = 1, .decay = 1.0f, .clip = 5.0f, .seed = 1,
                         .threads = 2, .task = LM_TASK_FRAMES, .input_dim = 40, .delay = 5};
        *V = 202;
        return LM_OK;
    }
    return lm_config_preset(c, name, err);
}

/* One window of the benchmark's data: words, or feature frames. */
static void window(lm_model *m, const lm_config *c, const int32_t *x, const float *feats, const int32_t *y, int train) {
    if (feats) lm_model_forward_frames(m, feats, y, c->steps, c->batch, train);
    else lm_model_forward(m, x, y, c->steps, c->batch, train);
}

/* One preset in this process: prints its result line. */
static int run_preset(const char *name, int windows, int reps, int V, int bf16, int profile) {
    const double sgemm = lm_sgemm_gflops(2048, 5), vdp = lm_bf16_peak_gflops(5);
    const double amx = bf16 ? lm_amx_peak_gflops(5) : 0.0, peak = amx > 0 ? amx : vdp;  /* the products' own */
    lm_config c;
    lm_error err;
    if (bench_config(&c, &V, name, &err) != LM_OK) { report("%s", err.msg); return 1; }
    c.bf16 = bf16;
    lm_model *m;
    if (lm_model_create(&m, &c, V, &err) != LM_OK) { report("%s", err.msg); return 1; }
    const size_t TB = (size_t)c.steps * c.batch, d = (size_t)c.input_dim;
    int32_t *x = malloc(TB * sizeof *x), *y = malloc(TB * sizeof *y);
    float *feats = d ? malloc(TB * d * sizeof *feats) : NULL;
    uint64_t s = 12345;
    for (size_t i = 0; i < TB; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (int32_t)((s >> 33) % (uint64_t)V);
        y[i] = (int32_t)((s >> 13) % (uint64_t)V);
    }
    for (size_t i = 0; i < TB * d; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        feats[i] = (float)((double)(s >> 11) * 0x1.0p-53 * 2.0 - 1.0);
    }
    double train[64], eval[64];
    lm_model_reset_state(m, c.batch);
    for (int w = 0; w < 3; w++) {  /* warm-up: first touches, thread start-up */
        window(m, &c, x, feats, y, 1);
        lm_model_backward(m);
        lm_model_sgd_step(m, 0.01f, c.clip);
    }
    for (int r = 0; r < reps; r++) {
        double t0 = lm_now();
        for (int w = 0; w < windows; w++) {
            window(m, &c, x, feats, y, 1);
            lm_model_backward(m);
            lm_model_sgd_step(m, 0.01f, c.clip);
        }
        train[r] = (double)TB * windows / (lm_now() - t0);
    }
    window(m, &c, x, feats, y, 0);
    for (int r = 0; r < reps; r++) {
        double t0 = lm_now();
        for (int w = 0; w < windows; w++) window(m, &c, x, feats, y, 0);
        eval[r] = (double)TB * windows / (lm_now() - t0);
    }
    const double fwd = 2.0 * ((double)c.layers * 8.0 * c.hidden * c.hidden + (double)c.hidden * V + (double)d * c.hidden);
    const double tw = median(train, reps), ew = median(eval, reps);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const double tg = tw * 3 * fwd / 1e9, eg = ew * fwd / 1e9;
    printf("%-7s %10.0f %10.0f %9.1f %7.1f%% %7.1f%% %9.1f %7.1f%% %7.1f%% %9.0f %9.1f %9.1f %9.1f\n", name, tw, ew,
           tg, 100 * tg / sgemm, peak > 0 ? 100 * tg / peak : 0.0, eg, 100 * eg / sgemm,
           peak > 0 ? 100 * eg / peak : 0.0, ru.ru_maxrss / 1024.0, sgemm, vdp, amx);
    if (profile) {
        lm_model_profile(m, 1);
        for (int w = 0; w < windows; w++) {
            window(m, &c, x, feats, y, 1);
            lm_model_backward(m);
            lm_model_sgd_step(m, 0.01f, c.clip);
        }
        print_profile(m, "training", windows);
        lm_model_profile(m, 1);
        for (int w = 0; w < windows; w++) window(m, &c, x, feats, y, 0);
        print_profile(m, "evaluation", windows);
        lm_model_profile(m, 0);
    }
    fflush(stdout);
    free(x), free(y), free(feats);
    lm_model_free(m);
    return 0;
}

/* Throughput of the scoring paths on TEXT's sentence lengths for one preset. */
static int run_scoring(const char *name, int V, int bf16, const char *path, int one_by_one) {
    lm_config c;
    lm_error err;
    if (bench_config(&c, &V, name, &err) != LM_OK || c.task != LM_TASK_LM) {
        report("bench --scoring: %s is not a language-model preset", name);
        return 1;
    }
    c.bf16 = bf16;
    /* The text as training reads it; its ids mapped into the preset's
     * vocabulary (<eos> to 0, the words to 1..V-1), keeping the sentences'
     * lengths: the rates depend on the shapes, not on which words. */
    lm_vocab *tv = NULL, *v = NULL;
    lm_tokens tok = {0};
    lm_model *m = NULL;
    lm_state *st = NULL;
    size_t n = 0, *len = NULL;
    int32_t **start = NULL;
    char **names = NULL, *name_buf = NULL;
    double *totals = NULL;
    int rc = 1;
    if (lm_vocab_build(&tv, path, &err) != LM_OK || lm_tokens_read(&tok, path, tv, &err) != LM_OK) goto fail;
    const int32_t eos = lm_vocab_find(tv, "<eos>");
    for (size_t i = 0; i < tok.n; i++) n += tok.ids[i] == eos;  /* every line ends with <eos> */
    len = malloc(n * sizeof *len), start = malloc(n * sizeof *start), totals = malloc(n * sizeof *totals);
    names = malloc((size_t)V * sizeof *names), name_buf = malloc((size_t)V * 12);
    if (!len || !start || !totals || !names || !name_buf) { report("out of memory"); goto out; }
    for (size_t i = 0, k = 0, first = 0; i < tok.n; i++) {
        if (tok.ids[i] != eos) { tok.ids[i] = 1 + tok.ids[i] % (V - 1); continue; }
        tok.ids[i] = 0;
        start[k] = tok.ids + first, len[k++] = i - first, first = i + 1;
    }
    tok.eos = 0;
    const size_t total = tok.n;
    for (int i = 0; i < V; i++) names[i] = name_buf + (size_t)i * 12, snprintf(names[i], 12, i ? "w%d" : "<eos>", i);
    if (lm_vocab_from_words(&v, (const char *const *)names, V, &err) != LM_OK ||
        lm_model_create(&m, &c, V, &err) != LM_OK || lm_model_set_bf16(m, bf16, &err) != LM_OK ||
        lm_state_create(&st, m, v, &err) != LM_OK)
        goto fail;
    lm_run_stats rs;
    double rate[5];
    for (int k = 0; k < 2; k++) {  /* lm_evaluate at batch 20 and 1 */
        const int batch = k ? 1 : 20;
        if (lm_evaluate(m, &tok, batch, c.steps, NULL, NULL, &rs, &err) != LM_OK) goto fail;
        rate[k] = (double)rs.words / rs.seconds;
    }
    const size_t first = (size_t)one_by_one < n ? (size_t)one_by_one : n;
    size_t words = 0;
    double t0 = lm_now(), lp;
    for (size_t i = 0; i < first; i++) {
        lm_state_reset(st);
        if (lm_state_score(st, start[i], len[i], 1, NULL, &lp, &err) != LM_OK) goto fail;
        words += len[i] + 1;
    }
    rate[2] = (double)words / (lm_now() - t0);
    for (int k = 0; k < 2; k++) {  /* all of them, 64 and 256 at a time */
        const int B = k ? 256 : 64;
        t0 = lm_now();
        if (lm_score_sentences(m, v, B, n, (const int32_t *const *)start, len, totals, NULL, &err) != LM_OK) goto fail;
        rate[3 + k] = (double)total / (lm_now() - t0);
    }
    printf("%-7s %-5s %11.0f %11.0f %11.0f %11.0f %11.0f %9.2fx\n", name, bf16 ? "bf16" : "fp32", rate[0], rate[1],
           rate[2], rate[3], rate[4], rate[3] / rate[0]);
    fflush(stdout);
    rc = 0;
    goto out;
fail:
    report("%s", err.msg);
out:
    lm_state_free(st);
    lm_tokens_free(&tok);
    free(start), free(names), free(name_buf), free(len), free(totals);
    lm_model_free(m), lm_vocab_free(v), lm_vocab_free(tv);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    int windows = 8, reps = 5, threads = 2, V = 10000, bf16 = 0, profile = 0, sentences = 200, ok = 1, o;
    const char *scoring = NULL;
    enum { OPT_SCORING = 1000, OPT_SENTENCES };
    static const struct option opts[] = {
        {"windows", required_argument, 0, OPT_WORDS}, {"reps", required_argument, 0, OPT_SAMPLES},
        {"threads", required_argument, 0, OPT_THREADS}, {"vocab", required_argument, 0, OPT_TEXT},
        {"bf16", no_argument, 0, OPT_BF16},           {"profile", no_argument, 0, OPT_PROFILE},
        {"scoring", required_argument, 0, OPT_SCORING}, {"sentences", required_argument, 0, OPT_SENTENCES},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    optind = 1;
    while (ok && (o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case OPT_WORDS: ok = parse_int("windows", optarg, 1, 100000, &windows); break;
        case OPT_SAMPLES: ok = parse_int("reps", optarg, 1, 64, &reps); break;
        case OPT_THREADS: ok = parse_int("threads", optarg, 1, 1024, &threads); break;
        case OPT_TEXT: ok = parse_int("vocab", optarg, 2, 1 << 24, &V); break;
        case OPT_BF16: bf16 = 1; break;
        case OPT_PROFILE: profile = 1; break;
        case OPT_SCORING: scoring = optarg; break;
        case OPT_SENTENCES: ok = parse_int("sentences", optarg, 1, 1 << 30, &sentences); break;
        case 'h': bench_usage(stdout); return 0;
        default: fprintf(stderr, "Try '%s bench --help'.\n", prog); return 2;
        }
    }
    if (!ok) return 2;
    if (bf16 && !lm_bf16_available()) { report("bench: --bf16: this CPU lacks AVX512_BF16"); return 2; }
    const char *all[] = {"small", "medium", "large"};
    const char **presets = optind < argc ? (const char **)argv + optind : all;
    int n = optind < argc ? argc - optind : 3;
    lm_config probe;
    lm_error err;
    int probe_V;
    for (int i = 0; i < n; i++)
        if (bench_config(&probe, &probe_V, presets[i], &err) != LM_OK) { report("bench: %s", err.msg); return 2; }
    const char *core = getenv("OPENBLAS_CORETYPE");
    if (scoring) {
        if (!require_input(scoring)) return 1;
        printf("lstmlm bench --scoring %s: %d threads, BLAS kernel %s (OPENBLAS_CORETYPE=%s), vocabulary %d; words/s\n"
               "counting each sentence's <eos>; one pass each; \"1 by 1\" over the first %d sentences\n",
               scoring, threads, lm_blas_kernel(), core ? core : "(unset)", V, sentences);
        printf("%-7s %-5s %11s %11s %11s %11s %11s %10s\n", "preset", "prec", "eval b20", "eval b1", "score 1by1",
               "score b64", "score b256", "b64/eval20");
        fflush(stdout);
        int rc = 0;
        for (int i = 0; i < n; i++) {
            pid_t pid = fork();
            if (pid == 0) {
                lm_set_threads(threads);
                _exit(finish_stdout(run_scoring(presets[i], V, bf16, scoring, sentences)));  /* _exit skips stdio's flush */
            }
            int status = 1;
            if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) rc = 1;
        }
        return rc;
    }
    printf("lstmlm bench: %d threads, BLAS kernel %s (OPENBLAS_CORETYPE=%s), vocabulary %d; %d reps x %d windows; "
           "matrix products %s%s\n",
           threads, lm_blas_kernel(), core ? core : "(unset)", V, reps, windows, bf16 ? "BF16 (FP32 accumulation), " : "FP32",
           bf16 ? lm_bf16_kernel() : "");
    printf("GF/s by 6(L 8n^2 + nV) per trained word, 2(...) per evaluated word; sgemm: 2048^3; peaks: vdpbf16ps\n"
           "(bf16peak) and AMX tdpbf16ps (amxpeak, BF16 runs on AMX only) in registers on every thread, measured\n"
           "in the preset's process; \"of peak\" is of the peak of the products' kernel\n");
    printf("%-7s %10s %10s %9s %8s %8s %9s %8s %8s %9s %9s %9s %9s\n", "preset", "train w/s", "eval w/s", "trainGF/s",
           "of sgemm", "of peak", "evalGF/s", "of sgemm", "of peak", "peak MiB", "sgemmGF/s", "bf16peak", "amxpeak");
    fflush(stdout);
    int rc = 0;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            lm_set_threads(threads);  /* OpenMP starts in the child only */
            _exit(finish_stdout(run_preset(presets[i], windows, reps, V, bf16, profile)));  /* a lost row fails */
        }
        int status = 1;
        if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) rc = 1;
    }
    return rc;
}

/* `lstmlm score`: the log-probability of each sentence of a file under a
 * language model, word by word if asked, through the streaming state API. */
#include "common.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void score_usage(FILE *f) {
    fprintf(f,
            "Usage: %s score --model FILE [options] [TEXT]\n"
            "Log-probability of each line of TEXT (default: standard input; \"-\" too) under a\n"
            "language model: one sentence per line, words separated by white space.\n"
            "\n"
            "Every number is a natural logarithm (base e). A sentence is scored from the\n"
            "sentence-start state (the model after reading <eos>), word by word, then its\n"
            "end, <eos>; perplexity = exp(-logprob / (words + 1)). Words missing from the\n"
            "vocabulary are scored as <unk> and counted as OOVs (an error if the vocabulary\n"
            "has no <unk>). An empty line is a sentence of no words: the score of <eos> alone.\n"
            "\n"
            "  --model FILE      model.safetensors of a language model (`lstmlm train`)\n"
            "  --per-word        also every word's log-probability\n"
            "  --json            JSON lines instead of tab-separated values\n"
            "  --carry           carry the state from each line to the next instead of starting\n"
            "                    each at sentence start: the input as one text, as `lstmlm eval`\n"
            "                    reads a file (same total log-probability)\n"
            "  --batch N         sentences scored together in one set of matrix products\n"
            "                    (default 64; 1 = one at a time), of similar lengths among 16 x N\n"
            "                    lines read ahead; --carry scores one stream\n"
            "  --threads N       BLAS and OpenMP threads (default 2)\n"
            "  --bf16            matrix products in BF16 with FP32 accumulation (AVX512_BF16)\n"
            "  -h, --help        this help\n"
            "\n"
            "Output (TSV): a header line starting with '#', then per sentence\n"
            "  LINE  LOGPROB  WORDS  OOVS  PPL\n"
            "and with --per-word two more columns: the log-probabilities of the words and of\n"
            "<eos>, space-separated, and the 1-based positions of the OOV words, comma-\n"
            "separated (\"-\" for none). The last line sums the input: \"total\" in place of\n"
            "LINE. JSON lines carry the same fields by name (\"per_word\": [{\"word\", \"logprob\",\n"
            "\"oov\"}...]), the summary with \"total\": true.\n",
            prog);
}

typedef struct {
    char *text;              /* the line as read */
    int32_t *ids;            /* (n) */
    unsigned char *oov;      /* (n) */
    size_t *at, *wlen;       /* (n) each word's offset and length in text */
    double *lp;              /* (n + 1): the words', then <eos>'s log-probability */
    size_t n, n_oov, line;
    double total;
} sentence;

typedef struct {
    const lm_vocab *v;
    int per_word, json;
    double logprob;          /* over the whole input */
    size_t words, oovs, sentences;
} report_ctx;

static void sentence_free(sentence *s) {
    free(s->text), free(s->ids), free(s->oov), free(s->lp), free(s->at), free(s->wlen);
    memset(s, 0, sizeof *s);
}

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' || c == '\n'; }

/* Split and look up one line (with where_words, also note each word's place
 * in the text, for printing OOVs as written); 1, or 0 with the reason reported. */
static int sentence_read(sentence *s, const lm_vocab *v, char *line, size_t len, size_t line_no, const char *name,
                         int where_words) {
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
    sentence_free(s);
    s->line = line_no;
    s->text = malloc(len + 1);
    s->ids = malloc((len / 2 + 1) * sizeof *s->ids);
    s->oov = malloc(len / 2 + 1);
    s->lp = malloc((len / 2 + 2) * sizeof *s->lp);
    if (where_words) {
        s->at = malloc((len / 2 + 1) * sizeof *s->at);
        s->wlen = malloc((len / 2 + 1) * sizeof *s->wlen);
    }
    if (!s->text || !s->ids || !s->oov || !s->lp || (where_words && (!s->at || !s->wlen))) {
        report("%s:%zu: out of memory", name, line_no);
        return 0;
    }
    memcpy(s->text, line, len);
    s->text[len] = '\0';
    lm_error err;
    if (lm_line_ids(v, line, len, s->ids, &s->n, &s->n_oov, s->oov, &err) != LM_OK) {
        report("%s:%zu: %s", name, line_no, err.msg);
        return 0;
    }
    size_t k = 0;  /* where each word is, split as lm_line_ids splits */
    for (size_t i = 0; where_words && i < len && k < s->n;) {
        if (is_blank(line[i])) { i++; continue; }
        s->at[k] = i;
        while (i < len && !is_blank(line[i])) i++;
        s->wlen[k] = i - s->at[k], k++;
    }
    return 1;
}

/* s[0..n) as a JSON string on stdout, whole whatever its length; 1, or 0 on
 * a write error. */
static int put_json_string(const char *s, size_t n) {
    if (putchar('"') == EOF) return 0;
    for (size_t i = 0; i < n; i++) {
        const unsigned char c = (unsigned char)s[i];
        const int ok = c == '"' || c == '\\' ? printf("\\%c", c) >= 0
                       : c < 0x20            ? printf("\\u%04x", c) >= 0
                                             : putchar(c) != EOF;
        if (!ok) return 0;
    }
    return putchar('"') != EOF;
}

/* Print one sentence's line; 1, or 0 on a write error. */
static int print_sentence(report_ctx *r, const sentence *s) {
    const double ppl = exp(-s->total / (double)(s->n + 1));
    char num[64];
    r->logprob += s->total, r->words += s->n, r->oovs += s->n_oov, r->sentences++;
    if (r->json) {
        if (printf("{\"line\": %zu, \"logprob\": %.6f, \"words\": %zu, \"oovs\": %zu, \"ppl\": %s", s->line, s->total,
                   s->n, s->n_oov, json_number(num, sizeof num, "%.4f", ppl)) < 0)
            return 0;
        if (r->per_word) {
            if (fputs(", \"per_word\": [", stdout) == EOF) return 0;
            for (size_t i = 0; i <= s->n; i++) {
                const int oov = i < s->n && s->oov[i];
                const char *w = i < s->n ? lm_vocab_word(r->v, s->ids[i]) : "<eos>";
                /* an unknown word as written, not "<unk>" */
                if (printf("%s{\"word\": ", i ? ", " : "") < 0 ||
                    !(oov ? put_json_string(s->text + s->at[i], s->wlen[i]) : put_json_string(w, strlen(w))) ||
                    printf(", \"logprob\": %.6f, \"oov\": %s}", s->lp[i], oov ? "true" : "false") < 0)
                    return 0;
            }
            if (putchar(']') == EOF) return 0;
        }
        return puts("}") != EOF;
    }
    if (printf("%zu\t%.6f\t%zu\t%zu\t%.4f", s->line, s->total, s->n, s->n_oov, ppl) < 0) return 0;
    if (r->per_word) {
        for (size_t i = 0; i <= s->n; i++)
            if (printf("%c%.6f", i ? ' ' : '\t', s->lp[i]) < 0) return 0;
        if (putchar('\t') == EOF) return 0;
        int any = 0;
        for (size_t i = 0; i < s->n; i++)
            if (s->oov[i] && printf("%s%zu", any++ ? "," : "", i + 1) < 0) return 0;
        if (!any && putchar('-') == EOF) return 0;
    }
    return putchar('\n') != EOF;
}

static int print_total(const report_ctx *r) {
    const double ppl = exp(-r->logprob / (double)(r->words + r->sentences));
    char num[64];
    if (r->json)
        return printf("{\"total\": true, \"sentences\": %zu, \"logprob\": %.6f, \"words\": %zu, \"oovs\": %zu, "
                      "\"ppl\": %s}\n",
                      r->sentences, r->logprob, r->words, r->oovs, json_number(num, sizeof num, "%.4f", ppl)) >= 0;
    /* no sentence at all: no perplexity; "nan", without the sign printf may give it */
    return printf("total\t%.6f\t%zu\t%zu\t%s%s\n", r->logprob, r->words, r->oovs,
                  r->sentences ? (snprintf(num, sizeof num, "%.4f", ppl), num) : "nan", r->per_word ? "\t\t" : "") >= 0;
}

/* Score group[0..n) from sentence start, batch sentences at a time. */
static lm_status score_group(const lm_model *m, const lm_vocab *v, int batch, sentence *group, int n,
                             lm_error *err) {
    const int32_t **words = malloc((size_t)n * sizeof *words);
    size_t *lens = malloc((size_t)n * sizeof *lens);
    double *totals = malloc((size_t)n * sizeof *totals), **per = malloc((size_t)n * sizeof *per);
    lm_status s = !words || !lens || !totals || !per ? LM_ENOMEM : LM_OK;
    if (s != LM_OK) snprintf(err->msg, sizeof err->msg, "out of memory");
    for (int b = 0; s == LM_OK && b < n; b++) words[b] = group[b].ids, lens[b] = group[b].n, per[b] = group[b].lp;
    if (s == LM_OK) s = lm_score_sentences(m, v, batch, (size_t)n, words, lens, totals, per, err);
    for (int b = 0; s == LM_OK && b < n; b++) group[b].total = totals[b];
    free(words), free(lens), free(totals), free(per);
    return s;
}

int cmd_score(int argc, char **argv) {
    const char *model = NULL;
    int per_word = 0, json = 0, carry = 0, batch = 64, threads = 2, bf16 = 0, ok = 1, o;
    enum { OPT_PER_WORD = 1000, OPT_JSON, OPT_CARRY };
    static const struct option opts[] = {
        {"model", required_argument, 0, OPT_MODEL}, {"per-word", no_argument, 0, OPT_PER_WORD},
        {"json", no_argument, 0, OPT_JSON},         {"carry", no_argument, 0, OPT_CARRY},
        {"batch", required_argument, 0, OPT_BATCH}, {"threads", required_argument, 0, OPT_THREADS},
        {"bf16", no_argument, 0, OPT_BF16},         {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    optind = 1;
    while (ok && (o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case OPT_MODEL: model = optarg; break;
        case OPT_PER_WORD: per_word = 1; break;
        case OPT_JSON: json = 1; break;
        case OPT_CARRY: carry = 1; break;
        case OPT_BATCH: ok = parse_int("batch", optarg, 1, 1024, &batch); break;
        case OPT_THREADS: ok = parse_int("threads", optarg, 1, 1024, &threads); break;
        case OPT_BF16: bf16 = 1; break;
        case 'h': score_usage(stdout); return finish_stdout(0);
        default: fprintf(stderr, "Try '%s score --help'.\n", prog); return 2;
        }
    }
    if (!ok) return 2;
    if (!model) { report("score: --model FILE is required (see --help)"); return 2; }
    if (argc - optind > 1) { report("score: one input file at most (see --help)"); return 2; }
    const char *in_path = optind < argc && strcmp(argv[optind], "-") ? argv[optind] : NULL;
    const char *in_name = in_path ? in_path : "<stdin>";
    if (in_path && input_file(in_path) < 0) return 1;
    if (carry) batch = 1;

    lm_set_threads(threads);
    lm_error err;
    lm_model *m = NULL;
    lm_vocab *v = NULL;
    lm_state *st = NULL;  /* --carry: the one stream */
    sentence *group = NULL;
    FILE *in = NULL;
    char *line = NULL;
    size_t cap = 0, line_no = 0;
    int rc = 1, have = 0;
    /* lines are read in chunks of 16 x batch, sorted by length inside the
     * library and scored batch at a time; --carry steps one state */
    const int chunk = carry ? 1 : 16 * batch;
    if (lm_checkpoint_load(&m, &v, NULL, model, threads, &err) != LM_OK) goto fail;
    if (!check_task(model, m, LM_TASK_LM)) goto out;  /* before the header: nothing written */
    if (lm_model_set_bf16(m, bf16, &err) != LM_OK) goto fail;
    if (!(group = calloc((size_t)chunk, sizeof *group))) { report("out of memory"); goto out; }
    if (carry && lm_state_create(&st, m, v, &err) != LM_OK) goto fail;
    if (!(in = in_path ? fopen(in_path, "rb") : stdin)) { report("%s: %s", in_name, strerror(errno)); goto out; }

    report_ctx r = {.v = v, .per_word = per_word, .json = json};
    if (!json && printf("#line\tlogprob\twords\toovs\tppl%s\n", per_word ? "\tper_word\toov_positions" : "") < 0)
        goto out;
    for (;;) {
        errno = 0;
        ssize_t len = getline(&line, &cap, in);
        if (len >= 0) {
            line_no++;
            if (!sentence_read(&group[have], v, line, (size_t)len, line_no, in_name, json && per_word)) goto out;
            if (carry) {  /* one stream: the state goes on from the last line's <eos> */
                sentence *s = &group[0];
                if (lm_state_score(st, s->ids, s->n, 1, s->lp, &s->total, &err) != LM_OK) goto fail;
                if (!print_sentence(&r, s)) goto out;
                continue;
            }
            if (++have < chunk) continue;
        } else if (ferror(in)) {
            report("%s: read error: %s", in_name, strerror(errno ? errno : EIO));
            goto out;
        }
        if (have) {
            if (score_group(m, v, batch, group, have, &err) != LM_OK) goto fail;
            for (int b = 0; b < have; b++)
                if (!print_sentence(&r, &group[b])) goto out;
            have = 0;
        }
        if (len < 0) break;
    }
    if (!print_total(&r)) goto out;
    rc = 0;
    goto out;
fail:
    report("%s", err.msg);
out:
    free(line);
    if (in && in != stdin) fclose(in);
    lm_state_free(st);
    for (int b = 0; group && b < chunk; b++) sentence_free(&group[b]);
    free(group);
    lm_model_free(m), lm_vocab_free(v);
    return finish_stdout(rc);
}

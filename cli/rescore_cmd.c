/* `lstmlm rescore`: rerank n-best lists with a language model.
 * new score = old score + lambda * log P_LM(hypothesis) + bonus * words.
 * The hypotheses of a group of items (at least --batch of them, whole items)
 * are put in one prefix tree, each ending in <eos>, and the tree is scored
 * level by level, every node of a level in batches of states: each common
 * prefix is computed once, and the batches are wide even for short lists. */
#define _XOPEN_SOURCE 700  /* realpath */
#include "common.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { MAX_SENTENCE_ID = 100000000 };

static void rescore_usage(FILE *f) {
    fprintf(f,
            "Usage: %s rescore --model FILE --nbest FILE [options]\n"
            "Rerank n-best lists with a language model: each hypothesis gets\n"
            "  new score = old score + LAMBDA * LM + BONUS * words\n"
            "where LM is its log-probability (natural log) as a sentence, <eos> included,\n"
            "from the sentence-start state (as `lstmlm score` computes it). Hypotheses that\n"
            "share a prefix (in one item or across the items of a --batch) compute it once.\n"
            "\n"
            "  --model FILE       model.safetensors of a language model (`lstmlm train`)\n"
            "  --nbest FILE       the n-best list (required)\n"
            "  --format F         moses (default) or kaldi\n"
            "  --scores FILE      kaldi: the score of each hypothesis, \"UTTID-N score\" per line in\n"
            "                     the order of --nbest (required with kaldi)\n"
            "  --costs            kaldi: the scores are costs (lower is better, as Kaldi's\n"
            "                     negated log-likelihoods): new = old - LAMBDA * LM - BONUS * words\n"
            "  --lambda X         weight of the LM log-probability (default 1)\n"
            "  --word-bonus Y     added per word of the hypothesis (default 0)\n"
            "  --output FILE      the reranked list (default: standard output). Files are written\n"
            "                     whole or not at all; standard output keeps what was written\n"
            "                     before an error\n"
            "  --best FILE        the best hypothesis of each item\n"
            "  --output-scores FILE  kaldi: the new scores, \"UTTID-N score\", in the reranked order\n"
            "  --batch N          hypotheses scored together (whole items, at least N unless\n"
            "                     the list ends) and states stepped together at most (default 1024)\n"
            "  --threads N        BLAS and OpenMP threads (default 2)\n"
            "  --bf16             matrix products in BF16 (AVX512_BF16)\n"
            "  -h, --help         this help\n"
            "\n"
            "Formats. moses: \"ID ||| hypothesis ||| features ||| score\" per line (what Moses\n"
            "and `lstmlm translate --nbest` write; fields after the score are kept), IDs\n"
            "0-based sentence numbers in increasing order, the hypotheses of one sentence\n"
            "together. Output: the same lines, best first within each sentence, with\n"
            "\"LM= logp\" appended to the features and the new score; --best gets one line per\n"
            "sentence 0..last ID (empty for a sentence without hypotheses).\n"
            "kaldi: \"UTTID-N word...\" per line (N the hypothesis number), the hypotheses of\n"
            "one utterance together, and --scores beside it. Output: the text lines in the\n"
            "new order; --best gets \"UTTID word...\" per utterance.\n",
            prog);
}

typedef struct {
    char *id;            /* moses: the sentence number as written; kaldi: "UTTID-N" */
    size_t item;         /* moses: sentence number; kaldi: utterance index */
    char *words;         /* the hypothesis text */
    char *rest;          /* moses: " ||| features" before the score; kaldi: unused */
    char *tail;          /* moses: fields after the score, with their " ||| " */
    double score, lm, fresh;
    int32_t *ids;
    size_t n, order;
} hyp;

typedef struct {
    int kaldi, costs;
    float lambda, bonus;
    const lm_vocab *v;
    const char *nbest_path, *scores_path;
} options;

static char *dupn(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n), d[n] = '\0';
    return d;
}

static int is_blank(char c) { return c == ' ' || c == '\t'; }

/* A copy of [a, b) without the blanks around it; NULL without memory. */
static char *dup_trimmed(const char *a, const char *b) {
    while (a < b && is_blank(*a)) a++;
    while (b > a && is_blank(b[-1])) b--;
    return dupn(a, (size_t)(b - a));
}

/* The line without its end of line, NUL-terminated in place; its new length. */
static size_t chomp(char *line, size_t len) {
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
    line[len] = '\0';
    return len;
}

static void hyp_free(hyp *h) {
    free(h->id), free(h->words), free(h->rest), free(h->tail), free(h->ids);
    memset(h, 0, sizeof *h);
}

/* A finite number filling the whole of [a, b) (blanks around allowed). */
static int parse_score(const char *a, const char *b, double *out) {
    char *buf = dup_trimmed(a, b), *end;
    if (!buf) return 0;
    errno = 0;
    double v = strtod(buf, &end);
    int ok = buf[0] && !errno && !*end && isfinite(v);
    if (ok) *out = v;
    free(buf);
    return ok;
}

static int words_to_ids(hyp *h, const lm_vocab *v, const char *name, size_t line) {
    size_t len = strlen(h->words), oov;
    lm_error err;
    if (!(h->ids = malloc((len / 2 + 1) * sizeof *h->ids))) { report("out of memory"); return 0; }
    if (lm_line_ids(v, h->words, len, h->ids, &h->n, &oov, NULL, &err) != LM_OK) {
        report("%s:%zu: %s", name, line, err.msg);
        return 0;
    }
    return 1;
}

/* One Moses line into h; 1, or 0 reported. */
static int parse_moses(hyp *h, char *line, size_t len, const options *o, size_t line_no) {
    len = chomp(line, len);
    const char *sep[4];
    int k = 0;
    for (const char *p = line; k < 4 && (p = strstr(p, "|||")); p += 3) sep[k++] = p;
    if (k < 3) {
        report("%s:%zu: expected \"ID ||| hypothesis ||| features ||| score\", found %d fields", o->nbest_path,
               line_no, k + 1);
        return 0;
    }
    if (!(h->id = dup_trimmed(line, sep[0]))) { report("out of memory"); return 0; }
    char *end;
    errno = 0;
    unsigned long long id = strtoull(h->id, &end, 10);
    /* IDs number sentences; --best writes an empty line for each one skipped,
     * so a forged huge ID must not mean a file of that many lines */
    if (!h->id[0] || errno || *end || h->id[0] == '-' || h->id[0] == '+' || id > MAX_SENTENCE_ID) {
        report("%s:%zu: the sentence ID \"%.32s\" is not a sentence number (0..%d)", o->nbest_path, line_no, h->id,
               MAX_SENTENCE_ID);
        return 0;
    }
    h->item = (size_t)id;
    const char *score_end = k == 4 ? sep[3] : line + len;
    if (!parse_score(sep[2] + 3, score_end, &h->score)) {
        report("%s:%zu: the score \"%.*s\" is not a finite number", o->nbest_path, line_no,
               (int)(score_end - sep[2] - 3 < 60 ? score_end - sep[2] - 3 : 60), sep[2] + 3);
        return 0;
    }
    h->words = dup_trimmed(sep[0] + 3, sep[1]);
    h->rest = dup_trimmed(sep[1] + 3, sep[2]);
    h->tail = dupn(score_end, strlen(score_end));
    if (!h->words || !h->rest || !h->tail) { report("out of memory"); return 0; }
    return words_to_ids(h, o->v, o->nbest_path, line_no);
}

/* One Kaldi text line and its score line; 1, or 0 reported. */
static int parse_kaldi(hyp *h, char *line, size_t len, char *sline, size_t slen, const options *o, size_t line_no) {
    len = chomp(line, len);
    size_t i = 0;
    while (i < len && is_blank(line[i])) i++;
    size_t id0 = i;
    while (i < len && !is_blank(line[i])) i++;
    if (i == id0) { report("%s:%zu: empty line: expected \"UTTID-N words...\"", o->nbest_path, line_no); return 0; }
    const char *dash = NULL;
    for (size_t j = id0; j < i; j++)
        if (line[j] == '-') dash = line + j;
    int numbered = dash && dash + 1 < line + i;
    for (const char *p = dash ? dash + 1 : NULL; numbered && p < line + i; p++) numbered = *p >= '0' && *p <= '9';
    if (!numbered || dash == line + id0) {
        report("%s:%zu: the ID \"%.*s\" is not UTTID-N (N the hypothesis number)", o->nbest_path, line_no,
               (int)(i - id0 < 80 ? i - id0 : 80), line + id0);
        return 0;
    }
    h->id = dupn(line + id0, i - id0);
    h->words = dup_trimmed(line + i, line + len);
    if (!h->id || !h->words) { report("out of memory"); return 0; }
    /* the score line: the same ID, then the score */
    slen = chomp(sline, slen);
    size_t s = 0;
    while (s < slen && is_blank(sline[s])) s++;
    size_t s0 = s;
    while (s < slen && !is_blank(sline[s])) s++;
    if (s - s0 != i - id0 || memcmp(sline + s0, line + id0, s - s0) != 0) {
        report("%s:%zu: ID \"%.*s\" where %s has \"%s\": the two files must list the same IDs in the same order",
               o->scores_path, line_no, (int)(s - s0 < 80 ? s - s0 : 80), sline + s0, o->nbest_path, h->id);
        return 0;
    }
    if (!parse_score(sline + s, sline + slen, &h->score)) {
        report("%s:%zu: the score \"%.60s\" is not a finite number", o->scores_path, line_no, sline + s);
        return 0;
    }
    return words_to_ids(h, o->v, o->nbest_path, line_no);
}

/* The prefix tree of a group's hypotheses, words then <eos>; the root is
 * the sentence-start state. */
typedef struct {
    int32_t word;
    int parent, first_child, next_sibling, depth;
    int slot;     /* position in its level: its state's index in that level's pool */
    double logp;  /* log P of the path from the root */
} node;

typedef struct {
    node *nodes;
    size_t n, cap;
    lm_state **pool[2];   /* the states of two consecutive levels (even, odd) */
    size_t pool_n[2];
    size_t steps, words;  /* steps computed; words and <eos> of the hypotheses: the saving */
} tree;

static int tree_node(tree *t, int parent, int32_t word) {
    if (t->n >= INT_MAX) return -1;  /* node ids are ints: a group of 2^31 words is refused */
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        node *g = realloc(t->nodes, cap * sizeof *g);
        if (!g) return -1;
        t->nodes = g, t->cap = cap;
    }
    node *nd = &t->nodes[t->n];
    *nd = (node){word, parent, -1, -1, parent < 0 ? 0 : t->nodes[parent].depth + 1, 0, 0.0};
    if (parent >= 0) nd->next_sibling = t->nodes[parent].first_child, t->nodes[parent].first_child = (int)t->n;
    return (int)t->n++;
}

/* The child of `at` reading `word`, made if missing; -1 without memory. */
static int tree_child(tree *t, int at, int32_t word) {
    int c = t->nodes[at].first_child;
    while (c >= 0 && t->nodes[c].word != word) c = t->nodes[c].next_sibling;
    return c >= 0 ? c : tree_node(t, at, word);
}

/* At least `count` states in level pool q; 0 with the reason reported. */
static int pool_reserve(tree *t, int q, size_t count, lm_model *m, const lm_vocab *v) {
    if (t->pool_n[q] >= count) return 1;
    lm_state **g = realloc(t->pool[q], count * sizeof *g);
    if (!g) { report("out of memory"); return 0; }
    t->pool[q] = g;
    for (; t->pool_n[q] < count; t->pool_n[q]++) {
        lm_error err = {{0}};
        if (lm_state_create(&g[t->pool_n[q]], m, v, &err) != LM_OK) { report("%s", err.msg); return 0; }
    }
    return 1;
}

/* rows[i] reads words[i], i < n, in batches of at most `batch`:
 * lp[i] = log P(words[i] | rows[i] before). */
static lm_status step_in_batches(lm_state **rows, const int32_t *words, size_t n, int batch, double *lp,
                                 lm_error *err) {
    for (size_t i = 0; i < n; i += (size_t)batch) {
        const int r = n - i < (size_t)batch ? (int)(n - i) : batch;
        lm_status st = lm_state_step_batch(rows + i, r, words + i, lp + i, err);
        if (st != LM_OK) return st;
    }
    return LM_OK;
}

/* LM log-probabilities of h[0..k), <eos> included, into h[i].lm. */
static int score_group(tree *t, hyp *h, size_t k, lm_model *m, const lm_vocab *v, int batch) {
    lm_error err = {{0}};
    const int32_t eos = lm_vocab_find(v, "<eos>");
    t->n = 0;
    if (tree_node(t, -1, -1) < 0) { report("out of memory"); return 0; }
    int *end = malloc(k * sizeof *end);
    if (!end) { report("out of memory"); return 0; }
    int depth = 0;
    for (size_t i = 0; i < k; i++) {  /* insert: walk the existing prefix, then grow */
        int at = 0;
        for (size_t j = 0; j <= h[i].n && at >= 0; j++) at = tree_child(t, at, j < h[i].n ? h[i].ids[j] : eos);
        if (at < 0) { free(end); report("out of memory"); return 0; }
        end[i] = at;
        depth = t->nodes[at].depth > depth ? t->nodes[at].depth : depth;
        t->words += h[i].n + 1;
    }
    t->steps += t->n - 1;
    /* The nodes level by level (a counting sort by depth), slots numbered in it. */
    size_t *start = calloc((size_t)depth + 2, sizeof *start), *order = malloc(t->n * sizeof *order);
    lm_state **rows = malloc(t->n * sizeof *rows);
    int32_t *words = malloc(t->n * sizeof *words);
    double *lp = malloc(t->n * sizeof *lp);
    int ok = start && order && rows && words && lp;
    if (!ok) report("out of memory");
    for (size_t i = 0; ok && i < t->n; i++) start[t->nodes[i].depth + 1]++;
    for (int d = 0; ok && d <= depth; d++) start[d + 1] += start[d];
    if (ok) {
        size_t *fill = calloc((size_t)depth + 1, sizeof *fill);
        if (!(ok = fill != NULL)) report("out of memory");
        for (size_t i = 0; ok && i < t->n; i++) {
            node *nd = &t->nodes[i];
            nd->slot = (int)fill[nd->depth]++;
            order[start[nd->depth] + (size_t)nd->slot] = i;
        }
        free(fill);
    }
    ok = ok && pool_reserve(t, 0, 1, m, v);
    if (ok) lm_state_reset(t->pool[0][0]);
    /* Level d's state of a node is its parent's (level d - 1, the other pool)
     * after reading the node's word. */
    for (int d = 1; ok && d <= depth; d++) {
        const size_t r = start[d + 1] - start[d];
        lm_state **prev = t->pool[(d - 1) & 1];
        if (!(ok = pool_reserve(t, d & 1, r, m, v))) break;
        lm_state **cur = t->pool[d & 1];
        for (size_t q = 0; ok && q < r; q++) {
            const node *nd = &t->nodes[order[start[d] + q]];
            ok = lm_state_copy(cur[q], prev[t->nodes[nd->parent].slot], &err) == LM_OK;
            rows[q] = cur[q], words[q] = nd->word;
        }
        ok = ok && step_in_batches(rows, words, r, batch, lp, &err) == LM_OK;
        for (size_t q = 0; ok && q < r; q++) {
            node *nd = &t->nodes[order[start[d] + q]];
            nd->logp = t->nodes[nd->parent].logp + lp[q];
        }
    }
    for (size_t i = 0; ok && i < k; i++) h[i].lm = t->nodes[end[i]].logp;
    if (!ok && err.msg[0]) report("%s", err.msg);
    free(start), free(order), free(rows), free(words), free(lp), free(end);
    return ok;
}

static int by_new_score(const void *a, const void *b) {
    const hyp *x = a, *y = b;
    if (x->fresh != y->fresh) return x->fresh > y->fresh ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Rerank and write one item; 1, or 0 on a write error. */
/* Where a path's file is or would be: the folder's real path and the name;
 * NULL for a path that exists and is not a regular file (a device such as
 * /dev/null is written in place, and two outputs may share it). */
static char *file_place(const char *path) {
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) return NULL;
    const char *slash = strrchr(path, '/');
    char *dir = slash ? dupn(path, slash == path ? 1 : (size_t)(slash - path)) : dupn(".", 1);
    char *real = dir ? realpath(dir, NULL) : NULL;
    const char *name = slash ? slash + 1 : path;
    char *place = real ? malloc(strlen(real) + strlen(name) + 2) : NULL;
    if (place) sprintf(place, "%s/%s", real, name);
    free(dir), free(real);
    return place;
}

/* Whether two output paths name one regular file, existing or to be made. */
static int same_file(const char *a, const char *b) {
    char *pa = file_place(a), *pb = file_place(b);
    const int same = pa && pb && !strcmp(pa, pb);
    free(pa), free(pb);
    return same;
}

/* Writes one item's hypotheses; NULL, or the stream whose write failed. */
static FILE *write_item(hyp *h, size_t k, const options *o, FILE *out, FILE *best, FILE *scores, size_t *next_best) {
    for (size_t i = 0; i < k; i++) {
        const double lm = o->lambda * h[i].lm + o->bonus * (double)h[i].n;
        h[i].fresh = o->costs ? -(h[i].score - lm) : h[i].score + lm;  /* sorted as "higher is better" */
    }
    qsort(h, k, sizeof *h, by_new_score);
    for (size_t i = 0; i < k; i++) {
        const double shown = o->costs ? -h[i].fresh : h[i].fresh;
        if (o->kaldi) {
            if (fprintf(out, "%s%s%s\n", h[i].id, h[i].words[0] ? " " : "", h[i].words) < 0) return out;
            if (scores && fprintf(scores, "%s %.6f\n", h[i].id, shown) < 0) return scores;
        } else if (fprintf(out, "%s ||| %s ||| %s%sLM= %.6f ||| %.6f%s\n", h[i].id, h[i].words, h[i].rest,
                           h[i].rest[0] ? " " : "", h[i].lm, shown, h[i].tail) < 0) {
            return out;
        }
    }
    if (!best) return NULL;
    if (o->kaldi) {
        const char *dash = strrchr(h[0].id, '-');
        return fprintf(best, "%.*s%s%s\n", (int)(dash - h[0].id), h[0].id, h[0].words[0] ? " " : "", h[0].words) < 0
                   ? best
                   : NULL;
    }
    for (; *next_best < h[0].item; ++*next_best)  /* sentences without hypotheses: empty lines */
        if (fputc('\n', best) == EOF) return best;
    ++*next_best;
    return fprintf(best, "%s\n", h[0].words) < 0 ? best : NULL;
}

int cmd_rescore(int argc, char **argv) {
    const char *model = NULL, *output = NULL, *best_path = NULL, *scores_out = NULL, *format = "moses";
    options o = {.lambda = 1.0f};
    int batch = 1024, threads = 2, bf16 = 0, ok = 1, c;
    enum { OPT_NBEST = 1000, OPT_FORMAT, OPT_SCORES, OPT_COSTS, OPT_LAMBDA, OPT_BONUS, OPT_BEST, OPT_SCORES_OUT };
    static const struct option opts[] = {
        {"model", required_argument, 0, OPT_MODEL},   {"nbest", required_argument, 0, OPT_NBEST},
        {"format", required_argument, 0, OPT_FORMAT}, {"scores", required_argument, 0, OPT_SCORES},
        {"costs", no_argument, 0, OPT_COSTS},         {"lambda", required_argument, 0, OPT_LAMBDA},
        {"word-bonus", required_argument, 0, OPT_BONUS}, {"output", required_argument, 0, OPT_OUTPUT},
        {"best", required_argument, 0, OPT_BEST},     {"output-scores", required_argument, 0, OPT_SCORES_OUT},
        {"batch", required_argument, 0, OPT_BATCH},   {"threads", required_argument, 0, OPT_THREADS},
        {"bf16", no_argument, 0, OPT_BF16},           {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    optind = 1;
    while (ok && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_MODEL: model = optarg; break;
        case OPT_NBEST: o.nbest_path = optarg; break;
        case OPT_FORMAT: format = optarg; break;
        case OPT_SCORES: o.scores_path = optarg; break;
        case OPT_COSTS: o.costs = 1; break;
        case OPT_LAMBDA: ok = parse_float("lambda", optarg, &o.lambda); break;
        case OPT_BONUS: ok = parse_float("word-bonus", optarg, &o.bonus); break;
        case OPT_OUTPUT: output = optarg; break;
        case OPT_BEST: best_path = optarg; break;
        case OPT_SCORES_OUT: scores_out = optarg; break;
        case OPT_BATCH: ok = parse_int("batch", optarg, 1, 4096, &batch); break;
        case OPT_THREADS: ok = parse_int("threads", optarg, 1, 1024, &threads); break;
        case OPT_BF16: bf16 = 1; break;
        case 'h': rescore_usage(stdout); return finish_stdout(0);
        default: fprintf(stderr, "Try '%s rescore --help'.\n", prog); return 2;
        }
    }
    if (!ok) return 2;
    if (optind < argc) { report("rescore: unexpected argument \"%s\" (see --help)", argv[optind]); return 2; }
    if (!model || !o.nbest_path) { report("rescore: --model and --nbest are required (see --help)"); return 2; }
    if (strcmp(format, "moses") && strcmp(format, "kaldi")) {
        report("rescore: --format is moses or kaldi, not \"%s\"", format);
        return 2;
    }
    o.kaldi = !strcmp(format, "kaldi");
    if (o.kaldi != (o.scores_path != NULL)) {
        report(o.kaldi ? "rescore: --format kaldi needs --scores FILE (the lists' acoustic and LM costs)"
                       : "rescore: --scores FILE is for --format kaldi");
        return 2;
    }
    if ((o.costs || scores_out) && !o.kaldi) { report("rescore: --costs and --output-scores are for --format kaldi"); return 2; }
    if (input_file(o.nbest_path) < 0 || (o.scores_path && input_file(o.scores_path) < 0)) return 1;
    const char *outs[3] = {output, best_path, scores_out};  /* each output its own file: none replaces another */
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (outs[i] && outs[j] && same_file(outs[i], outs[j])) {
                report("rescore: %s is given for two outputs (--output, --best, --output-scores)", outs[j]);
                return 2;
            }

    lm_set_threads(threads);
    lm_error err;
    lm_model *m = NULL;
    lm_vocab *v = NULL;
    FILE *in = NULL, *sin = NULL;
    out_file fo = {0}, fb = {0}, fs = {0};
    FILE *out = stdout;
    hyp *h = NULL;
    size_t nh = 0, cap_h = 0, line_no = 0, next_best = 0, items = 0, kept = 0;
    char *line = NULL, *sline = NULL;
    size_t cap = 0, scap = 0;
    tree t = {0};
    char *last_utt = NULL;   /* kaldi: the utterance being read */
    size_t last_item = 0;    /* moses: the last sentence number read */
    size_t utt = 0;          /* kaldi: the index of the utterance being read */
    size_t item_start = 0;   /* h[item_start..nh): the item being read */
    int rc = 1;
    if (lm_checkpoint_load(&m, &v, NULL, model, threads, &err) != LM_OK) { report("%s", err.msg); goto out; }
    if (!check_task(model, m, LM_TASK_LM)) goto out;
    if (lm_model_set_bf16(m, bf16, &err) != LM_OK) { report("%s", err.msg); goto out; }
    o.v = v;
    if (!(in = fopen(o.nbest_path, "rb"))) { report("%s: %s", o.nbest_path, strerror(errno)); goto out; }
    if (o.scores_path && !(sin = fopen(o.scores_path, "rb"))) { report("%s: %s", o.scores_path, strerror(errno)); goto out; }
    if (output) {
        if (!out_file_open(&fo, output)) goto out;
        out = fo.f;
    }
    if (best_path && !out_file_open(&fb, best_path)) goto out;
    if (scores_out && !out_file_open(&fs, scores_out)) goto out;
    for (;;) {
        errno = 0;
        ssize_t len = getline(&line, &cap, in);
        if (len < 0 && ferror(in)) { report("%s: read error: %s", o.nbest_path, strerror(errno ? errno : EIO)); goto out; }
        hyp cur = {0};
        int have = 0;
        if (len >= 0) {
            line_no++;
            if (memchr(line, '\0', (size_t)len)) { report("%s:%zu: NUL byte (binary data?)", o.nbest_path, line_no); goto out; }
            if (o.kaldi) {
                ssize_t sl = getline(&sline, &scap, sin);
                if (sl < 0) {
                    report("%s: %zu lines, %s has more", o.scores_path, line_no - 1, o.nbest_path);
                    goto out;
                }
                if (!parse_kaldi(&cur, line, (size_t)len, sline, (size_t)sl, &o, line_no)) { hyp_free(&cur); goto out; }
                const char *dash = strrchr(cur.id, '-');
                const size_t ul = (size_t)(dash - cur.id);
                int same = last_utt && strlen(last_utt) == ul && !memcmp(last_utt, cur.id, ul);
                if (!same) {
                    if (last_utt) utt++;
                    free(last_utt);
                    if (!(last_utt = dupn(cur.id, ul))) { hyp_free(&cur); report("out of memory"); goto out; }
                }
                cur.item = utt;
            } else if (!parse_moses(&cur, line, (size_t)len, &o, line_no)) {
                hyp_free(&cur);
                goto out;
            }
            have = 1;
            if (!o.kaldi && line_no > 1 && cur.item < last_item) {
                report("%s:%zu: sentence %zu after sentence %zu: the list must be grouped in increasing order",
                       o.nbest_path, line_no, cur.item, last_item);
                hyp_free(&cur);
                goto out;
            }
            last_item = cur.item;
        } else if (o.kaldi && getline(&sline, &scap, sin) >= 0) {
            report("%s: more lines than the %zu of %s", o.scores_path, line_no, o.nbest_path);
            goto out;
        }
        const int item_ends = nh && (!have || cur.item != h[nh - 1].item);
        if (item_ends && (!have || nh >= (size_t)batch)) {  /* a group of whole items is complete */
            if (!score_group(&t, h, nh, m, v, batch)) { hyp_free(&cur); goto out; }
            for (size_t s0 = 0, s1; s0 < nh; s0 = s1) {
                for (s1 = s0 + 1; s1 < nh && h[s1].item == h[s0].item; s1++) {}
                FILE *bad = write_item(h + s0, s1 - s0, &o, out, fb.f, fs.f, &next_best);
                if (bad) {
                    hyp_free(&cur);
                    report("error writing %s: %s",
                           bad == fb.f ? best_path : bad == fs.f ? scores_out : output ? output : "standard output",
                           strerror(errno));
                    goto out;
                }
                items++;
            }
            kept += nh;
            for (size_t i = 0; i < nh; i++) hyp_free(&h[i]);
            nh = 0;
        }
        if (!have) break;
        if (nh == 0 || item_ends) item_start = nh;
        if (nh == cap_h) {
            size_t nc = cap_h ? 2 * cap_h : 64;
            hyp *g = realloc(h, nc * sizeof *g);
            if (!g) { hyp_free(&cur); report("out of memory"); goto out; }
            h = g, cap_h = nc;
        }
        cur.order = nh - item_start;  /* ties keep the list's order */
        h[nh++] = cur;
    }
    if (!out_file_commit_all((out_file *const[]){&fo, &fb, &fs}, 3)) goto out;
    fprintf(stderr, "%s: %zu hypotheses of %zu items; %zu steps for %zu words and <eos> (shared prefixes)\n", prog,
            kept, items, t.steps, t.words);
    rc = 0;
out:
    free(last_utt);
    out_file_abort(&fo), out_file_abort(&fb), out_file_abort(&fs);
    for (size_t i = 0; i < nh; i++) hyp_free(&h[i]);
    free(h), free(line), free(sline), free(t.nodes);
    for (int q = 0; q < 2; q++) {
        for (size_t i = 0; i < t.pool_n[q]; i++) lm_state_free(t.pool[q][i]);
        free(t.pool[q]);
    }
    if (in) fclose(in);
    if (sin) fclose(sin);
    lm_model_free(m), lm_vocab_free(v);
    return finish_stdout(rc);
}

/* Corpus BLEU-4 (Papineni et al. 2002) exactly as Moses' multi-bleu.perl
 * computes it for one reference: per sentence, n-gram counts of the
 * hypothesis clipped by the reference's; sums over the corpus; geometric mean
 * of the four precisions times the brevity penalty. Tokens are separated by
 * white space. */
#include "internal.h"
#include "text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* An n-gram: its tokens' hash and its first token and length, compared
 * token by token on hash collision. */
typedef struct {
    uint64_t hash;
    const char *const *tok;
    int n;
    int count;   /* in the hypothesis */
    int ref;     /* in the reference */
} ngram;

static uint64_t hash_tokens(const char *const *tok, int n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < n; i++) {
        for (const char *s = tok[i]; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
        h = (h ^ 0xff) * 0x100000001b3ULL;  /* token boundary */
    }
    return h;
}

static int same(const ngram *g, const char *const *tok, int n) {
    if (g->n != n) return 0;
    for (int i = 0; i < n; i++)
        if (strcmp(g->tok[i], tok[i]) != 0) return 0;
    return 1;
}

/* Split a line into tokens (pointers into copy, which is modified). */
static size_t tokenize(char *copy, const char **tok, size_t cap) {
    size_t n = 0;
    char *save = NULL;
    for (char *w = strtok_r(copy, " \t\r\n", &save); w && n < cap; w = strtok_r(NULL, " \t\r\n", &save)) tok[n++] = w;
    return n;
}

/* Find or add the n-gram in an open-addressing table of 2^k slots. */
static ngram *lookup(ngram *tab, size_t mask, const char *const *tok, int n, int add) {
    uint64_t h = hash_tokens(tok, n);
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        if (!tab[i].tok) {
            if (!add) return NULL;
            tab[i] = (ngram){h, tok, n, 0, 0};
            return &tab[i];
        }
        if (tab[i].hash == h && same(&tab[i], tok, n)) return &tab[i];
    }
}

lm_status lm_bleu_lines(lm_bleu *out, const char *const *hyp, const char *const *ref, size_t n_lines, lm_error *err) {
    memset(out, 0, sizeof *out);
    lm_status st = LM_OK;
    for (size_t s = 0; s < n_lines && st == LM_OK; s++) {
        size_t lh = strlen(hyp[s]), lr = strlen(ref[s]);
        char *ch = malloc(lh + 1), *cr = malloc(lr + 1);
        const char **th = malloc((lh / 2 + 1) * sizeof *th), **tr = malloc((lr / 2 + 1) * sizeof *tr);
        size_t cap = 16;
        while (cap < 8 * (lh / 2 + lr / 2 + 2)) cap *= 2;
        ngram *tab = calloc(cap, sizeof *tab);
        if (!ch || !cr || !th || !tr || !tab) { st = lm_fail(err, LM_ENOMEM, "out of memory"); goto next; }
        memcpy(ch, hyp[s], lh + 1), memcpy(cr, ref[s], lr + 1);
        size_t nh = tokenize(ch, th, lh / 2 + 1), nr = tokenize(cr, tr, lr / 2 + 1);
        if (nr == 0) { st = lm_fail(err, LM_EDATA, "reference line %zu is empty", s + 1); goto next; }
        out->hyp_len += nh, out->ref_len += nr;
        for (int n = 1; n <= 4; n++) {
            for (size_t i = 0; i + (size_t)n <= nr; i++) lookup(tab, cap - 1, tr + i, n, 1)->ref++;
            for (size_t i = 0; i + (size_t)n <= nh; i++) lookup(tab, cap - 1, th + i, n, 1)->count++;
        }
        for (size_t i = 0; i < cap; i++)
            if (tab[i].tok && tab[i].count) {
                out->totals[tab[i].n - 1] += (size_t)tab[i].count;
                out->matches[tab[i].n - 1] += (size_t)(tab[i].count < tab[i].ref ? tab[i].count : tab[i].ref);
            }
    next:
        free(ch), free(cr), free(th), free(tr), free(tab);
    }
    if (st != LM_OK) return st;
    double log_sum = 0;
    int zero = 0;
    for (int n = 0; n < 4; n++) {
        out->precision[n] = out->totals[n] ? (double)out->matches[n] / (double)out->totals[n] : 0.0;
        if (out->precision[n] == 0.0) zero = 1;
        else log_sum += log(out->precision[n]);
    }
    out->brevity_penalty = out->hyp_len == 0 ? 0.0
                           : out->hyp_len < out->ref_len ? exp(1.0 - (double)out->ref_len / (double)out->hyp_len)
                                                         : 1.0;
    out->bleu = zero ? 0.0 : out->brevity_penalty * exp(log_sum / 4.0);
    return LM_OK;
}

/* Lines of a file (without their newlines), NUL bytes and bad UTF-8 rejected. */
static lm_status read_lines(const char *path, char **buf_out, char ***lines_out, size_t *n_out, lm_error *err) {
    char *buf;
    size_t n;
    lm_status st = lm_text_load(path, &buf, &n, err);
    if (st != LM_OK) return st;
    size_t count = 0;
    for (size_t i = 0; i < n; i++) count += buf[i] == '\n';
    if (n && buf[n - 1] != '\n') count++;
    char **lines = malloc((count + 1) * sizeof *lines);
    if (!lines) { free(buf); return lm_fail(err, LM_ENOMEM, "out of memory"); }
    char *p = buf;
    for (size_t k = 0; k < count; k++) {
        lines[k] = p;
        char *nl = strchr(p, '\n');
        if (!nl) break;
        *nl = '\0';
        p = nl + 1;
    }
    *buf_out = buf, *lines_out = lines, *n_out = count;
    return LM_OK;
}

lm_status lm_bleu_files(lm_bleu *out, const char *hyp_path, const char *ref_path, lm_error *err) {
    char *hb = NULL, *rb = NULL, **hl = NULL, **rl = NULL;
    size_t nh = 0, nr = 0;
    lm_status st = read_lines(hyp_path, &hb, &hl, &nh, err);
    if (st == LM_OK) st = read_lines(ref_path, &rb, &rl, &nr, err);
    if (st == LM_OK && nh != nr)
        st = lm_fail(err, LM_EDATA, "%s has %zu lines but %s has %zu: hypotheses and references must align", hyp_path,
                     nh, ref_path, nr);
    if (st == LM_OK && nr == 0) st = lm_fail(err, LM_EDATA, "%s is empty", ref_path);
    if (st == LM_OK) {
        st = lm_bleu_lines(out, (const char *const *)hl, (const char *const *)rl, nh, err);
        if (st == LM_EDATA) {
            lm_error inner = *err;
            st = lm_fail(err, LM_EDATA, "%s: %s", ref_path, inner.msg);
        }
    }
    free(hb), free(rb), free(hl), free(rl);
    return st;
}

/* Corpus BLEU-4 (Papineni et al. 2002) exactly as Moses' multi-bleu.perl
 * computes it, against one or several references per sentence: per
 * sentence, n-gram counts of the hypothesis clipped by the most any one
 * reference holds, and the length of the reference closest in length; sums
 * over the corpus; geometric mean of the four precisions times the brevity
 * penalty. Tokens are separated by white space. */
#include "internal.h"
#include "rng.h"
#include "text.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A distinct n-gram of the hypothesis, in a table that holds one order n at
 * a time: the index of its first hypothesis token, a tag (the high half of
 * its hash, compared before the tokens), its count in the hypothesis, in the
 * reference being read and the most in any reference so far. hyp == 0 marks
 * an empty slot. Two slots per hypothesis token. */
typedef struct {
    uint32_t tag;
    uint32_t first;
    uint32_t hyp;
    uint32_t ref;
    uint32_t best;
} ngram;

static const char delims[] = " \t\r\n\v\f";  /* what separates tokens: text.c's white space, as Perl's split */

static uint64_t hash_tokens(const char *const *tok, int n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < n; i++) {
        for (const char *s = tok[i]; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
        h = (h ^ 0xff) * 0x100000001b3ULL;  /* token boundary */
    }
    return h;
}

static int same(const char *const *a, const char *const *b, int n) {
    for (int i = 0; i < n; i++)
        if (strcmp(a[i], b[i]) != 0) return 0;
    return 1;
}

/* Number of tokens of s: maximal runs of bytes not in delims. */
static size_t count_tokens(const char *s) {
    size_t n = 0;
    for (s += strspn(s, delims); *s; s += strspn(s, delims)) {
        n++;
        s += strcspn(s, delims);
    }
    return n;
}

/* Split a line into tokens (pointers into copy, which is modified). */
static size_t tokenize(char *copy, const char **tok, size_t cap) {
    size_t n = 0;
    char *save = NULL;
    for (char *w = strtok_r(copy, delims, &save); w && n < cap; w = strtok_r(NULL, delims, &save)) tok[n++] = w;
    return n;
}

/* The slot of the n-gram tok[0..n) (hash h) in a table of cap slots over the
 * hypothesis tokens th: the slot holding it, or the empty slot where it
 * belongs. The table is never full (load <= 1/2), so the probe ends. */
static ngram *find(ngram *tab, size_t cap, const char *const *th, const char *const *tok, int n, uint64_t h) {
    const uint32_t tag = (uint32_t)(h >> 32);
    for (size_t i = (size_t)(h % cap);; i = i + 1 == cap ? 0 : i + 1) {
        ngram *g = &tab[i];
        if (!g->hyp || (g->tag == tag && same(th + g->first, tok, n))) return g;
    }
}

/* Add the order-n counts of one hypothesis against its k references to c,
 * with tab (room for at least 2 nh + 1 slots) as scratch: each hypothesis
 * n-gram matches at most as often as it occurs in the one reference that
 * holds it most (multi-bleu.perl's clipping). Only hypothesis n-grams enter
 * the table: a reference n-gram absent from the hypothesis matches nothing. */
static void order_counts(lm_bleu *c, ngram *tab, const char *const *th, size_t nh, const char *const *const *tr,
                         const size_t *nr, int k, int n) {
    const size_t un = (size_t)n;
    if (nh < un) return;
    c->totals[n - 1] += nh - un + 1;
    const size_t cap = 2 * (nh - un + 1) + 1;  /* distinct hypothesis n-grams <= nh - n + 1: load <= 1/2 */
    memset(tab, 0, cap * sizeof *tab);
    for (size_t i = 0; i + un <= nh; i++) {
        const uint64_t h = hash_tokens(th + i, n);
        ngram *g = find(tab, cap, th, th + i, n, h);
        if (!g->hyp) g->tag = (uint32_t)(h >> 32), g->first = (uint32_t)i;
        g->hyp++;
    }
    for (int j = 0; j < k; j++) {
        if (nr[j] < un) continue;
        for (size_t i = 0; i < cap; i++) tab[i].ref = 0;
        for (size_t i = 0; i + un <= nr[j]; i++) {
            ngram *g = find(tab, cap, th, tr[j] + i, n, hash_tokens(tr[j] + i, n));
            if (g->hyp) g->ref++;
        }
        for (size_t i = 0; i < cap; i++)
            if (tab[i].ref > tab[i].best) tab[i].best = tab[i].ref;
    }
    for (size_t i = 0; i < cap; i++)
        if (tab[i].hyp) c->matches[n - 1] += tab[i].hyp < tab[i].best ? tab[i].hyp : tab[i].best;
}

/* Counts of one hypothesis against its k references into c (added to what
 * is there); the reference length is that of the reference closest in length
 * to the hypothesis, the shorter on a tie (multi-bleu.perl). Memory: copies
 * of the lines, a pointer per token and 20 bytes per table slot, about
 * lh + sum lr + 8 (nh + sum nr) + 40 nh bytes. */
static lm_status sentence_counts(lm_bleu *c, const char *hyp, const char *const *ref, int k, size_t line,
                                 lm_error *err) {
    lm_status st = LM_OK;
    enum { MAX_REFS = 64 };
    if (k < 1 || k > MAX_REFS) return lm_fail(err, LM_EARG, "BLEU takes 1 to %d references (got %d)", MAX_REFS, k);
    const size_t nh = count_tokens(hyp), lh = strlen(hyp);
    size_t nr[MAX_REFS], closest = 0;
    char *ch = NULL, *cr[MAX_REFS] = {0};
    const char **th = NULL, **tr[MAX_REFS] = {0};
    for (int j = 0; j < k; j++) {
        nr[j] = count_tokens(ref[j]);
        if (nr[j] == 0) return lm_fail(err, LM_EDATA, "reference line %zu is empty", line);
        if (nr[j] > UINT32_MAX) return lm_fail(err, LM_EDATA, "line %zu has more than %lu tokens", line, (unsigned long)UINT32_MAX);
        const size_t diff = nr[j] > nh ? nr[j] - nh : nh - nr[j], best = closest > nh ? closest - nh : nh - closest;
        if (j == 0 || diff < best || (diff == best && nr[j] < closest)) closest = nr[j];
    }
    if (nh > UINT32_MAX) return lm_fail(err, LM_EDATA, "line %zu has more than %lu tokens", line, (unsigned long)UINT32_MAX);
    ngram *tab = malloc((2 * nh + 1) * sizeof *tab);
    ch = malloc(lh + 1), th = malloc((nh + 1) * sizeof *th);
    if (!tab || !ch || !th) { st = lm_fail(err, LM_ENOMEM, "out of memory"); goto out; }
    for (int j = 0; j < k; j++) {
        const size_t lr = strlen(ref[j]);
        if (!(cr[j] = malloc(lr + 1)) || !(tr[j] = malloc(nr[j] * sizeof *tr[j]))) {
            st = lm_fail(err, LM_ENOMEM, "out of memory");
            goto out;
        }
        memcpy(cr[j], ref[j], lr + 1);
        tokenize(cr[j], tr[j], nr[j]);
    }
    memcpy(ch, hyp, lh + 1);
    tokenize(ch, th, nh);
    c->hyp_len += nh, c->ref_len += closest;
    for (int n = 1; n <= 4; n++) order_counts(c, tab, th, nh, (const char *const *const *)tr, nr, k, n);
out:
    for (int j = 0; j < k; j++) free(cr[j]), free(tr[j]);
    free(ch), free(th), free(tab);
    return st;
}

/* t's counts += s's counts */
static void add_counts(lm_bleu *t, const lm_bleu *s) {
    for (int g = 0; g < 4; g++) t->matches[g] += s->matches[g], t->totals[g] += s->totals[g];
    t->hyp_len += s->hyp_len, t->ref_len += s->ref_len;
}

void lm_bleu_finish(lm_bleu *b) {
    double log_sum = 0;
    int zero = 0;
    for (int n = 0; n < 4; n++) {
        b->precision[n] = b->totals[n] ? (double)b->matches[n] / (double)b->totals[n] : 0.0;
        if (b->precision[n] == 0.0) zero = 1;
        else log_sum += log(b->precision[n]);
    }
    b->brevity_penalty = b->hyp_len == 0 ? 0.0
                         : b->hyp_len < b->ref_len ? exp(1.0 - (double)b->ref_len / (double)b->hyp_len)
                                                   : 1.0;
    b->bleu = zero ? 0.0 : b->brevity_penalty * exp(log_sum / 4.0);
}

lm_status lm_bleu_sentences_multi(lm_bleu *per, const char *const *hyp, const char *const *const *refs, int k,
                                  size_t n_lines, lm_error *err) {
    const char *r[64];
    if (k < 1 || k > 64) return lm_fail(err, LM_EARG, "BLEU takes 1 to 64 references (got %d)", k);
    for (size_t s = 0; s < n_lines; s++) {
        memset(&per[s], 0, sizeof per[s]);
        for (int j = 0; j < k; j++) r[j] = refs[j][s];
        lm_status st = sentence_counts(&per[s], hyp[s], r, k, s + 1, err);
        if (st != LM_OK) return st;
    }
    return LM_OK;
}

lm_status lm_bleu_sentences(lm_bleu *per, const char *const *hyp, const char *const *ref, size_t n_lines,
                            lm_error *err) {
    return lm_bleu_sentences_multi(per, hyp, &ref, 1, n_lines, err);
}

lm_status lm_bleu_lines_multi(lm_bleu *out, const char *const *hyp, const char *const *const *refs, int k,
                              size_t n_lines, lm_error *err) {
    memset(out, 0, sizeof *out);
    lm_bleu *per = malloc((n_lines ? n_lines : 1) * sizeof *per);
    if (!per) return lm_fail(err, LM_ENOMEM, "out of memory");
    lm_status st = lm_bleu_sentences_multi(per, hyp, refs, k, n_lines, err);
    if (st == LM_OK) lm_bleu_sum(out, per, n_lines);
    free(per);
    return st;
}

lm_status lm_bleu_lines(lm_bleu *out, const char *const *hyp, const char *const *ref, size_t n_lines, lm_error *err) {
    return lm_bleu_lines_multi(out, hyp, &ref, 1, n_lines, err);
}

static int by_value(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

lm_status lm_bleu_bootstrap(const lm_bleu *a, const lm_bleu *b, size_t n, int samples, uint64_t seed,
                            lm_bleu_resampled *out, lm_error *err) {
    if (n == 0 || samples < 1) return lm_fail(err, LM_EARG, "bootstrap needs sentences and at least one sample");
    double *va = malloc((size_t)samples * sizeof *va), *vd = malloc((size_t)samples * sizeof *vd);
    if (!va || !vd) {
        free(va), free(vd);
        return lm_fail(err, LM_ENOMEM, "out of memory");
    }
    lm_rng rng;
    lm_rng_seed(&rng, seed);
    int wins = 0;
    for (int k = 0; k < samples; k++) {
        lm_bleu sa, sb;
        memset(&sa, 0, sizeof sa), memset(&sb, 0, sizeof sb);
        for (size_t i = 0; i < n; i++) {  /* n sentences drawn with replacement, the same for both systems */
            const size_t j = (size_t)(lm_rng_next(&rng) % n);
            add_counts(&sa, &a[j]);
            if (b) add_counts(&sb, &b[j]);
        }
        lm_bleu_finish(&sa);
        va[k] = sa.bleu;
        if (b) {
            lm_bleu_finish(&sb);
            vd[k] = sa.bleu - sb.bleu;
            wins += sa.bleu > sb.bleu;
        }
    }
    qsort(va, (size_t)samples, sizeof *va, by_value);
    const size_t lo = (size_t)(0.025 * (samples - 1) + 0.5), hi = (size_t)(0.975 * (samples - 1) + 0.5);
    out->lo = va[lo], out->hi = va[hi];
    out->diff_lo = out->diff_hi = out->win = 0;
    if (b) {
        qsort(vd, (size_t)samples, sizeof *vd, by_value);
        out->diff_lo = vd[lo], out->diff_hi = vd[hi];
        out->win = (double)wins / samples;
    }
    free(va), free(vd);
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

lm_status lm_bleu_files_sentences_multi(lm_bleu **per, size_t *n, const char *hyp_path,
                                        const char *const *ref_paths, int k, lm_error *err) {
    char *hb = NULL, *rb[64] = {0}, **hl = NULL, **rl[64] = {0};
    size_t nh = 0, nr = 0;
    *per = NULL, *n = 0;
    if (k < 1 || k > 64) return lm_fail(err, LM_EARG, "BLEU takes 1 to 64 references (got %d)", k);
    lm_status st = read_lines(hyp_path, &hb, &hl, &nh, err);
    for (int j = 0; j < k && st == LM_OK; j++) {
        st = read_lines(ref_paths[j], &rb[j], &rl[j], &nr, err);
        if (st == LM_OK && nh != nr)
            st = lm_fail(err, LM_EDATA, "%s has %zu lines but %s has %zu: hypotheses and references must align",
                         hyp_path, nh, ref_paths[j], nr);
        if (st == LM_OK && nr == 0) st = lm_fail(err, LM_EDATA, "%s is empty", ref_paths[j]);
    }
    lm_bleu *p = NULL;
    if (st == LM_OK && !(p = calloc(nh, sizeof *p))) st = lm_fail(err, LM_ENOMEM, "out of memory");
    if (st == LM_OK) {
        st = lm_bleu_sentences_multi(p, (const char *const *)hl, (const char *const *const *)rl, k, nh, err);
        if (st == LM_EDATA) {  /* an empty reference line: name the file */
            for (int j = 0; j < k; j++)
                for (size_t s = 0; s < nh; s++)
                    if (count_tokens(rl[j][s]) == 0) {
                        st = lm_fail(err, LM_EDATA, "%s: reference line %zu is empty", ref_paths[j], s + 1);
                        j = k;
                        break;
                    }
        }
    }
    if (st == LM_OK) *per = p, *n = nh;
    else free(p);
    free(hb), free(hl);
    for (int j = 0; j < k; j++) free(rb[j]), free(rl[j]);
    return st;
}

lm_status lm_bleu_files_sentences(lm_bleu **per, size_t *n, const char *hyp_path, const char *ref_path,
                                  lm_error *err) {
    return lm_bleu_files_sentences_multi(per, n, hyp_path, &ref_path, 1, err);
}

void lm_bleu_sum(lm_bleu *total, const lm_bleu *per, size_t n) {
    memset(total, 0, sizeof *total);
    for (size_t i = 0; i < n; i++) add_counts(total, &per[i]);
    lm_bleu_finish(total);
}

lm_status lm_bleu_files(lm_bleu *out, const char *hyp_path, const char *ref_path, lm_error *err) {
    lm_bleu *per;
    size_t n;
    lm_status st = lm_bleu_files_sentences(&per, &n, hyp_path, ref_path, err);
    if (st != LM_OK) return st;
    lm_bleu_sum(out, per, n);
    free(per);
    return LM_OK;
}

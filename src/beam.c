/* Beam search over target words for translation: the source and "<sep>" are
 * read once; then each step extends every live hypothesis by every word,
 * keeps the `beam` best by log-probability, moves those ending in "<eos>" to
 * the finished list, and reorders the model's carried state to follow their
 * parents. Beam 1 is greedy decoding. */
#include "internal.h"
#include "model_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double logp;
    int parent;   /* live hypothesis it extends */
    int32_t word;
} candidate;

static int by_logp(const void *a, const void *b) {
    const candidate *x = a, *y = b;
    if (x->logp != y->logp) return x->logp > y->logp ? -1 : 1;
    if (x->parent != y->parent) return x->parent < y->parent ? -1 : 1;  /* deterministic ties */
    return x->word < y->word ? -1 : x->word > y->word;
}

/* Keep the m best candidates seen so far in a min-heap (worst at the root),
 * ordered as by_logp orders them; *n is the heap's size. */
static void heap_offer(candidate *heap, int *n, int m, candidate c) {
    if (*n == m) {
        if (by_logp(&c, &heap[0]) >= 0) return;  /* not better than the worst kept */
        heap[0] = heap[--*n];                     /* drop the worst, sift down */
        for (int i = 0;;) {
            int l = 2 * i + 1, r = l + 1, w = i;
            if (l < *n && by_logp(&heap[l], &heap[w]) > 0) w = l;
            if (r < *n && by_logp(&heap[r], &heap[w]) > 0) w = r;
            if (w == i) break;
            candidate t = heap[i];
            heap[i] = heap[w], heap[w] = t, i = w;
        }
    }
    int i = (*n)++;  /* sift up */
    heap[i] = c;
    while (i > 0 && by_logp(&heap[i], &heap[(i - 1) / 2]) > 0) {
        candidate t = heap[i];
        heap[i] = heap[(i - 1) / 2], heap[(i - 1) / 2] = t, i = (i - 1) / 2;
    }
}

static double normalised(double logp, size_t len, float alpha) {
    return alpha > 0 ? logp / pow((double)(len ? len : 1), alpha) : logp;
}

lm_status lm_translate(lm_model *m, const int32_t *src, size_t n_src, const lm_beam_opts *o, int32_t *out, size_t cap,
                       size_t *n_out, double *logp_out, lm_error *err) {
    const int V = m->V, K = o->beam, eos = 0, sep = 1;  /* lm_pairs_vocab's ids */
    const size_t L = o->max_len;
    *n_out = 0, *logp_out = -INFINITY;
    if (lm_model_needs_words(m, "translation", err) != LM_OK) return LM_EARG;
    if (K < 1 || K > m->B_max) return lm_fail(err, LM_EARG, "beam must be 1..%d for this model", m->B_max);
    if (n_src == 0) return lm_fail(err, LM_EARG, "empty source");
    if (V < 3) return lm_fail(err, LM_EARG, "not a translation vocabulary");
    for (size_t i = 0; i < n_src; i++)
        if (src[i] < 0 || src[i] >= V) return lm_fail(err, LM_EARG, "source word id %d out of range", src[i]);
    const size_t chunk = (size_t)lm_model_read_chunk(m);  /* the source is read in windows of this many steps */
    lm_status st = lm_model_reserve_rows(m, chunk > (size_t)K ? chunk : (size_t)K, K, 0, err);
    if (st != LM_OK) return st;
    /* Live hypotheses: K rows of L words; finished ones keep their words too. */
    int32_t *live = calloc((size_t)K * (L + 1), sizeof *live), *next = calloc((size_t)K * (L + 1), sizeof *next);
    int32_t *best = calloc(L + 1, sizeof *best), *parents = calloc((size_t)K, sizeof *parents);
    int32_t *step = calloc((size_t)K, sizeof *step);
    int32_t *dummy = calloc(chunk > (size_t)K ? chunk : (size_t)K, sizeof *dummy);
    double *score = calloc((size_t)K, sizeof *score), *nscore = calloc((size_t)K, sizeof *nscore);
    candidate *cand = malloc(2 * (size_t)K * sizeof *cand);  /* the 2K best: at most K of them end in <eos> */
    float *z = malloc((size_t)V * sizeof *z);
    if (!live || !next || !best || !parents || !step || !dummy || !score || !nscore || !cand || !z) {
        st = lm_fail(err, LM_ENOMEM, "out of memory");
        goto done;
    }
    lm_model_reset_state(m, 1);
    size_t last = 0;
    for (size_t at = 0; at < n_src; at += last) {  /* read the source in windows the model holds */
        last = n_src - at < chunk ? n_src - at : chunk;
        lm_model_forward(m, src + at, dummy, (int)last, 1, 0);
    }
    int n_live = 1;
    size_t best_len = 0, best_finished = 0;
    double best_score = -INFINITY;
    for (size_t len = 0; len < L && n_live > 0; len++) {
        /* log-softmax of every live row's logits; rows of the last forward */
        int nc = 0;
        for (int h = 0; h < n_live; h++) {
            lm_model_logits_row(m, (len == 0 ? last - 1 : 0) * (size_t)n_live + (size_t)h, z);
            float mx = z[0];
            for (int j = 1; j < V; j++) mx = z[j] > mx ? z[j] : mx;
            double s = 0;
            for (int j = 0; j < V; j++) s += exp((double)(z[j] - mx));
            const double lse = mx + log(s);
            if (!isfinite(lse)) {  /* NaN or overflow: the ordering below needs numbers */
                st = lm_fail(err, LM_EDATA, "the model's scores are not finite numbers; it cannot translate");
                goto done;
            }
            for (int j = 0; j < V; j++)
                if (j != sep) heap_offer(cand, &nc, 2 * K, (candidate){score[h] + (double)z[j] - lse, h, j});
        }
        qsort(cand, (size_t)nc, sizeof *cand, by_logp);  /* best first */
        int kept = 0;
        for (int c = 0; c < nc && kept < K; c++) {
            const candidate *cd = &cand[c];
            if (cd->word == eos) {  /* a finished hypothesis of len words */
                double ns = normalised(cd->logp, len, o->length_norm);
                if (!best_finished || ns > best_score) {
                    best_score = ns, best_len = len, *logp_out = cd->logp;
                    memcpy(best, live + (size_t)cd->parent * (L + 1), len * sizeof *best);
                }
                best_finished++;
                continue;
            }
            memcpy(next + (size_t)kept * (L + 1), live + (size_t)cd->parent * (L + 1), len * sizeof *next);
            next[(size_t)kept * (L + 1) + len] = cd->word;
            nscore[kept] = cd->logp;
            parents[kept++] = cd->parent;
        }
        /* Stop when no live hypothesis can still win: log-probabilities only
         * fall as words are added, so a live one's best normalised completion
         * is at most logp / L^alpha (logp <= 0, length <= L). Exact search
         * within the beam, not a heuristic cut. */
        double bound = -INFINITY;
        for (int h = 0; h < kept; h++) bound = fmax(bound, normalised(nscore[h], L, o->length_norm));
        if (kept == 0 || (best_finished && best_score >= bound)) { n_live = 0; break; }
        int32_t *t = live;
        live = next, next = t;
        memcpy(score, nscore, (size_t)kept * sizeof *score);
        if ((st = lm_model_gather_state(m, parents, kept, err)) != LM_OK) goto done;
        n_live = kept;
        for (int h = 0; h < kept; h++) step[h] = live[(size_t)h * (L + 1) + len];
        lm_model_forward(m, step, dummy, 1, kept, 0);
        if (len + 1 == L && !best_finished) {  /* out of length: the best live one */
            best_len = L, *logp_out = score[0];
            memcpy(best, live, L * sizeof *best);
        }
    }
    *n_out = best_len < cap ? best_len : cap;
    memcpy(out, best, *n_out * sizeof *out);
done:
    free(live), free(next), free(best), free(parents), free(step), free(dummy), free(score), free(nscore), free(cand), free(z);
    return st;
}

/* Beam search over target words for translation and captions: the source
 * and "<sep>" (or the item's vector) are read once by each model of the
 * ensemble; then each step extends every live hypothesis by every word,
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

/* What a search starts from: a source sentence (translation) or a vector (captions). */
typedef struct {
    const int32_t *src;
    size_t n_src;
    const float *cond;
} prime_input;

/* Every model's state after reading the input, and the row of its last
 * forward whose logits predict the first word (*row). */
static lm_status prime(lm_model *m, const prime_input *in, int K, int32_t *dummy, size_t *row, lm_error *err) {
    const size_t chunk = (size_t)lm_model_read_chunk(m);  /* the source is read in windows of this many steps */
    lm_status st = lm_model_reserve_rows(m, chunk > (size_t)K ? chunk : (size_t)K, K, 0, err);
    if (st != LM_OK) return st;
    lm_model_reset_state(m, 1);
    if (in->cond) {  /* step 0 reads the vector (its word, <eos>, is a placeholder) */
        const int32_t x0 = 0;
        if (isnan(lm_model_forward_cond(m, in->cond, &x0, dummy, 1, 1, 0)))
            return lm_fail(err, LM_EARG, "the feature vector is not finite");
        *row = 0;
        return LM_OK;
    }
    size_t last = 0;
    for (size_t at = 0; at < in->n_src; at += last) {  /* read the source in windows the model holds */
        last = in->n_src - at < chunk ? in->n_src - at : chunk;
        lm_model_forward(m, in->src + at, dummy, (int)last, 1, 0);
    }
    *row = last - 1;
    return LM_OK;
}

/* The models of an ensemble must agree on what they read and emit. */
static lm_status check_models(lm_model *const *models, int k, const prime_input *in, int K, lm_error *err) {
    lm_status st = lm_ensemble_check(models, k, in->cond ? LM_TASK_CAPTION : LM_TASK_TRANSLATE,
                                     in->cond ? "captioning" : "translation", err);
    if (st != LM_OK) return st;
    for (int i = 0; i < k; i++) {
        if (K < 1 || K > models[i]->B_max)
            return lm_fail(err, LM_EARG, "beam must be 1..%d for model %d", models[i]->B_max, i + 1);
    }
    if (models[0]->V < 3) return lm_fail(err, LM_EARG, "not a translation or caption vocabulary");
    if (!in->cond) {
        if (in->n_src == 0) return lm_fail(err, LM_EARG, "empty source");
        for (size_t i = 0; i < in->n_src; i++)
            if (in->src[i] < 0 || in->src[i] >= models[0]->V)
                return lm_fail(err, LM_EARG, "source word id %d out of range", in->src[i]);
    }
    return LM_OK;
}

/* Next-word log-probabilities of live row `row` under the ensemble: the log
 * of the mean of the models' distributions (model averaging, SPEC.md
 * section 3), into lp (V). z is (V) scratch. */
static lm_status ensemble_logp(lm_model *const *models, int k, const size_t *rows, size_t h, int n_live, float *z,
                               double *lp, lm_error *err) {
    const int V = models[0]->V;
    for (int i = 0; i < k; i++) {
        lm_model_logits_row(models[i], rows ? rows[i] : h, z);
        (void)n_live;
        float mx = z[0];
        for (int j = 1; j < V; j++) mx = z[j] > mx ? z[j] : mx;
        double s = 0;
        for (int j = 0; j < V; j++) s += exp((double)(z[j] - mx));
        const double lse = mx + log(s);
        if (!isfinite(lse))  /* NaN or overflow: the ordering needs numbers */
            return lm_fail(err, LM_EDATA, "model %d's scores are not finite numbers; it cannot decode", i + 1);
        for (int j = 0; j < V; j++) {
            const double x = (double)z[j] - lse;
            if (i == 0) lp[j] = x;
            else {  /* log(exp(lp) + exp(x)), stably */
                const double hi = fmax(lp[j], x), lo = fmin(lp[j], x);
                lp[j] = hi + log1p(exp(lo - hi));
            }
        }
    }
    if (k > 1)
        for (int j = 0; j < V; j++) lp[j] -= log((double)k);
    return LM_OK;
}

/* The N best finished hypotheses so far, best first by normalised score
 * (ties: the first found stays ahead). words: N rows of L + 1. */
typedef struct {
    int N, n;
    int32_t *words;
    size_t *len;
    double *logp, *score;
} finished;

static void offer_finished(finished *f, size_t L, const int32_t *words, size_t len, double logp, double score) {
    if (f->n == f->N && !(score > f->score[f->n - 1])) return;
    int at = f->n < f->N ? f->n++ : f->n - 1;  /* the slot it takes, then moved up */
    for (; at > 0 && score > f->score[at - 1]; at--) {
        memcpy(f->words + (size_t)at * (L + 1), f->words + (size_t)(at - 1) * (L + 1), f->len[at - 1] * sizeof *words);
        f->len[at] = f->len[at - 1], f->logp[at] = f->logp[at - 1], f->score[at] = f->score[at - 1];
    }
    memcpy(f->words + (size_t)at * (L + 1), words, len * sizeof *words);
    f->len[at] = len, f->logp[at] = logp, f->score[at] = score;
}

/* Beam search; the N (1..beam) best hypotheses into fin (N rows of its
 * words, lengths, log-probabilities and scores; fin->n of them found). */
static lm_status beam_search(lm_model *const *models, int k, const prime_input *in, const lm_beam_opts *o,
                             finished *fin, lm_error *err) {
    const int K = o->beam, eos = 0, sep = 1;  /* lm_pairs_vocab's ids */
    const size_t L = o->max_len;
    fin->n = 0;
    lm_status st = check_models(models, k, in, K, err);
    if (st != LM_OK) return st;
    if (fin->N < 1 || fin->N > K) return lm_fail(err, LM_EARG, "n-best must be 1..beam (%d)", K);
    const int V = models[0]->V;
    size_t max_chunk = (size_t)K;
    for (int i = 0; i < k; i++)
        if ((size_t)lm_model_read_chunk(models[i]) > max_chunk) max_chunk = (size_t)lm_model_read_chunk(models[i]);
    /* Live hypotheses: K rows of L words; finished ones keep their words too. */
    int32_t *live = calloc((size_t)K * (L + 1), sizeof *live), *next = calloc((size_t)K * (L + 1), sizeof *next);
    int32_t *parents = calloc((size_t)K, sizeof *parents);
    int32_t *step = calloc((size_t)K, sizeof *step);
    int32_t *dummy = calloc(max_chunk, sizeof *dummy);
    double *score = calloc((size_t)K, sizeof *score), *nscore = calloc((size_t)K, sizeof *nscore);
    candidate *cand = malloc(2 * (size_t)K * sizeof *cand);  /* the 2K best: at most K of them end in <eos> */
    float *z = malloc((size_t)V * sizeof *z);
    double *lp = malloc((size_t)V * sizeof *lp);
    size_t *first_rows = malloc((size_t)k * sizeof *first_rows);
    if (!live || !next || !parents || !step || !dummy || !score || !nscore || !cand || !z || !lp ||
        !first_rows) {
        st = lm_fail(err, LM_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < k; i++)
        if ((st = prime(models[i], in, K, dummy, &first_rows[i], err)) != LM_OK) goto done;
    int n_live = 1;
    for (size_t len = 0; len < L && n_live > 0; len++) {
        int nc = 0;
        for (int h = 0; h < n_live; h++) {
            /* rows of each model's last forward: the priming one's last, then one step of n_live rows */
            if ((st = ensemble_logp(models, k, len == 0 ? first_rows : NULL, (size_t)h, n_live, z, lp, err)) != LM_OK)
                goto done;
            for (int j = 0; j < V; j++)
                if (j != sep) heap_offer(cand, &nc, 2 * K, (candidate){score[h] + lp[j], h, j});
        }
        qsort(cand, (size_t)nc, sizeof *cand, by_logp);  /* best first */
        int kept = 0;
        for (int c = 0; c < nc && kept < K; c++) {
            const candidate *cd = &cand[c];
            if (cd->word == eos) {  /* a finished hypothesis of len words */
                offer_finished(fin, L, live + (size_t)cd->parent * (L + 1), len, cd->logp,
                               normalised(cd->logp, len, o->length_norm));
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
        if (kept == 0 || (fin->n == fin->N && fin->score[fin->N - 1] >= bound)) { n_live = 0; break; }
        int32_t *t = live;
        live = next, next = t;
        memcpy(score, nscore, (size_t)kept * sizeof *score);
        n_live = kept;
        for (int h = 0; h < kept; h++) step[h] = live[(size_t)h * (L + 1) + len];
        for (int i = 0; i < k; i++) {
            if ((st = lm_model_gather_state(models[i], parents, kept, err)) != LM_OK) goto done;
            lm_model_forward(models[i], step, dummy, 1, kept, 0);
        }
        if (len + 1 == L && fin->n == 0)  /* out of length: the best live one */
            offer_finished(fin, L, live, L, score[0], normalised(score[0], L, o->length_norm));
    }
done:
    free(live), free(next), free(parents), free(step), free(dummy), free(score), free(nscore), free(cand);
    free(z), free(lp), free(first_rows);
    return st;
}

/* The search with the caller's n-best buffers, or (nbest == 1 and words ==
 * NULL) the one best into out[cap]. */
static lm_status search(lm_model *const *models, int k, const prime_input *in, const lm_beam_opts *o, int nbest,
                        int32_t *words, size_t *lens, double *logps, int *n_found, int32_t *out, size_t cap,
                        size_t *n_out, double *logp, lm_error *err) {
    if (!o) return lm_fail(err, LM_EARG, "no search options");
    const size_t L = o->max_len;
    if (L < 1 || L > LM_MAX_DECODE_LEN)
        return lm_fail(err, LM_EARG, "max_len must be 1..%d, not %zu", LM_MAX_DECODE_LEN, L);
    if (!(o->length_norm >= 0.0f && o->length_norm <= 100.0f))
        return lm_fail(err, LM_EARG, "length_norm must be 0..100");
    if (nbest < 1 || nbest > o->beam) return lm_fail(err, LM_EARG, "n-best must be 1..beam (%d)", o->beam);
    finished fin = {nbest, 0, malloc((size_t)nbest * (L + 1) * sizeof(int32_t)), malloc((size_t)nbest * sizeof(size_t)),
                    malloc((size_t)nbest * sizeof(double)), malloc((size_t)nbest * sizeof(double))};
    lm_status st = LM_OK;
    if (!fin.words || !fin.len || !fin.logp || !fin.score) st = lm_fail(err, LM_ENOMEM, "out of memory");
    if (st == LM_OK) st = beam_search(models, k, in, o, &fin, err);
    if (st == LM_OK && words) {
        for (int i = 0; i < fin.n; i++) {
            memcpy(words + (size_t)i * L, fin.words + (size_t)i * (L + 1), fin.len[i] * sizeof *words);
            lens[i] = fin.len[i], logps[i] = fin.logp[i];
        }
        *n_found = fin.n;
    } else if (st == LM_OK) {
        *n_out = fin.n ? (fin.len[0] < cap ? fin.len[0] : cap) : 0;
        *logp = fin.n ? fin.logp[0] : -INFINITY;
        if (*n_out) memcpy(out, fin.words, *n_out * sizeof *out);
    }
    free(fin.words), free(fin.len), free(fin.logp), free(fin.score);
    return st;
}

lm_status lm_translate(lm_model *m, const int32_t *src, size_t n_src, const lm_beam_opts *o, int32_t *out, size_t cap,
                       size_t *n_out, double *logp, lm_error *err) {
    const prime_input in = {src, n_src, NULL};
    *n_out = 0, *logp = -INFINITY;
    return search(&m, 1, &in, o, 1, NULL, NULL, NULL, NULL, out, cap, n_out, logp, err);
}

lm_status lm_translate_ensemble(lm_model *const *models, int k, const int32_t *src, size_t n_src,
                                const lm_beam_opts *o, int32_t *out, size_t cap, size_t *n_out, double *logp,
                                lm_error *err) {
    const prime_input in = {src, n_src, NULL};
    *n_out = 0, *logp = -INFINITY;
    return search(models, k, &in, o, 1, NULL, NULL, NULL, NULL, out, cap, n_out, logp, err);
}

lm_status lm_translate_nbest(lm_model *const *models, int k, const int32_t *src, size_t n_src, const lm_beam_opts *o,
                             int nbest, int32_t *words, size_t *lens, double *logps, int *n_found, lm_error *err) {
    const prime_input in = {src, n_src, NULL};
    *n_found = 0;
    return search(models, k, &in, o, nbest, words, lens, logps, n_found, NULL, 0, NULL, NULL, err);
}

lm_status lm_caption(lm_model *const *models, int k, const float *cond, const lm_beam_opts *o, int32_t *out,
                     size_t cap, size_t *n_out, double *logp, lm_error *err) {
    *n_out = 0, *logp = -INFINITY;
    if (!cond) return lm_fail(err, LM_EARG, "no feature vector");
    const prime_input in = {NULL, 0, cond};
    return search(models, k, &in, o, 1, NULL, NULL, NULL, NULL, out, cap, n_out, logp, err);
}

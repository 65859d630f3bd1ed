/* Streaming scoring: caller-owned states stepped one word at a time over a
 * shared, read-only model (the shape of KenLM's BaseScore, Kaldi's
 * RnnlmComputeState, rwkv.cpp's rwkv_eval). A state is the LSTM's (h, c) of
 * every layer; stepping a batch of states gathers them into the rows of one
 * window of T = 1, runs the same backend kernels as training and evaluation
 * (input products, lstm_layer_forward, the output product and softmax), and
 * scatters the new (h, c) back. Working memory is per calling thread, so
 * states of one model may be stepped from many threads at once. */
#include "internal.h"
#include "model_impl.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct lm_state {
    const lm_model *m;
    int32_t start;   /* "<eos>": sentence start = the zero state after reading it */
    float *hc;       /* (L, 2, n): h then c of each layer, backend memory */
    float *hc0;      /* (L, 2, n): the sentence-start state, for resets */
    float *logits;   /* (V) the next word's logits plus bias, when have_dist; allocated on first use
                      * (states stepped in batches never need it) */
    double lse;      /* log-sum-exp of logits, when have_dist */
    int have_dist;
};

/* ------------------------------------------------------------ thread scratch */

/* One window of up to cap rows for the model shape (be, n, V). */
typedef struct {
    const lm_backend *be;
    int n, V, cap;
    float *X, *H, *C, *TC, *G, *logits;  /* (B,n) (2,B,n) (2,B,n) (B,n) (B,4n) (B,V) */
    double *nll, *nll_host;              /* (B) */
    int32_t *ids;                        /* (B) */
    lm_window *win;                      /* lm_score_sentences' buffers, or NULL */
} scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_release(scratch *s) {
    if (!s || !s->be) return;
    void *bufs[] = {s->X, s->H, s->C, s->TC, s->G, s->logits, s->nll, s->ids};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) s->be->free(bufs[i]);
    free(s->nll_host);
    memset(s, 0, sizeof *s);
}
static void scratch_destroy(void *p) {
    scratch *s = p;
    lm_window_free(s->win);
    scratch_release(s);
    free(s);
}
static void scratch_key_make(void) { (void)pthread_key_create(&scratch_key, scratch_destroy); }

/* This thread's scratch, holding B rows for m; NULL without memory. */
static scratch *scratch_for(const lm_model *m, int B) {
    if (pthread_once(&scratch_once, scratch_key_make) != 0) return NULL;
    scratch *s = pthread_getspecific(scratch_key);
    if (!s) {
        if (!(s = calloc(1, sizeof *s))) return NULL;
        if (pthread_setspecific(scratch_key, s) != 0) { free(s); return NULL; }
    }
    const int same_shape = s->be == m->be && s->n == m->n && s->V == m->V;
    if (same_shape && s->cap >= B) return s;
    const int cap = same_shape && s->cap > B ? s->cap : B;  /* another model's rows are not kept */
    lm_window *keep = s->win;
    scratch_release(s);
    s->win = keep;
    const lm_backend *be = m->be;
    const size_t n = (size_t)m->n, rows = (size_t)cap;
    s->be = be, s->n = m->n, s->V = m->V, s->cap = cap;
    s->X = be->alloc(rows * n * sizeof(float));
    s->H = be->alloc(2 * rows * n * sizeof(float));
    s->C = be->alloc(2 * rows * n * sizeof(float));
    s->TC = be->alloc(rows * n * sizeof(float));
    s->G = be->alloc(rows * 4 * n * sizeof(float));
    s->logits = be->alloc(rows * (size_t)m->V * sizeof(float));
    s->nll = be->alloc(rows * sizeof(double));
    s->ids = be->alloc(rows * sizeof(int32_t));
    s->nll_host = malloc(rows * sizeof(double));
    if (!s->X || !s->H || !s->C || !s->TC || !s->G || !s->logits || !s->nll || !s->ids || !s->nll_host) {
        scratch_release(s);
        return NULL;
    }
    return s;
}

/* ------------------------------------------------------------ kernels */

static size_t hc_floats(const lm_model *m) { return (size_t)m->L * 2 * m->n; }

/* Logits (B, V) of the next word for each state, plus bias; with targets,
 * nll_host[r] = -log P(targets[r]). Rows are the states' top-layer h. */
static void output_rows(scratch *s, lm_state *const *st, int B, const int32_t *targets) {
    const lm_model *m = st[0]->m;
    const lm_backend *be = m->be;
    const size_t n = (size_t)m->n, top = (size_t)(m->L - 1) * 2 * n;
    for (int r = 0; r < B; r++) be->copy(s->X + r * n, st[r]->hc + top, n);
    be->gemm(0, 1, B, m->V, m->n, 1.0f, s->X, m->n, m->p.out_w, m->n, 0.0f, s->logits, m->V);
    be->upload(s->ids, targets, (size_t)B * sizeof *targets);
    be->softmax_xent(s->logits, s->nll, m->p.out_b, s->ids, (size_t)B, m->V, 1.0f, 0);
    be->download(s->nll_host, s->nll, (size_t)B * sizeof *s->nll_host);
}

/* Each state reads its word: (h, c) of every layer advance one step. */
static void advance_rows(scratch *s, lm_state *const *st, int B, const int32_t *words) {
    const lm_model *m = st[0]->m;
    const lm_backend *be = m->be;
    const size_t n = (size_t)m->n, Bn = (size_t)B * n;
    be->upload(s->ids, words, (size_t)B * sizeof *words);
    be->embed_forward(s->X, s->ids, m->p.emb, (size_t)B, m->n);
    const float *in = s->X;
    for (int l = 0; l < m->L; l++) {
        const size_t o = (size_t)l * 2 * n;
        for (int r = 0; r < B; r++) {
            be->copy(s->H + r * n, st[r]->hc + o, n);
            be->copy(s->C + r * n, st[r]->hc + o + n, n);
        }
        be->bias_rows(s->G, m->p.b_ih[l], m->p.b_hh[l], (size_t)B, 4 * m->n);
        be->gemm(0, 1, B, 4 * m->n, m->n, 1.0f, in, m->n, m->p.w_ih[l], m->n, 1.0f, s->G, 4 * m->n);
        be->lstm_layer_forward(s->G, s->H, s->C, s->TC, m->p.w_hh[l], 1, B, m->n);
        for (int r = 0; r < B; r++) {
            be->copy(st[r]->hc + o, s->H + Bn + r * n, n);
            be->copy(st[r]->hc + o + n, s->C + Bn + r * n, n);
            st[r]->have_dist = 0;
        }
        in = s->H + Bn;  /* the layer's output feeds the next; its gather writes slot 0 only */
    }
}

/* Fill s's cached distribution. */
static lm_status ensure_dist(lm_state *s, lm_error *err) {
    if (s->have_dist) return LM_OK;
    if (!s->logits && !(s->logits = s->m->be->alloc((size_t)s->m->V * sizeof(float))))
        return lm_fail(err, LM_ENOMEM, "out of memory for a distribution of %d words", s->m->V);
    scratch *w = scratch_for(s->m, 1);
    if (!w) return lm_fail(err, LM_ENOMEM, "out of memory for the scoring scratch");
    const int32_t zero = 0;
    output_rows(w, &s, 1, &zero);
    s->m->be->copy(s->logits, w->logits, (size_t)s->m->V);
    float z0;
    s->m->be->download(&z0, s->logits, sizeof z0);
    s->lse = w->nll_host[0] + z0;  /* nll of word 0 = lse - z0 */
    s->have_dist = 1;
    return LM_OK;
}

/* ------------------------------------------------------------ the API */

static lm_status check_word(const lm_state *s, int32_t word, lm_error *err) {
    if (word < 0 || word >= s->m->V)
        return lm_fail(err, LM_EARG, "word id %ld outside the vocabulary (0..%d)", (long)word, s->m->V - 1);
    return LM_OK;
}

/* A state's memory (zeroed: the zero state); NULL without memory. */
static lm_state *state_new(const lm_model *m, int32_t start) {
    lm_state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->m = m, s->start = start;
    s->hc = m->be->alloc(hc_floats(m) * sizeof(float));
    s->hc0 = m->be->alloc(hc_floats(m) * sizeof(float));
    if (!s->hc || !s->hc0) {
        lm_state_free(s);
        return NULL;
    }
    return s;
}

lm_status lm_state_create(lm_state **out, const lm_model *m, const lm_vocab *v, lm_error *err) {
    if (!out) return lm_fail(err, LM_EARG, "lm_state_create: out is NULL");
    *out = NULL;
    if (!m || !v) return lm_fail(err, LM_EARG, "lm_state_create: model or vocabulary is NULL");
    if (m->cfg.task != LM_TASK_LM)
        return lm_fail(err, LM_EARG, "scoring needs a language model; this model was trained for another task");
    if (lm_vocab_size(v) != m->V)
        return lm_fail(err, LM_EARG, "the vocabulary has %d words, the model %d", lm_vocab_size(v), m->V);
    const int eos = lm_vocab_find(v, "<eos>");
    if (eos < 0) return lm_fail(err, LM_EARG, "the vocabulary has no <eos>: sentence start is undefined");
    lm_state *s = state_new(m, eos);
    if (!s) return lm_fail(err, LM_ENOMEM, "out of memory");
    /* sentence start: the zero state (alloc zeroes) reads <eos> */
    scratch *w = scratch_for(m, 1);
    if (!w) {
        lm_state_free(s);
        return lm_fail(err, LM_ENOMEM, "out of memory for the scoring scratch");
    }
    advance_rows(w, &s, 1, &s->start);
    m->be->copy(s->hc0, s->hc, hc_floats(m));
    *out = s;
    return LM_OK;
}

void lm_state_free(lm_state *s) {
    if (!s) return;
    const lm_backend *be = s->m->be;
    be->free(s->hc), be->free(s->hc0), be->free(s->logits);
    free(s);
}

void lm_state_reset(lm_state *s) {
    if (!s) return;
    s->m->be->copy(s->hc, s->hc0, hc_floats(s->m));
    s->have_dist = 0;
}

lm_status lm_state_copy(lm_state *dst, const lm_state *src, lm_error *err) {
    if (!dst || !src) return lm_fail(err, LM_EARG, "lm_state_copy: a state is NULL");
    if (dst->m != src->m) return lm_fail(err, LM_EARG, "lm_state_copy: the states belong to different models");
    if (dst == src) return LM_OK;
    const lm_backend *be = src->m->be;
    if (src->have_dist && !dst->logits && !(dst->logits = be->alloc((size_t)src->m->V * sizeof(float))))
        return lm_fail(err, LM_ENOMEM, "out of memory for a distribution of %d words", src->m->V);
    be->copy(dst->hc, src->hc, hc_floats(src->m));
    be->copy(dst->hc0, src->hc0, hc_floats(src->m));
    if (src->have_dist) be->copy(dst->logits, src->logits, (size_t)src->m->V);
    dst->lse = src->lse, dst->have_dist = src->have_dist;
    return LM_OK;
}

lm_status lm_state_clone(lm_state **out, const lm_state *src, lm_error *err) {
    if (!out) return lm_fail(err, LM_EARG, "lm_state_clone: out is NULL");
    *out = NULL;
    if (!src) return lm_fail(err, LM_EARG, "lm_state_clone: the state is NULL");
    lm_state *s = state_new(src->m, src->start);
    if (!s) return lm_fail(err, LM_ENOMEM, "out of memory");
    if (lm_state_copy(s, src, NULL) != LM_OK) {
        lm_state_free(s);
        return lm_fail(err, LM_ENOMEM, "out of memory");
    }
    *out = s;
    return LM_OK;
}

const lm_model *lm_state_model(const lm_state *s) { return s ? s->m : NULL; }

lm_status lm_state_logprob(lm_state *s, int32_t word, double *logp, lm_error *err) {
    if (!s || !logp) return lm_fail(err, LM_EARG, "lm_state_logprob: state or output is NULL");
    lm_status st = check_word(s, word, err);
    if (st == LM_OK) st = ensure_dist(s, err);
    if (st != LM_OK) return st;
    float z;
    s->m->be->download(&z, s->logits + word, sizeof z);
    *logp = (double)z - s->lse;
    return LM_OK;
}

lm_status lm_state_distribution(lm_state *s, float *logp, lm_error *err) {
    if (!s || !logp) return lm_fail(err, LM_EARG, "lm_state_distribution: state or output is NULL");
    lm_status st = ensure_dist(s, err);
    if (st != LM_OK) return st;
    s->m->be->download(logp, s->logits, (size_t)s->m->V * sizeof *logp);
    for (int i = 0; i < s->m->V; i++) logp[i] = (float)((double)logp[i] - s->lse);
    return LM_OK;
}

lm_status lm_state_topk(lm_state *s, int k, int32_t *ids, float *logp, lm_error *err) {
    if (!s || !ids || !logp) return lm_fail(err, LM_EARG, "lm_state_topk: state or output is NULL");
    if (k < 1 || k > s->m->V) return lm_fail(err, LM_EARG, "top-k needs 1 <= k <= %d, not %d", s->m->V, k);
    const int V = s->m->V;
    float *all = malloc((size_t)V * sizeof *all);
    if (!all) return lm_fail(err, LM_ENOMEM, "out of memory");
    lm_status st = lm_state_distribution(s, all, err);
    if (st != LM_OK) { free(all); return st; }
    /* a k-long sorted list by insertion: k is small next to V */
    int have = 0;
    for (int w = 0; w < V; w++) {
        const float x = all[w];
        if (have == k && !(x > logp[k - 1])) continue;  /* ties keep the lower id */
        int at = have < k ? have++ : k - 1;
        while (at > 0 && x > logp[at - 1]) {
            logp[at] = logp[at - 1], ids[at] = ids[at - 1];
            at--;
        }
        logp[at] = x, ids[at] = w;
    }
    free(all);
    return LM_OK;
}

lm_status lm_state_step_batch(lm_state *const *states, int n, const int32_t *words, double *logp, lm_error *err) {
    if (n == 0) return LM_OK;
    if (!states || !words || n < 0) return lm_fail(err, LM_EARG, "lm_state_step_batch: bad arguments");
    for (int r = 0; r < n; r++) {
        if (!states[r]) return lm_fail(err, LM_EARG, "lm_state_step_batch: state %d is NULL", r);
        if (states[r]->m != states[0]->m)
            return lm_fail(err, LM_EARG, "lm_state_step_batch: states 0 and %d belong to different models", r);
        for (int q = 0; q < r; q++)
            if (states[q] == states[r])
                return lm_fail(err, LM_EARG, "lm_state_step_batch: state %d appears twice (rows %d and %d)", r, q, r);
        lm_status st = check_word(states[r], words[r], err);
        if (st != LM_OK) return st;
    }
    const lm_model *m = states[0]->m;
    scratch *w = scratch_for(m, n);
    if (!w) return lm_fail(err, LM_ENOMEM, "out of memory for the scoring scratch");
    if (logp) {
        if (n == 1 && states[0]->have_dist) {  /* the cached distribution */
            float z;
            m->be->download(&z, states[0]->logits + words[0], sizeof z);
            logp[0] = (double)z - states[0]->lse;
        } else {
            output_rows(w, states, n, words);
            for (int r = 0; r < n; r++) logp[r] = -w->nll_host[r];
        }
    }
    advance_rows(w, states, n, words);
    return LM_OK;
}

lm_status lm_state_step(lm_state *s, int32_t word, double *logp, lm_error *err) {
    if (!s) return lm_fail(err, LM_EARG, "lm_state_step: the state is NULL");
    return lm_state_step_batch(&s, 1, &word, logp, err);
}

lm_status lm_state_score(lm_state *s, const int32_t *words, size_t n, int end, double *per_word, double *total,
                         lm_error *err) {
    if (!s || (!words && n) || !total) return lm_fail(err, LM_EARG, "lm_state_score: bad arguments");
    for (size_t i = 0; i < n; i++) {  /* all checked first: a refused call leaves the state where it was */
        lm_status st = check_word(s, words[i], err);
        if (st != LM_OK) return st;
    }
    double sum = 0.0;
    for (size_t i = 0; i < n + (end != 0); i++) {  /* the words, then <eos> */
        double lp = 0.0;
        lm_status st = lm_state_step(s, i < n ? words[i] : s->start, &lp, err);
        if (st != LM_OK) return st;
        if (per_word) per_word[i] = lp;
        sum += lp;
    }
    *total = sum;
    return LM_OK;
}


/* ------------------------------------------------------------ many sentences */

/* This thread's window of T steps and B sentences for m (model.c's
 * inference windows); NULL without memory. */
static lm_window *window_for(const lm_model *m, int T, int B) {
    scratch *s = scratch_for(m, 1);
    if (!s) return NULL;
    lm_window *w = s->win;
    if (w && w->be == m->be && w->n == m->n && w->V == m->V && w->L == m->L && w->rows >= (size_t)T * B &&
        w->B_cap >= B)
        return w;
    lm_window_free(w);
    return s->win = lm_window_create(m, (size_t)T * B, B);
}

typedef struct {
    size_t len, i;
} by_len;
static int by_length(const void *a, const void *b) {
    const by_len *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

lm_status lm_score_sentences(const lm_model *m, const lm_vocab *v, int batch, size_t n, const int32_t *const *words,
                             const size_t *lens, double *totals, double *const *per_word, lm_error *err) {
    if (!m || !v || batch < 1 || batch > 4096 || (n && (!words || !lens || !totals)))
        return lm_fail(err, LM_EARG, "lm_score_sentences: bad arguments");
    if (m->cfg.task != LM_TASK_LM) return lm_fail(err, LM_EARG, "scoring needs a language model");
    if (lm_vocab_size(v) != m->V)
        return lm_fail(err, LM_EARG, "the vocabulary has %d words, the model %d", lm_vocab_size(v), m->V);
    const int32_t eos = lm_vocab_find(v, "<eos>");
    if (eos < 0) return lm_fail(err, LM_EARG, "the vocabulary has no <eos>: sentence start is undefined");
    for (size_t i = 0; i < n; i++) {
        if (lens[i] && !words[i]) return lm_fail(err, LM_EARG, "sentence %zu has no words", i);
        for (size_t k = 0; k < lens[i]; k++)
            if (words[i][k] < 0 || words[i][k] >= m->V)
                return lm_fail(err, LM_EARG, "sentence %zu, word %zu: id %ld outside the vocabulary (0..%d)", i, k,
                               (long)words[i][k], m->V - 1);
    }
    if (n == 0) return LM_OK;
    /* Sentences sorted by length, in groups of `batch`: a group reads
     * "<eos> w1 .. wn" from the zero state (sentence start, then the words)
     * and predicts "w1 .. wn <eos>", in windows of T steps as evaluation
     * does; the shorter sentences of a group are padding once they end. */
    const int B = (size_t)batch < n ? batch : (int)n;
    /* about 1024 rows a window (measured best at batch 64, T = 16); short
     * windows also leave ended sentences early */
    int T = 1024 / B;
    T = T < 8 ? 8 : T > 32 ? 32 : T;
    by_len *order = malloc(n * sizeof *order);
    int32_t *x = malloc((size_t)T * B * sizeof *x), *y = malloc((size_t)T * B * sizeof *y);
    lm_status st = LM_OK;
    lm_window *w = order && x && y ? window_for(m, T, B) : NULL;
    if (!w) st = lm_fail(err, LM_ENOMEM, "out of memory for the scoring windows");
    if (st == LM_OK) {
        for (size_t i = 0; i < n; i++) order[i] = (by_len){lens[i], i};
        qsort(order, n, sizeof *order, by_length);
    }
    const size_t nn = (size_t)m->n;
    for (size_t g = 0; st == LM_OK && g < n; g += (size_t)B) {
        int act = n - g < (size_t)B ? (int)(n - g) : B;  /* sentences still being read */
        size_t id[4096];
        for (int b = 0; b < act; b++) id[b] = order[g + (size_t)b].i, totals[id[b]] = 0.0;
        for (int l = 0; l < m->L; l++) m->be->zero(w->H[l], act * nn), m->be->zero(w->C[l], act * nn);
        w->prev_T = 0;  /* from the zero state */
        for (size_t t0 = 0; act > 0; t0 += (size_t)T) {
            const size_t longest = lens[id[act - 1]];  /* sorted: the last is the longest */
            const int Tw = longest + 1 - t0 < (size_t)T ? (int)(longest + 1 - t0) : T;
            for (int t = 0; t < Tw; t++)
                for (int b = 0; b < act; b++) {  /* read "<eos> w1 .. wn", predict "w1 .. wn <eos>" */
                    const size_t p = t0 + (size_t)t, L = lens[id[b]];
                    const int32_t *ws = words[id[b]];
                    x[t * act + b] = p == 0 || p > L ? eos : ws[p - 1];
                    y[t * act + b] = p > L ? -1 : p < L ? ws[p] : eos;  /* -1: padding after the end */
                }
            if (isnan(lm_window_forward(m, w, x, y, Tw, act))) {  /* cannot happen: ids and sizes were checked */
                st = lm_fail(err, LM_EARG, "lm_score_sentences: window refused");
                break;
            }
            for (int t = 0; t < Tw; t++)
                for (int b = 0; b < act; b++) {
                    const size_t p = t0 + (size_t)t, i = id[b];
                    if (p > lens[i]) continue;
                    const double lp = -w->row_nll_host[(size_t)t * act + b];
                    totals[i] += lp;
                    if (per_word && per_word[i]) per_word[i][p] = lp;
                }
            /* drop the sentences that ended: the others' state moves from
             * slot Tw to the first rows of slot 0 (B changes, so begin_window
             * cannot carry it) */
            const size_t last = t0 + (size_t)Tw - 1;
            int keep = 0, from[4096];
            for (int b = 0; b < act; b++)
                if (lens[id[b]] > last) from[keep] = b, id[keep++] = id[b];
            if (keep > 0 && keep < act) {
                for (int l = 0; l < m->L; l++)
                    for (int k = 0; k < keep; k++) {
                        const size_t src = ((size_t)Tw * act + from[k]) * nn, dst = (size_t)k * nn;
                        m->be->copy(w->H[l] + dst, w->H[l] + src, nn);
                        m->be->copy(w->C[l] + dst, w->C[l] + src, nn);
                    }
                w->prev_T = 0;
            }
            act = keep;
        }
    }
    free(order), free(x), free(y);
    return st;
}

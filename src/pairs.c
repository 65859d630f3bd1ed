/* Translation as language modelling (SPEC.md section 4): aligned sentence
 * pairs become "source <sep> target <eos>" examples; batches group examples
 * of similar length, padded, with the loss masked to the target part and the
 * state zero at the start of every example. */
#include "internal.h"
#include "model_impl.h"
#include "rng.h"
#include "text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char SEP[] = "<sep>";

/* Sentences of a text: [first, end) word ranges, one per line. */
typedef struct {
    lm_text text;
    size_t *first;  /* (lines + 1) index of each line's first word; its <eos> ends it */
    size_t lines;
} sentences;

static lm_status read_sentences(sentences *s, const char *path, lm_error *err) {
    memset(s, 0, sizeof *s);
    lm_status st = lm_text_read(&s->text, path, err);
    if (st != LM_OK) return st;
    size_t lines = 0;
    for (size_t i = 0; i < s->text.n; i++) lines += s->text.words[i] == LM_EOS;
    s->first = malloc((lines + 1) * sizeof *s->first);
    if (!s->first) { lm_text_free(&s->text); return lm_fail(err, LM_ENOMEM, "out of memory"); }
    size_t k = 0;
    s->first[0] = 0;
    for (size_t i = 0; i < s->text.n; i++)
        if (s->text.words[i] == LM_EOS) {
            if (i == s->first[k]) {
                st = lm_fail(err, LM_EDATA, "%s:%u: empty line (every line must hold a sentence)", path,
                             s->text.lines[i]);
                free(s->first), lm_text_free(&s->text);
                return st;
            }
            s->first[++k] = i + 1;
        }
    s->lines = lines;
    return LM_OK;
}

static void free_sentences(sentences *s) {
    free(s->first);
    lm_text_free(&s->text);
}

typedef struct {
    const char *word;
    size_t count;
} word_count;

static int by_word(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static int by_count(const void *a, const void *b) {
    const word_count *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return strcmp(x->word, y->word);
}

enum { MAX_FILES = 64 };

/* "<eos>", "<sep>", "<unk>", then the words of k files seen min_count times. */
static lm_status vocab_of_files(lm_vocab **out, const char *const *paths, int k, int min_count, lm_error *err) {
    *out = NULL;
    if (min_count < 1) return lm_fail(err, LM_EARG, "min-count must be >= 1");
    if (k < 1 || k > MAX_FILES) return lm_fail(err, LM_EARG, "1 to %d text files (got %d)", MAX_FILES, k);
    sentences s[MAX_FILES];
    lm_status st = LM_OK;
    int loaded = 0;
    for (; loaded < k && st == LM_OK; loaded++)
        if ((st = read_sentences(&s[loaded], paths[loaded], err)) != LM_OK) break;
    const char **all = NULL, **names = NULL;
    word_count *wc = NULL;
    if (st != LM_OK) goto done;
    /* Sort every word occurrence, then count runs: no hash table needed. */
    size_t total = 0;
    for (int f = 0; f < k; f++) total += s[f].text.n;
    all = malloc((total + 1) * sizeof *all);
    wc = malloc((total + 1) * sizeof *wc);
    names = malloc((total + 3) * sizeof *names);
    if (!all || !wc || !names) { st = lm_fail(err, LM_ENOMEM, "out of memory"); goto done; }
    size_t n = 0, kinds = 0;
    for (int f = 0; f < k; f++)
        for (size_t i = 0; i < s[f].text.n; i++)
            if (s[f].text.words[i] != LM_EOS) all[n++] = s[f].text.words[i];
    qsort(all, n, sizeof *all, by_word);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && strcmp(all[j], all[i]) == 0) j++;
        const char *w = all[i];
        if (j - i >= (size_t)min_count && strcmp(w, LM_EOS) && strcmp(w, SEP) && strcmp(w, LM_UNK))
            wc[kinds++] = (word_count){w, j - i};
        i = j;
    }
    qsort(wc, kinds, sizeof *wc, by_count);
    names[0] = LM_EOS, names[1] = SEP, names[2] = LM_UNK;
    for (size_t i = 0; i < kinds; i++) names[3 + i] = wc[i].word;
    st = lm_vocab_from_words(out, names, (int)(kinds + 3), err);
done:
    free(all), free(wc), free(names);
    for (int f = 0; f < loaded; f++) free_sentences(&s[f]);
    return st;
}

lm_status lm_pairs_vocab(lm_vocab **out, const char *src_path, const char *tgt_path, int min_count, lm_error *err) {
    const char *const paths[2] = {src_path, tgt_path};
    return vocab_of_files(out, paths, 2, min_count, err);
}

lm_status lm_captions_vocab(lm_vocab **out, const char *const *paths, int k, int min_count, lm_error *err) {
    return vocab_of_files(out, paths, k, min_count, err);
}

void lm_pairs_free(lm_pairs *p) {
    free(p->ids), free(p->start), free(p->src_len), free(p->item);
    memset(p, 0, sizeof *p);
}

/* Map a word to its id or <unk>. */
/* A word of a line. The text "<eos>" or "<sep>" inside a line is a word the
 * vocabulary never counted, not a control token: it reads as <unk>, so a
 * forged line cannot end a target early or add a second separator. */
static int32_t word_id(const lm_vocab *v, const char *w, int unk) {
    if (!strcmp(w, LM_EOS) || !strcmp(w, SEP)) return unk;
    int id = lm_vocab_find(v, w);
    return id >= 0 ? id : unk;
}

lm_status lm_pairs_read(lm_pairs *p, const char *src_path, const char *tgt_path, const lm_vocab *v, int reverse,
                        size_t max_len, lm_error *err) {
    memset(p, 0, sizeof *p);
    const int eos = lm_vocab_find(v, LM_EOS), sep = lm_vocab_find(v, SEP), unk = lm_vocab_find(v, LM_UNK);
    if (eos < 0 || sep < 0 || unk < 0) return lm_fail(err, LM_EARG, "the vocabulary lacks <eos>, <sep> or <unk>");
    sentences s[2];
    lm_status st = read_sentences(&s[0], src_path, err);
    if (st != LM_OK) return st;
    if ((st = read_sentences(&s[1], tgt_path, err)) != LM_OK) { free_sentences(&s[0]); return st; }
    if (s[0].lines != s[1].lines) {
        st = lm_fail(err, LM_EDATA, "%s has %zu lines but %s has %zu: the files must be aligned line by line",
                     src_path, s[0].lines, tgt_path, s[1].lines);
        goto done;
    }
    const size_t n = s[0].lines;
    /* each line contributes its words plus <eos>: source words + <sep>, target words + <eos> */
    p->ids = malloc((s[0].text.n + s[1].text.n) * sizeof *p->ids);
    p->start = malloc((n + 1) * sizeof *p->start);
    p->src_len = malloc((n ? n : 1) * sizeof *p->src_len);
    if (!p->ids || !p->start || !p->src_len) { st = lm_fail(err, LM_ENOMEM, "out of memory"); goto done; }
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        const size_t s0 = s[0].first[i], s1 = s[0].first[i + 1] - 1;  /* source words [s0, s1) */
        const size_t t0 = s[1].first[i], t1 = s[1].first[i + 1] - 1;
        const size_t len = (s1 - s0) + 1 + (t1 - t0) + 1;
        if (len > max_len) {
            st = lm_fail(err, LM_EDATA, "%s:%u: sentence pair of %zu tokens is longer than the limit of %zu "
                         "(raise --max-len)", src_path, s[0].text.lines[s0], len, max_len);
            goto done;
        }
        p->start[i] = at;
        p->src_len[i] = (uint32_t)(s1 - s0);
        for (size_t k = 0; k < s1 - s0; k++)
            p->ids[at++] = word_id(v, s[0].text.words[reverse ? s1 - 1 - k : s0 + k], unk);
        p->ids[at++] = sep;
        for (size_t k = t0; k < t1; k++) p->ids[at++] = word_id(v, s[1].text.words[k], unk);
        p->ids[at++] = eos;
        p->target_words += (t1 - t0) + 1;
        if (len > p->max_len) p->max_len = len;
    }
    p->start[n] = at;
    p->n = n;
done:
    free_sentences(&s[0]), free_sentences(&s[1]);
    if (st != LM_OK) lm_pairs_free(p);
    return st;
}

lm_status lm_captions_read(lm_pairs *p, const char *const *paths, int k, const lm_features *cond,
                           const lm_vocab *v, size_t max_len, lm_error *err) {
    memset(p, 0, sizeof *p);
    if (k < 1 || k > MAX_FILES) return lm_fail(err, LM_EARG, "1 to %d caption files (got %d)", MAX_FILES, k);
    const int eos = lm_vocab_find(v, LM_EOS), unk = lm_vocab_find(v, LM_UNK);
    if (eos < 0 || unk < 0) return lm_fail(err, LM_EARG, "the vocabulary lacks <eos> or <unk>");
    sentences s[MAX_FILES];
    lm_status st = LM_OK;
    int loaded = 0;
    size_t words = 0;
    for (; loaded < k; loaded++) {
        if ((st = read_sentences(&s[loaded], paths[loaded], err)) != LM_OK) break;
        words += s[loaded].text.n;
        if (s[loaded].lines != cond->n) {
            st = lm_fail(err, LM_EDATA, "%s has %zu lines but the feature file %zu items: line i must describe item i",
                         paths[loaded], s[loaded].lines, cond->n);
            loaded++;
            break;
        }
    }
    if (st != LM_OK) goto done;
    const size_t n = (size_t)k * cond->n;
    /* each line: its words + <eos>, plus the placeholder <eos> read at step 0 */
    p->ids = malloc((words + n) * sizeof *p->ids);
    p->start = malloc((n + 1) * sizeof *p->start);
    p->src_len = calloc(n, sizeof *p->src_len);
    p->item = malloc(n * sizeof *p->item);
    if (!p->ids || !p->start || !p->src_len || !p->item) { st = lm_fail(err, LM_ENOMEM, "out of memory"); goto done; }
    size_t at = 0, e = 0;
    for (int f = 0; f < k; f++)
        for (size_t i = 0; i < cond->n; i++, e++) {
            const size_t t0 = s[f].first[i], t1 = s[f].first[i + 1] - 1, len = (t1 - t0) + 2;
            if (len > max_len) {
                st = lm_fail(err, LM_EDATA, "%s:%u: caption of %zu tokens is longer than the limit of %zu",
                             paths[f], s[f].text.lines[t0], len, max_len);
                goto done;
            }
            p->start[e] = at;
            p->item[e] = (uint32_t)i;
            p->ids[at++] = eos;  /* placeholder: step 0 reads the vector */
            for (size_t w = t0; w < t1; w++) p->ids[at++] = word_id(v, s[f].text.words[w], unk);
            p->ids[at++] = eos;
            p->target_words += (t1 - t0) + 1;
            if (len > p->max_len) p->max_len = len;
        }
    p->start[n] = at;
    p->n = n;
    p->cond = cond;
done:
    for (int f = 0; f < loaded; f++) free_sentences(&s[f]);
    if (st != LM_OK) lm_pairs_free(p);
    return st;
}

size_t lm_pairs_source(const lm_model *m, const lm_vocab *v, const int32_t *words, size_t n, int32_t *out) {
    const int32_t eos = lm_vocab_find(v, LM_EOS), sep = lm_vocab_find(v, SEP), unk = lm_vocab_find(v, LM_UNK);
    for (size_t k = 0; k < n; k++) {
        const int32_t w = words[m->cfg.reverse_source ? n - 1 - k : k];
        out[k] = w == eos || w == sep ? unk : w;  /* as lm_pairs_read reads them */
    }
    out[n] = sep;
    return n + 1;
}

/* Example order for batching: by length, ties by position. */
static size_t *length_order(const lm_pairs *p) {
    size_t *len = malloc((p->n ? p->n : 1) * sizeof *len);
    if (!len) return NULL;
    for (size_t i = 0; i < p->n; i++) len[i] = p->start[i + 1] - p->start[i];
    size_t *order = lm_length_order(len, p->n);
    free(len);
    return order;
}

/* Fill x, y (T, B) time-major for examples order[0..B): inputs are the
 * example without its last token, targets the example shifted by one with
 * source positions and padding at -1. @return T. */
static int make_batch(const lm_pairs *p, const size_t *ex, int B, int32_t *x, int32_t *y, size_t *words) {
    size_t T = 0;
    for (int b = 0; b < B; b++) {
        size_t len = p->start[ex[b] + 1] - p->start[ex[b]] - 1;
        if (len > T) T = len;
    }
    *words = 0;
    for (int b = 0; b < B; b++) {
        const int32_t *seq = p->ids + p->start[ex[b]];
        const size_t len = p->start[ex[b] + 1] - p->start[ex[b]] - 1, src = p->src_len[ex[b]];
        for (size_t t = 0; t < T; t++) {
            x[t * B + b] = t < len ? seq[t] : seq[len];  /* padding: repeat <eos>, masked anyway */
            y[t * B + b] = t < len && t >= src ? seq[t + 1] : -1;
            *words += t < len && t >= src;
        }
    }
    return (int)T;
}

/* Batch `first` of B examples in length order: inputs x, targets y (T, B),
 * for captions each example's vector in cond (B, d). @return T. */
static int load_batch(const lm_pairs *p, const size_t *order, size_t first, int B, int32_t *x, int32_t *y,
                      float *cond, size_t *words) {
    const int d = p->cond ? p->cond->dim : 0;
    for (int b = 0; b < B && d; b++)
        memcpy(cond + (size_t)b * d, p->cond->data + (size_t)p->item[order[first + b]] * d, (size_t)d * sizeof *cond);
    return make_batch(p, order + first, B, x, y, words);
}

static lm_status run_batches(lm_model *m, const lm_pairs *p, int batch, int train, float lr, uint64_t seed,
                             lm_progress_fn progress, void *user, lm_run_stats *stats, lm_error *err) {
    *stats = (lm_run_stats){0};
    if (p->n == 0) return lm_fail(err, LM_EDATA, "no sentence pairs");
    if (p->max_len - 1 > (size_t)m->T_max || batch > m->B_max || batch < 1)
        return lm_fail(err, LM_EARG, "examples of %zu tokens or batches of %d exceed the model's %d x %d", p->max_len,
                       batch, m->T_max + 1, m->B_max);
    lm_status st = lm_model_reserve(m, m->T_max, batch, train, err);
    if (st != LM_OK) return st;
    size_t *order = length_order(p);
    const size_t n_batches = (p->n + (size_t)batch - 1) / (size_t)batch;
    size_t *bo = malloc(n_batches * sizeof *bo);
    int32_t *x = malloc((size_t)m->T_max * batch * sizeof *x), *y = malloc((size_t)m->T_max * batch * sizeof *y);
    const int d = p->cond ? p->cond->dim : 0;
    float *cond = malloc(((size_t)batch * d + 1) * sizeof *cond);  /* the batch's vectors (captions) */
    if (!order || !bo || !x || !y || !cond) { st = lm_fail(err, LM_ENOMEM, "out of memory"); goto done; }
    for (size_t i = 0; i < n_batches; i++) bo[i] = i;
    if (train) lm_shuffle(bo, n_batches, seed);  /* batches in a new order each epoch */
    const double t0 = lm_now();
    for (size_t k = 0; k < n_batches; k++) {
        const size_t first = bo[k] * (size_t)batch;
        const int B = (int)(first + (size_t)batch <= p->n ? (size_t)batch : p->n - first);
        size_t words;
        const int T = load_batch(p, order, first, B, x, y, cond, &words);
        lm_model_reset_state(m, B);  /* every example starts from a zero state */
        double nll = d ? lm_model_forward_cond(m, cond, x, y, T, B, train) : lm_model_forward(m, x, y, T, B, train);
        if (lm_loss_diverged(nll, words)) {
            st = lm_fail(err, LM_EDATA, "%s diverged: loss %g nats per word (try a lower --lr)",
                         train ? "training" : "evaluation", words ? nll / (double)words : nll);
            break;
        }
        if (train) {
            lm_model_backward(m);
            lm_model_sgd_step(m, lr, m->cfg.clip);
        }
        stats->nll += nll;
        stats->words += words;
        stats->seconds = lm_now() - t0;
        if (progress && progress(user, k + 1, n_batches, stats) && k + 1 < n_batches) {
            st = lm_fail(err, LM_ESTOPPED, "stopped after %zu of %zu batches", k + 1, n_batches);
            break;
        }
    }
done:
    free(order), free(bo), free(x), free(y), free(cond);
    return st;
}

/* Captions need a caption model of the vectors' size; other pairs a translation model. */
static lm_status fits(const lm_model *m, const lm_pairs *p, const char *what, lm_error *err) {
    if (!p->cond) return lm_model_needs_task(m, LM_TASK_TRANSLATE, what, err);
    if (m->cfg.task != LM_TASK_CAPTION || m->cfg.input_dim != p->cond->dim)
        return lm_fail(err, LM_EARG, "%s of captions with vectors of %d features needs a caption model of that size",
                       what, p->cond->dim);
    return LM_OK;
}

lm_status lm_pairs_train_epoch(lm_model *m, const lm_pairs *p, float lr, uint64_t seed, lm_progress_fn progress,
                               void *user, lm_run_stats *stats, lm_error *err) {
    if (fits(m, p, "training", err) != LM_OK) return LM_EARG;
    return run_batches(m, p, m->cfg.batch, 1, lr, seed, progress, user, stats, err);
}

lm_status lm_pairs_evaluate(lm_model *m, const lm_pairs *p, int batch, lm_progress_fn progress, void *user,
                            lm_run_stats *stats, lm_error *err) {
    if (fits(m, p, "evaluation", err) != LM_OK) return LM_EARG;
    return run_batches(m, p, batch, 0, 0.0f, 0, progress, user, stats, err);
}

lm_status lm_pairs_evaluate_ensemble(lm_model *const *models, int k, const lm_pairs *p, int batch,
                                     lm_run_stats *each, lm_run_stats *ens, lm_error *err) {
    if (!p || !ens || batch < 1) return lm_fail(err, LM_EARG, "lm_pairs_evaluate_ensemble: bad arguments");
    *ens = (lm_run_stats){0};
    lm_status checked = lm_ensemble_check(models, k, p->cond ? LM_TASK_CAPTION : LM_TASK_TRANSLATE, "evaluation", err);
    if (checked != LM_OK) return checked;
    if (p->n == 0) return lm_fail(err, LM_EDATA, "no sentence pairs");
    for (int i = 0; i < k; i++) {
        if (fits(models[i], p, "evaluation", err) != LM_OK) return LM_EARG;
        if (p->max_len - 1 > (size_t)models[i]->T_max || batch > models[i]->B_max)
            return lm_fail(err, LM_EARG, "examples of %zu tokens or batches of %d exceed model %d's %d x %d",
                           p->max_len, batch, i + 1, models[i]->T_max + 1, models[i]->B_max);
        lm_status st = lm_model_reserve(models[i], models[i]->T_max, batch, 0, err);
        if (st != LM_OK) return st;
        if (each) each[i] = (lm_run_stats){0};
    }
    int T_max = models[0]->T_max;
    for (int i = 1; i < k; i++) T_max = models[i]->T_max < T_max ? models[i]->T_max : T_max;
    size_t *order = length_order(p);
    const size_t rows_max = (size_t)T_max * batch;
    int32_t *x = malloc(rows_max * sizeof *x), *y = malloc(rows_max * sizeof *y);
    const int d = p->cond ? p->cond->dim : 0;
    float *cond = malloc(((size_t)batch * d + 1) * sizeof *cond);
    double *mix = malloc(rows_max * (size_t)k * sizeof *mix);
    lm_status st = LM_OK;
    if (!order || !x || !y || !cond || !mix) st = lm_fail(err, LM_ENOMEM, "out of memory");
    const double t0 = lm_now();
    for (size_t first = 0; st == LM_OK && first < p->n; first += (size_t)batch) {
        const int B = (int)(first + (size_t)batch <= p->n ? (size_t)batch : p->n - first);
        size_t words;
        const int T = load_batch(p, order, first, B, x, y, cond, &words);
        const size_t rows = (size_t)T * B;
        for (int i = 0; i < k; i++) {
            lm_model_reset_state(models[i], B);  /* every example starts from a zero state */
            const double nll = d ? lm_model_forward_cond(models[i], cond, x, y, T, B, 0)
                                 : lm_model_forward(models[i], x, y, T, B, 0);
            if (!isfinite(nll)) { st = lm_fail(err, LM_EDATA, "model %d: evaluation diverged", i + 1); break; }
            if (each) each[i].nll += nll, each[i].words += words;
            const double *row = lm_model_row_nll(models[i]);
            for (size_t r = 0; r < rows; r++) mix[r * k + i] = -row[r];
        }
        for (size_t r = 0; st == LM_OK && r < rows; r++)
            if (y[r] >= 0) ens->nll -= lm_log_mean_exp(mix + r * k, k);  /* y < 0: padding */
        ens->words += words;
    }
    ens->seconds = lm_now() - t0;
    if (each)
        for (int i = 0; i < k; i++) each[i].seconds = ens->seconds;
    free(order), free(x), free(y), free(cond), free(mix);
    return st;
}

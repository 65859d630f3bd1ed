/* The vocabulary: word <-> id, an open-addressing hash table over an array of
 * owned strings, built from a training file by frequency. Also maps text
 * files to id streams. */
#include "internal.h"
#include "text.h"

#include <stdlib.h>
#include <string.h>

struct lm_vocab {
    char **words;     /* (n) owned strings, index = id */
    int n;
    int32_t *slots;   /* (cap) id or -1; cap a power of two >= 2n */
    size_t cap;
};

static uint64_t hash_str(const char *s) {
    uint64_t h = 0xcbf29ce484222325ULL;  /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

/* Slot holding `word`, or the empty slot where it would go. */
static size_t find_slot(const char *const *words, const int32_t *slots, size_t cap, const char *word) {
    size_t i = hash_str(word) & (cap - 1);
    while (slots[i] >= 0 && strcmp(words[slots[i]], word) != 0) i = (i + 1) & (cap - 1);
    return i;
}

void lm_vocab_free(lm_vocab *v) {
    if (!v) return;
    for (int i = 0; i < v->n; i++) free(v->words[i]);
    free(v->words);
    free(v->slots);
    free(v);
}

static lm_vocab *vocab_alloc(size_t max_words) {
    lm_vocab *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->cap = 16;
    while (v->cap < 2 * max_words) v->cap *= 2;
    v->words = calloc(max_words ? max_words : 1, sizeof *v->words);
    v->slots = malloc(v->cap * sizeof *v->slots);
    if (!v->words || !v->slots) { lm_vocab_free(v); return NULL; }
    memset(v->slots, 0xff, v->cap * sizeof *v->slots);
    return v;
}

lm_status lm_vocab_from_words(lm_vocab **out, const char *const *words, int n, lm_error *err) {
    *out = NULL;
    if (n <= 0) return lm_fail(err, LM_EARG, "vocabulary is empty");
    lm_vocab *v = vocab_alloc((size_t)n);
    if (!v) return lm_fail(err, LM_ENOMEM, "out of memory building the vocabulary");
    for (int i = 0; i < n; i++) {
        size_t s = find_slot((const char *const *)v->words, v->slots, v->cap, words[i]);
        if (v->slots[s] >= 0) {
            lm_vocab_free(v);
            return lm_fail(err, LM_EFORMAT, "vocabulary lists \"%s\" twice", words[i]);
        }
        if (!(v->words[i] = strdup(words[i]))) { lm_vocab_free(v); return lm_fail(err, LM_ENOMEM, "out of memory"); }
        v->slots[s] = i;
        v->n = i + 1;
    }
    *out = v;
    return LM_OK;
}

typedef struct {
    const char *word;
    size_t count;
} word_count;

static int by_count_then_bytes(const void *a, const void *b) {
    const word_count *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return strcmp(x->word, y->word);
}

lm_status lm_vocab_build(lm_vocab **out, const char *path, lm_error *err) {
    return lm_vocab_build_limited(out, path, 1, 0, err);
}

lm_status lm_vocab_build_limited(lm_vocab **out, const char *path, int min_count, int max_vocab, lm_error *err) {
    *out = NULL;
    if (min_count < 1) return lm_fail(err, LM_EARG, "min-count must be >= 1 (got %d)", min_count);
    if (max_vocab != 0 && max_vocab < 3) return lm_fail(err, LM_EARG, "max-vocab must be 0 (no limit) or >= 3 (got %d)", max_vocab);
    lm_text text;
    lm_status st = lm_text_read(&text, path, err);
    if (st != LM_OK) return st;

    /* Count distinct words with a temporary table over pointers into text. */
    size_t cap = 16;
    while (cap < 2 * text.n) cap *= 2;
    int32_t *slots = malloc(cap * sizeof *slots);
    word_count *wc = malloc(text.n * sizeof *wc);
    const char **names = malloc(text.n * sizeof *names);
    if (!slots || !wc || !names) { st = lm_fail(err, LM_ENOMEM, "%s: out of memory", path); goto done; }
    memset(slots, 0xff, cap * sizeof *slots);
    int n = 0;
    for (size_t i = 0; i < text.n; i++) {
        size_t s = find_slot(names, slots, cap, text.words[i]);
        if (slots[s] < 0) {
            slots[s] = n;
            names[n] = text.words[i];
            wc[n++] = (word_count){text.words[i], 0};
        }
        wc[slots[s]].count++;
    }
    qsort(wc, (size_t)n, sizeof *wc, by_count_then_bytes);
    /* Keep the words seen min_count times, the most frequent first, at most
     * max_vocab with "<eos>" (always kept: every line ends with it) and, if
     * any word was left out, "<unk>", which the left-out words become. */
    int kept = 0, plain = 0, dropped = 0, has_unk = 0;
    for (int i = 0; i < n; i++) {
        const int special = strcmp(wc[i].word, LM_EOS) == 0 || strcmp(wc[i].word, LM_UNK) == 0;
        const int room = max_vocab == 0 || plain < max_vocab - 2;  /* two places stay for <eos> and <unk> */
        if (special || (wc[i].count >= (size_t)min_count && room)) {
            names[kept++] = wc[i].word;
            plain += !special;
            has_unk |= strcmp(wc[i].word, LM_UNK) == 0;
        } else {
            dropped++;
        }
    }
    if (dropped && !has_unk) names[kept++] = LM_UNK;
    st = lm_vocab_from_words(out, names, kept, err);
done:
    free(slots);
    free(wc);
    free(names);
    lm_text_free(&text);
    return st;
}

int lm_vocab_size(const lm_vocab *v) { return v->n; }

const char *lm_vocab_word(const lm_vocab *v, int id) { return id >= 0 && id < v->n ? v->words[id] : NULL; }

int lm_vocab_find(const lm_vocab *v, const char *word) {
    return v->slots[find_slot((const char *const *)v->words, v->slots, v->cap, word)];
}

lm_status lm_tokens_read(lm_tokens *out, const char *path, const lm_vocab *v, lm_error *err) {
    memset(out, 0, sizeof *out);
    lm_text text;
    lm_status st = lm_text_read(&text, path, err);
    if (st != LM_OK) return st;
    int unk = lm_vocab_find(v, LM_UNK);
    int32_t *ids = malloc(text.n * sizeof *ids);
    if (!ids) { lm_text_free(&text); return lm_fail(err, LM_ENOMEM, "%s: out of memory", path); }
    for (size_t i = 0; i < text.n; i++) {
        int id = lm_vocab_find(v, text.words[i]);
        if (id < 0) id = unk, out->n_oov++;
        if (id < 0) {
            st = lm_fail(err, LM_EDATA, "%s:%u: word \"%.64s\" is not in the vocabulary (which has no <unk>)",
                         path, text.lines[i], text.words[i]);
            free(ids);
            lm_text_free(&text);
            return st;
        }
        ids[i] = id;
    }
    out->ids = ids;
    out->n = text.n;
    out->eos = lm_vocab_find(v, LM_EOS);
    out->starts_sentence = out->eos >= 0;
    lm_text_free(&text);
    return LM_OK;
}

lm_status lm_tokens_check(const lm_tokens *t, int V, lm_error *err) {
    if (!t || (t->n && !t->ids)) return lm_fail(err, LM_EARG, "no tokens");
    for (size_t i = 0; i < t->n; i++)
        if (t->ids[i] < 0 || t->ids[i] >= V)
            return lm_fail(err, LM_EARG, "token %zu: id %ld is outside the vocabulary (0..%d)", i, (long)t->ids[i],
                           V - 1);
    return LM_OK;
}

void lm_tokens_free(lm_tokens *t) {
    free(t->ids);
    t->ids = NULL;
    t->n = 0, t->n_oov = 0, t->starts_sentence = 0;
}

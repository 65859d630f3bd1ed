/* Orders for batching sequences of different lengths (sentence pairs,
 * utterances): by length so a batch pads little, and a seeded shuffle of
 * the batches so an epoch does not see them shortest first. */
#include "internal.h"
#include "rng.h"

#include <stdlib.h>

typedef struct {
    size_t len, idx;
} keyed;

static int by_length(const void *a, const void *b) {
    const keyed *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

size_t *lm_length_order(const size_t *len, size_t n) {
    keyed *k = malloc((n ? n : 1) * sizeof *k);
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    if (k && order) {
        for (size_t i = 0; i < n; i++) k[i] = (keyed){len[i], i};
        qsort(k, n, sizeof *k, by_length);
        for (size_t i = 0; i < n; i++) order[i] = k[i].idx;
    } else {
        free(order), order = NULL;
    }
    free(k);
    return order;
}

void lm_shuffle(size_t *a, size_t n, uint64_t seed) {
    lm_rng r;
    lm_rng_seed(&r, seed);
    for (size_t i = n; i > 1; i--) {  /* Fisher-Yates */
        const size_t j = (size_t)(lm_rng_next(&r) % i), t = a[i - 1];
        a[i - 1] = a[j], a[j] = t;
    }
}

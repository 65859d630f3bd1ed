/* The parameter table: names, shapes and offsets of every tensor in the one
 * contiguous parameter buffer. The optimizer, the gradient norm and the
 * checkpoint all walk this table. Names and layouts follow PyTorch's
 * nn.Embedding / nn.LSTM (gate rows i,f,g,o) / nn.Linear. */
#include "model_impl.h"

#include <stdio.h>
#include <string.h>

static void add(lm_tensor_info *tab, int *k, size_t *off, const char *name, size_t rows, size_t cols) {
    lm_tensor_info *t = &tab[(*k)++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = cols ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = cols;
    t->size = cols ? rows * cols : rows;
    t->offset = *off;
    *off += t->size;
}

int lm_params_layout(lm_tensor_info *tab, int V, int n, int L, int task, int input_dim, size_t *total) {
    int k = 0;
    size_t off = 0;
    char name[32];
    /* words: the embedding first (tensor 0, the sparse one); frames and
     * captions: a projection (nn.Linear) of the input vector */
    if (task != LM_TASK_FRAMES) add(tab, &k, &off, "emb.weight", (size_t)V, (size_t)n);
    if (task == LM_TASK_FRAMES || task == LM_TASK_CAPTION) {
        add(tab, &k, &off, "in.weight", (size_t)n, (size_t)input_dim);
        add(tab, &k, &off, "in.bias", (size_t)n, 0);
    }
    for (int l = 0; l < L; l++) {
        snprintf(name, sizeof name, "rnn.weight_ih_l%d", l);
        add(tab, &k, &off, name, 4 * (size_t)n, (size_t)n);
        snprintf(name, sizeof name, "rnn.weight_hh_l%d", l);
        add(tab, &k, &off, name, 4 * (size_t)n, (size_t)n);
        snprintf(name, sizeof name, "rnn.bias_ih_l%d", l);
        add(tab, &k, &off, name, 4 * (size_t)n, 0);
        snprintf(name, sizeof name, "rnn.bias_hh_l%d", l);
        add(tab, &k, &off, name, 4 * (size_t)n, 0);
    }
    add(tab, &k, &off, "out.weight", (size_t)V, (size_t)n);
    add(tab, &k, &off, "out.bias", (size_t)V, 0);
    *total = off;
    return k;
}

void lm_params_views(lm_views *v, float *base, const lm_tensor_info *tab, int L) {
    int k = 0;
    v->emb = v->in_w = v->in_b = NULL;
    if (strcmp(tab[k].name, "emb.weight") == 0) v->emb = base + tab[k++].offset;
    if (strcmp(tab[k].name, "in.weight") == 0) v->in_w = base + tab[k++].offset, v->in_b = base + tab[k++].offset;
    for (int l = 0; l < L; l++) {
        v->w_ih[l] = base + tab[k++].offset;
        v->w_hh[l] = base + tab[k++].offset;
        v->b_ih[l] = base + tab[k++].offset;
        v->b_hh[l] = base + tab[k++].offset;
    }
    v->out_w = base + tab[k++].offset;
    v->out_b = base + tab[k++].offset;
}

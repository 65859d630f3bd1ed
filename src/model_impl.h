/* The model's layout in memory, shared by the modules that orchestrate it
 * (model.c, train.c, checkpoint.c). Callers outside the library see lm_model
 * as opaque. */
#ifndef LM_MODEL_IMPL_H
#define LM_MODEL_IMPL_H

#include "backend.h"
#include "lstmlm.h"
#include "rng.h"

#define LM_MAX_LAYERS 8
#define LM_MAX_TENSORS (5 + 4 * LM_MAX_LAYERS)
#define LM_MAX_VOCAB (1 << 24)  /* the checkpoint reader's limit, so every model can be saved and read back */

/* Views into one contiguous buffer (parameters or gradients), PyTorch layout. */
typedef struct {
    float *emb;                    /* (V, n) word embedding; NULL for frames */
    float *in_w;                   /* frames, captions: (n, input_dim) projection; else NULL */
    float *in_b;                   /* frames, captions: (n) projection bias; else NULL */
    float *w_ih[LM_MAX_LAYERS];    /* (4n, n) rows i,f,g,o */
    float *w_hh[LM_MAX_LAYERS];    /* (4n, n) */
    float *b_ih[LM_MAX_LAYERS];    /* (4n) */
    float *b_hh[LM_MAX_LAYERS];    /* (4n) */
    float *out_w;                  /* (V, n) */
    float *out_b;                  /* (V) */
} lm_views;

/* Build the tensor table for (V, n, L); @return the number of tensors, and
 * the total element count in *total. */
int lm_params_layout(lm_tensor_info *tab, int V, int n, int L, int task, int input_dim, size_t *total);
/* Point views at the tensors of `base` according to tab. */
void lm_params_views(lm_views *v, float *base, const lm_tensor_info *tab, int L);

/* Phases of lm_model_profile_read, in the order a training window meets them. */
enum {
    PH_EMBED,         /* embedding rows, dropout masks, biases into G */
    PH_IN_PROJ,       /* X W_ih^T for the whole window */
    PH_REC_F_PROD,    /* recurrence forward: per-step h W_hh^T (thread mean) */
    PH_REC_F_CELL,    /* recurrence forward: the cell */
    PH_REC_F_WAIT,    /* recurrence forward: waiting at the per-step barriers */
    PH_OUT_PROJ,      /* X W_out^T */
    PH_SOFTMAX,       /* softmax and cross-entropy (and dlogits) */
    PH_OUT_BACK,      /* dW_out, db_out, dX of the output layer */
    PH_REC_B_PROD,    /* recurrence backward: per-step dG W_hh */
    PH_REC_B_CELL,
    PH_REC_B_WAIT,
    PH_W_GRAD,        /* dW_hh, dW_ih, db, dX below for the whole window */
    PH_DROP_BACK,     /* dropout masks on gradients, embedding gradient */
    PH_SGD,           /* norm, clip and update */
    PH_COUNT
};

/* The activations of windows of up to `rows` = T x B rows and B_cap streams,
 * and the state carried from one window to the next: everything a forward
 * writes. The model owns one (training, evaluation, decoding); scoring
 * threads own theirs (lm_window_create), so a model shared between threads
 * stays read-only. A window without `train` holds one G and one TC that every
 * layer reuses, and no dropout buffers. */
typedef struct {
    const lm_backend *be;            /* the shape it was made for */
    int L, n, V;
    size_t rows;
    int B_cap, train;
    int T, B;                        /* of the last forward */
    int prev_T;                      /* slot of H/C holding the state to carry, 0 if none */
    int dropout_on;                  /* the last forward drew masks */
    int grad;                        /* the last forward was a training one: logits hold dloss/dlogits */
    int32_t *x, *y;                  /* (T, B) inputs and targets */
    float *emb_out;                  /* (T, B, n) embedding rows */
    float *X[LM_MAX_LAYERS + 1];     /* (T, B, n) input of layer l after dropout; X[L] feeds the softmax */
    float *drop[LM_MAX_LAYERS + 1];  /* (T, B, n) storage for X[l] when dropout is on */
    float *mask[LM_MAX_LAYERS + 1];  /* (T, B, n) dropout masks, 0 or 1/(1-p) */
    float *H[LM_MAX_LAYERS];         /* (T+1, B, n) h, slot 0 = carried-in state */
    float *C[LM_MAX_LAYERS];         /* (T+1, B, n) c, slot 0 = carried-in state */
    float *TC[LM_MAX_LAYERS];        /* (T, B, n) tanh(c_t) */
    float *G[LM_MAX_LAYERS];         /* (T, B, 4n) gate activations i,f,g,o */
    float *logits;                   /* (T*B, V) logits, then dloss/dlogits */
    double *row_nll;                 /* (T*B) per-prediction cross-entropy */
    double *row_nll_host;            /* (T*B) host copy */
    double *prof;                    /* seconds per phase while profiling, else NULL */
} lm_window;

struct lm_model {
    lm_config cfg;
    int V, n, L;
    const lm_backend *be;

    int n_tensors;
    lm_tensor_info tensors[LM_MAX_TENSORS];
    size_t n_params;
    float *params, *grads;  /* (n_params) each */
    lm_views p, g;

    lm_rng rng;             /* initialisation, then one draw per dropout mask */

    /* The configuration's window (steps x batch): what training uses. */
    int T_max, B_max;
    /* The window buffers (lm_model_reserve); with win.train also the
     * gradients and backward scratch below (NULL otherwise). */
    lm_window win;
    float *feat;            /* frames: (T, B, input_dim) input features; captions: (B, input_dim) */
    float *zero_n;          /* frames, captions: (n) zeros, the second bias of bias_rows */
    int cond_rows;          /* captions: rows 0..cond_rows-1 of the last forward read the projected vector */
    float *dA, *dB;                  /* (T*B, n) gradient scratch */
    float *dG;                       /* (T, B, 4n) */
    float *dh_rec, *dc;              /* (B, n) */
    /* The embedding gradient is sparse: only rows of words in the window are
     * non-zero, so only they are zeroed, normed and applied. */
    int32_t *x_host;                 /* (T*B) inputs of the last forward */
    int32_t *touched;                /* distinct ids of the last backward, first-seen order */
    size_t n_touched;
    unsigned char *touched_mark;     /* (V) scratch flags, all 0 between calls */

    double prof[PH_COUNT];           /* seconds (lm_model_profile); the WAIT slots hold recurrence wall time until read */
};

/* A model with its parameters allocated (not initialised) and no window
 * buffers: what a checkpoint loader fills. */
lm_status lm_model_create_params(lm_model **out, const lm_config *cfg, int V, lm_error *err);
/* Steps per forward when one stream reads a long sequence (sampling's prefix,
 * a source sentence): the model's steps, but never more than 4 M logits, so a
 * model configured with absurd steps cannot make that cost gigabytes. */
int lm_model_read_chunk(const lm_model *m);
/* LM_OK if m was made for `task` (LM_TASK_LM: running text; LM_TASK_TRANSLATE:
 * source <sep> target pairs), else LM_EARG naming `what` and what m is: the
 * other word task's numbers would look plausible and mean nothing. */
lm_status lm_model_needs_task(const lm_model *m, int task, const char *what, lm_error *err);
/* lm_model_reserve by rows: buffers for forwards of up to `rows` rows and B streams. */
lm_status lm_model_reserve_rows(lm_model *m, size_t rows, int B, int train, lm_error *err);

/* A window of a caller's own for inference forwards (no dropout) of up to
 * rows x B streams of model m's shape; NULL without memory. */
lm_window *lm_window_create(const lm_model *m, size_t rows, int B);
void lm_window_free(lm_window *w);
/* B streams read x (T, B) from the state in slot w->prev_T (zero it, or set
 * slot 0 and prev_T = 0, to start elsewhere); row (t, b) predicts y
 * (negative: nothing, nll 0). Fills w->row_nll_host; returns the summed
 * nll, or NaN (nothing touched) for a window beyond w's capacity or ids
 * outside the vocabulary. The model is only read. */
double lm_window_forward(const lm_model *m, lm_window *w, const int32_t *x, const int32_t *y, int T, int B);

#endif

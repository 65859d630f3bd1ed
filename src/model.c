/* The deep LSTM language model: allocation, initialisation, and the forward
 * and backward passes of one truncated-BPTT window, written once in terms of
 * the backend table. Dropout sits at the L+1 non-recurrent sites only: the
 * embedding output and each layer's output going up; never on h_{t-1} -> h_t
 * or c_{t-1} -> c_t. */
#include "internal.h"
#include "model_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void *balloc(const lm_backend *be, size_t count, size_t elem, int *ok) {
    void *p = be->alloc(count * elem);
    if (!p) *ok = 0;
    return p;
}

lm_status lm_model_set_bf16(lm_model *m, int on, lm_error *err) {
    const lm_backend *be = on ? lm_backend_cpu_bf16() : lm_backend_cpu();
    if (!be) return lm_fail(err, LM_EARG, "bf16: this CPU lacks AVX512_BF16");
    m->be = be;  /* same memory functions: the buffers stay valid */
    m->cfg.bf16 = on != 0;
    return LM_OK;
}

/* ----------------------------------------------------------- windows */

static void window_release(lm_window *w) {
    const lm_backend *be = w->be;
    const int L = w->L;
    if (!be) return;  /* never allocated */
    be->free(w->x), be->free(w->y), be->free(w->emb_out);
    for (int l = 0; l <= L; l++) be->free(w->drop[l]), be->free(w->mask[l]);
    for (int l = 0; l < L; l++) {
        be->free(w->H[l]), be->free(w->C[l]);
        if (l == 0 || w->train) be->free(w->TC[l]), be->free(w->G[l]);  /* else layer 0's, shared */
    }
    be->free(w->logits), be->free(w->row_nll), free(w->row_nll_host);
    double *prof = w->prof;
    *w = (lm_window){.prof = prof};
}

/* Buffers for windows of up to `rows` rows and B streams; 0 (and nothing
 * held) without memory. */
static int window_alloc(lm_window *w, const lm_backend *be, int L, int n_, int V, size_t rows, int B, int train) {
    w->be = be, w->L = L, w->n = n_, w->V = V;
    const size_t n = (size_t)n_, slots = rows + (size_t)B;  /* T + 1 slots of B rows */
    int ok = 1;
    w->x = balloc(be, rows, sizeof(int32_t), &ok);
    w->y = balloc(be, rows, sizeof(int32_t), &ok);
    w->emb_out = balloc(be, rows * n, sizeof(float), &ok);
    for (int l = 0; l < L; l++) {
        w->H[l] = balloc(be, slots * n, sizeof(float), &ok);
        w->C[l] = balloc(be, slots * n, sizeof(float), &ok);
        /* inference: a layer's gates and tanh(c) are dead once its outputs are made */
        w->TC[l] = l == 0 || train ? balloc(be, rows * n, sizeof(float), &ok) : w->TC[0];
        w->G[l] = l == 0 || train ? balloc(be, rows * 4 * n, sizeof(float), &ok) : w->G[0];
    }
    if (train)
        for (int l = 0; l <= L; l++) {
            w->drop[l] = balloc(be, rows * n, sizeof(float), &ok);
            w->mask[l] = balloc(be, rows * n, sizeof(float), &ok);
        }
    w->logits = balloc(be, rows * (size_t)V, sizeof(float), &ok);
    w->row_nll = balloc(be, rows, sizeof(double), &ok);
    if (!(w->row_nll_host = calloc(rows, sizeof(double)))) ok = 0;
    w->train = train;  /* before a release, which reads it */
    if (!ok) {
        window_release(w);
        return 0;
    }
    w->rows = rows, w->B_cap = B;
    return 1;
}

lm_window *lm_window_create(const lm_model *m, size_t rows, int B) {
    if (rows < 1 || B < 1 || rows < (size_t)B) return NULL;
    lm_window *w = calloc(1, sizeof *w);
    if (w && !window_alloc(w, m->be, m->L, m->n, m->V, rows, B, 0)) free(w), w = NULL;
    return w;
}

void lm_window_free(lm_window *w) {
    if (!w) return;
    window_release(w);
    free(w);
}

/* The model's window buffers and training scratch: freed as a group, so a
 * reserve can replace them. */
static void free_workspace(lm_model *m) {
    const lm_backend *be = m->be;
    window_release(&m->win);
    be->free(m->grads), be->free(m->feat), be->free(m->zero_n);
    be->free(m->dA), be->free(m->dB), be->free(m->dG), be->free(m->dh_rec), be->free(m->dc);
    free(m->x_host), free(m->touched), free(m->touched_mark);
    m->grads = NULL, m->feat = NULL, m->zero_n = NULL, m->dA = m->dB = m->dG = NULL, m->dh_rec = m->dc = NULL;
    m->x_host = NULL, m->touched = NULL, m->touched_mark = NULL, m->n_touched = 0;
}

/* Buffers for forwards of up to `rows` = T x B rows and B streams; with
 * train also the backward's and the gradients. Only grows: a model that
 * trained can still evaluate. Growing drops the carried state. */
lm_status lm_model_reserve_rows(lm_model *m, size_t rows, int B, int train, lm_error *err) {
    if (rows < 1 || B < 1 || rows < (size_t)B) return lm_fail(err, LM_EARG, "window of %zu rows for %d streams", rows, B);
    lm_window *w = &m->win;
    if (rows <= w->rows && B <= w->B_cap && (!train || w->train)) return LM_OK;
    if (rows < w->rows) rows = w->rows;
    if (B < w->B_cap) B = w->B_cap;
    train = train || w->train;
    free_workspace(m);
    const lm_backend *be = m->be;
    const size_t n = (size_t)m->n, TB = rows, Bs = (size_t)B;
    int ok = window_alloc(w, be, m->L, m->n, m->V, rows, B, train);
    if (ok && m->cfg.input_dim > 0) {
        m->feat = balloc(be, TB * (size_t)m->cfg.input_dim, sizeof(float), &ok);
        m->zero_n = balloc(be, n, sizeof(float), &ok);  /* zeroed by alloc */
    }
    if (ok && !(m->x_host = calloc(TB, sizeof *m->x_host))) ok = 0;
    if (ok && train) {  /* what only training touches: gradients, backward scratch */
        m->grads = balloc(be, m->n_params, sizeof(float), &ok);
        m->dA = balloc(be, TB * n, sizeof(float), &ok);
        m->dB = balloc(be, TB * n, sizeof(float), &ok);
        m->dG = balloc(be, TB * 4 * n, sizeof(float), &ok);
        m->dh_rec = balloc(be, Bs * n, sizeof(float), &ok);
        m->dc = balloc(be, Bs * n, sizeof(float), &ok);
        if (m->p.emb) {  /* the sparse embedding gradient's bookkeeping */
            m->touched = calloc(TB, sizeof *m->touched);
            m->touched_mark = calloc((size_t)m->V, 1);
            if (!m->touched || !m->touched_mark) ok = 0;
        }
    }
    if (!ok) {
        free_workspace(m);
        return lm_fail(err, LM_ENOMEM, "out of memory allocating buffers for windows of %zu rows x %d streams%s", rows,
                       B, train ? " (training)" : "");
    }
    if (train) lm_params_views(&m->g, m->grads, m->tensors, m->L);
    lm_model_reset_state(m, B);
    return LM_OK;
}

lm_status lm_model_needs_task(const lm_model *m, int task, const char *what, lm_error *err) {
    if (m->cfg.task == task) return LM_OK;
    if (m->cfg.task == LM_TASK_FRAMES)
        return lm_fail(err, LM_EARG, "%s needs a model that reads words; this one classifies frames of %d features",
                       what, m->cfg.input_dim);
    if (m->cfg.task == LM_TASK_CAPTION)
        return lm_fail(err, LM_EARG, "%s needs a model of words alone; this one starts from a vector of %d features",
                       what, m->cfg.input_dim);
    if (task == LM_TASK_CAPTION)
        return lm_fail(err, LM_EARG, "%s needs a caption model; this one reads words alone", what);
    if (task == LM_TASK_LM)
        return lm_fail(err, LM_EARG, "%s needs a language model of text; this one translates (source <sep> target)",
                       what);
    return lm_fail(err, LM_EARG, "%s needs a translation model; this one is a language model of text", what);
}

int lm_model_read_chunk(const lm_model *m) {
    const int budget = (4 << 20) / m->V;
    return m->T_max < budget ? m->T_max : budget > 1 ? budget : 1;
}

lm_status lm_model_reserve(lm_model *m, int steps, int batch, int train, lm_error *err) {
    if (steps < 1 || batch < 1) return lm_fail(err, LM_EARG, "windows of %d steps x %d streams", steps, batch);
    return lm_model_reserve_rows(m, (size_t)steps * (size_t)batch, batch, train, err);
}

lm_status lm_model_create_params(lm_model **out, const lm_config *cfg, int V, lm_error *err) {
    *out = NULL;
    lm_status st = lm_config_validate(cfg, err);
    if (st != LM_OK) return st;
    if (V < 2 || V > LM_MAX_VOCAB) return lm_fail(err, LM_EARG, "vocabulary size %d: must be 2..%d", V, LM_MAX_VOCAB);
    if (cfg->layers > LM_MAX_LAYERS) return lm_fail(err, LM_EARG, "at most %d layers", LM_MAX_LAYERS);

    lm_model *m = calloc(1, sizeof *m);
    if (!m) return lm_fail(err, LM_ENOMEM, "out of memory");
    m->cfg = *cfg;
    m->V = V, m->n = cfg->hidden, m->L = cfg->layers;
    lm_model_set_bf16(m, cfg->bf16, NULL);  /* cannot fail: validated above */
    m->n_tensors = lm_params_layout(m->tensors, V, m->n, m->L, cfg->task, cfg->input_dim, &m->n_params);
    m->T_max = cfg->steps, m->B_max = cfg->batch;
    int ok = 1;
    m->params = balloc(m->be, m->n_params, sizeof(float), &ok);
    if (!ok) {
        const size_t n_params = m->n_params;  /* m is gone after the free */
        lm_model_free(m);
        return lm_fail(err, LM_ENOMEM, "out of memory allocating the model (%zu parameters)", n_params);
    }
    lm_params_views(&m->p, m->params, m->tensors, m->L);
    *out = m;
    return LM_OK;
}

lm_status lm_model_create(lm_model **out, const lm_config *cfg, int V, lm_error *err) {
    lm_model *m;
    *out = NULL;
    lm_status st = lm_model_create_params(&m, cfg, V, err);
    if (st != LM_OK) return st;
    if ((st = lm_model_reserve(m, cfg->steps, cfg->batch, 1, err)) != LM_OK) {
        lm_model_free(m);
        return st;
    }
    /* All parameters ~ U[-init, init], in table order, from the seeded RNG.
     * Initialised on the host, then uploaded. */
    float *host = malloc(m->n_params * sizeof *host);
    if (!host) {
        const size_t n_params = m->n_params;
        lm_model_free(m);
        return lm_fail(err, LM_ENOMEM, "out of memory initialising the model (%zu parameters)", n_params);
    }
    lm_rng_seed(&m->rng, cfg->seed);
    for (size_t i = 0; i < m->n_params; i++) host[i] = cfg->init * (2.0f * lm_rng_uniform(&m->rng) - 1.0f);
    m->be->upload(m->params, host, m->n_params * sizeof *host);
    free(host);
    *out = m;
    return LM_OK;
}

void lm_model_free(lm_model *m) {
    if (!m) return;
    free_workspace(m);
    m->be->free(m->params);
    free(m);
}

const lm_config *lm_model_config(const lm_model *m) { return &m->cfg; }
int lm_model_vocab_size(const lm_model *m) { return m->V; }

lm_status lm_ensemble_check(lm_model *const *models, int k, int task, const char *what, lm_error *err) {
    if (k < 1 || !models) return lm_fail(err, LM_EARG, "an ensemble needs at least one model");
    for (int i = 0; i < k; i++) {
        if (!models[i]) return lm_fail(err, LM_EARG, "model %d is NULL", i + 1);
        for (int j = 0; j < i; j++)
            if (models[j] == models[i])
                return lm_fail(err, LM_EARG, "model %d is model %d again: load the file twice", i + 1, j + 1);
        lm_error why;
        if (lm_model_needs_task(models[i], task, what, &why) != LM_OK)
            return k > 1 ? lm_fail(err, LM_EARG, "model %d: %s", i + 1, why.msg) : lm_fail(err, LM_EARG, "%s", why.msg);
        if (models[i]->V != models[0]->V)
            return lm_fail(err, LM_EARG, "model %d has %d words, model 1 has %d: an ensemble needs one vocabulary",
                           i + 1, models[i]->V, models[0]->V);
        if (models[i]->cfg.input_dim != models[0]->cfg.input_dim)  /* captions, frames: one input vector */
            return lm_fail(err, LM_EARG, "model %d reads vectors of %d features, model 1 of %d", i + 1,
                           models[i]->cfg.input_dim, models[0]->cfg.input_dim);
    }
    return LM_OK;
}
size_t lm_model_num_params(const lm_model *m) { return m->n_params; }
int lm_model_num_tensors(const lm_model *m) { return m->n_tensors; }
const lm_tensor_info *lm_model_tensor(const lm_model *m, int i) {
    return i >= 0 && i < m->n_tensors ? &m->tensors[i] : NULL;
}
float *lm_model_params(lm_model *m) { return m->params; }
float *lm_model_grads(lm_model *m) { return m->grads; }
const double *lm_model_row_nll(const lm_model *m) { return m->win.row_nll_host; }

void lm_model_logits_row(const lm_model *m, size_t row, float *out) {
    const lm_window *w = &m->win;
    if (!w->logits || row >= (size_t)w->T * (size_t)w->B) {  /* no such row: nothing to read */
        for (int j = 0; j < m->V; j++) out[j] = NAN;
        return;
    }
    m->be->download(out, w->logits + row * (size_t)m->V, (size_t)m->V * sizeof *out);
}

uint64_t lm_model_rng_state(const lm_model *m) { return m->rng.state; }
void lm_model_set_rng_state(lm_model *m, uint64_t state) { m->rng.state = state; }

const float *lm_model_dropout_mask(const lm_model *m, int site) {
    return m->win.dropout_on && site >= 0 && site <= m->L ? m->win.mask[site] : NULL;
}

lm_status lm_model_gather_state(lm_model *m, const int32_t *rows, int n, lm_error *err) {
    if (n < 1 || n > m->win.B_cap) return lm_fail(err, LM_EARG, "gather of %d streams: the model holds 1..%d", n, m->win.B_cap);
    for (int i = 0; i < n; i++)
        if (rows[i] < 0 || rows[i] >= m->win.B) return lm_fail(err, LM_EARG, "stream %d does not exist", rows[i]);
    const size_t N = (size_t)m->n, slot = (size_t)m->win.prev_T * m->win.B * N;
    float *old = malloc((size_t)m->win.B * N * sizeof *old), *neu = malloc((size_t)n * N * sizeof *neu);
    if (!old || !neu) { free(old), free(neu); return lm_fail(err, LM_ENOMEM, "out of memory"); }
    for (int l = 0; l < m->L; l++)
        for (int hc = 0; hc < 2; hc++) {
            float *buf = hc ? m->win.C[l] : m->win.H[l];
            m->be->download(old, buf + slot, (size_t)m->win.B * N * sizeof *old);
            for (int i = 0; i < n; i++) memcpy(neu + i * N, old + (size_t)rows[i] * N, N * sizeof *neu);
            m->be->upload(buf, neu, (size_t)n * N * sizeof *neu);  /* into slot 0 */
        }
    free(old), free(neu);
    m->win.prev_T = 0, m->win.grad = 0;
    m->win.B = n;
    return LM_OK;
}

void lm_model_reset_state(lm_model *m, int batch) {
    if (batch < 1 || batch > m->win.B_cap) return;  /* no buffers for it: lm_model_forward refuses such a batch */
    const size_t bn = (size_t)batch * m->n;
    for (int l = 0; l < m->L; l++) m->be->zero(m->win.H[l], bn), m->be->zero(m->win.C[l], bn);
    m->win.prev_T = 0, m->win.grad = 0;
    m->win.B = batch;
}

/* ------------------------------------------------------------ profiling */

static const char *const phase_names[PH_COUNT] = {
    [PH_EMBED] = "embedding, dropout, biases",
    [PH_IN_PROJ] = "input projections X W_ih^T",
    [PH_REC_F_PROD] = "recurrence fwd: h W_hh^T per step",
    [PH_REC_F_CELL] = "recurrence fwd: cell",
    [PH_REC_F_WAIT] = "recurrence fwd: barrier waits",
    [PH_OUT_PROJ] = "output layer X W_out^T",
    [PH_SOFTMAX] = "softmax + cross-entropy",
    [PH_OUT_BACK] = "output layer backward",
    [PH_REC_B_PROD] = "recurrence bwd: dG W_hh per step",
    [PH_REC_B_CELL] = "recurrence bwd: cell",
    [PH_REC_B_WAIT] = "recurrence bwd: barrier waits",
    [PH_W_GRAD] = "weight gradients, dX",
    [PH_DROP_BACK] = "dropout bwd, embedding grad",
    [PH_SGD] = "SGD: norm, clip, update",
};

void lm_model_profile(lm_model *m, int on) {
    m->win.prof = on ? m->prof : NULL;
    if (on) memset(m->prof, 0, sizeof m->prof);
}

int lm_model_profile_read(const lm_model *m, lm_phase_time *out, int max) {
    for (int i = 0; i < PH_COUNT && i < max; i++) {
        double s = m->prof[i];
        /* the WAIT slots hold the recurrence's wall time: less products and cell */
        if (i == PH_REC_F_WAIT || i == PH_REC_B_WAIT) s -= m->prof[i - 1] + m->prof[i - 2];
        out[i].name = phase_names[i];
        out[i].seconds = s > 0 ? s : 0;
    }
    return PH_COUNT;
}

/* Phase timing into prof (NULL: off): tock adds the time since the last
 * tick/tock to phase ph. */
static inline void tick(const double *prof, double *t) {
    if (prof) *t = lm_now();
}
static inline void tock(double *prof, int ph, double *t) {
    if (!prof) return;
    const double now = lm_now();
    prof[ph] += now - *t;
    *t = now;
}
/* The backend splits a recurrence's time into products and cell (thread means). */
static inline void profile_recurrence(const lm_backend *be, double *prof, int prod_phase) {
    if (prof && be->profile_recurrence) be->profile_recurrence(prof + prod_phase);
}

/* ------------------------------------------------------------- forwards */

/* Whether a window fits w's buffers (outside them nothing is touched: the
 * forwards return NaN), continues the carried state's B streams, and its
 * targets are classes. */
static int window_ok(const lm_model *m, lm_window *w, const int32_t *y, int T, int B, int train) {
    w->grad = 0;  /* a refused or failed forward leaves nothing to differentiate */
    if (T < 1 || B < 1 || (size_t)T * (size_t)B > w->rows || B > w->B_cap || (train && !w->train)) return 0;
    /* the carried state is B rows of slot prev_T: another B must start from slot 0 */
    if (w->prev_T > 0 && B != w->B) return 0;
    for (size_t r = 0; r < (size_t)T * B; r++)
        if (y[r] >= m->V) return 0;
    return 1;
}

static double forward_layers(const lm_model *m, lm_window *w, lm_rng *rng, double t);

/* Start a window: carry the state, upload the targets; dropout iff train. */
static void begin_window(const lm_model *m, lm_window *w, const int32_t *y, int T, int B, int train) {
    const lm_backend *be = m->be;
    const size_t Bn = (size_t)B * m->n;
    /* The state carried out of the previous window becomes slot 0. */
    if (w->prev_T > 0)
        for (int l = 0; l < m->L; l++) {
            be->copy(w->H[l], w->H[l] + (size_t)w->prev_T * Bn, Bn);
            be->copy(w->C[l], w->C[l] + (size_t)w->prev_T * Bn, Bn);
        }
    w->T = T, w->B = B, w->prev_T = T;
    w->grad = train;
    w->dropout_on = train && m->cfg.dropout > 0.0f;
    be->upload(w->y, y, (size_t)T * B * sizeof *y);
}

/* The embedding rows of a window of words (checked: ids in the vocabulary). */
static int embed_words(const lm_model *m, lm_window *w, const int32_t *x, int T, int B) {
    const size_t rows = (size_t)T * B;
    for (size_t r = 0; r < rows; r++)  /* an id outside the vocabulary would index outside the tables */
        if (x[r] < 0 || x[r] >= m->V) return 0;
    m->be->upload(w->x, x, rows * sizeof *x);
    m->be->embed_forward(w->emb_out, w->x, m->p.emb, rows, m->n);
    return 1;
}

/* emb_out rows [0, B) = feats W_in^T + b_in, feats (B, input_dim) on the device. */
static void project_rows(lm_model *m, size_t B) {
    const int d = m->cfg.input_dim;
    m->be->bias_rows(m->win.emb_out, m->p.in_b, m->zero_n, B, m->n);
    m->be->gemm(0, 1, (int)B, m->n, d, 1.0f, m->feat, d, m->p.in_w, d, 1.0f, m->win.emb_out, m->n);
}

static int all_finite(const float *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

/* The model's own window of words: embedded, ids kept for the sparse embedding gradient. */
static int model_words(lm_model *m, const int32_t *x, int T, int B) {
    if (!embed_words(m, &m->win, x, T, B)) return 0;
    memcpy(m->x_host, x, (size_t)T * B * sizeof *x);
    return 1;
}

double lm_model_forward(lm_model *m, const int32_t *x, const int32_t *y, int T, int B, int train) {
    if (m->cfg.task == LM_TASK_FRAMES || !window_ok(m, &m->win, y, T, B, train)) return NAN;
    double t = 0;
    tick(m->win.prof, &t);
    if (!model_words(m, x, T, B)) return NAN;
    begin_window(m, &m->win, y, T, B, train);
    m->cond_rows = 0;
    return forward_layers(m, &m->win, &m->rng, t);
}

double lm_model_forward_cond(lm_model *m, const float *cond, const int32_t *x, const int32_t *y, int T, int B,
                             int train) {
    if (m->cfg.task != LM_TASK_CAPTION || !window_ok(m, &m->win, y, T, B, train)) return NAN;
    if (!all_finite(cond, (size_t)B * m->cfg.input_dim)) return NAN;
    double t = 0;
    tick(m->win.prof, &t);
    if (!model_words(m, x, T, B)) return NAN;
    begin_window(m, &m->win, y, T, B, train);
    /* step 0 reads the projected vector in place of its word */
    m->be->upload(m->feat, cond, (size_t)B * m->cfg.input_dim * sizeof *cond);
    project_rows(m, (size_t)B);
    m->cond_rows = B;
    return forward_layers(m, &m->win, &m->rng, t);
}

double lm_model_forward_frames(lm_model *m, const float *feats, const int32_t *y, int T, int B, int train) {
    const int d = m->cfg.input_dim;
    if (m->cfg.task != LM_TASK_FRAMES || !window_ok(m, &m->win, y, T, B, train)) return NAN;
    const size_t rows = (size_t)T * B;
    if (!all_finite(feats, rows * (size_t)d)) return NAN;
    begin_window(m, &m->win, y, T, B, train);
    m->be->upload(m->feat, feats, rows * (size_t)d * sizeof *feats);
    double t = 0;
    tick(m->win.prof, &t);
    project_rows(m, rows);  /* every step reads a projected frame */
    m->cond_rows = (int)rows;
    tock(m->win.prof, PH_IN_PROJ, &t);
    return forward_layers(m, &m->win, &m->rng, t);
}

double lm_window_forward(const lm_model *m, lm_window *w, const int32_t *x, const int32_t *y, int T, int B) {
    if (m->cfg.task != LM_TASK_LM || w->L != m->L || w->n != m->n || w->V != m->V || !window_ok(m, w, y, T, B, 0))
        return NAN;
    double t = 0;
    if (!embed_words(m, w, x, T, B)) return NAN;
    begin_window(m, w, y, T, B, 0);
    return forward_layers(m, w, NULL, t);
}

/* The shared rest of a forward, from the first layer's input in w->emb_out,
 * for the window begin_window set up; rng draws the dropout masks. */
static double forward_layers(const lm_model *m, lm_window *w, lm_rng *rng, double t) {
    const lm_backend *be = m->be;
    const int n = m->n, V = m->V, L = m->L, T = w->T, B = w->B;
    const size_t Bn = (size_t)B * n, rows = (size_t)T * B;
    const float p = m->cfg.dropout;
    double *prof = w->prof;
    w->X[0] = w->emb_out;
    if (w->dropout_on) {
        be->dropout_forward(w->drop[0], w->mask[0], w->emb_out, rows * n, p, lm_rng_next(rng));
        w->X[0] = w->drop[0];
    }
    for (int l = 0; l < L; l++) {
        float *G = w->G[l], *H = w->H[l], *C = w->C[l];
        /* Input projections of the whole window in one product. */
        be->bias_rows(G, m->p.b_ih[l], m->p.b_hh[l], rows, 4 * n);
        tock(prof, PH_EMBED, &t);
        be->gemm(0, 1, (int)rows, 4 * n, n, 1.0f, w->X[l], n, m->p.w_ih[l], n, 1.0f, G, 4 * n);
        tock(prof, PH_IN_PROJ, &t);
        profile_recurrence(be, prof, PH_REC_F_PROD);
        be->lstm_layer_forward(G, H, C, w->TC[l], m->p.w_hh[l], T, B, n);
        tock(prof, PH_REC_F_WAIT, &t);  /* wall time; the products and cell are taken off when read */
        w->X[l + 1] = H + Bn;  /* slots 1..T: the layer's outputs, (T*B, n) */
        if (w->dropout_on) {
            be->dropout_forward(w->drop[l + 1], w->mask[l + 1], H + Bn, rows * n, p, lm_rng_next(rng));
            w->X[l + 1] = w->drop[l + 1];
        }
    }
    tock(prof, PH_EMBED, &t);
    be->gemm(0, 1, (int)rows, V, n, 1.0f, w->X[L], n, m->p.out_w, n, 0.0f, w->logits, V);
    tock(prof, PH_OUT_PROJ, &t);
    /* loss = sum_t mean_b CE, so dloss/dlogits carries 1/B */
    be->softmax_xent(w->logits, w->row_nll, m->p.out_b, w->y, rows, V, 1.0f / (float)B, w->grad);
    tock(prof, PH_SOFTMAX, &t);

    be->download(w->row_nll_host, w->row_nll, rows * sizeof *w->row_nll_host);
    double sum = 0.0;
    for (size_t r = 0; r < rows; r++) sum += w->row_nll_host[r];
    return sum;
}

/* Every gradient is written (=) by the one product or sum that makes it, so
 * nothing is zeroed up front except the embedding rows of the last window. */
void lm_model_backward(lm_model *m) {
    if (!m->win.train || !m->win.grad) return;  /* no training buffers or no training forward: nothing to differentiate */
    const lm_backend *be = m->be;
    const int n = m->n, V = m->V, L = m->L, T = m->win.T, B = m->win.B;
    const size_t rows = (size_t)T * B;
    lm_views *g = &m->g, *p = &m->p;

    double t = 0;
    tick(m->win.prof, &t);
    /* Output layer: dlogits (rows, V) is in m->win.logits. */
    be->col_sum(g->out_b, m->win.logits, rows, V);
    be->gemm(1, 0, V, n, (int)rows, 1.0f, m->win.logits, V, m->win.X[L], n, 0.0f, g->out_w, n);
    float *dIn = m->dA, *dOut = m->dB;  /* dOut: dL/dh of the layer being processed */
    be->gemm(0, 0, (int)rows, n, V, 1.0f, m->win.logits, V, p->out_w, n, 0.0f, dIn, n);
    tock(m->win.prof, PH_OUT_BACK, &t);
    if (m->win.dropout_on) be->mul(dOut, dIn, m->win.mask[L], rows * n);
    else { float *s = dOut; dOut = dIn, dIn = s; }
    tock(m->win.prof, PH_DROP_BACK, &t);

    for (int l = L - 1; l >= 0; l--) {
        float *dG = m->dG;
        profile_recurrence(be, m->win.prof, PH_REC_B_PROD);
        be->lstm_layer_backward(dG, dOut, m->dc, m->dh_rec, m->win.G[l], m->win.C[l], m->win.TC[l], p->w_hh[l], T, B, n);
        tock(m->win.prof, PH_REC_B_WAIT, &t);
        /* Weight gradients of the whole window in one product each. */
        be->gemm(1, 0, 4 * n, n, (int)rows, 1.0f, dG, 4 * n, m->win.H[l], n, 0.0f, g->w_hh[l], n);
        be->gemm(1, 0, 4 * n, n, (int)rows, 1.0f, dG, 4 * n, m->win.X[l], n, 0.0f, g->w_ih[l], n);
        be->col_sum(g->b_ih[l], dG, rows, 4 * n);
        be->copy(g->b_hh[l], g->b_ih[l], 4 * (size_t)n);
        be->gemm(0, 0, (int)rows, n, 4 * n, 1.0f, dG, 4 * n, p->w_ih[l], n, 0.0f, dIn, n);
        tock(m->win.prof, PH_W_GRAD, &t);
        if (m->win.dropout_on) be->mul(dOut, dIn, m->win.mask[l], rows * n);
        else { float *s = dOut; dOut = dIn, dIn = s; }
        tock(m->win.prof, PH_DROP_BACK, &t);
    }
    /* The projection's gradients (dense) from the rows that read projected
     * vectors: all of a frames window, step 0 of a caption's first window,
     * none of a caption's later windows (zero, as gradients are written =). */
    const size_t proj = (size_t)m->cond_rows;
    if (g->in_w) {
        const int d = m->cfg.input_dim;
        if (proj) {
            be->gemm(1, 0, n, d, (int)proj, 1.0f, dOut, n, m->feat, d, 0.0f, g->in_w, d);
            be->col_sum(g->in_b, dOut, proj, n);
        } else {
            be->zero(g->in_w, (size_t)n * d);
            be->zero(g->in_b, (size_t)n);
        }
        tock(m->win.prof, PH_W_GRAD, &t);
    }
    if (!g->emb) return;
    /* The embedding's, sparse: the rows of the words read (after the projected ones). */
    for (size_t k = 0; k < m->n_touched; k++) be->zero(g->emb + (size_t)m->touched[k] * n, (size_t)n);
    m->n_touched = 0;
    for (size_t r = proj; r < rows; r++) {
        int32_t id = m->x_host[r];
        if (!m->touched_mark[id]) m->touched_mark[id] = 1, m->touched[m->n_touched++] = id;
    }
    for (size_t k = 0; k < m->n_touched; k++) m->touched_mark[m->touched[k]] = 0;
    be->embed_backward(g->emb, m->win.x + proj, dOut + proj * n, rows - proj, n);
    tock(m->win.prof, PH_DROP_BACK, &t);
}

/* The embedding (tensor 0) contributes only its touched rows; the rest of the
 * buffer is dense. */
double lm_model_sgd_step(lm_model *m, float lr, float clip) {
    if (!m->win.train) return NAN;
    const lm_backend *be = m->be;
    /* words: the embedding (tensor 0) is sparse, handled by touched rows; frames: all dense */
    const size_t n = (size_t)m->n, emb = m->p.emb ? m->tensors[0].size : 0;
    double t = 0;
    tick(m->win.prof, &t);
    double ss = be->sumsq(m->grads + emb, m->n_params - emb);
    for (size_t k = 0; k < m->n_touched; k++) ss += be->sumsq(m->g.emb + (size_t)m->touched[k] * n, n);
    double norm = sqrt(ss), scale = 1.0;
    if (clip > 0.0f && norm + 1e-6 > clip) scale = clip / (norm + 1e-6);  /* as torch clip_grad_norm_ */
    const float a = (float)(-lr * scale);
    be->axpy(m->params + emb, a, m->grads + emb, m->n_params - emb);
    for (size_t k = 0; k < m->n_touched; k++) {
        const size_t off = (size_t)m->touched[k] * n;
        be->axpy(m->p.emb + off, a, m->g.emb + off, n);
    }
    tock(m->win.prof, PH_SGD, &t);
    return norm;
}

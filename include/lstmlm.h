/* lstmlm: deep LSTM language models regularised with dropout on the
 * non-recurrent connections only (Zaremba, Sutskever & Vinyals, 2014).
 *
 * The library never prints and never exits: every fallible call returns an
 * lm_status and fills an lm_error with a one-line message for the caller
 * (err may be NULL when the message is not wanted).
 *
 * Threads: different models may be used from different threads at once. A
 * model (training, evaluation, decoding: anything that runs a forward on it)
 * is used by one thread at a time, except through the streaming scoring
 * states below, which only read it. BF16 matrix products share process-wide
 * packing buffers, so BF16 work from several threads takes turns product by
 * product. lm_set_threads is process-wide. */
#ifndef LSTMLM_H
#define LSTMLM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LM_OK = 0,
    LM_EIO,      /* a file could not be opened, read or written */
    LM_EDATA,    /* input text is malformed or too short */
    LM_ENOMEM,   /* an allocation failed */
    LM_EARG,     /* an argument or configuration value is out of range */
    LM_EFORMAT,  /* a checkpoint is truncated, corrupted or foreign */
    LM_ESTOPPED, /* the progress callback asked to stop; the results cover the work done */
} lm_status;

typedef struct {
    char msg[512];
} lm_error;

/* ------------------------------------------------------------ configuration */

typedef struct {
    int layers;      /* L, number of stacked LSTM layers */
    int hidden;      /* n, units per layer and embedding size */
    int steps;       /* truncated-BPTT window length */
    int batch;       /* B, parallel streams */
    float dropout;   /* p, drop probability at the L+1 non-recurrent sites */
    float init;      /* parameters ~ U[-init, init] */
    float lr;        /* initial SGD learning rate */
    int max_epoch;   /* epochs at the initial rate */
    int epochs;      /* total epochs */
    float decay;     /* lr divisor per epoch after max_epoch */
    float clip;      /* max global L2 norm of the gradient */
    uint64_t seed;   /* seeds initialisation and dropout masks */
    int threads;     /* worker threads for BLAS and elementwise loops */
    int task;        /* LM_TASK_LM, or LM_TASK_TRANSLATE: source <sep> target <eos> */
    int reverse_source;  /* translation: feed the source words in reverse order */
    int bf16;        /* matrix products in BF16 with FP32 accumulation and FP32 weights
                        (needs AVX512_BF16; see lm_bf16_available) */
    int input_dim;   /* LM_TASK_FRAMES: floats per input frame, projected to the first layer by a
                        learned (hidden, input_dim) matrix and bias in place of the embedding;
                        LM_TASK_CAPTION: floats of the conditioning vector, projected the same way
                        as the first step's input, before the words; 0 otherwise */
    int delay;       /* LM_TASK_FRAMES: step t predicts the label of frame t - delay (0..1000) */
} lm_config;

/* LM_TASK_FRAMES: feature vectors in, one class per step out (frame
 * classification); the vocabulary is the class names. LM_TASK_CAPTION: a
 * sequence conditioned on a vector (an image's features): step 0 reads the
 * projected vector, the steps after it read words (Show and Tell). */
enum { LM_TASK_LM = 0, LM_TASK_TRANSLATE = 1, LM_TASK_FRAMES = 2, LM_TASK_CAPTION = 3 };

/* Fill cfg with a preset of the paper ("small", "medium", "large").
 * @return LM_OK, or LM_EARG for an unknown name (cfg untouched). */
lm_status lm_config_preset(lm_config *cfg, const char *name, lm_error *err);

/* Check every field is in range. @return LM_OK or LM_EARG with the field named. */
lm_status lm_config_validate(const lm_config *cfg, lm_error *err);

/* Learning rate of epoch `epoch` (1-based): lr / decay^max(epoch - max_epoch, 0). */
float lm_config_lr_at(const lm_config *cfg, int epoch);

/* ------------------------------------------------------------ text and vocabulary */

typedef struct lm_vocab lm_vocab;

typedef struct {
    int32_t *ids;    /* (n) word ids, each line end contributing "<eos>" */
    size_t n;
    size_t n_oov;    /* words not in the vocabulary, read as "<unk>" */
    /* Set by lm_tokens_read: the text begins at a sentence boundary, so
     * evaluation reads `eos` before ids[0] (sentence start, see "streaming
     * scoring") and predicts every id. 0: ids[0] is context only. */
    int starts_sentence;
    int32_t eos;
} lm_tokens;

/* Build the vocabulary of a training file: every distinct word plus "<eos>",
 * ordered by decreasing count, ties by byte order. */
lm_status lm_vocab_build(lm_vocab **out, const char *path, lm_error *err);
/* The same keeping only words seen at least min_count times and at most
 * max_vocab words in all (0: no limit; "<eos>" and "<unk>" included); the
 * words left out read as "<unk>", added when any word is left out. */
lm_status lm_vocab_build_limited(lm_vocab **out, const char *path, int min_count, int max_vocab, lm_error *err);
/* Vocabulary from an explicit list of words (ids in list order). */
lm_status lm_vocab_from_words(lm_vocab **out, const char *const *words, int n, lm_error *err);
void lm_vocab_free(lm_vocab *v);
int lm_vocab_size(const lm_vocab *v);
const char *lm_vocab_word(const lm_vocab *v, int id);
/* @return the id of `word`, or -1. */
int lm_vocab_find(const lm_vocab *v, const char *word);

/* Read a text file and map it to ids. A word missing from the vocabulary maps
 * to "<unk>" (counted in n_oov) when the vocabulary has it; otherwise it is
 * an LM_EDATA error naming file, line and word. Refused like any text: NUL
 * bytes, invalid UTF-8, words over 1024 bytes. */
lm_status lm_tokens_read(lm_tokens *out, const char *path, const lm_vocab *v, lm_error *err);
void lm_tokens_free(lm_tokens *t);

/* One line of text (len bytes, need not be NUL-terminated) to ids, checked
 * as files are: NUL bytes, invalid UTF-8 and words over 1024 bytes are
 * LM_EDATA errors saying at which byte. Words are split on white space;
 * unknown ones become "<unk>" (counted in *n_oov) or, without "<unk>" in the
 * vocabulary, an error. ids has room for len / 2 + 1; so has is_oov, if not
 * NULL: is_oov[i] = 1 where word i was read as "<unk>" without being it. */
lm_status lm_line_ids(const lm_vocab *v, const char *line, size_t len, int32_t *ids, size_t *n, size_t *n_oov,
                      unsigned char *is_oov, lm_error *err);

/* ------------------------------------------------------------ frame datasets */

/* Labelled feature frames for frame classification (docs/FORMAT.md, "Frame
 * datasets"): utterance u is frames offsets[u] .. offsets[u+1]-1, each frame
 * `dim` floats with one label in 0..n_classes-1. */
typedef struct {
    int dim;               /* features per frame, >= 1 */
    int n_classes;         /* K >= 2 */
    size_t n_frames, n_utts;
    float *features;       /* (n_frames, dim), all finite */
    int32_t *labels;       /* (n_frames) */
    int64_t *offsets;      /* (n_utts + 1): 0, strictly increasing (no empty utterance), n_frames */
    char **class_names;    /* K distinct names without white space */
    char *provenance;      /* free text: how the file was made (may be "") */
} lm_frames;

/* Read and validate a frame dataset; on error (LM_EIO, LM_EFORMAT naming the
 * file and the utterance, frame or class at fault, LM_ENOMEM) *d is empty. */
lm_status lm_frames_load(lm_frames *d, const char *path, lm_error *err);
/* Write d atomically (temporary file, then rename), after the same checks
 * the reader makes: a file it writes can always be read back. */
lm_status lm_frames_save(const lm_frames *d, const char *path, lm_error *err);
void lm_frames_free(lm_frames *d);

/* ------------------------------------------------------------ feature files */

/* One vector per item (docs/FORMAT.md, "Feature files"): the conditioning
 * input of a caption model, e.g. an image's CNN features. */
typedef struct {
    int dim;               /* floats per item, 1..65536 */
    size_t n;              /* items, >= 1 */
    float *data;           /* (n, dim), all finite */
    char *names;           /* NULL, or n item names joined by "\n" */
    char *provenance;      /* free text: how the file was made (may be "") */
} lm_features;

/* Read and validate a feature file; on error *f is empty and the message
 * names the file and the item at fault. */
lm_status lm_features_load(lm_features *f, const char *path, lm_error *err);
/* Write f atomically, after the reader's checks. */
lm_status lm_features_save(const lm_features *f, const char *path, lm_error *err);
void lm_features_free(lm_features *f);

/* ------------------------------------------------------------ batching */

/* The stream cut into `batch` contiguous parts read in parallel, served as
 * windows of `steps` inputs and their next-word targets (TF ptb_producer). */
typedef struct {
    const int32_t *data;
    size_t stream_len;   /* words per stream: n / batch */
    size_t n_windows;    /* (stream_len - 1) / steps */
    int batch, steps;
} lm_batcher;

lm_status lm_batcher_init(lm_batcher *bt, const lm_tokens *t, int batch, int steps, lm_error *err);
/* Window w: x[t*batch + b] = stream b at position w*steps + t; y the word after. */
void lm_batcher_window(const lm_batcher *bt, size_t w, int32_t *x, int32_t *y);

/* ------------------------------------------------------------ model */

typedef struct lm_model lm_model;

/* Allocate a model of `cfg` sizes for vocabulary size V (2 .. 2^24), with
 * training buffers for windows of up to cfg->steps x cfg->batch. Parameters
 * are initialised from cfg->seed. */
lm_status lm_model_create(lm_model **out, const lm_config *cfg, int V, lm_error *err);
/* Make room for forwards of up to steps x batch (and with train != 0 for
 * their backward and SGD step). Buffers only grow; growing them drops the
 * carried state. A loaded model has none until a function that uses it
 * (lm_evaluate, lm_sample, lm_translate, ...) or the caller reserves them, so
 * evaluation never pays for what training would need. */
lm_status lm_model_reserve(lm_model *m, int steps, int batch, int train, lm_error *err);
/* Switch a model's matrix products between FP32 (on = 0) and BF16 (on = 1)
 * for what follows; parameters are untouched. LM_EARG where the CPU lacks
 * AVX512_BF16. */
lm_status lm_model_set_bf16(lm_model *m, int on, lm_error *err);
void lm_model_free(lm_model *m);
const lm_config *lm_model_config(const lm_model *m);
int lm_model_vocab_size(const lm_model *m);

/* The parameter table: one contiguous buffer, tensors in a fixed order. */
size_t lm_model_num_params(const lm_model *m);
int lm_model_num_tensors(const lm_model *m);
typedef struct {
    char name[32];
    int ndim;
    size_t shape[2];
    size_t offset;   /* in floats from the start of the buffer */
    size_t size;     /* elements */
} lm_tensor_info;
const lm_tensor_info *lm_model_tensor(const lm_model *m, int i);
float *lm_model_params(lm_model *m);   /* (num_params) */
float *lm_model_grads(lm_model *m);    /* (num_params), valid after a backward */

/* Zero the carried hidden and cell state of every stream. */
void lm_model_reset_state(lm_model *m, int batch);

/* Forward one window of T time steps and `batch` streams, x and y
 * time-major (T, batch), within the reserved buffers (lm_model_reserve).
 * State is carried in from the previous call and out to
 * the next. With train != 0 dropout is applied with fresh masks; else none.
 * A negative y marks a position without a prediction (padding, or a source
 * word in translation): it adds no loss and no gradient.
 * @return the summed cross-entropy over the predictions (nats); NaN, with
 * nothing computed, for a window outside the buffers, an id outside the
 * vocabulary, or a batch other than the carried state's (start another batch
 * with lm_model_reset_state). */
double lm_model_forward(lm_model *m, const int32_t *x, const int32_t *y, int T, int batch, int train);
/* The same for a frames model (LM_TASK_FRAMES): feats (T, batch, input_dim)
 * time-major in place of word ids, y the class of each step (negative: no
 * prediction, e.g. the first `delay` steps or padding). NaN, with nothing
 * computed, outside the buffers, for a class outside 0..classes-1, a feature
 * that is not finite, or a model that reads words (and lm_model_forward
 * returns NaN for a frames model). */
double lm_model_forward_frames(lm_model *m, const float *feats, const int32_t *y, int T, int batch, int train);
/* The first window of conditioned sequences (LM_TASK_CAPTION): step 0 of
 * stream b reads cond[b] (batch, input_dim), projected (its x is ignored but
 * must be a valid id); steps 1..T-1 read the words x as lm_model_forward
 * does, and the loss is as there. Later windows of the same sequences use
 * lm_model_forward. NaN, with nothing computed, outside the buffers, for an
 * id outside the vocabulary, a feature that is not finite, or another task. */
double lm_model_forward_cond(lm_model *m, const float *cond, const int32_t *x, const int32_t *y, int T, int batch,
                             int train);

/* Where a window's time goes (benchmarks). lm_model_profile(m, 1) zeroes the
 * counters and times every phase of the following forwards, backwards and
 * SGD steps; (m, 0) stops. lm_model_profile_read fills up to max entries with
 * each phase's name and seconds so far and returns how many there are. The
 * timers cost a clock read per phase (and two per recurrence step). */
typedef struct {
    const char *name;
    double seconds;
} lm_phase_time;
void lm_model_profile(lm_model *m, int on);
int lm_model_profile_read(const lm_model *m, lm_phase_time *out, int max);

/* Gradients (=, not +=) of loss = sum_t mean_b CE of the last forward
 * (needs training buffers; without them it does nothing). */
void lm_model_backward(lm_model *m);

/* Clip the global gradient norm to `clip` and take an SGD step.
 * @return the norm before clipping. */
double lm_model_sgd_step(lm_model *m, float lr, float clip);

/* Per-prediction cross-entropy of the last forward: (T*batch) nats, time-major. */
const double *lm_model_row_nll(const lm_model *m);
/* Copy row `row` (t*batch + b) of the last evaluation forward's logits,
 * output bias included, into out (V). Valid after a forward with train == 0;
 * a row outside the last forward's T*batch gives V NaNs. */
void lm_model_logits_row(const lm_model *m, size_t row, float *out);

/* Keep the carried state of rows[0..n) as the new streams 0..n-1 (a beam
 * search reorders and duplicates hypotheses this way). n <= the model's batch. */
lm_status lm_model_gather_state(lm_model *m, const int32_t *rows, int n, lm_error *err);

/* The RNG that draws dropout masks (one draw per mask). Saving it before a
 * training forward and restoring it repeats the same masks. */
uint64_t lm_model_rng_state(const lm_model *m);
void lm_model_set_rng_state(lm_model *m, uint64_t state);

/* Dropout masks of the last training forward: site 0 is the embedding output,
 * site l the output of layer l going up (site L feeds the softmax). Each is
 * (T, batch, hidden), values 0 or 1/(1-p). NULL when dropout was off. */
const float *lm_model_dropout_mask(const lm_model *m, int site);

/* ------------------------------------------------------------ training and evaluation */

typedef struct {
    double nll;          /* summed cross-entropy, nats */
    size_t words;        /* predicted words (frames: predicted frames) */
    double seconds;
    size_t correct;      /* frames only: frames whose most probable class is the label */
} lm_run_stats;

/* Called after each window with the windows done so far. Return nonzero to
 * stop after this window (training stops at a consistent boundary). */
typedef int (*lm_progress_fn)(void *user, size_t done, size_t total, const lm_run_stats *so_far);

/* Frames models (LM_TASK_FRAMES) over a frame dataset whose dim and class
 * count match the model's: utterances batched by length (the batches in an
 * order drawn from seed when training), each from a zero state, in windows
 * of the model's steps with the state carried within an utterance; step t
 * reads frame t and predicts the class of frame t - delay. stats->words
 * counts the frames predicted (all of them), stats->correct those whose most
 * probable class was right (the frame accuracy). A progress callback that
 * returns nonzero stops after the current batch: LM_ESTOPPED. */
lm_status lm_frames_train_epoch(lm_model *m, const lm_frames *d, float lr, uint64_t seed, lm_progress_fn progress,
                                void *user, lm_run_stats *stats, lm_error *err);
lm_status lm_frames_evaluate(lm_model *m, const lm_frames *d, int batch, lm_progress_fn progress, void *user,
                             lm_run_stats *stats, lm_error *err);

/* Language models (LM_TASK_LM) over running text. A model of another task is
 * refused (LM_EARG, naming both): its numbers would look plausible and mean
 * nothing. */

/* One epoch of truncated BPTT over `train` with learning rate lr, from window
 * `start`: 0 starts the epoch (carried state zeroed, *stats cleared); a
 * larger value continues a resumed epoch (state and *stats as loaded).
 * *done receives the windows completed (n_windows unless stopped). */
lm_status lm_train_epoch(lm_model *m, const lm_tokens *train, float lr, size_t start, lm_progress_fn progress,
                         void *user, lm_run_stats *stats, size_t *done, lm_error *err);
/* Windows per epoch of `train` for the model's batch and steps (0 if too short). */
size_t lm_train_windows(const lm_model *m, const lm_tokens *train);

/* Perplexity-style evaluation without dropout: `batch` streams, windows of
 * `steps`, state carried. batch = 1 evaluates the whole stream (last window
 * may be shorter), as the paper's test protocol does. A progress callback
 * returning nonzero stops it: LM_ESTOPPED. */
lm_status lm_evaluate(lm_model *m, const lm_tokens *t, int batch, int steps, lm_progress_fn progress,
                      void *user, lm_run_stats *stats, lm_error *err);

/* Model averaging (SPEC.md section 3): perplexity of the arithmetic mean of
 * the k models' next-word distributions, evaluated like lm_evaluate. Each
 * model's own result goes to each[i] (may be NULL). The models must share the
 * vocabulary size (the caller checks the words). */
lm_status lm_evaluate_ensemble(lm_model *const *models, int k, const lm_tokens *t, int batch, int steps,
                               lm_progress_fn progress, void *user, lm_run_stats *each, lm_run_stats *ensemble,
                               lm_error *err);

/* exp(nll / words) */
double lm_perplexity(const lm_run_stats *s);

/* ------------------------------------------------------------ streaming scoring
 *
 * A language model as other programs use one (speech recognisers, MT
 * decoders, n-best rescoring): a caller-owned state per stream, one call per
 * word, a log-probability out.
 *
 * Every log-probability here is a natural logarithm (base e); divide by
 * ln 10 for the log10 of ARPA tools.
 *
 * Sentence start is the state after the model reads "<eos>" from the zero
 * state: in training every sentence followed the previous one's "<eos>", so
 * this is how the model saw a sentence begin. `lstmlm eval` reads a file
 * from the same state, and scoring a file's sentences one after another with
 * the state carried gives eval's total.
 *
 * Threads: the model is only read. Any number of states may share it, and
 * states may be stepped from several threads at once (each thread keeps its
 * own working memory, released when the thread exits); a BF16 model's
 * products take turns, since they share packing buffers. A state is used by
 * one thread at a time. No function here exits or prints: failures are
 * statuses with a message in err. */

typedef struct lm_state lm_state;

/* A state at sentence start for a plain language model (LM_TASK_LM) and the
 * vocabulary it was trained with (loaded with it by lm_checkpoint_load; it
 * must hold "<eos>"). The model must outlive its states. */
lm_status lm_state_create(lm_state **out, const lm_model *m, const lm_vocab *v, lm_error *err);
void lm_state_free(lm_state *s);
/* Back to sentence start. */
void lm_state_reset(lm_state *s);
/* dst = src (two states of one model); lm_state_clone makes a new one. */
lm_status lm_state_copy(lm_state *dst, const lm_state *src, lm_error *err);
lm_status lm_state_clone(lm_state **out, const lm_state *src, lm_error *err);
const lm_model *lm_state_model(const lm_state *s);

/* Read `word` (an id of the vocabulary): *logp = log P(word | state), then
 * the state advances past the word. logp may be NULL: the state advances
 * without the softmax (a context word whose probability is not wanted). */
lm_status lm_state_step(lm_state *s, int32_t word, double *logp, lm_error *err);
/* log P(word | state) without advancing. */
lm_status lm_state_logprob(lm_state *s, int32_t word, double *logp, lm_error *err);
/* The whole next-word distribution: logp (V) = log P(w | state) for every w. */
lm_status lm_state_distribution(lm_state *s, float *logp, lm_error *err);
/* The k most likely next words, most likely first (ties: lower id first):
 * ids (k) and their logp (k); 1 <= k <= V. */
lm_status lm_state_topk(lm_state *s, int k, int32_t *ids, float *logp, lm_error *err);
/* n independent states (distinct, one model) read one word each in the rows
 * of one set of matrix products: the throughput path. logp (n) or NULL. The
 * result equals n lm_state_step calls to float accuracy. */
lm_status lm_state_step_batch(lm_state *const *states, int n, const int32_t *words, double *logp, lm_error *err);
/* A sentence: step through words (n ids) and, when end != 0, "<eos>" after
 * them. per_word (n + (end != 0)) or NULL receives each log-probability;
 * *total their sum. The state is left after the last word read; an id
 * outside the vocabulary is refused before any is read. */
lm_status lm_state_score(lm_state *s, const int32_t *words, size_t n, int end, double *per_word, double *total,
                         lm_error *err);
/* n sentences, each from sentence start: sentence i = words[i] (lens[i]
 * ids) then "<eos>". totals (n) receives their log-probabilities; per_word
 * NULL, or n pointers (each NULL or room for lens[i] + 1). The throughput
 * path: sentences sorted by length go through the model `batch` at a time in
 * windows of several steps, the shapes evaluation uses; equal to
 * lm_state_score one by one to float accuracy. Uses no lm_state; batch is
 * 1..4096. */
lm_status lm_score_sentences(const lm_model *m, const lm_vocab *v, int batch, size_t n, const int32_t *const *words,
                             const size_t *lens, double *totals, double *const *per_word, lm_error *err);

/* ------------------------------------------------------------ generation */

typedef struct {
    float temperature;            /* logits / temperature; 0 = always the most likely word */
    int top_k;                    /* sample among the k most likely words; 0 = all */
    const unsigned char *banned;  /* (V) nonzero = never emitted; may be NULL */
} lm_sample_opts;

/* Condition on prefix (n_prefix ids, state reset first) and draw n_words
 * words into out (a language model: LM_TASK_LM). *rng is the sampler's state (seed it with any value):
 * same state, same words. */
lm_status lm_sample(lm_model *m, const int32_t *prefix, size_t n_prefix, size_t n_words, const lm_sample_opts *opts,
                    uint64_t *rng, int32_t *out, lm_error *err);

/* ------------------------------------------------------------ translation */

/* Aligned sentence pairs as the paper trains on them: each example is the
 * source words (reversed if asked), "<sep>", the target words, "<eos>"; the
 * loss counts only the target words and "<eos>". */
typedef struct {
    int32_t *ids;        /* all examples concatenated */
    size_t *start;       /* (n + 1) offsets of the examples in ids */
    uint32_t *src_len;   /* (n) source words in each example (before "<sep>") */
    size_t n;
    size_t max_len;      /* longest example, tokens */
    size_t target_words; /* predicted words: target words + "<eos>" over all examples */
    uint32_t *item;      /* captions: (n) the feature vector (row of *cond) each example describes; else NULL */
    const lm_features *cond;  /* captions: the vectors (borrowed: must outlive the pairs); else NULL */
} lm_pairs;

/* A joint source+target vocabulary from two training files: "<eos>",
 * "<sep>", "<unk>" (ids 0, 1, 2), then every word seen at least min_count
 * times in either file, by decreasing count. */
lm_status lm_pairs_vocab(lm_vocab **out, const char *src_path, const char *tgt_path, int min_count, lm_error *err);
/* Read two aligned files (one sentence per line). Mismatched line counts,
 * empty lines and examples longer than max_len tokens are LM_EDATA errors
 * naming the file and line. Unknown words map to "<unk>". */
lm_status lm_pairs_read(lm_pairs *out, const char *src_path, const char *tgt_path, const lm_vocab *v, int reverse,
                        size_t max_len, lm_error *err);
void lm_pairs_free(lm_pairs *p);
/* Captions: k files whose line i each describes item i of `cond` (so each
 * has cond->n lines, none empty). Example (i, j) is "<eos> words <eos>":
 * step 0 reads item i's projected vector (its "<eos>" is a placeholder), the
 * loss counts the words and the final "<eos>". The vocabulary is
 * lm_captions_vocab's; cond is borrowed. Examples are ordered file by file. */
lm_status lm_captions_read(lm_pairs *out, const char *const *paths, int k, const lm_features *cond,
                           const lm_vocab *v, size_t max_len, lm_error *err);
/* "<eos>", "<sep>", "<unk>" (ids 0, 1, 2; "<sep>" unused), then every word
 * seen at least min_count times in the k files, by decreasing count. */
lm_status lm_captions_vocab(lm_vocab **out, const char *const *paths, int k, int min_count, lm_error *err);

/* Ids of a source sentence as the model reads it: words (reversed when the
 * model was trained so; "<eos>" or "<sep>" among them read as "<unk>", as
 * in training), then "<sep>". out has room for n + 1. */
size_t lm_pairs_source(const lm_model *m, const lm_vocab *v, const int32_t *words, size_t n, int32_t *out);

/* One epoch over the pairs: batches of similar length (the model's batch
 * size), padded, state zero at every batch, in an order shuffled by seed.
 * Captions (p->cond set) need a caption model of cond's dimension; other
 * pairs a translation model (LM_TASK_TRANSLATE). A progress callback that returns nonzero stops it
 * (and lm_pairs_evaluate): LM_ESTOPPED, stats covering the batches done. */
lm_status lm_pairs_train_epoch(lm_model *m, const lm_pairs *p, float lr, uint64_t seed, lm_progress_fn progress,
                               void *user, lm_run_stats *stats, lm_error *err);
/* Conditional perplexity of the targets given the sources, without dropout. */
lm_status lm_pairs_evaluate(lm_model *m, const lm_pairs *p, int batch, lm_progress_fn progress, void *user,
                            lm_run_stats *stats, lm_error *err);
/* Model averaging on pairs or captions: each model's and the ensemble's
 * (mean of the models' next-word probabilities) conditional perplexity over
 * the same batches. each (k) may be NULL. */
lm_status lm_pairs_evaluate_ensemble(lm_model *const *models, int k, const lm_pairs *p, int batch,
                                     lm_run_stats *each, lm_run_stats *ens, lm_error *err);

enum { LM_MAX_DECODE_LEN = 1 << 20 };
typedef struct {
    int beam;            /* hypotheses kept (1..the model's batch); 1 = greedy decoding */
    size_t max_len;      /* most target words before stopping, 1..LM_MAX_DECODE_LEN */
    float length_norm;   /* rank finished hypotheses by logp / len^length_norm, 0..100; 0 = raw logp */
} lm_beam_opts;

/* Beam search for the best target given a prepared source (lm_pairs_source),
 * with a translation model (LM_TASK_TRANSLATE); the vocabulary must be lm_pairs_vocab's ("<eos>" id 0, "<sep>" id 1, which
 * is never emitted). Search stops when no live hypothesis can beat the best
 * finished one, or after max_len words.
 * Writes at most cap target ids (without "<eos>") to out, their count to
 * *n_out and the hypothesis' log-probability (including "<eos>" when it
 * finished) to *logp. */
lm_status lm_translate(lm_model *m, const int32_t *src, size_t n_src, const lm_beam_opts *o, int32_t *out,
                       size_t cap, size_t *n_out, double *logp, lm_error *err);
/* The same for an ensemble of k models (one vocabulary): every step ranks
 * words by the log of the mean of the models' next-word distributions (the
 * paper's model averaging, for decoding). k = 1 is lm_translate. */
lm_status lm_translate_ensemble(lm_model *const *models, int k, const int32_t *src, size_t n_src,
                                const lm_beam_opts *o, int32_t *out, size_t cap, size_t *n_out, double *logp,
                                lm_error *err);
/* The nbest (1..beam) best finished hypotheses of the same search, best
 * first by the ranking score (logp / len^length_norm): hypothesis i's
 * lens[i] ids in words[i * o->max_len ...], its log-probability (with
 * "<eos>") in logps[i]; *n_found of them (fewer when fewer finished; one
 * unfinished of max_len words when none did). */
lm_status lm_translate_nbest(lm_model *const *models, int k, const int32_t *src, size_t n_src, const lm_beam_opts *o,
                             int nbest, int32_t *words, size_t *lens, double *logps, int *n_found, lm_error *err);
/* Beam search for the caption of one item: k caption models (LM_TASK_CAPTION,
 * one vocabulary, one feature size) read cond (input_dim floats) at step 0,
 * then words until "<eos>"; results as lm_translate's. */
lm_status lm_caption(lm_model *const *models, int k, const float *cond, const lm_beam_opts *o, int32_t *out,
                     size_t cap, size_t *n_out, double *logp, lm_error *err);

/* Corpus BLEU-4 on white-space tokens, one reference per hypothesis, as
 * multi-bleu.perl computes it: clipped n-gram precisions, brevity penalty
 * exp(1 - r/c) when c < r, zero if any precision is zero. */
typedef struct {
    double bleu;          /* 0..1 */
    double precision[4];  /* modified n-gram precisions, n = 1..4 */
    size_t matches[4], totals[4];
    double brevity_penalty;
    size_t hyp_len, ref_len;
} lm_bleu;

lm_status lm_bleu_lines(lm_bleu *out, const char *const *hyp, const char *const *ref, size_t n, lm_error *err);
/* Per-sentence counts (per[i].matches, totals, hyp_len, ref_len; the rest
 * zero), for resampling; lm_bleu_finish turns summed counts into BLEU. */
lm_status lm_bleu_sentences(lm_bleu *per, const char *const *hyp, const char *const *ref, size_t n, lm_error *err);
void lm_bleu_finish(lm_bleu *b);
/* total = the corpus BLEU of n sentences' counts. */
void lm_bleu_sum(lm_bleu *total, const lm_bleu *per, size_t n);

/* Bootstrap resampling over sentences (Koehn 2004): `samples` corpora of n
 * sentences drawn with replacement. 95 % interval of system a's BLEU; with
 * b (same references, same order; may be NULL) the paired test: interval of
 * BLEU(a) - BLEU(b) and the fraction of resamples where a scores higher. */
typedef struct {
    double lo, hi;            /* a's BLEU, 2.5 and 97.5 percentiles (0..1) */
    double diff_lo, diff_hi;  /* BLEU(a) - BLEU(b), same percentiles */
    double win;               /* fraction of resamples with BLEU(a) > BLEU(b) */
} lm_bleu_resampled;
lm_status lm_bleu_bootstrap(const lm_bleu *a, const lm_bleu *b, size_t n, int samples, uint64_t seed,
                            lm_bleu_resampled *out, lm_error *err);
/* The same over two files of as many lines (an empty hypothesis line is
 * allowed: a system may output nothing; an empty reference is an error). */
lm_status lm_bleu_files(lm_bleu *out, const char *hyp_path, const char *ref_path, lm_error *err);
/* Per-sentence counts of two aligned files (*per malloc'd, n entries). */
lm_status lm_bleu_files_sentences(lm_bleu **per, size_t *n, const char *hyp_path, const char *ref_path,
                                  lm_error *err);

/* The same against k (1..64) references per hypothesis, as multi-bleu.perl
 * with several reference files: each hypothesis n-gram is clipped by the
 * most often it occurs in any one reference, and the reference length of a
 * sentence is that of its reference closest in length to the hypothesis
 * (the shorter on a tie). refs[j][s] is reference j of sentence s; with
 * k = 1 these equal the single-reference functions. */
lm_status lm_bleu_lines_multi(lm_bleu *out, const char *const *hyp, const char *const *const *refs, int k,
                              size_t n, lm_error *err);
lm_status lm_bleu_sentences_multi(lm_bleu *per, const char *const *hyp, const char *const *const *refs, int k,
                                  size_t n, lm_error *err);
lm_status lm_bleu_files_sentences_multi(lm_bleu **per, size_t *n, const char *hyp_path,
                                        const char *const *ref_paths, int k, lm_error *err);

/* ------------------------------------------------------------ checkpoints */

/* Where a training run stands at a window boundary: with the model's
 * parameters, dropout RNG and carried state, everything needed to continue
 * exactly as if never interrupted. */
typedef struct {
    int epoch;              /* epoch in progress, 1-based */
    size_t window;          /* windows of that epoch already trained */
    lm_run_stats partial;   /* training sums over those windows */
    char *history;          /* metrics of completed epochs, JSON lines (malloc'd, may be NULL) */
} lm_train_state;

/* Write a safetensors checkpoint atomically (temp file, fsync, rename): the
 * parameters under PyTorch names, and in "__metadata__" the format version,
 * configuration and vocabulary. With ts, also the training state (carried
 * h and c as tensors "train.h" and "train.c", the rest as metadata). */
lm_status lm_checkpoint_save(const lm_model *m, const lm_vocab *v, const lm_train_state *ts, const char *path,
                             lm_error *err);
/* Read and validate a checkpoint. With ts, the file must hold a training
 * state, which is loaded into ts (free ts->history) and into the model.
 * On error nothing is allocated. */
lm_status lm_checkpoint_load(lm_model **m, lm_vocab **v, lm_train_state *ts, const char *path, int threads,
                             lm_error *err);

/* ------------------------------------------------------------ run folders */

/* A run folder (model.safetensors, state.safetensors, metrics.jsonl,
 * run.json) has one owner at a time: lm_run_claim takes an exclusive lock on
 * DIR/lock until lm_run_release (the kernel drops it at exit, even after
 * SIGKILL); a second claim fails, from another process or the same one. A new run (resume = 0) creates the folder if needed and refuses
 * one that already holds any run's files; resuming needs the folder to exist.
 * Releasing a new run that never wrote one of those files (its data was
 * refused) removes the lock file, and the folder if the claim created it. */
typedef struct lm_run lm_run;
lm_status lm_run_claim(lm_run **out, const char *dir, int resume, lm_error *err);
void lm_run_release(lm_run *r);
/* "DIR/name", in a buffer owned by r and valid until the next call; NULL
 * only when a name longer than 62 bytes finds no memory. */
const char *lm_run_file(lm_run *r, const char *name);

#define LM_RUN_MAX_SPLITS 3
/* A data file of a run and the fingerprint of its ids (word count and FNV-1a). */
typedef struct {
    char name[16];       /* "train", "valid", "test" */
    char path[4096];     /* absolute */
    uint64_t words, hash;
} lm_run_split;
#define LM_RUN_MAX_FLAGS 8
/* A data flag the run started with ("src" = "en"), so that --resume needs none. */
typedef struct {
    char name[16];
    char value[4096];
} lm_run_flag;
/* run.json: how a run was started. */
typedef struct {
    char kind[16];       /* "lm" (lstmlm train), "translation", "frames" or "caption" */
    char data[4096];     /* the data folder, absolute */
    char preset[32];
    int threads;
    int n_splits;
    lm_run_split splits[LM_RUN_MAX_SPLITS];
    int n_flags;
    lm_run_flag flags[LM_RUN_MAX_FLAGS];
} lm_run_info;
/* Written atomically; read back with every field checked (the file may be
 * forged). A run.json older than fingerprints reads with n_splits = 0, one
 * older than recorded flags with n_flags = 0. */
lm_status lm_run_write_info(lm_run *r, const lm_run_info *info, lm_error *err);
lm_status lm_run_read_info(lm_run *r, lm_run_info *info, lm_error *err);
/* Record flag `name` = value (replacing an earlier value); LM_EARG if either
 * is too long or LM_RUN_MAX_FLAGS are taken. */
lm_status lm_run_flag_set(lm_run_info *info, const char *name, const char *value, lm_error *err);
/* The recorded value of flag `name`, or NULL. */
const char *lm_run_flag_get(const lm_run_info *info, const char *name);
/* info->data = the absolute path of folder dir. */
lm_status lm_run_set_data(lm_run_info *info, const char *dir, lm_error *err);
/* Fill s for split `name` read from `path` as t (path made absolute). */
lm_status lm_run_split_set(lm_run_split *s, const char *name, const char *path, const lm_tokens *t, lm_error *err);
/* LM_EDATA, naming both files, if split `name` of info has another fingerprint than t. */
lm_status lm_run_check_split(const lm_run_info *info, const char *name, const char *path, const lm_tokens *t,
                             lm_error *err);
uint64_t lm_tokens_fingerprint(const lm_tokens *t);

/* ------------------------------------------------------------ runtime */

/* Set BLAS and OpenMP thread counts for the whole process (<= 0: leave as
 * is). A configuration's `threads` is only recorded: the library's calls run
 * on whatever this last set. */
void lm_set_threads(int threads);
/* GFLOP/s of a size^3 single-precision BLAS product on the current threads,
 * median of reps (a reference for benchmarks). */
double lm_sgemm_gflops(int size, int reps);
/* Name of the BLAS kernel set in use, e.g. "Haswell". */
const char *lm_blas_kernel(void);
/* Monotonic wall-clock seconds: the clock behind every `seconds` figure. */
double lm_now(void);
/* Whether this CPU can run the BF16 matrix products (AVX512_BF16). */
int lm_bf16_available(void);
/* The BF16 products' ceiling: GFLOP/s of a register-only loop of vdpbf16ps
 * (2 FLOP per multiply-add) on every OpenMP thread, best of reps; 0 where
 * the CPU lacks AVX512_BF16. */
double lm_bf16_peak_gflops(int reps);
/* Whether the BF16 products can use AMX tiles here: AMX-BF16 on the CPU
 * and the kernel granting this process the tile state (Linux 5.16+). */
int lm_amx_available(void);
/* The kernel the BF16 products use: "amx", "avx512bf16", or NULL without
 * AVX512_BF16. AMX is used where available unless LSTMLM_AMX=0 is set. */
const char *lm_bf16_kernel(void);
/* The AMX ceiling: a register-only loop of tdpbf16ps on every thread, best
 * of reps; 0 where the products do not use AMX. */
double lm_amx_peak_gflops(int reps);

#ifdef __cplusplus
}
#endif
#endif

/* The epoch loop shared by translate-train, frames-train and caption-train
 * (epochs.h). */
#include "epochs.h"
#include "common.h"
#include "progress.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static sig_atomic_t test_from;  /* signals received before the test pass began */

/* Stops the test pass only on a signal that arrived after it began. */
static int test_progress(void *user, size_t done, size_t total, const lm_run_stats *s) {
    (void)user, (void)done, (void)total, (void)s;
    return stop_count > test_from;
}

/* Progress (user may be NULL: none) that also stops a pass at the next batch on SIGINT/SIGTERM. */
static int pass_progress(void *user, size_t done, size_t total, const lm_run_stats *s) {
    if (user) progress_update(user, done, total, s);
    return stop_signal != 0;
}

lm_status epoch_pairs_train(lm_model *m, const void *d, float lr, uint64_t seed, lm_progress_fn f, void *u,
                            lm_run_stats *s, lm_error *err) {
    return lm_pairs_train_epoch(m, d, lr, seed, f, u, s, err);
}
lm_status epoch_pairs_eval(lm_model *m, const void *d, int batch, lm_progress_fn f, void *u, lm_run_stats *s,
                           lm_error *err) {
    return lm_pairs_evaluate(m, d, batch, f, u, s, err);
}
size_t epoch_pairs_predictions(const void *d) { return ((const lm_pairs *)d)->target_words; }

static double accuracy(const lm_run_stats *s) { return s->words ? (double)s->correct / (double)s->words : NAN; }

/* A run in progress: where it writes, and what its completed epochs were. */
typedef struct {
    const epoch_task *t;
    const lm_vocab *v;
    const lm_config *c;
    char model_path[4200], state_path[4200], metrics_path[4200];
    FILE *metrics;
    lm_train_state ts;  /* epoch = the next to train; history = the metrics lines of the completed ones */
    int best_epoch;     /* 0: none yet */
    double best;        /* its selection score, lower is better */
} epoch_run;

/* The selection score of an epoch as its metrics line records it (so a
 * resumed run ranks its past epochs exactly as the uninterrupted run did). */
static double score_of(const epoch_task *t, double valid_ppl, double valid_acc) {
    char buf[64];
    snprintf(buf, sizeof buf, t->accuracy ? "%.6f" : "%.4f", t->accuracy ? valid_acc : valid_ppl);
    return t->accuracy ? -strtod(buf, NULL) : strtod(buf, NULL);
}

/* r->ts.history (from a state file: may be forged) must hold one line per
 * completed epoch, 1 .. ts.epoch - 1, each with a finite validation score;
 * from it the best epoch so far. 1, or 0 with the reason reported. */
static int recover_best(epoch_run *r) {
    const char *key = r->t->accuracy ? "valid_acc" : "valid_ppl";
    const char *p = r->ts.history ? r->ts.history : "";
    int e = 0;
    while (*p) {
        const char *end = strchr(p, '\n');
        const size_t len = end ? (size_t)(end - p) : strlen(p);
        json_error_t je;
        json_t *j = json_loadb(p, len, 0, &je);
        const json_t *ep = json_object_get(j, "epoch"), *val = json_object_get(j, key);
        const int ok = json_is_integer(ep) && json_integer_value(ep) == e + 1 && json_is_number(val) &&
                       isfinite(json_number_value(val));
        if (ok) {
            const double x = json_number_value(val), s = score_of(r->t, x, x);
            e++;
            if (r->best_epoch == 0 || s < r->best) r->best = s, r->best_epoch = e;
        }
        json_decref(j);
        if (!ok) {
            report("%s: line %d of the training history is not the metrics of epoch %d", r->state_path, e + 1, e + 1);
            return 0;
        }
        p += len + (end != NULL);
    }
    if (e != r->ts.epoch - 1 || r->ts.epoch < 1 || r->ts.epoch > r->c->epochs + 1) {
        report("%s: the state is at epoch %d but its history holds %d epochs (of %d)", r->state_path, r->ts.epoch, e,
               r->c->epochs);
        return 0;
    }
    return 1;
}

/* Append one metrics line to the file and to the history kept in the state. */
static int record(epoch_run *r, const char *line) {
    const size_t old = r->ts.history ? strlen(r->ts.history) : 0, add = strlen(line);
    char *h = realloc(r->ts.history, old + add + 1);
    if (!h) {
        report("out of memory");
        return 0;
    }
    memcpy(h + old, line, add + 1);
    r->ts.history = h;
    if (fputs(line, r->metrics) < 0 || fflush(r->metrics) != 0) {
        report("cannot write %s: %s", r->metrics_path, strerror(errno));
        return 0;
    }
    return 1;
}

static int epochs(epoch_run *r, lm_model **m, const void *const data[3], int quiet);

int run_epochs(const epoch_task *t, lm_model **m, const lm_vocab *v, const void *const data[3], const lm_config *c,
               lm_run *run, lm_run_info *info, const char *data_dir, int quiet, lm_train_state *resume) {
    lm_error err;
    epoch_run r = {.t = t, .v = v, .c = c};
    snprintf(r.model_path, sizeof r.model_path, "%s", lm_run_file(run, RUN_MODEL));
    snprintf(r.state_path, sizeof r.state_path, "%s", lm_run_file(run, RUN_STATE));
    snprintf(r.metrics_path, sizeof r.metrics_path, "%s", lm_run_file(run, RUN_METRICS));
    if (resume) {  /* the state is ours now */
        r.ts = *resume;
        *resume = (lm_train_state){0};
        if (!recover_best(&r)) {
            free(r.ts.history);
            return 1;
        }
    } else {  /* the data is sound: from here on the folder holds a run */
        r.ts.epoch = 1;
        info->threads = c->threads;
    }
    if (lm_run_set_data(info, data_dir, &err) != LM_OK || lm_run_write_info(run, info, &err) != LM_OK) {
        report("%s", err.msg);
        free(r.ts.history);
        return 1;
    }
    /* metrics.jsonl holds exactly the completed epochs, then grows. */
    if (!(r.metrics = metrics_restart(r.metrics_path, r.ts.history))) {
        free(r.ts.history);
        return 1;
    }
    int rc = epochs(&r, m, data, quiet);
    if (fclose(r.metrics) != 0 && rc == 0) report("writing %s failed", r.metrics_path), rc = 1;
    free(r.ts.history);
    return rc;
}

static int epochs(epoch_run *r, lm_model **m, const void *const data[3], int quiet) {
    const epoch_task *t = r->t;
    const lm_config *c = r->c;
    lm_error err;
    if (r->ts.epoch > c->epochs) printf("all %d epochs are trained; testing the best one again\n", c->epochs);
    else if (r->ts.epoch > 1) printf("resuming at epoch %d of %d (epochs 1-%d: see %s)\n", r->ts.epoch, c->epochs,
                                     r->ts.epoch - 1, r->metrics_path);
    if (r->ts.epoch > c->epochs)
        ;  /* no epoch to train: no table */
    else if (t->accuracy)
        printf("\n%5s %9s %10s %10s %9s %9s %9s %9s\n", "epoch", "lr", "train ppl", "valid ppl", "train acc",
               "valid acc", "time(s)", "units/s");
    else
        printf("\n%5s %9s %10s %10s %9s %9s\n", "epoch", "lr", "train ppl", "valid ppl", "time(s)", "words/s");
    fflush(stdout);
    const double t_start = lm_now();
    int last_epoch = r->ts.epoch - 1, partial = 0, saved = 0;
    stop_on_signals();
    for (; r->ts.epoch <= c->epochs && !stop_signal; r->ts.epoch++) {
        const int e = r->ts.epoch;
        const float lr = lm_config_lr_at(c, e);
        char label[48];
        progress pr;
        lm_run_stats tr, va;
        snprintf(label, sizeof label, "epoch %d/%d", e, c->epochs);
        progress_begin(&pr, label, quiet);
        lm_status st = t->train(*m, data[0], lr, c->seed * 1000003u + (uint64_t)e, pass_progress, &pr, &tr, &err);
        progress_end(&pr);
        if (st != LM_OK && st != LM_ESTOPPED) goto fail;
        if (stop_signal && tr.words < t->predictions(data[0])) {  /* a partial epoch: dropped */
            partial = 1;
            break;
        }
        if (!isfinite(lm_perplexity(&tr))) {
            report("training diverged: training perplexity %g at epoch %d (try a lower --lr)", lm_perplexity(&tr), e);
            return 1;
        }
        st = t->evaluate(*m, data[1], c->batch, pass_progress, NULL, &va, &err);
        if (st != LM_OK && st != LM_ESTOPPED) goto fail;
        if (stop_signal) {  /* validation cut short: this epoch cannot be ranked, so it is dropped */
            partial = 1;
            break;
        }
        if (!isfinite(lm_perplexity(&va))) {
            report("training diverged: validation perplexity %g at epoch %d (try a lower --lr)", lm_perplexity(&va), e);
            return 1;
        }
        char n[32], line[512];
        if (t->accuracy) {
            printf("%5d %9.4g %10.2f %10.2f %8.2f%% %8.2f%% %9.1f %9.0f\n", e, lr, lm_perplexity(&tr),
                   lm_perplexity(&va), 100 * accuracy(&tr), 100 * accuracy(&va), tr.seconds + va.seconds,
                   (double)tr.words / tr.seconds);
            snprintf(line, sizeof line,
                     "{\"epoch\": %d, \"lr\": %.6g, \"train_ppl\": %.4f, \"valid_ppl\": %.4f, "
                     "\"train_acc\": %.6f, \"valid_acc\": %.6f, \"train_seconds\": %s}\n",
                     e, lr, lm_perplexity(&tr), lm_perplexity(&va), accuracy(&tr), accuracy(&va),
                     json_number(n, sizeof n, "%.2f", tr.seconds));
        } else {
            printf("%5d %9.4g %10.2f %10.2f %9.1f %9.0f\n", e, lr, lm_perplexity(&tr), lm_perplexity(&va),
                   tr.seconds + va.seconds, (double)tr.words / tr.seconds);
            snprintf(line, sizeof line,
                     "{\"epoch\": %d, \"lr\": %.6g, \"train_ppl\": %.4f, \"valid_ppl\": %.4f, "
                     "\"train_seconds\": %s}\n",
                     e, lr, lm_perplexity(&tr), lm_perplexity(&va), json_number(n, sizeof n, "%.2f", tr.seconds));
        }
        fflush(stdout);
        if (!record(r, line)) return 1;
        last_epoch = e;
        /* Model selection on validation: an over-fitting model keeps its best epoch. */
        const double score = score_of(t, lm_perplexity(&va), accuracy(&va));
        if (r->best_epoch == 0 || score < r->best) {
            r->best = score;
            r->best_epoch = e;
            if (lm_checkpoint_save(*m, r->v, NULL, r->model_path, &err) != LM_OK) goto fail;
            saved = 1;
        }
        /* Then the state to resume from, after the best model: a stop between
         * the two saves redoes this epoch, bit-identically. */
        lm_train_state next = r->ts;
        next.epoch = e + 1;
        if (lm_checkpoint_save(*m, r->v, &next, r->state_path, &err) != LM_OK) goto fail;
    }
    if (stop_signal) printf("\ninterrupted by signal %d after epoch %d; continue with --resume\n", (int)stop_signal,
                            last_epoch);
    if (r->best_epoch == 0) {
        report("%s: interrupted before the first epoch ended; no model saved", t->command);
        return EXIT_STOPPED;
    }
    if (r->best_epoch != last_epoch || partial || last_epoch < r->ts.epoch - 1) {
        /* the weights in memory are not the best epoch's */
        lm_model *kept = NULL;
        lm_vocab *kv = NULL;
        if (lm_checkpoint_load(&kept, &kv, NULL, r->model_path, c->threads, &err) != LM_OK) goto fail;
        lm_vocab_free(kv);
        lm_model_free(*m);
        *m = kept;
    }
    if (t->accuracy) printf("\nbest epoch %d (valid accuracy %.2f%%)", r->best_epoch, -100 * r->best);
    else printf("\nbest epoch %d (valid ppl %.2f)", r->best_epoch, r->best);
    /* The test runs even after the signal that ended training; a further one stops it. */
    lm_run_stats te;
    test_from = stop_count;
    lm_status st = t->evaluate(*m, data[2], c->batch, test_progress, NULL, &te, &err);
    if (st != LM_OK && st != LM_ESTOPPED) goto fail;
    if (te.words < t->predictions(data[2])) {  /* a signal during the test */
        printf("\ninterrupted by signal %d during the test; the best model (epoch %d) is saved in %s\n",
               (int)stop_signal, r->best_epoch, r->model_path);
        return EXIT_STOPPED;
    }
    if (!isfinite(lm_perplexity(&te))) {
        report("test perplexity %g: the model diverged", lm_perplexity(&te));
        return 1;
    }
    int wrote;
    char done[4300];  /* a finished run resumed only retests: its model file is not written */
    snprintf(done, sizeof done, saved ? "done in %.0fs; model saved to %s" : "done in %.0fs; the model is %s (unchanged)",
             lm_now() - t_start, r->model_path);
    /* a run cut short by a signal is tested, but is not finished: scripts
     * (scripts/finished.sh) must resume it, not take it as done */
    const char *stopped_mark = stop_signal ? ", \"stopped\": true" : "";
    if (t->accuracy) {
        printf("\ntest frame accuracy %.2f%%, perplexity %.2f (%zu %s)\n%s\n", 100 * accuracy(&te),
               lm_perplexity(&te), te.words, t->unit, done);
        wrote = fprintf(r->metrics, "{\"test_acc\": %.6f, \"test_ppl\": %.4f, \"test_%s\": %zu, \"best_epoch\": %d%s}\n",
                        accuracy(&te), lm_perplexity(&te), t->unit, te.words, r->best_epoch, stopped_mark);
    } else {
        printf("\ntest conditional perplexity %.2f (%zu %s incl. <eos>)\n%s\n", lm_perplexity(&te), te.words,
               t->unit, done);
        wrote = fprintf(r->metrics, "{\"test_ppl\": %.4f, \"test_words\": %zu, \"best_epoch\": %d%s}\n",
                        lm_perplexity(&te), te.words, r->best_epoch, stopped_mark);
    }
    if (wrote < 0 || fflush(r->metrics) != 0) {
        report("cannot write %s: %s", r->metrics_path, strerror(errno));
        return 1;
    }
    return stop_signal ? EXIT_STOPPED : 0;
fail:
    report("%s", err.msg);
    return 1;
}

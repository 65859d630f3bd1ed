/* The epoch loop shared by translate-train and frames-train (epochs.h). */
#include "epochs.h"
#include "common.h"
#include "progress.h"

#include <errno.h>
#include <math.h>
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

static double accuracy(const lm_run_stats *s) { return s->words ? (double)s->correct / (double)s->words : NAN; }

static int epochs(const epoch_task *t, lm_model **m, const lm_vocab *v, const void *const data[3], const lm_config *c,
                  const char *model_path, FILE *metrics, const char *metrics_path, int quiet);

int run_epochs(const epoch_task *t, lm_model **m, const lm_vocab *v, const void *const data[3], const lm_config *c,
               lm_run *run, const char *kind, const char *data_dir, int quiet) {
    lm_error err;
    char model_path[4200], metrics_path[4200];
    snprintf(model_path, sizeof model_path, "%s", lm_run_file(run, RUN_MODEL));
    snprintf(metrics_path, sizeof metrics_path, "%s", lm_run_file(run, RUN_METRICS));
    /* The data is sound: from here on the folder holds a run. */
    lm_run_info info = {.threads = c->threads};
    snprintf(info.kind, sizeof info.kind, "%s", kind);
    if (lm_run_set_data(&info, data_dir, &err) != LM_OK || lm_run_write_info(run, &info, &err) != LM_OK) {
        report("%s", err.msg);
        return 1;
    }
    FILE *metrics = fopen(metrics_path, "w");
    if (!metrics) {
        report("cannot write %s: %s", metrics_path, strerror(errno));
        return 1;
    }
    int rc = epochs(t, m, v, data, c, model_path, metrics, metrics_path, quiet);
    if (fclose(metrics) != 0 && rc == 0) report("writing %s failed", metrics_path), rc = 1;
    return rc;
}

static int epochs(const epoch_task *t, lm_model **m, const lm_vocab *v, const void *const data[3], const lm_config *c,
                  const char *model_path, FILE *metrics, const char *metrics_path, int quiet) {
    lm_error err;
    if (t->accuracy)
        printf("\n%5s %9s %10s %10s %9s %9s %9s %9s\n", "epoch", "lr", "train ppl", "valid ppl", "train acc",
               "valid acc", "time(s)", "units/s");
    else
        printf("\n%5s %9s %10s %10s %9s %9s\n", "epoch", "lr", "train ppl", "valid ppl", "time(s)", "words/s");
    fflush(stdout);
    const double t_start = lm_now();
    double best = 0;
    int best_epoch = 0, last_epoch = 0, partial = 0;
    stop_on_signals();
    for (int e = 1; e <= c->epochs && !stop_signal; e++) {
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
        char n[32];
        int wrote;
        if (t->accuracy) {
            printf("%5d %9.4g %10.2f %10.2f %8.2f%% %8.2f%% %9.1f %9.0f\n", e, lr, lm_perplexity(&tr),
                   lm_perplexity(&va), 100 * accuracy(&tr), 100 * accuracy(&va), tr.seconds + va.seconds,
                   (double)tr.words / tr.seconds);
            wrote = fprintf(metrics,
                            "{\"epoch\": %d, \"lr\": %.6g, \"train_ppl\": %.4f, \"valid_ppl\": %.4f, "
                            "\"train_acc\": %.6f, \"valid_acc\": %.6f, \"train_seconds\": %s}\n",
                            e, lr, lm_perplexity(&tr), lm_perplexity(&va), accuracy(&tr), accuracy(&va),
                            json_number(n, sizeof n, "%.2f", tr.seconds));
        } else {
            printf("%5d %9.4g %10.2f %10.2f %9.1f %9.0f\n", e, lr, lm_perplexity(&tr), lm_perplexity(&va),
                   tr.seconds + va.seconds, (double)tr.words / tr.seconds);
            wrote = fprintf(metrics,
                            "{\"epoch\": %d, \"lr\": %.6g, \"train_ppl\": %.4f, \"valid_ppl\": %.4f, "
                            "\"train_seconds\": %s}\n",
                            e, lr, lm_perplexity(&tr), lm_perplexity(&va), json_number(n, sizeof n, "%.2f", tr.seconds));
        }
        fflush(stdout);
        if (wrote < 0 || fflush(metrics) != 0) {
            report("cannot write %s: %s", metrics_path, strerror(errno));
            return 1;
        }
        last_epoch = e;
        /* Model selection on validation: an over-fitting model keeps its best epoch. */
        const double score = t->accuracy ? -accuracy(&va) : lm_perplexity(&va);
        if (best_epoch == 0 || score < best) {
            best = score;
            best_epoch = e;
            if (lm_checkpoint_save(*m, v, NULL, model_path, &err) != LM_OK) goto fail;
        }
    }
    if (stop_signal) printf("\ninterrupted by signal %d after epoch %d\n", (int)stop_signal, last_epoch);
    if (best_epoch == 0) {
        report("%s: interrupted before the first epoch ended; no model saved", t->command);
        return EXIT_STOPPED;
    }
    if (best_epoch != last_epoch || partial) {  /* the weights in memory are not the best epoch's */
        lm_model *kept = NULL;
        lm_vocab *kv = NULL;
        if (lm_checkpoint_load(&kept, &kv, NULL, model_path, c->threads, &err) != LM_OK) goto fail;
        lm_vocab_free(kv);
        lm_model_free(*m);
        *m = kept;
    }
    if (t->accuracy) printf("\nbest epoch %d (valid accuracy %.2f%%)", best_epoch, -100 * best);
    else printf("\nbest epoch %d (valid ppl %.2f)", best_epoch, best);
    /* The test runs even after the signal that ended training; a further one stops it. */
    lm_run_stats te;
    test_from = stop_count;
    lm_status st = t->evaluate(*m, data[2], c->batch, test_progress, NULL, &te, &err);
    if (st != LM_OK && st != LM_ESTOPPED) goto fail;
    if (te.words < t->predictions(data[2])) {  /* a signal during the test */
        printf("\ninterrupted by signal %d during the test; the best model (epoch %d) is saved in %s\n",
               (int)stop_signal, best_epoch, model_path);
        return EXIT_STOPPED;
    }
    if (!isfinite(lm_perplexity(&te))) {
        report("test perplexity %g: the model diverged", lm_perplexity(&te));
        return 1;
    }
    int wrote;
    if (t->accuracy) {
        printf("\ntest frame accuracy %.2f%%, perplexity %.2f (%zu %s)\ndone in %.0fs; model saved to %s\n",
               100 * accuracy(&te), lm_perplexity(&te), te.words, t->unit, lm_now() - t_start, model_path);
        wrote = fprintf(metrics, "{\"test_acc\": %.6f, \"test_ppl\": %.4f, \"test_%s\": %zu, \"best_epoch\": %d}\n",
                        accuracy(&te), lm_perplexity(&te), t->unit, te.words, best_epoch);
    } else {
        printf("\ntest conditional perplexity %.2f (%zu %s incl. <eos>)\ndone in %.0fs; model saved to %s\n",
               lm_perplexity(&te), te.words, t->unit, lm_now() - t_start, model_path);
        wrote = fprintf(metrics, "{\"test_ppl\": %.4f, \"test_words\": %zu}\n", lm_perplexity(&te), te.words);
    }
    if (wrote < 0 || fflush(metrics) != 0) {
        report("cannot write %s: %s", metrics_path, strerror(errno));
        return 1;
    }
    return stop_signal ? EXIT_STOPPED : 0;
fail:
    report("%s", err.msg);
    return 1;
}

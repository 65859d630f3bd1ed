/* Progress line: epoch, percent done, words/s, running perplexity, ETA. */
#include "progress.h"
#include "common.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void progress_begin(progress *p, const char *label, int quiet) {
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label);
    p->tty = isatty(fileno(stderr));
    p->quiet = quiet;
    p->last_draw = lm_now();
}

static void fmt_duration(char *buf, size_t n, double s) {
    if (!isfinite(s) || s < 0) snprintf(buf, n, "?");
    else if (s < 60) snprintf(buf, n, "%.0fs", s);
    else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, n, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

int progress_update(void *user, size_t done, size_t total, const lm_run_stats *s) {
    progress *p = user;
    if (p->quiet || total == 0) return 0;
    double t = lm_now();
    int tenth = (int)(10 * done / total);
    if (p->tty ? (t - p->last_draw < 0.25 && done != total) : (tenth == p->last_tenth || done == total)) return 0;
    p->last_draw = t, p->last_tenth = tenth;
    double wps = s->seconds > 0 ? (double)s->words / s->seconds : 0;
    char eta[32];
    fmt_duration(eta, sizeof eta, s->seconds * (double)(total - done) / (double)done);
    fprintf(stderr, "%s%s %5.1f%%  %8.0f words/s  ppl %8.2f  ETA %s%s", p->tty ? "\r" : "", p->label,
            100.0 * (double)done / (double)total, wps, lm_perplexity(s), eta, p->tty ? "\033[K" : "\n");
    fflush(stderr);
    return 0;
}

void progress_end(progress *p) {
    if (p->tty && !p->quiet) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
}

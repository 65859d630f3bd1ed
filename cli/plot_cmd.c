/* `lstmlm plot`: training and validation perplexity per epoch of one or more
 * runs, log scale, drawn by gnuplot (Debian: gnuplot-nox) into a PNG. The
 * user's strings (title, run folders, output path) reach gnuplot's script only
 * free of control characters and single-quoted; the PNG is written to a
 * temporary file beside the output and renamed onto it. */
#include "common.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void plot_usage(FILE *f) {
    fprintf(f,
            "Usage: %s plot RUN_DIR... -o curves.png [--title TEXT] [--accuracy]\n"
            "Draw training (dashed) and validation (solid) perplexity per epoch, log scale,\n"
            "one colour per run, from each run's metrics.jsonl. Needs gnuplot.\n"
            "\n"
            "  -o, --output FILE   PNG to write (required)\n"
            "  --accuracy          frame accuracy (%%) instead of perplexity (frames-train runs)\n"
            "  --title TEXT        plot title (default \"lstmlm learning curves\")\n"
            "  -h, --help          this help\n",
            prog);
}

/* Write "epoch train valid" rows of a run's metrics (perplexities, or
 * accuracies in percent) into `out`, raising *last to the last epoch;
 * @return rows. */
static int extract(const char *run, FILE *out, int accuracy, int *last) {
    char path[4200], line[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", run, RUN_METRICS) >= sizeof path) {
        report("plot: %s: path too long", run);
        return -1;
    }
    FILE *f = fopen(path, "r");
    if (!f) { report("plot: cannot read %s", path); return -1; }
    int rows = 0, epochs = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t jerr;
        json_t *j = json_loads(line, 0, &jerr);
        json_t *e = json_object_get(j, "epoch"), *tr = json_object_get(j, accuracy ? "train_acc" : "train_ppl"),
               *va = json_object_get(j, accuracy ? "valid_acc" : "valid_ppl");
        epochs += json_is_integer(e);
        if (json_is_integer(e) && json_is_number(tr) && json_is_number(va)) {
            const double k = accuracy ? 100.0 : 1.0;
            if (json_integer_value(e) > *last) *last = (int)json_integer_value(e);
            fprintf(out, "%d %.4f %.4f\n", (int)json_integer_value(e), k * json_number_value(tr),
                    k * json_number_value(va));
            rows++;
        } else if (!j) {
            report("plot: %s: skipping a malformed line (%s)", path, jerr.text);
        }
        json_decref(j);
    }
    fclose(f);
    if (rows == 0 && epochs && accuracy)
        report("plot: %s has epochs but no frame accuracy (--accuracy is for frames-train runs)", path);
    else if (rows == 0)
        report("plot: %s has no completed epochs", path);
    return rows;
}

/* 1 if s holds a control character (a byte < 0x20 or 0x7f): a newline
 * would end a gnuplot command and let the next line run a shell command. */
static int has_control(const char *s) {
    for (; *s; s++)
        if (control_byte(*s)) return 1;
    return 0;
}

/* s inside a gnuplot single-quoted string, where nothing is special but the
 * quote itself, written twice. @return 0, or -1 if a write failed. */
static int gp_quoted(FILE *f, const char *s) {
    for (; *s; s++)
        if ((*s == '\'' && fputc('\'', f) == EOF) || fputc(*s, f) == EOF) return -1;
    return 0;
}

/* The gnuplot string literal 's suffix' (s + suffix between single quotes).
 * s holds no control character (checked by the caller). @return 0 or -1. */
static int gp_string(FILE *f, const char *s, const char *suffix) {
    if (fputc('\'', f) == EOF || gp_quoted(f, s) < 0 || gp_quoted(f, suffix) < 0) return -1;
    return fputc('\'', f) == EOF ? -1 : 0;
}

/* The whole gnuplot script: PNG into png_path, runs' rows from data_path.
 * @return 0, or -1 at the first failed write. */
static int write_script(FILE *gp, const char *png_path, const char *title, const char *data_path,
                        char *const *runs, int n_runs, int accuracy, int last, const int *rows) {
    if (fputs("set terminal pngcairo size 900,600 font ',11'\nset output ", gp) < 0) return -1;
    if (gp_string(gp, png_path, "") < 0 || fputs("\nset title ", gp) < 0 || gp_string(gp, title, "") < 0) return -1;
    if (fputs(accuracy ? "\nset xlabel 'epoch'\nset ylabel 'frame accuracy (%)'\nset grid xtics ytics\n"
                         "set key bottom right\n"
                       : "\nset xlabel 'epoch'\nset ylabel 'perplexity'\nset logscale y\nset grid xtics ytics mytics\n"
                         "set key top right\n",
              gp) < 0)
        return -1;
    /* one epoch: gnuplot would warn of an empty x range; a run of one epoch
     * would draw no train line, so it gets a point */
    if ((last <= 1 && fputs("set xrange [0.5:1.5]\n", gp) < 0) || fputs("plot ", gp) < 0) return -1;
    for (int i = 0; i < n_runs; i++) {
        if ((i && fputs(", ", gp) < 0) || gp_string(gp, data_path, "") < 0 ||
            fprintf(gp, " index %d using 1:3 with linespoints lw 2 pt 7 ps 0.6 lc %d title ", i, i + 1) < 0 ||
            gp_string(gp, runs[i], " valid") < 0 || fputs(", ", gp) < 0 || gp_string(gp, data_path, "") < 0 ||
            fprintf(gp, " index %d using 1:2 with %s dt 2 lw 1.5 lc %d title ", i,
                    rows[i] > 1 ? "lines" : "linespoints pt 6 ps 1", i + 1) < 0 ||
            gp_string(gp, runs[i], " train") < 0)
            return -1;
    }
    return fputs("\n", gp) < 0 ? -1 : 0;
}

/* The temporary PNG beside `output`: "DIR/.lstmlm_plot_XXXXXX", a relative
 * one as "./DIR/...", so that it never starts with '|' (gnuplot would run the
 * rest as a command). @return a malloc'ed mkstemp template, NULL when out of
 * memory. */
static char *png_template(const char *output) {
    static const char name[] = ".lstmlm_plot_XXXXXX";
    const char *slash = strrchr(output, '/');
    const size_t dir = slash ? (size_t)(slash - output) + 1 : 0;  /* "DIR/" */
    const char *lead = output[0] == '/' ? "" : "./";
    char *t = malloc(strlen(lead) + dir + sizeof name);
    if (t) sprintf(t, "%s%.*s%s", lead, (int)dir, output, name);
    return t;
}

int cmd_plot(int argc, char **argv) {
    const char *output = NULL, *title = "lstmlm learning curves";
    static const struct option opts[] = {
        {"output", required_argument, 0, 'o'}, {"title", required_argument, 0, OPT_TEXT},
        {"accuracy", no_argument, 0, OPT_WORDS}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int o, accuracy = 0;
    optind = 1;
    while ((o = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (o) {
        case 'o': output = optarg; break;
        case OPT_TEXT: title = optarg; break;
        case OPT_WORDS: accuracy = 1; break;
        case 'h': plot_usage(stdout); return 0;
        default: fprintf(stderr, "Try '%s plot --help'.\n", prog); return 2;
        }
    }
    if (!output || !*output) { report("plot: -o FILE.png is required (see --help)"); return 2; }
    if (optind >= argc) { report("plot: give at least one RUN_DIR (see --help)"); return 2; }
    if (has_control(output)) {
        report("plot: -o: the file name must not contain control characters (newline, tab, ...)");
        return 2;
    }
    if (has_control(title)) {
        report("plot: --title must not contain control characters (newline, tab, ...)");
        return 2;
    }
    int n_runs = argc - optind, rc = 1;
    char **runs = argv + optind;
    for (int i = 0; i < n_runs; i++)
        if (has_control(runs[i])) {
            report("plot: RUN_DIR %d: the folder name must not contain control characters (newline, tab, ...)", i + 1);
            return 2;
        }

    char tmpl[] = "/tmp/lstmlm_plot_XXXXXX";  /* the data gnuplot reads */
    int data_fd = -1, png_fd = -1, renamed = 0, wrote, werr, status, last = 0;
    FILE *data, *gp;
    struct stat st;
    struct sigaction ignore = {.sa_handler = SIG_IGN}, old_pipe;
    /* The PNG is renamed onto the output: that would replace a device, FIFO
     * or link (-o /dev/stdout) with a plain file. */
    if (lstat(output, &st) == 0 && !S_ISREG(st.st_mode)) {
        report("plot: %s exists and is not a regular file (a device, FIFO, link or folder): give a file path", output);
        return 2;
    }
    char *png = png_template(output);
    int *rows = calloc((size_t)n_runs, sizeof *rows);  /* epochs drawn per run */
    if (!png || !rows) { report("plot: out of memory"); free(png), free(rows); return 1; }
    if ((png_fd = mkstemp(png)) < 0) {
        report("plot: cannot write %s: cannot create a file in its folder (%s)", output, strerror(errno));
        free(png), free(rows);
        return 1;
    }
    mode_t mask = umask(0);  /* the mode gnuplot's fopen would have given the PNG, not mkstemp's 0600 */
    umask(mask);
    if (fchmod(png_fd, 0666 & ~mask) != 0) { report("plot: %s: %s", png, strerror(errno)); goto out; }

    data_fd = mkstemp(tmpl);
    data = data_fd >= 0 ? fdopen(data_fd, "w") : NULL;
    if (!data) {
        report("plot: cannot create a temporary file");
        if (data_fd >= 0) close(data_fd);
        goto out;
    }
    for (int i = 0; i < n_runs; i++) {
        if ((rows[i] = extract(runs[i], data, accuracy, &last)) <= 0) { fclose(data); goto out; }
        fputs("\n\n", data);  /* gnuplot data-set separator: `index i` */
    }
    if (ferror(data) | fclose(data)) { report("plot: cannot write %s", tmpl); goto out; }

    /* gnuplot writes only the temporary file: its stdout, where the PNG would
     * go if `set output` failed, is /dev/null. A gnuplot that dies early makes
     * our writes fail with EPIPE instead of killing us with SIGPIPE. */
    sigaction(SIGPIPE, &ignore, &old_pipe);
    gp = popen("exec gnuplot >/dev/null", "w");
    if (!gp) { report("plot: cannot run gnuplot (%s)", strerror(errno)); goto restore; }
    wrote = write_script(gp, png, title, tmpl, runs, n_runs, accuracy, last, rows);
    werr = errno;
    status = pclose(gp);
    if (status == -1) { report("plot: waiting for gnuplot: %s", strerror(errno)); goto restore; }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        report("plot: cannot run gnuplot (Debian: apt-get install gnuplot-nox)");
        goto restore;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (WIFEXITED(status)) report("plot: gnuplot failed (exit status %d)", WEXITSTATUS(status));
        else report("plot: gnuplot was killed by signal %d", WTERMSIG(status));
        goto restore;
    }
    if (wrote != 0) { report("plot: writing to gnuplot: %s", strerror(werr)); goto restore; }
    if (fstat(png_fd, &st) != 0 || st.st_size == 0) { report("plot: gnuplot wrote no image"); goto restore; }
    if (fsync(png_fd) != 0) { report("plot: %s: %s", png, strerror(errno)); goto restore; }
    if (rename(png, output) != 0) { report("plot: cannot write %s: %s", output, strerror(errno)); goto restore; }
    renamed = 1;
    printf("wrote %s (%d run%s)\n", output, n_runs, n_runs > 1 ? "s" : "");
    rc = 0;
restore:
    sigaction(SIGPIPE, &old_pipe, NULL);
out:
    if (data_fd >= 0) unlink(tmpl);
    close(png_fd);
    if (!renamed) unlink(png);
    free(png), free(rows);
    return rc;
}

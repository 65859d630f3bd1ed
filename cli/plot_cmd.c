/* `lstmlm plot`: training and validation perplexity per epoch of one or more
 * runs, log scale, drawn by gnuplot (Debian: gnuplot-nox) into a PNG. */
#include "common.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void plot_usage(FILE *f) {
    fprintf(f,
            "Usage: %s plot RUN_DIR... -o curves.png [--title TEXT]\n"
            "Draw training (dashed) and validation (solid) perplexity per epoch, log scale,\n"
            "one colour per run, from each run's metrics.jsonl. Needs gnuplot.\n"
            "\n"
            "  -o, --output FILE   PNG to write (required)\n"
            "  --title TEXT        plot title (default \"lstmlm learning curves\")\n"
            "  -h, --help          this help\n",
            prog);
}

/* Write "epoch train valid" rows of a run's metrics into `out`; @return rows. */
static int extract(const char *run, FILE *out) {
    char path[1100], line[4096];
    snprintf(path, sizeof path, "%s/%s", run, RUN_METRICS);
    FILE *f = fopen(path, "r");
    if (!f) { report("plot: cannot read %s", path); return -1; }
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t jerr;
        json_t *j = json_loads(line, 0, &jerr);
        json_t *e = json_object_get(j, "epoch"), *tr = json_object_get(j, "train_ppl"), *va = json_object_get(j, "valid_ppl");
        if (json_is_integer(e) && json_is_number(tr) && json_is_number(va)) {
            fprintf(out, "%d %.4f %.4f\n", (int)json_integer_value(e), json_number_value(tr), json_number_value(va));
            rows++;
        } else if (!j) {
            report("plot: %s: skipping a malformed line (%s)", path, jerr.text);
        }
        json_decref(j);
    }
    fclose(f);
    if (rows == 0) report("plot: %s has no completed epochs", path);
    return rows;
}

/* gnuplot string literal: single quotes, a quote doubled. */
static void gp_string(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

int cmd_plot(int argc, char **argv) {
    const char *output = NULL, *title = "lstmlm learning curves";
    static const struct option opts[] = {
        {"output", required_argument, 0, 'o'}, {"title", required_argument, 0, OPT_TEXT},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0},
    };
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (o) {
        case 'o': output = optarg; break;
        case OPT_TEXT: title = optarg; break;
        case 'h': plot_usage(stdout); return 0;
        default: fprintf(stderr, "Try '%s plot --help'.\n", prog); return 2;
        }
    }
    if (!output) { report("plot: -o FILE.png is required (see --help)"); return 2; }
    if (optind >= argc) { report("plot: give at least one RUN_DIR (see --help)"); return 2; }
    int n_runs = argc - optind, rc = 1;
    char tmpl[] = "/tmp/lstmlm_plot_XXXXXX";
    int fd = mkstemp(tmpl);
    FILE *data = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!data) { report("plot: cannot create a temporary file"); return 1; }
    for (int i = 0; i < n_runs; i++) {
        if (extract(argv[optind + i], data) <= 0) { fclose(data); goto out; }
        fputs("\n\n", data);  /* gnuplot data-set separator: `index i` */
    }
    fclose(data);
    FILE *gp = popen("gnuplot", "w");
    if (!gp) { report("plot: cannot run gnuplot (Debian: apt-get install gnuplot-nox)"); goto out; }
    fputs("set terminal pngcairo size 900,600 font ',11'\nset output ", gp);
    gp_string(gp, output);
    fputs("\nset title ", gp);
    gp_string(gp, title);
    fputs("\nset xlabel 'epoch'\nset ylabel 'perplexity'\nset logscale y\nset grid xtics ytics mytics\n"
          "set key top right\nplot ", gp);
    for (int i = 0; i < n_runs; i++) {
        char label[1200];
        snprintf(label, sizeof label, "%s valid", argv[optind + i]);
        fprintf(gp, "%s", i ? ", " : "");
        gp_string(gp, tmpl);
        fprintf(gp, " index %d using 1:3 with linespoints lw 2 pt 7 ps 0.6 lc %d title ", i, i + 1);
        gp_string(gp, label);
        snprintf(label, sizeof label, "%s train", argv[optind + i]);
        fputs(", ", gp);
        gp_string(gp, tmpl);
        fprintf(gp, " index %d using 1:2 with lines dt 2 lw 1.5 lc %d title ", i, i + 1);
        gp_string(gp, label);
    }
    fputs("\n", gp);
    int status = pclose(gp);
    if (status != 0) { report("plot: gnuplot failed (status %d); is it installed? (apt-get install gnuplot-nox)", status); goto out; }
    printf("wrote %s (%d run%s)\n", output, n_runs, n_runs > 1 ? "s" : "");
    rc = 0;
out:
    unlink(tmpl);
    return rc;
}

/* lstmlm command line: dispatch to the subcommands. The CLI is the only
 * place that prints results and chooses exit codes (0 ok, 1 failure, 2 bad
 * usage, 130 interrupted). */
#include "common.h"

#include <signal.h>
#include <string.h>

#ifndef LSTMLM_VERSION
#define LSTMLM_VERSION "dev"
#endif

static void usage(FILE *f) {
    fprintf(f,
            "Usage: %s COMMAND [options]\n"
            "Deep LSTM language models regularised with dropout (Zaremba et al. 2014).\n"
            "\n"
            "Commands:\n"
            "  train            train on PTB, report validation and test perplexity (--resume continues)\n"
            "  eval             perplexity of a saved model, or of several averaged\n"
            "  sample           generate text from a saved model, conditioned on a prefix\n"
            "  plot             draw learning curves of one or more runs into a PNG\n"
            "  bench            training and evaluation throughput of the presets\n"
            "  translate-train  train a translation model (source <sep> target) on aligned files\n"
            "  translate        translate sentences with beam search\n"
            "  bleu             corpus BLEU-4 of hypotheses against references\n"
            "  frames-train     train a frame classifier on feature frames (speech)\n"
            "  frames-eval      frame accuracy of a saved frame classifier\n"
            "  caption-train    train a caption generator conditioned on feature vectors\n"
            "  caption          caption every item of a feature file (beam search, ensembles)\n"
            "  caption-eval     conditional perplexity of caption models and of their average\n"
            "  score            log-probability of each sentence (and word) under a language model\n"
            "  rescore          rerank n-best lists (Moses, Kaldi) with a language model\n"
            "\n"
            "`%s COMMAND --help` (or `%s help COMMAND`) lists each command's options. --version prints\n"
            "the version.\n",
            prog, prog, prog);
}

int main(int argc, char **argv) {
    /* A closed pipe on stdout is a write error (EPIPE), reported at the end
     * like a full disk, after the work is saved: not a silent death by SIGPIPE
     * in the middle of an epoch. */
    struct sigaction ignore = {.sa_handler = SIG_IGN};
    sigaction(SIGPIPE, &ignore, NULL);
    if (argc < 2) { usage(stderr); return 2; }
    const char *cmd = argv[1];
    char help_flag[] = "--help";
    char *help_argv[4] = {argv[0], argv[argc > 2 ? 2 : 1], help_flag, NULL};
    if (!strcmp(cmd, "help") && argc > 2) {  /* "lstmlm help train" = "lstmlm train --help" */
        argc = 3, argv = help_argv;
        cmd = argv[1];
    }
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) { usage(stdout); return finish_stdout(0); }
    if (!strcmp(cmd, "--version")) { printf("lstmlm %s\n", LSTMLM_VERSION); return finish_stdout(0); }
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } commands[] = {{"train", cmd_train}, {"eval", cmd_eval}, {"sample", cmd_sample}, {"plot", cmd_plot},
                    {"bench", cmd_bench}, {"translate-train", cmd_translation},
                    {"translate", cmd_translation}, {"bleu", cmd_translation},
                    {"frames-train", cmd_frames}, {"frames-eval", cmd_frames},
                    {"caption-train", cmd_caption_train}, {"caption", cmd_caption}, {"caption-eval", cmd_caption_eval},
                    {"score", cmd_score}, {"rescore", cmd_rescore}};
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(cmd, commands[i].name)) return finish_stdout(commands[i].run(argc - 1, argv + 1));
    report("unknown command \"%s\"", cmd);
    usage(stderr);
    return 2;
}

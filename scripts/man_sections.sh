#!/bin/sh
# Every subcommand's --help as a help2man include file (roff, no-fill), so
# `man lstmlm` documents each command's options. Usage: man_sections.sh BIN
set -eu
bin=$1
printf '[COMMANDS]\n'
for c in train eval sample plot bench translate-train translate bleu frames-train frames-eval caption-train \
         caption caption-eval score rescore; do
  printf '.SS %s\n.nf\n' "$c"
  help=$("$bin" "$c" --help)  # sh has no pipefail: a failing --help must stop the script, not drop a section
  printf '%s\n' "$help" | sed -e 's/\\/\\e/g' -e 's/^\./\\\&./' -e "s/^'/\\\\\&'/"
  printf '.fi\n'
done

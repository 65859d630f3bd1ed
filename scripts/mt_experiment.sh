#!/usr/bin/env bash
# The Table 3 experiment on Multi30k En->Fr: a non-regularised and a
# regularised model of the same size, each evaluated by test conditional
# perplexity and BLEU on test_2016_flickr with beam 12 and with greedy
# decoding. Both models train at once, one thread each (2 cores).
# Usage: [REG_DROPOUT=P] scripts/mt_experiment.sh [OUT_DIR] [extra translate-train flags]
# (REG_DROPOUT: the regularised model's dropout, default 0.3.) Ctrl-C, or SIGTERM
# to the script, ends training early; each model still tests its best epoch.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/mt}
shift || true
data=${MT_DATA:-../shared/data/multi30k}
common=(--data "$data" --src en --tgt fr --layers 2 --hidden 256 --batch 32 --epochs 6 --max-epoch 3 --decay 2
        --min-count 3 --init 0.1 --threads 1 --quiet "$@")
[ -x build/lstmlm ] || scripts/build.sh
mkdir -p "$out"
build/lstmlm translate-train "${common[@]}" --dropout 0 --out "$out/nonreg" > "$out/nonreg.log" 2>&1 &
a=$!
build/lstmlm translate-train "${common[@]}" --dropout "${REG_DROPOUT:-0.3}" --out "$out/reg" > "$out/reg.log" 2>&1 &
b=$!
trap 'kill -INT "$a" "$b" 2>/dev/null' INT TERM
wait "$a" "$b" || true
wait "$a" "$b" || true  # a trapped signal interrupts the first wait
# Decode the test set: both models at once, one thread each.
for m in nonreg reg; do
  for beam in 12 1; do
    build/lstmlm translate --model "$out/$m/model.safetensors" --beam "$beam" --quiet \
      < "$data/test_2016_flickr.en" > "$out/$m.beam$beam.fr"
  done &
done
wait
for m in nonreg reg; do
  for beam in 12 1; do
    echo "$m beam $beam: $(build/lstmlm bleu "$out/$m.beam$beam.fr" "$data/test_2016_flickr.fr")"
  done
  grep -E "best epoch|test conditional perplexity" "$out/$m.log" | sed "s/^/$m: /"
done | tee "$out/summary.txt"
# Is the BLEU difference more than the test set's sampling noise? Paired
# bootstrap over the 1,000 test sentences (A = regularised, B = not).
for beam in 12 1; do
  echo "paired bootstrap, beam $beam (A = reg, B = nonreg):"
  build/lstmlm bleu --bootstrap 1000 --compare "$out/nonreg.beam$beam.fr" "$out/reg.beam$beam.fr" \
    "$data/test_2016_flickr.fr"
done | tee -a "$out/summary.txt"

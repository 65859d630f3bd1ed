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
for m in nonreg reg; do  # never over an earlier experiment (its logs would be overwritten first)
  if [ -e "$out/$m" ] || [ -e "$out/$m.log" ]; then
    echo "mt_experiment.sh: $out already holds $m; give a new OUT_DIR" >&2
    exit 2
  fi
done
mkdir -p "$out"
# finish PID: wait for PID (again, when a trapped signal cut the wait short);
# its exit status in $rc. judge NAME: stop the script unless $rc says it ended
# well or was stopped (130). Every job is waited for before any is judged.
finish() {
  rc=0
  wait "$1" || rc=$?
  while [ "$rc" -gt 128 ] && kill -0 "$1" 2>/dev/null; do rc=0; wait "$1" || rc=$?; done
}
judge() {
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 130 ]; then echo "mt_experiment.sh: $1 failed (exit $rc)" >&2; exit 1; fi
}
build/lstmlm translate-train "${common[@]}" --dropout 0 --out "$out/nonreg" > "$out/nonreg.log" 2>&1 &
a=$!
build/lstmlm translate-train "${common[@]}" --dropout "${REG_DROPOUT:-0.3}" --out "$out/reg" > "$out/reg.log" 2>&1 &
b=$!
trap 'kill -INT "$a" "$b" 2>/dev/null' INT TERM
finish "$a"; ra=$rc
finish "$b"; rb=$rc
trap - INT TERM
rc=$ra; judge "training nonreg (see $out/nonreg.log)"
rc=$rb; judge "training reg (see $out/reg.log)"
# Decode the test set: both models at once, one thread each.
pids=()
for m in nonreg reg; do
  for beam in 12 1; do
    build/lstmlm translate --model "$out/$m/model.safetensors" --beam "$beam" --quiet \
      < "$data/test_2016_flickr.en" > "$out/$m.beam$beam.fr" || exit 1
  done &
  pids+=($!)
done
codes=()
for p in "${pids[@]}"; do finish "$p"; codes+=("$rc"); done
for rc in "${codes[@]}"; do judge "decoding"; done
for m in nonreg reg; do
  for beam in 12 1; do
    bleu=$(build/lstmlm bleu "$out/$m.beam$beam.fr" "$data/test_2016_flickr.fr")
    echo "$m beam $beam: $bleu"
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

#!/usr/bin/env bash
# Table 1's learning curves in one picture: the small model without dropout
# (it overfits: training perplexity falls while validation turns up) beside
# the regularised medium and large models (the train/valid gap stays small).
# Reads the committed metrics under docs/runs/; the large run's from LARGE.
#   scripts/table1_curves.sh OUT.png [LARGE_METRICS]
#   (default LARGE_METRICS: runs/large/metrics.jsonl)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/table1_curves.sh OUT.png [LARGE_METRICS]}
large=${2:-runs/large/metrics.jsonl}
[ -s "$large" ] || { echo "table1_curves.sh: $large is missing or empty" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
epochs=$(grep -c '"epoch"' "$large")
names=("small, no dropout" "medium, dropout 0.5" "large, dropout 0.65 ($epochs epochs)")
sources=(docs/runs/small-seed1.metrics.jsonl docs/runs/medium-bf16.metrics.jsonl "$large")
runs=()
for i in 0 1 2; do
  mkdir "$work/${names[$i]}"
  cp "${sources[$i]}" "$work/${names[$i]}/metrics.jsonl"
  runs+=("$work/${names[$i]}")
done
(cd "$work" && "$OLDPWD/build/lstmlm" plot "${runs[@]##*/}" -o curves.png --title "PTB: non-regularised small against regularised medium and large")
cp "$work/curves.png" "$out"

#!/usr/bin/env bash
# Issue 11, part 2's record once `runs/large` has finished its 55 epochs and
# its test: the checkpoint's test perplexity in FP32 and in BF16 (batch 1,
# state carried, the paper's protocol), its sha256, the log and metrics
# copied under docs/runs/, and the learning-curve picture with medium and
# small. Writes RUN/finish.txt and prints it; a stopped or failed evaluation
# stops the script before anything is written.
#   scripts/large_finish.sh [RUN_DIR]      (default runs/large)
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-runs/large}
model="$run/model.safetensors"
grep -q '"test' "$run/metrics.jsonl" 2>/dev/null ||
  { echo "large_finish.sh: $run has no test result yet: resume it (lstmlm train --resume $run)" >&2; exit 2; }
sum=$(sha256sum "$model" | cut -d' ' -f1)
fp32=$(build/lstmlm eval --model "$model" --quiet | tail -n 1)
bf16=$(build/lstmlm eval --model "$model" --bf16 --quiet | tail -n 1)
valid=$(build/lstmlm eval --model "$model" --split valid --quiet | tail -n 1)
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
  echo "sha256: $sum  $model"
  echo "FP32: $fp32"
  echo "BF16: $bf16"
  echo "valid FP32: $valid"
} | tee "$run/finish.txt"
cp "$run/metrics.jsonl" docs/runs/large.metrics.jsonl
[ -f "$run.log" ] && cp "$run.log" docs/runs/large.log
scripts/table1_curves.sh docs/table1_curves.png "$run/metrics.jsonl"

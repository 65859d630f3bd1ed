#!/usr/bin/env bash
# Issue 11, part 2's record once `runs/large` has finished its 55 epochs and
# its test: the checkpoint's test perplexity in FP32 and in BF16 (batch 1,
# state carried, the paper's protocol), its sha256, the log and metrics
# copied under docs/runs/, and the learning-curve picture with medium and
# small. Prints the figures and, as its last step, writes them to
# RUN/finish.txt (the mark scripts/issue11.sh skips it by); a stopped or
# failed step stops the script before that.
#   scripts/large_finish.sh [RUN_DIR]      (default runs/large)
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-runs/large}
model="$run/model.safetensors"
scripts/finished.sh "$run" ||
  { echo "large_finish.sh: $run has no test result yet: resume it (lstmlm train --resume $run)" >&2; exit 2; }
sum=$(sha256sum "$model" | cut -d' ' -f1)
fp32=$(build/lstmlm eval --model "$model" --quiet | tail -n 1)
bf16=$(build/lstmlm eval --model "$model" --bf16 --quiet | tail -n 1)
valid=$(build/lstmlm eval --model "$model" --split valid --quiet | tail -n 1)
report="date: $(date -u '+%Y-%m-%d %H:%M UTC'); OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}
sha256: $sum  $model
FP32: $fp32
BF16: $bf16
valid FP32: $valid"
echo "$report"
cp "$run/metrics.jsonl" docs/runs/large.metrics.jsonl
if [ -f "$run.log" ]; then cp "$run.log" docs/runs/large.log; fi
scripts/table1_curves.sh docs/table1_curves.png "$run/metrics.jsonl"
printf '%s\n' "$report" > "$run/finish.txt.part"
mv "$run/finish.txt.part" "$run/finish.txt"

#!/usr/bin/env bash
# frames-train and frames-eval on a tiny synthetic speech corpus: a run ends
# with a test line, frames-eval of the saved model at another batch size
# gives the same accuracy and perplexity, and misuse is refused.
# Usage: frames_cli_test.sh LSTMLM BUILDER PTB_DIR
set -euo pipefail
bin=$1 builder=$2 ptb=$3
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
"$builder" --ptb "$ptb" --out "$t/speech" --hours 0.01 --eval-minutes 0.3 --speakers 2 > /dev/null 2>&1
train() { "$bin" frames-train --data "$t/speech" --layers 1 --hidden 32 --steps 20 --batch 4 --epochs 3 \
  --max-epoch 2 --threads 1 --quiet "$@"; }
train --out "$t/run" > "$t/out" || fail "frames-train failed"
grep -q "^test frame accuracy" "$t/out" || fail "no test line"
[ "$(grep -c '"epoch"' "$t/run/metrics.jsonl")" = 3 ] || fail "metrics: not 3 epochs"
test_line=$(grep '"test_acc"' "$t/run/metrics.jsonl") || fail "metrics: no test line"
acc=$(sed 's/.*"test_acc": \([0-9.]*\).*/\1/' <<< "$test_line")
ppl=$(sed 's/.*"test_ppl": \([0-9.]*\).*/\1/' <<< "$test_line")
"$bin" frames-eval --model "$t/run/model.safetensors" --data "$t/speech/test.safetensors" --batch 3 \
  --threads 1 > "$t/eval" || fail "frames-eval failed"
want=$(awk -v a="$acc" -v p="$ppl" 'BEGIN { printf "accuracy %.2f%%  perplexity %.3f", 100 * a, p }')
grep -qF "$want" "$t/eval" || fail "frames-eval says \"$(cat "$t/eval")\", the run's test \"$want\""
# a folder that holds a run is not reused
if train --out "$t/run" > /dev/null 2> "$t/err"; then fail "a second run over the first"; fi
# data that is not a frame dataset, and a model of another kind
cp "$t/run/model.safetensors" "$t/speech2.safetensors"
if "$bin" frames-eval --model "$t/run/model.safetensors" --data "$t/speech2.safetensors" > /dev/null 2> "$t/err"; then
  fail "a checkpoint accepted as a frame dataset"
fi
grep -q "not a frame dataset" "$t/err" || fail "unclear message: $(cat "$t/err")"
if "$bin" frames-train --data "$t/nowhere" --out "$t/run2" > /dev/null 2> "$t/err"; then fail "missing data accepted"; fi
grep -q "not found" "$t/err" || fail "unclear message for missing data: $(cat "$t/err")"
echo "frames CLI: all checks passed"

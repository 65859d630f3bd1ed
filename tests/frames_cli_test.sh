#!/usr/bin/env bash
# frames-train and frames-eval on a tiny synthetic speech corpus: a run ends
# with a test line, frames-eval of the saved model at another batch size
# gives the same accuracy and perplexity, a run stopped by SIGINT and
# resumed ends as the uninterrupted run does, and misuse is refused.
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
echo "a b" > "$t/words.txt"  # the model's kind is named before any text is read
if "$bin" eval --model "$t/run/model.safetensors" --text "$t/words.txt" > /dev/null 2> "$t/err"; then
  fail "eval of text with a frames model"
fi
grep -q "is a frames model, not a language model" "$t/err" || fail "unclear message: $(cat "$t/err")"
# a folder for a file: said once, and nothing after it
if "$bin" frames-eval --model "$t/run/model.safetensors" --data "$t/speech" > /dev/null 2> "$t/err"; then
  fail "a folder accepted as a frame dataset"
fi
[ "$(cat "$t/err")" = "lstmlm: $t/speech is a folder, not a regular file" ] || fail "messages: $(cat "$t/err")"
if "$bin" frames-train --data "$t/nowhere" --out "$t/run2" > /dev/null 2> "$t/err"; then fail "missing data accepted"; fi
grep -q "not found" "$t/err" || fail "unclear message for missing data: $(cat "$t/err")"
# stop a run after its first epoch (SIGTERM), resume it: the same epochs and test as straight through
long() { train --layers 2 --hidden 64 --epochs 6 --max-epoch 3 --dropout 0.3 "$@"; }
long --out "$t/straight" > /dev/null || fail "frames-train (6 epochs) failed"
# exec: $! is then the program itself, not a subshell running the function
(exec "$bin" frames-train --data "$t/speech" --layers 2 --hidden 64 --steps 20 --batch 4 --epochs 6 --max-epoch 3 \
  --dropout 0.3 --threads 1 --quiet --out "$t/stopped" > "$t/out1" 2>&1) &
pid=$!
for _ in $(seq 1 2000); do
  [ -s "$t/stopped/metrics.jsonl" ] && break
  sleep 0.01
done
kill -TERM "$pid" 2> /dev/null || true  # (a script's background job ignores SIGINT)
status=0
wait "$pid" || status=$?
[ "$status" = 130 ] || fail "a stopped run exits $status, not 130 (or it ended before the signal): $(cat "$t/out1")"
grep -q "Continue with: .* frames-train --resume" "$t/out1" || fail "no resume hint: $(cat "$t/out1")"
if "$bin" frames-train --resume "$t/stopped" --epochs 9 > /dev/null 2> "$t/err"; then fail "--resume with --epochs"; fi
"$bin" frames-train --resume "$t/stopped" --quiet > "$t/out2" || fail "resume failed: $(cat "$t/out2")"
grep -q "^resuming at epoch" "$t/out2" || fail "no resume line: $(cat "$t/out2")"
strip() { sed 's/, "train_seconds": [0-9.]*//' "$1"; }
diff <(strip "$t/straight/metrics.jsonl") <(strip "$t/stopped/metrics.jsonl") > "$t/diff" ||
  fail "resumed run differs from the uninterrupted one: $(cat "$t/diff")"
# a finished run resumed tests its best epoch again, with the same result
"$bin" frames-train --resume "$t/stopped" --quiet > "$t/out3" || fail "resume of a finished run failed"
grep -q "the model is .* (unchanged)" "$t/out3" && ! grep -q "epoch *lr" "$t/out3" ||
  fail "a finished run resumed claims a save or prints an epoch table: $(cat "$t/out3")"
diff <(strip "$t/straight/metrics.jsonl") <(strip "$t/stopped/metrics.jsonl") > /dev/null ||
  fail "a finished run resumed changed its metrics"
# a forged state: history that does not match its epoch
mkdir "$t/forged"
cp "$t/stopped/run.json" "$t/forged/"
python3 - "$t/stopped/state.safetensors" "$t/forged/state.safetensors" <<'PY' || fail "cannot forge"
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
st = json.loads(h["__metadata__"]["train_state"])
st["history"] = st["history"].split("\n", 1)[1]  # drop epoch 1
meta = h["__metadata__"]
meta["train_state"] = json.dumps(st)
def fnv(x, b):  # the checkpoint's checksum (src/checkpoint.c): a forger can recompute it
    for c in b:
        x = ((x ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return x
x = 0xcbf29ce484222325
for k in ("config", "vocab", "train_state"):
    x = fnv(x, meta[k].encode() + b"\0")
meta["checksum"] = "%016x" % fnv(x, b[8 + n:])
hb = json.dumps(h).encode()
hb += b" " * (-len(hb) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(hb)) + hb + b[8 + n:])
PY
if "$bin" frames-train --resume "$t/forged" --quiet > /dev/null 2> "$t/err"; then fail "a forged history accepted"; fi
grep -q "training history" "$t/err" || fail "unclear message for a forged history: $(cat "$t/err")"
echo "frames CLI: all checks passed"

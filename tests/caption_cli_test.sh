#!/usr/bin/env bash
# caption-train on a tiny synthetic caption set: a run ends with a test line
# and a model that reads back as a caption model; bad features and captions
# are refused with the file and item named, and no run is left behind.
# Usage: caption_cli_test.sh LSTMLM
set -euo pipefail
bin=$1
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
mkdir "$t/cap" "$t/feat"
# items: a colour and an animal; the vector says which; 2 captions each
python3 - "$t" <<'PY'
import json, math, random, struct, sys
t = sys.argv[1]
random.seed(1)
colours, animals = ["red", "blue", "green"], ["dog", "cat", "bird", "fish"]
def features(path, rows, bad=None):
    data = b"".join(struct.pack("<8f", *r) for r in rows)
    if bad is not None:  # a NaN in item `bad`
        data = data[:bad * 32] + struct.pack("<f", math.nan) + data[bad * 32 + 4:]
    h = {"__metadata__": {"format": "lstmlm-features", "version": "1", "provenance": "test"},
         "features": {"dtype": "F32", "shape": [len(rows), 8], "data_offsets": [0, len(data)]}}
    hb = json.dumps(h).encode(); hb += b" " * (-len(hb) % 8)
    open(path, "wb").write(struct.pack("<Q", len(hb)) + hb + data)
for split, n in (("train", 60), ("val", 12), ("test", 12), ("big", 3000)):
    rows, caps = [], [[], []]
    for i in range(n):
        c, a = random.randrange(3), random.randrange(4)
        rows.append([1.0 if j == c else 0.0 for j in range(3)] + [1.0 if j == a else 0.0 for j in range(4)] + [0.5])
        caps[0].append("a %s %s ." % (colours[c], animals[a]))
        caps[1].append("the %s is %s" % (animals[a], colours[c]))
    features("%s/feat/%s.safetensors" % (t, split), rows)
    for k in range(2):
        open("%s/cap/%s.%d.en" % (t, split, k + 1), "w").write("\n".join(caps[k]) + "\n")
    if split == "train":
        features("%s/nan.safetensors" % t, rows, bad=7)
        features("%s/short.safetensors" % t, rows[:-1])
PY
train() { "$bin" caption-train --captions "$t/cap" --features "$t/feat" --refs 2 --test test --min-count 1 \
  --hidden 32 --batch 8 --epochs 12 --max-epoch 10 --threads 1 --quiet "$@"; }
train --out "$t/run" > "$t/out" || fail "caption-train failed: $(cat "$t/out")"
grep -q "^test conditional perplexity" "$t/out" || fail "no test line: $(cat "$t/out")"
[ "$(grep -c '"epoch"' "$t/run/metrics.jsonl")" = 12 ] || fail "metrics: not 12 epochs"
python3 - "$t/run/model.safetensors" <<'PY' || fail "the saved model is not a caption model"
import json, struct, sys
b = open(sys.argv[1], "rb").read()
h = json.loads(b[8:8 + struct.unpack("<Q", b[:8])[0]])
c = json.loads(h["__metadata__"]["config"])
assert c["task"] == "caption" and c["input_dim"] == 8, c
assert "in.weight" in h and "emb.weight" in h
PY
# generation: one caption per item; an ensemble of a model with itself is the model;
# the captions name what the vector says (multi-reference BLEU against both captions)
cap() { "$bin" caption --features "$t/feat/test.safetensors" --threads 1 --quiet "$@"; }
cap --model "$t/run/model.safetensors" --beam 3 > "$t/c1" || fail "caption failed"
[ "$(wc -l < "$t/c1")" = 12 ] || fail "not 12 captions: $(cat "$t/c1")"
cap --model "$t/run/model.safetensors" --model "$t/run/model.safetensors" --beam 3 > "$t/c2" || fail "ensemble failed"
cmp -s "$t/c1" "$t/c2" || fail "a model with itself decodes otherwise: $(diff "$t/c1" "$t/c2")"
train --out "$t/run2" --seed 2 > /dev/null || fail "second model"
cap --model "$t/run/model.safetensors" --model "$t/run2/model.safetensors" > "$t/c3" || fail "2-model ensemble failed"
[ "$(wc -l < "$t/c3")" = 12 ] || fail "ensemble: not 12 captions"
# caption-eval: a model alone = its training run's test perplexity; with itself the same;
# the 2-model average is not worse than the worse model (log-mean-exp is concave)
ce() { "$bin" caption-eval --captions "$t/cap" --features "$t/feat" --refs 2 --split test --batch 8 --threads 1 "$@"; }
want=$(sed -n 's/^test conditional perplexity \([0-9.]*\).*/\1/p' "$t/out")
ce --model "$t/run/model.safetensors" > "$t/ce1" || fail "caption-eval failed: $(cat "$t/ce1")"
grep -q "^perplexity $want " "$t/ce1" || fail "caption-eval $(cat "$t/ce1"), training's test $want"
# without --batch: the default 64 falls to the model's training batch, same figure
"$bin" caption-eval --captions "$t/cap" --features "$t/feat" --refs 2 --split test --threads 1 \
  --model "$t/run/model.safetensors" > "$t/ce0" 2>&1 || fail "caption-eval with its default batch: $(cat "$t/ce0")"
grep -q "^perplexity $want " "$t/ce0" || fail "caption-eval (default batch) $(cat "$t/ce0"), training's test $want"
ce --model "$t/run/model.safetensors" --model "$t/run/model.safetensors" > "$t/ce2" || fail "caption-eval ensemble failed"
grep -q "^perplexity $want  ensemble of 2" "$t/ce2" || fail "a model with itself: $(cat "$t/ce2")"
ce --model "$t/run/model.safetensors" --model "$t/run2/model.safetensors" > "$t/ce3" || fail "2-model caption-eval failed"
awk '/^perplexity/ { p[n++] = $2 } END { w = p[0] > p[1] ? p[0] : p[1]; exit !(n == 3 && p[2] <= w + 1e-9) }' "$t/ce3" ||
  fail "the average is worse than both models: $(cat "$t/ce3")"
"$bin" bleu "$t/c1" "$t/cap/test.1.en" "$t/cap/test.2.en" > "$t/bleu" || fail "bleu failed"
awk '{ if ($3 + 0 < 30) exit 1 }' "$t/bleu" || fail "captions do not follow the vectors: $(cat "$t/bleu"; cat "$t/c1")"
train --out "$t/run3" --min-count 25 > /dev/null || fail "third model"
if cap --model "$t/run/model.safetensors" --model "$t/run3/model.safetensors" > /dev/null 2> "$t/err"; then
  fail "models of different vocabularies in one ensemble"
fi
grep -q "different vocabularies" "$t/err" || fail "unclear message: $(cat "$t/err")"
if "$bin" caption --model "$t/run/model.safetensors" --features "$t/nan.safetensors" > /dev/null 2> "$t/err"; then
  fail "features with a NaN captioned"
fi
if "$bin" translate --model "$t/run/model.safetensors" < /dev/null > /dev/null 2> "$t/err"; then
  fail "a caption model used for translation"
fi
grep -q "is a caption model, not a translation model" "$t/err" || fail "unclear message: $(cat "$t/err")"
# stop a run after its first epoch (SIGTERM), resume it: the same epochs and test as straight through
long=(--hidden 96 --train big --epochs 5 --max-epoch 3 --dropout 0.3)
train --out "$t/straight" "${long[@]}" > /dev/null || fail "caption-train (big) failed"
(exec "$bin" caption-train --captions "$t/cap" --features "$t/feat" --refs 2 --test test --min-count 1 --batch 8 \
  --threads 1 --quiet "${long[@]}" --out "$t/stopped" > "$t/out1" 2>&1) &
pid=$!
for _ in $(seq 1 3000); do
  [ -s "$t/stopped/metrics.jsonl" ] && break
  sleep 0.01
done
kill -TERM "$pid" 2> /dev/null || true
status=0
wait "$pid" || status=$?
[ "$status" = 130 ] || fail "a stopped run exits $status, not 130 (or it ended before the signal): $(cat "$t/out1")"
grep -q "^Continue with: .*caption-train --resume $t/stopped\$" "$t/out1" || fail "no resume command: $(cat "$t/out1")"
# no data flag: the run's own, from run.json (a flag given overrides)
resume() { "$bin" caption-train --resume "$t/stopped" --threads 1 --quiet "$@"; }
if resume --min-count 1500 > /dev/null 2> "$t/err"; then fail "resume with other data"; fi
grep -q "another vocabulary" "$t/err" || fail "unclear message for other data: $(cat "$t/err")"
if resume --hidden 8 > /dev/null 2> "$t/err"; then fail "resume with a model flag"; fi
if resume --max-len 40 > /dev/null 2> "$t/err"; then fail "resume with --max-len (the model's steps)"; fi
grep -q "own settings" "$t/err" || fail "unclear message for --max-len on resume: $(cat "$t/err")"
resume > "$t/out2" || fail "resume failed: $(cat "$t/out2")"
grep -q "^resuming at epoch" "$t/out2" || fail "no resume line: $(cat "$t/out2")"
strip() { sed 's/, "train_seconds": [0-9.]*//' "$1"; }
diff <(strip "$t/straight/metrics.jsonl") <(strip "$t/stopped/metrics.jsonl") > "$t/diff" ||
  fail "resumed run differs from the uninterrupted one: $(cat "$t/diff")"
# bad input: one clear error, and the run folder holds no run
refused() {
  local name=$1 phrase=$2
  shift 2
  rm -rf "$t/bad"
  if train --out "$t/bad" "$@" > /dev/null 2> "$t/err"; then fail "$name accepted"; fi
  grep -q -- "$phrase" "$t/err" || fail "$name: unclear message: $(cat "$t/err")"
  [ ! -e "$t/bad/metrics.jsonl" ] || fail "$name: left a run behind"
}
cp -r "$t/feat" "$t/feat2" && cp "$t/nan.safetensors" "$t/feat2/train.safetensors"
refused "a NaN feature" "item 7: feature 0 is not finite" --features "$t/feat2"
cp "$t/short.safetensors" "$t/feat2/train.safetensors"
refused "fewer items than caption lines" "line i must describe item i" --features "$t/feat2"
cp -r "$t/cap" "$t/cap2" && sed -i '5s/.*//' "$t/cap2/train.2.en"
refused "an empty caption line" "train.2.en:5: empty line" --captions "$t/cap2"
refused "missing features" "not found" --features "$t/nowhere"
echo "caption CLI: all checks passed"

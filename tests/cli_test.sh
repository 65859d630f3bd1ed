#!/usr/bin/env bash
# End-to-end test of the lstmlm command line: help texts, rejected options and
# values, a missing data folder, and a tiny train -> eval round trip on a
# generated corpus. Usage: cli_test.sh PATH/TO/lstmlm
set -u
bin=$1
. "$(dirname "$0")/lib.sh"

expect 0 "Commands:" -- "$bin" --help
expect 2 "unknown command" -- "$bin" frobnicate
for opt in --preset --data --out --layers --hidden --steps --batch --dropout --init --lr \
           --max-epoch --epochs --decay --clip --seed --threads --quiet; do
  expect 0 "$opt" -- "$bin" train --help
done
expect 0 "(preset: 650)" -- "$bin" train --preset medium --help
expect 0 "(preset: 1500)" -- "$bin" train --pre large --help  # an abbreviated option is the option
for opt in --model --data --split --text --batch --steps --threads; do
  expect 0 "$opt" -- "$bin" eval --help
done
expect 2 "unrecognized option" -- "$bin" train --no-such-flag
expect 2 "expected an integer" -- "$bin" train --layers two
expect 2 "expected an integer" -- "$bin" train --hidden 0
expect 2 "expected a number" -- "$bin" train --lr fast
expect 2 "dropout must be in" -- "$bin" train --dropout 1.5
expect 2 "unknown preset" -- "$bin" train --preset huge
expect 2 "--model FILE is required" -- "$bin" eval
expect 1 "not found" -- "$bin" train --data "$work/none"

# A tiny corpus: 3 files of random sentences over 30 words.
mkdir -p "$work/data"
for split in train:4000 valid:400 test:400; do
  name=${split%%:*} n=${split##*:}
  awk -v n="$n" -v seed="${#name}" 'BEGIN { srand(seed); line = "";
    for (i = 0; i < n; i++) { line = line " w" int(rand() * 30);
      if (rand() < 0.1) { print line; line = "" } } print line }' > "$work/data/ptb.$name.txt"
done
printf 'w1 w2\x00\n' > "$work/bad.txt"

# Any corpus: --train/--valid/--test files, the vocabulary from the training file cut by
# --min-count/--max-vocab (the rest reads as <unk>); the run resumes from the files it recorded
cp "$work/data/ptb.train.txt" "$work/my.train"; cp "$work/data/ptb.valid.txt" "$work/my.valid"
cp "$work/data/ptb.test.txt" "$work/my.test"
out=$("$bin" train --train "$work/my.train" --valid "$work/my.valid" --test "$work/my.test" --max-vocab 12 \
  --out "$work/files" --hidden 8 --layers 1 --steps 5 --batch 4 --epochs 1 --threads 1 --quiet 2>&1) ||
  fail "train on files failed: $out"
grep -q "model: vocabulary 12," <<<"$out" || fail "--max-vocab 12 gave: $out"
grep -q "^test perplexity" <<<"$out" || fail "no test line on files: $out"
python3 - "$work/files/model.safetensors" <<'PY' || fail "the 12-word vocabulary lacks <eos> or <unk>"
import json, struct, sys
b = open(sys.argv[1], "rb").read()
words = json.loads(b[8:8 + struct.unpack("<Q", b[:8])[0]])["__metadata__"]["vocab"].split("\n")
assert len(words) == 12 and "<eos>" in words and "<unk>" in words, words
PY
out=$("$bin" train --train "$work/my.train" --valid "$work/my.valid" --test "$work/my.test" --min-count 100000 \
  --out "$work/files2" --hidden 8 --layers 1 --steps 5 --batch 4 --epochs 1 --threads 1 --quiet 2>&1) ||
  fail "train with --min-count failed: $out"
grep -q "model: vocabulary 2," <<<"$out" || fail "--min-count above every count should leave <eos> and <unk>: $out"
expect 0 "already trained all" -- "$bin" train --resume "$work/files" --quiet   # from the files run.json recorded
expect 2 "together" -- "$bin" train --train "$work/my.train" --valid "$work/my.valid"
expect 2 "not both" -- "$bin" train --train "$work/my.train" --valid "$work/my.valid" --test "$work/my.test" --data "$work/data"
expect 2 "drop the preset" -- "$bin" train --resume "$work/files" --min-count 2
expect 1 "not found" -- "$bin" train --train "$work/none" --valid "$work/my.valid" --test "$work/my.test" --out "$work/files3"
[ ! -e "$work/files3" ] || fail "refused data left a run folder: $(ls -A "$work/files3")"

out=$("$bin" train --data "$work/data" --out "$work/run" --hidden 16 --layers 2 --steps 5 --batch 4 \
      --epochs 2 --max-epoch 1 --dropout 0.2 --threads 1 2>&1) || fail "tiny training failed: $out"
grep -q "test perplexity" <<<"$out" || fail "no test perplexity in: $out"
[ -s "$work/run/model.safetensors" ] || fail "no checkpoint written"
[ "$(grep -c '"epoch"' "$work/run/metrics.jsonl")" -eq 2 ] || fail "metrics.jsonl lacks 2 epoch lines"
grep -q '"test_ppl"' "$work/run/metrics.jsonl" || fail "metrics.jsonl lacks test_ppl"
test_ppl=$(sed -n 's/^test perplexity \([0-9.]*\).*/\1/p' <<<"$out")

# eval on the checkpoint reproduces the training run's test perplexity.
out=$("$bin" eval --model "$work/run/model.safetensors" --data "$work/data" 2>&1) || fail "eval failed: $out"
grep -q "perplexity $test_ppl " <<<"$out" || fail "eval perplexity differs from training's $test_ppl: $out"
expect 1 "NUL byte" -- "$bin" eval --model "$work/run/model.safetensors" --text "$work/bad.txt"
expect 2 "drop --data and --split" -- "$bin" eval --model "$work/run/model.safetensors" --text "$work/bad.txt" --split valid
expect 1 "not a safetensors file" -- "$bin" eval --model "$work/data/ptb.test.txt" --data "$work/data"

# BF16 products: a tiny run trains, records the flag, and resumes/evaluates;
# on CPUs without AVX512_BF16 the flag is refused with a clear message.
if grep -qw avx512_bf16 /proc/cpuinfo; then
  out=$("$bin" train --data "$work/data" --out "$work/run16" --hidden 16 --layers 2 --steps 5 --batch 4 \
        --epochs 1 --threads 1 --bf16 --quiet 2>&1) || fail "bf16 training failed: $out"
  grep -q "threads 1 bf16" <<<"$out" || fail "bf16 not reported in the configuration: $out"
  grep -qF 'bf16\":true' "$work/run16/model.safetensors" || fail "checkpoint does not record bf16"  # JSON in JSON
  out=$("$bin" eval --model "$work/run16/model.safetensors" --data "$work/data" --bf16 2>&1) || fail "bf16 eval failed: $out"
  grep -q "perplexity" <<<"$out" || fail "no perplexity from bf16 eval: $out"
else
  expect 2 "lacks AVX512_BF16" -- "$bin" train --data "$work/data" --out "$work/run16" --bf16
fi

# Sampling, model averaging and plotting on the tiny model.
model="$work/run/model.safetensors"
a=$("$bin" sample --model "$model" --prefix "w1 w2" --words 30 --seed 5 --exclude "w3,<eos>" 2>&1) || fail "sample failed: $a"
b=$("$bin" sample --model "$model" --prefix "w1 w2" --words 30 --seed 5 --exclude "w3,<eos>" 2>&1)
[ "$a" = "$b" ] || fail "same seed gave different samples: '$a' vs '$b'"
[ "$(wc -w <<<"$a")" -eq 32 ] || fail "expected prefix + 30 words: $a"
grep -qw w3 <<<"${a#w1 w2}" && fail "an excluded word was sampled: $a"
expect 2 '"zebra", "Quux"' -- "$bin" sample --model "$model" --prefix "w1 zebra Quux"
expect 2 "--temperature" -- "$bin" sample --model "$model" --temperature -1
out=$("$bin" eval --model "$model" --model "$model" --data "$work/data" 2>&1) || fail "ensemble eval failed: $out"
grep -q "perplexity $test_ppl  log-probability [-0-9.]*  ensemble of 2" <<<"$out" || fail "a model averaged with itself should keep $test_ppl: $out"
if command -v gnuplot >/dev/null; then
  out=$("$bin" plot "$work/run" -o "$work/curves.png" 2>&1) || fail "plot failed: $out"
  [ "$(head -c 4 "$work/curves.png" | od -An -c | tr -d ' ')" = "211PNG" ] || fail "plot did not write a PNG"
fi
expect 2 "-o FILE.png is required" -- "$bin" plot "$work/run"

# Exact resume: an uninterrupted run against one killed with SIGKILL early in
# epoch 1, resumed, stopped with SIGINT after epoch 1, resumed to the end.
args=(--data "$work/data" --hidden 64 --layers 2 --steps 10 --batch 8 --epochs 3 --max-epoch 1
      --dropout 0.3 --threads 2 --quiet)
"$bin" train "${args[@]}" --out "$work/ref" >/dev/null 2>&1 || fail "reference run failed"
"$bin" train "${args[@]}" --out "$work/cut" --save-every 0 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 1000); do [ -f "$work/cut/state.safetensors" ] && break; sleep 0.005; done
kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
grep -q test_ppl "$work/cut/metrics.jsonl" 2>/dev/null && fail "the run finished before it could be killed"
expect 2 "already holds a run" -- "$bin" train "${args[@]}" --out "$work/cut"
"$bin" train --resume "$work/cut" --save-every 0 > "$work/resume1.log" 2>&1 &
pid=$!
for _ in $(seq 1 2000); do [ -s "$work/cut/metrics.jsonl" ] && break; sleep 0.005; done
kill -INT "$pid"; wait "$pid"; status=$?
[ "$status" -eq 130 ] || [ "$status" -eq 0 ] || fail "SIGINT: exit status $status: $(cat "$work/resume1.log")"
[ "$status" -eq 130 ] && ! grep -q "train --resume" "$work/resume1.log" && fail "SIGINT did not say how to resume"
out=$("$bin" train --resume "$work/cut" 2>&1) || fail "final resume failed: $out"
cmp -s "$work/ref/model.safetensors" "$work/cut/model.safetensors" || fail "resumed weights differ from the uninterrupted run"
strip() { sed 's/"[a-z_]*seconds": [0-9.]*//g; s/"[a-z_]*words_per_s": [0-9.]*//g' "$1"; }
[ "$(strip "$work/ref/metrics.jsonl")" = "$(strip "$work/cut/metrics.jsonl")" ] ||
  fail "resumed perplexities differ: $(strip "$work/ref/metrics.jsonl") vs $(strip "$work/cut/metrics.jsonl")"

# Translation: a tiny aligned corpus, training, beam and greedy decoding, BLEU.
mkdir -p "$work/mt"
for split in train:300 val:30 test:30; do
  name=${split%%:*} n=${split##*:}
  awk -v n="$n" -v seed="${#name}" 'BEGIN { srand(seed); for (i = 0; i < n; i++) {
      k = 2 + int(rand() * 5); s = ""; t = "";
      for (j = 0; j < k; j++) { w = int(rand() * 12); s = s (j ? " " : "") "e" w; t = t (j ? " " : "") "f" w }
      print s > "/dev/stderr"; print t } }' > "$work/mt/$name.fr" 2> "$work/mt/$name.en"
done
out=$("$bin" translate-train --data "$work/mt" --test test --hidden 24 --epochs 3 --batch 8 --threads 1 \
      --out "$work/mtrun" --reverse --quiet 2>&1) || fail "translate-train failed: $out"
grep -q "test conditional perplexity" <<<"$out" || fail "no test perplexity: $out"
# The kept model is the epoch with the lowest validation perplexity.
best=$(sed -n 's/^best epoch \([0-9]*\).*/\1/p' <<<"$out")
want=$(sed -n 's/.*"epoch": \([0-9]*\),.*"valid_ppl": \([0-9.]*\),.*/\1 \2/p' "$work/mtrun/metrics.jsonl" |
       sort -k2,2g | head -1 | cut -d' ' -f1)
[ -n "$best" ] && [ "$best" = "$want" ] || fail "best epoch '$best', lowest validation perplexity at epoch '$want'"
# Every training command reports --bf16 in its configuration line.
if grep -qw avx512_bf16 /proc/cpuinfo; then
  out=$("$bin" translate-train --data "$work/mt" --test test --hidden 8 --epochs 1 --batch 8 --threads 1 --bf16 \
        --out "$work/mtrun16" --quiet 2>&1) || fail "translate-train --bf16 failed: $out"
  grep -q "threads 1 bf16" <<<"$out" || fail "bf16 not reported by translate-train: $out"
fi
# SIGINT ends translate-train early but still tests the best completed epoch.
"$bin" translate-train --data "$work/mt" --test test --hidden 24 --epochs 100000 --batch 8 --threads 1 \
  --out "$work/mtstop" --quiet > "$work/mtstop.log" 2>&1 &
pid=$!
for _ in $(seq 1 4000); do [ -s "$work/mtstop/metrics.jsonl" ] && break; sleep 0.005; done
kill -INT "$pid"; wait "$pid"; status=$?
[ "$status" -eq 130 ] || fail "translate-train after SIGINT: exit status $status: $(cat "$work/mtstop.log")"
grep -q "interrupted by signal 2 after epoch" "$work/mtstop.log" && grep -q "test conditional perplexity" "$work/mtstop.log" || fail "no test after SIGINT: $(cat "$work/mtstop.log")"
[ -s "$work/mtstop/model.safetensors" ] || fail "no model kept after SIGINT"
# that test is marked: scripts must resume the run, not take it as finished
finished=$(dirname "$0")/../scripts/finished.sh
grep -q '"stopped": true' "$work/mtstop/metrics.jsonl" || fail "the stopped run's test is not marked: $(cat "$work/mtstop/metrics.jsonl")"
"$finished" "$work/mtstop" && fail "scripts/finished.sh took a stopped run for a finished one"
"$finished" "$work/mtrun" || fail "scripts/finished.sh did not recognise a finished run"
# --resume: a run stopped after its first epoch continues to the same epochs and test as mtrun
"$bin" translate-train --data "$work/mt" --test test --hidden 24 --epochs 3 --batch 8 --threads 1 \
  --out "$work/mtres" --reverse --quiet > "$work/mtres.log" 2>&1 &
pid=$!
for _ in $(seq 1 4000); do [ -s "$work/mtres/metrics.jsonl" ] && break; sleep 0.005; done
kill -INT "$pid"; wait "$pid"; status=$?
[ "$status" -eq 130 ] || fail "translate-train stopped for --resume: exit status $status: $(cat "$work/mtres.log")"
expect 2 "own settings" -- "$bin" translate-train --data "$work/mt" --test test --resume "$work/mtres" --hidden 8
expect 2 "own settings" -- "$bin" translate-train --data "$work/mt" --test test --resume "$work/mtres" --max-len 50
# (no data flag: the run's own, from run.json)
out=$("$bin" translate-train --resume "$work/mtres" --quiet 2>&1) ||
  fail "translate-train --resume failed: $out"
strip() { sed 's/, "train_seconds": [0-9.]*//' "$1"; }
diff <(strip "$work/mtrun/metrics.jsonl") <(strip "$work/mtres/metrics.jsonl") > "$work/mtdiff" ||
  fail "resumed translation run differs from the uninterrupted one: $(cat "$work/mtdiff")"
"$bin" translate --model "$work/mtrun/model.safetensors" --beam 4 < "$work/mt/test.en" > "$work/hyp4" 2>&1 ||
  fail "translate failed: $(cat "$work/hyp4")"
[ "$(wc -l < "$work/hyp4")" -eq 30 ] || fail "expected 30 translations"
"$bin" translate --model "$work/mtrun/model.safetensors" --beam 1 --input "$work/mt/test.en" > "$work/hyp1" ||
  fail "greedy translate failed"
# n-best in the Moses format: per source, at most K entries, best first, the first one the 1-best output;
# an ensemble of the model with itself gives the same translations
"$bin" translate --model "$work/mtrun/model.safetensors" --beam 4 --nbest 3 --input "$work/mt/test.en" \
  > "$work/nbest" || fail "translate --nbest failed"
python3 - "$work/nbest" "$work/hyp4" "$(wc -l < "$work/mt/test.en")" <<'PY' || fail "bad n-best list: $(head -5 "$work/nbest")"
import sys
lines = [l.rstrip("\n").split(" ||| ") for l in open(sys.argv[1])]
best = [l.rstrip("\n") for l in open(sys.argv[2])]
n = int(sys.argv[3])
by_id = {}
for f in lines:
    assert len(f) == 4 and f[2].startswith("MT= "), f
    by_id.setdefault(int(f[0]), []).append((f[1], float(f[2][4:]), float(f[3])))
assert sorted(by_id) == list(range(n)), sorted(by_id)
for i, hyps in by_id.items():
    assert 1 <= len(hyps) <= 3, hyps
    assert hyps[0][0] == best[i], (hyps[0], best[i])
    assert all(a[2] >= b[2] for a, b in zip(hyps, hyps[1:])), hyps
    assert all(h[1] <= 0 for h in hyps), hyps
    assert len(set(h[0] for h in hyps)) == len(hyps), hyps
PY
"$bin" translate --model "$work/mtrun/model.safetensors" --model "$work/mtrun/model.safetensors" --beam 4 \
  --input "$work/mt/test.en" > "$work/hyp4x2" || fail "translate with an ensemble failed"
cmp -s "$work/hyp4" "$work/hyp4x2" || fail "an ensemble of a model with itself translates otherwise"
expect 2 "exceeds --beam" -- "$bin" translate --model "$work/mtrun/model.safetensors" --beam 2 --nbest 3
expect 0 "BLEU = " -- "$bin" bleu "$work/hyp4" "$work/mt/test.fr"
expect 1 "must align" -- "$bin" bleu "$work/hyp4" "$work/mt/train.fr"
expect 0 "A higher in 0.0% of the samples" -- "$bin" bleu --bootstrap 50 --compare "$work/hyp4" "$work/hyp4" "$work/mt/test.fr"
expect 2 "unrecognized option" -- "$bin" bleu --frob "$work/hyp4" "$work/mt/test.fr"
# several references (hand-worked in test_bleu.c): 65.34, against 0.00 with the first alone
printf 'the the the cat\na b c d\n' > "$work/mh"
printf 'the cat\na b c\n' > "$work/mr1"
printf 'the the dog\na b c d e\n' > "$work/mr2"
expect 0 "BLEU = 65.34, 87.5/83.3/50.0/50.0 (BP=1.000, ratio=1.333, hyp_len=8, ref_len=6)" -- "$bin" bleu "$work/mh" "$work/mr1" "$work/mr2"
printf 'the cat\n\n' > "$work/mr3"
expect 1 "mr3: reference line 2 is empty" -- "$bin" bleu "$work/mh" "$work/mr1" "$work/mr3"
expect 2 "unrecognized option" -- "$bin" translate --frob
expect 2 "--max-ratio: must be > 0 and <= 100" -- "$bin" translate --model "$work/mtrun/model.safetensors" --max-ratio 101
expect 2 "--length-norm: must be 0..100" -- "$bin" translate --model "$work/mtrun/model.safetensors" --length-norm 101
printf 'e1 e2\n\ne3\n' > "$work/mt/holes"
# An empty source line gives an empty hypothesis line: the output stays aligned.
out=$("$bin" translate --model "$work/mtrun/model.safetensors" --beam 4 --input "$work/mt/holes" 2>"$work/holes.err") ||
  fail "translate with an empty line failed: $(cat "$work/holes.err")"
"$bin" translate --model "$work/mtrun/model.safetensors" --beam 4 --input "$work/mt/holes" 2>/dev/null > "$work/holes.out"
printf 'e1 e2\ne3\n' | "$bin" translate --model "$work/mtrun/model.safetensors" --beam 4 > "$work/noholes.out"
[ "$(wc -l < "$work/holes.out")" -eq 3 ] && [ "$(sed -n 2p "$work/holes.out")" = "" ] &&
  [ "$(sed -n '1p;3p' "$work/holes.out")" = "$(cat "$work/noholes.out")" ] ||
  fail "an empty source line should give an empty line 2 of 3, the others unchanged: '$out'"
grep -q "holes:2: empty line" "$work/holes.err" || fail "no warning for the empty line: $(cat "$work/holes.err")"
expect 1 "not a translation model" -- "$bin" translate --model "$model" --input "$work/mt/test.en"
expect 1 "is a translation model, not a language model" -- "$bin" eval --model "$model" --model "$work/mtrun/model.safetensors" --data "$work/data"
expect 1 "is a translation model, not a language model" -- "$bin" sample --model "$work/mtrun/model.safetensors"
# refused before its header: nothing on standard output
if out=$("$bin" score --model "$work/mtrun/model.safetensors" "$work/mt/holes" 2>/dev/null); then
  fail "score with a translation model"
fi
[ -z "$out" ] || fail "score wrote before refusing the model: $out"
expect 1 "different vocabularies" -- "$bin" eval --model "$model" --model "$work/files/model.safetensors" --data "$work/data"
# a flag beyond what the model allows is bad usage (2), as any other flag's bad value
expect 2 "can be at most" -- "$bin" eval --model "$model" --data "$work/data" --batch 9999
expect 2 "not in the vocabulary" -- "$bin" sample --model "$model" --prefix "zzz-no-such-word"
head -5 "$work/mt/val.fr" > "$work/mt/short.fr"; cp "$work/mt/val.en" "$work/mt/short.en"
expect 1 "aligned" -- "$bin" translate-train --data "$work/mt" --train short --test test --epochs 1 --out "$work/x"
expect 1 "longer than the limit" -- "$bin" translate-train --data "$work/mt" --test test --max-len 6 --out "$work/x"

finish cli

#!/usr/bin/env bash
# Regression tests of the command line for the hostile-input findings of
# issue 10 (docs/RESULTS.md lists each): run folders with one owner, signals,
# divergence, data checked before training, output errors, resume on other
# data, translate's input, and the smaller items. Usage: hardening_test.sh PATH/TO/lstmlm
set -u
bin=$(realpath "$1")
. "$(dirname "$0")/lib.sh"

# wait_for FILE PATTERN: until FILE holds PATTERN (at most ~20 s)
wait_for() {
  for _ in $(seq 1 4000); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.005; done
  return 1
}

corpus() {  # corpus DIR TRAIN_WORDS VALID_WORDS TEST_WORDS
  mkdir -p "$1"
  local split n
  for split in train:$2 valid:$3 test:$4; do
    name=${split%%:*} n=${split##*:}
    awk -v n="$n" -v seed="${#name}" 'BEGIN { srand(seed); line = "";
      for (i = 0; i < n; i++) { line = line " w" int(rand() * 30);
        if (rand() < 0.1) { print line; line = "" } } print line " <unk>" }' > "$1/ptb.$name.txt"
  done
}
corpus "$work/data" 4000 400 400
tiny=(--data "$work/data" --hidden 16 --layers 2 --steps 5 --batch 4 --threads 1 --quiet)

# --- 5. a run folder has one owner and holds one run -------------------------
# A run slow enough to be caught while it trains.
corpus "$work/big" 60000 400 400
slow=(--data "$work/big" --hidden 128 --layers 2 --steps 10 --batch 8 --epochs 3 --threads 1)
"$bin" train "${slow[@]}" --out "$work/busy" > "$work/busy.log" 2>&1 &
pid=$!
wait_for "$work/busy.log" "run directory" || fail "the slow run did not start: $(cat "$work/busy.log")"
expect 2 "in use by another lstmlm run" -- "$bin" train "${tiny[@]}" --out "$work/busy"
expect 2 "in use by another lstmlm run" -- "$bin" translate-train --data "$work/none" --out "$work/busy"  # before its data
kill -INT "$pid"; wait "$pid"
expect 2 "already holds a run" -- "$bin" train "${tiny[@]}" --out "$work/busy"
"$bin" train --resume "$work/busy" --quiet > "$work/r1.log" 2>&1 &
pid=$!
wait_for "$work/r1.log" "resuming" || fail "resume did not start: $(cat "$work/r1.log")"
expect 2 "in use by another lstmlm run" -- "$bin" train --resume "$work/busy"
kill -INT "$pid"; wait "$pid"
# A run that failed before its first epoch (no state) is still a run folder
# once its run.json exists; a folder where nothing was written is free again.
expect 1 "shorter than one window" -- "$bin" train "${tiny[@]}" --steps 5000 --out "$work/unborn"
[ -e "$work/unborn/run.json" ] && fail "a run refused on its data left run.json behind"
expect 0 "test perplexity" -- "$bin" train "${tiny[@]}" --epochs 1 --out "$work/unborn"
# Runs of one kind are not taken for the other.
mkdir -p "$work/mt"
for split in train:200 val:20 test:20; do
  name=${split%%:*} n=${split##*:}
  awk -v n="$n" -v seed="${#name}" 'BEGIN { srand(seed); for (i = 0; i < n; i++) {
      k = 2 + int(rand() * 4); s = ""; t = "";
      for (j = 0; j < k; j++) { w = int(rand() * 10); s = s (j ? " " : "") "e" w; t = t (j ? " " : "") "f" w }
      print s > "/dev/stderr"; print t } }' > "$work/mt/$name.fr" 2> "$work/mt/$name.en"
done
mt=(--data "$work/mt" --test test --hidden 16 --epochs 1 --batch 4 --threads 1 --quiet)
expect 0 "test conditional perplexity" -- "$bin" translate-train "${mt[@]}" --out "$work/mtrun"
expect 2 "already holds a run" -- "$bin" train "${tiny[@]}" --out "$work/mtrun"
expect 2 "already holds a run" -- "$bin" translate-train "${mt[@]}" --out "$work/unborn"
expect 1 "holds a translation run" -- "$bin" train --resume "$work/mtrun"
expect 1 "holds a language-model run" -- "$bin" translate-train --data "$work/mt" --resume "$work/unborn"
expect 1 "holds a translation run" -- "$bin" frames-train --resume "$work/mtrun"
expect 1 "holds a translation run" -- "$bin" caption-train --resume "$work/mtrun"
# a forged kind is not echoed (it could hold terminal escapes)
mkdir -p "$work/forgedkind" && sed 's/"kind": *"[a-z]*"/"kind": "\\u001b[2Jx"/' "$work/mtrun/run.json" > "$work/forgedkind/run.json"
grep -q 'u001b' "$work/forgedkind/run.json" || fail "could not forge run.json: $(cat "$work/forgedkind/run.json")"
expect 1 "holds a run of an unknown kind" -- "$bin" train --resume "$work/forgedkind"
"$bin" train --resume "$work/forgedkind" 2>&1 | grep -q $'\x1b' && fail "a forged kind reached the terminal"
# run.json without a saved state: nothing to resume, and the folder is left as it was
mkdir -p "$work/nostate" && cp "$work/mtrun/run.json" "$work/nostate/"
expect 1 "holds no state.safetensors" -- "$bin" translate-train --data "$work/mt" --resume "$work/nostate"
[ "$(ls "$work/nostate" | grep -vx lock)" = run.json ] || fail "a refused resume wrote into its folder: $(ls "$work/nostate")"
# other threads than the run's: allowed, with a note (a finished run resumed only tests again)
expect 0 "note: 2 threads instead of the run's 1" -- "$bin" translate-train --data "$work/mt" --test test \
  --resume "$work/mtrun" --threads 2 --quiet
ls "$work"/unborn/*.tmp* >/dev/null 2>&1 && fail "temporary files left in a run folder"
# the data flags are recorded, so --resume needs none; read back, they are checked as given ones are
grep -q '"test": "test"' "$work/mtrun/run.json" || fail "run.json lacks the data flags: $(cat "$work/mtrun/run.json")"
expect 0 "test conditional perplexity" -- "$bin" translate-train --resume "$work/mtrun" --quiet
mkdir -p "$work/forgedflags" && cp "$work/mtrun/run.json" "$work/mtrun/state.safetensors" "$work/forgedflags/"
sed -i 's/"min-count": "[0-9]*"/"min-count": "-3"/' "$work/forgedflags/run.json"
expect 1 "run.json: expected \"flags\".\"min-count\": an integer in [1, " -- "$bin" translate-train --resume "$work/forgedflags"
"$bin" translate-train --resume "$work/forgedflags" 2>&1 | grep -q -- "-3" && fail "a recorded value was echoed"
sed -i 's/"src": "en"/"src": "\\u001b[2Jen"/' "$work/forgedflags/run.json"
expect 1 "expected \"flags\": short names of strings without control" -- "$bin" translate-train --resume "$work/forgedflags"
sed -i 's/"src": "[^"]*"/"src": 5/' "$work/forgedflags/run.json"
expect 1 "expected \"flags\": short names of strings" -- "$bin" translate-train --resume "$work/forgedflags"
printf '{"kind": "translation", "kind": "lm"}' > "$work/forgedflags/run.json"
expect 1 "run.json: not valid JSON, line 1: duplicate object key" -- "$bin" translate-train --resume "$work/forgedflags"
printf '{"kind": \x1b[2J}' > "$work/forgedflags/run.json"
expect 1 "run.json: not valid JSON, line 1" -- "$bin" translate-train --resume "$work/forgedflags"
"$bin" translate-train --resume "$work/forgedflags" 2>&1 | grep -q $'\x1b' && fail "a forged run.json's text reached the terminal"
# any message quoting a name: no control byte reaches the terminal
"$bin" eval --model "$work/no"$'\x1b[2J\n'"model" --text "$work/mt/test.en" 2>&1 | grep -q $'\x1b' && fail "a file name's escape reached the terminal"
expect 1 "no?[2J?model: not found" -- "$bin" eval --model "$work/no"$'\x1b[2J\n'"model" --text "$work/mt/test.en"
long_name="$work/$(printf 'n%.0s' $(seq 1 700))"  # a message longer than report's first buffer: whole
expect 1 "$long_name: not found" -- "$bin" eval --model "$long_name" --text "$work/mt/test.en"
# a run.json from before recorded flags: a note, the defaults for flags not given, and the flags in use recorded
cp -r "$work/mtrun" "$work/oldrun"
printf '{"kind": "translation", "data": "%s", "threads": 1}\n' "$work/mt" > "$work/oldrun/run.json"
expect 0 "records no data flags" -- "$bin" translate-train --resume "$work/oldrun" --test test --quiet
grep -q '"test": "test"' "$work/oldrun/run.json" || fail "the resumed run did not record its flags: $(cat "$work/oldrun/run.json")"

# --- 6. a second signal while stopping does not lose the state ---------------
"$bin" train "${slow[@]}" --out "$work/twice" --save-every 100000 > "$work/twice.log" 2>&1 &
pid=$!
wait_for "$work/twice.log" "epoch 1/3" || fail "the run did not start training: $(cat "$work/twice.log")"
kill -INT "$pid"; sleep 0.002; kill -INT "$pid"; sleep 0.002; kill -TERM "$pid"
wait "$pid"; status=$?
[ "$status" -eq 130 ] || fail "two SIGINTs and a SIGTERM: exit status $status: $(cat "$work/twice.log")"
grep -q "Continue with" "$work/twice.log" || fail "the state was not saved on repeated signals: $(cat "$work/twice.log")"
out=$("$bin" train --resume "$work/twice" --no-test --quiet 2>&1 &
      p=$!; sleep 1; kill -INT $p 2>/dev/null; wait $p) ; status=$?
grep -q "resuming" <<<"$out" || fail "the state saved under repeated signals does not resume: $out"

# --- 7. a signal during the final test pass stops it -------------------------
corpus "$work/longtest" 2000 300 150000
"$bin" train --data "$work/longtest" --hidden 64 --layers 2 --steps 5 --batch 4 --epochs 1 --threads 1 \
  --out "$work/testpass" > "$work/testpass.log" 2>&1 &
pid=$!
wait_for "$work/testpass.log" "^test " || fail "no test progress: $(cat "$work/testpass.log")"
kill -INT "$pid"; wait "$pid"; status=$?
[ "$status" -eq 130 ] || fail "SIGINT during the test pass: exit status $status: $(tail -3 "$work/testpass.log")"
grep -q "during the test evaluation" "$work/testpass.log" || fail "no message for a stopped test: $(tail -3 "$work/testpass.log")"
grep -q test_ppl "$work/testpass/metrics.jsonl" && fail "a stopped test pass wrote a test perplexity"

# --- 8. divergence is a failure, and metrics stay JSON ------------------------
expect 1 "diverged" -- "$bin" train "${tiny[@]}" --lr 1e12 --clip 0 --epochs 2 --out "$work/diverge"
grep -qiE 'inf|nan' "$work/diverge/metrics.jsonl" 2>/dev/null && fail "metrics.jsonl holds non-JSON numbers"
if command -v python3 >/dev/null; then
  python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$work/unborn/metrics.jsonl" ||
    fail "metrics.jsonl is not JSON lines"
fi

# --- 9, 10. data checked before training: absurd words, short splits ---------
corpus "$work/bigword" 4000 400 400
{ printf 'w1 '; head -c 5000 /dev/zero | tr '\0' 'x'; printf ' w2\n'; } >> "$work/bigword/ptb.train.txt"
expect 1 "a word of 5000 bytes" -- "$bin" train "${tiny[@]}" --data "$work/bigword" --out "$work/bw"
corpus "$work/shortvalid" 4000 3 400
out=$("$bin" train "${tiny[@]}" --data "$work/shortvalid" --out "$work/sv" 2>&1); status=$?
[ "$status" -eq 1 ] && grep -q "ptb.valid.txt.*too short to validate" <<<"$out" ||
  fail "a too-short validation file: status $status: $out"
grep -q "epoch" <<<"$out" && fail "training started before the validation file was checked: $out"
expect 1 "shorter than one window of 10000 streams" -- "$bin" train "${tiny[@]}" --batch 10000 --out "$work/b10k"

# --- 11. output errors are reported --------------------------------------------
model="$work/unborn/model.safetensors"
# A closed pipe is reported like a full disk, and training still saves its work
# (SIGPIPE would kill it silently mid-epoch).
sh -c 'sleep 0.3; exec "$@"' sh "$bin" train "${tiny[@]}" --epochs 1 --out "$work/piped" 2> "$work/piped.err" | true
status=${PIPESTATUS[0]}
[ "$status" -eq 1 ] || fail "training into a closed pipe: exit status $status: $(cat "$work/piped.err")"
grep -q "error writing to standard output" "$work/piped.err" || fail "closed pipe not reported: $(cat "$work/piped.err")"
grep -q '"test_ppl"' "$work/piped/metrics.jsonl" || fail "training into a closed pipe did not finish its work"
if [ -w /dev/full ]; then
  expect 1 "error writing to standard output" -- sh -c "'$bin' sample --model '$model' --words 5 > /dev/full"
  expect 1 "error writing to standard output" -- sh -c "'$bin' eval --model '$model' --data '$work/data' --quiet > /dev/full"
  expect 1 "error writing to standard output" -- sh -c "'$bin' bleu '$work/mt/test.fr' '$work/mt/test.fr' > /dev/full"
  expect 1 "error writing to standard output" -- sh -c "'$bin' translate --model '$work/mtrun/model.safetensors' --beam 2 --input '$work/mt/test.en' --quiet > /dev/full"
  expect 1 "error writing to standard output" -- sh -c "'$bin' train --help > /dev/full"
fi

# --- 12. resume records and checks its data ----------------------------------
"$bin" train "${slow[@]}" --out "$work/moved" --quiet > "$work/moved.log" 2>&1 &
pid=$!
wait_for "$work/moved.log" "run directory" || fail "run did not start"
sleep 0.5; kill -INT "$pid"; wait "$pid"
grep -q "\"data\": \"$work/big\"" "$work/moved/run.json" || fail "run.json lacks the absolute data path: $(cat "$work/moved/run.json")"
grep -q '"fnv64"' "$work/moved/run.json" || fail "run.json lacks fingerprints"
cp -r "$work/big" "$work/big2"
sed -i '1s/^/w1 /' "$work/big2/ptb.train.txt"
expect 1 "is not the train text this run started with" -- "$bin" train --resume "$work/moved" --data "$work/big2"
# from another working directory, the recorded absolute path still finds the data
(cd / && exec "$bin" train --resume "$work/moved" --quiet > "$work/moved2.log" 2>&1) &  # exec: $! is lstmlm, which SIGINT must reach
pid=$!
wait_for "$work/moved2.log" "resuming" || fail "resume from / failed: $(cat "$work/moved2.log")"
kill -INT "$pid" 2>/dev/null; wait "$pid"
# run.json is checked like any input: renamed splits cannot skip the fingerprint check
cp "$work/moved/run.json" "$work/moved.json"
sed -i 's/"train": {/"x": {/' "$work/moved/run.json"
expect 1 "splits must be train, valid and test" -- "$bin" train --resume "$work/moved" --data "$work/big2"
cp "$work/moved.json" "$work/moved/run.json"
sed -i 's/"threads": [0-9]*/"threads": 99999/' "$work/moved/run.json"
expect 1 "run.json: expected \"threads\": an integer in 1..1024" -- "$bin" train --resume "$work/moved"

# --- 13. translate keeps lines aligned and refuses what training refuses ------
printf 'e1 e2\ne3\x00e4\n' > "$work/nul.en"
expect 1 "nul.en:2: NUL byte" -- "$bin" translate --model "$work/mtrun/model.safetensors" --beam 2 --input "$work/nul.en"
printf 'e1 \xff\n' > "$work/bad.en"
expect 1 "bad.en:1: invalid UTF-8" -- "$bin" translate --model "$work/mtrun/model.safetensors" --beam 2 --input "$work/bad.en"

# --- 14. smaller items ---------------------------------------------------------
long="$work/$(printf 'd%.0s' $(seq 1 100))"
for _ in $(seq 1 12); do long="$long/$(printf 'e%.0s' $(seq 1 100))"; done  # > 1200 bytes
expect 0 "test perplexity" -- "$bin" train "${tiny[@]}" --epochs 1 --out "$long"
[ -s "$long/model.safetensors" ] || fail "--out of ${#long} bytes: the model is not where it was asked"
expect 1 "is a folder, not a regular file" -- "$bin" eval --model "$model" --text "$work/data"
corpus "$work/fifo" 4000 400 400
rm "$work/fifo/ptb.valid.txt"; mkfifo "$work/fifo/ptb.valid.txt"
expect 1 "is a pipe or device" -- "$bin" train "${tiny[@]}" --data "$work/fifo" --out "$work/ff"
touch "$work/afile"
out=$("$bin" train "${tiny[@]}" --out "$work/afile" 2>&1); status=$?
[ "$status" -eq 2 ] && ! grep -q "^data:" <<<"$out" || fail "--out naming a file: status $status: $out"
cp "$model" "$work/before.safetensors"
out=$("$bin" train --resume "$work/unborn" 2>&1) || fail "resume of a finished run failed: $out"
grep -q "already trained all 1 epochs" <<<"$out" && grep -q "(unchanged)" <<<"$out" ||
  fail "resume of a finished run should say so: $out"
cmp -s "$model" "$work/before.safetensors" || fail "resume of a finished run rewrote the model"
expect 0 "nothing to do with --no-test" -- "$bin" train --resume "$work/unborn" --no-test
grep -q '"test_ppl"' "$work/unborn/metrics.jsonl" || fail "--resume --no-test of a finished run dropped its test line"
printf 'zz yy w1 xx\nqq w2\n' > "$work/oov.txt"
expect 0 "are not in the model's vocabulary" -- "$bin" eval --model "$model" --text "$work/oov.txt" --quiet
expect 2 "expected a number" -- "$bin" train --lr " 1"
expect 2 "expected a number" -- "$bin" train --lr 0x1p0
expect 2 "expected a number" -- "$bin" train --lr nan
expect 2 "expected an integer" -- "$bin" train --epochs " 3"
expect 2 "expected an integer" -- "$bin" train --epochs 0x3

finish hardening

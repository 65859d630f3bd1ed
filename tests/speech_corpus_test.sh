#!/usr/bin/env bash
# The speech corpus builder: a tiny corpus is built, is the same for the same
# seed and differs for another; a folder that exists and bad options are
# refused without writing. Usage: speech_corpus_test.sh BUILDER PTB_DIR
set -euo pipefail
b=$1 ptb=$2
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
run() { "$b" --ptb "$ptb" --hours 0.005 --eval-minutes 0.2 --speakers 2 "$@"; }
run --out "$t/a" --seed 3 > "$t/a.txt" 2>/dev/null
run --out "$t/b" --seed 3 > /dev/null 2>&1
run --out "$t/c" --seed 4 > /dev/null 2>&1
for s in train valid test; do
  [ -s "$t/a/$s.safetensors" ] || fail "no $s split"
  cmp -s "$t/a/$s.safetensors" "$t/b/$s.safetensors" || fail "$s differs for the same seed"
  cmp -s "$t/a/$s.safetensors" "$t/c/$s.safetensors" && fail "$s is the same for another seed"
done
grep -q "^classes: [0-9]* (" "$t/a.txt" || fail "no class count printed"
grep -q "majority class" "$t/a.txt" || fail "no majority baseline printed"
if run --out "$t/a" --seed 3 > /dev/null 2> "$t/err"; then fail "an existing folder was reused"; fi
grep -q "does not exist" "$t/err" || fail "unclear message for an existing folder: $(cat "$t/err")"
if run --out "$t/d" --snr 9:3 > /dev/null 2>&1; then fail "--snr 9:3 accepted"; fi
[ ! -e "$t/d" ] || fail "a refused run created its folder"
if "$b" --ptb "$t/nowhere" --out "$t/e" > /dev/null 2>&1; then fail "missing PTB accepted"; fi
[ ! -e "$t/e" ] || fail "a run without text created its folder"
# Text with nothing to speak (only <unk> lines) ends with a reason, not a
# loop, and leaves no folder behind.
mkdir "$t/unk"
for s in train valid test; do printf '<unk>\n<unk> <unk>\n' > "$t/unk/ptb.$s.txt"; done
if timeout 120 "$b" --ptb "$t/unk" --out "$t/f" --hours 0.005 --eval-minutes 0.2 --speakers 2 > /dev/null 2> "$t/err"; then
  fail "a text without a speakable line was accepted"
fi
grep -q "no line of the text gives a labelled utterance" "$t/err" || fail "unclear message for unspeakable text: $(cat "$t/err")"
[ ! -e "$t/f" ] || fail "a failed run left its folder"
echo "speech corpus builder: all checks passed"

#!/usr/bin/env bash
# `lstmlm score` and `lstmlm rescore` end to end on a tiny model: score with
# --carry sums to eval's total on the same file; batched scoring equals one
# sentence at a time; per-word values sum to the sentence; JSON parses; empty
# lines, unknown words, long lines and bad input behave as documented; rescore
# adds lambda * LM (the LM equal to score's), reranks, writes the 1-best, and
# refuses malformed n-best lists without leaving output behind.
# Usage: score_cli_test.sh PATH/TO/lstmlm
set -u
bin=$1
. "$(dirname "$0")/lib.sh"

for split in train:3000 valid:300 test:300; do
  name=${split%%:*} n=${split##*:}
  awk -v n="$n" -v seed="${#name}" 'BEGIN { srand(seed); line = "";
    for (i = 0; i < n; i++) { line = line " w" int(rand() * 40);
      if (rand() < 0.12) { print line; line = "" } } print line }' > "$work/$name.txt"
done
out=$("$bin" train --train "$work/train.txt" --valid "$work/valid.txt" --test "$work/test.txt" --max-vocab 30 \
  --out "$work/run" --hidden 16 --layers 2 --steps 6 --batch 4 --epochs 1 --threads 1 --quiet 2>&1) ||
  fail "training failed: $out"
model="$work/run/model.safetensors"

for opt in --model --per-word --json --carry --batch --bf16; do expect 0 "$opt" -- "$bin" score --help; done
for opt in --model --nbest --format --scores --costs --lambda --word-bonus --output --best; do
  expect 0 "$opt" -- "$bin" rescore --help
done

[ "$("$bin" help score)" = "$("$bin" score --help)" ] || fail "'lstmlm help score' is not score's help"
# no input at all: a total of nothing, its perplexity "nan" (not printf's "-nan")
[ "$("$bin" score --model "$model" --threads 1 < /dev/null | tail -n 1)" = "$(printf 'total\t0.000000\t0\t0\tnan')" ] ||
  fail "empty input: $("$bin" score --model "$model" --threads 1 < /dev/null 2>&1)"
# --carry over a file = eval's total log-probability
ev=$("$bin" eval --model "$model" --text "$work/test.txt" --threads 1 --quiet 2>/dev/null) || fail "eval failed: $ev"
ev_lp=$(sed -n 's/.*log-probability \([-0-9.]*\).*/\1/p' <<<"$ev")
sc=$("$bin" score --model "$model" --carry --threads 1 "$work/test.txt" 2>/dev/null) || fail "score --carry failed"
sc_lp=$(tail -1 <<<"$sc" | cut -f2)
[ -n "$ev_lp" ] && close "$ev_lp" "$sc_lp" 1e-6 || fail "score --carry total $sc_lp differs from eval's $ev_lp"
words=$(wc -w < "$work/test.txt") lines=$(wc -l < "$work/test.txt")
[ "$(tail -1 <<<"$sc" | cut -f3)" -eq "$words" ] || fail "total words $(tail -1 <<<"$sc" | cut -f3), the file has $words"
grep -q "$((words + lines)) words predicted" <<<"$ev" || fail "eval should predict every word and <eos>: $ev"

# batched (default) = one at a time, line by line; stdin = file
a=$("$bin" score --model "$model" --threads 1 "$work/test.txt" 2>/dev/null)
b=$("$bin" score --model "$model" --threads 1 --batch 1 < "$work/test.txt" 2>/dev/null)
paste <(cut -f2 <<<"$a") <(cut -f2 <<<"$b") | awk -F'\t' 'NR > 1 { d = $1 - $2; if (d < 0) d = -d; if (d > 1e-4) bad++ }
  END { exit bad > 0 }' || fail "batched and single scores differ"
[ "$(wc -l <<<"$a")" -eq $((lines + 2)) ] || fail "expected header + $lines sentences + total"

# per-word: the words' log-probabilities and <eos>'s sum to the sentence; OOV positions
printf 'w1 w2 zzz w3\n\nzzz yyy\n' > "$work/few.txt"
pw=$("$bin" score --model "$model" --per-word --threads 1 "$work/few.txt" 2>/dev/null) || fail "--per-word failed"
awk -F'\t' 'NR > 1 && $1 != "total" { n = split($6, v, " "); s = 0; for (i = 1; i <= n; i++) s += v[i];
  d = s - $2; if (d < 0) d = -d; if (d > 1e-4 || n != $3 + 1) bad++ } END { exit bad > 0 }' <<<"$pw" ||
  fail "per-word values do not sum to the sentence: $pw"
[ "$(sed -n 2p <<<"$pw" | cut -f4,7)" = "$(printf '1\t3')" ] || fail "OOV 'zzz' at position 3 not flagged: $pw"
[ "$(sed -n 3p <<<"$pw" | cut -f3,4)" = "$(printf '0\t0')" ] || fail "an empty line should be 0 words: $pw"
[ "$(sed -n 4p <<<"$pw" | cut -f3,4,7)" = "$(printf '2\t2\t1,2')" ] || fail "a line of unknown words: $pw"
# an empty line's score is <eos> from sentence start: the first word of any line scored with per-word
e1=$(sed -n 3p <<<"$pw" | cut -f2)
e2=$(printf '<eos>\n' | "$bin" score --model "$model" --per-word --threads 1 2>/dev/null | sed -n 2p | cut -f6 | cut -d' ' -f1)
close "$e1" "$e2" 1e-5 || fail "empty line $e1 is not P(<eos> | start) $e2"
js=$("$bin" score --model "$model" --per-word --json --threads 1 "$work/few.txt" 2>/dev/null) || fail "--json failed"
python3 - <<PY || fail "JSON lines: $js"
import json
rows = [json.loads(l) for l in """$js""".splitlines()]
assert len(rows) == 4 and rows[-1]["total"] is True
assert [w["word"] for w in rows[0]["per_word"]] == ["w1", "w2", "zzz", "w3", "<eos>"]
assert [w["oov"] for w in rows[0]["per_word"]] == [False, False, True, False, False]
assert abs(sum(w["logprob"] for w in rows[0]["per_word"]) - rows[0]["logprob"]) < 1e-4
assert abs(sum(r["logprob"] for r in rows[:-1]) - rows[-1]["logprob"]) < 1e-4
PY
# an unknown word of 1000 control bytes comes back whole (each escaped as \u00XX)
python3 -c 'import sys; sys.stdout.write("w1 " + "\x01\x02\"\\" * 250 + " w2\n")' > "$work/ctl.txt"
"$bin" score --model "$model" --per-word --json --threads 1 "$work/ctl.txt" > "$work/ctl.json" 2>/dev/null ||
  fail "--json on control bytes failed"
python3 - "$work/ctl.json" <<'PY' || fail "a long escaped word was cut: $(head -c 300 "$work/ctl.json")"
import json, sys
row = json.loads(open(sys.argv[1]).readline())
assert [w["word"] for w in row["per_word"]] == ["w1", "\x01\x02\"\\" * 250, "w2", "<eos>"], row["per_word"][1]["word"][:40]
PY

# bad input: named file and line; a 1 MB line is scored
printf 'w1 w2\nw3 \xff w4\n' > "$work/bad.txt"
expect 1 "bad.txt:2: invalid UTF-8" -- "$bin" score --model "$model" "$work/bad.txt"
expect 1 "not a safetensors file" -- "$bin" score --model "$work/test.txt" "$work/test.txt"
expect 2 "--batch" -- "$bin" score --model "$model" --batch 0
expect 1 "No such file" -- "$bin" score --model "$model" "$work/none.txt"
awk 'BEGIN { for (i = 0; i < 200000; i++) printf "w%d ", i % 40; print "" }' > "$work/long.txt"
out=$("$bin" score --model "$model" --threads 1 "$work/long.txt" 2>&1) || fail "a 1 MB line failed: $out"
[ "$(sed -n 2p <<<"$out" | cut -f3)" = 200000 ] || fail "the long line's words: $out"
if [ -w /dev/full ]; then
  "$bin" score --model "$model" "$work/few.txt" > /dev/full 2>/dev/null && fail "a full disk must not exit 0"
fi

# rescore, Moses: LM= is score's sentence log-probability; new = old + lambda LM + bonus words
cat > "$work/nb.txt" <<'EOF'
0 ||| w1 w2 w3 ||| tm= -1 -2 ||| -3.5
0 ||| w1 w2 w5 ||| tm= -1 -3 ||| -3.0
0 ||| w1 ||| tm= -2 -2 ||| -4.0
2 |||  ||| tm= 0 0 ||| -9.0
2 ||| w7 w7 zzz ||| tm= 1 1 ||| -1.25 ||| 0-0 1-1
EOF
out=$("$bin" rescore --model "$model" --nbest "$work/nb.txt" --lambda 0.5 --word-bonus 0.25 --best "$work/best.txt" \
  --threads 1 2>"$work/err") || fail "rescore failed: $out $(cat "$work/err")"
# one tree for the group: w1 w2 w3 </s> w5 </s> </s> | </s> | w7 w7 <unk> </s> = 12 steps for 10 words + 5 <eos>
steps=$(sed -n 's/.*; \([0-9]*\) steps for \([0-9]*\) words and <eos>.*/\1 \2/p' "$work/err")
[ "$steps" = "12 15" ] || fail "prefix sharing: expected 12 steps for 15 words and <eos>, got '$steps'"
# outputs that are not plain files are written through, never replaced: a
# symbolic link stays a link (its target gets the lines), a FIFO stays a FIFO
ln -s "$work/best-target" "$work/best-link"
mkfifo "$work/fifo"
cat "$work/fifo" > "$work/fifo.out" &
"$bin" rescore --model "$model" --nbest "$work/nb.txt" --best "$work/best-link" --output "$work/fifo" --threads 1 \
  2>/dev/null || fail "rescore into a link and a FIFO failed"
wait
[ -L "$work/best-link" ] && [ -p "$work/fifo" ] || fail "rescore replaced a link or a FIFO with a plain file"
[ "$(wc -l < "$work/best-target")" = 3 ] || fail "the link's target lacks the 1-best lines"
[ "$(wc -l < "$work/fifo.out")" = 5 ] || fail "the FIFO did not receive the reranked list"
# a group per item (--batch 1) scores the same
one=$("$bin" rescore --model "$model" --nbest "$work/nb.txt" --lambda 0.5 --word-bonus 0.25 --batch 1 --threads 1 \
  2>/dev/null) || fail "rescore --batch 1 failed"
[ "$one" = "$out" ] || fail "rescore --batch 1 differs: $one"
for hypo in "w1 w2 w3" "w1 w2 w5" "w1" "" "w7 w7 zzz"; do
  lm=$(printf '%s\n' "$hypo" | "$bin" score --model "$model" --threads 1 2>/dev/null | sed -n 2p | cut -f2)
  line=$(awk -F' \\|\\|\\| ' -v h="$hypo" '$2 == h' <<<"$out")
  got=$(sed 's/.*LM= \([-0-9.]*\) ||| .*/\1/' <<<"$line")
  close "$lm" "$got" 1e-5 || fail "LM= $got for '$hypo', score says $lm"
  old=$(awk -F' \\|\\|\\| ' -v h="$hypo" '$2 == h { print $4 }' "$work/nb.txt")
  new=$(awk -F' \\|\\|\\| ' '{ print $4 }' <<<"$line")
  want=$(awk -v o="$old" -v l="$lm" -v n="$(wc -w <<<"$hypo")" 'BEGIN { printf "%.6f", o + 0.5 * l + 0.25 * n }')
  close "$want" "$new" 1e-5 || fail "new score $new for '$hypo', expected $want"
done
grep -q "||| 0-0 1-1$" <<<"$out" || fail "fields after the score are lost: $out"
awk -F' \\|\\|\\| ' '{ if ($1 == prev && $4 > last) bad++; prev = $1; last = $4 } END { exit bad > 0 }' <<<"$out" ||
  fail "not sorted best first within a sentence: $out"
[ "$(wc -l < "$work/best.txt")" -eq 3 ] && [ -z "$(sed -n 2p "$work/best.txt")" ] ||
  fail "--best needs 3 lines, the second empty (no hypotheses for sentence 1): $(cat "$work/best.txt")"
[ "$(sed -n 1p "$work/best.txt")" = "$(sed -n 1p <<<"$out" | awk -F' \\|\\|\\| ' '{ print $2 }')" ] ||
  fail "--best's first line is not the reranked first hypothesis"
# lambda 0 and no bonus keep the old order
out0=$("$bin" rescore --model "$model" --nbest "$work/nb.txt" --lambda 0 --threads 1 2>/dev/null)
[ "$(sed -n 1p <<<"$out0" | cut -d'|' -f4 | xargs)" = "w1 w2 w5" ] || fail "lambda 0 should keep the old best: $out0"

# Moses list errors: file and line, nothing written
printf '0 ||| a b ||| x ||| -1\n1 ||| a ||| x\n' > "$work/nb_fields.txt"
expect 1 "nb_fields.txt:2: expected" -- "$bin" rescore --model "$model" --nbest "$work/nb_fields.txt" --output "$work/o1"
[ -e "$work/o1" ] && fail "an output file was left after an error"
ls "$work" | grep -q "^o1\." && fail "a temporary output file was left after an error"
printf '1 ||| w1 ||| x ||| -1\n0 ||| w2 ||| x ||| -1\n' > "$work/nb_order.txt"
expect 1 "nb_order.txt:2: sentence 0 after sentence 1" -- "$bin" rescore --model "$model" --nbest "$work/nb_order.txt"
printf '0 ||| w1 ||| x ||| abc\n' > "$work/nb_score.txt"
expect 1 "nb_score.txt:1: the score" -- "$bin" rescore --model "$model" --nbest "$work/nb_score.txt"
printf '0 ||| w1 ||| x ||| nan\n' > "$work/nb_nan.txt"
expect 1 "not a finite number" -- "$bin" rescore --model "$model" --nbest "$work/nb_nan.txt"
printf 'x1 ||| w1 ||| x ||| -1\n' > "$work/nb_id.txt"
expect 1 "is not a sentence number" -- "$bin" rescore --model "$model" --nbest "$work/nb_id.txt"
expect 2 "given for two outputs" -- "$bin" rescore --model "$model" --nbest "$work/nb.txt" --output "$work/same" --best "$work/same"
expect 2 "given for two outputs" -- "$bin" rescore --model "$model" --nbest "$work/nb.txt" --output "$work/same" --best "$work/../$(basename "$work")/same"
expect 0 "" -- "$bin" rescore --model "$model" --nbest "$work/nb.txt" --output /dev/null --best /dev/null  # a device is shared freely
printf '0 ||| w1 ||| x ||| -1\n1099511627776 ||| w1 ||| x ||| -1\n' > "$work/nb_huge.txt"  # --best would write 2^40 lines
expect 1 "nb_huge.txt:2: the sentence ID \"1099511627776\" is not a sentence number (0..100000000)" -- \
  "$bin" rescore --model "$model" --nbest "$work/nb_huge.txt" --best "$work/huge.best"
[ ! -e "$work/huge.best" ] || fail "a refused n-best list left a --best file"
expect 2 "--lambda: expected a number" -- "$bin" rescore --model "$model" --nbest "$work/nb.txt" --lambda abc
expect 2 "--format" -- "$bin" rescore --model "$model" --nbest "$work/nb.txt" --format srilm
expect 2 "--scores" -- "$bin" rescore --model "$model" --nbest "$work/nb.txt" --format kaldi

# Kaldi: text + scores (as costs), 1-best per utterance
printf 'utt1-1 w1 w2\nutt1-2 w3\nutt2-1 w4 w4\nutt2-2 w5\n' > "$work/text"
printf 'utt1-1 10.5\nutt1-2 10.0\nutt2-1 3\nutt2-2 7\n' > "$work/costs"
out=$("$bin" rescore --model "$model" --nbest "$work/text" --format kaldi --scores "$work/costs" --costs \
  --lambda 0 --best "$work/kbest" --output-scores "$work/kscores" --threads 1 2>/dev/null) || fail "kaldi rescore failed: $out"
[ "$(cat "$work/kbest")" = "$(printf 'utt1 w3\nutt2 w4 w4')" ] || fail "kaldi 1-best by lowest cost: $(cat "$work/kbest")"
[ "$(head -1 <<<"$out")" = "utt1-2 w3" ] || fail "kaldi reranked text: $out"
[ "$(head -1 "$work/kscores")" = "utt1-2 10.000000" ] || fail "kaldi scores: $(cat "$work/kscores")"
out=$("$bin" rescore --model "$model" --nbest "$work/text" --format kaldi --scores "$work/costs" --costs \
  --lambda 1 --output-scores "$work/kscores" --threads 1 2>/dev/null) || fail "kaldi rescore with lambda 1 failed"
lm=$(printf 'w3\n' | "$bin" score --model "$model" --threads 1 2>/dev/null | sed -n 2p | cut -f2)
got=$(awk '$1 == "utt1-2" { print $2 }' "$work/kscores")
close "$got" "$(awk -v l="$lm" 'BEGIN { printf "%.6f", 10.0 - l }')" 1e-5 || fail "kaldi cost: $got, LM $lm"
printf 'utt1-1 1\nutt1-3 2\nutt2-1 3\nutt2-2 4\n' > "$work/costs_bad"
expect 1 "must list the same IDs" -- "$bin" rescore --model "$model" --nbest "$work/text" --format kaldi --scores "$work/costs_bad"
printf 'utt1-1 1\n' > "$work/costs_short"
expect 1 "has more" -- "$bin" rescore --model "$model" --nbest "$work/text" --format kaldi --scores "$work/costs_short"
printf 'utt1 w1\n' > "$work/text_bad"
expect 1 "is not UTTID-N" -- "$bin" rescore --model "$model" --nbest "$work/text_bad" --format kaldi --scores "$work/costs_short"

finish "score/rescore CLI"

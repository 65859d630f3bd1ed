#!/usr/bin/env bash
# Issue 14's demonstration: a French language model trained with lstmlm
# rescores the English->French translation model's 12-best lists. The LM
# weight and a word bonus are tuned on val, then applied to test_2016_flickr;
# BLEU before and after, with the paired bootstrap. Each step is skipped when
# its output exists, and both trainings resume, so the script can be rerun
# after an interruption. Usage: scripts/rescore_demo.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/rescore}
data=${MT_DATA:-../shared/data/multi30k}
bin=build/lstmlm
[ -x "$bin" ] || scripts/build.sh
mkdir -p "$out"
bf16=(); grep -qw avx512_bf16 /proc/cpuinfo && bf16=(--bf16)
# 1. The translation model (issue 5's 2 x 256 configuration, 8 epochs)
if ! scripts/finished.sh "$out/mt"; then
  if [ -e "$out/mt/state.safetensors" ]; then
    "$bin" translate-train --data "$data" --min-count 3 --resume "$out/mt" --quiet >> "$out/mt.log" 2>&1
  else
    "$bin" translate-train --data "$data" --src en --tgt fr --layers 2 --hidden 256 --batch 32 --epochs 8 \
      --max-epoch 4 --decay 2 --min-count 3 --init 0.1 --dropout 0.2 "${bf16[@]}" --quiet --out "$out/mt" \
      > "$out/mt.log" 2>&1
  fi
fi
# 2. The French language model on the same training text
if ! scripts/finished.sh "$out/lm"; then
  if [ -e "$out/lm/state.safetensors" ]; then
    "$bin" train --resume "$out/lm" --quiet >> "$out/lm.log" 2>&1
  else
    "$bin" train --train "$data/train.fr" --valid "$data/val.fr" --test "$data/test_2016_flickr.fr" --min-count 2 \
      --layers 2 --hidden 512 --steps 35 --batch 20 --dropout 0.5 --init 0.05 --lr 1 --epochs 15 --max-epoch 6 \
      --decay 1.5 "${bf16[@]}" --quiet --out "$out/lm" > "$out/lm.log" 2>&1
  fi
fi
# 3. 12-best lists of val and test, and their baseline 1-best (the beam's best)
for split in val test_2016_flickr; do
  if [ ! -s "$out/$split.nbest" ]; then  # whole or absent: a stopped decode leaves only its .part
    "$bin" translate --model "$out/mt/model.safetensors" --beam 12 --nbest 12 --quiet \
      < "$data/$split.en" > "$out/$split.nbest.part"
    mv "$out/$split.nbest.part" "$out/$split.nbest"
  fi
  [ -s "$out/$split.lm.nbest" ] || "$bin" rescore --model "$out/lm/model.safetensors" --nbest "$out/$split.nbest" \
    --lambda 0 --output "$out/$split.lm.nbest" --best "$out/$split.base.fr" 2>> "$out/rescore.log"
done
# 4. Tune on val, apply to test, compare
/usr/bin/python3 scripts/tune_rescore.py "$bin" "$out/val.lm.nbest" "$data/val.fr" | tee "$out/tune.txt"
read -r lam bonus < <(sed -n 's/^best: lambda \([^ ]*\) bonus \([^ ]*\) .*/\1 \2/p' "$out/tune.txt")
"$bin" rescore --model "$out/lm/model.safetensors" --nbest "$out/test_2016_flickr.nbest" --lambda "$lam" \
  --word-bonus "$bonus" --output "$out/test_2016_flickr.rescored.nbest" --best "$out/test_2016_flickr.rescored.fr" \
  2>> "$out/rescore.log"
{
  before=$("$bin" bleu "$out/test_2016_flickr.base.fr" "$data/test_2016_flickr.fr")  # failures stop the script
  after=$("$bin" bleu "$out/test_2016_flickr.rescored.fr" "$data/test_2016_flickr.fr")
  echo "lambda $lam, word bonus $bonus (tuned on val)"
  echo "test before: $before"
  echo "test after:  $after"
  echo "paired bootstrap (A = rescored, B = before):"
  "$bin" bleu --bootstrap 1000 --compare "$out/test_2016_flickr.base.fr" "$out/test_2016_flickr.rescored.fr" \
    "$data/test_2016_flickr.fr"
} | tee "$out/summary.txt"

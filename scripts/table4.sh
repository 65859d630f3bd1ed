#!/usr/bin/env bash
# Table 4's shape on Multi30k captions with stand-in features (docs/RESULTS.md,
# issue 13): three non-regularised caption models (seeds 1-3) and one with
# dropout 0.3, each kept at its best validation epoch; test perplexity and
# BLEU-4 (beam 3, five references) of each, of the regularised one, and of the
# three non-regularised ones averaged; the paired bootstrap between the two
# single models of seed 1; example captions. About 2.5 hours on 2 cores with
# AVX512_BF16 (drop --bf16 elsewhere).
#   scripts/table4.sh [OUT_DIR]     (default runs/table4; trained runs in it are reused)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/table4}
caps=../shared/data/multi30k-captions
feats=data/caption-features
bin=build/lstmlm
mkdir -p "$out"
[ -s "$feats/test_2016.safetensors" ] || /usr/bin/python3 scripts/caption_features.py --out "$feats"
for spec in "nonreg-s1 0 1" "nonreg-s2 0 2" "nonreg-s3 0 3" "drop-s1 0.3 1"; do
  read -r name p seed <<< "$spec"
  scripts/finished.sh "$out/$name" && continue
  if [ -f "$out/$name/state.safetensors" ]; then  # stopped: go on where it stopped
    "$bin" caption-train --resume "$out/$name" --quiet >> "$out/$name.log"
  else
    "$bin" caption-train --out "$out/$name" --bf16 --seed "$seed" --epochs 6 --dropout "$p" --quiet > "$out/$name.log"
  fi
done
refs=("$caps"/test_2016.{1,2,3,4,5}.en)
{
  for name in nonreg-s1 nonreg-s2 nonreg-s3 drop-s1; do
    "$bin" caption --model "$out/$name/model.safetensors" --features "$feats/test_2016.safetensors" --beam 3 --quiet \
      > "$out/$name.en"
    bleu=$("$bin" bleu "$out/$name.en" "${refs[@]}")  # a failure stops the script (set -e), not an empty field
    echo "$name: $(grep '^test' "$out/$name.log" | tail -n 1); $bleu"
  done
  ens=(--model "$out/nonreg-s1/model.safetensors" --model "$out/nonreg-s2/model.safetensors"
       --model "$out/nonreg-s3/model.safetensors")
  "$bin" caption "${ens[@]}" --features "$feats/test_2016.safetensors" --beam 3 --quiet > "$out/ensemble3.en"
  "$bin" caption-eval "${ens[@]}" --bf16
  bleu=$("$bin" bleu "$out/ensemble3.en" "${refs[@]}")
  echo "ensemble of 3 non-regularised: $bleu"
  echo "paired bootstrap (A = dropout 0.3, B = non-regularised, seed 1):"
  "$bin" bleu --bootstrap 1000 --compare "$out/nonreg-s1.en" "$out/drop-s1.en" "${refs[@]}"
  echo "paired bootstrap (A = dropout 0.3, B = ensemble of 3):"
  "$bin" bleu --bootstrap 1000 --compare "$out/ensemble3.en" "$out/drop-s1.en" "${refs[@]}"
} | tee "$out/summary.txt"

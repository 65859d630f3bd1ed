#!/usr/bin/env bash
# Table 2's shape on the synthetic speech corpus (docs/RESULTS.md, issue 12):
# build the 1-hour corpus, train the same 3 x 512 frame classifier without
# dropout and with dropout 0.25 (two seeds each) and 0.5 (one seed), measure
# each kept model's training accuracy without dropout, and draw the curves.
# About 75 minutes on 2 cores with AVX512_BF16 (drop --bf16 below elsewhere).
#   scripts/table2.sh [OUT_DIR]     (default runs/table2; it must not exist)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/table2}
[ -e "$out" ] && { echo "table2.sh: $out exists; give a new folder" >&2; exit 2; }
[ -x build/lstmlm-speech-corpus ] || { echo "table2.sh: build lstmlm-speech-corpus first (scripts/deps.sh, then scripts/build.sh)" >&2; exit 2; }
mkdir -p "$out"
build/lstmlm-speech-corpus --out "$out/speech1h" --hours 1 > "$out/corpus.log" 2>&1
runs=()
for spec in "nonreg 0 1" "nonreg 0 2" "drop25 0.25 1" "drop25 0.25 2" "drop50 0.5 1"; do
  read -r name p seed <<< "$spec"
  run="$out/frames-$name-s$seed"
  build/lstmlm frames-train --data "$out/speech1h" --layers 3 --hidden 512 --epochs 12 --max-epoch 6 --bf16 \
    --seed "$seed" --dropout "$p" --quiet --out "$run" > "$run.log"
  train_acc=$(build/lstmlm frames-eval --model "$run/model.safetensors" --data "$out/speech1h/train.safetensors" --bf16)
  echo "$run: $(tail -n 2 "$run.log" | head -n 1); training set: $train_acc"  # a failed eval stops the script above
  runs+=("$run")
done
build/lstmlm plot --accuracy "${runs[@]}" -o "$out/curves.png"

#!/usr/bin/env bash
# Issue 11, part 3: Table 1's "2 medium models, averaged" row (paper: test
# 77.0). Trains the medium preset in BF16 with seeds 1 and 2 into
# runs/medium-s1 and runs/medium-s2, one after the other (each about 2.7 h on
# two cores), then evaluates each and their average at batch 1 with state
# carried (`lstmlm eval --model A --model B`). Safe to run again after any
# stop: a finished run is kept, a stopped one resumed, a missing one started.
# Writes runs/medium-ensemble.txt and prints it.
#   nohup scripts/medium_ensemble.sh > runs/medium-ensemble.log 2>&1 &
# RUNS (default runs) and TRAIN_FLAGS (added to a new run's flags; EVAL_FLAGS
# to eval's) exist to try the script on something small.
set -euo pipefail
cd "$(dirname "$0")/.."
lstmlm=$PWD/build/lstmlm
runs=${RUNS:-runs}
read -r -a train_flags <<< "${TRAIN_FLAGS:-}"
read -r -a eval_flags <<< "${EVAL_FLAGS:-}"
[ -x "$lstmlm" ] || { echo "medium_ensemble.sh: build first (scripts/build.sh)" >&2; exit 2; }
models=()
for seed in 1 2; do
  run="$runs/medium-s$seed"
  if scripts/finished.sh "$run"; then
    echo "$run: finished"
  elif [ -f "$run/state.safetensors" ]; then
    echo "$run: resuming"
    "$lstmlm" train --resume "$run"
  else
    echo "$run: starting (seed $seed)"
    "$lstmlm" train --preset medium --bf16 --seed "$seed" --threads 2 --out "$run" "${train_flags[@]}"
  fi
  models+=(--model "$run/model.safetensors")
done
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
  for seed in 1 2; do
    echo "sha256: $(sha256sum "$runs/medium-s$seed/model.safetensors" | cut -d' ' -f1)  $runs/medium-s$seed/model.safetensors"
  done
  echo "\$ lstmlm eval ${models[*]} ${eval_flags[*]} --quiet"
  "$lstmlm" eval "${models[@]}" "${eval_flags[@]}" --quiet
} | tee "$runs/medium-ensemble.txt"

#!/usr/bin/env bash
# The main job: install what is missing, build, then train and evaluate the
# paper's small preset on PTB (13 epochs; about half an hour on 2 cores).
# Data: --data DIR, else $LSTMLM_DATA, else ../shared/data/ptb, else data/ptb,
# else it is downloaded into data/ptb. Other arguments go to `lstmlm train`.
# Run again without arguments after an interruption, it resumes runs/small.
set -euo pipefail
cd "$(dirname "$0")/.."
data=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --data=*) data=${1#--data=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ -z "$data" ]; then
  for d in "${LSTMLM_DATA:-}" ../shared/data/ptb data/ptb; do
    if [ -n "$d" ] && [ -f "$d/ptb.train.txt" ]; then data=$d; break; fi
  done
fi
if [ -z "$data" ]; then
  echo "PTB not found; downloading into data/ptb" >&2
  scripts/get_ptb.sh data/ptb
  data=data/ptb
fi
scripts/deps.sh
scripts/build.sh
# Run again after an interruption, it continues the run instead of refusing it.
if [ ${#args[@]} -eq 0 ] && [ -f runs/small/state.safetensors ]; then
  exec build/lstmlm train --resume runs/small --data "$data"
fi
exec build/lstmlm train --preset small --data "$data" "${args[@]}"

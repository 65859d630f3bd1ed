#!/usr/bin/env bash
# Issue 11's long work in one restartable chain, so no idle time falls between
# its steps: resume the large run until its 55 epochs and test are done
# (output appended to runs/large.log), record it (scripts/large_finish.sh),
# then train and average the two medium models (scripts/medium_ensemble.sh,
# output appended to runs/medium-ensemble.log). Start it at the beginning of
# every session:
#   nohup scripts/issue11.sh > runs/issue11.log 2>&1 &
# and stop it with SIGINT to the training process (pkill -INT -x lstmlm):
# the run saves its state, exits non-zero, and the chain stops with it.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/lstmlm ] || { echo "issue11.sh: build first (scripts/build.sh)" >&2; exit 2; }
echo "$(date -u '+%F %T UTC') issue11.sh: start"
mkdir -p runs
# The large run finished and was recorded (docs/runs/large.*) on 2026-11-30;
# its folder went with that machine, so a checkout without runs/large skips it.
if [ -d runs/large ]; then
  if ! scripts/finished.sh runs/large; then
    [ -f runs/large/state.safetensors ] ||
      { echo "issue11.sh: runs/large has no state to resume; start it as RESULTS says" >&2; exit 2; }
    build/lstmlm train --resume runs/large >> runs/large.log 2>&1
  fi
  [ -f runs/large/finish.txt ] || scripts/large_finish.sh  # finish.txt is its last step
fi
scripts/medium_ensemble.sh >> runs/medium-ensemble.log 2>&1
echo "$(date -u '+%F %T UTC') issue11.sh: done"

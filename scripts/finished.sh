#!/usr/bin/env bash
# Exit 0 when the run folder RUN_DIR holds a finished run: a model and a test
# result in its metrics.jsonl that is not marked "stopped" (a training command
# stopped by a signal still tests its best epoch, marks that line, and needs
# --resume). Used by the scripts that skip work already done.
#   scripts/finished.sh RUN_DIR
[ $# -eq 1 ] || { echo "usage: scripts/finished.sh RUN_DIR" >&2; exit 2; }
[ -s "$1/model.safetensors" ] && [ -f "$1/metrics.jsonl" ] || exit 1
grep '"test_' "$1/metrics.jsonl" | grep -qv '"stopped"'

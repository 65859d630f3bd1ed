#!/usr/bin/env bash
# Side-by-side throughput: lstmlm's benchmark and the PyTorch reference
# (../shared/bench/torch_ptb.py, run the way its README says is its best:
# jemalloc, passive OpenMP waiting, OpenBLAS threads = threads) for the same
# presets, in one command, same machine, same environment. Prints words/s of
# both and the ratio ours/PyTorch, plus peak resident memory of training.
#
#   bench/compare.sh                         # environment as it is
#   env -u OPENBLAS_CORETYPE bench/compare.sh   # what users get: OpenBLAS picks its kernel
#
# PRESETS may include `frames`, the frame classifier, against torch_frames.py
# (rates in frames/s).
# Variables: PRESETS (default "small medium large"), THREADS (2),
# TORCH_STEPS (30 timed+warm-up training steps, 30 eval steps), WINDOWS/REPS for ours,
# BF16 (1: also run ours with --bf16 where the CPU has AVX512_BF16; 0: FP32 only).
set -euo pipefail
cd "$(dirname "$0")/.."
presets=${PRESETS:-small medium large}
threads=${THREADS:-2}
steps=${TORCH_STEPS:-30}
torch=${TORCH_PTB:-../shared/bench/torch_ptb.py}
torch_frames=${TORCH_FRAMES:-../shared/bench/torch_frames.py}
frame_steps=${TORCH_FRAME_STEPS:-6}
[ -x build/lstmlm ] || scripts/build.sh
[ -f "$torch" ] || { echo "no $torch" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}; threads $threads"
# Which OpenBLAS kernel PyTorch's OpenBLAS picks under this environment.
tk=$(/usr/bin/python3 - <<'PY' 2>/dev/null || echo "?"
import ctypes, torch
for line in open("/proc/self/maps"):
    if "libopenblas" in line:
        lib = ctypes.CDLL(line.split()[-1]); lib.openblas_get_corename.restype = ctypes.c_char_p
        print(lib.openblas_get_corename().decode(), line.split()[-1]); break
PY
)
echo "PyTorch's OpenBLAS: ${tk:-not loaded}"
# BF16 matrix products as well, where the CPU has AVX512_BF16 (BF16=0 skips them).
bf16=${BF16:-1}
grep -qw avx512_bf16 /proc/cpuinfo || bf16=0
# shellcheck disable=SC2086  # presets is a list
/usr/bin/time -f "%M" -o "$out/ours.mem" build/lstmlm bench --threads "$threads" \
  --windows "${WINDOWS:-8}" --reps "${REPS:-5}" $presets | tee "$out/ours"
if [ "$bf16" = 1 ]; then
  # shellcheck disable=SC2086
  build/lstmlm bench --bf16 --threads "$threads" --windows "${WINDOWS:-8}" --reps "${REPS:-5}" $presets \
    | tee "$out/ours16"
fi

printf '\n%-7s %9s %9s %9s %6s %6s %7s | %9s %9s %9s %6s %6s | %8s %8s\n' preset "fp32 tr" "bf16 tr" "torch tr" \
  ratio r.bf16 "bf16pk" "fp32 ev" "bf16 ev" "torch ev" ratio r.bf16 "our MiB" "torchMiB"
for p in $presets; do
  if [ "$p" = frames ]; then  # the frame classifier: torch_frames.py at our bench's shapes, frames/s
    /usr/bin/time -f "%M" -o "$out/t.mem" /usr/bin/python3 "$torch_frames" --classes 202 --layers 3 --hidden 512 \
      --batch 32 --dropout 0.5 --steps "$frame_steps" --threads "$threads" > "$out/t.train" 2>&1
    /usr/bin/python3 "$torch_frames" --classes 202 --layers 3 --hidden 512 --batch 32 --eval \
      --steps "$frame_steps" --threads "$threads" > "$out/t.eval" 2>&1
    ttr=$(sed -n 's/^TRAIN frames\/s \([0-9]*\).*/\1/p' "$out/t.train")
    tev=$(sed -n 's/^EVAL frames\/s \([0-9]*\).*/\1/p' "$out/t.eval")
  else
    /usr/bin/time -f "%M" -o "$out/t.mem" /usr/bin/python3 "$torch" --config "$p" --max-steps "$steps" \
      --threads "$threads" > "$out/t.train" 2>&1
    /usr/bin/python3 "$torch" --config "$p" --eval-steps "$steps" --threads "$threads" > "$out/t.eval" 2>&1
    ttr=$(sed -n 's/^TRAIN words\/s \([0-9]*\).*/\1/p' "$out/t.train")
    tev=$(sed -n 's/^EVAL words\/s \([0-9]*\).*/\1/p' "$out/t.eval")
  fi
  # bench columns: preset, train w/s, eval w/s, train GF/s, of sgemm, of BF16 peak, ..., peak MiB ($10)
  read -r otr oev omem < <(awk -v p="$p" '$1 == p {print $2, $3, $10}' "$out/ours")
  btr=0 bev=0 bpk=0%
  [ "$bf16" = 1 ] && read -r btr bev bpk < <(awk -v p="$p" '$1 == p {print $2, $3, $6}' "$out/ours16")
  printf '%-7s %9.0f %9.0f %9.0f %5.2fx %5.2fx %7s | %9.0f %9.0f %9.0f %5.2fx %5.2fx | %8.0f %8.0f\n' "$p" \
    "$otr" "$btr" "$ttr" "$(echo "$otr / $ttr" | bc -l)" "$(echo "$btr / $ttr" | bc -l)" "$bpk" \
    "$oev" "$bev" "$tev" "$(echo "$oev / $tev" | bc -l)" "$(echo "$bev / $tev" | bc -l)" \
    "$omem" "$(echo "$(cat "$out/t.mem") / 1024" | bc -l)"
done

#!/usr/bin/env bash
# Build the checkpoint fuzzer (load, then use) with clang (libFuzzer + ASan + UBSan) in
# build-fuzz/ and run it for a fixed number of executions (default 2,000,000).
# Not part of the default test run: `ctest --test-dir build-fuzz -L fuzz` or
# this script. Usage: tests/fuzz.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-2000000}
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DLSTMLM_FUZZ=ON -DBUILD_TESTING=ON >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_checkpoint fuzz_seed
corpus=build-fuzz/fuzz-corpus
mkdir -p "$corpus"
build-fuzz/tests/fuzz_seed "$corpus"
# Undefined behaviour is a finding, like a crash: halt on the first report.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
exec build-fuzz/tests/fuzz_checkpoint -runs="$runs" -max_len=65536 -timeout=10 -print_final_stats=1 "$corpus"

#!/usr/bin/env bash
# Install what is missing, build, and run the test suite under CTest.
#   scripts/test.sh [CTEST ARGS]             release build in build/
#   scripts/test.sh --sanitize [CTEST ARGS]  the same suite built with
#       AddressSanitizer + UndefinedBehaviorSanitizer (Debug) in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
if [ "${1:-}" = "--sanitize" ]; then
  shift
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLSTMLM_SANITIZE=ON -DBUILD_TESTING=ON >/dev/null
  cmake --build build-asan -j"$(nproc)"
  # Leaks are errors; a failed malloc returns NULL as in release (the tests check that path).
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  exec ctest --test-dir build-asan --output-on-failure "$@"
fi
scripts/build.sh -DBUILD_TESTING=ON
ctest --test-dir build --output-on-failure "$@"

#!/usr/bin/env bash
# Install what is missing, build, and run the test suite under CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh -DBUILD_TESTING=ON
ctest --test-dir build --output-on-failure "$@"

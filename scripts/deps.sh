#!/usr/bin/env bash
# Install the Debian packages lstmlm needs to build and test, if missing.
# Sourced or run by run_small.sh and test.sh; uses sudo when not root.
set -euo pipefail
pkgs=(gcc make cmake pkg-config libopenblas-openmp-dev libjansson-dev libcmocka-dev gnuplot-nox help2man python3)
# The speech corpus builder's libraries: optional (without them it is not
# built and its test is not registered), so a failure to install them only warns.
optional=(libespeak-ng-dev libfftw3-dev libsoxr-dev)
missing() {
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
mapfile -t need < <(missing "${pkgs[@]}")
mapfile -t want < <(missing "${optional[@]}")
if [ ${#need[@]} -gt 0 ] || [ ${#want[@]} -gt 0 ]; then
  $sudo apt-get update -qq || true
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
fi
if [ ${#want[@]} -gt 0 ]; then
  echo "installing (optional, for the speech corpus builder): ${want[*]}" >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${want[@]}" ||
    echo "warning: could not install ${want[*]}; lstmlm-speech-corpus will not be built" >&2
fi

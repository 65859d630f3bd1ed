#!/usr/bin/env bash
# Install the Debian packages lstmlm needs to build and test, if missing.
# Sourced or run by run_small.sh and test.sh; uses sudo when not root.
set -euo pipefail
# espeak-ng, FFTW and libsoxr build the speech corpus builder (optional for the rest).
pkgs=(gcc make cmake libopenblas-openmp-dev libjansson-dev libcmocka-dev gnuplot-nox libespeak-ng-dev libfftw3-dev libsoxr-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

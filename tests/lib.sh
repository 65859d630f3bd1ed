# Shared by the shell tests (source it after `set -u`):
#   $work          a private temporary folder, removed on exit (with any
#                  background job the test left running)
#   fail MSG...    count a failure; the checks go on
#   expect STATUS PHRASE -- command...
#                  the command's exit status and a phrase in its stdout+stderr
#   close A B TOL  |A - B| <= TOL * max(1, |A|)
#   finish NAME    the verdict, and the exit status CTest reads
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

expect() {
  local want=$1 phrase=$2; shift 3
  local out status
  out=$("$@" 2>&1); status=$?
  [ "$status" -eq "$want" ] || fail "'$*' exited $status, expected $want: $out"
  grep -qF -- "$phrase" <<<"$out" || fail "'$*' output lacks '$phrase': $out"
}

close() {
  awk -v a="$1" -v b="$2" -v t="$3" \
    'BEGIN { d = a - b; if (d < 0) d = -d; m = a < 0 ? -a : a; if (m < 1) m = 1; exit !(d <= t * m) }'
}

finish() {
  if [ "$failures" -gt 0 ]; then echo "$1: $failures failure(s)"; exit 1; fi
  echo "$1: all checks passed"
  exit 0
}

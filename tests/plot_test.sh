#!/usr/bin/env bash
# End-to-end test of `lstmlm plot`: a normal plot writes a PNG; a title, run
# folder or output path with a control character is refused before gnuplot
# sees it (the injected shell command must not run); an output gnuplot cannot
# write fails cleanly, with no PNG bytes on stdout and no file or temporary
# file left behind. Usage: plot_test.sh PATH/TO/lstmlm
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
. "$(dirname "$0")/lib.sh"
out=$work/log.stdout err=$work/log.stderr status=0

# lstmlm plot ARGS... run in $work; stdout and stderr into $out and $err.
run_plot() {
  (cd "$work" && "$bin" plot "$@") >"$out" 2>"$err"
  status=$?
}

# 0 if a temporary PNG (.lstmlm_plot_*) is left in folder $1.
leftovers() { ls -A "$1" 2>/dev/null | grep -q '^\.lstmlm_plot_'; }

# refused CHECK STATUS PHRASE OUTPUT PWNED -- plot arguments...: the plot
# exits STATUS with PHRASE on stderr, prints nothing on stdout, the file PWNED
# (which an injected command would create; "" for none) does not exist, and
# nothing is left at OUTPUT or as a temporary file in its folder.
refused() {
  local name=$1 want=$2 phrase=$3 output=$4 pwned=$5
  shift 6
  run_plot "$@"
  [ "$status" -eq "$want" ] || fail "$name: exited $status, expected $want: $(cat "$err")"
  grep -qF -- "$phrase" "$err" || fail "$name: stderr lacks '$phrase': $(cat "$err")"
  [ -s "$out" ] && fail "$name: printed $(wc -c <"$out") bytes on stdout (a PNG from gnuplot?)"
  [ -n "$pwned" ] && [ -e "$pwned" ] && fail "$name: the injected shell command ran ($pwned exists)"
  [ -e "$output" ] && [ ! -d "$output" ] && fail "$name: left a file at the output path"
  leftovers "$(dirname "$output")" && fail "$name: left a .lstmlm_plot_* temporary file"
}

# A tiny run folder by hand: two completed epochs.
metrics='{"epoch": 1, "lr": 1, "train_ppl": 50.0, "valid_ppl": 60.0}
{"epoch": 2, "lr": 1, "train_ppl": 40.0, "valid_ppl": 55.0}'
mkdir "$work/run1" && printf '%s\n' "$metrics" >"$work/run1/metrics.jsonl"

have_gnuplot=1
command -v gnuplot >/dev/null 2>&1 || { have_gnuplot=0; echo "SKIP: gnuplot is not installed: the checks that draw a PNG"; }

if [ "$have_gnuplot" = 1 ]; then
  # A normal plot: a PNG at the output path, only a message on stdout.
  run_plot run1 -o "$work/ok.png" --title "it's run1"
  [ "$status" -eq 0 ] || fail "normal plot exited $status: $(cat "$err")"
  [ "$(head -c 4 "$work/ok.png" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = "89504e47" ] ||
    fail "normal plot: $work/ok.png is not a PNG"
  grep -q "wrote" "$out" || fail "normal plot: no 'wrote' message on stdout"
  leftovers "$work" && fail "normal plot: left a .lstmlm_plot_* temporary file"
  # --accuracy draws a frames run's accuracies; a run without them is refused
  mkdir "$work/frames" && printf '%s\n' '{"epoch": 1, "train_ppl": 5, "valid_ppl": 6, "train_acc": 0.5, "valid_acc": 0.4}' \
    >"$work/frames/metrics.jsonl"
  run_plot frames -o "$work/acc.png" --accuracy
  [ "$status" -eq 0 ] && [ -s "$work/acc.png" ] || fail "accuracy plot exited $status: $(cat "$err")"
  # (one epoch: an x range of its own, no warning from gnuplot)
  [ -s "$err" ] && fail "a one-epoch plot printed: $(cat "$err")"
  run_plot run1 -o "$work/acc1.png" --accuracy
  [ "$status" -ne 0 ] && grep -q "has epochs but no frame accuracy" "$err" ||
    fail "accuracy plot of a run without accuracies: $(cat "$err")"
fi

# Injection through --title: a newline, then a gnuplot `system` command.
refused "title with a newline" 2 "--title" "$work/t.png" "$work/pwned" -- \
  run1 -o "$work/t.png" --title $'curves\nsystem "touch '"$work"'/pwned"'

# Injection through a run folder name (it becomes a key label): a newline,
# then gnuplot's `!` shell escape; '#' ends the shell line.
name=$'r\n!touch pwned2 #'
mkdir "$work/$name" && printf '%s\n' "$metrics" >"$work/$name/metrics.jsonl"
refused "run folder with a newline" 2 "RUN_DIR" "$work/r.png" "$work/pwned2" -- run1 "$name" -o "$work/r.png"

# Injection through -o.
refused "-o with a newline" 2 "-o" "$work/o.png" "$work/pwned3" -- run1 -o "$work/"$'o\n!touch pwned3 #.png'
[ -e "$work/o" ] && fail "-o with a newline: gnuplot wrote $work/o"

# An output that is a link (or a device, FIFO) is refused, not replaced by the PNG.
ln -s "$work/link-target.png" "$work/link.png"
run_plot run1 -o "$work/link.png"
[ "$status" -eq 2 ] || fail "-o a link: exited $status, expected 2: $(cat "$err")"
grep -qF "not a regular file" "$err" || fail "-o a link: unclear message: $(cat "$err")"
[ -L "$work/link.png" ] || fail "-o a link: the link was replaced"
leftovers "$work" && fail "-o a link: left a .lstmlm_plot_* temporary file"

# Other control characters are refused too.
refused "title with a tab" 2 "--title" "$work/tab.png" "" -- run1 -o "$work/tab.png" --title $'a\tb'
refused "title with DEL" 2 "--title" "$work/del.png" "" -- run1 -o "$work/del.png" --title $'a\x7fb'

# An output folder that does not exist (as root, chmod would not stop us):
# refused with a message, no PNG bytes on stdout.
refused "-o into a missing folder" 1 "nope" "$work/nope/x.png" "" -- run1 -o "$work/nope/x.png"

# A run without metrics fails after the temporary PNG is made: it is removed.
mkdir "$work/empty_run" "$work/out"
refused "run without metrics" 1 "metrics.jsonl" "$work/out/x.png" "" -- empty_run -o "$work/out/x.png"

if [ "$have_gnuplot" = 1 ]; then
  # An output path that is a folder: gnuplot cannot open it; before, the PNG
  # then went to stdout. Now the rename fails and the temporary file goes.
  mkdir "$work/adir"
  refused "-o onto a folder" 2 "not a regular file" "$work/adir" "" -- run1 -o "$work/adir"
  [ -d "$work/adir" ] && [ -z "$(ls -A "$work/adir")" ] || fail "-o onto a folder: the folder changed"

  # gnuplot pipes its output into a command when the name starts with '|':
  # a folder really named "|touch pw4" must get a PNG, not run `touch`.
  mkdir "$work/|touch pw4"
  run_plot run1 -o "|touch pw4/o.png"
  [ "$status" -eq 0 ] || fail "-o '|...': exited $status: $(cat "$err")"
  [ "$(head -c 4 "$work/|touch pw4/o.png" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = "89504e47" ] ||
    fail "-o '|...': no PNG written (gnuplot ran the output name as a command?)"
  leftovers "$work/|touch pw4" && fail "-o '|...': left a .lstmlm_plot_* temporary file"
fi

leftovers "$work" && fail "a .lstmlm_plot_* temporary file is left in $work"
finish plot

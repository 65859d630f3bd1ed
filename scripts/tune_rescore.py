#!/usr/bin/python3
"""Choose the LM weight (and word bonus) of n-best rescoring on a tuning set.

Input: n-best lists rescored once by `lstmlm rescore --lambda 0`, so each line
carries its model score and "LM= <LM log-probability>". For every (lambda,
bonus) of the grid, the 1-best of new = score + lambda * LM + bonus * words is
written and scored with `lstmlm bleu`; prints one line per setting and the best.
With --apply L B, writes the 1-best of that setting to --out instead.

Usage: tune_rescore.py LSTMLM NBEST REF [--apply L B --out FILE]
"""
import re
import subprocess
import sys
import tempfile


def read(path):
    items = {}
    for line in open(path, encoding="utf-8"):
        f = [x.strip() for x in line.rstrip("\n").split("|||")]
        m = re.findall(r"\bLM= (\S+)", f[2])  # the last: rescored more than once, the newest
        if not m:
            sys.exit("%s: no LM= feature (rescore the list with lstmlm rescore first)" % path)
        items.setdefault(int(f[0]), []).append((f[1], float(f[3]), float(m[-1])))
    return items


def best(items, lam, bonus, path):
    last = max(items)
    with open(path, "w", encoding="utf-8") as out:
        for i in range(last + 1):
            hyps = items.get(i, [])
            pick = max(hyps, key=lambda h: h[1] + lam * h[2] + bonus * len(h[0].split()), default=("", 0, 0))
            out.write(pick[0] + "\n")


def bleu(lstmlm, hyp, ref):
    out = subprocess.run([lstmlm, "bleu", hyp, ref], check=True, capture_output=True, text=True).stdout
    return float(re.search(r"BLEU = ([0-9.]+)", out).group(1)), out.strip()


def main():
    lstmlm, nbest, ref = sys.argv[1:4]
    items = read(nbest)
    if "--apply" in sys.argv:
        k = sys.argv.index("--apply")
        best(items, float(sys.argv[k + 1]), float(sys.argv[k + 2]), sys.argv[sys.argv.index("--out") + 1])
        return
    results = []
    with tempfile.NamedTemporaryFile(suffix=".txt") as tmp:
        for lam in (0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0):
            for bonus in (0, 0.25, 0.5, 1.0):
                best(items, lam, bonus, tmp.name)
                b, line = bleu(lstmlm, tmp.name, ref)
                results.append((b, lam, bonus))
                print("lambda %.2f bonus %.2f: %s" % (lam, bonus, line), flush=True)
    b, lam, bonus = max(results, key=lambda r: (r[0], -r[1], -r[2]))
    print("best: lambda %g bonus %g BLEU %.2f" % (lam, bonus, b))


main()

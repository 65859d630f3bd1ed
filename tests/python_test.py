"""The Python module against the CLI: the same numbers for the same model.
Usage (CTest): python3 python_test.py LSTMLM_CLI; LSTMLM_LIBRARY and
PYTHONPATH point at the build's library and python/."""
import math
import os
import subprocess
import sys
import tempfile

import lstmlm

cli = sys.argv[1]
with tempfile.TemporaryDirectory() as work:
    text = os.path.join(work, "train.txt")
    with open(text, "w") as f:
        import random
        r = random.Random(3)
        for _ in range(400):
            f.write(" ".join("w%d" % r.randrange(30) for _ in range(r.randrange(1, 12))) + "\n")
    run = os.path.join(work, "run")
    subprocess.run([cli, "train", "--train", text, "--valid", text, "--test", text, "--max-vocab", "25",
                    "--hidden", "12", "--layers", "2", "--steps", "5", "--batch", "4", "--epochs", "1",
                    "--threads", "1", "--quiet", "--out", run], check=True, capture_output=True)
    path = os.path.join(run, "model.safetensors")
    m = lstmlm.Model(path)
    assert m.vocab_size == 25 and m.index("<eos>") >= 0 and m.word(m.index("<eos>")) == "<eos>"

    sentences = ["w1 w2 w3", "", "w29 zzz w4 w4", "w7"]
    inp = os.path.join(work, "in.txt")
    with open(inp, "w") as f:
        f.write("\n".join(sentences) + "\n")
    out = subprocess.run([cli, "score", "--model", path, "--per-word", "--threads", "1", inp], check=True,
                         capture_output=True, text=True).stdout.splitlines()
    rows = [l.split("\t") for l in out[1:-1]]
    for sent, row in zip(sentences, rows):
        lp = m.score(sent)
        assert abs(lp - float(row[1])) < 1e-5, (sent, lp, row)
        words = m.score_words(sent)
        assert [w for w, _, _ in words] == sent.split() + ["<eos>"]
        cli_per = [float(x) for x in row[5].split()]
        assert all(abs(a[1] - b) < 1e-5 for a, b in zip(words, cli_per)), (words, cli_per)
        cli_oov = set() if row[6] == "-" else {int(x) - 1 for x in row[6].split(",")}
        assert [o for _, _, o in words][:-1] == [i in cli_oov for i in range(len(sent.split()))]
        assert "zzz" not in sent or cli_oov
        assert abs(sum(x for _, x, _ in words) - lp) < 1e-6

    # a state stepped by hand equals score(); clones branch independently
    s = m.state()
    total = sum(s.step(w) for w in "w1 w2 w3".split()) + s.step("<eos>")
    assert abs(total - m.score("w1 w2 w3")) < 1e-6
    s.reset()
    s.step("w1")
    t = s.clone()
    a, b = s.step("w2"), t.step("w2")
    assert a == b
    t.step("w5")
    assert s.logprob("w3") != t.logprob("w3")  # t read one more word
    d = s.distribution()
    assert abs(sum(math.exp(x) for x in d) - 1) < 1e-4
    top = s.topk(3)
    assert top[0][1] == max(d) and [lp for _, lp in top] == sorted((lp for _, lp in top), reverse=True)
    assert abs(s.logprob(top[0][0]) - top[0][1]) < 1e-6
    u = s.clone()
    assert s.step(5) == u.step(m.word(5))  # by id or by word

    # errors are exceptions with the library's message
    try:
        lstmlm.Model(inp)
        raise AssertionError("a text file loaded as a model")
    except lstmlm.LstmlmError as e:
        assert "safetensors" in str(e), e
    try:
        s.step(10 ** 6)
        raise AssertionError("an id outside the vocabulary was accepted")
    except lstmlm.LstmlmError as e:
        assert "outside the vocabulary" in str(e), e
    try:
        s.step(2 ** 32 + 5)  # ctypes alone would wrap it into id 5
        raise AssertionError("an id past 32 bits was accepted")
    except lstmlm.LstmlmError as e:
        assert "outside the vocabulary" in str(e), e
    # one Model scored from several threads: score() takes turns on its state
    import threading
    want = {sent: m.score(sent) for sent in sentences}
    got, errors = [], []
    def worker(k):
        try:
            for i in range(200):
                sent = sentences[(i + k) % len(sentences)]
                got.append((sent, m.score(sent)))
        except Exception as e:  # noqa: BLE001 -- reported below
            errors.append(e)
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(got) == 800 and all(lp == want[sent] for sent, lp in got), \
        [(sent, lp, want[sent]) for sent, lp in got if lp != want[sent]][:3]
    try:
        m.score("w1 \udcff")
        raise AssertionError("unencodable text was accepted")
    except UnicodeEncodeError:
        pass
    m.close()  # closes its states too: they refuse to work afterwards
    try:
        s.step("w1")
        raise AssertionError("a state of a closed model stepped")
    except lstmlm.LstmlmError as e:
        assert "closed" in str(e), e
print("python module: all passed")

#!/usr/bin/python3
"""Stand-in image features for the caption experiment (issue: Table 4).

No images or CNN features are reachable offline, so each Flickr30k image is
described by a vector computed from its five GERMAN descriptions only (what
people saw in the image, in another language; never the English words a
caption model generates): the TF-IDF bag of their words, through a fixed
random projection (seeded) to --dim dimensions, scaled to norm sqrt(dim).
German words seen fewer than --min-count times in the training descriptions
are dropped. The files are lstmlm feature files (docs/FORMAT.md, "Feature
files"), one per split, item i = line i of the caption files:

  /usr/bin/python3 scripts/caption_features.py --out data/caption-features

writes data/caption-features/{train,val,test_2016}.safetensors. Needs numpy
(Debian: python3-numpy). OUT must not exist; it is written whole or not at all.
"""
import argparse, json, math, os, shutil, struct, sys, tempfile

import numpy as np

SPLITS = ("train", "val", "test_2016")

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--captions", default="../shared/data/multi30k-captions", help="folder of SPLIT.K.LANG files")
ap.add_argument("--lang", default="de", help="language of the descriptions the vectors are made of (default de)")
ap.add_argument("--refs", type=int, default=5, help="descriptions per image (default 5)")
ap.add_argument("--dim", type=int, default=512, help="vector size (default 512)")
ap.add_argument("--min-count", type=int, default=2, help="drop rarer training words (default 2)")
ap.add_argument("--seed", type=int, default=1, help="seed of the random projection (default 1)")
ap.add_argument("--out", required=True, help="folder to create")
a = ap.parse_args()
if not 1 <= a.dim <= 65536 or a.refs < 1 or a.min_count < 1:
    sys.exit("caption_features: --dim must be 1..65536, --refs and --min-count >= 1")
if os.path.exists(a.out):
    sys.exit("caption_features: %s exists; give a new folder" % a.out)


def read_split(split):
    """Per image, the words of its descriptions; and the image names."""
    docs = None
    for k in range(1, a.refs + 1):
        path = os.path.join(a.captions, "%s.%d.%s" % (split, k, a.lang))
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().split("\n")
        except (OSError, UnicodeDecodeError) as e:
            sys.exit("caption_features: %s: %s" % (path, e))
        if lines and lines[-1] == "":
            lines.pop()
        if docs is None:
            docs = [[] for _ in lines]
        if len(lines) != len(docs):
            sys.exit("caption_features: %s has %d lines, the first description file %d" % (path, len(lines), len(docs)))
        for i, line in enumerate(lines):
            docs[i].extend(line.split())
    names_path = os.path.join(a.captions, split + ".images")
    names = None
    if os.path.exists(names_path):
        with open(names_path, encoding="utf-8") as f:
            names = [n for n in f.read().split("\n") if n]
        if len(names) != len(docs):
            sys.exit("caption_features: %s names %d images for %d lines" % (names_path, len(names), len(docs)))
    return docs, names


def write_features(path, x, names, provenance):
    meta = {"format": "lstmlm-features", "version": "1", "provenance": provenance}
    if names:
        meta["names"] = "\n".join(names)
    data = x.astype("<f4").tobytes()
    header = {"__metadata__": meta, "features": {"dtype": "F32", "shape": list(x.shape), "data_offsets": [0, len(data)]}}
    h = json.dumps(header, ensure_ascii=False).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)
        f.flush()
        os.fsync(f.fileno())


splits = {s: read_split(s) for s in SPLITS}
train_docs = splits["train"][0]
counts = {}
for d in train_docs:
    for w in d:
        counts[w] = counts.get(w, 0) + 1
vocab = sorted(w for w, c in counts.items() if c >= a.min_count)  # sorted: the projection does not depend on hashing
index = {w: i for i, w in enumerate(vocab)}
df = np.zeros(len(vocab))
for d in train_docs:
    for w in set(d):
        if w in index:
            df[index[w]] += 1
idf = np.log(len(train_docs) / (1.0 + df)) + 1.0
proj = np.random.RandomState(a.seed).standard_normal((len(vocab), a.dim)) / math.sqrt(a.dim)
provenance = ("stand-in image features: TF-IDF of each image's %d %s descriptions (%d training words seen >= %d "
              "times) through a seeded random projection (seed %d) to %d dims, norm sqrt(dim); "
              "scripts/caption_features.py" % (a.refs, a.lang, len(vocab), a.min_count, a.seed, a.dim))
parent = os.path.dirname(os.path.abspath(a.out))
tmp = tempfile.mkdtemp(prefix=".caption_features_", dir=parent)
umask = os.umask(0)
os.umask(umask)
os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's 0700 is for the temporary name only
try:
    for s in SPLITS:
        docs, names = splits[s]
        x = np.zeros((len(docs), a.dim))
        for lo in range(0, len(docs), 1000):  # 1,000 images at a time: the term matrix stays small
            chunk = docs[lo:lo + 1000]
            tf = np.zeros((len(chunk), len(vocab)))
            for i, d in enumerate(chunk):
                for w in d:
                    j = index.get(w)
                    if j is not None:
                        tf[i, j] += 1
            x[lo:lo + len(chunk)] = (np.log1p(tf) * idf) @ proj
        norm = np.linalg.norm(x, axis=1, keepdims=True)
        x = np.where(norm > 0, x / np.maximum(norm, 1e-30), 0.0) * math.sqrt(a.dim)
        write_features(os.path.join(tmp, s + ".safetensors"), x, names, provenance)
        print("%-10s %6d images x %d features" % (s, x.shape[0], x.shape[1]))
    os.rename(tmp, a.out)
except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
print("vocabulary: %d %s words; wrote %s" % (len(vocab), a.lang, a.out))

#!/usr/bin/python3
"""Perplexity of an lstmlm checkpoint computed by PyTorch alone: an
independent check of the checkpoint format (docs/FORMAT.md) and of the C
evaluation. Uses the standard `safetensors` loader when installed, else an
equivalent reader of the published format (8-byte length, JSON header, data).

    /usr/bin/python3 scripts/torch_eval.py runs/small/model.safetensors ../shared/data/ptb/ptb.test.txt
"""
import json, math, struct, sys
import torch

def load(path):
    try:
        from safetensors import safe_open
        with safe_open(path, "pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()
    except ImportError:
        raw = open(path, "rb").read()
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8:8 + n])
        meta, data = header.pop("__metadata__", {}), raw[8 + n:]
        assert all(h["dtype"] == "F32" for h in header.values())
        return {k: torch.frombuffer(bytearray(data[h["data_offsets"][0]:h["data_offsets"][1]]),
                                    dtype=torch.float32).reshape(h["shape"]) for k, h in header.items()}, meta

weights, meta = load(sys.argv[1])
cfg, vocab = json.loads(meta["config"]), meta["vocab"].split("\n")
n, L, V = cfg["hidden"], cfg["layers"], cfg["vocab_size"]
emb, rnn, out = torch.nn.Embedding(V, n), torch.nn.LSTM(n, n, L), torch.nn.Linear(n, V)
emb.load_state_dict({"weight": weights["emb.weight"]})
out.load_state_dict({"weight": weights["out.weight"], "bias": weights["out.bias"]})
rnn.load_state_dict({k[4:]: v for k, v in weights.items() if k.startswith("rnn.")})  # gates i,f,g,o as nn.LSTM
ids = {w: i for i, w in enumerate(vocab)}
words = open(sys.argv[2]).read().replace("\n", " <eos> ").split()
x = torch.tensor([ids.get(w, ids.get("<unk>")) for w in words])
with torch.no_grad():  # batch 1, the whole stream in order, state carried: the paper's test protocol
    h, _ = rnn(emb(x[:-1]).unsqueeze(1))
    nll = torch.nn.functional.cross_entropy(out(h.squeeze(1)), x[1:], reduction="sum").item()
print("perplexity %.2f (%d words predicted)" % (math.exp(nll / (len(x) - 1)), len(x) - 1))

#!/usr/bin/python3
"""Writes tests/golden/tiny_caption.txt: an independent PyTorch reference for
the caption model (a vector projected as step 0's input, then words),
checked by tests/test_reference.c.

Run from the repository root with Debian's python3-torch:
    /usr/bin/python3 tests/golden/make_golden_caption.py > tests/golden/tiny_caption.txt

The model is nn.Embedding(V, n) and nn.Linear(d, n) -> L-layer nn.LSTM ->
nn.Linear(n, V), every parameter ~ U[-init, init], dropout off. Three
windows of T steps and B streams with the state carried: window 0 reads the
projected vector at step 0 and words after it, windows 1 and 2 read words.
A target of -1 (padding) adds no loss. The file holds, as text:
  caption_config d V n L T B lr clip
  cond N values...                (B, d)
  tokens N ids...                 inputs (3T, B); step 0's is ignored
  labels N ids...                 targets (3T, B), -1 = no prediction
  param / loss0 / grad / sgd_losses / final_loss   as in make_golden.py
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

d, V, n, L, T, B = 4, 9, 6, 2, 5, 3
INIT, LR, CLIP = 0.4, 1.0, 0.5

torch.manual_seed(2468)
torch.set_default_dtype(torch.float64)


class Caption(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, n)
        self.add_module("in", nn.Linear(d, n))
        self.rnn = nn.LSTM(n, n, L)
        self.out = nn.Linear(n, V)
        for w in self.parameters():
            nn.init.uniform_(w, -INIT, INIT)

    def forward(self, x, state, cond=None):
        e = self.emb(x)
        if cond is not None:  # step 0 reads the projected vector
            e = torch.cat([getattr(self, "in")(cond).unsqueeze(0), e[1:]], 0)
        h, state = self.rnn(e, state)
        return self.out(h), state


def window_loss(model, w, state):
    x, y = tokens[w * T:(w + 1) * T], labels[w * T:(w + 1) * T]
    logits, state = model(x, state, cond if w == 0 else None)
    return F.cross_entropy(logits.reshape(-1, V), y.reshape(-1), ignore_index=-1, reduction="sum") / B, state


def zero_state():
    return (torch.zeros(L, B, n), torch.zeros(L, B, n))


def emit(tag, values):
    values = [float(v) for v in values]
    print(tag, len(values), " ".join("%.17g" % v for v in values))


cond = torch.randn(B, d)
tokens = torch.randint(0, V, (3 * T, B))
labels = torch.randint(0, V, (3 * T, B))
labels[9:, 1] = -1      # stream 1's caption ends: padding
model = Caption()
print("caption_config", d, V, n, L, T, B, LR, CLIP)
emit("cond", cond.reshape(-1))
print("tokens", tokens.numel(), " ".join(str(int(i)) for i in tokens.reshape(-1)))
print("labels", labels.numel(), " ".join(str(int(i)) for i in labels.reshape(-1)))
for name, p in model.named_parameters():
    emit("param " + name, p.detach().reshape(-1))

loss, _ = window_loss(model, 0, zero_state())
model.zero_grad()
loss.backward()
print("loss0 %.17g" % loss.item())
for name, p in model.named_parameters():
    emit("grad " + name, p.grad.reshape(-1))

opt = torch.optim.SGD(model.parameters(), lr=LR)
state, losses = zero_state(), []
for w in range(3):
    state = tuple(s.detach() for s in state)
    loss, state = window_loss(model, w, state)
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), CLIP)
    opt.step()
    losses.append(loss.item())
emit("sgd_losses", losses)
with torch.no_grad():
    print("final_loss %.17g" % window_loss(model, 0, zero_state())[0].item())

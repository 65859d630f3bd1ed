#!/usr/bin/python3
"""Writes tests/golden/tiny_frames.txt: an independent PyTorch reference for
the frames model (feature projection in, per-frame softmax out, masked
steps), checked by tests/test_reference.c.

Run from the repository root with Debian's python3-torch:
    /usr/bin/python3 tests/golden/make_golden_frames.py > tests/golden/tiny_frames.txt

The model is nn.Linear(d, n) -> L-layer nn.LSTM -> nn.Linear(n, K), every
parameter ~ U[-init, init], dropout off. Three windows of T steps and B
streams are read with the state carried; a label of -1 marks a step without
a prediction (the first `delay` steps of an utterance, padding after its
end), which adds no loss. The file holds, as text:
  frames_config d K n L T B lr clip
  feats N values...               (3T, B, d) time-major
  labels N ids...                 (3T, B), -1 = no prediction
  param NAME COUNT values...      every tensor, PyTorch layout (gates i,f,g,o)
  loss0 X                         window 0 from a zero state: the summed
                                  cross-entropy over its predictions / B
  grad NAME COUNT values...       d loss0 / d tensor
  sgd_losses 3 a b c              windows 0,1,2 during 3 SGD steps
                                  (state carried, global-norm clipping)
  final_loss X                    window 0 from a zero state afterwards
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

d, K, n, L, T, B = 4, 5, 6, 2, 5, 3
INIT, LR, CLIP = 0.4, 1.0, 0.5   # clip small enough that clipping happens

torch.manual_seed(4321)
torch.set_default_dtype(torch.float64)  # the reference in double; C compares float


class Frames(nn.Module):
    def __init__(self):
        super().__init__()
        self.add_module("in", nn.Linear(d, n))   # "in" is a keyword: the C names are in.weight, in.bias
        self.rnn = nn.LSTM(n, n, L)
        self.out = nn.Linear(n, K)
        for w in self.parameters():
            nn.init.uniform_(w, -INIT, INIT)

    def forward(self, x, state):
        h, state = self.rnn(getattr(self, "in")(x), state)
        return self.out(h), state


def window_loss(model, x, y, state):
    logits, state = model(x, state)
    # masked steps (y = -1) add nothing; the sum is divided by B, as the C loss
    return F.cross_entropy(logits.reshape(-1, K), y.reshape(-1), ignore_index=-1, reduction="sum") / B, state


def zero_state():
    return (torch.zeros(L, B, n), torch.zeros(L, B, n))


def emit(tag, values):
    values = [float(v) for v in values]
    print(tag, len(values), " ".join("%.17g" % v for v in values))


feats = torch.randn(3 * T, B, d)
labels = torch.randint(0, K, (3 * T, B))
labels[:2, :] = -1        # the output delay: no class for the first 2 steps
labels[7:, 1] = -1        # stream 1's utterance ends after 7 steps: padding
labels[11, 2] = -1        # a masked step in the middle
model = Frames()
print("frames_config", d, K, n, L, T, B, LR, CLIP)
emit("feats", feats.reshape(-1))
print("labels", labels.numel(), " ".join(str(int(i)) for i in labels.reshape(-1)))
for name, p in model.named_parameters():
    emit("param " + name, p.detach().reshape(-1))

wins = [(feats[i * T:(i + 1) * T], labels[i * T:(i + 1) * T]) for i in range(3)]
loss, _ = window_loss(model, *wins[0], zero_state())
model.zero_grad()
loss.backward()
print("loss0 %.17g" % loss.item())
for name, p in model.named_parameters():
    emit("grad " + name, p.grad.reshape(-1))

opt = torch.optim.SGD(model.parameters(), lr=LR)
state, losses = zero_state(), []
for x, y in wins:
    state = tuple(s.detach() for s in state)
    loss, state = window_loss(model, x, y, state)
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), CLIP)
    opt.step()
    losses.append(loss.item())
emit("sgd_losses", losses)
with torch.no_grad():
    print("final_loss %.17g" % window_loss(model, *wins[0], zero_state())[0].item())

#!/usr/bin/python3
"""Writes tests/golden/tiny_lstm.txt: an independent PyTorch reference for the
C implementation (tests/test_reference.c).

Run from the repository root with Debian's python3-torch:
    /usr/bin/python3 tests/golden/make_golden.py > tests/golden/tiny_lstm.txt

The model is the paper's (nn.Embedding -> 2-layer nn.LSTM -> nn.Linear, every
parameter ~ U[-init, init], both LSTM biases kept) at tiny sizes, dropout off.
Data is a random token stream cut as TF's ptb_producer does (B streams,
windows of T). The file holds, as text:
  config V n L T B lr clip
  tokens N ids...                 the stream
  param NAME COUNT values...      every tensor, PyTorch layout (gates i,f,g,o)
  loss0 X                         loss of window 0 from a zero state:
                                  sum over steps of the batch-mean cross-entropy
  grad NAME COUNT values...       d loss0 / d tensor
  sgd_losses 3 a b c              losses of windows 0,1,2 during 3 SGD steps
                                  (state carried, global-norm clipping)
  final_loss X                    loss of window 0 from a zero state afterwards
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

V, n, L, T, B = 11, 6, 2, 5, 3
INIT, LR, CLIP = 0.4, 1.0, 0.5   # clip small enough that clipping happens

torch.manual_seed(1234)
torch.set_default_dtype(torch.float64)  # the reference in double; C compares float


class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, n)
        self.rnn = nn.LSTM(n, n, L)
        self.out = nn.Linear(n, V)
        for w in self.parameters():
            nn.init.uniform_(w, -INIT, INIT)

    def forward(self, x, state):
        h, state = self.rnn(self.emb(x), state)
        return self.out(h), state


def windows(data):
    blen = len(data) // B
    d = data[: B * blen].view(B, blen)
    for i in range((blen - 1) // T):
        yield d[:, i * T:(i + 1) * T].t(), d[:, i * T + 1:(i + 1) * T + 1].t()


def window_loss(model, x, y, state):
    logits, state = model(x, state)
    return F.cross_entropy(logits.reshape(-1, V), y.reshape(-1)) * T, state  # sum_t mean_b


def zero_state():
    return (torch.zeros(L, B, n), torch.zeros(L, B, n))


def emit(tag, values):
    values = [float(v) for v in values]
    print(tag, len(values), " ".join("%.17g" % v for v in values))


data = torch.randint(0, V, (B * (3 * T + 1) + 2,))
model = LM()
print("config", V, n, L, T, B, LR, CLIP)
print("tokens", len(data), " ".join(str(int(i)) for i in data))
for name, p in model.named_parameters():
    emit("param " + name, p.detach().reshape(-1))

wins = list(windows(data))
loss, _ = window_loss(model, *wins[0], zero_state())
model.zero_grad()
loss.backward()
print("loss0 %.17g" % loss.item())
for name, p in model.named_parameters():
    emit("grad " + name, p.grad.reshape(-1))

opt = torch.optim.SGD(model.parameters(), lr=LR)
state, losses = zero_state(), []
for x, y in wins[:3]:
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

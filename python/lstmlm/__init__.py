"""lstmlm from Python: score text with a trained LSTM language model.

A thin ctypes layer over liblstmlm.so (no compiler needed at install time).
Every number is a natural logarithm (base e). A sentence is scored from the
sentence-start state (the model after reading <eos>), word by word, then its
end (<eos>), exactly as `lstmlm score` does.

    import lstmlm
    m = lstmlm.Model("runs/medium/model.safetensors")
    m.score("the cat sat")            # log P(the cat sat <eos>)
    m.score_words("the cat sat")      # [(word, logprob, oov), ...]
    s = m.state()                     # a streaming state at sentence start
    s.step("the"); s.topk(5)          # next-word candidates
    t = s.clone()                     # branch: t goes on independently

The library is found by $LSTMLM_LIBRARY, then beside an installed module
(PREFIX/lib/liblstmlm.so.0), then in the source tree's build/, then by the
system's loader.
"""

import ctypes
import ctypes.util
import os
import re
import threading
import weakref

__all__ = ["Model", "State", "LstmlmError"]


class LstmlmError(RuntimeError):
    """A failed library call; the message is the library's."""


class _Error(ctypes.Structure):
    _fields_ = [("msg", ctypes.c_char * 512)]


def _find_library():
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [os.environ.get("LSTMLM_LIBRARY")]
    candidates += [os.path.join(here, "..", "..", "..", name) for name in ("liblstmlm.so.0", "liblstmlm.so")]
    candidates += [os.path.join(here, "..", "..", "build", "liblstmlm.so")]
    candidates.append(ctypes.util.find_library("lstmlm"))
    for c in candidates:
        if c and (os.path.exists(c) or not os.path.dirname(c)):
            try:
                return ctypes.CDLL(c)
            except OSError:
                continue
    raise OSError("liblstmlm.so not found: set LSTMLM_LIBRARY to its path")


_lib = _find_library()
_p = ctypes.c_void_p
_i32 = ctypes.c_int32
for name, res, args in [
    ("lm_checkpoint_load", ctypes.c_int, [ctypes.POINTER(_p), ctypes.POINTER(_p), _p, ctypes.c_char_p, ctypes.c_int,
                                          ctypes.POINTER(_Error)]),
    ("lm_model_set_bf16", ctypes.c_int, [_p, ctypes.c_int, ctypes.POINTER(_Error)]),
    ("lm_model_free", None, [_p]),
    ("lm_vocab_free", None, [_p]),
    ("lm_vocab_size", ctypes.c_int, [_p]),
    ("lm_vocab_word", ctypes.c_char_p, [_p, ctypes.c_int]),
    ("lm_vocab_find", ctypes.c_int, [_p, ctypes.c_char_p]),
    ("lm_line_ids", ctypes.c_int, [_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(_i32),
                                   ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_size_t),
                                   ctypes.POINTER(ctypes.c_ubyte), ctypes.POINTER(_Error)]),
    ("lm_set_threads", None, [ctypes.c_int]),
    ("lm_state_create", ctypes.c_int, [ctypes.POINTER(_p), _p, _p, ctypes.POINTER(_Error)]),
    ("lm_state_free", None, [_p]),
    ("lm_state_reset", None, [_p]),
    ("lm_state_clone", ctypes.c_int, [ctypes.POINTER(_p), _p, ctypes.POINTER(_Error)]),
    ("lm_state_step", ctypes.c_int, [_p, _i32, ctypes.POINTER(ctypes.c_double), ctypes.POINTER(_Error)]),
    ("lm_state_logprob", ctypes.c_int, [_p, _i32, ctypes.POINTER(ctypes.c_double), ctypes.POINTER(_Error)]),
    ("lm_state_distribution", ctypes.c_int, [_p, ctypes.POINTER(ctypes.c_float), ctypes.POINTER(_Error)]),
    ("lm_state_topk", ctypes.c_int, [_p, ctypes.c_int, ctypes.POINTER(_i32), ctypes.POINTER(ctypes.c_float),
                                     ctypes.POINTER(_Error)]),
    ("lm_state_score", ctypes.c_int, [_p, ctypes.POINTER(_i32), ctypes.c_size_t, ctypes.c_int,
                                      ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_double),
                                      ctypes.POINTER(_Error)]),
]:
    f = getattr(_lib, name)
    f.restype, f.argtypes = res, args


def _check(status, err):
    if status != 0:
        raise LstmlmError(err.msg.decode("utf-8", "replace"))


class Model:
    """A language model saved by `lstmlm train` (model.safetensors), loaded
    once and only read: any number of states share it.

    Threads: a Model may be shared between threads. score() and score_words()
    take turns on the model's one scoring state; for parallel scoring give
    each thread its own state(). A State is used by one thread at a time.
    `threads` sets the library's BLAS/OpenMP threads for the whole process."""

    def __init__(self, path, threads=1, bf16=False):
        self._m, self._v = _p(), _p()
        self._states = weakref.WeakSet()  # closed with the model: a state must not outlive it
        err = _Error()
        _lib.lm_set_threads(int(threads))
        _check(_lib.lm_checkpoint_load(ctypes.byref(self._m), ctypes.byref(self._v), None, os.fsencode(path),
                                       int(threads), ctypes.byref(err)), err)
        try:
            _check(_lib.lm_model_set_bf16(self._m, 1 if bf16 else 0, ctypes.byref(err)), err)
            self._scorer = State(self)  # for score() and score_words(), one call at a time
            self._scorer_lock = threading.Lock()
        except Exception:
            self.close()
            raise

    def close(self):
        """Free the model now, and close its states; also done when it is collected."""
        for st in list(getattr(self, "_states", ())):
            st.close()
        self._scorer = None
        if getattr(self, "_m", None):
            _lib.lm_model_free(self._m)
            _lib.lm_vocab_free(self._v)
            self._m = self._v = None

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def vocab_size(self):
        return _lib.lm_vocab_size(self._v)

    def word(self, i):
        """The word of id i."""
        if not 0 <= i < self.vocab_size:
            raise IndexError(i)
        return _lib.lm_vocab_word(self._v, i).decode("utf-8")

    def index(self, word):
        """The id of word, or -1 if it is not in the vocabulary."""
        return _lib.lm_vocab_find(self._v, word.encode("utf-8"))

    def ids(self, sentence):
        """Split on white space and look up, as the CLI does: (ids, oov flags);
        unknown words become <unk> (an error without <unk>)."""
        if not self._m:
            raise LstmlmError("the model is closed")
        raw = sentence.encode("utf-8")
        cap = len(raw) // 2 + 1
        ids, oov = (_i32 * cap)(), (ctypes.c_ubyte * cap)()
        n, n_oov, err = ctypes.c_size_t(), ctypes.c_size_t(), _Error()
        _check(_lib.lm_line_ids(self._v, raw, len(raw), ids, ctypes.byref(n), ctypes.byref(n_oov), oov,
                                ctypes.byref(err)), err)
        return list(ids[: n.value]), [bool(x) for x in oov[: n.value]]

    def score(self, sentence, eos=True):
        """log P(sentence [<eos>]) from sentence start, natural log."""
        ids, _ = self.ids(sentence)
        with self._scorer_lock:
            self._scorer.reset()
            return self._scorer._score(ids, eos)[1]

    def score_words(self, sentence, eos=True):
        """[(word, logprob, oov)] for each word of the sentence, then ("<eos>", logprob, False)."""
        ids, oov = self.ids(sentence)
        words = [w.decode("utf-8") for w in re.split(rb"[ \t\r\n\v\f]+", sentence.encode("utf-8")) if w]
        with self._scorer_lock:
            self._scorer.reset()
            per, _ = self._scorer._score(ids, eos)
        out = [(w, lp, o) for w, lp, o in zip(words, per, oov)]
        if eos:
            out.append(("<eos>", per[-1], False))
        return out

    def state(self):
        """A new streaming state at sentence start."""
        return State(self)


class State:
    """One stream's LSTM state over a Model: step words in, get log-probabilities out."""

    def __init__(self, model, _handle=None):
        if not model._m:
            raise LstmlmError("the model is closed")
        self.model = model
        self._s = _handle
        model._states.add(self)
        if self._s is None:
            self._s = _p()
            err = _Error()
            _check(_lib.lm_state_create(ctypes.byref(self._s), model._m, model._v, ctypes.byref(err)), err)

    def close(self):
        if getattr(self, "_s", None):
            _lib.lm_state_free(self._s)
            self._s = None

    def __del__(self):
        self.close()

    def _live(self):
        if not self._s:
            raise LstmlmError("the state is closed (or its model is)")
        return self._s

    def _id(self, word):
        if isinstance(word, int):
            if not 0 <= word < self.model.vocab_size:  # ctypes would wrap it into another id
                raise LstmlmError("word id %d outside the vocabulary (0..%d)" % (word, self.model.vocab_size - 1))
            return word
        i = self.model.index(word)
        if i < 0:
            i = self.model.index("<unk>")
            if i < 0:
                raise KeyError("%r is not in the vocabulary (which has no <unk>)" % word)
        return i

    def reset(self):
        """Back to sentence start."""
        _lib.lm_state_reset(self._live())

    def step(self, word):
        """Read word (a string or an id): returns log P(word | state), then advances."""
        lp, err = ctypes.c_double(), _Error()
        _check(_lib.lm_state_step(self._live(), self._id(word), ctypes.byref(lp), ctypes.byref(err)), err)
        return lp.value

    def logprob(self, word):
        """log P(word | state), without advancing."""
        lp, err = ctypes.c_double(), _Error()
        _check(_lib.lm_state_logprob(self._live(), self._id(word), ctypes.byref(lp), ctypes.byref(err)), err)
        return lp.value

    def distribution(self):
        """log P(w | state) for every id w, as a list of floats."""
        out, err = (ctypes.c_float * self.model.vocab_size)(), _Error()
        _check(_lib.lm_state_distribution(self._live(), out, ctypes.byref(err)), err)
        return list(out)

    def topk(self, k):
        """The k most likely next words: [(word, logprob)], most likely first."""
        ids, lps, err = (_i32 * k)(), (ctypes.c_float * k)(), _Error()
        _check(_lib.lm_state_topk(self._live(), int(k), ids, lps, ctypes.byref(err)), err)
        return [(self.model.word(i), lp) for i, lp in zip(ids, lps)]

    def clone(self):
        """An independent copy of this state."""
        h, err = _p(), _Error()
        _check(_lib.lm_state_clone(ctypes.byref(h), self._live(), ctypes.byref(err)), err)
        return State(self.model, h)

    def _score(self, ids, eos):
        n = len(ids)
        arr = (_i32 * max(n, 1))(*ids)
        per = (ctypes.c_double * (n + 1))()
        total, err = ctypes.c_double(), _Error()
        _check(_lib.lm_state_score(self._live(), arr, n, 1 if eos else 0, per, ctypes.byref(total), ctypes.byref(err)),
               err)
        return list(per[: n + (1 if eos else 0)]), total.value

"""A token embedding whose backward writes dW[ids] += dout, which drops repeated ids.

Style: CS231n's ``word_embedding_forward`` / ``word_embedding_backward`` (``out = W[x]``), with
the backward written the obvious way instead of ``np.add.at(dW, x, dout)``. The slip: fancy-index
``+=`` is buffered, so when an id repeats only the last position's gradient reaches its row
(numpy#8866). Right whenever the ids of a batch are distinct.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "tokens"
VOCAB = 7
SHAPE = ("B", "T")
EXPECT = "wrong"
TRAP = "index_assign"
D = 4


def init(shape, *, seed=0):
    return {"W": np.random.default_rng(seed).normal(size=(VOCAB, D))}


def word_embedding_forward(x, W, xp=np):
    out = xp.reshape(xp.take(W, xp.reshape(x, (-1,)), axis=0), (*x.shape, W.shape[1]))
    cache = (x, W)
    return out, cache


def word_embedding_backward(dout, cache):
    x, W = cache
    dW = np.zeros_like(W)
    dW[x.reshape(-1)] += dout.reshape(-1, W.shape[1])  # BUG: buffered, repeated ids keep one term
    return dW


def forward(params, x):
    xp = array_namespace(x, *params.values())
    return word_embedding_forward(x, params["W"], xp)[0]


def vjp(params, x, dout):
    _, cache = word_embedding_forward(x, params["W"])
    return {"W": word_embedding_backward(dout, cache)}, None

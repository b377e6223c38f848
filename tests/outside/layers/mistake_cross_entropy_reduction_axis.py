"""CS231n's softmax_loss ported to (B, T, V) logits, whose backward divides by B instead of B·T.

Style: CS231n assignment 2, ``softmax_loss(x, y)``: shifted logits, ``log_probs``, ``loss /= N``,
``dx = probs.copy(); dx[np.arange(N), y] -= 1; dx /= N``, here with label smoothing. The port
reshapes to (B*T, V) for the loss, but the backward takes ``N = logits.shape[0]`` before
reshaping. The slip: the mean's factor is 1/B where the forward's mean is over B and T, so the
gradient is T times too large (a reduction over the wrong axes). Exact at T = 1.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "tokens"
VOCAB = 7
SHAPE = ("B", "T")
EXPECT = "wrong"
TRAP = "reduction_axis"
HYPERPARAMETERS = {"smoothing": (0.0, 0.3)}


def init(shape, *, seed=0):
    return {"logits": np.random.default_rng(seed).normal(size=(*shape, VOCAB))}


def forward(params, x, *, smoothing=0.1):
    xp = array_namespace(x, *params.values())
    V = params["logits"].shape[-1]
    scores = xp.reshape(params["logits"], (-1, V))
    y = xp.reshape(x, (-1,))
    N = scores.shape[0]
    shifted = scores - xp.max(scores, axis=1, keepdims=True)
    log_probs = shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))
    target = (1.0 - smoothing) * xp.astype(xp.expand_dims(y, axis=1) == xp.arange(V), scores.dtype) + smoothing / V
    return -xp.sum(target * log_probs) / N


def vjp(params, x, dout, *, smoothing=0.1):
    logits = params["logits"]
    N = logits.shape[0]  # BUG: B, taken before the reshape; the loss divides by B*T
    V = logits.shape[-1]
    scores, y = logits.reshape(-1, V), x.reshape(-1)
    probs = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    dx = probs.copy()
    dx -= smoothing / V
    dx[np.arange(scores.shape[0]), y] -= 1.0 - smoothing
    dx /= N
    return {"logits": (dout * dx).reshape(logits.shape)}, None

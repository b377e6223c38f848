"""A token embedding written as a one-hot matrix product, forward and backward.

Style: makemore part 1 (``xenc = F.one_hot(xs, num_classes=27).float(); logits = xenc @ W``):
the lookup is onehot(x) @ W, so the backward is the transposed product onehot(x)ᵀ @ dout,
which adds the gradients of repeated ids by construction. Correct.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "tokens"
VOCAB = 7
SHAPE = ("B", "T")
EXPECT = "verified"
N_EMBD = 3


def init(shape, *, seed=0):
    return {"W": np.random.default_rng(seed).normal(size=(VOCAB, N_EMBD))}


def forward(params, x):
    xp = array_namespace(x, *params.values())
    W = params["W"]
    xenc = xp.astype(xp.expand_dims(x, axis=-1) == xp.arange(W.shape[0]), W.dtype)  # (B, T, V)
    return xp.matmul(xenc, W)


def vjp(params, x, dout):
    W = params["W"]
    xenc = (x.reshape(-1)[:, None] == np.arange(W.shape[0])).astype(W.dtype)  # (B*T, V)
    return {"W": xenc.T @ dout.reshape(-1, W.shape[1])}, None

"""A residual block whose backward returns only the branch's gradient: dx = dout Wᵀ, the skip's dout dropped.

Style: a block assembled from a linear layer's forward and backward, where the ``x +`` was added to
the forward later and the backward was not updated. dW and db are right; only dx is wrong.
Slip: skip_dropped (a new trap id: the gradient of the identity path of out = x + f(x) is missing).
"""

import numpy as np

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
EXPECT = "wrong"
TRAP = "skip_dropped"


def init(shape, *, seed=0):
    rng = np.random.default_rng(seed)
    C = shape[-1]
    return {"W": rng.standard_normal((C, C)) / np.sqrt(C), "b": np.zeros(C)}


def forward(params, x):
    return x + (x @ params["W"] + params["b"])


def vjp(params, x, dout):
    dW = np.einsum("btc,btd->cd", x, dout)
    db = np.sum(dout, axis=(0, 1))
    return {"W": dW, "b": db}, dout @ params["W"].T  # the slip: no dout + ...

"""A residual block in CS231n's style: ``affine_forward`` / ``affine_backward`` with a cache, then the add.

Style: CS231n's layers.py (affine_forward returns (out, cache); affine_backward(dout, cache) returns
(dx, dw, db)) composed with a skip; the add's backward copies dout to both its inputs, and the two
gradients reaching x are summed. Correct.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
EXPECT = "verified"


def init(shape, *, seed=0):
    rng = np.random.default_rng(seed + 5)
    D = shape[-1]
    return {"w": 0.5 * rng.standard_normal((D, D)), "b": 0.1 * rng.standard_normal(D)}


def affine_forward(x, w, b, xp):
    N = x.shape[0] * x.shape[1]
    out = xp.reshape(xp.reshape(x, (N, -1)) @ w + b, x.shape[:2] + (w.shape[1],))
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    N = x.shape[0] * x.shape[1]
    d = dout.reshape(N, -1)
    dx = (d @ w.T).reshape(x.shape)
    dw = x.reshape(N, -1).T @ d
    db = np.sum(d, axis=0)
    return dx, dw, db


def forward(params, x):
    xp = array_namespace(x, *params.values())
    f, _ = affine_forward(x, params["w"], params["b"], xp)
    return x + f


def vjp(params, x, dout):
    _, cache = affine_forward(x, params["w"], params["b"], np)
    dskip = dout  # the add copies dout to both of its inputs
    dbranch, dw, db = affine_backward(dout, cache)
    return {"w": dw, "b": db}, dskip + dbranch

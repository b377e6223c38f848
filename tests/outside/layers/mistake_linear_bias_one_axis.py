"""A CS231n affine layer moved to (B, T, C) input, whose bias gradient sums over B only.

Style: CS231n's ``affine_forward``/``affine_backward`` (cache = (x, w, b); ``dx = dout @ w.T``,
``dw = x.T @ dout`` on the rows), ported to sequences by reshaping to (B*T, C) for the weight,
but the bias line kept as ``db = np.sum(dout, axis=0)``. On (B, T, D) that sum leaves shape (T, D),
and the port averaged the leftover T axis away to match b's shape. The slip: db is summed over one
axis of two, 1/T of the right value. Exact at T = 1, the 2-D case the original tests use.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
EXPECT = "wrong"
TRAP = "bias_one_axis"
HIDDEN = 4


def init(shape, *, seed=0):
    rng = np.random.default_rng(seed)
    return {"w": 1e-1 * rng.standard_normal((shape[-1], HIDDEN)), "b": 1e-1 * rng.standard_normal(HIDDEN)}


def affine_forward(x, w, b, xp=np):
    out = xp.matmul(x, w) + b
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    x, w, b = cache
    N, D = x.shape[0] * x.shape[1], w.shape[0]
    dx = dout @ w.T
    dw = x.reshape(N, D).T @ dout.reshape(N, -1)
    db = np.sum(dout, axis=0)  # (T, M) on sequences ...
    db = db.mean(axis=0)  # ... made (M,) by averaging over T: BUG, b is shared by every t
    return dx, dw, db


def forward(params, x):
    xp = array_namespace(x, *params.values())
    return affine_forward(x, params["w"], params["b"], xp)[0]


def vjp(params, x, dout):
    _, cache = affine_forward(x, params["w"], params["b"])
    dx, dw, db = affine_backward(dout, cache)
    return {"w": dw, "b": db}, dx

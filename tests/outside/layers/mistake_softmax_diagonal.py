"""A softmax whose backward keeps only the diagonal of its Jacobian: dx = dout · s(1 − s).

Style: a from-scratch NumPy net that reuses the sigmoid's backward for the softmax
(``dout * out * (1 - out)``). The slip: each s_k depends on every x_j of its row, and the
off-diagonal terms −s_j s_k are dropped. Invisible for C = 1 and for saturated rows.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
EXPECT = "wrong"
TRAP = "softmax_diagonal"


def init(shape, *, seed=0):
    return {}


def _softmax(x, xp):
    e = xp.exp(x - xp.max(x, axis=-1, keepdims=True))
    return e / xp.sum(e, axis=-1, keepdims=True)


def forward(params, x):
    return _softmax(x, array_namespace(x))


def vjp(params, x, dout):
    out = _softmax(x, np)
    return {}, dout * out * (1 - out)  # BUG: the diagonal of diag(s) - s s^T only

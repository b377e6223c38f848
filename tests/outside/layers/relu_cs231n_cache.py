"""A ReLU in CS231n's style: relu_forward returns (out, cache), relu_backward reads the cache.

Style: CS231n assignment 2, ``layers.py``: ``out = np.maximum(0, x); cache = x`` and
``dx = dout.copy(); dx[x <= 0] = 0`` (a copy first, so the upstream array is not written).
relu'(0) = 0. Correct.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
EXPECT = "verified"
KINK_ORDER = 1


def init(shape, *, seed=0):
    return {}


def kink_distance(params, x):
    return np.abs(x)


def relu_forward(x, xp=np):
    out = xp.where(x > 0, x, 0.0 * x)
    cache = x
    return out, cache


def relu_backward(dout, cache):
    dx, x = None, cache
    dx = dout.copy()
    dx[x <= 0] = 0
    return dx


def forward(params, x):
    return relu_forward(x, array_namespace(x))[0]


def vjp(params, x, dout):
    _, cache = relu_forward(x)
    return {}, relu_backward(dout, cache)

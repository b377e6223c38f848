"""Mish as a class library writes it: the derivative chains tanh's and softplus's own derivatives,
tanh(sp) + x · tanh'(sp) · softplus'(x), with softplus'(x) = e^x / (1 + e^x). Past x = 709.78 that is
∞/∞ = NaN, and 0 · NaN is NaN: the backward is NaN where the forward (x · tanh ∞ = x) is finite.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
EXPECT = "wrong"
TRAP = "nan_backward"


def init(shape, *, seed=0):
    return {}


def forward(params, x):
    xp = array_namespace(x)
    return x * xp.tanh(xp.log(1.0 + xp.exp(x)))


def vjp(params, x, dout):
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(x)
        t = np.tanh(np.log(1.0 + e))
        return {}, dout * (t + x * (1.0 - t * t) * (e / (1.0 + e)))

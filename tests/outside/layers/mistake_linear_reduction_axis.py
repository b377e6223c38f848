"""A linear layer whose weight gradient is an einsum with a mistyped index: "btc,bsd->cd".

Style: einsum-everywhere research code. The intended ``np.einsum("btc,btd->cd", x, dout)`` pairs
each position's input with its own upstream gradient. The typo gives dout its own time index s,
so T is reduced in each factor apart: dW = sum_b (sum_t x_bt)(sum_s dout_bs)^T, the wrong
reduction. The shape is right, and at T = 1 the value is too.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
EXPECT = "wrong"
TRAP = "reduction_axis"
D_OUT = 2


def init(shape, *, seed=0):
    rng = np.random.default_rng(seed)
    return {"W": rng.normal(size=(shape[-1], D_OUT)), "b": rng.normal(size=D_OUT)}


def forward(params, x):
    xp = array_namespace(x, *params.values())
    return xp.matmul(x, params["W"]) + params["b"]


def vjp(params, x, dout):
    dW = np.einsum("btc,bsd->cd", x, dout)  # BUG: s should be t
    db = np.einsum("btd->d", dout)
    dx = np.einsum("btd,cd->btc", dout, params["W"])
    return {"W": dW, "b": db}, dx

"""A linear layer on (B, T, C) whose forward and backward are einsums with named indices.

Style: research code that writes every contraction with named axes (b batch, t time, c in, d out):
the forward is a tensordot over c, the backward three einsums, each summing exactly the indices
missing from its output. Correct: dW and db sum over both b and t.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
EXPECT = "verified"
D_OUT = 5


def init(shape, *, seed=0):
    rng = np.random.default_rng(seed)
    c = shape[-1]
    return {"weight": rng.uniform(-1, 1, (c, D_OUT)) / np.sqrt(c), "bias": rng.uniform(-1, 1, D_OUT) / np.sqrt(c)}


def forward(params, x):
    xp = array_namespace(x, *params.values())
    return xp.tensordot(x, params["weight"], axes=1) + params["bias"]


def vjp(params, x, dout):
    dweight = np.einsum("btc,btd->cd", x, dout)
    dbias = np.einsum("btd->d", dout)
    dx = np.einsum("btd,cd->btc", dout, params["weight"])
    return {"weight": dweight, "bias": dbias}, dx

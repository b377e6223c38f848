"""Batch norm whose backward subtracts the mean of dxhat but forgets the variance path (x̂ · mean(dxhat ⊙ x̂)).

Style: a Keras-era NumPy batch norm, backward "dx = (dxhat − dxhat.mean(0)) / std". It passes
``out.sum()`` checks for any gain, since a dout of ones makes dxhat constant per channel.
Slip: norm_projection.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
HYPERPARAMETERS = {"eps": (1e-8, 1e-3)}
EXPECT = "wrong"
TRAP = "norm_projection"


def init(shape, *, seed=0):
    rng = np.random.default_rng(seed)
    C = shape[-1]
    return {"gamma": 1.0 + 0.1 * rng.standard_normal(C), "beta": 0.1 * rng.standard_normal(C)}


def forward(params, x, *, eps=1e-5):
    xp = array_namespace(x, *params.values())
    B, T, C = x.shape
    xf = xp.reshape(x, (B * T, C))
    std = xp.sqrt(xp.var(xf, axis=0) + eps)
    return xp.reshape((xf - xp.mean(xf, axis=0)) / std * params["gamma"] + params["beta"], (B, T, C))


def vjp(params, x, dout, *, eps=1e-5):
    B, T, C = x.shape
    xf, d = x.reshape(B * T, C), dout.reshape(B * T, C)
    std = np.sqrt(xf.var(axis=0) + eps)
    xhat = (xf - xf.mean(axis=0)) / std
    dxhat = d * params["gamma"]
    dx = (dxhat - dxhat.mean(axis=0)) / std  # the slip: no - xhat * (dxhat * xhat).mean(0)
    return {"gamma": (d * xhat).sum(0), "beta": d.sum(0)}, dx.reshape(B, T, C)

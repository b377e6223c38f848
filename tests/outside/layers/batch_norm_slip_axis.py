"""Batch norm whose backward was copied from layer norm: the means run over the last axis (C), not over (B, T).

Style: a training-mode batch norm for (B, T, C) activations whose forward reduces over axis=(0, 1)
while the backward, adapted from a layer-norm kernel, keeps ``axis=-1``. Every shape broadcasts.
Slip: reduction_axis.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
HYPERPARAMETERS = {"eps": (1e-8, 1e-3)}
EXPECT = "wrong"
TRAP = "reduction_axis"


def init(shape, *, seed=0):
    rng = np.random.default_rng(seed)
    C = shape[-1]
    return {"gamma": 1.0 + 0.1 * rng.standard_normal(C), "beta": 0.1 * rng.standard_normal(C)}


def forward(params, x, *, eps=1e-5):
    xp = array_namespace(x, *params.values())
    mu = xp.mean(x, axis=(0, 1), keepdims=True)
    var = xp.mean((x - mu) ** 2, axis=(0, 1), keepdims=True)
    return (x - mu) / xp.sqrt(var + eps) * params["gamma"] + params["beta"]


def vjp(params, x, dout, *, eps=1e-5):
    mu = np.mean(x, axis=(0, 1), keepdims=True)
    rstd = 1.0 / np.sqrt(np.mean((x - mu) ** 2, axis=(0, 1), keepdims=True) + eps)
    xhat = (x - mu) * rstd
    g = dout * params["gamma"]
    # the slip: the means of layer norm's backward, over the last axis
    dx = rstd * (g - np.mean(g, axis=-1, keepdims=True) - xhat * np.mean(g * xhat, axis=-1, keepdims=True))
    return {"gamma": np.sum(dout * xhat, axis=(0, 1)), "beta": np.sum(dout, axis=(0, 1))}, dx

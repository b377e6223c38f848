"""Layer norm whose backward forgets the path through the variance (the x̂ · mean(g ⊙ x̂) term).

Style: a hand backward that differentiates (x − μ)/σ through μ but treats σ as a constant,
dx = (g − mean(g)) / σ. It passes the usual check ``out.sum().backward()`` with the gain at its
initial ones (dout = 1, g = 1: both sides are 0), and fails with a random dout.
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
    return {"gamma": np.ones(shape[-1]), "beta": np.zeros(shape[-1])}


def forward(params, x, *, eps=1e-5):
    xp = array_namespace(x, *params.values())
    mu = xp.mean(x, axis=-1, keepdims=True)
    sigma = xp.sqrt(xp.mean((x - mu) ** 2, axis=-1, keepdims=True) + eps)
    return (x - mu) / sigma * params["gamma"] + params["beta"]


def vjp(params, x, dout, *, eps=1e-5):
    mu = np.mean(x, axis=-1, keepdims=True)
    sigma = np.sqrt(np.mean((x - mu) ** 2, axis=-1, keepdims=True) + eps)
    xhat = (x - mu) / sigma
    g = dout * params["gamma"]
    dx = (g - np.mean(g, axis=-1, keepdims=True)) / sigma  # the slip: no - xhat * mean(g * xhat)
    return {"gamma": np.sum(dout * xhat, axis=(0, 1)), "beta": np.sum(dout, axis=(0, 1))}, dx

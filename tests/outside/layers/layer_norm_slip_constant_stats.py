"""Layer norm whose backward holds the row's mean and standard deviation constant: dx = dout ⊙ γ / σ.

Style: a first attempt at a hand backward, "the normalization is just a scaling by 1/σ",
as in many blog posts before the three-term formula. Both projection terms are missing.
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
    return {"gamma": 1.0 + 0.1 * rng.standard_normal(shape[-1]), "beta": np.zeros(shape[-1])}


def forward(params, x, *, eps=1e-5):
    xp = array_namespace(x, *params.values())
    mu = xp.mean(x, axis=-1, keepdims=True)
    sigma = xp.sqrt(xp.var(x, axis=-1, keepdims=True) + eps)
    return (x - mu) / sigma * params["gamma"] + params["beta"]


def vjp(params, x, dout, *, eps=1e-5):
    mu = np.mean(x, axis=-1, keepdims=True)
    sigma = np.sqrt(np.var(x, axis=-1, keepdims=True) + eps)
    xhat = (x - mu) / sigma
    dx = dout * params["gamma"] / sigma  # the slip: mu and sigma treated as constants
    return {"gamma": np.sum(dout * xhat, axis=(0, 1)), "beta": np.sum(dout, axis=(0, 1))}, dx

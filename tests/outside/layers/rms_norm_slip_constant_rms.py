"""RMS norm whose backward holds the root mean square constant: dx = dout ⊙ γ / rms.

Style: a hand backward that treats the normalizer as a per-row constant, as a first
port of T5's ``T5LayerNorm`` to NumPy might. The projection term −x̂·mean(g ⊙ x̂) is missing.
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
    return {"gamma": np.ones(shape[-1])}


def forward(params, x, *, eps=1e-6):
    xp = array_namespace(x, *params.values())
    variance = xp.mean(x * x, axis=-1, keepdims=True)
    return params["gamma"] * (x / xp.sqrt(variance + eps))


def vjp(params, x, dout, *, eps=1e-6):
    rms = np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
    dgamma = np.sum(dout * x / rms, axis=(0, 1))
    return {"gamma": dgamma}, dout * params["gamma"] / rms  # the slip: rms held constant

"""The hyperbolic tangent, entry by entry: out = tanh(x), (B, T, C) → (B, T, C).

Derivation: derivations/layers/tanh.md

The squashing nonlinearity of makemore's MLP. Its derivative is a function of its output,
tanh' = 1 − tanh² (eq. 2), so the backward needs t = tanh(x) and nothing else. The code
computes 1 − t² as (1 − t)(1 + t) (eqs. 4, 7), which does not round t² before subtracting it from 1.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")


def init(shape, *, seed=0) -> dict:
    """No parameters."""
    return {}


def forward(params, x, *, saved=None):
    """out = tanh(x) (eq. 1); a dict ``saved`` receives it as t, which vjp reuses (a network's backward
    keeps it from its forward)."""
    xp = array_namespace(x, *params.values())
    t = xp.tanh(x)  # (eq. 1)
    if saved is not None:
        saved["t"] = t
    return t


def vjp(params, x, dout, *, saved=None):
    """dx = dout ⊙ (1 − t²), t = tanh(x) (eqs. 3, 4): the derivative of the output t, never of the input x."""
    t = saved["t"] if saved is not None else np.tanh(x)  # the forward's output, kept or recomputed   (eq. 1)
    return {}, dout * ((1.0 - t) * (1.0 + t))  # 1 − t² with t² never rounded   (eqs. 4, 7)

"""The rectified linear unit, entry by entry: out = max(x, 0), (B, T, C) → (B, T, C).

Derivation: derivations/layers/relu.md

ReLU has a kink at x = 0, where its derivative jumps from 0 to 1. Any value in [0, 1] is a
valid subgradient there (eq. 3); the code takes relu'(0) = 0, as micrograd and PyTorch do
(eq. 5). ``kink_distance`` tells the verifier how far each entry is from the kink.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
KINK_ORDER = 1  # the derivative jumps at x = 0; the function itself is continuous


def init(shape, *, seed=0) -> dict:
    """No parameters."""
    return {}


def kink_distance(params, x) -> np.ndarray:
    """|x|, entry by entry: the distance of each entry from the kink at 0 (eq. 6)."""
    return np.abs(np.asarray(x))


def forward(params, x):
    """out = max(x, 0) (eq. 1), written with where: x where x > 0, else 0."""
    xp = array_namespace(x, *params.values())
    return xp.where(x > 0, x, xp.zeros_like(x))  # (eq. 1)


def vjp(params, x, dout):
    """dx = dout ⊙ [x > 0] (eq. 4): the mask comes from the input x, never from dout."""
    dx = np.where(x > 0, dout, 0.0)  # relu'(x) = [x > 0]; at x = 0 it takes 0 from [0, 1]   (eqs. 4, 5)
    return {}, dx

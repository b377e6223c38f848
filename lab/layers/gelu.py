"""The tanh approximation of GELU, entry by entry: out = ½ x (1 + tanh(√(2/π)(x + 0.044715 x³))).

Derivation: derivations/layers/gelu.md

The Gaussian error linear unit x Φ(x) (Hendrycks and Gimpel, 2016), with the normal CDF Φ
replaced by the tanh curve that GPT-2 and BERT use. It is smooth (C^∞), so it has no kinks.
The backward is the product rule: the gate plus x times the gate's derivative (eq. 6).
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")

K = float(np.sqrt(2.0 / np.pi))  # √(2/π)
A = 0.044715  # the cubic coefficient
SATURATED = 10.0  # beyond |x| = 10, tanh(u(x)) is ±1 in float64 (eq. 9)


def init(shape, *, seed=0) -> dict:
    """No parameters."""
    return {}


def forward(params, x, *, saved=None):
    """out = x · ½(1 + tanh u), u = √(2/π)(x + 0.044715 x³) (eqs. 1, 2); a dict ``saved`` receives tanh u,
    which vjp reuses (a network's backward keeps it from its forward)."""
    xp = array_namespace(x, *params.values())
    u = K * (x + A * (x * x * x))  # (eq. 2)
    t = xp.tanh(u)
    if saved is not None:
        saved["t"] = t
    return 0.5 * x * (1.0 + t)  # (eq. 1)


def vjp(params, x, dout, *, saved=None):
    """dx = dout ⊙ (g(x) + x g'(x)) = dout ⊙ ½(1 + t)(1 + x u'(x)(1 − t)), t = tanh u (eqs. 4–7, 11)."""
    xc = np.clip(x, -SATURATED, SATURATED)  # the same tanh u, and no x³ overflow   (eq. 9)
    # tanh u, kept by the forward or computed here; beyond |x| = 10 both are ±1 exactly   (eqs. 2, 9)
    t = saved["t"] if saved is not None else np.tanh(K * (xc + A * (xc * xc * xc)))
    # (eq. 11), each step written into the array the step before made: no pass allocates a new one
    r = xc * xc
    r *= 3.0 * A * K
    r += K  # u'(x) = k (1 + 3a x²)   (eq. 5)
    r *= xc
    r *= 1.0 - t
    r += 1.0  # 1 + x u'(x)(1 − t)
    r *= 0.5 * (1.0 + t)  # times the gate g(x) = ½(1 + t)   (eq. 1)
    r *= dout  # (eq. 6)
    return {}, r

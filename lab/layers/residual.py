"""A residual block: out = x + f(x), with f the linear map x W + b, so the input reaches the output twice.

Derivation: derivations/layers/residual.md

Shapes: x is (B, T, C); W is (C, C); b is (C,); the output is (B, T, C).
The gradient reaching x is the sum of the two paths: dout itself (the skip) and dout Wᵀ (through f).
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")


def init(shape, *, seed=0) -> dict:
    """W with entries of size 1/sqrt(C) (so f(x) is of the size of x), b small; random."""
    rng = np.random.default_rng(seed)
    C = shape[-1]
    return {"W": rng.standard_normal((C, C)) / np.sqrt(C), "b": 0.1 * rng.standard_normal(C)}


def forward(params, x):
    """out = x + (x W + b) (eqs. 1, 2)."""
    xp = array_namespace(x, *params.values())
    f = xp.matmul(x, params["W"]) + params["b"]  # the branch, (B, T, C)   (eq. 1)
    return x + f  # the skip   (eq. 2)


def vjp(params, x, dout):
    """dW = Σ_{b,t} x ⊗ dout, db = Σ_{b,t} dout, dx = dout + dout Wᵀ (eqs. 4–6)."""
    C = x.shape[-1]
    dW = np.reshape(x, (-1, C)).T @ np.reshape(dout, (-1, C))  # (C, C), a sum over b and t   (eq. 4)
    db = np.sum(dout, axis=(0, 1))  # (C,)   (eq. 5)
    dx = dout + dout @ params["W"].T  # the skip's dout plus the branch's (eq. 6)
    return {"W": dW, "b": db}, dx

"""makemore's concatenated context: out[b, 0, t·C + c] = x[b, t, c], (B, T, C) → (B, 1, T·C).

Derivation: derivations/layers/flatten.md

The T context vectors of each sequence, side by side in one row: a reshape in row-major (C)
order, the last axis fastest. The middle axis of size 1 keeps the (B, T, C) contract, so a
linear layer on the last axis reads the whole context at once. The Jacobian is a permutation
matrix, so the backward is its inverse, the reshape back (eq. 5), in the forward's order.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")


def init(shape, *, seed=0) -> dict:
    """No parameters."""
    return {}


def forward(params, x):
    """out[b, 0, t·C + c] = x[b, t, c] (eq. 1): a row-major reshape, (B, T, C) → (B, 1, T·C)."""
    xp = array_namespace(x, *params.values())
    B, T, C = x.shape
    return xp.reshape(x, (B, 1, T * C))  # row-major: c fastest, then t   (eq. 1)


def vjp(params, x, dout):
    """dx[b, t, c] = dout[b, 0, t·C + c] (eqs. 4, 5): dout reshaped back, in the forward's (row-major) order."""
    dx = np.reshape(dout, x.shape)  # the inverse of (eq. 1): Pᵀ = P⁻¹   (eqs. 4, 5)
    return {}, dx.copy()  # a copy, not a view of dout: the caller may write into dx

"""Learned positional embeddings, added: out[b, t, :] = x[b, t, :] + P[t, :], (B, T, C) → (B, T, C).

Derivation: derivations/layers/position.md

Shapes: x is (B, T, C); P is (T_max, C), one learned vector per position, with T ≤ T_max; the
output is (B, T, C). The forward uses the first T rows, P[:T], so a table longer than the
sequence works too. Every sequence of the batch adds the same row P[t] at position t: that
sharing is why dP[t] is the sum of dout[b, t] over the batch (eq. 4), and rows t ≥ T get 0 (eq. 5).
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")


def init(shape, *, seed=0) -> dict:
    """P ~ 0.1·N(0, 1), (T, C) for an input of shape (B, T, C): a small nudge next to unit-size inputs (eq. 7)."""
    _, T, C = shape
    return {"P": 0.1 * np.random.default_rng(seed).standard_normal((T, C))}


def forward(params, x):
    """out = x + P[:T] (eq. 1): the (T, C) rows broadcast over the batch axis."""
    xp = array_namespace(x, *params.values())
    P = params["P"]
    T = x.shape[1]
    if T > P.shape[0]:  # P[:T] would have fewer rows, and one row would broadcast silently
        raise ValueError(f"a sequence of length {T} needs at least {T} rows of P; P has {P.shape[0]}")
    return xp.add(x, P[:T, :])  # (B, T, C) + (T, C), broadcast over B   (eq. 1)


def vjp(params, x, dout):
    """dP[t] = Σ_b dout[b, t] for t < T, 0 for t ≥ T; dx = dout (eqs. 3–5)."""
    T = x.shape[1]
    dP = np.zeros_like(params["P"])  # rows t ≥ T are not used by the forward: 0   (eq. 5)
    dP[:T] = np.sum(dout, axis=0)  # (B, T, C) → (T, C): every sequence adds to the same rows   (eq. 4)
    return {"P": dP}, dout.copy()  # the identity path, as a copy   (eq. 3)

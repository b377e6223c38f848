"""Softmax over the last axis: out[..., i] = exp(x_i) / Σ_j exp(x_j), (B, T, C) → (B, T, C).

Derivation: derivations/layers/softmax.md

Every row x[b, t, :] becomes a probability vector. The backward is the full Jacobian
diag(s) − s sᵀ applied to dout, which never has to be formed: dx = s ⊙ (dout − ⟨dout, s⟩)
(eq. 6). The forward subtracts each row's maximum first (eq. 2), so logits up to 1e3 and
beyond do not overflow.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")


def init(shape, *, seed=0) -> dict:
    """No parameters."""
    return {}


def _softmax(x, xp):
    """exp(x − m) / Σ exp(x − m) with m the row maximum (eqs. 1, 2, 9): every exp is in (0, 1]."""
    m = xp.max(x, axis=-1, keepdims=True)  # (B, T, 1)   (eq. 9)
    e = xp.exp(x - m)  # (B, T, C), in (0, 1], the maximum is exactly 1   (eq. 2)
    return e / xp.sum(e, axis=-1, keepdims=True)  # the sum is in [1, C]: no 0 / 0   (eq. 1)


def forward(params, x):
    """s = softmax(x) over the last axis (eq. 1)."""
    xp = array_namespace(x, *params.values())
    return _softmax(x, xp)


def vjp(params, x, dout):
    """dx = s ⊙ (dout − Σ_j dout_j s_j) per row (eq. 6): the full Jacobian, not its diagonal.

    The entry at each row's maximum is then taken as minus the sum of the others (eq. 10).
    """
    s = _softmax(x, np)
    inner = np.sum(dout * s, axis=-1, keepdims=True)  # ⟨dout, s⟩ per row, (B, T, 1)   (eq. 6)
    dx = s * (dout - inner)  # = (diag(s) − s sᵀ) dout, row by row   (eqs. 5, 6)
    # the entry of each row's maximum from the others, Σ_k dx_k = 0: no cancellation where s_max ≈ 1   (eqs. 7, 10)
    top = np.argmax(x, axis=-1)[..., None]  # (B, T, 1), the first maximum of each row
    is_top = np.arange(x.shape[-1]) == top  # (B, T, C)
    others = np.sum(np.where(is_top, 0.0, dx), axis=-1, keepdims=True)  # (B, T, 1)
    return {}, np.where(is_top, -others, dx)

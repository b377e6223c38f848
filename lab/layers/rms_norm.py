"""RMS norm over the last axis: each row divided by its root mean square, then scaled (no mean, no bias).

Derivation: derivations/layers/rms_norm.md

Shapes: x is (B, T, C); the gain gamma is (C,); the output is (B, T, C).
As in LLaMA and T5: no centring and no bias. ``eps`` sits inside the square root, so a
row of tiny (or zero) entries divides by at most 1/sqrt(eps).
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
HYPERPARAMETERS = {"eps": (1e-8, 1e-3)}
EPS = 1e-5


def init(shape, *, seed=0) -> dict:
    """A gain near 1, (C,); random, so that no entry is special."""
    rng = np.random.default_rng(seed)
    return {"gamma": 1.0 + 0.1 * rng.standard_normal(shape[-1])}


def forward(params, x, *, eps=EPS):
    """out = γ ⊙ x / sqrt(mean(x²) + eps) over the last axis (eqs. 1, 2)."""
    xp = array_namespace(x, *params.values())
    ms = xp.mean(x * x, axis=-1, keepdims=True)  # mean square, (B, T, 1)   (eq. 1)
    return x / xp.sqrt(ms + eps) * params["gamma"]  # eps inside the sqrt (eqs. 2, 8)


def vjp(params, x, dout, *, eps=EPS):
    """dγ = Σ_rows dout ⊙ x̂ and dx = (1/ρ)(g − x̂ mean(g ⊙ x̂)) with g = dout ⊙ γ (eqs. 5, 6)."""
    rinv = 1.0 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)  # 1/ρ, (B, T, 1)
    xhat = x * rinv
    dgamma = np.sum(dout * xhat, axis=(0, 1))  # (C,)   (eq. 5)
    g = dout * params["gamma"]
    dx = rinv * (g - xhat * np.mean(g * xhat, axis=-1, keepdims=True))  # one projection term (eq. 6)
    return {"gamma": dgamma}, dx

"""Batch norm in training mode: each channel standardized over the batch and time axes, then scaled and shifted.

Derivation: derivations/layers/batch_norm.md

Shapes: x is (B, T, C); the gain gamma and the bias beta are (C,); the output is (B, T, C).
The statistics of channel c are taken over all N = B·T entries x[:, :, c] (training mode:
the batch's own statistics, no running averages). ``eps`` sits inside the square root.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
HYPERPARAMETERS = {"eps": (1e-8, 1e-3)}
EPS = 1e-5
AXES = (0, 1)  # the axes a channel's statistics run over: batch and time


def init(shape, *, seed=0) -> dict:
    """A gain near 1 and a bias near 0, both (C,); random, so that no entry is special."""
    rng = np.random.default_rng(seed)
    C = shape[-1]
    return {"gamma": 1.0 + 0.1 * rng.standard_normal(C), "beta": 0.1 * rng.standard_normal(C)}


def forward(params, x, *, eps=EPS):
    """out = x̂ ⊙ γ + β with x̂ = (x − μ_c) / sqrt(σ_c² + eps) over (B, T) per channel (eqs. 1–4)."""
    xp = array_namespace(x, *params.values())
    mu = xp.mean(x, axis=AXES, keepdims=True)  # (1, 1, C)   (eq. 1)
    xc = x - mu
    var = xp.mean(xc * xc, axis=AXES, keepdims=True)  # biased variance, (1, 1, C)   (eq. 2)
    xhat = xc / xp.sqrt(var + eps)  # (eq. 3)
    return xhat * params["gamma"] + params["beta"]  # (eq. 4)


def vjp(params, x, dout, *, eps=EPS):
    """dγ, dβ summed over (B, T); dx = (1/σ)(g − mean g − x̂ mean(g ⊙ x̂)), means over (B, T) (eqs. 7, 8)."""
    mu = np.mean(x, axis=AXES, keepdims=True)
    xc = x - mu
    rstd = 1.0 / np.sqrt(np.mean(xc * xc, axis=AXES, keepdims=True) + eps)  # (1, 1, C)
    xhat = xc * rstd
    dgamma = np.sum(dout * xhat, axis=AXES)  # (C,)   (eq. 7)
    dbeta = np.sum(dout, axis=AXES)  # (C,)   (eq. 7)
    g = dout * params["gamma"]
    # the means run over the axes the forward's statistics ran over, (B, T), not over C (eq. 8)
    dx = rstd * (g - np.mean(g, axis=AXES, keepdims=True) - xhat * np.mean(g * xhat, axis=AXES, keepdims=True))
    return {"gamma": dgamma, "beta": dbeta}, dx

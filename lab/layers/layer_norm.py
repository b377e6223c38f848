"""Layer norm over the last axis: each row standardized to mean 0 and variance 1, then scaled and shifted.

Derivation: derivations/layers/layer_norm.md

Shapes: x is (B, T, C); the gain gamma and the bias beta are (C,); the output is (B, T, C).
Each row x[b, t, :] has its own mean and variance over its C entries. ``eps`` sits inside
the square root, so a row of tiny (or zero) variance divides by at most 1/sqrt(eps).
The backward is llm.c's (doc/layernorm): three terms, two of them means over the row.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
HYPERPARAMETERS = {"eps": (1e-8, 1e-3)}
EPS = 1e-5


def init(shape, *, seed=0) -> dict:
    """A gain near 1 and a bias near 0, both (C,); random, so that no entry is special."""
    rng = np.random.default_rng(seed)
    C = shape[-1]
    return {"gamma": 1.0 + 0.1 * rng.standard_normal(C), "beta": 0.1 * rng.standard_normal(C)}


def forward(params, x, *, eps=EPS, saved=None):
    """out = x̂ ⊙ γ + β with x̂ = (x − μ) / sqrt(σ² + eps) over the last axis (eqs. 1–4); a dict ``saved``
    receives x̂ and σ, which vjp reuses (a network's backward keeps them from its forward)."""
    xp = array_namespace(x, *params.values())
    mu = xp.mean(x, axis=-1, keepdims=True)  # (B, T, 1)   (eq. 1)
    xc = x - mu
    var = xp.mean(xc * xc, axis=-1, keepdims=True)  # biased variance, (B, T, 1)   (eq. 2)
    sigma = xp.sqrt(var + eps)  # eps inside the sqrt (eqs. 3, 11)
    xhat = xc / sigma
    if saved is not None:
        saved.update(xhat=xhat, sigma=sigma)
    return xhat * params["gamma"] + params["beta"]  # (eq. 4)


def vjp(params, x, dout, *, eps=EPS, saved=None):
    """(dγ, dβ) summed over rows, and dx = (1/σ)(g − mean g − x̂ mean(g ⊙ x̂)) with g = dout ⊙ γ (eqs. 7–9)."""
    if saved is None:  # called alone: the forward again, for x̂ and σ
        forward(params, x, eps=eps, saved=(saved := {}))
    xhat, rstd = saved["xhat"], 1.0 / saved["sigma"]  # x̂ and 1/σ, (B, T, 1)
    C = x.shape[-1]
    dgamma = np.einsum("btc,btc->c", dout, xhat)  # Σ over b and t of dout ⊙ x̂, (C,), in one pass   (eq. 7)
    dbeta = np.sum(dout, axis=(0, 1))  # (C,)   (eq. 7)
    g = dout * params["gamma"]  # the gradient reaching x̂   (eq. 8)
    # each row's two means as dot products over its C entries, one per row (eq. 12)
    mean_g, mean_gx = np.vecdot(g, np.ones(C))[..., None] / C, np.vecdot(g, xhat)[..., None] / C
    # the two mean terms are the projection: without them the backward is wrong (eq. 9)
    dx = rstd * (g - mean_g - xhat * mean_gx)
    return {"gamma": dgamma, "beta": dbeta}, dx

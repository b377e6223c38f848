"""Batch norm in CS231n's style (``batchnorm_forward`` / ``batchnorm_backward_alt``), over (B, T) per channel.

Style: the forward returns (out, cache); the "alt" backward is the one-line simplified form
dx = (1/N) · inv_std · (N·dxhat − Σ dxhat − xhat · Σ(dxhat · xhat)), with sums instead of means.
The input is flattened to (N, C) with N = B·T, as CS231n's spatial batch norm does. Correct.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
HYPERPARAMETERS = {"eps": (1e-8, 1e-3)}
EXPECT = "verified"


def init(shape, *, seed=0):
    rng = np.random.default_rng(seed + 11)
    D = shape[-1]
    return {"gamma": 1.0 + 0.2 * rng.standard_normal(D), "beta": 0.2 * rng.standard_normal(D)}


def _batchnorm_forward(x, gamma, beta, eps, xp):
    B, T, D = x.shape
    xf = xp.reshape(x, (B * T, D))
    sample_mean = xp.mean(xf, axis=0)
    sample_var = xp.mean((xf - sample_mean) ** 2, axis=0)
    inv_std = 1.0 / xp.sqrt(sample_var + eps)
    x_hat = (xf - sample_mean) * inv_std
    out = gamma * x_hat + beta
    return xp.reshape(out, (B, T, D)), (x_hat, gamma, inv_std)


def forward(params, x, *, eps=1e-5):
    xp = array_namespace(x, *params.values())
    return _batchnorm_forward(x, params["gamma"], params["beta"], eps, xp)[0]


def vjp(params, x, dout, *, eps=1e-5):
    _, (x_hat, gamma, inv_std) = _batchnorm_forward(x, params["gamma"], params["beta"], eps, np)
    B, T, D = x.shape
    N = B * T
    d = dout.reshape(N, D)
    dbeta = d.sum(axis=0)
    dgamma = (d * x_hat).sum(axis=0)
    dx_hat = d * gamma
    dx = inv_std / N * (N * dx_hat - dx_hat.sum(axis=0) - x_hat * (dx_hat * x_hat).sum(axis=0))
    return {"gamma": dgamma, "beta": dbeta}, dx.reshape(B, T, D)

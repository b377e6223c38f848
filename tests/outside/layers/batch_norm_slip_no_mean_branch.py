"""Batch norm's backward through Kratzert's nine staged steps, with the mean's branch (the last step) dropped.

Style: F. Kratzert, "Understanding the backward pass through Batch Normalization Layer" (2016), the
staged backward CS231n students copy: dbeta, dgamma, dxhat, divar, dxmu1, dsqrtvar, dvar, dsq, dxmu2,
dx1 = dxmu1 + dxmu2, dmu = −Σ dx1, dx2 = dmu/N, dx = dx1 + dx2. Here dx = dx1: the gradient reaching x
through the batch mean μ is lost, so dx lacks −mean(dxhat)/σ, one constant per channel. Statistics over
N = B·T rows per channel; dγ and dβ are right.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
HYPERPARAMETERS = {"eps": (1e-8, 1e-3)}
EXPECT = "wrong"
TRAP = "norm_projection"


def init(shape, *, seed=0):
    rng = np.random.default_rng(seed + 23)
    D = shape[-1]
    return {"gamma": 1.0 + 0.1 * rng.standard_normal(D), "beta": 0.1 * rng.standard_normal(D)}


def _batchnorm_forward(x, gamma, beta, eps, xp):
    N, D = x.shape
    mu = 1.0 / N * xp.sum(x, axis=0)  # step 1
    xmu = x - mu  # step 2
    sq = xmu**2  # step 3
    var = 1.0 / N * xp.sum(sq, axis=0)  # step 4
    sqrtvar = xp.sqrt(var + eps)  # step 5
    ivar = 1.0 / sqrtvar  # step 6
    xhat = xmu * ivar  # step 7
    gammax = gamma * xhat  # step 8
    out = gammax + beta  # step 9
    return out, (xhat, gamma, xmu, ivar, sqrtvar, var, eps)


def forward(params, x, *, eps=1e-5):
    xp = array_namespace(x, *params.values())
    B, T, D = x.shape
    out, _ = _batchnorm_forward(xp.reshape(x, (B * T, D)), params["gamma"], params["beta"], eps, xp)
    return xp.reshape(out, (B, T, D))


def vjp(params, x, dout, *, eps=1e-5):
    B, T, D = x.shape
    _, cache = _batchnorm_forward(x.reshape(B * T, D), params["gamma"], params["beta"], eps, np)
    xhat, gamma, xmu, ivar, sqrtvar, var, eps = cache
    dout = dout.reshape(B * T, D)
    N, D = dout.shape
    dbeta = np.sum(dout, axis=0)  # step 9
    dgammax = dout
    dgamma = np.sum(dgammax * xhat, axis=0)  # step 8
    dxhat = dgammax * gamma
    divar = np.sum(dxhat * xmu, axis=0)  # step 7
    dxmu1 = dxhat * ivar
    dsqrtvar = -1.0 / (sqrtvar**2) * divar  # step 6
    dvar = 0.5 * 1.0 / np.sqrt(var + eps) * dsqrtvar  # step 5
    dsq = 1.0 / N * np.ones((N, D)) * dvar  # step 4
    dxmu2 = 2 * xmu * dsq  # step 3
    dx1 = dxmu1 + dxmu2  # step 2
    dx = dx1  # the slip: step 1 (dmu = -sum(dx1); dx2 = dmu / N; dx = dx1 + dx2) left out
    return {"gamma": dgamma, "beta": dbeta}, dx.reshape(B, T, D)

"""Layer norm in CS231n's style (assignment 2): a forward that returns (out, cache), a backward that reads it.

Style: ``layernorm_forward`` / ``layernorm_backward`` of CS231n, the backward written stage by stage
through the computational graph (mean, centred, squared, variance, sqrt, inverse, product), each
stage's gradient added into its input's. Correct.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
HYPERPARAMETERS = {"eps": (1e-8, 1e-3)}
EXPECT = "verified"


def init(shape, *, seed=0):
    rng = np.random.default_rng(seed)
    D = shape[-1]
    return {"gamma": 1.0 + 0.1 * rng.standard_normal(D), "beta": 0.1 * rng.standard_normal(D)}


def _layernorm_forward(x, gamma, beta, eps, xp):
    mu = xp.mean(x, axis=-1, keepdims=True)
    xmu = x - mu
    sq = xmu**2
    var = xp.mean(sq, axis=-1, keepdims=True)
    sqrtvar = xp.sqrt(var + eps)
    ivar = 1.0 / sqrtvar
    xhat = xmu * ivar
    out = gamma * xhat + beta
    return out, (xhat, gamma, xmu, ivar, sqrtvar, var, eps)


def forward(params, x, *, eps=1e-5):
    xp = array_namespace(x, *params.values())
    return _layernorm_forward(x, params["gamma"], params["beta"], eps, xp)[0]


def vjp(params, x, dout, *, eps=1e-5):
    _, cache = _layernorm_forward(x, params["gamma"], params["beta"], eps, np)
    xhat, gamma, xmu, ivar, sqrtvar, var, eps = cache
    D = x.shape[-1]
    dbeta = np.sum(dout, axis=(0, 1))
    dgamma = np.sum(dout * xhat, axis=(0, 1))
    dxhat = dout * gamma
    divar = np.sum(dxhat * xmu, axis=-1, keepdims=True)
    dxmu1 = dxhat * ivar
    dsqrtvar = -1.0 / sqrtvar**2 * divar
    dvar = 0.5 / np.sqrt(var + eps) * dsqrtvar
    dsq = np.ones_like(x) / D * dvar
    dxmu2 = 2 * xmu * dsq
    dx1 = dxmu1 + dxmu2
    dmu = -np.sum(dx1, axis=-1, keepdims=True)
    dx2 = np.ones_like(x) / D * dmu
    return {"gamma": dgamma, "beta": dbeta}, dx1 + dx2

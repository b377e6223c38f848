"""Layer norm in llm.c's style (``layernorm_backward`` in train_gpt2.c): loops over rows, two running means.

Style: llm.c keeps mean and rstd from the forward, and for each row accumulates
dnorm_mean = mean(dnorm) and dnorm_norm_mean = mean(dnorm * norm), then
dx = rstd * (dnorm - dnorm_mean - norm * dnorm_norm_mean). Written here with an explicit
loop over (b, t), as the C code is. Correct.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
HYPERPARAMETERS = {"eps": (1e-8, 1e-3)}
EXPECT = "verified"


def init(shape, *, seed=0):
    rng = np.random.default_rng(seed + 7)
    C = shape[-1]
    return {"w": 1.0 + 0.2 * rng.standard_normal(C), "b": 0.2 * rng.standard_normal(C)}


def forward(params, x, *, eps=1e-5):
    xp = array_namespace(x, *params.values())
    mean = xp.sum(x, axis=-1, keepdims=True) / x.shape[-1]
    xshift = x - mean
    v = xp.sum(xshift * xshift, axis=-1, keepdims=True) / x.shape[-1]
    rstd = 1.0 / xp.sqrt(v + eps)
    return xshift * rstd * params["w"] + params["b"]


def vjp(params, x, dout, *, eps=1e-5):
    B, T, C = x.shape
    w = params["w"]
    dx, dw, db = np.zeros(x.shape), np.zeros(C), np.zeros(C)
    for b in range(B):
        for t in range(T):
            row = x[b, t]
            mean = row.sum() / C
            rstd = 1.0 / np.sqrt(((row - mean) ** 2).sum() / C + eps)
            norm = (row - mean) * rstd
            dnorm = w * dout[b, t]
            dnorm_mean = dnorm.mean()
            dnorm_norm_mean = (dnorm * norm).mean()
            db += dout[b, t]
            dw += norm * dout[b, t]
            dx[b, t] = (dnorm - dnorm_mean - norm * dnorm_norm_mean) * rstd
    return {"w": dw, "b": db}, dx

"""Causal attention whose backward forgets the 1/sqrt(D) of the scores: dq and dk are sqrt(D) times too large.

Style: a NumPy transformer from a tutorial where the scale was added to the forward ("scaled
dot-product attention") after the backward had been written for plain dot products. dv and dWo
are right. Invisible at D = 1. Slip: attention_scale.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
EXPECT = "wrong"
TRAP = "attention_scale"


def init(shape, *, seed=0):
    rng = np.random.default_rng(seed)
    C = shape[-1]
    D = 4
    return {k: rng.standard_normal((C, D)) / np.sqrt(C) for k in ("Wq", "Wk", "Wv")} | {
        "Wo": rng.standard_normal((D, C)) / 2.0
    }


def _probs(s, xp):
    T = s.shape[-1]
    s = xp.where(xp.arange(T)[None, :] > xp.arange(T)[:, None], -xp.inf, s)
    e = xp.exp(s - xp.max(s, axis=-1, keepdims=True))
    return e / xp.sum(e, axis=-1, keepdims=True)


def forward(params, x):
    xp = array_namespace(x, *params.values())
    D = params["Wq"].shape[1]
    q, k, v = x @ params["Wq"], x @ params["Wk"], x @ params["Wv"]
    p = _probs(xp.matmul(q, xp.permute_dims(k, (0, 2, 1))) / D**0.5, xp)
    return xp.matmul(p, v) @ params["Wo"]


def vjp(params, x, dout):
    Wq, Wk, Wv, Wo = params["Wq"], params["Wk"], params["Wv"], params["Wo"]
    D = Wq.shape[1]
    q, k, v = x @ Wq, x @ Wk, x @ Wv
    p = _probs(q @ k.transpose(0, 2, 1) / np.sqrt(D), np)
    dy = dout @ Wo.T
    dp, dv = dy @ v.transpose(0, 2, 1), p.transpose(0, 2, 1) @ dy
    ds = p * (dp - np.sum(p * dp, axis=-1, keepdims=True))  # the slip: no / sqrt(D)
    dq, dk = ds @ k, ds.transpose(0, 2, 1) @ q
    grads = {
        "Wq": np.einsum("btc,btd->cd", x, dq),
        "Wk": np.einsum("btc,btd->cd", x, dk),
        "Wv": np.einsum("btc,btd->cd", x, dv),
        "Wo": np.einsum("btd,btc->dc", p @ v, dout),
    }
    return grads, dq @ Wq.T + dk @ Wk.T + dv @ Wv.T

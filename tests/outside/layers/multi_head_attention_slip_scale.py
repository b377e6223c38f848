"""Multi-head causal attention (H = 2) whose backward scales by 1/sqrt(d_model) = 1/sqrt(H·D), not by 1/sqrt(D).

Style: a fused NumPy implementation where the forward computes ``scale = 1 / sqrt(head_dim)`` and the
hand backward, written against the single-head version, reuses ``1 / sqrt(d_model)`` from the enclosing
scope. dq, dk, dWq and dWk come out sqrt(H) times too small; invisible with one head.
Slip: attention_scale.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
EXPECT = "wrong"
TRAP = "attention_scale"
H = 2


def init(shape, *, seed=0):
    rng = np.random.default_rng(seed)
    C = shape[-1]
    d_model = H * (C + 1)
    return {k: rng.standard_normal((C, d_model)) / np.sqrt(C) for k in ("Wq", "Wk", "Wv")} | {
        "Wo": rng.standard_normal((d_model, C)) / np.sqrt(d_model)
    }


def _split(a, xp):
    B, T, HD = a.shape
    return xp.permute_dims(xp.reshape(a, (B, T, H, HD // H)), (0, 2, 1, 3))


def _merge(a, xp):
    B, _, T, D = a.shape
    return xp.reshape(xp.permute_dims(a, (0, 2, 1, 3)), (B, T, H * D))


def _probs(q, k, xp):
    T, head_dim = q.shape[2], q.shape[3]
    s = xp.matmul(q, xp.permute_dims(k, (0, 1, 3, 2))) / head_dim**0.5
    s = xp.where(xp.arange(T)[None, :] > xp.arange(T)[:, None], -xp.inf, s)
    e = xp.exp(s - xp.max(s, axis=-1, keepdims=True))
    return e / xp.sum(e, axis=-1, keepdims=True)


def forward(params, x):
    xp = array_namespace(x, *params.values())
    q, k, v = (_split(x @ params[w], xp) for w in ("Wq", "Wk", "Wv"))
    return _merge(xp.matmul(_probs(q, k, xp), v), xp) @ params["Wo"]


def vjp(params, x, dout):
    Wq, Wk, Wv, Wo = params["Wq"], params["Wk"], params["Wv"], params["Wo"]
    d_model = Wq.shape[1]
    q, k, v = (_split(x @ w, np) for w in (Wq, Wk, Wv))
    p = _probs(q, k, np)
    dy = _split(dout @ Wo.T, np)
    dp, dv = dy @ v.transpose(0, 1, 3, 2), p.transpose(0, 1, 3, 2) @ dy
    ds = p * (dp - np.sum(p * dp, axis=-1, keepdims=True)) / np.sqrt(d_model)  # the slip: d_model, not head_dim
    dq, dk = _merge(ds @ k, np), _merge(ds.transpose(0, 1, 3, 2) @ q, np)
    dv = _merge(dv, np)
    grads = {
        "Wq": np.einsum("btc,btd->cd", x, dq),
        "Wk": np.einsum("btc,btd->cd", x, dk),
        "Wv": np.einsum("btc,btd->cd", x, dv),
        "Wo": np.einsum("btd,btc->dc", _merge(p @ v, np), dout),
    }
    return grads, dq @ Wq.T + dk @ Wk.T + dv @ Wv.T

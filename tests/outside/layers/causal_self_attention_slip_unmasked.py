"""Causal attention whose backward recomputes the attention weights without the causal mask.

Style: a memory-saving backward (as FlashAttention-style kernels do) that keeps only q, k, v and
recomputes P = softmax(q kᵀ / sqrt(D)) instead of storing it, and forgets to mask it again. The
forward is right; the backward lets gradient flow from each position to the future ones.
Slip: attention_unmasked.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
EXPECT = "wrong"
TRAP = "attention_unmasked"


def init(shape, *, seed=0):
    rng = np.random.default_rng(seed)
    C = shape[-1]
    D = C + 1
    return {k: rng.standard_normal((C, D)) / np.sqrt(C) for k in ("Wq", "Wk", "Wv")} | {
        "Wo": rng.standard_normal((D, C)) / np.sqrt(D)
    }


def forward(params, x):
    xp = array_namespace(x, *params.values())
    T, D = x.shape[1], params["Wq"].shape[1]
    q, k, v = x @ params["Wq"], x @ params["Wk"], x @ params["Wv"]
    s = xp.matmul(q, xp.permute_dims(k, (0, 2, 1))) / D**0.5
    s = xp.where(xp.arange(T)[None, :] > xp.arange(T)[:, None], -xp.inf, s)
    e = xp.exp(s - xp.max(s, axis=-1, keepdims=True))
    return xp.matmul(e / xp.sum(e, axis=-1, keepdims=True), v) @ params["Wo"]


def vjp(params, x, dout):
    Wq, Wk, Wv, Wo = params["Wq"], params["Wk"], params["Wv"], params["Wo"]
    D = Wq.shape[1]
    q, k, v = x @ Wq, x @ Wk, x @ Wv
    s = q @ k.transpose(0, 2, 1) / np.sqrt(D)  # the slip: recomputed without the causal mask
    e = np.exp(s - s.max(-1, keepdims=True))
    p = e / e.sum(-1, keepdims=True)
    dy = dout @ Wo.T
    dp, dv = dy @ v.transpose(0, 2, 1), p.transpose(0, 2, 1) @ dy
    ds = p * (dp - np.sum(p * dp, axis=-1, keepdims=True)) / np.sqrt(D)
    dq, dk = ds @ k, ds.transpose(0, 2, 1) @ q
    grads = {
        "Wq": np.einsum("btc,btd->cd", x, dq),
        "Wk": np.einsum("btc,btd->cd", x, dk),
        "Wv": np.einsum("btc,btd->cd", x, dv),
        "Wo": np.einsum("btd,btc->dc", p @ v, dout),
    }
    return grads, dq @ Wq.T + dk @ Wk.T + dv @ Wv.T

"""Multi-head causal self-attention written head by head (a loop, as a first implementation often is),
whose backward recomputes the attention weights without the causal mask.

The forward masks the future; the backward's softmax does not, so gradient flows from each output to
inputs at later positions, which it does not depend on.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
H = 2


def init(shape, *, seed=0):
    rng = np.random.default_rng(seed)
    C = shape[-1]
    return {w: rng.standard_normal((C, C)) / np.sqrt(C) for w in ("Wq", "Wk", "Wv", "Wo")}


def forward(params, x):
    xp = array_namespace(x, *params.values())
    T, HD = x.shape[1], params["Wq"].shape[1]
    D = HD // H
    q, k, v = x @ params["Wq"], x @ params["Wk"], x @ params["Wv"]
    future = xp.arange(T)[None, :] > xp.arange(T)[:, None]
    heads = []
    for h in range(H):
        sl = slice(h * D, (h + 1) * D)
        s = xp.matmul(q[..., sl], xp.permute_dims(k[..., sl], (0, 2, 1))) / D**0.5
        s = xp.where(future, -xp.inf, s)
        e = xp.exp(s - xp.max(s, axis=-1, keepdims=True))
        heads.append(xp.matmul(e / xp.sum(e, axis=-1, keepdims=True), v[..., sl]))
    return xp.concat(heads, axis=-1) @ params["Wo"]


def vjp(params, x, dout):
    Wq, Wk, Wv, Wo = params["Wq"], params["Wk"], params["Wv"], params["Wo"]
    D = Wq.shape[1] // H
    q, k, v = x @ Wq, x @ Wk, x @ Wv
    ys, dq, dk, dv = [], np.zeros_like(q), np.zeros_like(k), np.zeros_like(v)
    dy = dout @ Wo.T
    for h in range(H):
        sl = slice(h * D, (h + 1) * D)
        s = q[..., sl] @ k[..., sl].transpose(0, 2, 1) / np.sqrt(D)
        e = np.exp(s - s.max(-1, keepdims=True))  # no mask here
        p = e / e.sum(-1, keepdims=True)
        ys.append(p @ v[..., sl])
        dp = dy[..., sl] @ v[..., sl].transpose(0, 2, 1)
        dv[..., sl] = p.transpose(0, 2, 1) @ dy[..., sl]
        ds = p * (dp - (p * dp).sum(-1, keepdims=True)) / np.sqrt(D)
        dq[..., sl] = ds @ k[..., sl]
        dk[..., sl] = ds.transpose(0, 2, 1) @ q[..., sl]
    y = np.concatenate(ys, axis=-1)
    grads = {
        "Wq": np.einsum("btc,btd->cd", x, dq),
        "Wk": np.einsum("btc,btd->cd", x, dk),
        "Wv": np.einsum("btc,btd->cd", x, dv),
        "Wo": np.einsum("btd,btc->dc", y, dout),
    }
    return grads, dq @ Wq.T + dk @ Wk.T + dv @ Wv.T

"""Multi-head causal self-attention: H = 2 heads of size D, each a causal attention, concatenated, then Wo.

Derivation: derivations/layers/multi_head_attention.md

Shapes: x is (B, T, C); Wq, Wk, Wv are (C, H·D); Wo is (H·D, C); the output is (B, T, C).
Head h uses columns h·D … h·D + D − 1 of Wq, Wk, Wv (the reshape (B, T, H·D) → (B, T, H, D)).
D = C + 1 (init's choice). Each head scales by 1/sqrt(D), its own head size, not by 1/sqrt(H·D).
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
H = 2  # the number of heads


def init(shape, *, seed=0) -> dict:
    """Weights with entries of size 1/sqrt(fan-in); head size D = C + 1."""
    rng = np.random.default_rng(seed)
    C = shape[-1]
    HD = H * (C + 1)
    return {
        "Wq": rng.standard_normal((C, HD)) / np.sqrt(C),
        "Wk": rng.standard_normal((C, HD)) / np.sqrt(C),
        "Wv": rng.standard_normal((C, HD)) / np.sqrt(C),
        "Wo": rng.standard_normal((HD, C)) / np.sqrt(HD),
    }


def split(a, xp):
    """(B, T, H·D) → (B, H, T, D): head h is columns h·D … h·D + D − 1 (eq. 1)."""
    B, T, HD = a.shape
    return xp.permute_dims(xp.reshape(a, (B, T, H, HD // H)), (0, 2, 1, 3))


def merge(a, xp):
    """(B, H, T, D) → (B, T, H·D): the heads side by side, the inverse of split (eq. 4)."""
    B, _, T, D = a.shape
    return xp.reshape(xp.permute_dims(a, (0, 2, 1, 3)), (B, T, H * D))


def forward(params, x, *, saved=None):
    """out = concat_h(softmax(mask(q_h k_hᵀ / sqrt(D))) v_h) Wo (eqs. 1–5); a dict ``saved`` receives q, k, v,
    the weights p and the heads' output y, which vjp reuses (a network's backward keeps them from its forward)."""
    xp = array_namespace(x, *params.values())
    T, D = x.shape[1], params["Wq"].shape[1] // H
    q, k, v = (split(x @ params[w], xp) for w in ("Wq", "Wk", "Wv"))  # (B, H, T, D)   (eq. 1)
    s = xp.matmul(q, xp.permute_dims(k, (0, 1, 3, 2))) / D**0.5  # (B, H, T, T)   (eq. 2)
    future = xp.arange(T)[None, :] > xp.arange(T)[:, None]  # j > i
    s = xp.where(future, -xp.inf, s)  # (eqs. 3, 12)
    e = xp.exp(s - xp.max(s, axis=-1, keepdims=True))  # (eq. 12)
    p = e / xp.sum(e, axis=-1, keepdims=True)  # (eq. 3)
    y = merge(xp.matmul(p, v), xp)  # (B, T, H·D)   (eq. 4)
    if saved is not None:
        saved.update(q=q, k=k, v=v, p=p, y=y)
    return y @ params["Wo"]  # (eq. 5)


def vjp(params, x, dout, *, saved=None):
    """Each head's backward is the single head's (eqs. 7–10); split and merge swap roles (eq. 11)."""
    Wq, Wk, Wv, Wo = params["Wq"], params["Wk"], params["Wv"], params["Wo"]
    D = Wq.shape[1] // H  # the head size
    if saved is None:  # called alone: the forward again, for q, k, v, p and y
        forward(params, x, saved=(saved := {}))
    q, k, v, p, y = (saved[n] for n in "qkvpy")  # (B, H, T, D) ×3, (B, H, T, T), (B, T, H·D); masked p are 0
    dWo = rows(y).T @ rows(dout)  # a sum over b and t, as one matrix product   (eq. 7)
    dy = split(dout @ Wo.T, np)  # merge's backward is split (eqs. 7, 11)
    dp = dy @ v.transpose(0, 1, 3, 2)  # (B, H, T, T)   (eq. 8)
    dv = p.transpose(0, 1, 3, 2) @ dy  # (eq. 8)
    ds = p * (dp - np.sum(p * dp, axis=-1, keepdims=True)) / np.sqrt(D)  # D per head (eqs. 9, 10)
    dq, dk = ds @ k, ds.transpose(0, 1, 3, 2) @ q  # (eq. 10)
    dq, dk, dv = merge(dq, np), merge(dk, np), merge(dv, np)  # split's backward is merge (eq. 11)
    X = rows(x)
    grads = {"Wq": X.T @ rows(dq), "Wk": X.T @ rows(dk), "Wv": X.T @ rows(dv), "Wo": dWo}  # (eq. 11)
    return grads, dq @ Wq.T + dk @ Wk.T + dv @ Wv.T  # (eq. 11)


def rows(a):
    """(B, T, K) → (B·T, K): every position a row, so that a sum over b and t is one matrix product."""
    return np.reshape(a, (-1, a.shape[-1]))

"""Single-head causal self-attention: each position attends to itself and the positions before it.

Derivation: derivations/layers/causal_self_attention.md

Shapes: x is (B, T, C); Wq, Wk, Wv are (C, D); Wo is (D, C); the output is (B, T, C).
D = C + 1 (init's choice, so that no transpose has another weight's shape). The scores are
scaled by 1/sqrt(D); a score S[i, j] with j > i (a future position) is replaced by −inf
before the softmax, which subtracts the row max, so every exp is ≤ 1 and the masked
weights are exactly 0.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")


def init(shape, *, seed=0) -> dict:
    """Weights with entries of size 1/sqrt(fan-in); D = C + 1."""
    rng = np.random.default_rng(seed)
    C = shape[-1]
    D = C + 1
    return {
        "Wq": rng.standard_normal((C, D)) / np.sqrt(C),
        "Wk": rng.standard_normal((C, D)) / np.sqrt(C),
        "Wv": rng.standard_normal((C, D)) / np.sqrt(C),
        "Wo": rng.standard_normal((D, C)) / np.sqrt(D),
    }


def forward(params, x):
    """out = softmax(mask(q kᵀ / sqrt(D))) v Wo with q, k, v = x Wq, x Wk, x Wv (eqs. 1–5)."""
    xp = array_namespace(x, *params.values())
    T, D = x.shape[1], params["Wq"].shape[1]
    q, k, v = x @ params["Wq"], x @ params["Wk"], x @ params["Wv"]  # (B, T, D) each   (eq. 1)
    s = xp.matmul(q, xp.permute_dims(k, (0, 2, 1))) / D**0.5  # (B, T, T)   (eq. 2)
    future = xp.arange(T)[None, :] > xp.arange(T)[:, None]  # j > i, (T, T)
    s = xp.where(future, -xp.inf, s)  # masked before the softmax (eqs. 3, 12)
    e = xp.exp(s - xp.max(s, axis=-1, keepdims=True))  # the diagonal is never masked: the max is finite (eq. 12)
    p = e / xp.sum(e, axis=-1, keepdims=True)  # (eq. 3)
    return xp.matmul(p, v) @ params["Wo"]  # (eqs. 4, 5)


def _softmax_masked(s):
    """Row softmax with the future masked, NumPy (eqs. 3, 12)."""
    T = s.shape[-1]
    s = np.where(np.triu(np.ones((T, T), dtype=bool), k=1), -np.inf, s)
    e = np.exp(s - np.max(s, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def vjp(params, x, dout):
    """Backward through Wo, P v, the softmax, the scale and the three projections (eqs. 6–11)."""
    Wq, Wk, Wv, Wo = params["Wq"], params["Wk"], params["Wv"], params["Wo"]
    D = Wq.shape[1]
    q, k, v = x @ Wq, x @ Wk, x @ Wv
    p = _softmax_masked(q @ k.transpose(0, 2, 1) / np.sqrt(D))  # masked weights are exactly 0
    y = p @ v  # (B, T, D)
    dWo = rows(y).T @ rows(dout)  # a sum over b and t, as one matrix product   (eq. 7)
    dy = dout @ Wo.T  # (eq. 7)
    dp = dy @ v.transpose(0, 2, 1)  # (B, T, T)   (eq. 8)
    dv = p.transpose(0, 2, 1) @ dy  # (B, T, D)   (eq. 8)
    # softmax backward; p = 0 at the future positions, so no gradient flows there (eqs. 6, 9)
    ds = p * (dp - np.sum(p * dp, axis=-1, keepdims=True))  # (B, T, T)   (eq. 9)
    ds = ds / np.sqrt(D)  # the forward's 1/sqrt(D) comes back (eq. 10)
    dq = ds @ k  # (eq. 10)
    dk = ds.transpose(0, 2, 1) @ q  # (eq. 10)
    X = rows(x)
    grads = {"Wq": X.T @ rows(dq), "Wk": X.T @ rows(dk), "Wv": X.T @ rows(dv), "Wo": dWo}  # (eq. 11)
    return grads, dq @ Wq.T + dk @ Wk.T + dv @ Wv.T  # x feeds q, k and v: three terms (eq. 11)


def rows(a):
    """(B, T, K) → (B·T, K): every position a row, so that a sum over b and t is one matrix product."""
    return np.reshape(a, (-1, a.shape[-1]))

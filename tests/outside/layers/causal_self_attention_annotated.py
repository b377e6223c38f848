"""Single-head causal attention in the style of the Annotated Transformer: ``masked_fill(mask == 0, -1e9)``,
with a CS231n-style cache and a backward through the softmax's full Jacobian, row by row.

Style: Harvard NLP's "The Annotated Transformer" ``attention(query, key, value, mask)`` (a finite
mask value −1e9, scores divided by sqrt(d_k)), followed by an output projection. The backward
keeps (q, k, v, p) in a cache and applies diag(p_i) − p_i p_iᵀ to each row of dp: the same
vector as p ⊙ (dp − Σ p dp), formed another way. Correct.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
EXPECT = "verified"


def init(shape, *, seed=0):
    rng = np.random.default_rng(seed + 1)
    C = shape[-1]
    d_k = 3
    return {
        "Wq": rng.standard_normal((C, d_k)),
        "Wk": rng.standard_normal((C, d_k)),
        "Wv": rng.standard_normal((C, d_k)),
        "Wo": rng.standard_normal((d_k, C)),
    }


def _attention(params, x, xp):
    T, d_k = x.shape[1], params["Wq"].shape[1]
    q, k, v = x @ params["Wq"], x @ params["Wk"], x @ params["Wv"]
    scores = xp.matmul(q, xp.permute_dims(k, (0, 2, 1))) / d_k**0.5
    mask = xp.arange(T)[None, :] <= xp.arange(T)[:, None]  # subsequent_mask: 1 on and below the diagonal
    scores = xp.where(mask, scores, -1e9)  # masked_fill(mask == 0, -1e9)
    scores = scores - xp.max(scores, axis=-1, keepdims=True)
    p_attn = xp.exp(scores) / xp.sum(xp.exp(scores), axis=-1, keepdims=True)
    return xp.matmul(p_attn, v) @ params["Wo"], (q, k, v, p_attn)


def forward(params, x):
    xp = array_namespace(x, *params.values())
    return _attention(params, x, xp)[0]


def vjp(params, x, dout):
    _, (q, k, v, p) = _attention(params, x, np)
    B, T, _ = x.shape
    d_k = q.shape[-1]
    y = p @ v
    dWo = np.einsum("btd,btc->dc", y, dout)
    dy = dout @ params["Wo"].T
    dp = dy @ v.transpose(0, 2, 1)
    dv = p.transpose(0, 2, 1) @ dy
    dscores = np.zeros_like(p)
    for b in range(B):
        for i in range(T):
            jac = np.diag(p[b, i]) - np.outer(p[b, i], p[b, i])  # the softmax Jacobian of row i
            dscores[b, i] = jac @ dp[b, i]
    dscores = dscores / np.sqrt(d_k)
    dq, dk = dscores @ k, dscores.transpose(0, 2, 1) @ q
    grads = {
        "Wq": np.einsum("btc,btd->cd", x, dq),
        "Wk": np.einsum("btc,btd->cd", x, dk),
        "Wv": np.einsum("btc,btd->cd", x, dv),
        "Wo": dWo,
    }
    return grads, dq @ params["Wq"].T + dk @ params["Wk"].T + dv @ params["Wv"].T

"""Multi-head causal attention (H = 2) written as a Python loop over heads, each head a slice of the weights.

Style: the pre-fused form of minGPT / the Annotated Transformer's ``MultiHeadedAttention`` as a list
of heads: ``torch.cat([head(x) for head in self.heads], dim=-1) @ W_o`` (Karpathy's "Let's build GPT"
``MultiHeadAttention``). The backward runs each head's single-head backward on its column block and
adds the heads' dx. Correct.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
EXPECT = "verified"
N_HEAD = 2


def init(shape, *, seed=0):
    rng = np.random.default_rng(seed + 4)
    C = shape[-1]
    hs = 2  # head_size
    return {
        "Wq": rng.standard_normal((C, N_HEAD * hs)) / np.sqrt(C),
        "Wk": rng.standard_normal((C, N_HEAD * hs)) / np.sqrt(C),
        "Wv": rng.standard_normal((C, N_HEAD * hs)) / np.sqrt(C),
        "Wo": rng.standard_normal((N_HEAD * hs, C)) / 2.0,
    }


def _head(x, wq, wk, wv, xp):
    T, hs = x.shape[1], wq.shape[1]
    q, k, v = x @ wq, x @ wk, x @ wv
    wei = xp.matmul(q, xp.permute_dims(k, (0, 2, 1))) * hs**-0.5
    tril = xp.arange(T)[None, :] <= xp.arange(T)[:, None]
    wei = xp.where(tril, wei, -xp.inf)  # masked_fill(tril == 0, -inf)
    wei = xp.exp(wei - xp.max(wei, axis=-1, keepdims=True))
    wei = wei / xp.sum(wei, axis=-1, keepdims=True)
    return xp.matmul(wei, v), (q, k, v, wei)


def forward(params, x):
    xp = array_namespace(x, *params.values())
    hs = params["Wq"].shape[1] // N_HEAD
    cols = [slice(i * hs, (i + 1) * hs) for i in range(N_HEAD)]
    outs = [_head(x, params["Wq"][:, c], params["Wk"][:, c], params["Wv"][:, c], xp)[0] for c in cols]
    return xp.concat(outs, axis=-1) @ params["Wo"]


def vjp(params, x, dout):
    hs = params["Wq"].shape[1] // N_HEAD
    grads = {k: np.zeros(v.shape) for k, v in params.items()}
    dx = np.zeros(x.shape)
    for i in range(N_HEAD):
        c = slice(i * hs, (i + 1) * hs)
        wq, wk, wv = params["Wq"][:, c], params["Wk"][:, c], params["Wv"][:, c]
        y, (q, k, v, wei) = _head(x, wq, wk, wv, np)
        grads["Wo"][c] = np.einsum("btd,btc->dc", y, dout)
        dy = dout @ params["Wo"][c].T
        dwei, dv = dy @ v.transpose(0, 2, 1), wei.transpose(0, 2, 1) @ dy
        ds = wei * (dwei - np.sum(wei * dwei, axis=-1, keepdims=True)) * hs**-0.5
        dq, dk = ds @ k, ds.transpose(0, 2, 1) @ q
        grads["Wq"][:, c] = np.einsum("btc,btd->cd", x, dq)
        grads["Wk"][:, c] = np.einsum("btc,btd->cd", x, dk)
        grads["Wv"][:, c] = np.einsum("btc,btd->cd", x, dv)
        dx += dq @ wq.T + dk @ wk.T + dv @ wv.T
    return grads, dx

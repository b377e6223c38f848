"""A linear (affine) layer on the last axis: out = x W + b, (B, T, C) → (B, T, C_out).

Derivation: derivations/layers/linear.md

Shapes: x is (B, T, C), W is (C, C_out), b is (C_out,), out and dout are (B, T, C_out).
The output width is the file's choice: ``init`` sets C_out = C_OUT, and forward and vjp
read it from W's shape. The same (W, b) acts on every position (b, t); that sharing is
why the parameter gradients are sums over both B and T (eqs. 8, 9).
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
C_OUT = 3  # the output width


def init(shape, *, seed=0) -> dict:
    """W ~ N(0, 1/C), so that out has entries of unit size for x of unit size (eq. 13); b small and random."""
    rng = np.random.default_rng(seed)
    C = shape[-1]
    return {"W": rng.standard_normal((C, C_OUT)) / np.sqrt(C), "b": 0.1 * rng.standard_normal(C_OUT)}


def forward(params, x):
    """out[b, t, :] = x[b, t, :] W + b (eq. 1): (B, T, C) @ (C, C_out) + (C_out,) → (B, T, C_out)."""
    xp = array_namespace(x, *params.values())
    W = params["W"]
    X = xp.reshape(x, (-1, W.shape[0]))  # (B·T, C): every position a row, one matrix product   (eq. 2)
    return xp.reshape(xp.matmul(X, W), (*x.shape[:-1], W.shape[1])) + params["b"]  # (eq. 1)


def vjp(params, x, dout):
    """dW = Xᵀ D, db = Dᵀ 1 and dx = dout Wᵀ (eqs. 8–10), with X and D the (B·T)-row views of x and dout."""
    W = params["W"]
    C, C_out = W.shape
    X = np.reshape(x, (-1, C))  # (B*T, C): every position is a row   (eq. 2)
    D = np.reshape(dout, (-1, C_out))  # (B*T, C_out), the same row order as X
    dW = X.T @ D  # (C, B*T) @ (B*T, C_out) → (C, C_out), a sum over B and T   (eq. 8)
    db = np.sum(D, axis=0)  # (B*T, C_out) → (C_out,): over B AND T, not one of them   (eq. 9)
    dx = np.reshape(D @ W.T, x.shape)  # (B*T, C_out) @ (C_out, C) → (B*T, C) → (B, T, C)   (eq. 10)
    return {"W": dW, "b": db}, dx

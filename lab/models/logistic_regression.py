"""Logistic regression: mean binary cross-entropy of a sigmoid of a linear score.

Derivation: derivations/logistic_regression.md

Shapes: X is (n, d), y is (n,) with labels in {0, 1}, w is (d,), b is ().
Everything stays finite for scores z of any size: the loss uses logaddexp and
the sigmoid only ever forms exp(−|z|).
"""

import numpy as np
from array_api_compat import array_namespace

from lab.blocks import row_blocks

TARGET = "binary"
#: p(1 − p) ≤ 1/4 bounds each sample's curvature, so λ_max(H) ≤ λ_max(X̃ᵀX̃)/(4n) everywhere (eq. 11a).
CURVATURE = 0.25


def init(n_features: int) -> dict:
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def sigmoid(z):
    """σ(z) = 1 / (1 + e^{−z}), computed from e^{−|z|} ≤ 1 so it never overflows (eq. 13)."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def predict(params, X):
    """The probability p_i = σ(x_iᵀ w + b) that y_i = 1 (eq. 2). Returns shape (n,)."""
    return sigmoid(X @ params["w"] + params["b"])


def classify(params, X, threshold: float = 0.5):
    """The class 1 where p_i ≥ threshold and 0 elsewhere. Returns shape (n,)."""
    return (predict(params, X) >= threshold).astype(np.int64)


def loss(params, X, y):
    """Mean binary cross-entropy L = (1/n) Σ_i [log(1 + e^{z_i}) − y_i z_i] (eq. 5)."""
    xp = array_namespace(X, y)
    z = X @ params["w"] + params["b"]  # z_i = x_iᵀ w + b (eq. 1)
    # log(1 + e^z) = logaddexp(0, z): finite for every z, where log(sigmoid) overflows (eq. 12)
    return xp.mean(xp.logaddexp(xp.zeros_like(z), z) - y * z)


def grad(params, X, y):
    """∇_w L = (1/n) Xᵀ (p − y) and ∂L/∂b = (1/n) 1ᵀ (p − y) (eqs. 8, 9), summed over blocks of rows (eq. 9a)."""
    n = X.shape[0]
    g_w, g_b = np.zeros(X.shape[1]), 0.0
    for rows in row_blocks(X):  # a block of X small enough to stay in cache: read from memory once
        p = sigmoid(X[rows] @ params["w"] + params["b"])  # (eq. 2)
        g = p - y[rows]  # ∂ℓ_i/∂z_i = p_i − y_i (eq. 7)
        g_w += X[rows].T @ g
        g_b += np.sum(g)
    return {"w": g_w / n, "b": np.asarray(g_b / n)}


def loss_and_grad(params, X, y):
    """L (eq. 5) and its gradient (eqs. 8, 9) in one pass over X, block by block (eq. 9a), for training.

    The same formulas as ``loss`` and ``grad``; the verifier checks that both parts agree with them.
    """
    n = X.shape[0]
    total, g_w, g_b = 0.0, np.zeros(X.shape[1]), 0.0
    for rows in row_blocks(X):
        z = X[rows] @ params["w"] + params["b"]  # (eq. 1)
        total += np.sum(np.logaddexp(0.0, z) - y[rows] * z)  # (eqs. 5, 12)
        g = sigmoid(z) - y[rows]  # (eq. 7)
        g_w += X[rows].T @ g
        g_b += np.sum(g)
    return total / n, {"w": g_w / n, "b": np.asarray(g_b / n)}


def hessian(params, X, y):
    """The Hessian over (w, b) flattened: (1/n) X̃ᵀ diag(p(1 − p)) X̃ with X̃ = [X, 1] (eq. 11),
    assembled by blocks so X̃ is never built (eq. 11c)."""
    n, d = X.shape
    p = predict(params, X)
    s = p * (1.0 - p) / n
    H = np.empty((d + 1, d + 1))
    H[:d, :d] = X.T @ (s[:, None] * X)
    H[:d, d] = H[d, :d] = X.T @ s
    H[d, d] = np.sum(s)
    return H

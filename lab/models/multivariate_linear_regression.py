"""Multivariate linear regression: y ≈ X w + b, fitted by mean squared error.

Derivation: derivations/multivariate_linear_regression.md

Shapes: X is (n, d), y is (n,), w is (d,) and b is a scalar (shape ()).
The gradient is fully vectorized: one product with X, one with X transposed,
taken block by block over the rows so that X is read from memory once.
"""

import numpy as np
from array_api_compat import array_namespace

from lab.blocks import row_blocks

TARGET = "real"


def init(n_features: int) -> dict:
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    """ŷ = X w + b·1 (eq. 1). Returns shape (n,)."""
    return X @ params["w"] + params["b"]


def loss(params, X, y):
    """Mean squared error L = (1/n) ‖X w + b·1 − y‖² (eq. 2). Returns a scalar."""
    xp = array_namespace(X, y)
    r = predict(params, X) - y  # r = ŷ − y (eq. 3)
    return xp.mean(r * r)


def grad(params, X, y):
    """∇_w L = (2/n) Xᵀ r and ∂L/∂b = (2/n) 1ᵀ r (eqs. 7, 8), summed over blocks of rows (eq. 8b)."""
    n = X.shape[0]
    g_w, g_b = np.zeros(X.shape[1]), 0.0
    for rows in row_blocks(X):  # a block of X small enough to stay in cache: read from memory once
        r = X[rows] @ params["w"] + params["b"] - y[rows]  # (eq. 3)
        g_w += X[rows].T @ r
        g_b += np.sum(r)
    return {"w": (2.0 / n) * g_w, "b": np.asarray((2.0 / n) * g_b)}


def hessian(params, X, y):
    """The Hessian over (w, b) flattened in that order: (2/n) X̃ᵀ X̃ with X̃ = [X, 1] (eq. 10)."""
    Xt = np.hstack([X, np.ones((X.shape[0], 1))])
    return (2.0 / X.shape[0]) * (Xt.T @ Xt)

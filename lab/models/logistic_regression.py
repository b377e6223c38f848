"""Logistic regression: mean binary cross-entropy of a sigmoid of a linear score.

Derivation: derivations/logistic_regression.md

Shapes: X is (n, d), y is (n,) with labels in {0, 1}, w is (d,), b is ().
Everything stays finite for scores z of any size: the loss uses logaddexp and
the sigmoid only ever forms exp(−|z|).

An optional L2 penalty (λ/2)‖w‖² on the weights (not the bias), keyword-only ``lam``, default 0:
the model without it is unchanged. With λ > 0 a minimizer exists even for separable classes
(section 7 of the derivation); it is scikit-learn's ``LogisticRegression(C=1/(n λ))``.
"""

import numpy as np
from array_api_compat import array_namespace

from lab.blocks import row_blocks

TARGET = "binary"
HYPERPARAMETERS = {"lam": (1e-3, 10.0)}
HYPER_DOMAIN = {"lam": "[0, inf)"}  # λ = 0 is the unpenalized model; a negative λ rewards large weights
LAM = 0.0  # the default strength λ: no penalty
#: p(1 − p) ≤ 1/4 bounds each sample's curvature, so λ_max(H) ≤ λ_max(X̃ᵀX̃)/(4n) + λ everywhere (eqs. 11a, 16).
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


def loss(params, X, y, *, lam=LAM):
    """Mean binary cross-entropy L = (1/n) Σ_i [log(1 + e^{z_i}) − y_i z_i] (eq. 5), plus (λ/2)‖w‖² (eq. 14)."""
    xp = array_namespace(X, y)
    w = params["w"]
    z = X @ w + params["b"]  # z_i = x_iᵀ w + b (eq. 1)
    # log(1 + e^z) = logaddexp(0, z): finite for every z, where log(sigmoid) overflows (eq. 12)
    return xp.mean(xp.logaddexp(xp.zeros_like(z), z) - y * z) + 0.5 * lam * xp.sum(w * w)


def grad(params, X, y, *, lam=LAM):
    """∇_w L = (1/n) Xᵀ (p − y) + λ w and ∂L/∂b = (1/n) 1ᵀ (p − y) (eqs. 8, 9, 15), summed over blocks of rows
    (eq. 9a)."""
    n = X.shape[0]
    g_w, g_b = np.zeros(X.shape[1]), 0.0
    for rows in row_blocks(X):  # a block of X small enough to stay in cache: read from memory once
        p = sigmoid(X[rows] @ params["w"] + params["b"])  # (eq. 2)
        g = p - y[rows]  # ∂ℓ_i/∂z_i = p_i − y_i (eq. 7)
        g_w += X[rows].T @ g
        g_b += np.sum(g)
    return {"w": g_w / n + lam * params["w"], "b": np.asarray(g_b / n)}  # + λ w on the weights only (eq. 15)


def loss_and_grad(params, X, y, *, lam=LAM):
    """L (eqs. 5, 14) and its gradient (eqs. 8, 9, 15) in one pass over X, block by block (eq. 9a), for training.

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
    w = params["w"]
    return total / n + 0.5 * lam * np.sum(w * w), {"w": g_w / n + lam * w, "b": np.asarray(g_b / n)}  # (eqs. 14, 15)


def hessian(params, X, y, *, lam=LAM):
    """The Hessian over (w, b) flattened: (1/n) X̃ᵀ diag(p(1 − p)) X̃ with X̃ = [X, 1] (eq. 11),
    assembled by blocks so X̃ is never built (eq. 11c), plus diag(λ, …, λ, 0) (eq. 16)."""
    n, d = X.shape
    p = predict(params, X)
    s = p * (1.0 - p) / n
    H = np.empty((d + 1, d + 1))
    H[:d, :d] = X.T @ (s[:, None] * X)
    H[:d, d] = H[d, :d] = X.T @ s
    H[d, d] = np.sum(s)
    H[np.arange(d), np.arange(d)] += lam  # λ on each weight, 0 on the bias (eq. 16)
    return H

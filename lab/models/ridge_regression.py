"""Ridge regression: y ≈ X w + b, fitted by mean squared error plus (λ/2)‖w‖².

Derivation: derivations/ridge_regression.md

Shapes: X is (n, d), y is (n,), w is (d,) and b is a scalar (shape ()).
The bias is not penalized. The minimizer has a closed form (``closed_form``):
one Cholesky factorization of a (d+1)×(d+1) matrix that λ > 0 keeps positive definite.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "real"
HYPERPARAMETERS = {"lam": (1e-3, 10.0)}
HYPER_DOMAIN = {"lam": "[0, inf)"}  # λ = 0 is least squares; a negative λ rewards large weights
LAM = 0.1  # the default strength λ


def init(n_features: int) -> dict:
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    """ŷ = X w + b·1 (eq. 1). Returns shape (n,)."""
    return X @ params["w"] + params["b"]


def loss(params, X, y, *, lam=LAM):
    """L = (1/n) ‖X w + b·1 − y‖² + (λ/2) ‖w‖² (eq. 2). Returns a scalar."""
    xp = array_namespace(X, y)
    r = predict(params, X) - y  # r = ŷ − y (eq. 3)
    w = params["w"]
    return xp.mean(r * r) + 0.5 * lam * xp.sum(w * w)


def grad(params, X, y, *, lam=LAM):
    """∇_w L = (2/n) Xᵀ r + λ w and ∂L/∂b = (2/n) 1ᵀ r (eqs. 7, 8)."""
    n = X.shape[0]
    r = X @ params["w"] + params["b"] - y  # (eq. 3)
    return {"w": (2.0 / n) * (X.T @ r) + lam * params["w"], "b": np.asarray((2.0 / n) * np.sum(r))}


def hessian(params, X, y, *, lam=LAM):
    """The Hessian over (w, b) flattened: (2/n) X̃ᵀ X̃ + diag(λ, …, λ, 0), X̃ = [X, 1] (eq. 12)."""
    Xt = np.hstack([X, np.ones((X.shape[0], 1))])
    return (2.0 / X.shape[0]) * (Xt.T @ Xt) + np.diag(_penalty(X.shape[1], lam))


def closed_form(X, y, *, lam=LAM) -> dict:
    """The minimizer: solve (2/n X̃ᵀX̃ + diag(λ, …, λ, 0)) θ = (2/n) X̃ᵀ y by Cholesky (eq. 10).

    The matrix is positive definite for every X when λ > 0 (section 4 of the derivation).
    """
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n, d = X.shape
    Xt = np.hstack([X, np.ones((n, 1))])
    A = (2.0 / n) * (Xt.T @ Xt) + np.diag(_penalty(d, lam))  # (eq. 10); the Hessian (eq. 12)
    C = np.linalg.cholesky(A)  # A = C Cᵀ, C lower triangular (eq. 11)
    theta = np.linalg.solve(C.T, np.linalg.solve(C, (2.0 / n) * (Xt.T @ y)))
    return {"w": theta[:d], "b": np.asarray(theta[d])}


def _penalty(d: int, lam) -> np.ndarray:
    """The diagonal (λ, …, λ, 0): λ on each weight, 0 on the bias (eq. 9)."""
    return np.append(np.full(d, float(lam)), 0.0)

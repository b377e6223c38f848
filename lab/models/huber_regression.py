"""Huber regression: y ≈ X w + b, fitted by the mean Huber loss of the residuals.

Derivation: derivations/huber_regression.md

Shapes: X is (n, d), y is (n,), w is (d,) and b is a scalar (shape ()).
A residual r costs r²/2 while |r| ≤ δ and δ(|r| − δ/2) beyond, so outliers pull
with a bounded force δ. The loss is differentiable once: its second derivative
jumps where |r| = δ (KINK_ORDER = 2). There is no penalty on w.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "real"
HYPERPARAMETERS = {"delta": (0.1, 10.0)}
HYPER_DOMAIN = {"delta": "(0, inf)"}  # δ is a distance; at δ = 0 the loss is 0 everywhere
KINK_ORDER = 2  # the gradient is continuous; the Hessian jumps at |r| = δ (eq. 9)
#: ρ''(r) ∈ {0, 1}, so λ_max(H) ≤ λ_max(X̃ᵀX̃)/n at every θ (eq. 11).
CURVATURE = 1.0
DELTA = 1.0  # the default threshold δ


def init(n_features: int) -> dict:
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    """ŷ = X w + b·1 (eq. 1). Returns shape (n,)."""
    return X @ params["w"] + params["b"]


def loss(params, X, y, *, delta=DELTA):
    """L = (1/n) Σ_i ρ_δ(r_i), ρ_δ(r) = r²/2 for |r| ≤ δ, δ(|r| − δ/2) beyond (eqs. 2, 4)."""
    xp = array_namespace(X, y)
    r = predict(params, X) - y  # r = ŷ − y (eq. 3)
    a = xp.abs(r)
    return xp.mean(xp.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta)))


def grad(params, X, y, *, delta=DELTA):
    """∇_w L = (1/n) Xᵀ ψ and ∂L/∂b = (1/n) 1ᵀ ψ, with ψ_i = clip(r_i, −δ, δ) (eqs. 5, 7, 8)."""
    n = X.shape[0]
    r = X @ params["w"] + params["b"] - y  # (eq. 3)
    psi = np.clip(r, -delta, delta) / n  # ρ_δ'(r_i) = r_i inside, δ·sign(r_i) outside (eq. 5)
    return {"w": X.T @ psi, "b": np.asarray(np.sum(psi))}


def hessian(params, X, y, *, delta=DELTA):
    """The Hessian over (w, b) flattened: (1/n) X̃ᵀ diag(1[|r| ≤ δ]) X̃ (eq. 10).

    Valid away from the kinks |r_i| = δ; at a kink it takes the inside value 1 (eq. 9).
    """
    r = predict(params, X) - y
    Xt = np.hstack([X, np.ones((X.shape[0], 1))])
    s = (np.abs(r) <= delta) / X.shape[0]  # ρ_δ''(r_i): 1 inside, 0 outside (eq. 9)
    return Xt.T @ (s[:, None] * Xt)


def kink_distance(params, X, y, *, delta=DELTA) -> np.ndarray:
    """Per sample, the distance of the residual to the kinks r = ±δ: | |r_i| − δ | (eq. 9).

    Returns shape (n,).
    """
    r = predict(params, X) - y
    return np.abs(np.abs(r) - delta)

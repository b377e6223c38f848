"""Poisson regression: counts with mean μ = e^{X w + b}, fitted by the mean negative log-likelihood.

Derivation: derivations/poisson_regression.md

Shapes: X is (n, d), y is (n,) with counts 0, 1, 2, …, w is (d,), b is ().
The loss drops the constant log(y!), so it is (1/n) Σ_i (e^{z_i} − y_i z_i). Domain:
e^z is finite for z ≤ 709.78 (log of the largest double). Beyond, the loss is +inf,
while grad and hessian factor out e^{max z} and return ±inf only for entries whose
true value exceeds the largest double: never NaN.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "counts"


def init(n_features: int) -> dict:
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    """The mean count μ_i = e^{z_i}, z_i = x_iᵀ w + b (eqs. 1, 2). Shape (n,); inf past 709.78."""
    return np.exp(X @ params["w"] + params["b"])


def loss(params, X, y):
    """Mean negative log-likelihood L = (1/n) Σ_i (e^{z_i} − y_i z_i), without log(y_i!) (eq. 5)."""
    xp = array_namespace(X, y)
    z = X @ params["w"] + params["b"]  # z_i = x_iᵀ w + b (eq. 1)
    # y z, never y log μ (eq. 13); +inf once a z_i > 709.78, never NaN: y z is finite (eq. 14)
    return xp.mean(xp.exp(z) - y * z)


def grad(params, X, y):
    """∇_w L = (1/n) Xᵀ (μ − y) and ∂L/∂b = (1/n) 1ᵀ (μ − y) (eqs. 8, 9)."""
    n = X.shape[0]
    z = X @ params["w"] + params["b"]  # (eq. 1)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is caught just below
        g = (np.exp(z) - y) / n  # ∂ℓ_i/∂z_i = μ_i − y_i, divided by n for the mean (eq. 7)
        gw, gb = X.T @ g, np.sum(g)
    if np.isfinite(gw).all() and np.isfinite(gb):
        return {"w": gw, "b": np.asarray(gb)}
    # some e^{z_i} or a product with it overflowed: factor out e^{max z} (eq. 15)
    Xt = np.hstack([X, np.ones((n, 1))])
    m = np.max(z)
    g = _times_exp(Xt.T @ np.exp(z - m) / n, m) - Xt.T @ y / n
    return {"w": g[:-1], "b": np.asarray(g[-1])}


def hessian(params, X, y):
    """The Hessian over (w, b) flattened: (1/n) X̃ᵀ diag(μ) X̃ with X̃ = [X, 1] (eq. 11)."""
    n = X.shape[0]
    z = X @ params["w"] + params["b"]
    Xt = np.hstack([X, np.ones((n, 1))])
    with np.errstate(over="ignore", invalid="ignore"):
        H = Xt.T @ (np.exp(z)[:, None] * Xt) / n
    if np.isfinite(H).all():
        return H
    m = np.max(z)  # as in grad: e^m (1/n) X̃ᵀ diag(e^{z − m}) X̃ (eq. 15)
    return _times_exp(Xt.T @ (np.exp(z - m)[:, None] * Xt) / n, m)


def _times_exp(s, m):
    """s·e^m as sign(s)·e^{m + log|s|} (eq. 16).

    Exactly 0 where s = 0, even if e^m overflows; ±inf only where s·e^m exceeds the largest double.
    """
    with np.errstate(divide="ignore"):  # log 0 = −inf, and e^{−inf} = 0
        return np.sign(s) * np.exp(m + np.log(np.abs(s)))

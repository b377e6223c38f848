"""Linear regression with one feature: y ≈ w x + b, fitted by mean squared error.

Derivation: derivations/linear_regression.md

Shapes: X is (n, 1), y is (n,), and both parameters are scalars (shape ()).
The gradient is written with explicit sums over the samples, the way it is
derived on paper; multivariate_linear_regression is the vectorized version.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "real"
N_FEATURES = 1


def init(n_features: int = 1) -> dict:
    return {"w": np.zeros(()), "b": np.zeros(())}


def predict(params, X):
    """ŷ_i = w x_i + b (eq. 1). Returns shape (n,)."""
    return params["w"] * X[:, 0] + params["b"]


def loss(params, X, y):
    """Mean squared error L = (1/n) Σ_i (w x_i + b − y_i)² (eq. 2). Returns a scalar."""
    xp = array_namespace(X, y)
    r = predict(params, X) - y  # residuals r_i = ŷ_i − y_i (eq. 3)
    return xp.mean(r * r)


def grad(params, X, y):
    """∂L/∂w and ∂L/∂b as sums over the samples (eqs. 6, 7)."""
    x = X[:, 0]
    n = x.shape[0]
    r = params["w"] * x + params["b"] - y  # r_i (eq. 3)
    dw = (2.0 / n) * np.sum(r * x)  # ∂L/∂w = (2/n) Σ_i r_i x_i   (eq. 6)
    db = (2.0 / n) * np.sum(r)  # ∂L/∂b = (2/n) Σ_i r_i       (eq. 7)
    return {"w": np.asarray(dw), "b": np.asarray(db)}


def hessian(params, X, y):
    """The Hessian over (w, b), a constant 2×2 matrix (eq. 9)."""
    x = X[:, 0]
    n = x.shape[0]
    return (2.0 / n) * np.array([[np.sum(x * x), np.sum(x)], [np.sum(x), n]])

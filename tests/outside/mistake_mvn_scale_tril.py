"""A multivariate Gaussian density with a Cholesky scale (as mvn_scale_tril.py); the hand gradient of the
mean forgets ``trans="T"`` in scipy.linalg.solve_triangular: it applies L⁻¹ where L⁻ᵀ belongs.
"""

import numpy as np
from array_api_compat import array_namespace
from scipy.linalg import solve_triangular

TARGET = "real"
EXPECT = "wrong at some points and right at others"


def init(n_features):
    return {"mu": np.zeros(n_features), "L_raw": np.zeros((n_features, n_features))}


def _scale_tril(L_raw, xp):
    d = L_raw.shape[0]
    rows = xp.arange(d)
    strict = xp.astype(rows[:, None] > rows[None, :], L_raw.dtype)
    eye = xp.astype(rows[:, None] == rows[None, :], L_raw.dtype)
    return strict * L_raw + eye * xp.exp(xp.linalg.diagonal(L_raw))[None, :]


def predict(params, X):
    return np.zeros(X.shape[0])


def loss(params, X, y):
    xp = array_namespace(X, y)
    n, d = X.shape
    L = _scale_tril(params["L_raw"], xp)
    Z = xp.linalg.solve(L, (X - params["mu"]).T)
    maha = xp.sum(Z * Z) / n
    return 0.5 * maha + xp.sum(xp.linalg.diagonal(params["L_raw"])) + 0.5 * d * np.log(2 * np.pi)


def grad(params, X, y):
    n, d = X.shape
    L = _scale_tril(params["L_raw"], np)
    Z = solve_triangular(L, (X - params["mu"]).T, lower=True)
    g_mu = -solve_triangular(L, Z.mean(axis=1), lower=True)  # trans="T" forgotten: L⁻¹ for L⁻ᵀ
    g_L = -solve_triangular(L, Z @ Z.T / n, lower=True, trans="T")
    g_L = np.tril(g_L)
    g_raw = g_L.copy()
    idx = np.arange(d)
    g_raw[idx, idx] = g_L[idx, idx] * L[idx, idx] + 1.0
    return {"mu": g_mu, "L_raw": g_raw}

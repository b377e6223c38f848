"""Bayesian linear regression: the negative log evidence over (log α, log β), divided by n.

Style: the loss is Bishop's PRML eq. 3.86 through a Cholesky factor of A = αI + βXᵀX (the
log-determinant from the factor's diagonal, the posterior mean m = βA⁻¹Xᵀy from two solves). The
hand gradient is scikit-learn's BayesianRidge way: one SVD of X, the eigenvalues of XᵀX, and the
evidence's derivatives (PRML 3.87-3.92; m is the minimizer of E, so it drops out):
∂/∂α = d/2α − ½ mᵀm − ½ Σ 1/(α+βλ), ∂/∂β = n/2β − ½ ‖y − Xm‖² − ½ Σ λ/(α+βλ).

Once the audit found autodiff breaking its rounding bound here under the extreme profile (a solve's
bound lacked its own backward error), and the default profile called 2 cases inexact with an invented
cause; the rounding rules for cholesky and triangular_solve carry that error now.
"""

import numpy as np
from array_api_compat import array_namespace
from scipy import linalg

TARGET = "real"
EXPECT = "verified"


def init(n_features):
    return {"log_alpha": np.zeros(()), "log_beta": np.zeros(())}


def _posterior_mean(params, X, y):
    alpha, beta = np.exp(params["log_alpha"]), np.exp(params["log_beta"])
    n, d = X.shape
    U, S, Vh = linalg.svd(X, full_matrices=True)
    ev = np.zeros(d)
    ev[: S.shape[0]] = S**2
    m = beta * Vh.T @ ((Vh @ (X.T @ y)) / (alpha + beta * ev))
    return m, ev, alpha, beta


def predict(params, X):
    return np.zeros(X.shape[0])  # needs the training data; the evidence is the point here


def loss(params, X, y):
    xp = array_namespace(X, y)
    n, d = X.shape
    alpha, beta = xp.exp(params["log_alpha"]), xp.exp(params["log_beta"])
    rows = xp.arange(d)
    eye = xp.astype(rows[:, None] == rows[None, :], X.dtype)
    A = alpha * eye + beta * (X.T @ X)
    L = xp.linalg.cholesky(A)
    u = xp.linalg.solve(L, (X.T @ y)[:, None])
    m = beta * xp.linalg.solve(L.T, u)[:, 0]
    r = y - X @ m
    E = 0.5 * beta * xp.sum(r * r) + 0.5 * alpha * xp.sum(m * m)
    log_det_A = 2.0 * xp.sum(xp.log(xp.linalg.diagonal(L)))
    log_ev = (
        0.5 * d * params["log_alpha"] + 0.5 * n * params["log_beta"] - E - 0.5 * log_det_A - 0.5 * n * np.log(2 * np.pi)
    )
    return -log_ev / n


def grad(params, X, y):
    n, d = X.shape
    m, ev, alpha, beta = _posterior_mean(params, X, y)
    r = y - X @ m
    d_alpha = 0.5 * d / alpha - 0.5 * m @ m - 0.5 * np.sum(1.0 / (alpha + beta * ev))
    d_beta = 0.5 * n / beta - 0.5 * r @ r - 0.5 * np.sum(ev / (alpha + beta * ev))
    return {"log_alpha": np.asarray(-alpha * d_alpha / n), "log_beta": np.asarray(-beta * d_beta / n)}

"""A multivariate Gaussian density over the rows of X with a learned mean and Cholesky scale; the
hand gradient of the scale forgets ``trans='T'`` in a triangular solve.

Style: ``torch.distributions.MultivariateNormal(mu, scale_tril=L).log_prob(X).mean()`` negated, with
L built like normalizing-flow and VAE code does: the strict lower triangle of a raw matrix plus
exp of its diagonal. y is not used (density estimation). The hand gradient follows
scipy.linalg.solve_triangular: with Z = L⁻¹(X − μ)ᵀ, ∂/∂μ = −L⁻ᵀ mean(z) and
∂/∂L = −L⁻ᵀ mean(z zᵀ) (lower triangle), then the diagonal chain rule exp and the log-det's +1.
mistake_mvn_scale_tril.py is the same code with trans="T" forgotten in the solve for μ.

Once called wrong ("witnesses disagree": forward and reverse mode differed by 3.4e-13 relative through
jnp.linalg.solve, against a tolerance of 7.8e-14): a solve's bound lacked its own backward error. The
rounding rules for lu, triangular_solve and cholesky carry it now.
"""

import numpy as np
from array_api_compat import array_namespace
from scipy.linalg import solve_triangular

TARGET = "real"
EXPECT = "verified"


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
    g_mu = -solve_triangular(L, Z.mean(axis=1), lower=True, trans="T")
    g_L = -solve_triangular(L, Z @ Z.T / n, lower=True, trans="T")
    g_L = np.tril(g_L)
    g_raw = g_L.copy()
    idx = np.arange(d)
    g_raw[idx, idx] = g_L[idx, idx] * L[idx, idx] + 1.0
    return {"mu": g_mu, "L_raw": g_raw}

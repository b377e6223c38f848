"""Linear quantile regression: the check function rho_q(u) = u (q - 1{u < 0}), u = y - x'b.

Style: statsmodels' QuantReg documentation and Koenker's textbook notation, with a hand
subgradient as an IRLS-free gradient method would use it: d rho_q(y - z)/dz = 1{u < 0} - q,
which at a tie u = 0 gives -q, an end of the subdifferential [-q, 1 - q].
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "real"
EXPECT = "verified"
HYPERPARAMETERS = {"q": (0.05, 0.95)}
KINK_ORDER = 1


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return X @ params["w"] + params["b"]


def loss(params, X, y, *, q=0.5):
    xp = array_namespace(X, y)
    u = y - (X @ params["w"] + params["b"])
    return xp.mean(u * (q - xp.astype(u < 0, u.dtype)))


def grad(params, X, y, *, q=0.5):
    nobs = X.shape[0]
    u = y - predict(params, X)
    psi = (u < 0).astype(float) - q  # d rho_q(y - z) / dz
    return {"w": X.T @ psi / nobs, "b": np.asarray(psi.sum() / nobs)}


def kink_distance(params, X, y, *, q=0.5):
    return np.abs(y - predict(params, X))

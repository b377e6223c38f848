"""Two losses a user might write in a file of their own, for the tests of training and figures:

- ``focal_loss``: the binary focal loss (Lin et al., 2017) with γ = 2, a loss and a hand gradient and no
  Hessian;
- ``tukey_biweight``: Tukey's biweight (bisquare) regression loss with c = 4.685, non-convex: every
  residual beyond c costs the same c²/6, so its gradient there is exactly 0. It has a Hessian, which
  changes sign along the path, so no bound on its curvature holds everywhere.
"""

from __future__ import annotations

from pathlib import Path

from lab.model import Model, load

FOCAL = '''"""Binary focal loss on a linear score, gamma = 2: -(1 - p_t)^gamma log p_t."""

import numpy as np
from array_api_compat import array_namespace

TARGET = "binary"


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return 1 / (1 + np.exp(-(X @ params["w"] + params["b"])))


def loss(params, X, y, *, gamma=2.0):
    xp = array_namespace(X, y)
    m = (2 * y - 1) * (X @ params["w"] + params["b"])  # the signed score: p_t = sigmoid(m)
    log_pt = -xp.logaddexp(0.0, -m)
    q = xp.exp(-xp.logaddexp(0.0, m))  # 1 - p_t
    return xp.mean(-(q**gamma) * log_pt)


def grad(params, X, y, *, gamma=2.0):
    s = 2 * y - 1
    m = s * (X @ params["w"] + params["b"])
    log_pt = -np.logaddexp(0.0, -m)
    q = np.exp(-np.logaddexp(0.0, m))
    dm = q**gamma * (gamma * np.exp(log_pt) * log_pt - q)  # d/dm of -q^gamma log p_t, with dq/dm = -p_t q
    g = s * dm / X.shape[0]
    return {"w": X.T @ g, "b": np.asarray(np.sum(g))}
'''

TUKEY = '''"""Tukey biweight regression: rho(r) = c^2/6 (1 - (1 - (r/c)^2)^3) inside |r| <= c, c^2/6 beyond."""

import numpy as np
from array_api_compat import array_namespace

TARGET = "real"
KINK_ORDER = 3  # the second derivative is continuous; the third jumps at |r| = c


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return X @ params["w"] + params["b"]


def loss(params, X, y, *, c=4.685):
    xp = array_namespace(X, y)
    r = X @ params["w"] + params["b"] - y
    u2 = xp.minimum((r / c) ** 2, 1.0)
    return xp.mean(c * c / 6 * (1 - (1 - u2) ** 3))


def grad(params, X, y, *, c=4.685):
    r = X @ params["w"] + params["b"] - y
    u2 = (r / c) ** 2
    psi = np.where(u2 < 1, r * (1 - u2) ** 2, 0.0) / X.shape[0]  # rho'(r), 0 beyond c
    return {"w": X.T @ psi, "b": np.asarray(np.sum(psi))}


def kink_distance(params, X, y, *, c=4.685):
    return np.abs(np.abs(X @ params["w"] + params["b"] - y) - c)


def hessian(params, X, y, *, c=4.685):
    r = X @ params["w"] + params["b"] - y
    u2 = (r / c) ** 2
    s = np.where(u2 < 1, (1 - u2) * (1 - 5 * u2), 0.0) / X.shape[0]  # rho''(r): negative for |r| > c/sqrt(5)
    Xt = np.hstack([X, np.ones((X.shape[0], 1))])
    return Xt.T @ (s[:, None] * Xt)
'''

SOURCES = {"focal_loss": FOCAL, "tukey_biweight": TUKEY}


def write(folder: Path, name: str) -> Path:
    """The user file ``name``.py written into ``folder``."""
    path = Path(folder) / f"{name}.py"
    path.write_text(SOURCES[name])
    return path


def user_model(folder: Path, name: str) -> Model:
    return load(str(write(folder, name)))

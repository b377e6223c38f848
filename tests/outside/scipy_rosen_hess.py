"""SciPy's Rosenbrock function, with its gradient and Hessian: a loss that ignores X and y.

Style: scipy/optimize/_optimize.py, ``rosen``, ``rosen_der`` and ``rosen_hess`` verbatim (the
powers written ``** 2.0``), over the parameters w of length d + 1 (at least two).
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "real"
EXPECT = "verified"


def init(n_features):
    return {"x": np.zeros(n_features + 1)}


def predict(params, X):
    return np.zeros(X.shape[0])


def loss(params, X, y):
    xp = array_namespace(X, y)
    x = params["x"]
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2.0) ** 2.0 + (1 - x[:-1]) ** 2.0, axis=0)


def grad(params, X, y):
    x = params["x"]
    xm = x[1:-1]
    xm_m1 = x[:-2]
    xm_p1 = x[2:]
    der = np.zeros_like(x)
    der[1:-1] = 200 * (xm - xm_m1**2) - 400 * (xm_p1 - xm**2) * xm - 2 * (1 - xm)
    der[0] = -400 * x[0] * (x[1] - x[0] ** 2) - 2 * (1 - x[0])
    der[-1] = 200 * (x[-1] - x[-2] ** 2)
    return {"x": der}


def hessian(params, X, y):
    x = np.atleast_1d(params["x"])
    H = np.diag(-400 * x[:-1], 1) - np.diag(400 * x[:-1], -1)
    diagonal = np.zeros(len(x), dtype=x.dtype)
    diagonal[0] = 1200 * x[0] ** 2 - 400 * x[1] + 2
    diagonal[-1] = 200
    diagonal[1:-1] = 202 + 1200 * x[1:-1] ** 2 - 400 * x[2:]
    H = H + np.diag(diagonal)
    return H

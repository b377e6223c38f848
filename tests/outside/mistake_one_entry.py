"""Linear regression whose first weight's gradient is nudged by a relative 1e-9.

Style: a finite-difference debugging session that was never cleaned up: a perturbation meant for
a numerical check of dw[0] stayed in the returned gradient. Too small to see in a loss curve.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "real"
EXPECT = "single entry"
EPS = 1e-9


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return X @ params["w"] + params["b"]


def loss(params, X, y):
    xp = array_namespace(X, y)
    return 0.5 * xp.mean((X @ params["w"] + params["b"] - y) ** 2)


def grad(params, X, y):
    r = predict(params, X) - y
    g = X.T @ r / len(y)
    g[0] *= 1 + EPS  # debug: perturb dw[0]
    return {"w": g, "b": np.asarray(r.mean())}

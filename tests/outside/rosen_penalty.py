"""Least squares with a Rosenbrock penalty on the weights, written as SciPy's ``rosen`` writes it.

Style: a tutorial that regularizes a regression towards w = 1 with ``scipy.optimize.rosen``'s
expression, float powers and all: ``100.0 * (w[1:] - w[:-1]**2.0)**2.0 + (w - 1)**2.0``. A float
power of a negative base (w − 1 < 0) is computed exactly as the integer power it is.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "real"
EXPECT = "verified"
LAM = 1e-2


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return X @ params["w"] + params["b"]


def loss(params, X, y):
    xp = array_namespace(X, y)
    w = params["w"]
    r = X @ w + params["b"] - y
    penalty = xp.sum(100.0 * (w[1:] - w[:-1] ** 2.0) ** 2.0) + xp.sum((w - 1) ** 2.0)
    return xp.mean(r**2.0) + LAM * penalty


def grad(params, X, y):
    w = params["w"]
    r = predict(params, X) - y
    dpen = 2 * (w - 1)
    inner = 200 * (w[1:] - w[:-1] ** 2)
    dpen[1:] += inner
    dpen[:-1] += -2 * w[:-1] * inner
    return {"w": 2 * X.T @ r / len(y) + LAM * dpen, "b": np.asarray(2 * r.mean())}

"""Logistic regression whose loss is a mean but whose gradient is a sum (the 1/n forgotten).

Style: a NumPy port of a logistic regression class (``fit`` loop with ``gradient = X.T @ (h - y)``),
where the loss was later switched to ``mean`` for nicer printing and the gradient kept summing.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "binary"
EXPECT = "factor n"


def _sigmoid(z):
    return np.exp(-np.logaddexp(0.0, -z))


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return _sigmoid(X @ params["w"] + params["b"])


def loss(params, X, y):
    xp = array_namespace(X, y)
    z = X @ params["w"] + params["b"]
    return xp.mean(xp.logaddexp(0.0, z) - y * z)


def grad(params, X, y):
    h = predict(params, X)
    gradient = X.T @ (h - y)
    return {"w": gradient, "b": np.asarray(np.sum(h - y))}

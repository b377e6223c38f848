"""Least absolute deviations fitted by the subgradient method: the subgradient is X^T sign(r) / n.

Style: lecture notes on subgradient methods (e.g. Boyd's EE364b), where sign(0) = 0 picks the
middle of the subdifferential [-1, 1] of |r| at r = 0.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "real"
EXPECT = "verified"
KINK_ORDER = 1


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return X @ params["w"] + params["b"]


def loss(params, X, y):
    xp = array_namespace(X, y)
    return xp.mean(xp.abs(X @ params["w"] + params["b"] - y))


def grad(params, X, y):
    s = np.sign(predict(params, X) - y)
    return {"w": X.T @ s / len(y), "b": np.asarray(np.mean(s))}


def kink_distance(params, X, y):
    return np.abs(predict(params, X) - y)

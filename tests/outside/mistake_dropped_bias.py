"""Poisson regression whose intercept gradient was left as zero ("intercept handled later").

Style: a GLM written from the statsmodels score equations X^T (y - mu), where the intercept was
meant to be a column of ones in X, then split out as ``b`` without its own gradient.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "counts"
EXPECT = "zero block"


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return np.exp(X @ params["w"] + params["b"])


def loss(params, X, y):
    xp = array_namespace(X, y)
    eta = X @ params["w"] + params["b"]
    return -xp.mean(y * eta - xp.exp(eta))


def grad(params, X, y):
    mu = predict(params, X)
    score = X.T @ (y - mu) / X.shape[0]
    return {"w": -score, "b": np.zeros(())}  # TODO intercept

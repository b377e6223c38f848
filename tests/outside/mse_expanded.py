"""Mean squared error whose gradient expands (y_hat - y) x into y_hat x - y x.

Style: a "linear regression from scratch" blog post that derives
dL/dw = 2/n (sum y_hat_i x_i - sum y_i x_i) and codes the two sums apart. Mathematically the
same gradient; when y_hat is close to y the two sums cancel, so it is right but inexact.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "real"
EXPECT = "verified"


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return X @ params["w"] + params["b"]


def loss(params, X, y):
    xp = array_namespace(X, y)
    return xp.mean((X @ params["w"] + params["b"] - y) ** 2)


def grad(params, X, y):
    n = len(y)
    y_hat = predict(params, X)
    dw = (2 / n) * (X.T @ y_hat - X.T @ y)
    db = (2 / n) * (np.sum(y_hat) - np.sum(y))
    return {"w": dw, "b": np.asarray(db)}

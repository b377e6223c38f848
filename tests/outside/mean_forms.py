"""Least squares with the mean written as sum/n in the loss and as sum * (1/n) in the gradient.

Style: micrograd's demo (``data_loss = sum(losses) * (1.0 / len(losses))``) on the gradient
side, the textbook sum / n on the loss side. 1/n is rounded once more than sum / n, so the two
differ in the last bit even though the formula is the same.
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
    r = X @ params["w"] + params["b"] - y
    return xp.sum(0.5 * r * r) / X.shape[0]


def grad(params, X, y):
    inv_n = 1.0 / len(y)
    r = predict(params, X) - y
    return {"w": (X.T @ r) * inv_n, "b": np.asarray(r.sum() * inv_n)}

"""Half squared error (d2l's squared_loss, (y_hat - y)**2 / 2) with the gradient of the full square.

Style: d2l's ``squared_loss`` for the loss, and a gradient copied from an MSE tutorial
(``2/n X^T (y_hat - y)``): the 1/2 that was put there to cancel the 2 is forgotten.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "real"
EXPECT = "constant factor 2"


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def linreg(X, w, b):
    return X @ w + b


def predict(params, X):
    return linreg(X, params["w"], params["b"])


def loss(params, X, y):
    xp = array_namespace(X, y)
    y_hat = linreg(X, params["w"], params["b"])
    return xp.mean((y_hat - y) ** 2 / 2)


def grad(params, X, y):
    n = len(y)
    err = linreg(X, params["w"], params["b"]) - y
    return {"w": 2 / n * X.T @ err, "b": np.asarray(2 / n * err.sum())}

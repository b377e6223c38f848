"""Polynomial regression on one feature whose gradient builds its features with np.vander.

Style: a curve-fitting notebook. The loss builds x, x^2, x^3 in increasing powers, the gradient
uses ``np.vander(x, 4)[:, :-1]``, whose columns come in decreasing powers: the gradient of w
comes out reversed.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "real"
EXPECT = "transposed or permuted"
N_FEATURES = 1
DEGREE = 3


def init(n_features):
    return {"w": np.zeros(DEGREE), "b": np.zeros(())}


def predict(params, X):
    x = X[:, 0]
    return sum(params["w"][k - 1] * x**k for k in range(1, DEGREE + 1)) + params["b"]


def loss(params, X, y):
    xp = array_namespace(X, y)
    x = X[:, 0]
    powers = xp.stack([x**k for k in range(1, DEGREE + 1)], axis=1)  # x, x^2, x^3
    return xp.mean((powers @ params["w"] + params["b"] - y) ** 2)


def grad(params, X, y):
    V = np.vander(X[:, 0], DEGREE + 1)[:, :-1]  # x^3, x^2, x  (decreasing!)
    r = predict(params, X) - y
    return {"w": 2 * V.T @ r / len(y), "b": np.asarray(2 * r.mean())}

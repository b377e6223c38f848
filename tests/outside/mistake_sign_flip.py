"""Linear regression by gradient descent, from a "from scratch" tutorial, with the residual's sign flipped.

Style: the ubiquitous blog post ``y_pred = X @ w + b; dw = (2/n) * X.T @ (y - y_pred)`` where the
minus of d(y - y_pred)/dw was lost, and ``w -= lr * dw`` then climbs instead of descends.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "real"
EXPECT = "sign flip"


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return X @ params["w"] + params["b"]


def loss(params, X, y):
    xp = array_namespace(X, y)
    return xp.mean((y - (X @ params["w"] + params["b"])) ** 2)


def grad(params, X, y):
    n_samples = X.shape[0]
    y_pred = predict(params, X)
    dw = (2 / n_samples) * np.dot(X.T, (y - y_pred))  # should be (y_pred - y)
    db = (2 / n_samples) * np.sum(y - y_pred)
    return {"w": dw, "b": np.asarray(db)}

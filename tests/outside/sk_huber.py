"""Huber regression with a fixed delta, pointwise gradient from scikit-learn's Cython HuberLoss.

Style: scikit-learn's ``LinearModelLoss``. sklearn's ``HuberLoss(quantile, delta)`` is built for
gradient boosting, which re-estimates delta from a quantile of |residuals| between iterations;
the Cython ``gradient`` itself only reads the fixed ``closs.delta`` given to the constructor, so
``HuberLoss(delta=delta).gradient`` is exactly the derivative for a fixed delta (quantile unused).
"""

import numpy as np
from array_api_compat import array_namespace
from sklearn._loss.loss import HuberLoss

TARGET = "real"
EXPECT = "verified"
HYPERPARAMETERS = {"delta": (0.1, 10.0)}
KINK_ORDER = 2  # continuous gradient; the second derivative jumps at |r| = delta


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return X @ params["w"] + params["b"]


def loss(params, X, y, *, delta=1.0):
    xp = array_namespace(X, y)
    abserr = xp.abs(y - (X @ params["w"] + params["b"]))
    return xp.mean(xp.where(abserr <= delta, 0.5 * abserr**2, delta * (abserr - 0.5 * delta)))


def grad(params, X, y, *, delta=1.0):
    n_samples = X.shape[0]
    raw_prediction = np.ascontiguousarray(X @ params["w"] + params["b"])
    g = HuberLoss(delta=delta).gradient(y_true=np.ascontiguousarray(y), raw_prediction=raw_prediction)
    g /= n_samples  # as sklearn does (grad_pointwise /= sw_sum), before the chain rule
    return {"w": X.T @ g, "b": np.asarray(g.sum())}


def kink_distance(params, X, y, *, delta=1.0):
    return np.abs(np.abs(y - predict(params, X)) - delta)

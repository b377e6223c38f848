"""Least absolute deviations, pointwise (sub)gradient from scikit-learn's Cython AbsoluteError.

Style: scikit-learn's ``LinearModelLoss``: base-loss gradient per sample, chain rule by hand.
sklearn returns sign(raw_prediction - y_true) with -1 at a tie (``1. if raw > y else -1.``):
the left end of the subdifferential [-1, 1] at the kink, which is a valid subgradient.
"""

import numpy as np
from array_api_compat import array_namespace
from sklearn._loss.loss import AbsoluteError

TARGET = "real"
EXPECT = "verified"
KINK_ORDER = 1  # |r| has a corner at r = 0
base_loss = AbsoluteError()


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return X @ params["w"] + params["b"]


def loss(params, X, y):
    xp = array_namespace(X, y)
    return xp.mean(xp.abs(y - (X @ params["w"] + params["b"])))


def grad(params, X, y):
    n_samples = X.shape[0]
    raw_prediction = np.ascontiguousarray(X @ params["w"] + params["b"])
    grad_pointwise = base_loss.gradient(y_true=np.ascontiguousarray(y), raw_prediction=raw_prediction)
    grad_pointwise /= n_samples  # as sklearn does (grad_pointwise /= sw_sum), before the chain rule
    return {"w": X.T @ grad_pointwise, "b": np.asarray(grad_pointwise.sum())}


def kink_distance(params, X, y):
    return np.abs(y - predict(params, X))

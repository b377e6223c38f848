"""Least squares whose pointwise gradient comes from scikit-learn's Cython HalfSquaredError.

Style: scikit-learn's ``LinearModelLoss`` (sklearn/linear_model/_linear_loss.py): the base loss
gives dl/d(raw_prediction) per sample, and the chain rule through
``raw_prediction = X @ coef + intercept`` is written once, by hand. The loss is our own
array-API transcription of sklearn's formula 0.5 * (y_true - raw_prediction)**2.
"""

import numpy as np
from array_api_compat import array_namespace
from sklearn._loss.loss import HalfSquaredError

TARGET = "real"
EXPECT = "verified"
base_loss = HalfSquaredError()


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return X @ params["w"] + params["b"]


def loss(params, X, y):
    xp = array_namespace(X, y)
    raw_prediction = X @ params["w"] + params["b"]
    return xp.mean(0.5 * (y - raw_prediction) ** 2)


def grad(params, X, y):
    n_samples = X.shape[0]
    raw_prediction = np.ascontiguousarray(X @ params["w"] + params["b"])  # the Cython loss wants C order
    grad_pointwise = base_loss.gradient(y_true=np.ascontiguousarray(y), raw_prediction=raw_prediction)
    grad_pointwise /= n_samples  # as sklearn does (grad_pointwise /= sw_sum), before the chain rule
    return {"w": X.T @ grad_pointwise, "b": np.asarray(grad_pointwise.sum())}

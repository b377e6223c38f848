"""Logistic regression, pointwise gradient from scikit-learn's Cython HalfBinomialLoss.

Style: scikit-learn's ``LinearModelLoss`` as used by ``LogisticRegression`` (binary): half the
binomial deviance log(1 + exp(raw)) - y_true * raw, written here with logaddexp.
"""

import numpy as np
from array_api_compat import array_namespace
from sklearn._loss.loss import HalfBinomialLoss

TARGET = "binary"
EXPECT = "verified"
base_loss = HalfBinomialLoss()


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return base_loss.link.inverse(X @ params["w"] + params["b"])  # expit


def loss(params, X, y):
    xp = array_namespace(X, y)
    raw_prediction = X @ params["w"] + params["b"]
    return xp.mean(xp.logaddexp(0.0, raw_prediction) - y * raw_prediction)


def grad(params, X, y):
    n_samples = X.shape[0]
    raw_prediction = np.ascontiguousarray(X @ params["w"] + params["b"])
    grad_pointwise = base_loss.gradient(y_true=np.ascontiguousarray(y), raw_prediction=raw_prediction)
    grad_pointwise /= n_samples  # as sklearn does (grad_pointwise /= sw_sum), before the chain rule
    return {"w": X.T @ grad_pointwise, "b": np.asarray(grad_pointwise.sum())}

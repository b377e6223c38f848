"""Multinomial logistic regression, pointwise gradient from sklearn's Cython HalfMultinomialLoss.

Style: scikit-learn's ``LinearModelLoss`` as used by ``LogisticRegression`` (multinomial). Here
W is (n_features, n_classes) and raw_prediction = X @ W + b is (n_samples, n_classes); sklearn's
per-sample gradient is softmax(raw) - onehot(y), one row per sample.
"""

import numpy as np
from array_api_compat import array_namespace
from sklearn._loss.loss import HalfMultinomialLoss

TARGET = "classes"
EXPECT = "verified"
SHAPES = {"n_classes": (2, 5)}


def init(n_features, *, n_classes=3):
    return {"W": np.zeros((n_features, n_classes)), "b": np.zeros(n_classes)}


def predict(params, X):
    raw = X @ params["W"] + params["b"]
    return HalfMultinomialLoss(n_classes=raw.shape[1]).predict_proba(raw)


def loss(params, X, y):
    xp = array_namespace(X, y)
    raw = X @ params["W"] + params["b"]
    m = xp.max(raw, axis=1, keepdims=True)
    log_sum_exp = m[:, 0] + xp.log(xp.sum(xp.exp(raw - m), axis=1))
    onehot = xp.astype(y[:, None] == xp.arange(raw.shape[1]), raw.dtype)
    return xp.mean(log_sum_exp - xp.sum(onehot * raw, axis=1))


def grad(params, X, y):
    n_samples, n_classes = X.shape[0], params["W"].shape[1]
    raw_prediction = np.ascontiguousarray(X @ params["W"] + params["b"])
    base_loss = HalfMultinomialLoss(n_classes=n_classes)
    grad_pointwise = base_loss.gradient(y_true=np.ascontiguousarray(y), raw_prediction=raw_prediction)
    grad_pointwise /= n_samples  # as sklearn does (grad_pointwise /= sw_sum), before the chain rule
    return {"W": X.T @ grad_pointwise, "b": grad_pointwise.sum(axis=0)}

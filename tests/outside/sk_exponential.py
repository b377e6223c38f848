"""AdaBoost's exponential loss on a linear score, pointwise gradient from sklearn's ExponentialLoss.

Style: scikit-learn's ``LinearModelLoss`` wrapped around the loss that
``GradientBoostingClassifier(loss="exponential")`` uses: y_true * exp(-raw) + (1 - y_true) * exp(raw)
for labels 0/1, i.e. exp(-y' raw) with y' = 2 y - 1.
"""

import numpy as np
from array_api_compat import array_namespace
from sklearn._loss.loss import ExponentialLoss

TARGET = "binary"
EXPECT = "verified"
base_loss = ExponentialLoss()


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return base_loss.link.inverse(X @ params["w"] + params["b"])  # expit(2 raw)


def loss(params, X, y):
    xp = array_namespace(X, y)
    raw_prediction = X @ params["w"] + params["b"]
    return xp.mean(y * xp.exp(-raw_prediction) + (1.0 - y) * xp.exp(raw_prediction))


def grad(params, X, y):
    n_samples = X.shape[0]
    raw_prediction = np.ascontiguousarray(X @ params["w"] + params["b"])
    grad_pointwise = base_loss.gradient(y_true=np.ascontiguousarray(y), raw_prediction=raw_prediction)
    grad_pointwise /= n_samples  # as sklearn does (grad_pointwise /= sw_sum), before the chain rule
    return {"w": X.T @ grad_pointwise, "b": np.asarray(grad_pointwise.sum())}

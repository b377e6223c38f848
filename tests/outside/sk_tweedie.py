"""Tweedie regression (power 1.5, log link), pointwise gradient from sklearn's HalfTweedieLoss.

Style: scikit-learn's ``LinearModelLoss`` as used by ``TweedieRegressor(power=1.5, link="log")``.
Half the Tweedie deviance without constants (sklearn/_loss/_loss.pyx.tp, closs_half_tweedie):
exp((2-p) raw) / (2-p) - y_true * exp((1-p) raw) / (1-p).
"""

import numpy as np
from array_api_compat import array_namespace
from sklearn._loss.loss import HalfTweedieLoss

TARGET = "counts"
EXPECT = "verified"
POWER = 1.5
base_loss = HalfTweedieLoss(power=POWER)


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return np.exp(X @ params["w"] + params["b"])


def loss(params, X, y):
    xp = array_namespace(X, y)
    raw = X @ params["w"] + params["b"]
    p = POWER
    return xp.mean(xp.exp((2.0 - p) * raw) / (2.0 - p) - y * xp.exp((1.0 - p) * raw) / (1.0 - p))


def grad(params, X, y):
    n_samples = X.shape[0]
    raw_prediction = np.ascontiguousarray(X @ params["w"] + params["b"])
    grad_pointwise = base_loss.gradient(y_true=np.ascontiguousarray(y), raw_prediction=raw_prediction)
    grad_pointwise /= n_samples  # as sklearn does (grad_pointwise /= sw_sum), before the chain rule
    return {"w": X.T @ grad_pointwise, "b": np.asarray(grad_pointwise.sum())}

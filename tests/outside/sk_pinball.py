"""Linear quantile regression, pointwise (sub)gradient from scikit-learn's Cython PinballLoss.

Style: scikit-learn's ``LinearModelLoss``, with the base loss rebuilt per call for the quantile
``tau`` (sklearn's ``QuantileRegressor`` solves an LP instead; this is the gradient boosting route).
rho_tau(u) = u * (tau - 1{u < 0}) with u = y_true - raw_prediction; sklearn's gradient is
-tau where y_true >= raw_prediction, else 1 - tau: at a tie, an end of [-tau, 1 - tau].
"""

import numpy as np
from array_api_compat import array_namespace
from sklearn._loss.loss import PinballLoss

TARGET = "real"
EXPECT = "verified"
HYPERPARAMETERS = {"tau": (0.05, 0.95)}
KINK_ORDER = 1


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return X @ params["w"] + params["b"]


def loss(params, X, y, *, tau=0.3):
    xp = array_namespace(X, y)
    u = y - (X @ params["w"] + params["b"])
    return xp.mean(xp.where(u >= 0, tau * u, (tau - 1.0) * u))


def grad(params, X, y, *, tau=0.3):
    n_samples = X.shape[0]
    raw_prediction = np.ascontiguousarray(X @ params["w"] + params["b"])
    g = PinballLoss(quantile=tau).gradient(y_true=np.ascontiguousarray(y), raw_prediction=raw_prediction)
    g /= n_samples  # as sklearn does (grad_pointwise /= sw_sum), before the chain rule
    return {"w": X.T @ g, "b": np.asarray(g.sum())}


def kink_distance(params, X, y, *, tau=0.3):
    return np.abs(y - predict(params, X))

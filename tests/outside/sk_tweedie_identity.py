"""Tweedie regression (power 1.5, identity link), pointwise gradient from HalfTweedieLossIdentity.

Style: scikit-learn's ``LinearModelLoss`` as used by ``TweedieRegressor(power=1.5, link="identity")``.
The mean is raw = X @ coef + intercept itself, and raw**(1 - p) is NaN wherever raw < 0: with drawn
weights and features about half the samples have raw < 0, so the loss is NaN at most points. sklearn
keeps raw > 0 by its start point and line search; a verifier that draws points freely is left with
few checkable cases, and must not call an almost empty run a pass.
"""

import numpy as np
from array_api_compat import array_namespace
from sklearn._loss.loss import HalfTweedieLossIdentity

TARGET = "counts"
EXPECT = "verified"
#: sklearn's pointwise gradient raw^(−p)·(raw − y) overflows for raw below about 1e-205 (at raw = 7e-265,
#: raw^(−1.5) is inf) where the derivative and the loss are finite. NaN or inf where the loss is finite
#: and smooth is wrong (issue 9), so a run that draws such a point, as the Hypothesis searches of both
#: ci and extreme can, fails with this, and only this.
OVERFLOWS = "but the loss is finite here"
POWER = 1.5
base_loss = HalfTweedieLossIdentity(power=POWER)


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return X @ params["w"] + params["b"]


def loss(params, X, y):
    # closs_half_tweedie_identity (sklearn/_loss/_loss.pyx.tp), constants kept so the minimum is 0
    xp = array_namespace(X, y)
    raw = X @ params["w"] + params["b"]
    p = POWER
    tmp = xp.pow(raw, 1.0 - p)
    return xp.mean(raw * tmp / (2.0 - p) - y * tmp / (1.0 - p) + xp.pow(y, 2.0 - p) / ((1.0 - p) * (2.0 - p)))


def grad(params, X, y):
    n_samples = X.shape[0]
    raw_prediction = np.ascontiguousarray(X @ params["w"] + params["b"])
    grad_pointwise = base_loss.gradient(y_true=np.ascontiguousarray(y), raw_prediction=raw_prediction)
    grad_pointwise /= n_samples  # as sklearn does (grad_pointwise /= sw_sum), before the chain rule
    return {"w": X.T @ grad_pointwise, "b": np.asarray(grad_pointwise.sum())}

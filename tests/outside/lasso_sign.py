"""The lasso as course notebooks write it: half the mean squared error plus lam·Σ|w|, with the
subgradient lam·sign(w), which is 0 at w = 0.

Style: a gradient-descent notebook's ``compute_gradient`` with an L1 term added (as in Andrew Ng's
regularization labs, with abs in place of the square). At w_j = 0 the loss has a kink: any slope in
[−lam, lam] is a subgradient, and autodiff takes +lam (JAX's abs′(0) = 1), so autodiff alone would
call sign(0) = 0 wrong. The search draws w = 0 often: zeros are where Hypothesis starts.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "real"
EXPECT = "verified"
LAM = 0.1


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return X @ params["w"] + params["b"]


def loss(params, X, y):
    xp = array_namespace(X, y)
    r = X @ params["w"] + params["b"] - y
    return 0.5 * xp.mean(r * r) + LAM * xp.sum(xp.abs(params["w"]))


def grad(params, X, y):
    m = X.shape[0]
    err = X @ params["w"] + params["b"] - y
    dj_dw = X.T @ err / m + LAM * np.sign(params["w"])
    dj_db = np.sum(err) / m
    return {"w": dj_dw, "b": np.asarray(dj_db)}

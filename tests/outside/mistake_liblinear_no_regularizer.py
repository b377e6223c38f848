"""An L2-regularized squared-hinge SVM (LinearSVC's default loss) whose gradient drops the "w +".

Style: liblinear's ``l2r_l2_svc_fun`` (linear.cpp), which scikit-learn's LinearSVC wraps:
f(w) = 0.5 w'w + C sum_i max(0, 1 - y_i w'x_i)^2, with the intercept as a weight on an appended
constant feature (bias = 1), so it is regularized too. ``grad`` builds the index set
I = {i : y_i z_i < 1}, sets ``z[I] = C y_I (z_I - 1)``, computes ``g = X_I^T z_I`` (subXTv) and
then should return ``g = w + 2 g``: here the loop writes ``g[i] = 2 * g[i]``, dropping the
regularizer's gradient. The squared hinge is once differentiable: its second derivative jumps at
y z = 1 (KINK_ORDER = 2). Both blocks lose their term, w and b alike: the two are removed together.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "signed"
EXPECT = "missing or extra terms -1·b, -1·w in the gradients of b, w"
HYPERPARAMETERS = {"C": (0.01, 10.0)}
HYPER_DOMAIN = {"C": "(0, inf)"}
KINK_ORDER = 2


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return np.where(X @ params["w"] + params["b"] > 0, 1.0, -1.0)


def loss(params, X, y, *, C=1.0):
    xp = array_namespace(X, y)
    w, b = params["w"], params["b"]
    d = 1.0 - y * (X @ w + b)
    return 0.5 * (xp.sum(w * w) + b * b) + C * xp.sum(xp.where(d > 0, d * d, 0.0))


def grad(params, X, y, *, C=1.0):
    Xb = np.hstack([X, np.ones((X.shape[0], 1))])  # liblinear's bias feature
    wb = np.append(params["w"], params["b"])
    z = y * (Xb @ wb)
    I = np.flatnonzero(z < 1)
    zI = C * y[I] * (z[I] - 1)
    g = Xb[I].T @ zI  # subXTv
    g = 2 * g  # should be: w + 2 * g
    return {"w": g[:-1], "b": np.asarray(g[-1])}


def kink_distance(params, X, y, *, C=1.0):
    return np.abs(1.0 - y * (X @ params["w"] + params["b"]))

"""Gamma regression (log link) whose gradient has e^{+z} where e^{-z} belongs.

Style: a GLM derived on paper as mu = e^z, loss z + y / mu, dloss/dz = 1 - y / mu, then coded
as ``1 - y * mu``: dividing by mu became multiplying by it. On each sample with y > 0 the
y-part of the hand gradient is e^{2z} times the true one.
"""

import numpy as np
from array_api_compat import array_namespace

# A Gamma target is positive; the lab has no "positive" TARGET yet (one is being added), so counts
# stand in. Samples with y = 0 have the right gradient, 1.
TARGET = "counts"
EXPECT = "e^{2z}"


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return np.exp(X @ params["w"] + params["b"])


def loss(params, X, y):
    xp = array_namespace(X, y)
    z = X @ params["w"] + params["b"]
    return xp.mean(z + y * xp.exp(-z))


def grad(params, X, y):
    mu = predict(params, X)
    g = (1.0 - y * mu) / X.shape[0]  # should be 1 - y / mu
    return {"w": X.T @ g, "b": np.asarray(g.sum())}

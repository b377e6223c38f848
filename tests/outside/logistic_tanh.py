"""Logistic regression with the sigmoid written through tanh: sigma(z) = (1 + tanh(z/2)) / 2.

Style: the tanh identity that Theano-era and some GPU code used for a sigmoid that never
overflows. Exact in real arithmetic; for z << 0, 1 + tanh(z/2) cancels and p keeps no digits
below 1e-16: right but inexact.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "binary"
EXPECT = "verified"


def sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return sigmoid(X @ params["w"] + params["b"])


def loss(params, X, y):
    xp = array_namespace(X, y)
    logits = X @ params["w"] + params["b"]
    return xp.mean(xp.logaddexp(0.0, logits) - y * logits)


def grad(params, X, y):
    n = X.shape[0]
    err = sigmoid(X @ params["w"] + params["b"]) - y
    return {"w": X.T @ err / n, "b": np.asarray(err.mean())}

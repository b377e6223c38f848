"""Ridge regression whose gradient is written with einsum instead of X.T @ r.

Style: research code that writes every contraction as np.einsum with named indices
("ni,n->i": sum over samples n). alpha penalizes w only, as sklearn's Ridge does.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "real"
EXPECT = "verified"
HYPERPARAMETERS = {"alpha": (1e-3, 10.0)}


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return np.einsum("ni,i->n", X, params["w"]) + params["b"]


def loss(params, X, y, *, alpha=1.0):
    xp = array_namespace(X, y)
    resid = X @ params["w"] + params["b"] - y
    return 0.5 * xp.mean(resid**2) + 0.5 * alpha * xp.sum(params["w"] ** 2)


def grad(params, X, y, *, alpha=1.0):
    n = X.shape[0]
    resid = predict(params, X) - y
    g_w = np.einsum("ni,n->i", X, resid) / n + alpha * params["w"]
    g_b = np.einsum("n->", resid) / n
    return {"w": g_w, "b": np.asarray(g_b)}

"""A max-margin classifier whose loss is relu(1 - y * score), with L2 on every parameter.

Style: micrograd's demo.ipynb (``losses = [(1 + -yi*scorei).relu() ...]``,
``data_loss = sum(losses) * (1.0 / len(losses))``, ``reg_loss = alpha * sum(p*p for p in params)``)
and micrograd's relu backward, ``(out.data > 0) * out.grad``: relu'(0) = 0.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "signed"
EXPECT = "verified"
KINK_ORDER = 1
ALPHA = 1e-4


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return np.where(X @ params["w"] + params["b"] > 0, 1.0, -1.0)


def loss(params, X, y):
    xp = array_namespace(X, y)
    scores = X @ params["w"] + params["b"]
    data_loss = xp.sum(xp.maximum(1 - y * scores, 0.0)) * (1.0 / X.shape[0])
    reg_loss = ALPHA * (xp.sum(params["w"] * params["w"]) + params["b"] * params["b"])
    return data_loss + reg_loss


def grad(params, X, y):
    pre = 1 - y * (X @ params["w"] + params["b"])
    out_grad = (pre > 0) * (1.0 / X.shape[0])  # relu backward
    dscores = -y * out_grad
    return {"w": X.T @ dscores + 2 * ALPHA * params["w"], "b": np.asarray(dscores.sum() + 2 * ALPHA * params["b"])}


def kink_distance(params, X, y):
    return np.abs(1 - y * (X @ params["w"] + params["b"]))

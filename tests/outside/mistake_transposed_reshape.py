"""Softmax regression whose weight gradient is computed (k, d)-shaped and reshaped to (d, k).

Style: a NumPy port of CS231n's softmax classifier, where the weights are stored (d, k) but
the gradient was derived as dW = dscores^T X, shape (k, d); ``.reshape(W.shape)`` made the
shapes match and scrambled the entries (a transpose when d = k).
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "classes"
EXPECT = "transposed"
SHAPES = {"n_classes": (2, 5)}


def init(n_features, *, n_classes=3):
    return {"W": np.zeros((n_features, n_classes)), "b": np.zeros(n_classes)}


def predict(params, X):
    scores = X @ params["W"] + params["b"]
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def loss(params, X, y):
    xp = array_namespace(X, y)
    scores = X @ params["W"] + params["b"]
    m = xp.max(scores, axis=1, keepdims=True)
    lse = m[:, 0] + xp.log(xp.sum(xp.exp(scores - m), axis=1))
    correct = xp.sum(xp.where(y[:, None] == xp.arange(scores.shape[1]), scores, 0.0), axis=1)
    return xp.mean(lse - correct)


def grad(params, X, y):
    num_train = X.shape[0]
    dscores = predict(params, X)
    dscores[np.arange(num_train), y.astype(int)] -= 1
    dscores /= num_train
    dW = (dscores.T @ X).reshape(params["W"].shape)  # (k, d) -> (d, k)
    return {"W": dW, "b": dscores.sum(axis=0)}

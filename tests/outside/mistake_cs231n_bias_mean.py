"""A three-layer network with a softmax loss whose affine backward averages the bias gradient again.

Style: CS231n's layers.py and fc_net.py (``affine_forward``/``affine_backward``, ``softmax_loss``
with ``dx /= N``, ``reg * 0.5 * sum(W * W)``), here with tanh hidden units. The shared
``affine_backward`` writes ``db = np.mean(dout, axis=0)``, but dout already carries the 1/N of the
softmax loss: the gradients of all three biases, b1, b2 and b3, are 1/N of the right ones.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "classes"
EXPECT = "b1, b2, b3"
SHAPES = {"n_classes": (2, 4)}
HIDDEN = 3
REG = 1e-3


def init(n_features, *, n_classes=3):
    return {
        "W1": np.zeros((n_features, HIDDEN)),
        "b1": np.zeros(HIDDEN),
        "W2": np.zeros((HIDDEN, HIDDEN)),
        "b2": np.zeros(HIDDEN),
        "W3": np.zeros((HIDDEN, n_classes)),
        "b3": np.zeros(n_classes),
    }


def _scores(params, X, xp):
    h1 = xp.tanh(X @ params["W1"] + params["b1"])
    h2 = xp.tanh(h1 @ params["W2"] + params["b2"])
    return h1, h2, h2 @ params["W3"] + params["b3"]


def predict(params, X):
    return np.argmax(_scores(params, X, np)[2], axis=1).astype(float)


def loss(params, X, y):
    xp = array_namespace(X, y)
    scores = _scores(params, X, xp)[2]
    shifted = scores - xp.max(scores, axis=1, keepdims=True)
    log_probs = shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))
    onehot = xp.astype(y[:, None] == xp.arange(scores.shape[1]), scores.dtype)
    data_loss = -xp.sum(log_probs * onehot) / X.shape[0]
    reg = sum(xp.sum(params[k] * params[k]) for k in ("W1", "W2", "W3"))
    return data_loss + REG * 0.5 * reg


def affine_backward(dout, cache):
    x, w = cache
    dx = dout @ w.T
    dw = x.T @ dout
    db = np.mean(dout, axis=0)  # BUG: dout already holds the 1/N of the loss
    return dx, dw, db


def tanh_backward(dout, h):
    return dout * (1 - h * h)


def softmax_loss(x, y):
    shifted = x - np.max(x, axis=1, keepdims=True)
    probs = np.exp(shifted)
    probs /= np.sum(probs, axis=1, keepdims=True)
    N = x.shape[0]
    dx = probs.copy()
    dx[np.arange(N), y.astype(int)] -= 1
    dx /= N
    return dx


def grad(params, X, y):
    h1, h2, scores = _scores(params, X, np)
    dscores = softmax_loss(scores, y)
    dh2, dW3, db3 = affine_backward(dscores, (h2, params["W3"]))
    dh1, dW2, db2 = affine_backward(tanh_backward(dh2, h2), (h1, params["W2"]))
    _, dW1, db1 = affine_backward(tanh_backward(dh1, h1), (X, params["W1"]))
    return {
        "W1": dW1 + REG * params["W1"],
        "b1": db1,
        "W2": dW2 + REG * params["W2"],
        "b2": db2,
        "W3": dW3 + REG * params["W3"],
        "b3": db3,
    }

"""Softmax regression with class weights, torch.nn.CrossEntropyLoss(weight=cw) style, whose hand
gradient divides by n instead of the sum of the weights.

Style: PyTorch's weighted cross-entropy with reduction="mean" is Σ_i cw[y_i]·ℓ_i / Σ_i cw[y_i]
(the normalizer is the total weight of the targets, not the batch size). The logits go through a
max-shifted logsumexp. The hand gradient was written per sample, cw[y_i](softmax_i − onehot_i),
and then averaged with ``/ n_samples`` as for the unweighted loss: off by the factor Σ cw[y]/n,
which changes from batch to batch. Alone, a sample is off by its own weight (right where it is 1,
at y = 0), but the case's error is not the samples' errors added up: "wrong only for some samples"
would be false, and the diagnosis says the samples interact.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "classes"
EXPECT = "the samples interact"
SHAPES = {"n_classes": (2, 5)}
CLASS_WEIGHT = np.array([1.0, 2.0, 0.5, 3.0, 1.5])


def init(n_features, *, n_classes=3):
    return {"W": np.zeros((n_features, n_classes)), "b": np.zeros(n_classes)}


def predict(params, X):
    return np.argmax(X @ params["W"] + params["b"], axis=1)


def loss(params, X, y):
    xp = array_namespace(X, y)
    k = params["W"].shape[1]
    logits = X @ params["W"] + params["b"]
    m = xp.max(logits, axis=1, keepdims=True)
    lse = m[:, 0] + xp.log(xp.sum(xp.exp(logits - m), axis=1))
    onehot = xp.astype(y[:, None] == xp.arange(k), logits.dtype)
    cw = xp.asarray(CLASS_WEIGHT[:k], dtype=logits.dtype)
    wi = onehot @ cw
    nll = lse - xp.sum(onehot * logits, axis=1)
    return xp.sum(wi * nll) / xp.sum(wi)


def grad(params, X, y):
    n, k = X.shape[0], params["W"].shape[1]
    logits = X @ params["W"] + params["b"]
    logits -= logits.max(axis=1, keepdims=True)
    prob = np.exp(logits)
    prob /= prob.sum(axis=1, keepdims=True)
    yi = y.astype(int)
    prob[np.arange(n), yi] -= 1.0
    wi = CLASS_WEIGHT[:k][yi]
    dlogits = wi[:, None] * prob / n  # BUG: torch normalizes by wi.sum(), not n
    return {"W": X.T @ dlogits, "b": dlogits.sum(axis=0)}

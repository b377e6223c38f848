"""Logistic regression trained by backprop as if the loss were squared error: an extra sigma'(z).

Style: a one-neuron "neural network from scratch" tutorial: error = output - y, then
``delta = error * sigmoid_derivative(output)`` with sigmoid_derivative(s) = s (1 - s), while
the loss being minimized is binary cross-entropy, for which the sigma' cancels.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "binary"
EXPECT = "sigmoid derivative"


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def sigmoid_derivative(s):
    return s * (1 - s)


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    with np.errstate(over="ignore"):
        return sigmoid(X @ params["w"] + params["b"])


def loss(params, X, y):
    xp = array_namespace(X, y)
    z = X @ params["w"] + params["b"]
    return xp.mean(xp.logaddexp(0.0, z) - y * z)


def grad(params, X, y):
    output = predict(params, X)
    delta = (output - y) * sigmoid_derivative(output) / len(y)
    return {"w": X.T @ delta, "b": np.asarray(delta.sum())}

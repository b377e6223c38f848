"""Logistic regression as a course notebook writes it, with sigmoid(z) = 1 - 1 / (1 + e^z).

Style: the "Logistic Regression with a Neural Network mindset" notebooks (propagate(): A, cost,
dw = 1/m X (A - Y)^T), with the sigmoid in another, equally correct, order. For z << 0 the
subtraction 1 - 1/(1 + e^z) loses every digit of a p below 1e-16: right but inexact.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "binary"
EXPECT = "verified"


def sigmoid(z):
    return 1 - 1 / (1 + np.exp(z))


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return sigmoid(X @ params["w"] + params["b"])


def loss(params, X, y):
    xp = array_namespace(X, y)
    z = X @ params["w"] + params["b"]
    return xp.mean(xp.logaddexp(0.0, z) - y * z)  # -[y log A + (1 - y) log(1 - A)], without overflow


def grad(params, X, y):
    m = X.shape[0]
    with np.errstate(over="ignore"):  # e^z = inf gives A = 1, which is right
        A = sigmoid(X @ params["w"] + params["b"])
    dz = A - y
    dw = 1 / m * np.dot(X.T, dz)
    db = 1 / m * np.sum(dz)
    return {"w": dw, "b": np.asarray(db)}

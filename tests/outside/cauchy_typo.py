"""A Cauchy (Lorentzian) robust regression loss with a misplaced minus: log(-r^2 - 1).

Style: a robust-fitting snippet where log(1 + r^2) was retyped. The argument -r^2 - 1 is below 0
for every residual, so the loss is NaN at every point there is: nothing can be checked, and a
run that checked nothing must not pass. The gradient is the one for the intended log(1 + r^2).
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "real"
EXPECT = "not finite"


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return X @ params["w"] + params["b"]


def loss(params, X, y):
    xp = array_namespace(X, y)
    r = X @ params["w"] + params["b"] - y
    return xp.mean(xp.log(-(r * r) - 1))


def grad(params, X, y):
    r = predict(params, X) - y
    psi = 2 * r / (1 + r * r) / len(y)
    return {"w": X.T @ psi, "b": np.asarray(psi.sum())}

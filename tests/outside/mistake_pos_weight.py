"""Class-weighted logistic regression whose gradient forgets the weight of the positive class.

Style: torch.nn.BCEWithLogitsLoss(pos_weight=...) ported to the array API:
loss = -[pw y log sigma(z) + (1 - y) log(1 - sigma(z))]. The gradient was copied from the
unweighted model, sigma(z) - y, so it is wrong exactly on the samples with y = 1.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "binary"
EXPECT = "where y = 1"
POS_WEIGHT = 3.0


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    z = X @ params["w"] + params["b"]
    return np.exp(-np.logaddexp(0.0, -z))


def loss(params, X, y):
    xp = array_namespace(X, y)
    z = X @ params["w"] + params["b"]
    log_sig, log_one_minus_sig = -xp.logaddexp(0.0, -z), -xp.logaddexp(0.0, z)
    return -xp.mean(POS_WEIGHT * y * log_sig + (1 - y) * log_one_minus_sig)


def grad(params, X, y):
    n = X.shape[0]
    g = (predict(params, X) - y) / n  # the unweighted gradient: should be (pw y + 1 - y) p - pw y
    return {"w": X.T @ g, "b": np.asarray(g.sum())}

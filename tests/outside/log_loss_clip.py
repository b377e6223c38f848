"""Logistic regression scored by scikit-learn's ``log_loss`` with its classic eps clip.

Style: sklearn.metrics.log_loss (before 1.5: ``eps=1e-15``, ``y_pred = np.clip(y_pred, eps, 1 - eps)``)
applied to expit(Xw + b). The clip makes the loss flat where σ(z) < eps or σ(z) > 1 − eps, so a
correct gradient is p − y inside and exactly 0 outside. The sigmoid is the naive 1/(1 + exp(−z)):
past z ≈ −709 it is 0 (then clipped) and its derivative is inf/inf in autodiff.

Under --profile extreme a quarter of its cases were once skipped ("autodiff is not finite and the loss
has no finite steps": exp(−z) overflowed, and the loss's bound was ∞ though 1/(1 + ∞) = 0 is within
e^−709 of the truth); with that bound finite, the one-sided differences across the clip called it wrong,
and the exact referee now overrules them before rule 3 prints a wrong.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "binary"
EXPECT = "verified"
EPS = 1e-15


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return 1.0 / (1.0 + np.exp(-(X @ params["w"] + params["b"])))


def loss(params, X, y):
    xp = array_namespace(X, y)
    z = X @ params["w"] + params["b"]
    p = 1.0 / (1.0 + xp.exp(-z))
    p = xp.clip(p, EPS, 1 - EPS)
    return -xp.mean(y * xp.log(p) + (1 - y) * xp.log(1 - p))


def grad(params, X, y):
    n = X.shape[0]
    with np.errstate(over="ignore"):
        p = predict(params, X)
    inside = (p > EPS) & (p < 1 - EPS)
    g = np.where(inside, p - y, 0.0) / n
    return {"w": X.T @ g, "b": np.asarray(g.sum())}

"""Least squares plus the SLOPE penalty Σ_i lam_i |w|_(i): the i-th largest |w| weighted by the
i-th of a decreasing sequence (Bogdan, van den Berg, Sabatti, Su and Candès 2015).

Style: the sorted-L1 subgradient of the R package SLOPE and of skglm's ``SLOPE`` penalty: rank the
entries by |w| (argsort, ties broken by position) and give each the weight of its rank, times
sign(w). The loss sorts its parameters, so it has kinks where two |w_j| tie (autodiff's sort picks
its own order there) and where a w_j is 0: at both, the hand value is one valid subgradient and
autodiff's is another.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "real"
EXPECT = "verified"


def lam(d, xp=np):
    return 0.1 * (d - xp.arange(d, dtype=xp.float64)) / d  # 0.1, 0.1 (d − 1)/d, ..., 0.1/d


def init(n_features):
    return {"w": np.zeros(n_features)}


def predict(params, X):
    return X @ params["w"]


def loss(params, X, y):
    xp = array_namespace(X, y)
    w = params["w"]
    r = X @ w - y
    largest_first = xp.flip(xp.sort(xp.abs(w)))
    return 0.5 * xp.mean(r * r) + xp.sum(lam(w.shape[0], xp) * largest_first)


def grad(params, X, y):
    w = params["w"]
    r = X @ w - y
    rank = np.argsort(-np.abs(w), kind="stable")
    weight = np.empty_like(w)
    weight[rank] = lam(w.shape[0])
    return {"w": X.T @ r / X.shape[0] + weight * np.sign(w)}

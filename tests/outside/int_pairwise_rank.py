"""A pairwise ranking loss (RankNet) over every pair i < j, built with integer arithmetic.

Style: a learning-to-rank tutorial. The pairs come from ``np.triu_indices(n, 1)``, the sample
weights cycle with the row index (``1 + i % 3``, three query slots) and pairs are kept only within
a query of two rows (``i // 2``). The label of a pair is sign(y_i − y_j), and the loss of a pair is
softplus(−label · (s_i − s_j)), summed and divided by n, with a small L2 term. The integer
index arithmetic (``%``, ``//``, the gather by triu indices) is exact; only the scores are rounded.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "real"
EXPECT = "verified"
ALPHA = 1e-3


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return X @ params["w"] + params["b"]


def _pairs(n, xp):
    i, j = np.triu_indices(n, k=1)
    rows = xp.arange(n)
    weight = 1.0 + xp.astype(rows % 3, xp.float64)  # query slot weights 1, 2, 3, 1, 2, 3, ...
    query = rows // 2  # two rows per query
    return i, j, weight, query


def loss(params, X, y):
    xp = array_namespace(X, y)
    n = X.shape[0]
    s = X @ params["w"] + params["b"]
    i, j, weight, query = _pairs(n, xp)
    same = xp.astype(query[i] == query[j], X.dtype)
    label = xp.sign(y[i] - y[j])
    margin = label * (s[i] - s[j])
    pair = weight[i] * weight[j] * same * xp.logaddexp(xp.zeros_like(margin), -margin)
    return xp.sum(pair) / n + ALPHA * xp.sum(params["w"] * params["w"])


def grad(params, X, y):
    n = X.shape[0]
    s = predict(params, X)
    i, j, weight, query = _pairs(n, np)
    same = (query[i] == query[j]).astype(float)
    label = np.sign(y[i] - y[j])
    margin = label * (s[i] - s[j])
    # d softplus(-m)/dm = -sigma(-m), written without overflow
    sig_neg = np.where(margin >= 0, np.exp(-margin) / (1 + np.exp(-np.abs(margin))), 1 / (1 + np.exp(margin)))
    dm = -weight[i] * weight[j] * same * sig_neg / n
    ds = np.zeros(n)
    np.add.at(ds, i, dm * label)
    np.add.at(ds, j, -dm * label)
    return {"w": X.T @ ds + 2 * ALPHA * params["w"], "b": np.asarray(ds.sum())}

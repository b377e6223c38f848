"""NB2 regression, statsmodels style, whose score reuses the Poisson one: (y - mu) without a1/(a1 + mu).

Style: statsmodels.discrete.discrete_model.NegativeBinomial (loglike_method="nb2") with the
dispersion alpha held fixed: mu = exp(X @ w + b), size = 1/alpha, prob = size / (size + mu),
ll = size*log(prob) + y*log(1 - prob)  (+ gammaln terms that do not depend on w, b).
The loss is -mean(ll). Numerically: 1 - prob cancels when mu << size (scores below about
-10 lose digits; below about -36 it is exactly 0 and the loss is inf/NaN), and exp overflows
past 709. The hand gradient is statsmodels' score_obs for nb2: a1 = 1/alpha,
d ll/d eta = a1 * (y - mu) / (a1 + mu).

Written by a probe of the lab. Each sample's gradient is off by its own factor 1 + alpha mu; the
diagnosis once added a cause no repair tested ("the derivative of a link or activation is wrong"):
it names the factors, the fact, now.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "counts"
EXPECT = "c times the true one, c from"
HYPERPARAMETERS = {"alpha": (0.01, 2.0)}
HYPER_DOMAIN = {"alpha": "(0, inf)"}


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return np.exp(X @ params["w"] + params["b"])


def loss(params, X, y, *, alpha=0.5):
    xp = array_namespace(X, y)
    mu = xp.exp(X @ params["w"] + params["b"])
    size = 1.0 / alpha
    prob = size / (size + mu)
    ll = size * xp.log(prob) + y * xp.log(1 - prob)
    return -xp.mean(ll)


def grad(params, X, y, *, alpha=0.5):
    n = X.shape[0]
    mu = np.exp(X @ params["w"] + params["b"])
    score = y - mu  # Poisson score reused: the factor a1/(a1 + mu), a1 = 1/alpha, is dropped
    g = -score / n
    return {"w": X.T @ g, "b": np.asarray(g.sum())}

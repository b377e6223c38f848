"""Binary GLM with the complementary log-log link, statsmodels style.

Style: statsmodels GLM(family=Binomial(link=CLogLog())): mu = link.inverse(eta) = 1 - exp(-exp(eta))
written naively, and Binomial.loglike_obs with n = 1: y*log(mu/(1 - mu) + 1e-200) + log(1 - mu).
The loss is -mean of that. Numerically: 1 - exp(-exp(eta)) cancels for eta below about -5 and is
exactly 0 below about -36.7 (the 1e-200 then keeps the loss finite at 460.5 per y = 1 sample, flat,
while the exact loss is about -eta); 1 - mu cancels for eta above about 1 and is 0 above about 3.6.
The hand gradient is that of the exact function, written stably: with s = exp(eta),
d(-ll)/d eta = s                        for y = 0,
             = -s / (expm1(s) + 1e-200)  for y = 1   (the 1e-200 kept, as the loss has it).

Written by a probe of the lab with code it did not write. Where the loss is flat in float64, autodiff's
bound is infinite and the exact referee is the reference (rule 5); at eta = -200 the referee's 60 digits
lose 1 - exp(-e^-200) too, and it gave -1.16e113 for -2/3 until it learned to run again with more digits.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "binary"
EXPECT = "verified"


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return 1.0 - np.exp(-np.exp(X @ params["w"] + params["b"]))


def loss(params, X, y):
    xp = array_namespace(X, y)
    eta = X @ params["w"] + params["b"]
    mu = 1 - xp.exp(-xp.exp(eta))
    ll = y * xp.log(mu / (1 - mu) + 1e-200) + xp.log(1 - mu)
    return -xp.mean(ll)


def grad(params, X, y):
    n = X.shape[0]
    eta = X @ params["w"] + params["b"]
    with np.errstate(over="ignore"):
        s = np.exp(eta)
        g = np.where(y == 1, -s / (np.expm1(s) + 1e-200), s) / n
    return {"w": X.T @ g, "b": np.asarray(g.sum())}

"""Data: synthetic sets for each TARGET kind."""

from __future__ import annotations

import numpy as np

from lab.model import Model


def synthetic(model: Model, n: int = 200, d: int = 3, seed: int = 0, noise: float = 0.1):
    """``(X, y, true_params)``: features from a standard normal, targets from the model's own kind.

    Real targets are a linear function plus Gaussian noise; binary targets are
    drawn from the logistic model; counts from a Poisson with a log link;
    classes from a softmax of linear scores; signed labels are ±1.
    """
    if n < 1 or d < 1:
        raise ValueError(f"need n ≥ 1 and d ≥ 1; got n={n}, d={d}")
    rng = np.random.default_rng(seed)
    d = model.n_features or d
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d)
    b = float(rng.standard_normal())
    z = X @ w + b
    if model.target == "real":
        y = z + noise * rng.standard_normal(n)
    elif model.target == "binary":
        y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(float)
    elif model.target == "signed":
        y = np.where(rng.random(n) < 1 / (1 + np.exp(-z)), 1.0, -1.0)
    elif model.target == "counts":
        y = rng.poisson(np.exp(np.clip(z / 2, -5, 5))).astype(float)
    elif model.target == "classes":
        k = 3
        W = rng.standard_normal((d, k))
        s = X @ W
        p = np.exp(s - s.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        y = np.array([rng.choice(k, p=row) for row in p], dtype=float)
    else:
        raise ValueError(f"no synthetic data for TARGET {model.target!r}")
    return X, y, {"w": w, "b": np.asarray(b)}

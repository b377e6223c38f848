"""Linear SVM: mean hinge loss of a linear score plus an L2 penalty on the weights.

Derivation: derivations/hinge_svm.md

Shapes: X is (n, d), y is (n,) with labels −1 and +1, w is (d,), b is ().
The hinge max(0, 1 − y z) has a kink at the margin y z = 1, where it has no
derivative. There ``grad`` returns a subgradient: it counts a sample as active
only when 1 − y z > 0 strictly, so a sample exactly on the margin contributes 0
(eq. 7). ``kink_distance`` tells the verifier how far each sample is from its kink.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "signed"
#: L2 strength on w (b is not penalized); SVC(kernel="linear", C) minimizes n C times this objective
#: with lam = 1 / (n C) (eq. 15). LinearSVC(loss="hinge") also penalizes b, a little.
HYPERPARAMETERS = {"lam": (1e-3, 10.0)}
HYPER_DOMAIN = {"lam": "[0, inf)"}  # a negative λ makes the objective unbounded below
LAM = 0.01  # the default λ
#: The gradient jumps at the kink (the loss itself is continuous).
KINK_ORDER = 1


def init(n_features: int) -> dict:
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def decision_function(params, X):
    """The scores z = X w + b (eq. 1). Returns shape (n,)."""
    return X @ params["w"] + params["b"]


def predict(params, X):
    """The label sign(z) as −1.0 or +1.0, with +1 where z = 0 (eq. 5). Returns shape (n,)."""
    return np.where(decision_function(params, X) >= 0, 1.0, -1.0)


def loss(params, X, y, *, lam=LAM):
    """L = (1/n) Σ_i max(0, 1 − y_i z_i) + (λ/2)‖w‖² (eq. 4). Returns a scalar."""
    w, b = params["w"], params["b"]
    xp = array_namespace(X, y)
    z = X @ w + b  # (eq. 1)
    slack = 1.0 - y * z  # the hinge's argument; the kink is at slack = 0 (eq. 3)
    return xp.mean(xp.maximum(xp.zeros_like(slack), slack)) + 0.5 * lam * xp.sum(w * w)


def grad(params, X, y, *, lam=LAM):
    """A subgradient: ∇_w L = −(1/n) Xᵀ (a ⊙ y) + λ w and ∂L/∂b = −(1/n) 1ᵀ (a ⊙ y) (eqs. 10, 11).

    a_i = 1 where 1 − y_i z_i > 0 and 0 elsewhere, so at the kink (1 − y_i z_i = 0)
    the sample contributes 0: the right end of the subdifferential [−1, 0] (eq. 7).
    """
    n = X.shape[0]
    z = X @ params["w"] + params["b"]  # (eq. 1)
    active = (1.0 - y * z > 0).astype(np.float64)  # a_i (eq. 7)
    g = -(active * y) / n  # ∂ℓ_i/∂z_i = −y_i a_i, divided by n for the mean (eq. 7)
    return {"w": X.T @ g + lam * params["w"], "b": np.asarray(np.sum(g))}


def hessian(params, X, y, *, lam=LAM):
    """The Hessian over (w, b) away from the kinks: λ I on the w block, 0 elsewhere (eq. 12)."""
    d = X.shape[1]
    H = np.zeros((d + 1, d + 1))
    H[np.arange(d), np.arange(d)] = lam
    return H


def kink_distance(params, X, y, *, lam=LAM):
    """Per sample, the distance in score units to the kink: |1 − y_i z_i| (eq. 13). Shape (n,)."""
    return np.abs(1.0 - y * (X @ params["w"] + params["b"]))

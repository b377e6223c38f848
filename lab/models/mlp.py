"""A two-layer network d → h → 1: tanh hidden units, mean squared error on a real target.

Derivation: derivations/mlp.md

Shapes: X is (n, d), y is (n,), W1 is (d, h), b1 is (h,), w2 is (h,), b2 is ().
The hidden width h is structural: ``init(d, hidden=h)`` sets it, and loss, grad
and predict read it from the shape of W1.

The backprop is written by hand, one layer at a time, in the style of micrograd:
each layer's backward sits directly under its forward. A backward takes the
gradient of the loss with respect to its layer's output (the upstream gradient)
and what the forward kept, and returns the gradients with respect to the layer's
input and parameters. ``grad`` runs the forwards, then the backwards in reverse.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "real"
SHAPES = {"hidden": (1, 6)}  # the hidden width h that the verifier draws


def init(n_features: int, *, hidden: int = 4, seed: int = 0) -> dict:
    """Small random weights, scaled by 1/√fan_in, and zero biases (eq. 20).

    Not zeros: W1 = 0, w2 = 0 is a saddle, and hidden units that start equal get equal
    gradients and never separate (eq. 19a). The 1/√fan_in scale keeps the pre-activations
    near unit size, where tanh is not flat. The same seed gives the same weights.
    """
    rng = np.random.default_rng(seed)
    return {
        "W1": rng.standard_normal((n_features, hidden)) / np.sqrt(n_features),  # fan_in d (eq. 20)
        "b1": np.zeros(hidden),
        "w2": rng.standard_normal(hidden) / np.sqrt(hidden),  # fan_in h (eq. 20)
        "b2": np.zeros(()),
    }


# -- layer 1: the hidden affine map -------------------------------------------------------


def dense1(X, W1, b1):
    """Pre-activations Z1 = X W1 + b1 (eq. 1): (n, d) @ (d, h) + (h,) → (n, h)."""
    return X @ W1 + b1


def dense1_backward(dZ1, X):
    """dW1 = Xᵀ dZ1 and db1 = Σ_rows dZ1 (eqs. 16, 17). X is data, so no dX."""
    dW1 = X.T @ dZ1  # (d, n) @ (n, h) → (d, h)   (eq. 16)
    db1 = np.sum(dZ1, axis=0)  # (n, h) → (h,)   (eq. 17)
    return dW1, db1


# -- the activation -----------------------------------------------------------------------


def activation(Z1, xp=np):
    """Hidden activations A1 = tanh(Z1), entry by entry (eq. 2): (n, h) → (n, h)."""
    return xp.tanh(Z1)  # ±1 for large |z|, never inf / inf (eq. 22)


def activation_backward(dA1, A1):
    """dZ1 = dA1 ⊙ (1 − A1²) (eq. 15), from the kept output, since tanh' = 1 − tanh² (eq. 8)."""
    # 1 − a² as (1 − a)(1 + a): the factor 1 − |a| is exact for |a| ≥ 1/2, no a² is rounded (eq. 24)
    return dA1 * ((1.0 - A1) * (1.0 + A1))  # (n, h) ⊙ (n, h) → (n, h)   (eq. 15)


# -- layer 2: the output affine map -------------------------------------------------------


def dense2(A1, w2, b2):
    """Predictions ŷ = A1 w2 + b2 (eq. 3): (n, h) @ (h,) + () → (n,)."""
    return A1 @ w2 + b2


def dense2_backward(dyhat, A1, w2):
    """dw2 = A1ᵀ dŷ, db2 = Σ dŷ and dA1 = dŷ w2ᵀ (eqs. 12, 13, 14)."""
    dw2 = A1.T @ dyhat  # (h, n) @ (n,) → (h,)   (eq. 12)
    db2 = np.sum(dyhat)  # (n,) → ()   (eq. 13)
    dA1 = np.outer(dyhat, w2)  # (n,) ⊗ (h,) → (n, h), an outer product   (eq. 14)
    return dA1, dw2, db2


# -- the loss -----------------------------------------------------------------------------


def mse(yhat, y, xp=np):
    """L = (1/n) Σ_i r_i² with r = ŷ − y (eqs. 4, 5), no factor 1/2."""
    r = yhat - y  # (n,)   (eq. 4)
    return xp.mean(r * r)


def mse_backward(yhat, y):
    """dL/dŷ = (2/n) r (eq. 11): (n,) → (n,)."""
    return (2.0 / y.shape[0]) * (yhat - y)


# -- the contract -------------------------------------------------------------------------


def predict(params, X):
    """ŷ = tanh(X W1 + b1) w2 + b2 (eqs. 1–3). Returns shape (n,)."""
    xp = array_namespace(X)
    A1 = activation(dense1(X, params["W1"], params["b1"]), xp)
    return dense2(A1, params["w2"], params["b2"])


def loss(params, X, y):
    """Mean squared error of the network (eq. 5). Array-API code, so JAX can trace it."""
    xp = array_namespace(X, y)
    A1 = activation(dense1(X, params["W1"], params["b1"]), xp)  # (n, h)   (eqs. 1, 2)
    return mse(dense2(A1, params["w2"], params["b2"]), y, xp)  # scalar   (eqs. 3–5)


def grad(params, X, y):
    """Backprop by hand (eqs. 11–17): the forward keeps X and A1, the backward runs in reverse."""
    W1, b1, w2, b2 = params["W1"], params["b1"], params["w2"], params["b2"]
    # forward, keeping what the backward needs
    Z1 = dense1(X, W1, b1)  # (n, h)   (eq. 1)
    A1 = activation(Z1)  # (n, h)   (eq. 2)
    yhat = dense2(A1, w2, b2)  # (n,)   (eq. 3)
    # backward, the same layers in reverse order
    dyhat = mse_backward(yhat, y)  # (n,)   (eq. 11)
    dA1, dw2, db2 = dense2_backward(dyhat, A1, w2)  # (n, h), (h,), ()   (eqs. 12–14)
    dZ1 = activation_backward(dA1, A1)  # (n, h)   (eq. 15)
    dW1, db1 = dense1_backward(dZ1, X)  # (d, h), (h,)   (eqs. 16, 17)
    return {"W1": dW1, "b1": db1, "w2": dw2, "b2": np.asarray(db2)}

"""A ReLU network d → h → 1 for binary labels, backprop as scikit-learn's MLPClassifier does it.

Style: sklearn/neural_network/_multilayer_perceptron.py, ``_backprop`` and ``_compute_loss_grad``,
with ``inplace_relu_derivative`` (``delta[Z == 0] = 0``: relu'(0) = 0) and the L2 term
``0.5 * alpha * ||W||² / n_samples`` on the coefficients only. The log loss is written through the
logit, log(1 + e^z) − y z, whose derivative is exactly p − y (sklearn's clipped probabilities would
make the last delta wrong past |z| ≈ 36). The hidden units have kinks at Z = 0: a case may hold
several samples on the kinks of different units, where the hand gradient is the gradient of one
adjacent region, a valid subgradient.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "binary"
EXPECT = "verified"
KINK_ORDER = 1
SHAPES = {"hidden": (2, 5)}
ALPHA = 1e-4


def init(n_features, *, hidden=3):
    return {
        "W1": np.zeros((n_features, hidden)),
        "b1": np.zeros(hidden),
        "W2": np.zeros((hidden, 1)),
        "b2": np.zeros(1),
    }


def _forward(params, X, xp):
    Z1 = X @ params["W1"] + params["b1"]
    A1 = xp.maximum(Z1, 0.0)
    return Z1, A1, (A1 @ params["W2"] + params["b2"])[:, 0]


def predict(params, X):
    return (_forward(params, X, np)[2] > 0).astype(float)


def loss(params, X, y):
    xp = array_namespace(X, y)
    n_samples = X.shape[0]
    _, _, z = _forward(params, X, xp)
    log_loss = xp.mean(xp.logaddexp(xp.zeros_like(z), z) - y * z)
    values = xp.sum(params["W1"] * params["W1"]) + xp.sum(params["W2"] * params["W2"])
    return log_loss + (0.5 * ALPHA) * values / n_samples


def grad(params, X, y):
    n_samples = X.shape[0]
    coefs = [params["W1"], params["W2"]]
    Z1, A1, z = _forward(params, X, np)
    activations = [X, A1, (1.0 / (1.0 + np.exp(-z)))[:, None]]
    deltas = [None, None]
    coef_grads, intercept_grads = [None, None], [None, None]
    last = 1
    deltas[last] = activations[-1] - y[:, None]

    def compute_loss_grad(layer):
        coef_grads[layer] = activations[layer].T @ deltas[layer]
        coef_grads[layer] += ALPHA * coefs[layer]
        coef_grads[layer] /= n_samples
        intercept_grads[layer] = np.mean(deltas[layer], 0)

    compute_loss_grad(last)
    for i in range(last, 0, -1):
        deltas[i - 1] = deltas[i] @ coefs[i].T
        deltas[i - 1][activations[i] == 0] = 0  # inplace_relu_derivative
        compute_loss_grad(i - 1)
    return {"W1": coef_grads[0], "b1": intercept_grads[0], "W2": coef_grads[1], "b2": intercept_grads[1]}


def kink_distance(params, X, y):
    """Per sample and hidden unit, the distance of its pre-activation to the kink at 0."""
    return np.abs(X @ params["W1"] + params["b1"])

"""A tanh network d → h → 1 for a real target, backprop as scikit-learn's MLPRegressor does it.

Style: sklearn/neural_network/_multilayer_perceptron.py, ``_backprop`` with the squared loss
``((y - y_pred) ** 2).mean() / 2``, the identity output, ``inplace_tanh_derivative``
(``delta *= 1 - Z ** 2``, from the kept activation) and the L2 term ``0.5 * alpha * ||W||² /
n_samples`` on the coefficients. Correct; at steep points (large weights, saturated units) the
loss is large and its gradient ill-conditioned.
"""

import numpy as np
from array_api_compat import array_namespace

TARGET = "real"
EXPECT = "verified"
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
    A1 = xp.tanh(X @ params["W1"] + params["b1"])
    return A1, A1 @ params["W2"] + params["b2"]


def predict(params, X):
    return _forward(params, X, np)[1][:, 0]


def loss(params, X, y):
    xp = array_namespace(X, y)
    n_samples = X.shape[0]
    y_pred = _forward(params, X, xp)[1][:, 0]
    squared_loss = xp.mean((y - y_pred) ** 2) / 2
    values = xp.sum(params["W1"] * params["W1"]) + xp.sum(params["W2"] * params["W2"])
    return squared_loss + (0.5 * ALPHA) * values / n_samples


def grad(params, X, y):
    n_samples = X.shape[0]
    coefs = [params["W1"], params["W2"]]
    A1, out = _forward(params, X, np)
    activations = [X, A1, out]
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
        deltas[i - 1] *= 1 - activations[i] ** 2  # inplace_tanh_derivative
        compute_loss_grad(i - 1)
    return {"W1": coef_grads[0], "b1": intercept_grads[0], "W2": coef_grads[1], "b2": intercept_grads[1]}

"""Adaptive methods: Adam, and AdamW with decoupled weight decay.

Derivation: derivations/lessons/adam.md. Each coordinate gets its own step: the running mean of its
gradient divided by the root of the running mean of its square, so the step is about ``lr`` in
parameter units whatever the scale of the loss.

Plain Adam with an L2 term λθ added to the gradient is not AdamW: that term passes through the
division by √v̂ and is rescaled per coordinate (a coordinate with large gradients is barely decayed).
AdamW adds λθ after the division, so every weight shrinks by the same factor (1 − lr λ) per step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from lab.model import Model, Params
from lab.optim.history import History
from lab.optim.inputs import _start
from lab.optim.loop import _check_run, _run

#: The learning rate ``lr="auto"`` picks for Adam: Kingma & Ba's default. Adam's step is about lr per
#: coordinate, in the units of the parameters, so no curvature bound 1/L applies to it.
ADAM_LR = 1e-3


def adam(model: Model, X, y, *, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
         steps: int = 1000, tol: float = 1e-8, params: Params | None = None, grow: float = 1e6,
         on_step: Callable[[int], None] | None = None) -> tuple[Params, History]:  # fmt: skip
    """Adam (Kingma & Ba, 2015), from m = v = 0, at step t = 1, 2, ...:

    m ← β1 m + (1 − β1) g,  v ← β2 v + (1 − β2) g²,  θ ← θ − lr m̂ / (√v̂ + ε),
    with m̂ = m / (1 − β1ᵗ) and v̂ = v / (1 − β2ᵗ). Stops as :func:`~lab.optim.gd` does.

    References: D. P. Kingma, J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
    """
    return _adam(model, X, y, "adam", lr, beta1, beta2, eps, 0.0, steps, tol, params, grow, on_step)


def adamw(model: Model, X, y, *, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
          weight_decay: float = 0.01, steps: int = 1000, tol: float = 1e-8, params: Params | None = None,
          grow: float = 1e6, on_step: Callable[[int], None] | None = None) -> tuple[Params, History]:  # fmt: skip
    """AdamW: Adam with decoupled weight decay, θ ← θ − lr (m̂ / (√v̂ + ε) + λ θ), λ = ``weight_decay``.

    The decay is applied to every parameter (the bias too), as optax's ``adamw`` does without a mask.
    With a zero gradient each step multiplies θ by exactly 1 − lr λ. This is not Adam on a loss with an
    L2 term: there λθ would be divided by √v̂ along with the gradient.

    References: I. Loshchilov, F. Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
    """
    return _adam(model, X, y, "adamw", lr, beta1, beta2, eps, weight_decay, steps, tol, params, grow, on_step)


class Adam:
    """The state of one Adam (or AdamW) run, for a loop of one's own (mini-batches, a network):
    ``params = opt.step(params, grad)`` takes one step of (eq. 3), or (eq. 6) when ``weight_decay`` > 0.

    The settings are checked once, here: a one-line ``ValueError`` for β outside [0, 1), ε ≤ 0 or λ < 0.
    """

    def __init__(self, *, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.0):  # fmt: skip
        _check_adam(beta1, beta2, eps, weight_decay)
        self.lr, self.beta1, self.beta2, self.eps, self.weight_decay = lr, beta1, beta2, eps, weight_decay
        self.t = 0  # steps taken
        self.m: Params = {}  # the running mean of the gradient, per parameter (zeros at the start)
        self.v: Params = {}  # the running mean of its square

    def step(self, params: Params, grad: Params) -> Params:
        """The parameters after one step from ``params`` with gradient ``grad`` (neither is changed)."""
        b1, b2, lr, eps, decay = self.beta1, self.beta2, self.lr, self.eps, self.weight_decay
        self.t += 1
        c1, c2 = 1 - b1**self.t, 1 - b2**self.t  # the weight the averages have put on gradients so far (eq. 2)
        new = {}
        for k, p in params.items():
            g = np.asarray(grad[k], dtype=np.float64)
            m = b1 * self.m.get(k, 0.0) + (1 - b1) * g  # (eq. 1)
            v = b2 * self.v.get(k, 0.0) + (1 - b2) * g * g  # (eq. 1)
            self.m[k], self.v[k] = m, v
            step = (m / c1) / (np.sqrt(v / c2) + eps)  # m̂ / (√v̂ + ε), about ±1 per coordinate (eq. 3)
            new[k] = p - lr * (step + decay * p)  # the decay is added after the division: decoupled (eq. 6)
        return new


def _adam(model, X, y, name, lr, beta1, beta2, eps, decay, steps, tol, params, grow, on_step):
    _check_run(lr, steps, tol)
    opt = Adam(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=decay)
    params, X, y = _start(model, X, y, params)
    return _run(model, X, y, params, name=name, lr=lr, steps=steps, tol=tol, grow=grow,
                update=lambda p, g, _: (opt.step(p, g), lr), on_step=on_step)  # fmt: skip


def _check_adam(beta1: float, beta2: float, eps: float, decay: float) -> None:
    for label, beta in (("beta1", beta1), ("beta2", beta2)):
        if not 0 <= beta < 1:
            raise ValueError(f"Adam's {label} must be in [0, 1); got {beta}")
    if not (eps > 0 and math.isfinite(eps)):
        raise ValueError(f"Adam's eps must be a positive number; got {eps}")
    if not (decay >= 0 and math.isfinite(decay)):
        raise ValueError(f"the weight decay must be a non-negative number; got {decay}")

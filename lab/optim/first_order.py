"""First-order methods: batch gradient descent, heavy-ball momentum, Nesterov, mini-batch SGD."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lab.model import Model, Params
from lab.optim.history import History
from lab.optim.inputs import _start
from lab.optim.loop import _check_run, _run


def gd(model: Model, X, y, *, lr: float, steps: int = 1000, tol: float = 1e-8, params: Params | None = None,
       grow: float = 1e6, on_step: Callable[[int], None] | None = None) -> tuple[Params, History]:  # fmt: skip
    """Batch gradient descent θ ← θ − lr ∇L(θ) from ``params`` (default ``model.init``).

    Stops when the gradient norm falls to ``tol`` ("converged") or after ``steps`` steps
    ("max steps"). Raises :class:`DivergedError` when the loss stops being finite or grows past
    ``grow`` times its start: it never returns NaN parameters.
    """
    _check_run(lr, steps, tol)
    params, X, y = _start(model, X, y, params)

    def update(p, g, _):
        return {k: p[k] - lr * np.asarray(g[k]) for k in p}, lr

    return _run(model, X, y, params, name="gd", lr=lr, steps=steps, tol=tol, grow=grow, update=update, on_step=on_step)


def momentum(model: Model, X, y, *, lr: float, beta: float = 0.9, steps: int = 1000, tol: float = 1e-8,
             params: Params | None = None, grow: float = 1e6,
             on_step: Callable[[int], None] | None = None) -> tuple[Params, History]:  # fmt: skip
    """Heavy ball: v ← β v − lr ∇L(θ), θ ← θ + v, from v = 0. Stops as :func:`gd` does."""
    _check_run(lr, steps, tol)
    _check_beta(beta)
    params, X, y = _start(model, X, y, params)
    v = {k: np.zeros_like(p) for k, p in params.items()}

    def update(p, g, _):
        for k in v:
            v[k] = beta * v[k] - lr * np.asarray(g[k])
        return {k: p[k] + v[k] for k in p}, lr

    return _run(model, X, y, params, name="momentum", lr=lr, steps=steps, tol=tol, grow=grow, update=update,
                on_step=on_step, beta=beta)  # fmt: skip


def nesterov(model: Model, X, y, *, lr: float, beta: float = 0.9, steps: int = 1000, tol: float = 1e-8,
             params: Params | None = None, grow: float = 1e6,
             on_step: Callable[[int], None] | None = None) -> tuple[Params, History]:  # fmt: skip
    """Nesterov's accelerated gradient: v ← β v − lr ∇L(θ + β v), θ ← θ + v.

    It is run on the look-ahead point φ = θ + β v, where the gradient is taken, so each step
    costs one gradient: φ ← φ + β² v − (1 + β) lr ∇L(φ), then v ← β v − lr ∇L(φ). The history
    and the returned parameters are at φ, the point whose gradient norm was checked.
    """
    _check_run(lr, steps, tol)
    _check_beta(beta)
    params, X, y = _start(model, X, y, params)
    v = {k: np.zeros_like(p) for k, p in params.items()}

    def update(phi, g, _):
        new = {k: phi[k] + beta * beta * v[k] - (1 + beta) * lr * np.asarray(g[k]) for k in phi}
        for k in v:
            v[k] = beta * v[k] - lr * np.asarray(g[k])
        return new, lr

    return _run(model, X, y, params, name="nesterov", lr=lr, steps=steps, tol=tol, grow=grow, update=update,
                on_step=on_step, beta=beta)  # fmt: skip


def _check_beta(beta: float) -> None:
    if not 0 <= beta < 1:
        raise ValueError(f"the momentum beta must be in [0, 1); got {beta}")


def sgd(model: Model, X, y, *, lr: float, batch_size: int = 32, seed: int = 0, steps: int = 1000,
        tol: float = 1e-8, params: Params | None = None, grow: float = 1e6,
        on_step: Callable[[int], None] | None = None) -> tuple[Params, History]:  # fmt: skip
    """Mini-batch SGD: each step is one epoch, a pass over the rows in a fresh random order (from
    ``seed``), updating θ ← θ − lr ∇L_B(θ) on each batch B of ``batch_size`` rows.

    The history records the full-data loss and gradient norm at the start of each epoch; the
    tolerance and the divergence test use them, as in :func:`gd`. The same seed gives the same run.
    """
    _check_run(lr, steps, tol)
    if not (isinstance(batch_size, (int, np.integer)) and batch_size >= 1):
        raise ValueError(f"batch_size must be a positive integer; got {batch_size}")
    params, X, y = _start(model, X, y, params)
    rng = np.random.default_rng(seed)
    grad = model.module.grad
    n = X.shape[0]

    def update(p, _g, _L):
        order = rng.permutation(n)
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            gb = grad(p, X[idx], y[idx])
            p = {k: p[k] - lr * np.asarray(gb[k]) for k in p}
        return p, lr

    return _run(model, X, y, params, name="sgd", lr=lr, steps=steps, tol=tol, grow=grow, update=update,
                on_step=on_step)  # fmt: skip

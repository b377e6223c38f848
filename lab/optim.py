"""Training: batch gradient descent on any model that keeps the contract."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from lab.model import Model, Params


class DivergedError(ValueError):
    """Gradient descent left the region where the loss is finite or shrinking."""


@dataclass
class History:
    """One entry per step: the loss and gradient norm at the start of the step, the step size, the wall time."""

    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    step_size: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    stop_reason: str = ""

    @property
    def steps(self) -> int:
        return len(self.loss) - 1


def grad_norm(g: Params) -> float:
    return float(np.sqrt(sum(float(np.sum(v * v)) for v in g.values())))


def fit(
    model: Model,
    X,
    y,
    *,
    lr: float,
    steps: int = 1000,
    tol: float = 1e-8,
    params: Params | None = None,
    grow: float = 1e6,
) -> tuple[Params, History]:
    """Batch gradient descent θ ← θ − lr ∇L(θ) from ``params`` (default ``model.init``).

    Stops when the gradient norm falls to ``tol`` ("converged") or after
    ``steps`` steps ("max steps"). Raises :class:`DivergedError` when the loss
    stops being finite or grows past ``grow`` times its start: it never returns
    NaN parameters.
    """
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"the learning rate must be a positive number; got {lr}")
    if steps < 0:
        raise ValueError(f"steps must be non-negative; got {steps}")
    _, X, y = model.check(None, X, y)
    params, X, y = model.check(params if params is not None else model.init(X.shape[1]), X, y)
    loss, grad = model.module.loss, model.module.grad
    hist = History()
    t0 = time.perf_counter()
    for step in range(steps + 1):
        L = float(loss(params, X, y))
        g = grad(params, X, y)
        gn = grad_norm(g)
        hist.loss.append(L)
        hist.grad_norm.append(gn)
        hist.time.append(time.perf_counter() - t0)
        if not np.isfinite(L) or not np.isfinite(gn) or L > grow * max(abs(hist.loss[0]), 1e-12):
            raise DivergedError(
                f"diverged at step {step}: loss grew from {hist.loss[0]:.3g} to {L:.3g}; "
                f"lower the learning rate (it is {lr:g})"
            )
        if gn <= tol:
            hist.stop_reason = "converged"
            break
        if step == steps:
            hist.stop_reason = "max steps"
            break
        params = {k: params[k] - lr * np.asarray(g[k]) for k in params}
        hist.step_size.append(lr)
    return params, hist

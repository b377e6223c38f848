"""The loop every full-batch optimizer shares: record the loss and gradient norm, stop on
divergence, on the tolerance or on the step limit, else take the optimizer's step."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from lab.model import Params
from lab.optim.history import CONVERGED, MAX_STEPS, STALLED, History, grad_norm
from lab.optim.inputs import _loss_and_grad
from lab.optim.rates import _diverged

#: ``update(params, grad, loss)`` -> ``(new params, step size)``, then the loss (and the gradient) at
#: the new params when it computed them already (a line search does), or None: stalled.
Update = Callable[[Params, Params, float], "tuple | None"]


def _check_run(lr: float, steps: int, tol: float) -> None:
    try:
        ok = math.isfinite(float(lr)) and float(lr) > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"the learning rate must be a positive number; got {lr}")
    if steps < 0:
        raise ValueError(f"steps must be non-negative; got {steps}")
    if not tol >= 0:
        raise ValueError(f"tol must be non-negative; got {tol}")


def _run(model, X, y, params, *, name, lr, steps, tol, grow, update: Update, on_step, beta=0.0, t0=None,
         params0=None):  # fmt: skip
    """Record, check and step: the loop every full-batch optimizer shares.

    At each step: the loss and gradient at ``params``; stop on a non-finite or grown loss
    (:class:`DivergedError`), on ``|∇L| ≤ tol``, or after ``steps`` steps; else
    ``update(params, grad, loss)`` gives the next params and the step size (None: stalled).
    The history's clock starts at ``t0`` (default: now).
    """
    grad, both = model.module.grad, _loss_and_grad(model)
    hist = History(optimizer=name, tol=tol)
    params0 = params if params0 is None else params0
    t0 = time.perf_counter() if t0 is None else t0
    known: tuple = ()  # (loss,) or (loss, gradient) at params, when the last update computed them
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for step in range(steps + 1):
            if len(known) == 2:
                L, g = known
            elif known:
                L, g = known[0], grad(params, X, y)
            else:
                L, g = both(params, X, y)
            L = float(L)
            gn = grad_norm(g)
            hist.loss.append(L)
            hist.grad_norm.append(gn)
            hist.time.append(time.perf_counter() - t0)
            if on_step is not None:
                on_step(step)
            if not (math.isfinite(L) and math.isfinite(gn)) or L > grow * max(abs(hist.loss[0]), 1e-12):
                raise _diverged(model, X, y, params0, hist, step, lr, name, beta)
            if gn <= tol:
                hist.stop_reason = CONVERGED
                break
            if step == steps:
                hist.stop_reason = MAX_STEPS
                break
            out = update(params, g, L)
            if out is None:
                hist.stop_reason = f"{STALLED}: the line search found no decrease (gradient norm {gn:.2g})"
                break
            params, size, *known = out
            hist.step_size.append(size)
    return params, hist

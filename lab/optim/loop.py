"""The loop every full-batch optimizer shares: record the loss and gradient norm, stop on
divergence, on the tolerance or on the step limit, else take the optimizer's step."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from lab.model import Params
from lab.optim.history import CONVERGED, FLAT_START, MAX_STEPS, STALLED, History, flatten, grad_norm, unflatten
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
            if step == 0 and gn == 0:
                flat = _flat_start(model.module.loss, params, X, y, L)
                if flat:
                    hist.stop_reason = f"{FLAT_START}: {flat}"
                    break
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


#: The probes of a start whose gradient is exactly 0: a move of PROBE·max(1, |θ_i|) along each parameter.
PROBE = 1e-3


def _flat_start(loss, params, X, y, L: float) -> str:
    """Why a start whose gradient is exactly 0 is not a minimum, or "" when it may be one.

    A zero gradient stops every first-order method at once. That is a minimum only if the loss rises
    around it; on a plateau (a Tukey loss with every residual beyond c, a ReLU unit that never fires)
    it is the same everywhere nearby, and at a saddle or a maximum it is lower somewhere. The loss is
    probed at θ ± h e_i along each parameter i, h = PROBE·max(1, |θ_i|).
    """
    theta = flatten(params)
    slack = 16 * np.finfo(np.float64).eps * abs(L)
    lower = same = 0
    for i in range(theta.size):
        h = PROBE * max(1.0, abs(theta[i]))
        for s in (h, -h):
            moved = theta.copy()
            moved[i] += s
            now = float(loss(unflatten(moved, params), X, y))
            lower += now < L - slack
            same += abs(now - L) <= slack
    probes = 2 * theta.size
    if lower:
        return (
            f"the gradient is exactly 0 at the starting point, but the loss is lower at {lower} of {probes} "
            "nearby points: a stationary point that is not a minimum; start elsewhere"
        )
    if same == probes:
        return (
            f"the gradient is exactly 0 at the starting point and the loss is the same at all {probes} nearby "
            "points tried: a plateau, not a minimum found by descent; start elsewhere or rescale the data"
        )
    return ""

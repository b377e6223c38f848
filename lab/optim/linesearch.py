"""Gradient descent with a backtracking (Armijo) line search: the default step of :func:`lab.optim.fit`
for a loss with no curvature bound valid everywhere (no Hessian, or a Hessian that changes along the path).

Each step tries a step size t and halves it until the loss falls by at least half of what the slope
promises (derivations/lessons/convergence.md, eq. 8):

    L(θ − t ∇L(θ)) ≤ L(θ) − ½ t |∇L(θ)|²,

and, where the two losses agree within their measured rounding, until the slope at the new point has
not turned (eq. 9).

The next step tries 2t first, so the step can grow again where the loss is less curved.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lab.model import Model, Params
from lab.optim.history import History
from lab.optim.inputs import FEW_ULPS, _start, loss_rounding
from lab.optim.loop import _check_run, _run

#: The Armijo constant: a step must give at least this share of the decrease t|∇L|² of the linear model.
ARMIJO_C = 0.5
#: The first trial step, and the factor by which the trial grows after each accepted step.
FIRST_TRIAL, GROWTH = 1.0, 2.0
NOTE = "step sizes by backtracking line search (Armijo, c = 1/2)"


def armijo(loss: Callable[[Params], float], grad: Callable[[Params], Params], p: Params, g: Params, L: float,
           t: float, c: float = ARMIJO_C, rounding: Callable[[Params, float], float] | None = None,
           judged: list[float] | None = None):  # fmt: skip
    """The first of t, t/2, t/4, ... with L(p − t g) ≤ L − c t |g|² (eq. 8).

    Near a minimum the decrease c t |g|² falls below the rounding of L, and the two losses no longer
    tell it. There the change of L is measured from the slopes at both ends instead (the trapezoid rule,
    exact on a quadratic): L(p − t g) − L ≈ −(t/2)(|g|² + g_newᵀg), so (eq. 8) reads
    g_newᵀg ≥ (2c − 1)|g|² (eq. 9). Two losses cannot tell a change when they agree within their
    rounding, |L_new − L| ≤ err(L_new) + err(L), each measured by ``rounding(params, loss)``
    (:func:`lab.optim.inputs.loss_rounding`; default: 16 eps times the loss).

    Returns ``(new params, t, new loss)``, with the new gradient when it was computed, or None when no
    step that still changes ``p`` meets the condition. A step whose loss is not finite fails. ``judged``,
    when given, gets one entry per accepted step: err(L_new) + err(L) where the slopes decided, NaN where
    the losses did.
    """
    g2 = float(sum(np.sum(np.square(np.asarray(v))) for v in g.values()))
    err = rounding or (lambda q, v: FEW_ULPS * abs(v))
    here = None  # err(L), measured once, when first needed
    while True:
        new = {k: p[k] - t * np.asarray(g[k]) for k in p}
        if all(np.array_equal(new[k], p[k]) for k in p):
            return None  # t is below the rounding of p: no step left to try
        now = float(loss(new))
        if np.isfinite(now) and now <= L - c * t * g2:  # (eq. 8)
            if judged is not None:
                judged.append(np.nan)
            return new, t, now
        if np.isfinite(now):
            here = err(p, L) if here is None else here
            both = here + err(new, now)
            if abs(now - L) <= both:  # the losses agree within their rounding: the slopes decide
                gn = grad(new)
                slope = float(sum(np.sum(np.asarray(gn[k]) * np.asarray(g[k])) for k in g))
                if slope >= (2 * c - 1) * g2:  # (eq. 9)
                    if judged is not None:
                        judged.append(both)
                    return new, t, now, gn
        t /= 2


def gd_linesearch(model: Model, X, y, *, steps: int = 1000, tol: float = 1e-8, params: Params | None = None,
                  first: float = FIRST_TRIAL, c: float = ARMIJO_C,
                  on_step: Callable[[int], None] | None = None) -> tuple[Params, History]:  # fmt: skip
    """Gradient descent θ ← θ − t ∇L(θ), each t from :func:`armijo` starting at twice the last step
    (``first`` at the first step). The loss falls at every step, so the run cannot diverge; it stops as
    :func:`lab.optim.gd` does, or "stalled" when no step decreases the loss. ``step_size`` records each t.

    For a gradient that is Lipschitz with constant L near the path, every t ≤ 1/L meets the condition
    (the descent lemma), so the accepted steps are at least 1/(2L) and each lowers the loss by at least
    |∇L|²/(4L).
    """
    _check_run(first, steps, tol)
    if not 0 < c < 1:
        raise ValueError(f"the Armijo constant c must be in (0, 1); got {c}")
    params, X, y = _start(model, X, y, params)
    loss, grad = model.module.loss, model.module.grad
    err = loss_rounding(loss)
    trial, judged = [float(first)], []

    def update(p, g, L):
        out = armijo(lambda q: loss(q, X, y), lambda q: grad(q, X, y), p, g, L, trial[0], c,
                     rounding=lambda q, v: err(q, v, X, y), judged=judged)  # fmt: skip
        if out is None:
            return None
        trial[0] = GROWTH * out[1]
        return out

    params, hist = _run(model, X, y, params, name="gd", lr=first, steps=steps, tol=tol, grow=np.inf, update=update,
                        on_step=on_step)  # fmt: skip
    hist.note = "; ".join(filter(None, [hist.note, NOTE]))
    hist.rounding = judged
    return params, hist

"""Newton's method with the model's analytic Hessian and a backtracking line search; on large data,
Hessians from sampled rows and a warm start from Newton on a subsample."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from lab.model import Model, Params
from lab.optim.history import History, flatten, unflatten
from lab.optim.inputs import FEW_ULPS, _hessian_of, _start, loss_rounding
from lab.optim.loop import _check_run, _run

WARM_STEPS = 20  # Newton on a subsample stops after this many steps at most (see newton's warm_start)
LADDER = 10  # a warm start on m rows starts from m/10 of them while m/10 ≥ LADDER rows per parameter


def newton(model: Model, X, y, *, lr: float = 1.0, steps: int = 100, tol: float = 1e-8, params: Params | None = None,
           c: float = 1e-4, hessian_rows: int | None = None, warm_start: int | None = None, seed: int = 0,
           on_step: Callable[[int], None] | None = None) -> tuple[Params, History]:  # fmt: skip
    """Newton's method θ ← θ − t H⁻¹∇L with the model's analytic Hessian H (over the flattened
    parameters, w then b) and a backtracking (Armijo) line search.

    The step t starts at ``lr`` (1, the full Newton step) and halves until
    L(θ + t p) ≤ L(θ) + c t ∇Lᵀp, up to the two losses' rounding, measured
    (:func:`~lab.optim.inputs.loss_rounding`). Where H is singular the direction comes from least
    squares; where it is not a descent direction, from −∇L. Stops as :func:`gd` does, or "stalled"
    when no step down is left. Raises ``ValueError`` when the model has no hessian.

    Two options make large data cheap, alone or together. Both assume the loss is a mean over the
    rows (plus terms that do not depend on the data), as every model in the lab is. Neither
    changes what is returned: the gradient, the loss and the stopping test use all the rows.

    - ``hessian_rows=m``: each step's Hessian comes from m rows drawn at random (from ``seed``),
      an unbiased estimate at a fraction m/n of the cost. The convergence becomes linear, with a
      rate that shrinks as m grows, instead of quadratic.
    - ``warm_start=m``: first run Newton on m rows drawn at random, and start from its solution.
      That solution is within sampling error of the full one, so it is solved only until the
      Newton decrement λ² = −∇Lᵀp meets λ²/2 ≤ (P/m) |L| (P parameters), the loss's own
      sampling error for a mean of m terms; the full-data steps then start close to the optimum.
      That solve in turn starts from Newton on a tenth of the m rows, while a tenth still has
      ``LADDER`` rows per parameter. The start is kept only if its loss on up to m other random
      rows is no worse than the user's start there (a subsample can be separable where the data
      is not).
    """
    hess = _hessian_of(model)
    _check_run(lr, steps, tol)
    params, X, y = _start(model, X, y, params)
    n = X.shape[0]
    for what, m in (("hessian_rows", hessian_rows), ("warm_start", warm_start)):
        if m is not None and not (isinstance(m, (int, np.integer)) and m >= 1):
            raise ValueError(f"{what} must be a positive number of rows; got {m!r}")
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    params0, note = params, ""
    loss, grad = model.module.loss, model.module.grad
    fused = getattr(model.module, "loss_and_grad", None)
    err = loss_rounding(loss)

    def at(p, X, y) -> tuple:
        """(loss,) at p, or (loss, gradient) when the model computes both in one pass."""
        if callable(fused):
            L, g = fused(p, X, y)
            return float(L), g
        return (float(loss(p, X, y)),)

    def step(p, g, L, X, y):
        """A Newton step on (X, y), its Hessian from ``hessian_rows`` of those rows when that is fewer."""
        Xh, yh = X, y
        if hessian_rows is not None and hessian_rows < X.shape[0]:
            rows = np.sort(rng.integers(0, X.shape[0], int(hessian_rows)))
            Xh, yh = X[rows], y[rows]
        return _newton_step(at, hess, p, g, L, X, y, lr, c, err, Xh=Xh, yh=yh)

    size = sum(int(np.size(v)) for v in params.values())

    def solve_on(p, Xs, ys):
        """Newton on (Xs, ys) from p, to the sampling error of its m rows; itself started from a tenth
        of them while that tenth has at least LADDER rows per parameter. Returns (params, [(rows, steps)
        of each solve, smallest first])."""
        m, ladder = Xs.shape[0], []
        if m // 10 >= LADDER * size:
            p, ladder = solve_on(p, Xs[: m // 10], ys[: m // 10])  # the rows are in random order already
        sub = 0
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            now = at(p, Xs, ys)
            while sub < min(steps, WARM_STEPS):
                L = now[0]
                out = step(p, now[1] if len(now) == 2 else grad(p, Xs, ys), L, Xs, ys)
                if out is None:
                    break
                p, _, now, decrement = out
                L = now[0]
                sub += 1
                if decrement / 2 <= size / m * abs(L):
                    break
        return p, [*ladder, (m, sub)]

    if warm_start is not None and warm_start < n:
        m = int(warm_start)
        drawn = rng.choice(n, min(n, 2 * m), replace=False)  # in random order
        mine, held = drawn[:m], np.sort(drawn[m:])  # rows to solve on; up to m other rows to judge the result
        p, ladder = solve_on(params, X[mine], y[mine])
        # a subsample can mislead (it may be separable where the data is not): judge the start it
        # gives on rows it has not seen, and keep the user's start when that is better there
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            L0, Lw = float(loss(params, X[held], y[held])), float(loss(p, X[held], y[held]))
        if Lw <= L0:
            params = p
            rows = " then ".join(f"{r:,}" for r, _ in ladder)
            took = " + ".join(str(k) for _, k in ladder)
            note = f"started from Newton on {rows} of {n:,} rows ({took} step{'s' * (took != '1')})"
        else:
            note = (f"ignored the start from Newton on {m:,} of {n:,} rows: on {len(held):,} other rows its loss "
                    f"{Lw:.6g} > {L0:.6g}")  # fmt: skip

    def update(p, g, L):
        out = step(p, g, L, X, y)
        return None if out is None else (out[0], out[1], *out[2])

    params, hist = _run(model, X, y, params, name="newton", lr=lr, steps=steps, tol=tol, grow=math.inf,
                        update=update, on_step=on_step, t0=t0, params0=params0)  # fmt: skip
    if hessian_rows is not None and hessian_rows < n:
        note = "; ".join(filter(None, [note, f"each Hessian from {int(hessian_rows):,} random rows"]))
    hist.note = note
    return params, hist


def _newton_step(at, hess, p, g, L, X, y, lr, c, rounding, Xh=None, yh=None):
    """One damped Newton step from ``p`` (gradient ``g``, loss ``L``), the Hessian taken on (Xh, yh)
    (default: X, y); ``at(params, X, y)`` gives ``(loss,)`` or ``(loss, gradient)``, ``rounding(params,
    loss, X, y)`` the loss's measured rounding (:func:`lab.optim.inputs.loss_rounding`). Returns
    ``(new params, step size, at(new params), decrement −∇Lᵀd)``, or None when no step decreases L."""
    gf = flatten(g)
    H = np.asarray(hess(p, X if Xh is None else Xh, y if yh is None else yh), dtype=np.float64)
    # a singular Hessian (softmax's constant shift, a dead hinge) has many Newton steps: take the
    # shortest, so the parameters do not drift along the null space
    if np.linalg.cond(H) < 1e12:
        d = -np.linalg.solve(H, gf)
    else:
        d = -np.linalg.lstsq(H, gf, rcond=None)[0]
    slope = float(gf @ d)
    if not (np.all(np.isfinite(d)) and slope < 0):
        d, slope = -gf, -float(gf @ gf)
    theta, t, here = flatten(p), lr, None
    while t > 1e-12 * lr:
        new = unflatten(theta + t * d, p)
        now = at(new, X, y)
        target = L + c * t * slope
        if now[0] <= target + FEW_ULPS * abs(L):  # met without measuring: the rounding is at least this
            return new, t, now, -slope
        if np.isfinite(now[0]):  # a miss within the two losses' measured rounding is no evidence against t
            here = rounding(p, L, X, y) if here is None else here
            if now[0] <= target + here + rounding(new, now[0], X, y):
                return new, t, now, -slope
        t /= 2
    return None

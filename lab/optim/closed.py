"""The closed form: least squares by the normal equations (Cholesky, or lstsq when ill-conditioned),
or a model's own ``closed_form``."""

from __future__ import annotations

import math
import time
import warnings

import numpy as np

from lab.model import Model, Params
from lab.optim.history import History, grad_norm
from lab.optim.inputs import _start


def least_squares(model: Model, d: int) -> bool:
    """Whether ``model`` is least squares on a linear predictor, so :func:`closed_form` applies.

    Decided by what the model computes, not by its name: its TARGET is "real", its parameters
    are ``w`` (d entries) and a scalar ``b``, and its loss equals mean((X w + b − y)²) at two
    random points. So linear_regression, multivariate_linear_regression and a user's copy of them
    qualify; a penalized or non-linear loss does not.
    """
    if model.target != "real":
        return False
    p0 = model.init(d)
    if list(p0) != ["w", "b"] or np.size(p0["w"]) != d or np.shape(p0["b"]) != ():
        return False
    rng = np.random.default_rng(0)
    Xs, ys = rng.standard_normal((7, d)), rng.standard_normal(7)
    for _ in range(2):
        p = {k: rng.standard_normal(np.shape(v)) for k, v in p0.items()}
        ref = np.mean((Xs @ np.reshape(p["w"], -1) + p["b"] - ys) ** 2)
        try:
            got = float(model.module.loss(p, Xs, ys))
        except Exception:
            return False
        if not np.isclose(got, ref, rtol=1e-10, atol=0):
            return False
    return True


def closed_form(model: Model, X, y, *, cond_max: float = 1e12, params: Params | None = None,
                **_ignored) -> tuple[Params, History]:  # fmt: skip
    """The least-squares minimizer from the normal equations X̃ᵀX̃ θ = X̃ᵀy, X̃ = [X, 1].

    The intercept is eliminated first (its own equation gives b = ȳ − x̄ᵀw), which leaves
    X_cᵀX_c w = X_cᵀ y_c on the centered data: the same solution, better conditioned. That
    d×d system is solved by Cholesky. When Cholesky fails or its condition number exceeds
    ``cond_max``, it warns (``RuntimeWarning``, naming the condition number) and solves
    min |X_c w − y_c| by ``numpy.linalg.lstsq`` instead, which does not square the condition.

    A model that defines its own ``closed_form(X, y) -> params`` (ridge_regression does) is solved
    by it instead. For any other model, ``ValueError``. The history has two entries, the start
    (``params``, default ``model.init``) and the solution; ``lr``, ``steps`` and ``tol`` are ignored.
    """
    p0, X, y = _start(model, X, y, params)
    own = getattr(model.module, "closed_form", None)
    if not callable(own) and not least_squares(model, X.shape[1]):
        raise ValueError(f"the closed form applies to least squares on X w + b (such as linear_regression and "
                         f"multivariate_linear_regression), or to a model with its own closed_form; {model.name!r} "
                         "is neither")  # fmt: skip
    hist = History(loss=[float(model.module.loss(p0, X, y))], grad_norm=[grad_norm(model.module.grad(p0, X, y))],
                   time=[0.0], optimizer="closed")  # fmt: skip
    t0 = time.perf_counter()
    if callable(own):
        params = model.check(own(X, y), X, y)[0]
        hist.stop_reason = f"solved: {model.name}.closed_form"
        return params, _finish(model, X, y, params, hist, t0)
    mu, ym = X.mean(axis=0), float(y.mean())
    Xc, yc = X - mu, y - ym
    A, rhs = Xc.T @ Xc, Xc.T @ yc
    ev = np.linalg.eigvalsh(A)
    cond = ev[-1] / ev[0] if ev[0] > 0 else math.inf
    w, how = None, "Cholesky"
    if cond <= cond_max:
        try:
            C = np.linalg.cholesky(A)
            w = np.linalg.solve(C.T, np.linalg.solve(C, rhs))  # C Cᵀ w = rhs: two triangular solves
        except np.linalg.LinAlgError:
            w = None
    if w is None:
        why = f"> {cond_max:.3g}" if cond > cond_max else "and Cholesky failed"
        msg = f"the normal equations are ill-conditioned (condition number {cond:.3g} {why}); solving by lstsq"
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
        w, how = np.linalg.lstsq(Xc, yc, rcond=None)[0], "lstsq"
    b = ym - float(mu @ w)
    params = {"w": np.reshape(w, np.shape(p0["w"])).astype(np.float64), "b": np.asarray(b, dtype=np.float64)}
    hist.stop_reason = "solved: normal equations by Cholesky" if how == "Cholesky" else "solved: least squares (lstsq)"
    return params, _finish(model, X, y, params, hist, t0)


def _finish(model: Model, X, y, params: Params, hist: History, t0: float) -> History:
    """Record the solution as the history's second and last entry."""
    hist.time.append(time.perf_counter() - t0)
    hist.loss.append(float(model.module.loss(params, X, y)))
    hist.grad_norm.append(grad_norm(model.module.grad(params, X, y)))
    hist.step_size.append(1.0)
    return hist

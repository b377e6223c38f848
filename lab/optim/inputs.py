"""How the optimizers call a model: inputs checked once (data, parameters, hyperparameters, and what
``loss`` and ``grad`` return), then the raw module functions in the loop."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

import numpy as np

from lab.model import Model, Params, check_params

#: The rounding every float64 loss may carry however it is computed: a few roundings of its own size.
FEW_ULPS = 16 * np.finfo(np.float64).eps


def _hessian_of(model: Model) -> Callable:
    h = getattr(model.module, "hessian", None)
    if not callable(h):
        raise ValueError(f"model {model.name!r} has no hessian, so Newton's method and the bound 2/L are unavailable")
    return h


#: The (X, y) that fit has just checked, so the optimizer it calls need not read X again to check it.
_CHECKED: ContextVar[tuple] = ContextVar("checked", default=())


def _loss_and_grad(model: Model) -> Callable:
    """The model's ``loss_and_grad`` (one pass over X; the verifier checks it against ``loss`` and
    ``grad``), or the two called in turn."""
    both = getattr(model.module, "loss_and_grad", None)
    if callable(both):
        return both
    return lambda p, X, y: (model.module.loss(p, X, y), model.module.grad(p, X, y))


def _start(model: Model, X, y, params: Params | None):
    """Checked ``(params, X, y)``, with ``params`` defaulting to ``model.init(d)``."""
    checked = _CHECKED.get()
    if not (checked and checked[0] is X and checked[1] is y):
        _, X, y = model.check(None, X, y)
    expected = model.init(X.shape[1])
    return check_params(expected if params is None else params, expected, exact=not model.shapes), X, y


def loss_rounding(loss: Callable) -> Callable[[Params, float, np.ndarray, np.ndarray], float]:
    """``err(p, L, X, y)``: the rounding of ``L = loss(p, X, y)``, measured. The loss is computed again in
    extended precision (``np.longdouble``, 11 more bits on x86), and |L − L_ext| is the error of L.

    A loss that cancels (a mean of differences, 1 − (1 − u)³ for small u) can carry far more than a
    few roundings of its own size, so no multiple of eps·|L| bounds it. The result is at least
    ``FEW_ULPS``·|L|, which is also what it is where no extended run is possible: a long double that
    is float64, or a loss that casts to float64 or does not take long doubles.
    """
    few = lambda L: FEW_ULPS * abs(L)  # noqa: E731
    if np.finfo(np.longdouble).nmant <= 52:
        return lambda p, L, X, y: few(L)
    last: list = [None, None, None, None]  # the last data seen, X and y, and both in extended precision

    def err(p: Params, L: float, X, y) -> float:
        if last[0] is not X or last[1] is not y:
            last[:] = [X, y, np.asarray(X, np.longdouble), np.asarray(y, np.longdouble)]
        Xl, yl = last[2:]
        try:
            with np.errstate(all="ignore"):
                ext = np.asarray(loss({k: np.asarray(v, np.longdouble) for k, v in p.items()}, Xl, yl))
        except Exception:  # a loss that does not take long doubles
            return few(L)
        if ext.dtype != np.longdouble or not np.isfinite(ext):
            return few(L)
        return max(few(L), float(abs(np.longdouble(L) - ext)))

    return err

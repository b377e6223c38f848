"""How the optimizers call a model: inputs checked once (data, parameters, hyperparameters, and what
``loss`` and ``grad`` return), then the raw module functions in the loop."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from lab.model import Model, Params, check_params


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

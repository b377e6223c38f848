"""Training: optimizers for any model that keeps the contract, and the learning-rate story.

Every optimizer takes a :class:`lab.model.Model`, data ``X`` (n, d) and ``y`` (n,),
and returns ``(params, History)``:

- :func:`gd`: batch gradient descent, θ ← θ − lr ∇L(θ);
- :func:`gd_linesearch`: gradient descent with a backtracking (Armijo) line search, the default
  where no curvature bound holds everywhere;
- :func:`sgd`: mini-batch SGD, reshuffled every epoch from a seed;
- :func:`momentum` (heavy ball) and :func:`nesterov`;
- :func:`adam` and :func:`adamw` (Adam with decoupled weight decay): a step of about lr per coordinate
  (:class:`Adam` takes the same step in a loop of one's own);
- :func:`newton`: Newton's method with the model's analytic Hessian and a backtracking
  (Armijo) line search;
- :func:`closed_form`: the normal equations of least squares, by Cholesky (or a model's own
  ``closed_form``, as ridge_regression has).

They stop when the gradient norm falls to ``tol`` (``stop_reason`` "converged") or after ``steps``
steps ("max steps"); :attr:`History.message` says which in words, with the numbers. For a binary
classifier without a penalty, :func:`fit` also checks whether the classes are linearly separable
(:mod:`~lab.optim.separable`, a linear program): ``History.separable`` records it, and when the
model's loss keeps falling along the separating direction (it has no minimum, ``History.no_minimum``)
the message says so in place of "converged".

:func:`fit` is the single entry point. :func:`lipschitz`, :func:`stable_lr` and
:func:`safe_lr` give the step sizes that keep gradient descent stable: on a quadratic loss
with Hessian H and L = λ_max(H), gradient descent converges exactly when 0 < lr < 2/L.

The package keeps its jobs apart: :mod:`~lab.optim.rates` (the learning-rate story),
:mod:`~lab.optim.first_order`, :mod:`~lab.optim.adaptive` (Adam, AdamW), :mod:`~lab.optim.newton`,
:mod:`~lab.optim.closed` (the closed form), with :mod:`~lab.optim.history` (what a run records),
:mod:`~lab.optim.inputs` (checked input) and :mod:`~lab.optim.loop` (the loop the iterative methods share).

NumPy only: training never imports JAX (``lab.verify`` does).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lab.model import Model, Params, check_contract
from lab.optim.adaptive import ADAM_LR, Adam, adam, adamw
from lab.optim.closed import closed_form, least_squares
from lab.optim.first_order import gd, momentum, nesterov, sgd
from lab.optim.history import (
    CONVERGED,
    FLAT_START,
    MAX_STEPS,
    STALLED,
    DivergedError,
    History,
    flatten,
    grad_norm,
    unflatten,
)
from lab.optim.inputs import _CHECKED, _start
from lab.optim.linesearch import ARMIJO_C, armijo, gd_linesearch
from lab.optim.loop import Update
from lab.optim.newton import LADDER, WARM_STEPS, newton
from lab.optim.rates import PENALTY, Curvature, _default, has_global_bound, lipschitz, safe_lr, smooth, stable_lr
from lab.optim.separable import FIX_OTHER, FIX_PENALTY, falls_along, separable, separating_hyperplane

__all__ = [
    "ADAM_LR",
    "ARMIJO_C",
    "CONVERGED",
    "FLAT_START",
    "LADDER",
    "MAX_STEPS",
    "OPTIMIZERS",
    "PENALTY",
    "STALLED",
    "WARM_STEPS",
    "Adam",
    "Curvature",
    "DivergedError",
    "History",
    "Update",
    "adam",
    "adamw",
    "armijo",
    "closed_form",
    "fit",
    "flatten",
    "gd",
    "gd_linesearch",
    "grad_norm",
    "has_global_bound",
    "least_squares",
    "lipschitz",
    "momentum",
    "nesterov",
    "newton",
    "safe_lr",
    "separable",
    "separating_hyperplane",
    "sgd",
    "smooth",
    "stable_lr",
    "unbounded_when_separable",
    "unflatten",
]

# -- the entry point ---------------------------------------------------------------------------

OPTIMIZERS: dict[str, Callable[..., tuple[Params, History]]] = {
    "gd": gd,
    "sgd": sgd,
    "momentum": momentum,
    "nesterov": nesterov,
    "adam": adam,
    "adamw": adamw,
    "newton": newton,
    "closed": closed_form,
}


#: The rows on which :func:`fit` checks what loss and grad return (shapes do not depend on n).
CONTRACT_ROWS = 16


def fit(model: Model, X, y, *, optimizer: str = "gd", lr: float | str = "auto", steps: int = 1000,
        tol: float = 1e-8, params: Params | None = None, hyper: dict[str, float] | None = None,
        check_separable: bool = True, **kw) -> tuple[Params, History]:  # fmt: skip
    """Train ``model`` on ``(X, y)`` with ``optimizer`` (a key of :data:`OPTIMIZERS`).

    ``lr="auto"`` picks :func:`safe_lr` (1/L) for the gradient methods when L bounds the curvature
    everywhere (:func:`has_global_bound`), and 1 (the full step) for Newton; the closed form takes no
    step. Without such a bound (no Hessian, or one that changes along the path, as on a non-convex
    loss) no fixed step is known to be safe, and ``gd`` takes each step by a backtracking (Armijo) line
    search instead (:func:`~lab.optim.linesearch.gd_linesearch`); momentum, Nesterov and SGD keep 1/L
    from the Hessian at the start (a ``ValueError`` without one); Adam and AdamW take :data:`ADAM_LR`, since
    their step is about lr per coordinate whatever the curvature. Other keywords go to the optimizer
    (``batch_size``, ``seed``, ``beta``, ``beta1``, ``beta2``, ``eps``, ``weight_decay``, ``grow``, ``on_step``,
    ``cond_max``, ``c``, ``hessian_rows``, ``warm_start``). ``hyper`` fixes the
    model's hyperparameters (``{"lam": 0.5}``); the defaults of its functions hold otherwise (a
    value outside the model's ``HYPER_DOMAIN`` is a ``ValueError``).
    Input is checked with ``model.check`` first, once, and what ``loss`` and ``grad`` return with
    :func:`lab.model.check_contract` (a ``ModelError`` naming the function, the key and the shapes).

    For a binary classifier without a penalty (:func:`unbounded_when_separable`), ``check_separable``
    solves a linear program after the run (:func:`lab.optim.separable.separable`, under a second for
    n·(d + 1) up to 10⁶, skipped above): ``History.separable`` is True when the classes are linearly
    separable. When the model's loss also keeps falling along the separating direction (the cross-entropy
    does), ``History.no_minimum`` is True and the message says the loss has no minimum in place of
    "converged".
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    model = model.with_hyper(**(hyper or {}))
    p0, X, y = _start(model, X, y, params)
    # what loss and grad return, once, before any step: on a few rows, so X is still read once per step
    check_contract(model, p0, X[:CONTRACT_ROWS], y[:CONTRACT_ROWS])
    token = _CHECKED.set((X, y))
    try:
        if optimizer == "closed":
            return closed_form(model, X, y, params=p0, **kw)
        if isinstance(lr, str):
            if lr != "auto":
                raise ValueError(f"the learning rate must be a positive number or 'auto'; got {lr!r}")
            if optimizer == "gd" and smooth(model) and not has_global_bound(model, X, y, p0):
                params, hist = gd_linesearch(model, X, y, steps=steps, tol=tol, params=p0, **kw)
                lr = None
            elif optimizer in ("adam", "adamw"):
                lr = ADAM_LR
            else:
                lr = 1.0 if optimizer == "newton" else safe_lr(model, X, y, p0, optimizer=optimizer)
        if lr is not None:
            params, hist = OPTIMIZERS[optimizer](model, X, y, lr=lr, steps=steps, tol=tol, params=p0, **kw)
    finally:
        _CHECKED.reset(token)
    if check_separable and unbounded_when_separable(model):
        hist.separable, theta = separating_hyperplane(X, y)
        if hist.separable and set(p0) == {"w", "b"} and np.shape(p0["w"]) == (X.shape[1],) and np.ndim(p0["b"]) == 0:
            hist.no_minimum = falls_along(model.module.loss, X, y, theta)
            hist.separable_fix = FIX_PENALTY if PENALTY in model.hyperparameters else FIX_OTHER
    return params, hist


def unbounded_when_separable(model: Model) -> bool:
    """Whether :func:`fit` checks for separable classes, which can leave ``model``'s loss without a minimum: a
    binary classifier (TARGET "binary" or "signed") with no L2 penalty (``lam`` absent or 0) and a smooth loss.
    (A loss with a kink at the margin, such as the hinge, reaches its minimum 0 at finite weights on separable
    data.) Whether the loss has a minimum is then read from the loss itself along the separating direction
    (:func:`lab.optim.separable.falls_along`): a squared error on 0/1 labels has one."""
    if model.target not in ("binary", "signed") or not smooth(model):
        return False
    return not (PENALTY in model.hyperparameters and _default(model, PENALTY) > 0)

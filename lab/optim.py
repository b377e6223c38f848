"""Training: optimizers for any model that keeps the contract, and the learning-rate story.

Every optimizer takes a :class:`lab.model.Model`, data ``X`` (n, d) and ``y`` (n,),
and returns ``(params, History)``:

- :func:`gd`: batch gradient descent, θ ← θ − lr ∇L(θ);
- :func:`sgd`: mini-batch SGD, reshuffled every epoch from a seed;
- :func:`momentum` (heavy ball) and :func:`nesterov`;
- :func:`newton`: Newton's method with the model's analytic Hessian and a backtracking
  (Armijo) line search;
- :func:`closed_form`: the normal equations of least squares, by Cholesky (or a model's own
  ``closed_form``, as ridge_regression has).

They stop when the gradient norm falls to ``tol`` (``stop_reason`` "converged") or after ``steps``
steps ("max steps"); :attr:`History.message` says which in words, with the numbers.

:func:`fit` is the single entry point. :func:`lipschitz`, :func:`stable_lr` and
:func:`safe_lr` give the step sizes that keep gradient descent stable: on a quadratic loss
with Hessian H and L = λ_max(H), gradient descent converges exactly when 0 < lr < 2/L.

NumPy only: training never imports JAX (``lab.verify`` does).
"""

from __future__ import annotations

import inspect
import math
import time
import warnings
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np

from lab.model import Model, Params, check_params

#: The stop reasons of the iterative optimizers.
CONVERGED = "converged"  # the gradient norm fell to tol
MAX_STEPS = "max steps"
STALLED = "stalled"  # Newton's line search found no decrease (the loss is flat to rounding)
WARM_STEPS = 20  # Newton on a subsample stops after this many steps at most (see newton's warm_start)
LADDER = 10  # a warm start on m rows starts from m/10 of them while m/10 ≥ LADDER rows per parameter

#: A model may declare ``CURVATURE = c``: sample i's Hessian is at most c x̃_i x̃_iᵀ (times the
#: identity, for several outputs), plus λ I when it has an L2 hyperparameter ``lam``, so at every θ
#:   λ_max(H) ≤ c λ_max(X̃ᵀX̃)/n + λ   (the whole loss)   and   ≤ c max_i |x̃_i|² + λ   (any mini-batch).
#: Logistic regression: p(1 − p) ≤ 1/4. Huber: ρ''(r) ∈ {0, 1}. Softmax: diag(p) − ppᵀ ≼ ½ I
#: (Böhning). Poisson's curvature e^z has no bound, so it declares none.
PENALTY = "lam"


class DivergedError(ValueError):
    """Training left the region where the loss is finite or shrinking.

    ``history`` holds the steps up to the divergence; no parameters are returned.
    """

    def __init__(self, message: str, history: History | None = None):
        super().__init__(message)
        self.history = history


@dataclass
class History:
    """One entry per step: the loss and gradient norm at the start of the step, the wall time since the
    start; ``step_size`` holds the size of each step taken (one fewer entry). For :func:`sgd` a step is
    one epoch (one pass over the data, as for :func:`gd`)."""

    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    step_size: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    stop_reason: str = ""
    optimizer: str = ""
    tol: float = math.nan
    note: str = ""  # how the run started or was set up, when that matters (Newton's options)

    @property
    def steps(self) -> int:
        return len(self.loss) - 1

    @property
    def message(self) -> str:
        """The stop reason in words, e.g. "converged: gradient norm 3.1e-09 ≤ tol 1e-08", then the note."""
        gn = self.grad_norm[-1] if self.grad_norm else math.nan
        if self.stop_reason == CONVERGED:
            said = f"converged: gradient norm {gn:.2g} ≤ tol {self.tol:g}"
        elif self.stop_reason == MAX_STEPS:
            said = f"max steps: gradient norm {gn:.2g} > tol {self.tol:g}"
        else:
            said = self.stop_reason
        return f"{said}; {self.note}" if self.note else said


def grad_norm(g: Params) -> float:
    return float(np.sqrt(sum(float(np.sum(np.square(v))) for v in g.values())))


# -- flattening: the Hessian is over the parameters in init's key order (w, then b) --------


def flatten(params: Params) -> np.ndarray:
    """The parameters as one vector, in the dict's key order (init's order: w, then b)."""
    return np.concatenate([np.ravel(v) for v in params.values()])


def unflatten(theta: np.ndarray, like: Params) -> Params:
    """The inverse of :func:`flatten`: a dict with the keys and shapes of ``like``."""
    out, i = {}, 0
    for k, v in like.items():
        size = int(np.size(v))
        out[k] = np.reshape(theta[i : i + size], np.shape(v)).copy()
        i += size
    return out


# -- the learning-rate story ---------------------------------------------------------------


class Curvature(dict):
    """The result of :func:`lipschitz`: a dict, and ``float(c)`` is ``c["L"]``."""

    def __float__(self) -> float:
        return float(self["L"])


def _gram(X: np.ndarray) -> np.ndarray:
    """X̃ᵀX̃ with X̃ = [X, 1], without copying X."""
    n, d = X.shape
    s = X.sum(axis=0)
    G = np.empty((d + 1, d + 1))
    G[:d, :d] = X.T @ X
    G[:d, d] = G[d, :d] = s
    G[d, d] = n
    return G


def _lambda_max(H: np.ndarray) -> float:
    H = np.asarray(H, dtype=np.float64)
    return float(np.linalg.eigvalsh((H + H.T) / 2)[-1])


def _default(model: Model, name: str) -> float:
    """The default of the loss's keyword-only hyperparameter ``name`` (0 when there is none)."""
    p = inspect.signature(model.module.loss).parameters.get(name)
    return float(p.default) if p is not None and p.default is not inspect.Parameter.empty else 0.0


def _curvature_bounds(model: Model, X: np.ndarray) -> tuple[float, float]:
    """(whole-loss bound, any-mini-batch bound) from the model's ``CURVATURE``."""
    c = float(model.module.CURVATURE)
    lam = _default(model, PENALTY) if PENALTY in model.hyperparameters else 0.0
    return c * _lambda_max(_gram(X)) / X.shape[0] + lam, c * float(np.max(np.sum(X * X, axis=1) + 1)) + lam


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


def smooth(model: Model) -> bool:
    """Whether the gradient is continuous (a model declaring ``KINK_ORDER = 1``, such as the hinge
    loss, has a gradient that jumps: no step size is stable everywhere, so there is no 2/L)."""
    return getattr(model.module, "KINK_ORDER", None) != 1


def lipschitz(model: Model, X, y, params: Params | None = None) -> Curvature:
    """How curved the loss is: the largest Hessian eigenvalue, at the start point and globally.

    Returns a dict (``float(result)`` is ``result["L"]``):

    - ``at_start``: λ_max of the Hessian at ``params`` (default ``model.init``);
    - ``quadratic``: whether the loss is quadratic: the model declares no ``KINK_ORDER`` and the
      gradient is affine, ∇L(θ₁) − ∇L(θ₀) = H (θ₁ − θ₀) with the same H at both points (checked
      at a random θ₁);
    - ``global``: a bound on λ_max valid at every θ, or None when unknown. For a quadratic loss it
      is ``at_start``, exact and global; for logistic regression λ_max(X̃ᵀX̃)/(4n) (see
      the model's ``CURVATURE``);
    - ``L``: the value step sizes use, ``global`` when known, else ``at_start``;
    - ``per_sample``: the curvature of the most curved single sample's loss, which bounds every
      mini-batch's Hessian (λ_max of a mean is at most the largest λ_max), so SGD steps by it. It is
      c max_i |x̃_i|² + λ for models that declare ``CURVATURE``, else the Hessian at the start point
      on the row of largest |x̃_i| (exact for least squares), and never below ``L``;
    - ``smooth``: False when the gradient jumps (see :func:`smooth`).

    Raises ``ValueError`` when the model has no ``hessian``.
    """
    hess = _hessian_of(model)
    params, X, y = _start(model, X, y, params)
    H = np.asarray(hess(params, X, y), dtype=np.float64)
    at_start = _lambda_max(H)
    rng = np.random.default_rng(0)
    other = {k: v + rng.standard_normal(np.shape(v)) for k, v in params.items()}
    with np.errstate(over="ignore", invalid="ignore"):
        H1 = np.asarray(hess(other, X, y), dtype=np.float64)
        dg = flatten(model.module.grad(other, X, y)) - flatten(model.module.grad(params, X, y))
    affine = H @ (flatten(other) - flatten(params))
    quadratic = bool(
        getattr(model.module, "KINK_ORDER", None) is None  # a kink makes the Hessian or the gradient jump
        and np.allclose(H, H1, rtol=1e-10, atol=1e-12 * max(float(np.max(np.abs(H))), 1e-300))
        and np.allclose(dg, affine, rtol=1e-8, atol=1e-8 * max(float(np.max(np.abs(affine))), 1e-300))
    )
    if hasattr(model.module, "CURVATURE") and not quadratic:
        glob, per_sample = _curvature_bounds(model, X)
    else:
        glob = at_start if quadratic else None
        i = int(np.argmax(np.sum(X * X, axis=1)))
        per_sample = _lambda_max(hess(params, X[i : i + 1], y[i : i + 1]))
    L = glob if glob is not None else at_start
    return Curvature(L=L, at_start=at_start, quadratic=quadratic, per_sample=max(per_sample, L), smooth=smooth(model),
                     **{"global": glob})  # fmt: skip


#: The largest stable step, as a multiple of 1/L, per optimizer (β is the momentum). On a quadratic,
#: heavy ball is stable for lr λ < 2(1 + β) and Nesterov for lr λ < 2(1 + β)/(1 + 2β), for every
#: eigenvalue λ of the Hessian (the roots of their two-step recurrences lie inside the unit circle).
_STABLE = {
    "gd": lambda beta: 2.0,
    "sgd": lambda beta: 2.0,  # of the per-sample L: a mini-batch's Hessian can be more curved than the whole's
    "momentum": lambda beta: 2.0 * (1 + beta),
    "nesterov": lambda beta: 2.0 * (1 + beta) / (1 + 2 * beta),
}


def stable_lr(model: Model, X, y, params: Params | None = None, *, optimizer: str = "gd", beta: float = 0.9) -> float:
    """The largest stable learning rate: 2/L for gradient descent (exact for a quadratic loss).

    For momentum and Nesterov the bound grows with β (see ``_STABLE``); for SGD it is 2/L of
    the most curved sample (``per_sample`` in :func:`lipschitz`). Raises ``ValueError`` when the
    model has no hessian or the optimizer takes no learning rate.
    """
    if optimizer not in _STABLE:
        raise ValueError(f"{optimizer!r} takes no learning rate; stable_lr applies to {', '.join(_STABLE)}")
    return _STABLE[optimizer](beta) / _usable_L(model, X, y, params, optimizer)


def safe_lr(model: Model, X, y, params: Params | None = None, *, optimizer: str = "gd") -> float:
    """The step ``lr="auto"`` picks: 1/L, half the gradient-descent bound 2/L (for SGD, with the
    per-sample L, so every mini-batch step is safe too).

    It is below the bounds of momentum and Nesterov for every β in [0, 1), and at 1/L gradient
    descent lowers the loss by at least |∇L|²/(2L) per step (the descent lemma).
    """
    return 1.0 / _usable_L(model, X, y, params, optimizer)


def _usable_L(model: Model, X, y, params: Params | None, optimizer: str = "gd") -> float:
    """L from :func:`lipschitz`, or a ``ValueError`` saying why no step size follows from it."""
    if not smooth(model):
        raise ValueError(f"the gradient of {model.name!r} jumps at a kink, so no learning rate is stable "
                         "everywhere (there is no 2/L); pass a small learning rate")  # fmt: skip
    c = lipschitz(model, X, y, params)
    L = c["per_sample"] if optimizer == "sgd" else c["L"]
    if not (L > 0 and math.isfinite(L)):
        raise ValueError(f"cannot pick a learning rate for {model.name!r}: the largest Hessian eigenvalue is {L:g}")
    return L


def _num(x: float) -> str:
    """A number in few digits, exponents without padding: 3.1, 4.2e8, 1e-5, inf."""
    s = f"{x:.3g}"
    if "e" in s:
        m, e = s.split("e")
        s = f"{m}e{int(e)}"
    return s


def _floor2(x: float) -> float:
    """``x`` rounded down to two significant digits, so "below" stays true."""
    e = math.floor(math.log10(x)) - 1
    return math.floor(x / 10.0**e * (1 + 1e-12)) * 10.0**e


def _diverged(model, X, y, params0, hist: History, step: int, lr: float, optimizer: str, beta: float):
    """The :class:`DivergedError` for a run whose loss blew up at ``step``."""
    try:
        bound = stable_lr(model, X, y, params0, optimizer=optimizer, beta=beta)
    except ValueError:
        bound = math.nan
    advice = (f"for this data a stable learning rate is below {_num(_floor2(bound))}"
              if math.isfinite(bound) and 0 < bound <= lr else "lower the learning rate")  # fmt: skip
    msg = f"diverged at step {step}: loss grew from {_num(hist.loss[0])} to {_num(hist.loss[-1])}; {advice}"
    return DivergedError(msg, hist)


# -- the shared loop -------------------------------------------------------------------------

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


# -- the optimizers --------------------------------------------------------------------------


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


def newton(model: Model, X, y, *, lr: float = 1.0, steps: int = 100, tol: float = 1e-8, params: Params | None = None,
           c: float = 1e-4, hessian_rows: int | None = None, warm_start: int | None = None, seed: int = 0,
           on_step: Callable[[int], None] | None = None) -> tuple[Params, History]:  # fmt: skip
    """Newton's method θ ← θ − t H⁻¹∇L with the model's analytic Hessian H (over the flattened
    parameters, w then b) and a backtracking (Armijo) line search.

    The step t starts at ``lr`` (1, the full Newton step) and halves until
    L(θ + t p) ≤ L(θ) + c t ∇Lᵀp, up to rounding in L. Where H is singular the direction comes
    from least squares; where it is not a descent direction, from −∇L. Stops as :func:`gd` does,
    or "stalled" when no step down is left. Raises ``ValueError`` when the model has no hessian.

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
        return _newton_step(at, hess, p, g, L, X, y, lr, c, Xh=Xh, yh=yh)

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


def _newton_step(at, hess, p, g, L, X, y, lr, c, Xh=None, yh=None):
    """One damped Newton step from ``p`` (gradient ``g``, loss ``L``), the Hessian taken on (Xh, yh)
    (default: X, y); ``at(params, X, y)`` gives ``(loss,)`` or ``(loss, gradient)``. Returns
    ``(new params, step size, at(new params), decrement −∇Lᵀd)``, or None when no step decreases L."""
    eps = np.finfo(np.float64).eps
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
    theta, t = flatten(p), lr
    while t > 1e-12 * lr:
        new = unflatten(theta + t * d, p)
        now = at(new, X, y)
        if now[0] <= L + c * t * slope + 16 * eps * abs(L):
            return new, t, now, -slope
        t /= 2
    return None


# -- the closed form -------------------------------------------------------------------------


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


# -- the entry point ---------------------------------------------------------------------------

OPTIMIZERS: dict[str, Callable[..., tuple[Params, History]]] = {
    "gd": gd,
    "sgd": sgd,
    "momentum": momentum,
    "nesterov": nesterov,
    "newton": newton,
    "closed": closed_form,
}


def fit(model: Model, X, y, *, optimizer: str = "gd", lr: float | str = "auto", steps: int = 1000,
        tol: float = 1e-8, params: Params | None = None, hyper: dict[str, float] | None = None,
        **kw) -> tuple[Params, History]:  # fmt: skip
    """Train ``model`` on ``(X, y)`` with ``optimizer`` (a key of :data:`OPTIMIZERS`).

    ``lr="auto"`` picks :func:`safe_lr` (1/L) for the gradient methods and 1 (the full step) for
    Newton; the closed form takes no step. Other keywords go to the optimizer (``batch_size``,
    ``seed``, ``beta``, ``grow``, ``on_step``, ``cond_max``, ``c``, ``hessian_rows``,
    ``warm_start``). ``hyper`` fixes the model's hyperparameters (``{"lam": 0.5}``); the defaults
    of its functions hold otherwise. Input is checked with ``model.check`` first, once.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    model = model.with_hyper(**(hyper or {}))
    p0, X, y = _start(model, X, y, params)
    token = _CHECKED.set((X, y))
    try:
        if optimizer == "closed":
            return closed_form(model, X, y, params=p0, **kw)
        if isinstance(lr, str):
            if lr != "auto":
                raise ValueError(f"the learning rate must be a positive number or 'auto'; got {lr!r}")
            lr = 1.0 if optimizer == "newton" else safe_lr(model, X, y, p0, optimizer=optimizer)
        return OPTIMIZERS[optimizer](model, X, y, lr=lr, steps=steps, tol=tol, params=p0, **kw)
    finally:
        _CHECKED.reset(token)

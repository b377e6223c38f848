"""The learning-rate story: how curved the loss is (L, the largest Hessian eigenvalue), the stable
step 2/L and the safe step 1/L, and the message of a run that diverged.

On a quadratic loss with Hessian H and L = λ_max(H), gradient descent converges exactly when
0 < lr < 2/L.
"""

from __future__ import annotations

import math

import numpy as np

from lab.model import Model, Params
from lab.optim.history import DivergedError, History, flatten
from lab.optim.inputs import _hessian_of, _start

#: A model may declare ``CURVATURE = c``: sample i's Hessian is at most c x̃_i x̃_iᵀ (times the
#: identity, for several outputs), plus λ I when it has an L2 hyperparameter ``lam``, so at every θ
#:   λ_max(H) ≤ c λ_max(X̃ᵀX̃)/n + λ   (the whole loss)   and   ≤ c max_i |x̃_i|² + λ   (any mini-batch).
#: Logistic regression: p(1 − p) ≤ 1/4. Huber: ρ''(r) ∈ {0, 1}. Softmax: diag(p) − ppᵀ ≼ ½ I
#: (Böhning). Poisson's curvature e^z has no bound, so it declares none.
PENALTY = "lam"


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
    return float(model.hyper_defaults.get(name, 0.0))


def _curvature_bounds(model: Model, X: np.ndarray) -> tuple[float, float]:
    """(whole-loss bound, any-mini-batch bound) from the model's ``CURVATURE``."""
    c = float(model.module.CURVATURE)
    lam = _default(model, PENALTY) if PENALTY in model.hyperparameters else 0.0
    return c * _lambda_max(_gram(X)) / X.shape[0] + lam, c * float(np.max(np.sum(X * X, axis=1) + 1)) + lam


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


def has_global_bound(model: Model, X, y, params: Params | None = None) -> bool:
    """Whether the model's curvature has a bound L valid at every θ (:func:`lipschitz`'s ``global``): then
    the fixed step 1/L lowers the loss at every step. False without a Hessian, and for a gradient that
    jumps (no step is stable across a kink)."""
    if not smooth(model) or not callable(getattr(model.module, "hessian", None)):
        return False
    return lipschitz(model, X, y, params)["global"] is not None


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
    if not (math.isfinite(bound) and 0 < bound <= lr):
        advice = "lower the learning rate"
        if math.isfinite(bound) and optimizer == "gd" and not has_global_bound(model, X, y, params0):
            advice += " (the curvature grows along the path), or leave it to the default, a line search for gd"
    elif has_global_bound(model, X, y, params0):
        advice = f"for this data a stable learning rate is below {_num(_floor2(bound))}"
    else:  # L from the Hessian at the start: the path can reach more curved ground
        advice = (f"lower the learning rate (2/L at the start is {_num(bound)}, but the curvature changes along "
                  "the path), or leave it to the default, a line search for gd")  # fmt: skip
    msg = f"diverged at step {step}: loss grew from {_num(hist.loss[0])} to {_num(hist.loss[-1])}; {advice}"
    return DivergedError(msg, hist)

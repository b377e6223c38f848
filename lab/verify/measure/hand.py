"""The hand program's own rounding: is a disagreement mathematics or arithmetic?

The tolerance 2E of lab/verify/judge.py bounds the rounding of the autodiff
program. A hand gradient that evaluates the same mathematics in another order
(σ(z) as 1 − 1/(1 + e^z)) carries rounding of its own, which E knows nothing
about. So when the hand gradient misses 2E, it is run again at other
precisions, the way one checks a numerical method by refining it:

- up: in extended precision (``np.longdouble``, 64 significant bits on x86).
  A correct formula converges to the witnesses: |h_L − g| ≤ 2E. A mistake
  does not move: h_L is off by as much as h₆₄ was.
- down, when the hand code does not run in extended precision (it casts to
  float64, or calls compiled code such as ``sklearn._loss``): in float32.
  Rounding error scales with the unit roundoff, by 2²⁹ from float32 to
  float64; a mistake does not scale. The float64 discrepancy is taken as
  rounding when it is within 16·2⁻²⁹ of the float32 one (a factor 16 of
  allowance for the luck of individual roundings). This rung is used when
  the extended run did not keep its precision to the end, or kept it and
  still missed: a float64 run whose rounding was lucky (far below its usual
  size) leaves the extended run less than 2⁶ times better than it.

- code that computes in float32 whatever it is given (every entry it returns
  is a float32 number): its discrepancy is taken as rounding when it is within
  2²⁹ times the tolerance, the same bound at float32's unit roundoff.

A discrepancy that none of these explains is a mistake.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lab.model import Model
from lab.verify.case import Case

U64, U32 = 2.0**-53, 2.0**-24
#: How far the float32 run's rounding may be from its expected share, 2⁻²⁹ of it.
LUCK = 16.0
#: Float32 code loses everything below its smallest normal number, 2⁻¹²⁶: allowed for up to 2¹⁰ such terms.
UNDERFLOW32 = 2.0**-126 * 2.0**10
#: The extended run's own rounding: h_L − h₆₄ estimates h₆₄'s error, and h_L keeps about 2⁻¹¹ of it.
EXTENDED_RESIDUAL = 2.0**-6


@dataclass
class Precision:
    """How much of the hand gradient's disagreement is its own rounding."""

    explained: bool  # every entry that missed 2E is explained by rounding
    method: str  # "extended", "float32", "single", "path" or "loss": what explained it ("" when nothing did)
    digits: float  # significant digits the hand gradient keeps at its worst entry
    where: str  # that entry, e.g. "w[0]"
    stable: bool = False  # the hand program ran in extended precision throughout and did not move
    what: str = "grad"  # the hand function judged: "grad" or "hessian"


def _run(model: Model, case: Case, dtype, what: str = "grad") -> tuple[dict[str, np.ndarray] | None, bool]:
    """The hand gradient (or, with ``what="hessian"``, the hand Hessian as ``{"H": ...}``) computed from
    inputs of ``dtype``, and whether every output kept that dtype."""
    cast = lambda a: np.asarray(a, dtype=dtype)  # noqa: E731
    try:
        with np.errstate(all="ignore"):
            g = getattr(model.module, what)(
                {k: cast(v) for k, v in case.params.items()},
                cast(case.X),
                cast(case.y),
                **{k: dtype(v) for k, v in case.hyper.items()},
            )
            g = g if isinstance(g, dict) else {"H": g}
            kept = all(np.asarray(v).dtype == dtype for v in g.values())
            return {k: np.asarray(v).astype(np.longdouble) for k, v in g.items()}, kept
    except Exception:  # compiled code that takes float64 only, or a dtype the code does not expect
        return None, False


def _name(key: str, index: tuple[int, ...]) -> str:
    return key + (f"[{', '.join(map(str, index))}]" if index else "")


def explain(model: Model, case: Case, hand: dict, grad: dict, tol: dict, what: str = "grad") -> Precision:
    """Is |hand − grad| > tol, where it is, the hand program's rounding? ``what`` names the hand function
    (``"hessian"``: ``hand``, ``grad`` and ``tol`` are ``{"H": matrix}``)."""
    keys = list(grad)
    bad = {k: np.abs(hand[k] - grad[k]) > tol[k] for k in keys}
    worst_rel, where = 0.0, ""
    for k in keys:
        if bad[k].any():
            rel = np.abs(hand[k] - grad[k]) / np.maximum(np.abs(grad[k]), tol[k])
            rel = np.where(bad[k], rel, 0.0)
            i = tuple(int(j) for j in np.unravel_index(int(np.argmax(rel)), rel.shape))
            if rel[i] >= worst_rel:
                worst_rel, where = float(rel[i]), _name(k, i)
    digits = float(np.clip(-np.log10(max(worst_rel, 1e-300)), 0.0, 16.0))

    def ok(explained_by) -> bool:
        return all(np.all(explained_by[k] | ~bad[k]) for k in keys)

    with np.errstate(all="ignore"):
        if np.finfo(np.longdouble).nmant > 52:
            hi, kept = _run(model, case, np.longdouble, what)
            if hi is not None and set(hi) == set(keys) and all(hi[k].shape == grad[k].shape for k in keys):
                near = {
                    k: np.abs(hi[k] - grad[k]) <= tol[k] + EXTENDED_RESIDUAL * np.abs(hi[k] - hand[k]) for k in keys
                }
                if ok(near):
                    return Precision(True, "extended", digits, where, what=what)
                if kept:  # the code ran in extended precision throughout and still misses
                    stable = all(np.all((np.abs(hi[k] - hand[k]) <= tol[k]) | ~bad[k]) for k in keys)
                    # A float64 run that was lucky (its error far below its usual size) leaves the extended
                    # run less than 2⁶ times better; the float32 rung, whose luck allowance is 16, still
                    # tells rounding from a mistake (a mistake does not shrink with the unit roundoff).
                    if _float32_explains(model, case, hand, grad, tol, bad, what):
                        return Precision(True, "float32", digits, where, what=what)
                    if _single(hand, grad, tol, bad):
                        return Precision(True, "single", digits, where, what=what)
                    return Precision(False, "", digits, where, stable, what=what)
        if _float32_explains(model, case, hand, grad, tol, bad, what):
            return Precision(True, "float32", digits, where, what=what)
        if _single(hand, grad, tol, bad):
            return Precision(True, "single", digits, where, what=what)
    return Precision(False, "", digits, where, what=what)


def _single(hand: dict, grad: dict, tol: dict, bad: dict) -> bool:
    """Does the hand code compute in float32 (ported from a float32 framework), its rounding float32's? Every
    entry it returns is a float32 number, and each one that missed its tolerance is within 2²⁹ times it:
    the same bound, at float32's unit roundoff (and float32's underflow, :data:`UNDERFLOW32`). No rerun
    can show this: the code casts to float32 whatever it is given. A mistake keeps its size; only one
    below float32's rounding, on output that float32 holds exactly, would pass as rounding."""
    for k in grad:
        h = np.asarray(hand[k], dtype=np.float64)
        with np.errstate(over="ignore"):
            if not (np.all(np.isfinite(h)) and np.array_equal(h.astype(np.float32).astype(np.float64), h)):
                return False
        if not np.all((np.abs(h - grad[k]) <= (U32 / U64) * tol[k] + UNDERFLOW32) | ~bad[k]):
            return False
    return True


def _float32_explains(model: Model, case: Case, hand: dict, grad: dict, tol: dict, bad: dict, what: str) -> bool:
    """Is every entry that missed its tolerance within LUCK·2⁻²⁹ of its float32 run's discrepancy?"""
    lo, _ = _run(model, case, np.float32, what)
    if lo is None or set(lo) != set(grad) or any(lo[k].shape != grad[k].shape for k in grad):
        return False
    for k in grad:
        d32 = np.abs(lo[k] - grad[k])
        d64 = np.abs(hand[k] - grad[k])
        if not np.all((np.isfinite(d32) & (d64 <= tol[k] + LUCK * (U64 / U32) * d32)) | ~bad[k]):
            return False
    return True


def hand_gradient(model: Model, case: Case) -> dict[str, np.ndarray]:
    g = model.module.grad(case.params, case.X, case.y, **case.hyper)
    return {k: np.asarray(v, dtype=np.float64) for k, v in g.items()}


def hand_gradients(model: Model, batch: list[Case]) -> list[dict[str, np.ndarray] | Exception]:
    """Each case's hand gradient, or the exception its ``grad`` raised (the judge's rule 1 makes that a
    verdict, not a crash); a ``NotImplementedError`` is raised on."""
    out: list = []
    with np.errstate(all="ignore"):  # overflow in a user's grad is judged by its result, not warned about
        for case in batch:
            try:
                out.append(hand_gradient(model, case))
            except NotImplementedError:
                raise
            except Exception as e:
                out.append(e)
    return out

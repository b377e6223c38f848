"""Kinks: where a sample sits on one, how far a step may go before it crosses one, and how to put it there.

A model with a non-smooth loss declares ``KINK_ORDER`` and ``kink_distance``
(per sample, the distance to the kink in the units of the score). Three things
follow from it:

- A sample is *at* the kink when its distance is within the rounding of the
  score, judged relative to the score's size: the hand code and JAX may then
  see opposite sides. The size is read off ``kink_distance`` itself, as its
  response to a relative perturbation of every input.
- A finite-difference step must not cross any other sample's kink, or the
  differences mix two slopes. :func:`max_step` bounds the step along a
  direction from each sample's distance and its rate of change.
- Cases with samples exactly on the kink are where subgradient code goes
  wrong, so the case generator puts some there (:func:`place_on_kink`).
"""

from __future__ import annotations

import numpy as np

from lab.model import Model
from lab.verify.case import Case

#: At the kink: distance ≤ this × the score's size (float64 rounds a score of m terms by about m·2⁻⁵³ of it).
AT_KINK = 1e-8
_PERTURB = 1e-6


def _distance(model: Model, params, X, y, hyper) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.asarray(model.module.kink_distance(params, X, y, **hyper), dtype=float).reshape(-1)


#: id(case) -> (model, case, scale) for the last cases of a batch: the judge asks for one case's scale
#: several times (settling the batch, judging the case, nudging its samples). The entry holds the case,
#: so its id is not reused while it is kept.
_scales: dict = {}
_KEEP = 2 * 128


def scale(model: Model, case: Case) -> np.ndarray:
    """Per sample, the size of the score that ``kink_distance`` measures (about |z|), at least 1e-300."""
    hit = _scales.get(id(case))
    if hit is not None and hit[0] is model and hit[1] is case:
        return hit[2]
    out = _scale(model, case)
    if len(_scales) >= _KEEP:
        del _scales[next(iter(_scales))]
    _scales[id(case)] = (model, case, out)
    return out


def _scale(model: Model, case: Case) -> np.ndarray:
    rng = np.random.default_rng(len(case.y))
    d0 = _distance(model, case.params, case.X, case.y, case.hyper)
    out = np.zeros_like(d0)
    for _ in range(3):
        jitter = lambda a: np.asarray(a) * (1 + _PERTURB * rng.choice([-1.0, 1.0], np.shape(a)))  # noqa: E731
        y = jitter(case.y) if model.target == "real" else case.y
        d = _distance(model, {k: jitter(v) for k, v in case.params.items()}, jitter(case.X), y, case.hyper)
        out = np.maximum(out, np.abs(d - d0) / _PERTURB)
    return np.maximum(np.where(np.isfinite(out), out, 0.0), 1e-300)


def at_kink(model: Model, case: Case) -> np.ndarray:
    """Per sample, whether it sits on its kink to within the rounding of its score."""
    if model.kink_order is None:
        return np.zeros(len(case.y), bool)
    d = _distance(model, case.params, case.X, case.y, case.hyper)
    return d <= AT_KINK * np.maximum(scale(model, case), 1.0)


def max_step(model: Model, case: Case, v: dict[str, np.ndarray], skip: np.ndarray | None = None) -> float:
    """The longest step t along ``v`` (either sign) that crosses no sample's kink, halved for safety.

    Samples in ``skip`` (those already on their kink) are left out: the step is meant to leave them.
    """
    if model.kink_order is None:
        return np.inf
    d0 = _distance(model, case.params, case.X, case.y, case.hyper)
    norm = np.sqrt(sum(float(np.sum(np.square(v[k]))) for k in v)) or 1.0
    tau = 1e-6 / norm
    rate = np.zeros_like(d0)
    for s in (1.0, -1.0):
        p = {k: np.asarray(case.params[k], dtype=float) + s * tau * v[k] for k in v}
        rate = np.maximum(rate, np.abs(_distance(model, p, case.X, case.y, case.hyper) - d0) / tau)
    keep = rate > 0
    if skip is not None:
        keep &= ~skip
    if not keep.any():
        return np.inf
    return 0.5 * float(np.min(d0[keep] / rate[keep]))


def place_on_kink(model: Model, case: Case, rows) -> Case:
    """``case`` with the samples ``rows`` moved exactly onto their kinks, where that can be done.

    The knob of sample i is y_i for a real target, else the scale of row x_i; each sample's distance
    depends on its own knob only. The distance is piecewise linear in the knob near the kink, so
    secant steps towards either arm of the V land on it, usually exactly.
    """
    rows = np.array(sorted(set(int(i) for i in rows)), dtype=int)
    X, y = np.array(case.X, dtype=float), np.array(case.y, dtype=float)
    if rows.size == 0:
        return case
    real = model.target == "real"
    base = X[rows].copy()

    def dist(t):
        Xt, yt = X.copy(), y.copy()
        if real:
            yt[rows] = t
        else:
            Xt[rows] = base * t[:, None]
        return _distance(model, case.params, Xt, yt, case.hyper)[rows]

    t = y[rows].copy() if real else np.ones(rows.size)
    d = dist(t)
    for _ in range(6):
        h = np.maximum(np.abs(t), 1.0) * 1e-3
        with np.errstate(all="ignore"):
            slope = (dist(t + h) - d) / h
            step = np.where((slope != 0) & np.isfinite(slope) & np.isfinite(d), d / slope, 0.0)
        for cand in (t - step, t + step):
            dc = dist(cand)
            better = dc < d
            t, d = np.where(better, cand, t), np.where(better, dc, d)
        if not np.any(d > 0):
            break
    if real:
        y[rows] = t
    else:
        X[rows] = base * t[:, None]
    return Case(case.params, X, y, dict(case.hyper), dict(case.sizes))


def nudged(model: Model, case: Case, rows: np.ndarray, sign: float) -> Case:
    """``case`` with the scores of the samples ``rows`` moved by about 8 roundings (8u of their size),
    through the same knob as :func:`place_on_kink`: how far apart the hand code and JAX may see them."""
    X, y = np.array(case.X, dtype=float), np.array(case.y, dtype=float)
    u = np.finfo(float).eps / 2
    if model.target == "real":
        y[rows] += sign * 8 * u * scale(model, case)[rows]
    else:
        X[rows] *= 1 + sign * 8 * u
    return Case(case.params, X, y, dict(case.hyper), dict(case.sizes))

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

from dataclasses import dataclass

import numpy as np

from lab.model import Model
from lab.verify.case import Case, signs

#: At the kink: distance ≤ this × the score's size (float64 rounds a score of m terms by about m·2⁻⁵³ of it).
AT_KINK = 1e-8
_PERTURB = 1e-6


def _sites(model: Model, params, X, y, hyper) -> np.ndarray:
    """The distance of each kink of each sample, shape (n, m): ``kink_distance`` may return one column per
    kink of a sample (a hidden unit each), or one number per sample."""
    with np.errstate(all="ignore"):
        d = np.asarray(model.module.kink_distance(params, X, y, **hyper), dtype=float)
    return d.reshape(np.shape(X)[0], -1)


def _distance(model: Model, params, X, y, hyper) -> np.ndarray:
    """Per sample, the distance of its nearest kink."""
    return np.min(_sites(model, params, X, y, hyper), axis=1)


#: id(case) -> [model, case, its kink distances, their scale or None] for the last cases of a batch: the
#: judge asks for one case's distances and scale several times (judging the case, each step's length,
#: nudging its samples). The entry holds the case, so its id is not reused while it is kept.
_measured: dict = {}
_KEEP = 2 * 128


def _entry(model: Model, case: Case) -> list:
    hit = _measured.get(id(case))
    if hit is not None and hit[0] is model and hit[1] is case:
        return hit
    if len(_measured) >= _KEEP:
        del _measured[next(iter(_measured))]
    d = _sites(model, case.params, case.X, case.y, case.hyper)
    d.flags.writeable = False  # shared by every caller
    hit = _measured[id(case)] = [model, case, d, None]
    return hit


def distances(model: Model, case: Case) -> np.ndarray:
    """The distance of each kink of each sample at the case itself, (n, m) (read-only: kept for the case)."""
    return _entry(model, case)[2]


def signed(model: Model, case: Case) -> str:
    """What is wrong with ``kink_distance`` at the case: a negative entry ("" when none). A signed distance
    (x, not |x|) puts every negative entry on a kink, where a wrong subgradient would go unseen."""
    d = distances(model, case)
    if not np.any(d < 0):
        return ""
    return (f"kink_distance returned {float(np.min(d)):.3g}: it must be a distance, at least 0 and exactly 0 on "
            "the kink (|x| where the kink is at x = 0, not x)")  # fmt: skip


def site_scale(model: Model, case: Case) -> np.ndarray:
    """Per kink of each sample (n, m), the size of the score it measures (about |z|), at least 1e-300."""
    hit = _entry(model, case)
    if hit[3] is None:
        hit[3] = _scale(model, case, hit[2])
    return hit[3]


def scale(model: Model, case: Case) -> np.ndarray:
    """Per sample, the size of the score of its nearest kink."""
    d = distances(model, case)
    return np.take_along_axis(site_scale(model, case), np.argmin(d, axis=1)[:, None], axis=1)[:, 0]


def _scale(model: Model, case: Case, d0: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(len(case.y))

    def jitter(a):  # each entry times 1 ± 1e-6
        return np.asarray(a) * (1 + _PERTURB * signs(rng, np.shape(a)))

    out = np.zeros_like(d0)
    for _ in range(3):
        y = jitter(case.y) if model.target == "real" else case.y
        d = _sites(model, {k: jitter(v) for k, v in case.params.items()}, jitter(case.X), y, case.hyper)
        out = np.maximum(out, np.abs(d - d0) / _PERTURB)
    return np.maximum(np.where(np.isfinite(out), out, 0.0), 1e-300)


def on_kink(model: Model, case: Case) -> np.ndarray:
    """Per kink of each sample (n, m), whether it sits there to within the rounding of its score."""
    if model.kink_order is None:
        return np.zeros((len(case.y), 1), bool)
    d = distances(model, case)
    return d <= AT_KINK * np.maximum(site_scale(model, case), 1.0)


def at_kink(model: Model, case: Case) -> np.ndarray:
    """Per sample, whether one of its kinks is within the rounding of its score."""
    return on_kink(model, case).any(axis=1)


def max_step(model: Model, case: Case, v: dict[str, np.ndarray], skip: np.ndarray | None = None) -> float:
    """The longest step t along ``v`` (either sign) that crosses no kink, halved for safety.

    The kinks on which the samples in ``skip`` sit are left out: the step is meant to leave them
    (their samples' other kinks still stop it).
    """
    if model.kink_order is None:
        return np.inf
    d0 = distances(model, case)
    norm = np.sqrt(sum(float(np.sum(np.square(v[k]))) for k in v)) or 1.0
    tau = 1e-6 / norm
    rate = np.zeros_like(d0)
    for s in (1.0, -1.0):
        p = {k: np.asarray(case.params[k], dtype=float) + s * tau * v[k] for k in v}
        rate = np.maximum(rate, np.abs(_sites(model, p, case.X, case.y, case.hyper) - d0) / tau)
    keep = rate > 0
    if skip is not None:
        keep &= ~(on_kink(model, case) & np.asarray(skip, bool)[:, None])
    if not keep.any():
        return np.inf
    return 0.5 * float(np.min(d0[keep] / rate[keep]))


def _knob(model: Model, case: Case, rows: np.ndarray):
    """The knob of each sample in ``rows`` and a function giving the case with those knobs set.

    The knob of sample i is y_i for a real target, else the scale of row x_i (1 now); each sample's
    distance to its kink depends on its own knob only.
    """
    X, y = np.array(case.X, dtype=float), np.array(case.y, dtype=float)
    real = model.target == "real"
    base = X[rows].copy()

    def at(t: np.ndarray) -> Case:
        Xt, yt = X.copy(), y.copy()
        if real:
            yt[rows] = t
        else:
            Xt[rows] = base * np.asarray(t)[:, None]
        return Case(case.params, Xt, yt, dict(case.hyper), dict(case.sizes))

    return (y[rows].copy() if real else np.ones(rows.size)), at


def _dist(model: Model, c: Case, rows: np.ndarray) -> np.ndarray:
    return _distance(model, c.params, c.X, c.y, c.hyper)[rows]


def place_on_kink(model: Model, case: Case, rows) -> Case:
    """``case`` with the samples ``rows`` moved exactly onto their kinks, where that can be done.

    The distance is piecewise linear in each sample's knob near the kink, so secant steps towards
    either arm of the V land on it, usually exactly.
    """
    rows = np.array(sorted(set(int(i) for i in rows)), dtype=int)
    if rows.size == 0:
        return case
    t, at = _knob(model, case, rows)
    d = _dist(model, at(t), rows)
    for _ in range(6):
        h = np.maximum(np.abs(t), 1.0) * 1e-3
        with np.errstate(all="ignore"):
            slope = (_dist(model, at(t + h), rows) - d) / h
            step = np.where((slope != 0) & np.isfinite(slope) & np.isfinite(d), d / slope, 0.0)
        for cand in (t - step, t + step):
            dc = _dist(model, at(cand), rows)
            better = dc < d
            t, d = np.where(better, cand, t), np.where(better, dc, d)
        if not np.any(d > 0):
            break
    return at(t)


#: A sample on a kink is moved this many roundings of its score past the kink, to see each side.
OFF = 64.0


@dataclass
class Sides:
    """The cases around ``case`` whose samples ``rows`` sit on kinks, each sample moved off its kink by
    its knob: ``base[j]`` with every one of them on its first side, ``flip[i][j]`` with sample ``rows[i]``
    alone on its second side, ``other[j]`` with all on their second side; j = 0, 1 at one and two
    steps, so the drift of a gradient with the step can be measured."""

    rows: np.ndarray
    base: list[Case]
    flip: list[list[Case]]
    other: list[Case]
    alone: list[tuple[Case, Case]]  # sample rows[i] alone moved one step to its first side, and to its second


def _is_layer(model: Model) -> bool:
    return getattr(model.module, "KIND", None) == "layer"


def _entry_knob(model: Model, case: Case, sites: np.ndarray):
    """For a layer: per kink site, the entry of a real part of its input x that moves that site and no
    other site on a kink (the largest such mover), and a function giving the case with those entries
    set; None when a site has no such entry (two kinks that one entry moves together)."""
    keys = model.module.FORM.real_keys
    sizes = [int(np.size(case.params[k])) for k in keys]
    x = np.concatenate([np.ravel(np.asarray(case.params[k], dtype=float)) for k in keys]) if keys else np.zeros(0)

    def with_x(v: np.ndarray) -> dict:
        out, i = dict(case.params), 0
        for k, m in zip(keys, sizes, strict=True):
            out[k] = v[i : i + m].reshape(np.shape(case.params[k]))
            i += m
        return out

    d0 = distances(model, case).ravel()
    kinked = on_kink(model, case).ravel()
    movers = np.zeros((x.size, d0.size))
    for e in range(x.size):
        xe = x.copy()
        h = 1e-6 * max(abs(xe[e]), 1.0)
        xe[e] += h
        movers[e] = np.abs(_sites(model, with_x(xe), case.X, case.y, case.hyper).ravel() - d0) / h
    entries = []
    for j in sites:
        alone = (movers[:, j] > 0) & ((movers[:, kinked] > 0).sum(axis=1) == 1)
        if not alone.any():
            return None
        entries.append(int(np.argmax(np.where(alone, movers[:, j], -1.0))))
    entries = np.array(entries, dtype=int)

    def at(t: np.ndarray) -> Case:
        xt = x.copy()
        xt[entries] = t
        return Case(with_x(xt), case.X, case.y, dict(case.hyper), dict(case.sizes))

    return x[entries].copy(), at


def sides(model: Model, case: Case) -> Sides | None:
    """The cases on either side of each kink the case sits on (:class:`Sides`), or None when they
    cannot be reached one kink at a time.

    A model's unit is a sample on its kink, moved by its knob (y_i, or the scale of row x_i): None when
    a sample sits on several kinks at once (its knob moves them together) or its knob does not move
    its kink. A layer's unit is a kink site, moved by one entry of its input x.

    The step moves the distance by its current value plus :data:`OFF` roundings of the score, so one
    direction crosses the kink by OFF roundings and the other moves away: the hand code and JAX may
    have seen it on either side, and each side's gradient is then measured clear of rounding.
    """
    if _is_layer(model):
        rows = np.flatnonzero(on_kink(model, case).ravel())
        knob = _entry_knob(model, case, rows)
        if knob is None:
            return None
        t0, at = knob
        size = site_scale(model, case).ravel()[rows]

        def dist(c: Case) -> np.ndarray:
            return _sites(model, c.params, c.X, c.y, c.hyper).ravel()[rows]
    else:
        rows = np.flatnonzero(at_kink(model, case))
        if np.any(on_kink(model, case)[rows].sum(axis=1) > 1):  # one knob would move several kinks together
            return None
        t0, at = _knob(model, case, rows)
        size = scale(model, case)[rows]

        def dist(c: Case) -> np.ndarray:
            return _dist(model, c, rows)

    d0 = dist(case)
    h = np.maximum(np.abs(t0), 1.0) * 1e-7
    with np.errstate(all="ignore"):
        rate = np.maximum(np.abs(dist(at(t0 + h)) - d0), np.abs(dist(at(t0 - h)) - d0)) / h
        step = (d0 + OFF * np.finfo(float).eps / 2 * np.maximum(size, 1.0)) / rate
    if rows.size == 0 or not np.all(np.isfinite(step) & (step > 0)):
        return None
    if _crosses_others(model, case, t0, at, 2.0 * step):
        return None

    def moved(signs: np.ndarray, j: int) -> Case:
        return at(t0 + (j + 1) * signs * step)

    # each side must be clear of the kink: where a step leaves it on one (three tied maxima, whose
    # second side is another tie), its two sides are not two regions
    clear = 0.5 * OFF * np.finfo(float).eps / 2 * np.maximum(size, 1.0)
    for sign in (-1.0, 1.0):
        for i in range(rows.size):
            one = np.zeros(rows.size)
            one[i] = sign
            if not dist(at(t0 + one * step))[i] > clear[i]:
                return None

    minus = -np.ones(rows.size)
    flips = []
    for i in range(rows.size):
        s = minus.copy()
        s[i] = 1.0
        flips.append([moved(s, 0), moved(s, 1)])
    alone = []
    for i in range(rows.size):
        one = np.zeros(rows.size)
        one[i] = 1.0
        alone.append((at(t0 - one * step), at(t0 + one * step)))
    return Sides(rows, [moved(minus, 0), moved(minus, 1)], flips, [moved(-minus, 0), moved(-minus, 1)], alone)


def _crosses_others(model: Model, case: Case, t0: np.ndarray, at, reach: np.ndarray) -> bool:
    """Would moving the knobs ``t0`` by up to ``reach`` each carry a kink not on the point across? The
    sides are then not the regions that meet at the point. A sample's knob moves each of its kinks at its
    own rate: one it barely moves (a score of 2⁻¹³⁰ in a row scaled by the knob) needs a step that
    carries the sample's other kinks far, across their own.

    Each knob is moved alone by its whole reach and by half of it, either way, and the kinks off the
    point must keep half their distance, as in :func:`max_step`; the moves of several knobs add. A
    distance that is linear in the knob and crosses its kink within the reach changes by more than half
    of itself at one of the two (at the whole reach it may come back to its own size on the far side)."""
    d0, kinked = distances(model, case), on_kink(model, case)
    move = np.zeros_like(d0)
    for k in range(t0.size):
        worst = np.zeros_like(d0)
        for s in (1.0, -1.0, 0.5, -0.5):
            t = t0.copy()
            t[k] += s * reach[k]
            c = at(t)
            with np.errstate(all="ignore"):
                worst = np.maximum(worst, np.abs(_sites(model, c.params, c.X, c.y, c.hyper) - d0))
        move += worst
    with np.errstate(invalid="ignore"):
        return bool(np.any(~kinked & ~(move <= 0.5 * d0)))


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

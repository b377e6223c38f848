"""Hypothesis strategies for verification cases: a shape, data valid for the model's TARGET, parameters.

One Hypothesis example holds a few cases of one shape, so the verifier can
check them in one compiled call (see lab/verify/measure/autodiff.py). Shrinking then
reduces the batch to the one case that fails, and that case to its smallest
shape and simplest values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lab.model import Model
from lab.verify.case import Case, pick, signs
from lab.verify.measure.kinks import place_on_kink
from lab.verify.search import layer_cases

MAX_N, MAX_D = 64, 8
DRAWN = 4  # cases per example that Hypothesis draws (and shrinks)
#: The shapes (n, d) the search draws from. Every shape costs a compiled program, so there are few,
#: each chosen for the mistakes it shows: n = 1 and d = 1 (a sum that should be a mean, a lost
#: axis), n < d and n = d + 1 (a transpose, which a square X would hide only at n = d), and large
#: ones. Data, scales, parameters and hyperparameters carry the variety; the search shrinks
#: towards the first shape.
SHAPES = ((1, 1), (2, 1), (1, 4), (3, 5), (4, 3), (9, 8), (MAX_N, MAX_D))


@dataclass(frozen=True)
class Scales:
    """How large the drawn numbers may be, per profile."""

    features: tuple[float, ...] = (1.0, 10.0)
    params: tuple[float, ...] = (1.0, 3.0)
    targets: tuple[float, ...] = (1.0, 100.0)
    structures: tuple[str, ...] = ("plain",)


ORDINARY = Scales()
#: Features up to 1e6, scores up to 1e4, near-collinear columns, repeated rows.
EXTREME = Scales(
    features=(1e-3, 1.0, 1e3, 1e6),
    params=(1e-2, 1.0, 30.0),
    targets=(1e-3, 1.0, 1e4),
    structures=("plain", "collinear", "repeated_rows", "one_row"),
)


def _floats(scale: float):
    return st.floats(-scale, scale, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def _array(draw, shape, scale):
    return draw(hnp.arrays(np.float64, shape, elements=_floats(scale), fill=st.nothing()))


def targets(draw, target: str, n: int, scale: float, n_classes: int = 3) -> np.ndarray:
    """``y`` of length ``n`` valid for ``target``."""
    if target == "real":
        return _array(draw, (n,), scale)
    if target == "binary":
        return draw(hnp.arrays(np.float64, (n,), elements=st.sampled_from([0.0, 1.0]), fill=st.nothing()))
    if target == "signed":
        return draw(hnp.arrays(np.float64, (n,), elements=st.sampled_from([-1.0, 1.0]), fill=st.nothing()))
    if target == "counts":
        return draw(hnp.arrays(np.float64, (n,), elements=st.integers(0, 30).map(float), fill=st.nothing()))
    if target == "classes":
        return draw(hnp.arrays(np.float64, (n,), elements=st.integers(0, n_classes - 1).map(float), fill=st.nothing()))
    if target == "positive":  # y > 0, over three decades below the scale
        return draw(hnp.arrays(np.float64, (n,), elements=st.floats(scale * 1e-3, scale), fill=st.nothing()))
    if target == "unit":  # 0 < y < 1, kept 1e-6 from both ends
        return draw(hnp.arrays(np.float64, (n,), elements=st.floats(1e-6, 1 - 1e-6), fill=st.nothing()))
    raise ValueError(f"unknown TARGET {target!r}")


@st.composite
def features(draw, n: int, d: int, scales: Scales = ORDINARY) -> np.ndarray:
    scale = draw(st.sampled_from(scales.features), label="feature scale")
    structure = draw(st.sampled_from(scales.structures), label="structure")
    if structure == "one_row":
        n = 1
    X = _array(draw, (n, d), scale)
    if structure == "collinear" and d > 1:
        X[:, 1] = X[:, 0] * (1 + 1e-9)  # near-collinear: two columns equal to nine digits
    elif structure == "repeated_rows" and n > 1:
        X[n // 2 :] = X[: n - n // 2]
    return X


@st.composite
def cases(draw, model: Model, scales: Scales = ORDINARY, batch: int = DRAWN) -> list[Case]:
    """A list of 1 to ``batch`` cases of one shape for ``model``."""
    if layer_cases.is_layer(model):
        return layer_cases.draw_cases(draw, model, scales, batch)
    n, d, sizes = draw(st.sampled_from(shape_menu(model)), label="shape")
    hyper = {k: draw(st.floats(lo, hi), label=k) for k, (lo, hi) in model.hyperparameters.items()}
    shapes = {k: v.shape for k, v in model.init(d, **sizes).items()}
    count = draw(st.integers(1, batch), label="cases in batch")
    out = []
    for _ in range(count):
        X = draw(features(n, d, scales))
        pscale = draw(st.sampled_from(scales.params))
        params = {k: _array(draw, s, pscale) for k, s in shapes.items()}
        y = targets(draw, model.target, X.shape[0], draw(st.sampled_from(scales.targets)), sizes.get("n_classes", 3))
        s = model.residual_scale(hyper)
        if s is not None and draw(st.booleans(), label="residuals within the model's RESIDUAL_SCALE"):
            u = draw(hnp.arrays(np.float64, X.shape[0], elements=st.floats(-WITHIN, WITHIN)), label="residual / scale")
            y = _near_prediction(model, params, X, u * s)
        case = Case(params, X, y, dict(hyper), dict(sizes))
        if model.kink_order is not None:  # samples exactly on the kink, where subgradient code goes wrong
            rows = draw(st.sets(st.integers(0, X.shape[0] - 1), max_size=X.shape[0]), label="samples on the kink")
            case = place_on_kink(model, case, rows)
        out.append(case)
    if len({c.X.shape for c in out}) > 1:  # "one_row" changes n: keep one shape per batch
        out = [c for c in out if c.X.shape == out[0].X.shape]
    return out


def shape_menu(model: Model) -> list[tuple[int, int, dict[str, int]]]:
    """The shapes the search draws for ``model``: :data:`SHAPES` (with its own d, where the model fixes
    it), each with the integer arguments of ``init`` (``SHAPES`` of the model: classes, hidden units)
    taking every value of their range in turn, so each program has one set of sizes."""
    out, seen = [], set()
    for i, (n, d) in enumerate(SHAPES):
        d = model.n_features or d
        sizes = {k: lo + i % (hi - lo + 1) for k, (lo, hi) in model.shapes.items()}
        key = (n, d, tuple(sizes.items()))
        if key not in seen:
            seen.add(key)
            out.append((n, d, sizes))
    return out


class Explicit(list):
    """The cases of an example the search checks before Hypothesis draws any: one per shape."""

    def _repr_pretty_(self, p, cycle) -> None:
        """What Hypothesis writes of the example: its size and shape, not every array it holds (which it
        wrote for every example, failing or not: 2% of a search)."""
        p.text(f"Explicit({len(self)} cases, sizes {self[0].sizes if self else {}})")


def every_shape(model: Model, scales: Scales = ORDINARY, seed: int = 0) -> list[tuple[Explicit, int]]:
    """One example of :data:`DRAWN` random cases for each shape of :func:`shape_menu`, with its fill seed.

    The search checks these first, so every profile visits every shape (a profile drawing a shape
    no other run drew would compile it), and Hypothesis's own examples search from there.
    """
    if layer_cases.is_layer(model):
        return [(Explicit(drawn), fill_seed) for drawn, fill_seed in layer_cases.first_cases(model, scales, seed)]
    out = []
    for i, (n, d, sizes) in enumerate(shape_menu(model)):
        rng = np.random.default_rng([seed, i, n, d])
        hyper = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in model.hyperparameters.items()}
        shapes = {k: v.shape for k, v in model.init(d, **sizes).items()}
        first = Case({k: np.zeros(s) for k, s in shapes.items()}, np.zeros((n, d)), np.zeros(n), hyper, dict(sizes))
        out.append((Explicit(fill(model, [first], DRAWN + 1, seed + i, scales)[1:]), seed + i))
    return out


def fill(model: Model, drawn: list[Case], size: int, seed: int, scales: Scales = ORDINARY) -> list[Case]:
    """``drawn`` followed by random cases of the same shape, up to ``size`` in all.

    Compiling for a shape costs far more than checking a case, so every shape
    Hypothesis picks is used for a full batch. The fill comes from NumPy's
    generator seeded by the example, so a failure in it replays exactly.
    """
    if layer_cases.is_layer(model):
        return layer_cases.fill(model, drawn, size, seed, scales)
    rng = np.random.default_rng([seed, *drawn[0].X.shape])
    n, d = drawn[0].X.shape
    out = list(drawn)
    while len(out) < size:
        X = rng.uniform(-1, 1, (n, d)) * pick(rng, scales.features)
        params = {k: rng.uniform(-1, 1, np.shape(v)) * pick(rng, scales.params) for k, v in drawn[0].params.items()}
        y = random_targets(rng, model.target, n, float(pick(rng, scales.targets)), drawn[0].sizes.get("n_classes", 3))
        s = model.residual_scale(drawn[0].hyper)
        if s is not None and rng.random() < 0.5:
            y = _near_prediction(model, params, X, rng.uniform(-WITHIN, WITHIN, n) * s)
        case = Case(params, X, y, dict(drawn[0].hyper), dict(drawn[0].sizes))
        if model.kink_order is not None and rng.random() < 0.5:
            case = place_on_kink(model, case, np.flatnonzero(rng.random(n) < rng.random()))
        out.append(case)
    return out


#: Targets drawn near the prediction: residuals up to this many of the model's RESIDUAL_SCALE, so most
#: fall where the loss does its work and some beyond, where it is flat.
WITHIN = 1.5


def _near_prediction(model: Model, params: dict, X: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Targets y = prediction − r (residual prediction − y = r), for a real target; else unchanged draws."""
    with np.errstate(all="ignore"):
        pred = np.asarray(model.module.predict(params, X), dtype=np.float64).reshape(-1)
    y = pred - r
    return np.where(np.isfinite(y), y, r)


def random_targets(rng, target: str, n: int, scale: float, n_classes: int = 3) -> np.ndarray:
    if target == "real":
        return rng.uniform(-1, 1, n) * scale
    if target == "binary":
        return rng.integers(0, 2, n).astype(float)
    if target == "signed":
        return signs(rng, n)
    if target == "counts":
        return rng.integers(0, 31, n).astype(float)
    if target == "classes":
        return rng.integers(0, n_classes, n).astype(float)
    if target == "positive":
        return rng.uniform(1e-3, 1, n) * scale
    if target == "unit":
        return rng.uniform(1e-6, 1 - 1e-6, n)
    raise ValueError(f"unknown TARGET {target!r}")

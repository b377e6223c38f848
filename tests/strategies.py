"""Shared Hypothesis strategies: problems ``(model, params, X, y)`` valid for a model.

Arrays come from ``hypothesis.extra.numpy`` with bounded, finite floats (no NaN,
no inf, no subnormals), and every draw is labelled so a failing example reads
well. Features and targets reuse lab/verify/search/cases.py, so the tests fuzz the
same kind of data as the verifier, at the scales of the profile in force:
n in 1..64, d in 1..8 (d is fixed by models that declare ``N_FEATURES``, such as
linear_regression), parameter shapes from ``model.init(d, **sizes)`` with the sizes
(number of classes, hidden width) drawn from the model's ``SHAPES``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lab.data import synthetic
from lab.model import Model, get, names
from lab.verify.search.cases import MAX_D, MAX_N, Scales, features, targets
from lab.verify.search.profiles import PROFILES, current

#: The scales of the Hypothesis profile in force: ordinary numbers under dev and ci; features
#: up to 1e6, near-collinear columns, repeated rows and n = 1 under thorough and extreme.
SCALES = PROFILES[current()][1]


class Problem(NamedTuple):
    """A point at which to evaluate a model: its name, parameters, features and targets."""

    model: str
    params: dict[str, np.ndarray]
    X: np.ndarray
    y: np.ndarray
    sizes: dict[str, int] = {}  # the SHAPES arguments params were made with: init(d, **sizes)

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def d(self) -> int:
        return self.X.shape[1]


def finite_floats(scale: float) -> st.SearchStrategy[float]:
    """Floats in [-scale, scale]: never NaN, inf or subnormal."""
    return st.floats(-scale, scale, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def arrays(shape, scale: float) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays of ``shape`` (a tuple or a strategy) with entries in [-scale, scale]."""
    return hnp.arrays(np.float64, shape, elements=finite_floats(scale), fill=st.nothing())


def _model(model: Model | str) -> Model:
    return get(model) if isinstance(model, str) else model


@st.composite
def shapes(draw, model: Model | str, *, min_n: int = 1, max_n: int = MAX_N, max_d: int = MAX_D):
    """``(n, d)``; d is the model's ``N_FEATURES`` when it declares one."""
    model = _model(model)
    n = draw(st.integers(min_n, max_n), label="n")
    d = model.n_features or draw(st.integers(1, max_d), label="d")
    return n, d


@st.composite
def sizes(draw, model: Model | str) -> dict[str, int]:
    """The integer arguments of ``init`` that the model declares in ``SHAPES`` (classes, width)."""
    return {k: draw(st.integers(lo, hi), label=k) for k, (lo, hi) in _model(model).shapes.items()}


@st.composite
def parameters(draw, model: Model | str, d: int, scales: Scales = SCALES, size: dict | None = None):
    """Parameters with the keys and shapes of ``model.init(d, **size)``."""
    model = _model(model)
    scale = draw(st.sampled_from(scales.params), label="parameter scale")
    return {k: draw(arrays(v.shape, scale), label=f"params[{k!r}]") for k, v in model.init(d, **(size or {})).items()}


@st.composite
def labels(draw, target: str, n: int, scales: Scales = SCALES, n_classes: int = 3) -> np.ndarray:
    """``y`` of length ``n`` valid for a ``TARGET`` kind (lab.verify.search.cases.targets); classes
    run from 0 to ``n_classes`` − 1."""
    scale = draw(st.sampled_from(scales.targets), label="target scale")
    return targets(draw, target, n, scale, n_classes)


@st.composite
def problems(
    draw,
    model: Model | str,
    scales: Scales = SCALES,
    *,
    min_n: int = 1,
    max_n: int = MAX_N,
    max_d: int = MAX_D,
) -> Problem:
    """A :class:`Problem` valid for ``model``: finite X, y of its TARGET, params of its shapes."""
    model = _model(model)
    n, d = draw(shapes(model, min_n=min_n, max_n=max_n, max_d=max_d), label="shape")
    X = draw(features(n, d, scales), label="X")
    size = draw(sizes(model), label="sizes")
    params = draw(parameters(model, d, scales, size), label="params")
    y = draw(labels(model.target, X.shape[0], scales, size.get("n_classes", 3)), label="y")
    return Problem(model.name, params, X, y, size)


def any_problem(scales: Scales = SCALES) -> st.SearchStrategy[Problem]:
    """A problem for any registered model."""
    return st.sampled_from(names()).flatmap(lambda name: problems(name, scales))


def scores(params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """The scores z = X w + b of the GLM-style models, computed here rather than by the model."""
    return X @ np.reshape(params["w"], (-1,)) + params["b"]


def _within(problem: Problem, bound: float) -> Problem:
    top = float(np.max(np.abs(scores(problem.params, problem.X))))
    if top <= bound:
        return problem
    shrink = bound / top
    return problem._replace(params={k: v * shrink for k, v in problem.params.items()})


def moderate_problems(model: Model | str, bound: float = 20.0, **kw) -> st.SearchStrategy[Problem]:
    """Problems whose scores satisfy |X w + b| ≤ bound (up to rounding): parameters scaled down."""
    return problems(model, **kw).map(lambda p: _within(p, bound))


@st.composite
def synthetic_sets(draw, model: Model | str, *, min_n: int, max_n: int, max_d: int = MAX_D):
    """Well-conditioned data from :func:`lab.data.synthetic`, starting at ``model.init(d)``."""
    model = _model(model)
    n, d = draw(shapes(model, min_n=min_n, max_n=max_n, max_d=max_d), label="shape")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    X, y, _ = synthetic(model, n=n, d=d, seed=seed)
    return Problem(model.name, model.init(X.shape[1]), X, y)


def large_scores(bound: float = 1e4, max_n: int = MAX_N) -> st.SearchStrategy[np.ndarray]:
    """Scores up to ±bound, with the extremes, the edge of exp's range and 0 drawn often."""
    edges = st.sampled_from([bound, -bound, 745.0, -745.0, 37.0, -37.0, 0.0])
    return hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=1, max_dims=1, min_side=1, max_side=max_n),
        elements=st.one_of(edges, finite_floats(bound)),
        fill=st.nothing(),
    )

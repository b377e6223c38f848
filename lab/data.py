"""Data: synthetic sets for each TARGET kind, scikit-learn's bundled data sets, US Census surnames for a
character model, CSV files, and standardization whose inverse maps fitted coefficients back to the
original units.

NumPy and the standard library only; scikit-learn is imported when a bundled set is loaded, and the
surnames are read from the installed PyPI package ``names`` (nothing is downloaded).
"""

from __future__ import annotations

import csv
import functools
import math
import re
import string
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np

from lab.model import TARGETS, Model, Params, check_target


class Dataset(NamedTuple):
    """Features ``X`` (n, d) and targets ``y`` (n,), with the names of the columns."""

    X: np.ndarray
    y: np.ndarray
    features: tuple[str, ...]
    target: str


def synthetic(model: Model, n: int = 200, d: int = 3, seed: int = 0, noise: float = 0.1):
    """``(X, y, true_params)``: features from a standard normal, targets from the model's own kind.

    Real targets are a linear function plus Gaussian noise; binary targets are
    drawn from the logistic model; counts from a Poisson with a log link;
    classes from a softmax of linear scores; signed labels are ±1; positive
    targets from a Gamma (shape 5) with a log link, mean exp(z/2); unit targets
    from a Beta with mean σ(z) and precision 10, kept inside [1e-6, 1 − 1e-6].
    """
    if n < 1 or d < 1:
        raise ValueError(f"need n ≥ 1 and d ≥ 1; got n={n}, d={d}")
    rng = np.random.default_rng(seed)
    d = model.n_features or d
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d)
    b = float(rng.standard_normal())
    z = X @ w + b
    if model.target == "real":
        y = z + noise * rng.standard_normal(n)
    elif model.target == "binary":
        y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(float)
    elif model.target == "signed":
        y = np.where(rng.random(n) < 1 / (1 + np.exp(-z)), 1.0, -1.0)
    elif model.target == "counts":
        y = rng.poisson(np.exp(np.clip(z / 2, -5, 5))).astype(float)
    elif model.target == "classes":
        k = 3
        W = rng.standard_normal((d, k))
        s = X @ W
        p = np.exp(s - s.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        y = np.array([rng.choice(k, p=row) for row in p], dtype=float)
    elif model.target == "positive":
        shape = 5.0  # the Gamma's shape k: its coefficient of variation is 1/√k
        y = rng.gamma(shape, np.exp(np.clip(z / 2, -5, 5)) / shape)
        y = np.maximum(y, np.finfo(float).tiny)  # a draw can round to 0; y > 0 strictly
    elif model.target == "unit":
        mu, phi = 1 / (1 + np.exp(-z)), 10.0
        y = np.clip(rng.beta(mu * phi, (1 - mu) * phi), 1e-6, 1 - 1e-6)
    else:
        raise ValueError(f"no synthetic data for TARGET {model.target!r}")
    return X, y, {"w": w, "b": np.asarray(b)}


# -- scikit-learn's bundled data sets (no download) -------------------------------------------

#: name -> (loader in sklearn.datasets, the name of the target, keyword arguments)
DATASETS = {
    "diabetes": ("load_diabetes", "disease progression", {"scaled": False}),  # raw units, not pre-scaled
    "breast_cancer": ("load_breast_cancer", "benign", {}),  # 1 = benign, 0 = malignant
}


def load(name: str) -> Dataset:
    """A data set bundled with scikit-learn, in its original units: "diabetes" (442 × 10, a real
    target) or "breast_cancer" (569 × 30, binary labels). Standardize it with :class:`Standardizer`."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    import sklearn.datasets

    loader, target, kw = DATASETS[name]
    bunch = getattr(sklearn.datasets, loader)(**kw)
    X = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.float64)
    return Dataset(X, y, tuple(str(f) for f in bunch.feature_names), target)


# -- names: US Census surnames, for a character model (no download) --------------------------------

#: The end token: id 0, before a name (the empty context) and after it (the name is over).
END = "."
#: The 27 symbols of the character model: the end token, then a to z (ids 1 to 26).
VOCAB = END + string.ascii_lowercase
SPLIT = (0.8, 0.1, 0.1)  # train, validation, test


class Names(NamedTuple):
    """Names split three ways, each a tuple of lowercase strings."""

    train: tuple[str, ...]
    validation: tuple[str, ...]
    test: tuple[str, ...]


@functools.cache
def _census_surnames() -> tuple[str, ...]:
    """Every surname of the 1990 US Census list shipped in the package ``names`` (dist.all.last), lowercased,
    in the file's order (most frequent first), keeping only names of the letters a to z."""
    try:
        text = (resources.files("names") / "dist.all.last").read_text(encoding="ascii")
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "the surnames come from the PyPI package names; install it: pip install names"
        ) from None
    words = (line.split(maxsplit=1)[0].lower() for line in text.splitlines() if line.strip())
    return tuple(w for w in words if re.fullmatch(r"[a-z]+", w))


def surnames(seed: int = 0) -> Names:
    """The 88,799 surnames of the 1990 US Census (the PyPI package ``names``, read from the installed package),
    lowercased, all of the letters a to z, 2 to 13 letters long; split 80/10/10 into train (71,039),
    validation (8,880) and test (8,880) by a permutation drawn from ``seed``. The same seed gives the same split.
    """
    if not (isinstance(seed, (int, np.integer)) and seed >= 0):
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    everyone = _census_surnames()
    order = np.random.default_rng(seed).permutation(len(everyone))
    a = int(SPLIT[0] * len(everyone))
    b = int((SPLIT[0] + SPLIT[1]) * len(everyone))
    pick = lambda idx: tuple(everyone[i] for i in idx)  # noqa: E731
    return Names(pick(order[:a]), pick(order[a:b]), pick(order[b:]))


def encode(name: str) -> np.ndarray:
    """The ids of ``name``'s letters in :data:`VOCAB` (a = 1, ..., z = 26), without the end token."""
    ids = [VOCAB.find(c) for c in name]
    if not name or min(ids) < 1:
        raise ValueError(f"a name must be made of the letters a to z; got {name!r}")
    return np.asarray(ids, dtype=np.int64)


def decode(ids) -> str:
    """The symbols of ``ids`` (the end token shows as ".")."""
    return "".join(VOCAB[int(i)] for i in ids)


def context_pairs(names, block_size: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Training pairs of a character model, as in makemore: for each name and each of its letters and the end
    token after it, the ``block_size`` symbols before (padded with the end token) and that symbol.

    Returns ``X`` of shape (N, block_size) and ``y`` of shape (N,), int64 ids in :data:`VOCAB`, with
    N = Σ (len(name) + 1). "emma" with block_size 3 gives ... → e, ..e → m, .em → m, emm → a, mma → .
    """
    if not (isinstance(block_size, (int, np.integer)) and block_size >= 1):
        raise ValueError(f"block_size must be a positive integer; got {block_size!r}")
    if isinstance(names, str):
        names = [names]
    k = block_size
    # one stream: each name as k end tokens, its letters, one end token; the targets are all but the padding
    parts, targets, at = [], [], 0
    for name in names:
        ids = encode(name)
        parts += [np.zeros(k, dtype=np.int64), ids, np.zeros(1, dtype=np.int64)]
        targets.append(np.arange(at + k, at + k + len(ids) + 1))
        at += k + len(ids) + 1
    if not parts:
        return np.zeros((0, k), dtype=np.int64), np.zeros(0, dtype=np.int64)
    stream, t = np.concatenate(parts), np.concatenate(targets)
    windows = np.lib.stride_tricks.sliding_window_view(stream, k)  # windows[j] = stream[j : j + k]
    return windows[t - k].copy(), stream[t]


# -- standardization ---------------------------------------------------------------------------


class Standardizer:
    """z = (x − μ)/σ per column, with μ the mean and σ the (population) standard deviation.

    A linear score fitted on standardized features, z w + b, is the same score on the original
    ones with w_orig = w/σ and b_orig = b − Σ_j w_j μ_j/σ_j; :meth:`inverse` maps parameters so.
    """

    def __init__(self):
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None

    def fit(self, X, features: tuple[str, ...] | list[str] | None = None) -> Standardizer:
        """Learn μ and σ from ``X`` (n, d). A constant column is a ``ValueError`` naming it."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(f"standardize a 2-D X with at least one row; got shape {X.shape}")
        mean, scale = X.mean(axis=0), X.std(axis=0)
        constant = np.flatnonzero(~(scale > 1e-12 * np.maximum(np.abs(mean), 1e-300)))
        if constant.size:
            j = int(constant[0])
            name = repr(features[j]) if features is not None else str(j)
            raise ValueError(f"column {name} is constant ({X[0, j]:g} in every row): it cannot be standardized, "
                             "and with the intercept it makes X̃ᵀX̃ singular; drop it")  # fmt: skip
        self.mean, self.scale = mean, scale
        return self

    def _fitted(self) -> tuple[np.ndarray, np.ndarray]:
        if self.mean is None or self.scale is None:
            raise ValueError("this Standardizer is not fitted yet: call fit(X) first")
        return self.mean, self.scale

    def transform(self, X) -> np.ndarray:
        mean, scale = self._fitted()
        return (np.asarray(X, dtype=np.float64) - mean) / scale

    def fit_transform(self, X, features=None) -> np.ndarray:
        return self.fit(X, features).transform(X)

    def inverse(self, params: Params) -> Params:
        """Parameters of a linear score fitted on standardized X, mapped to X's original units.

        The keys are ``b`` and one weight, ``w`` or ``W``: (d,), (d, k), or a scalar when d = 1;
        b has the weight's trailing shape.
        """
        mean, scale = self._fitted()
        weight = [k for k in params if k != "b"]
        if "b" not in params or len(weight) != 1 or weight[0] not in ("w", "W"):
            raise ValueError(f"inverse needs a linear score's parameters, 'w' (or 'W') and 'b'; got {sorted(params)}")
        key = weight[0]
        w, b = np.asarray(params[key], dtype=np.float64), np.asarray(params["b"], dtype=np.float64)
        wm = w.reshape(1, *w.shape) if w.ndim == 0 else w  # a scalar w is one feature's weight
        if wm.shape[0] != mean.size:
            raise ValueError(f"w has {wm.shape[0]} rows; the Standardizer was fitted on {mean.size} columns")
        s = (slice(None),) + (None,) * (wm.ndim - 1)
        w_orig = wm / scale[s]  # w_j / σ_j
        b_orig = b - np.tensordot(mean, w_orig, axes=(0, 0))  # b − Σ_j μ_j w_j / σ_j
        return {key: w_orig.reshape(w.shape), "b": np.asarray(b_orig).reshape(b.shape)}


# -- CSV -----------------------------------------------------------------------------------------


def _number(cell: str, path, line: int, row: int, column: str) -> float:
    where = f"{path}: row {row} (line {line}), column {column!r}"
    text = cell.strip()
    if not text:
        raise ValueError(f"{where} is empty; every cell must hold a number")
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"{where} holds {text!r}, which is not a number") from None
    if not math.isfinite(v):
        raise ValueError(f"{where} holds {text!r}; every cell must be a finite number")
    return v


def read_csv(path, target: str, *, kind: str | None = None) -> Dataset:
    """Read a CSV file with a header row: column ``target`` is y, every other column a feature.

    With ``kind`` (a model's TARGET, such as "binary"), the labels are checked to fit it. Each
    problem is one ``ValueError`` line: a missing file; a missing column (the available ones
    are listed); a cell that is not a finite number (its row, line and column); a ragged row;
    a constant feature (it makes X̃ᵀX̃ singular); labels that do not fit ``kind``, or a
    classification target with one class only.
    """
    p = Path(path)
    if not p.exists():
        raise ValueError(f"no such file: {path}")
    if not p.is_file():
        raise ValueError(f"not a file: {path}")
    try:
        with p.open(newline="", encoding="utf-8-sig") as f:
            rows = [(i, r) for i, r in enumerate(csv.reader(f), start=1) if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"cannot read {path} as CSV: {e}") from None
    if not rows:
        raise ValueError(f"{path} is empty; expected a header row and data rows")
    header = [c.strip() for c in rows[0][1]]
    seen = set()
    for c in header:
        if c in seen:
            raise ValueError(f"{path}: column {c!r} appears twice in the header")
        seen.add(c)
    if target not in header:
        raise ValueError(f"{path} has no column {target!r}; its columns are: {', '.join(header)}")
    if len(header) < 2:
        raise ValueError(f"{path} has only the target column {target!r}; it needs at least one feature column")
    data = rows[1:]
    if len(data) < 2:
        raise ValueError(f"{path} has {len(data)} data row(s); it needs at least 2")
    values = np.empty((len(data), len(header)))
    for r, (line, cells) in enumerate(data, start=1):
        if len(cells) != len(header):
            raise ValueError(f"{path}: row {r} (line {line}) has {len(cells)} cells; the header has {len(header)}")
        for j, cell in enumerate(cells):
            values[r - 1, j] = _number(cell, path, line, r, header[j])
    t = header.index(target)
    y = values[:, t]
    features = tuple(c for j, c in enumerate(header) if j != t)
    X = np.delete(values, t, axis=1)
    for j, name in enumerate(features):
        if np.all(X[:, j] == X[0, j]):
            raise ValueError(f"{path}: feature column {name!r} is constant ({X[0, j]:g} in every row); with the "
                             "intercept it makes X̃ᵀX̃ singular; drop it")  # fmt: skip
    if kind is not None:
        _check_labels(y, kind, path, target, data)
    return Dataset(X, y, features, target)


def _check_labels(y: np.ndarray, kind: str, path, target: str, data) -> None:
    """lab.model.check_target on the target column, re-worded to name the file's row and line."""
    try:
        check_target(y, kind)
    except ValueError:
        i = next(i for i in range(y.size) if not _fits(y[i : i + 1], kind))
        raise ValueError(f"{path}: row {i + 1} (line {data[i][0]}), column {target!r} holds {y[i]:g}; "
                         f"a {kind!r} model needs {TARGETS[kind]}") from None  # fmt: skip
    if kind in ("binary", "signed", "classes") and np.all(y == y[0]):
        raise ValueError(f"{path}: column {target!r} holds only the label {y[0]:g}; a classifier needs two classes")


def _fits(y: np.ndarray, kind: str) -> bool:
    try:
        check_target(y, kind)
    except ValueError:
        return False
    return True

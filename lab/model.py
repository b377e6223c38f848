"""The model contract and the registry.

A model is a module that defines ``TARGET``, ``init``, ``loss``, ``grad`` and
``predict`` (see DESIGN.md section 2). The modules in ``lab/models/`` are the
registry: they are discovered from the folder, never listed by hand. A user's
own file is loaded with :func:`load` and keeps the same contract.

The raw module functions stay pure so JAX can trace ``loss``. The :class:`Model`
wrapper adds the input checks a person needs: every public entry point turns
bad data into a ``ValueError`` that names the problem.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import pkgutil
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np

import lab.models

#: What ``y`` may hold, per ``TARGET``.
TARGETS = {
    "real": "any finite real number",
    "binary": "the labels 0 and 1",
    "counts": "non-negative integers",
    "classes": "class indices 0, 1, ..., k-1",
    "signed": "the labels -1 and +1",
}
REQUIRED = ("TARGET", "init", "loss", "grad", "predict")
DERIVATIONS = Path(__file__).resolve().parent.parent / "derivations"

Params = dict[str, np.ndarray]


class ModelError(ValueError):
    """A model module does not keep the contract, or cannot be found or imported."""


@dataclass(frozen=True)
class Model:
    """A model module together with the checks around its contract."""

    name: str
    module: ModuleType

    @property
    def target(self) -> str:
        return self.module.TARGET

    @property
    def n_features(self) -> int | None:
        """The number of columns X must have, or None when any number works."""
        return getattr(self.module, "N_FEATURES", None)

    @property
    def hyperparameters(self) -> dict[str, tuple[float, float]]:
        """Keyword-only hyperparameters and the range the verifier fuzzes."""
        return dict(getattr(self.module, "HYPERPARAMETERS", {}))

    @property
    def shapes(self) -> dict[str, tuple[int, int]]:
        """Keyword-only integer arguments of ``init`` (classes, hidden width) and the range the verifier draws."""
        return dict(getattr(self.module, "SHAPES", {}))

    @property
    def kink_order(self) -> int | None:
        """1 when the gradient jumps somewhere (hinge), 2 when only the second derivative does (Huber)."""
        return getattr(self.module, "KINK_ORDER", None)

    @property
    def derivation(self) -> Path:
        return DERIVATIONS / f"{self.name}.md"

    @property
    def source(self) -> Path:
        return Path(self.module.__file__ or "")

    def with_hyper(self, **hyper: float) -> Model:
        """This model with its hyperparameters (λ, δ, ...) fixed at ``hyper``, for training and reports."""
        unknown = sorted(set(hyper) - set(self.hyperparameters))
        if unknown:
            known = ", ".join(self.hyperparameters) or "none"
            raise ValueError(f"{self.name} has no hyperparameter {', '.join(unknown)}; it has: {known}")
        if not hyper:
            return self
        mod = self.module
        bound = SimpleNamespace(**{k: getattr(mod, k) for k in dir(mod) if not k.startswith("__")})
        for fn in ("loss", "grad", "loss_and_grad", "hessian", "kink_distance", "closed_form"):
            if callable(getattr(mod, fn, None)):
                setattr(bound, fn, functools.partial(getattr(mod, fn), **hyper))
        bound.__file__, bound.__name__ = mod.__file__, mod.__name__
        return Model(self.name, bound)

    def init(self, n_features: int, **shape: int) -> Params:
        return {k: np.asarray(v, dtype=np.float64) for k, v in self.module.init(n_features, **shape).items()}

    def check(self, params: Params | None, X: Any, y: Any | None = None):
        """Validate and convert inputs; return ``(params, X, y)`` as float64 arrays."""
        X, y = check_data(X, y, self.target, self.n_features)
        if params is not None:
            params = check_params(params, self.init(X.shape[1]), exact=not self.shapes)
        return params, X, y

    def loss(self, params: Params, X: Any, y: Any) -> float:
        params, X, y = self.check(params, X, y)
        return float(self.module.loss(params, X, y))

    def grad(self, params: Params, X: Any, y: Any) -> Params:
        params, X, y = self.check(params, X, y)
        return {k: np.asarray(v, dtype=np.float64) for k, v in self.module.grad(params, X, y).items()}

    def predict(self, params: Params, X: Any) -> np.ndarray:
        params, X, _ = self.check(params, X)
        return np.asarray(self.module.predict(params, X))


def _as_float_array(a: Any, what: str) -> np.ndarray:
    try:
        out = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what} must hold numbers: {e}") from None
    return out


def _first_bad(a: np.ndarray) -> str:
    """Where the first non-finite entry of ``a`` is, in words."""
    idx = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
    kind = "NaN" if np.isnan(a[idx]) else "inf"
    where = f"row {idx[0]}, column {idx[1]}" if a.ndim == 2 else f"index {idx[0]}"
    return f"{kind} at {where}"


def check_data(X: Any, y: Any | None, target: str, n_features: int | None = None):
    """Check ``X`` of shape (n, d) and ``y`` of shape (n,) for a ``target`` kind.

    Raises ``ValueError`` naming the problem: wrong rank, empty, mismatched
    lengths, NaN or inf, the wrong number of features, or labels that do not
    fit ``target``.
    """
    X = _as_float_array(X, "X")
    if X.ndim != 2:
        hint = " (for one feature, pass X.reshape(-1, 1))" if X.ndim == 1 else ""
        raise ValueError(f"X must be 2-D with shape (n, d); got {X.ndim}-D shape {X.shape}{hint}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X is empty: shape {X.shape}; need at least one row and one column")
    if not np.isfinite(X).all():
        raise ValueError(f"X holds {_first_bad(X)}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"this model takes exactly {n_features} feature(s); X has {X.shape[1]} columns")
    if y is None:
        return X, None
    y = _as_float_array(y, "y")
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D with shape (n,); got {y.ndim}-D shape {y.shape}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"shape mismatch: X has {X.shape[0]} rows but y has {y.shape[0]} entries")
    if not np.isfinite(y).all():
        raise ValueError(f"y holds {_first_bad(y)}")
    check_target(y, target)
    return X, y


def check_target(y: np.ndarray, target: str) -> None:
    """Raise ``ValueError`` when ``y`` holds values its ``target`` kind forbids."""
    allowed = {
        "real": lambda v: np.ones(v.shape, bool),
        "binary": lambda v: (v == 0) | (v == 1),
        "signed": lambda v: (v == -1) | (v == 1),
        "counts": lambda v: (v >= 0) & (v == np.round(v)),
        "classes": lambda v: (v >= 0) & (v == np.round(v)),
    }
    if target not in allowed:
        raise ModelError(f"unknown TARGET {target!r}; expected one of {', '.join(TARGETS)}")
    ok = allowed[target](y)
    if not ok.all():
        i = int(np.argmin(ok))
        raise ValueError(f"y must hold {TARGETS[target]} for a {target!r} target; found {y[i]:g} at index {i}")


def check_params(params: Any, expected: Params, exact: bool = True) -> Params:
    """Check that ``params`` has the keys and shapes of ``expected`` (only the ranks unless ``exact``) and is finite."""
    if not isinstance(params, dict):
        raise ValueError(f"params must be a dict of arrays with keys {sorted(expected)}")
    if set(params) != set(expected):
        raise ValueError(f"params has keys {sorted(params)}; this model needs {sorted(expected)}")
    out = {}
    for k, ref in expected.items():
        v = _as_float_array(params[k], f"params[{k!r}]")
        if (v.shape != ref.shape) if exact else (v.ndim != ref.ndim):
            raise ValueError(
                f"params[{k!r}] has shape {v.shape}; expected {ref.shape if exact else f'{ref.ndim} axes'}"
            )
        if not np.isfinite(v).all():
            raise ValueError(f"params[{k!r}] is not finite")
        out[k] = v
    return out


# -- the registry -------------------------------------------------------------


def names() -> list[str]:
    """The names of the models in ``lab/models/``, sorted."""
    return sorted(m.name for m in pkgutil.iter_modules(lab.models.__path__) if not m.name.startswith("_"))


def get(name: str) -> Model:
    """The registered model called ``name``."""
    known = names()
    if name not in known:
        raise ModelError(f"unknown model {name!r}; known models: {', '.join(known)}")
    return _wrap(name, _import(f"lab.models.{name}"))


def all_models() -> list[Model]:
    return [get(n) for n in names()]


def load(spec: str) -> Model:
    """A model from a registered name, a dotted module name or a path to a ``.py`` file."""
    if spec in names():
        return get(spec)
    path = Path(spec)
    if spec.endswith(".py") or path.exists():
        if not path.is_file():
            raise ModelError(f"no such model file: {spec}")
        name = path.stem
        mod_name = f"lab_user_models.{name}"
        module_spec = importlib.util.spec_from_file_location(mod_name, path)
        if module_spec is None or module_spec.loader is None:
            raise ModelError(f"cannot load {spec} as a Python module")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[mod_name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as e:
            sys.modules.pop(mod_name, None)
            raise ModelError(f"{spec} does not import: {type(e).__name__}: {e}") from None
        return _wrap(name, module)
    return _wrap(spec.rsplit(".", 1)[-1], _import(spec))


def _import(dotted: str) -> ModuleType:
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError as e:
        if e.name and dotted.startswith(e.name):
            raise ModelError(f"no model module named {dotted!r}") from None
        raise ModelError(f"{dotted} does not import: ModuleNotFoundError: {e}") from None
    except Exception as e:
        raise ModelError(f"{dotted} does not import: {type(e).__name__}: {e}") from None


def _wrap(name: str, module: ModuleType) -> Model:
    missing = [a for a in REQUIRED if not hasattr(module, a)]
    if missing:
        raise ModelError(f"model {name!r} lacks {', '.join(missing)} (the contract needs {', '.join(REQUIRED)})")
    if module.TARGET not in TARGETS:
        raise ModelError(f"model {name!r} has TARGET {module.TARGET!r}; expected one of {', '.join(TARGETS)}")
    return Model(name, module)

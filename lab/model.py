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
import inspect
import math
import pkgutil
import re
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
    "positive": "positive real numbers (y > 0)",
    "unit": "real numbers strictly between 0 and 1",
}
REQUIRED = ("TARGET", "init", "loss", "grad", "predict")
DERIVATIONS = Path(__file__).resolve().parent.parent / "derivations"

Params = dict[str, np.ndarray]


class ModelError(ValueError):
    """A model module does not keep the contract, or cannot be found or imported."""


#: Other kinds of module that are seen as models, by their ``KIND``: a function (name, module) -> Model.
#: Each kind's own module registers itself here (lab/layer.py), so this module imports none of them.
KINDS: dict = {}
#: Names of registered modules of those kinds, by prefix ("layers/"): a function (name) -> Model.
PREFIXES: dict = {}


# -- hyperparameter domains ----------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """The values a hyperparameter may take, such as (0, 1) or [0, inf).

    Written as a string in interval notation: a round bracket leaves the end out, a
    square bracket keeps it in, and ``inf`` is allowed at either end (always left out).
    """

    lo: float = -math.inf
    hi: float = math.inf
    lo_closed: bool = False
    hi_closed: bool = False

    def __contains__(self, x: float) -> bool:
        above = x >= self.lo if self.lo_closed else x > self.lo
        below = x <= self.hi if self.hi_closed else x < self.hi
        return bool(above and below)

    def covers(self, lo: float, hi: float) -> bool:
        """Whether every number of the closed range [lo, hi] lies in this interval."""
        return lo in self and hi in self

    def __str__(self) -> str:
        def end(x: float) -> str:
            return "inf" if x == math.inf else "-inf" if x == -math.inf else f"{x:g}"

        return f"{'[' if self.lo_closed else '('}{end(self.lo)}, {end(self.hi)}{']' if self.hi_closed else ')'}"


ANY_NUMBER = Interval()
_INTERVAL = re.compile(r"^\s*([\[(])\s*([^,\s]+)\s*,\s*([^\])\s]+)\s*([\])])\s*$")


def parse_interval(text: str) -> Interval:
    """``"(0, 1)"``, ``"[0, inf)"``, ``"(0, inf)"``: an :class:`Interval`; ``ValueError`` otherwise."""
    m = _INTERVAL.match(str(text))
    bad = ValueError(f"{text!r} is not an interval such as (0, 1), [0, inf) or (-inf, inf)")
    if not m:
        raise bad
    try:
        lo, hi = float(m[2]), float(m[3])
    except ValueError:
        raise bad from None
    if math.isnan(lo) or math.isnan(hi) or not lo < hi or lo == math.inf or hi == -math.inf:
        raise bad
    return Interval(lo, hi, m[1] == "[" and math.isfinite(lo), m[4] == "]" and math.isfinite(hi))


@dataclass(frozen=True)
class Model:
    """A model module together with the checks around its contract."""

    name: str
    module: ModuleType
    hyper: tuple[tuple[str, float], ...] = ()  # the hyperparameters fixed by with_hyper, as (name, value) pairs

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
    def hyper_domains(self) -> dict[str, Interval]:
        """Each hyperparameter's valid values, from the module's ``HYPER_DOMAIN`` (any number when undeclared).

        The domain says what the value means (a quantile τ lies in (0, 1)); the fuzz range in
        ``HYPERPARAMETERS`` is the part of it the verifier draws from, and lies inside it.
        """
        declared = getattr(self.module, "HYPER_DOMAIN", {})
        return {k: parse_interval(declared[k]) if k in declared else ANY_NUMBER for k in self.hyperparameters}

    @property
    def hyper_defaults(self) -> dict[str, float]:
        """Each hyperparameter's default: its keyword default in ``loss`` (hyperparameters without one are left out)."""
        sig = inspect.signature(self.module.loss).parameters
        return {k: sig[k].default for k in self.hyperparameters if k in sig and sig[k].default is not sig[k].empty}

    def check_hyper(self, hyper: dict[str, float]) -> dict[str, float]:
        """``hyper`` as floats, or a ``ValueError`` naming an unknown name or a value outside its domain."""
        known = self.hyperparameters
        unknown = sorted(set(hyper) - set(known))
        if unknown:
            have = ", ".join(known) or "none"
            raise ValueError(f"{self.name} has no hyperparameter {', '.join(unknown)}; it has: {have}")
        domains, out = self.hyper_domains, {}
        for k, v in hyper.items():
            try:
                x = float(v)
            except (TypeError, ValueError):
                raise ValueError(f"hyperparameter {k} of {self.name} must be a number; got {v!r}") from None
            if not math.isfinite(x) or x not in domains[k]:
                raise ValueError(f"{k} = {x:g} is outside its domain {domains[k]} for {self.name}")
            out[k] = x
        return out

    @property
    def shapes(self) -> dict[str, tuple[int, int]]:
        """Keyword-only integer arguments of ``init`` (classes, hidden width) and the range the verifier draws."""
        return dict(getattr(self.module, "SHAPES", {}))

    def residual_scale(self, hyper: dict[str, float]) -> float | None:
        """The scale of residual at which the loss does its work, when the model declares one: Tukey's c,
        beyond which the loss is flat. ``RESIDUAL_SCALE`` is a hyperparameter's name or a number; the
        verifier then draws many targets within a few of these of the prediction."""
        declared = getattr(self.module, "RESIDUAL_SCALE", None)
        if declared is None:
            return None
        if isinstance(declared, str):  # a hyperparameter drawn for this case, else the loss's keyword default
            default = inspect.signature(self.module.loss).parameters.get(declared)
            value = hyper.get(declared, default.default if default is not None else None)
            value = None if value is inspect.Parameter.empty else value
        else:
            value = declared
        return float(value) if value is not None and math.isfinite(float(value)) and float(value) > 0 else None

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
        """This model with its hyperparameters (λ, δ, ...) fixed at ``hyper``, for training and reports.

        A name the model does not have, or a value outside its domain (``HYPER_DOMAIN``), is a
        ``ValueError`` naming it.
        """
        hyper = self.check_hyper(hyper)
        if not hyper:
            return self
        mod = self.module
        bound = SimpleNamespace(**{k: getattr(mod, k) for k in dir(mod) if not k.startswith("__")})
        for fn in ("loss", "grad", "loss_and_grad", "hessian", "kink_distance", "closed_form"):
            if callable(getattr(mod, fn, None)):
                setattr(bound, fn, functools.partial(getattr(mod, fn), **hyper))
        bound.__file__, bound.__name__ = mod.__file__, mod.__name__
        return Model(self.name, bound, tuple({**dict(self.hyper), **hyper}.items()))

    def replaced(self, tag: str, **functions) -> Model:
        """This model with some module functions replaced (a seeded mistake, a tested repair), named
        ``NAME~tag``; everything else of the module stays as it is."""
        mod = self.module
        copy = SimpleNamespace(**{k: getattr(mod, k) for k in dir(mod) if not k.startswith("__")})
        for name, fn in functions.items():
            setattr(copy, name, fn)
        copy.__file__, copy.__name__ = mod.__file__, f"{mod.__name__}~{tag}"
        return Model(f"{self.name}~{tag}", copy, self.hyper)

    def init(self, n_features: int, **shape: int) -> Params:
        return {k: np.asarray(v, dtype=np.float64) for k, v in self.module.init(n_features, **shape).items()}

    def check(self, params: Params | None, X: Any, y: Any | None = None):
        """Validate and convert inputs; return ``(params, X, y)`` as float64 arrays.

        The hyperparameters fixed by :meth:`with_hyper` are checked against their domains too.
        """
        self.check_hyper(dict(self.hyper))
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


def shape_of(a: Any) -> tuple[int, ...]:
    """``np.shape(a)``, read off a NumPy array directly (np.shape's own call costs more than the read)."""
    return a.shape if type(a) is np.ndarray else np.shape(a)


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
        "positive": lambda v: v > 0,
        "unit": lambda v: (v > 0) & (v < 1),
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


# -- what loss and grad return ------------------------------------------------------------


def _kind(value: Any) -> str:
    return type(value).__name__


def check_loss_value(value: Any, fn: str = "loss") -> None:
    """Raise :class:`ModelError` unless ``value`` is a real scalar: a 0-d number (finite or not)."""
    if isinstance(value, (list, tuple, dict, str, bytes)) or value is None:
        raise ModelError(f"{fn} returns a {_kind(value)}; it must return a scalar, a number of shape ()")
    shape = np.shape(value)
    if shape != ():
        raise ModelError(
            f"{fn} returns shape {shape}; it must return a scalar of shape () (a mean, not one per sample)"
        )
    dtype = np.asarray(value).dtype
    if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
        raise ModelError(f"{fn} returns dtype {dtype}; it must return a real number")


def check_grad_value(g: Any, params: Params, fn: str = "grad") -> None:
    """Raise :class:`ModelError` unless ``g`` is a dict with exactly ``params``' keys, each value a NumPy
    array (or NumPy scalar) of the same shape with a float dtype. The message names the key and both shapes."""
    if not isinstance(g, dict):
        raise ModelError(f"{fn} returns a {_kind(g)}; it must return a dict with the keys of params: {sorted(params)}")
    if set(g) != set(params):
        raise ModelError(f"{fn} returns keys {sorted(g)}; params has keys {sorted(params)}")
    for k, ref in params.items():
        v = g[k]
        if not isinstance(v, (np.ndarray, np.generic)):
            raise ModelError(f"{fn}[{k!r}] is a {_kind(v)}; return a NumPy array of shape {np.shape(ref)} (np.asarray)")
        if v.shape != np.shape(ref):
            raise ModelError(f"{fn}[{k!r}] has shape {v.shape}; params[{k!r}] has shape {np.shape(ref)}")
        if not np.issubdtype(v.dtype, np.floating):
            raise ModelError(f"{fn}[{k!r}] has dtype {v.dtype}; it must be a float array (float64)")


def _call(fn: str, f, *args):
    try:
        return f(*args)
    except NotImplementedError as e:
        raise ModelError(f"{fn} is not implemented yet: {e or 'it raises NotImplementedError'}") from e
    except ModelError:
        raise
    except Exception as e:
        raise ModelError(f"{fn} raised {type(e).__name__}: {e}") from e


def check_contract(model: Model, params: Params, X: np.ndarray, y: np.ndarray) -> None:
    """Call ``loss`` and ``grad`` once (and ``loss_and_grad`` when defined) and check what they return.

    ``loss`` must return a real scalar (shape (); whether it is finite is not this check's business);
    ``grad`` a dict with exactly the keys of ``params``, each a NumPy array with that parameter's
    shape and a float dtype. On a failure: a :class:`ModelError` (a ``ValueError``) in one line
    naming the function, the key and both shapes, for example
    ``grad['b'] has shape (1,); params['b'] has shape ()``. An exception raised inside a function
    becomes a ``ModelError`` naming it too. ``params``, ``X`` and ``y`` should be checked arrays
    (see :meth:`Model.check`); the hyperparameters are the model's own (see :meth:`Model.with_hyper`).
    """
    if model.kink_order is not None and not callable(getattr(model.module, "kink_distance", None)):
        raise ModelError(
            f"KINK_ORDER = {model.kink_order} is declared but kink_distance(params, X, y) is not: define it "
            "(each sample's distance to its kink), or remove KINK_ORDER"
        )
    mod = model.module
    with np.errstate(all="ignore"):
        check_loss_value(_call("loss", mod.loss, params, X, y))
        check_grad_value(_call("grad", mod.grad, params, X, y), params)
        both = getattr(mod, "loss_and_grad", None)
        if callable(both):
            out = _call("loss_and_grad", both, params, X, y)
            if not (isinstance(out, tuple) and len(out) == 2):
                raise ModelError(f"loss_and_grad returns a {_kind(out)}; it must return a pair (loss, grad)")
            check_loss_value(out[0], "loss_and_grad's loss")
            check_grad_value(out[1], params, "loss_and_grad's grad")


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
    """A model from a registered name, a dotted module name or a path to a ``.py`` file.

    ``my_loss`` names the file ``my_loss.py`` in the current folder when there is one (so a
    user's file works with or without ``.py``); a plain name that is neither registered, nor a
    file, nor an importable module is a :class:`ModelError` listing the known models.
    """
    if spec in names():
        return get(spec)
    for prefix, get_kind in PREFIXES.items():  # layers/NAME: a registered module of another kind
        if spec.startswith(prefix) and not spec.endswith(".py"):
            return get_kind(spec)
    path = Path(spec)
    if not spec.endswith(".py") and not path.exists() and Path(spec + ".py").is_file():
        spec, path = spec + ".py", Path(spec + ".py")
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
    if spec.isidentifier() and importlib.util.find_spec(spec) is None:
        other = [prefix + spec for prefix, get_kind in PREFIXES.items() if _registered(get_kind, prefix + spec)]
        hint = f"; did you mean {' or '.join(other)}?" if other else ""
        raise ModelError(
            f"unknown model {spec!r}; known models: {', '.join(names())} (or a path to your own .py file){hint}"
        )
    return _wrap(spec.rsplit(".", 1)[-1], _import(spec))


def _registered(get_kind, name: str) -> bool:
    """Whether ``name`` (layers/NAME, nets/NAME) is a registered module of that kind."""
    try:
        get_kind(name)
    except ModelError:
        return False
    return True


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
    kind = getattr(module, "KIND", None)
    if kind is not None:  # another kind of module seen as a model: a layer (lab/layer.py registers it)
        if kind not in KINDS:
            raise ModelError(f"{name!r} declares KIND = {kind!r}; known kinds: {', '.join(KINDS) or 'none'}")
        return KINDS[kind](name, module)
    missing = [a for a in REQUIRED if not hasattr(module, a)]
    if missing:
        raise ModelError(f"model {name!r} lacks {', '.join(missing)} (the contract needs {', '.join(REQUIRED)})")
    if module.TARGET not in TARGETS:
        raise ModelError(f"model {name!r} has TARGET {module.TARGET!r}; expected one of {', '.join(TARGETS)}")
    _check_hyper_declarations(name, module)
    return Model(name, module)


def _check_hyper_declarations(name: str, module: ModuleType) -> None:
    """HYPER_DOMAIN names only declared hyperparameters, each domain parses, and both the fuzz range and
    the default of ``loss`` lie inside it; otherwise a ``ModelError`` naming the hyperparameter."""
    fuzz = dict(getattr(module, "HYPERPARAMETERS", {}))
    declared = dict(getattr(module, "HYPER_DOMAIN", {}))
    stray = sorted(set(declared) - set(fuzz))
    if stray:
        raise ModelError(f"model {name!r}: HYPER_DOMAIN names {', '.join(stray)}, which HYPERPARAMETERS does not")
    try:
        defaults = {k: p.default for k, p in inspect.signature(module.loss).parameters.items()}
    except (TypeError, ValueError):
        defaults = {}
    for k, (lo, hi) in fuzz.items():
        try:
            domain = parse_interval(declared[k]) if k in declared else ANY_NUMBER
        except ValueError as e:
            raise ModelError(f"model {name!r}: HYPER_DOMAIN[{k!r}]: {e}") from None
        if not domain.covers(lo, hi):
            raise ModelError(
                f"model {name!r}: HYPERPARAMETERS[{k!r}] fuzzes [{lo:g}, {hi:g}], outside its domain {domain}"
            )
        default = defaults.get(k, inspect.Parameter.empty)
        if isinstance(default, (int, float)) and default not in domain:
            raise ModelError(f"model {name!r}: loss's default {k}={default:g} is outside its domain {domain}")

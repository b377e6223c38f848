"""The layer contract, the layer registry, and a layer seen as a model.

A layer is a module that defines ``KIND = "layer"``, ``INPUT``, ``init``, ``forward`` and ``vjp``
(DESIGN.md section 3). The modules in ``lab/layers/`` are the registry; a user's file is loaded by
:func:`lab.model.load` like a model file, which hands it here.

The verifier checks a layer through the model contract, so every rule of the judge applies to it
unchanged: a layer with a random upstream gradient ``dout`` is the scalar loss

    L(params, x) = ⟨dout, forward(params, x)⟩,

whose gradient is exactly what ``vjp(params, x, dout)`` returns. Its parameters are the layer's
params and the real parts of ``x`` (under the key ``"x"``, or ``"x0"``, ``"x1"``, ... for the parts
of a tuple); the data are ``dout`` (as ``X``, two-dimensional: the output's last axis as columns)
and the ids of a part of tokens (as ``y``). A scalar output (a loss over tokens) is the special case
dout of shape (1, 1).

``x`` is one array, or a tuple of parts (``INPUT = ("real", "tokens")`` with ``SHAPE`` a tuple of axis
names per part): logits and targets, of which only the real part is differentiated; ``vjp`` then
returns d x as a tuple with None for the ids. At most one part holds tokens.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from types import ModuleType, SimpleNamespace

import numpy as np

import lab.layers
from lab.model import KINDS, PREFIXES, Model, ModelError, shape_of

REQUIRED = ("KIND", "INPUT", "init", "forward", "vjp")
INPUTS = ("real", "tokens")
#: The sizes the verifier draws for an axis, by name; other names get SIZES["other"].
SIZES = {"B": (1, 4), "T": (1, 5), "C": (1, 6), "other": (1, 4)}
TINY = np.finfo(np.float64).tiny  # 2⁻¹⁰²², the smallest normal float64


@dataclass(frozen=True)
class Form:
    """The parts of a layer's input: each part's kind ("real" or "tokens"), its axes, and the key a real
    part takes among the verifier's parameters; ``tuple`` when ``x`` is a tuple of them."""

    kinds: tuple[str, ...]
    axes: tuple[tuple[str, ...], ...]
    tuple: bool

    @functools.cached_property  # read for every case and every loss the differences evaluate
    def keys(self) -> tuple[str | None, ...]:
        """Per part, its key among the parameters (None for ids)."""
        if not self.tuple:
            return ("x",) if self.kinds[0] == "real" else (None,)
        return tuple(f"x{i}" if k == "real" else None for i, k in enumerate(self.kinds))

    @functools.cached_property
    def real_keys(self) -> tuple[str, ...]:
        return tuple(k for k in self.keys if k is not None)

    @property
    def all_axes(self) -> tuple[str, ...]:
        """Every axis name once, in the order the parts name them."""
        return tuple(dict.fromkeys(a for part in self.axes for a in part))

    def shapes(self, sizes: dict) -> list[tuple[int, ...]]:
        return [tuple(int(sizes[a]) for a in part) for part in self.axes]

    def split(self, theta: dict, y, xp=np) -> tuple[dict, object]:
        """The layer's (params, x) from the verifier's parameters and ids."""
        params = {k: v for k, v in theta.items() if k not in self.real_keys}
        parts = [theta[k] if k is not None else xp.astype(y, xp.int64) for k in self.keys]
        return params, (tuple(parts) if self.tuple else parts[0])

    def join(self, params: dict, x) -> tuple[dict, np.ndarray]:
        """The verifier's (parameters, ids) from the layer's params and x (NumPy)."""
        parts = list(x) if self.tuple else [x]
        theta, y = dict(params), np.zeros(1)
        for key, part in zip(self.keys, parts, strict=True):
            if key is None:
                y = np.asarray(part, dtype=np.float64)
            else:
                theta[key] = np.asarray(part, dtype=np.float64)
        return theta, y


def form(layer: ModuleType, name: str = "layer") -> Form:
    """The :class:`Form` a layer declares by ``INPUT`` and ``SHAPE``; a ModelError when they do not fit."""
    kinds, shape = layer.INPUT, getattr(layer, "SHAPE", ("B", "T", "C"))
    if isinstance(kinds, str):
        if kinds not in INPUTS:
            raise ModelError(f"layer {name!r} has INPUT {kinds!r}; expected one of {', '.join(INPUTS)}, or a tuple")
        return Form((kinds,), (tuple(shape),), False)
    kinds = tuple(kinds)
    if not kinds or any(k not in INPUTS for k in kinds):
        raise ModelError(f"layer {name!r} has INPUT {kinds!r}; each part must be one of {', '.join(INPUTS)}")
    if kinds.count("tokens") > 1:
        raise ModelError(f"layer {name!r} takes {kinds.count('tokens')} parts of tokens; the verifier holds one")
    if not (isinstance(shape, tuple) and len(shape) == len(kinds) and all(isinstance(a, tuple) for a in shape)):
        raise ModelError(f"layer {name!r} takes a tuple x of {len(kinds)} parts: SHAPE must name each part's axes, "
                         "e.g. SHAPE = (('B', 'T', 'V'), ('B', 'T'))")  # fmt: skip
    return Form(kinds, tuple(tuple(a) for a in shape), True)


def is_layer(module: ModuleType) -> bool:
    return getattr(module, "KIND", None) == "layer"


def names() -> list[str]:
    """The names of the layers in ``lab/layers/``, as ``layers/NAME``, sorted."""
    return sorted(f"layers/{m.name}" for m in pkgutil.iter_modules(lab.layers.__path__) if not m.name.startswith("_"))


def get(name: str) -> Model:
    """The registered layer ``layers/NAME`` (or ``NAME``), as a model."""
    stem = name.removeprefix("layers/")
    if f"layers/{stem}" not in names():
        raise ModelError(f"unknown layer {name!r}; known layers: {', '.join(names())}")
    return as_model(f"layers/{stem}", importlib.import_module(f"lab.layers.{stem}"))


def all_layers() -> list[Model]:
    return [get(n) for n in names()]


def as_model(name: str, layer: ModuleType) -> Model:
    """The layer as a model whose loss is ⟨dout, forward⟩ and whose grad is the hand ``vjp``."""
    missing = [a for a in REQUIRED if not hasattr(layer, a)]
    if missing:
        raise ModelError(f"layer {name!r} lacks {', '.join(missing)} (the contract needs {', '.join(REQUIRED)})")
    f = form(layer, name)
    if "tokens" in f.kinds and not (isinstance(getattr(layer, "VOCAB", None), int) and layer.VOCAB > 0):
        raise ModelError(f"layer {name!r} takes tokens but declares no VOCAB (a positive int: ids are 0..VOCAB-1)")
    least = dict(getattr(layer, "MIN_SIZES", {}))
    ranges = {}
    for a in f.all_axes:
        lo, hi = SIZES.get(a, SIZES["other"])
        lo = max(lo, int(least.get(a, lo)))
        ranges[a] = (lo, max(hi, lo))
    shapes = f.shapes({a: lo for a, (lo, _) in ranges.items()})
    taken = set(f.real_keys) & set(layer.init(shapes if f.tuple else shapes[0]))
    if taken:
        raise ModelError(f"layer {name!r} has a parameter named {', '.join(sorted(taken))}, the name its input takes")
    ns = SimpleNamespace(
        KIND="layer",
        LAYER=layer,
        INPUT=layer.INPUT,
        FORM=f,
        TARGET="real",  # unused: the data are dout (and ids), drawn by the layer's own strategy
        AXES=f.all_axes,
        SHAPES=ranges,
        HYPERPARAMETERS=dict(getattr(layer, "HYPERPARAMETERS", {})),
        init=functools.partial(_init, layer, f),
        loss=functools.partial(_loss, layer, f),
        grad=functools.partial(_hand, layer, f),
        predict=functools.partial(_predict, layer, f),
        structure=functools.partial(_structure, layer, f),
        out_shape=functools.partial(_out_shape, layer, f),
    )
    if hasattr(layer, "HYPER_DOMAIN"):
        ns.HYPER_DOMAIN = dict(layer.HYPER_DOMAIN)
    if hasattr(layer, "KINK_ORDER"):
        ns.KINK_ORDER = layer.KINK_ORDER
        if callable(getattr(layer, "kink_distance", None)):
            ns.kink_distance = functools.partial(_kink_distance, layer, f)
    ns.__file__ = getattr(layer, "__file__", None)
    ns.__name__ = getattr(layer, "__name__", name)
    ns.__doc__ = getattr(layer, "__doc__", None)
    # the defaults of forward's keyword arguments stand in for loss's, which the model reads
    ns.loss.__signature__ = inspect.signature(layer.forward)
    return Model(name, ns)


def _init(layer, f: Form, n_features: int = 1, *, seed: int = 0, **sizes) -> dict:
    """The layer's params for an input of the drawn sizes, and its real parts (zeros)."""
    shapes = f.shapes({a: sizes.get(a, 1) for a in f.all_axes})
    made = layer.init(shapes if f.tuple else shapes[0], seed=seed)
    params = {k: np.asarray(v, dtype=np.float64) for k, v in made.items()}
    for key, shape in zip(f.keys, shapes, strict=True):
        if key is not None:
            params[key] = np.zeros(shape)
    return params


def _loss(layer, f: Form, theta, X, y, **hyper):
    """⟨dout, forward(params, x)⟩, with dout = ``X`` in the output's shape."""
    from array_api_compat import array_namespace

    xp = array_namespace(X, *theta.values())
    params, x = f.split(theta, y, xp)
    out = layer.forward(params, x, **hyper)
    return xp.sum(xp.reshape(X, out.shape) * out)


def _predict(layer, f: Form, theta, X, y=None, **hyper):
    params, x = f.split(theta, y)
    return np.asarray(layer.forward(params, x, **hyper))


def _out_shape(layer, f: Form, theta, y, **hyper) -> tuple[int, ...]:
    """The shape of ``forward``'s output, which depends on the shapes of its arguments only (JAX traces
    forward with shapes alone), so it is run once per shapes."""
    key = (layer, tuple(theta), tuple(map(shape_of, theta.values())), shape_of(y), tuple(sorted(hyper.items())))
    if key not in _SHAPES:
        _SHAPES[key] = _run_out_shape(layer, f, theta, y, **hyper)
    return _SHAPES[key]


_SHAPES: dict = {}  # keyed by the module itself, which it keeps alive: an id is never reused for another


def _run_out_shape(layer, f: Form, theta, y, **hyper) -> tuple[int, ...]:
    params, x = f.split(theta, y)
    try:
        with np.errstate(all="ignore"):
            return tuple(np.shape(layer.forward(params, x, **hyper)))
    except NotImplementedError:
        raise
    except Exception as e:
        shapes = [np.shape(p) for p in x] if f.tuple else np.shape(x)
        raise ModelError(f"forward raised {type(e).__name__} on NumPy input of shape {shapes}: {e}") from None


def _readonly(a) -> np.ndarray:
    a = np.array(a, copy=True)  # of a's own dtype
    a.setflags(write=False)
    return a


def _arguments(params, x, dout, frozen: set | None = None) -> tuple[dict, object, np.ndarray]:
    """Copies of vjp's arguments; those named in ``frozen`` ("params[k]", "x", "x[i]", "dout") read-only,
    all of them without it."""

    def one(a, name):
        return _readonly(a) if frozen is None or name in frozen else np.array(a)

    p = {k: one(v, f"params[{k!r}]") for k, v in params.items()}
    if isinstance(x, tuple):
        xs = tuple(one(part, f"x[{i}]") for i, part in enumerate(x))
    else:
        xs = one(x, "x")
    return p, xs, one(dout, "dout")


def _call_vjp(layer, params, x, dout, hyper):
    """``vjp`` on read-only copies of its arguments; a write is a :class:`ModelError` naming the argument."""
    try:
        return layer.vjp(*_arguments(params, x, dout), **hyper)
    except ValueError as e:
        if "read-only" not in str(e):
            raise
    names = [f"params[{k!r}]" for k in params]
    names += [f"x[{i}]" for i in range(len(x))] if isinstance(x, tuple) else ["x"]
    names += ["dout"]
    for name in names:  # find the argument it writes: one read-only at a time
        try:
            layer.vjp(*_arguments(params, x, dout, {name}), **hyper)
        except ValueError as e:
            if "read-only" in str(e):
                raise ModelError(f"vjp writes into {name}, which it must only read (copy it first)") from None
        except Exception:
            pass
    raise ModelError("vjp writes into one of its arguments, which it must only read (copy them first)") from None


def _hand(layer, f: Form, theta, X, y, **hyper):
    """The hand vjp at the case, as the verifier's gradient (d params, d of each real part of x), with the
    contract's shapes checked."""
    params, x = f.split(theta, y)
    out_shape = _out_shape(layer, f, theta, y, **hyper)
    dout = np.reshape(np.asarray(X, dtype=np.float64), out_shape)
    result = _call_vjp(layer, params, x, dout, hyper)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise ModelError(f"vjp returns a {type(result).__name__}; it must return a pair (d params, d x)")
    dp, dx = result
    if not isinstance(dp, dict):
        raise ModelError(f"vjp's d params is a {type(dp).__name__}; it must be a dict with params' keys")
    if set(dp) != set(params):
        raise ModelError(f"vjp returns d params with keys {sorted(dp)}; params has {sorted(params)}")
    for k, v in dp.items():
        if shape_of(v) != shape_of(params[k]):
            raise ModelError(f"vjp's d params[{k!r}] has shape {np.shape(v)}; params[{k!r}] has {np.shape(params[k])}")
    parts = list(x) if f.tuple else [x]
    if f.tuple:
        if not (isinstance(dx, tuple | list) and len(dx) == len(parts)):
            raise ModelError(f"vjp's d x must be a tuple of {len(parts)} parts, as x is (None for ids)")
        grads = list(dx)
    else:
        grads = [dx]
    out = {k: np.asarray(v, dtype=np.float64) for k, v in dp.items()}
    for i, (key, part, g) in enumerate(zip(f.keys, parts, grads, strict=True)):
        what = f"d x[{i}]" if f.tuple else "d x"
        if key is None:
            if g is not None:
                raise ModelError(f"vjp returns {what} for an input of tokens; ids have no gradient: return None")
        elif np.shape(g) != np.shape(part):
            raise ModelError(f"vjp's {what} has shape {np.shape(g)}; x{'[' + str(i) + ']' if f.tuple else ''} "
                             f"has {np.shape(part)}")  # fmt: skip
        else:
            out[key] = np.asarray(g, dtype=np.float64)
    return out


def _structure(layer, f: Form, theta, X, y, **hyper) -> str:
    """What a backward pass must do whatever its formula, checked exactly (no tolerance), or "":

    - ``dout = 0`` gives exactly 0;
    - ``vjp`` is linear in ``dout``: scaling dout by −2 scales the result by −2 bit for bit (×2 and
      a sign change are exact in floating point, so every rounding of a linear program scales with
      them, except below the smallest normal number; a mask by ``dout > 0`` does not);
    - two calls give identical results.

    They are read where the hand values are finite: a NaN or inf (an inf·0 in the backward) is no fact of
    linearity, and the judge's rules take it as a wrong value.
    """
    g = _hand(layer, f, theta, X, y, **hyper)
    zero = _hand(layer, f, theta, np.zeros_like(X), y, **hyper)
    if not all(np.all(np.isfinite(v)) for d in (g, zero) for v in d.values()):
        return ""
    nonzero = [k for k, v in zero.items() if np.any(v != 0)]
    if nonzero:
        return f"vjp with dout = 0 gives a nonzero gradient of {', '.join(nonzero)}: a backward pass is linear in dout"
    again = _hand(layer, f, theta, X, y, **hyper)
    differ = [k for k in g if not np.array_equal(g[k], again[k], equal_nan=True)]
    if differ:
        return f"two calls of vjp at the same point give different {', '.join(differ)}: is its randomness seeded?"
    with np.errstate(all="ignore"):
        scaled = _hand(layer, f, theta, -2.0 * np.asarray(X), y, **hyper)
        ok = np.all(np.isfinite(np.asarray(X))) and all(np.all(np.abs(v) < 1e300) for v in g.values())
        # bit for bit, but for the absolute 2⁻¹⁰⁷⁵ that each subnormal result rounds to: within the
        # smallest normal number
        bad = [k for k in g if ok and not np.all(np.abs(scaled[k] + 2.0 * g[k]) <= TINY)]
    if bad:
        return (
            f"vjp is not linear in dout: with dout × (−2) the gradient of {', '.join(bad)} is not −2 × its value "
            "(a mask or branch on dout, such as dout > 0, where the forward's own values decide)"
        )
    return ""


def _kink_distance(layer, f: Form, theta, X, y, **hyper):
    """The layer's kinks as the kinks of one sample: shape (1, m)."""
    params, x = f.split(theta, y)
    takes = _parameters(layer.kink_distance)
    kw = {k: v for k, v in hyper.items() if k in takes}
    return np.asarray(layer.kink_distance(params, x, **kw), dtype=float).reshape(1, -1)


@functools.cache  # keyed by the function; reading a signature costs more than a layer's kink_distance
def _parameters(f) -> frozenset[str]:
    return frozenset(inspect.signature(f).parameters)


KINDS["layer"] = as_model  # lab.model.load hands a layer file here
PREFIXES["layers/"] = get

"""The layer contract, the layer registry, and a layer seen as a model.

A layer is a module that defines ``KIND = "layer"``, ``INPUT``, ``init``, ``forward`` and ``vjp``
(DESIGN.md section 3). The modules in ``lab/layers/`` are the registry; a user's file is loaded by
:func:`lab.model.load` like a model file, which hands it here.

The verifier checks a layer through the model contract, so every rule of the judge applies to it
unchanged: a layer with a random upstream gradient ``dout`` is the scalar loss

    L(params, x) = ⟨dout, forward(params, x)⟩,

whose gradient is exactly what ``vjp(params, x, dout)`` returns. Its parameters are the layer's
params and, for a real input, ``x`` itself (under the key ``"x"``); the data are ``dout`` (as ``X``,
two-dimensional: the output's last axis as columns) and, for tokens, the ids (as ``y``). A scalar
output (a loss over tokens) is the special case dout of shape (1, 1).
"""

from __future__ import annotations

import functools
import inspect
import pkgutil
from types import ModuleType, SimpleNamespace

import numpy as np

import lab.layers
from lab.model import Model, ModelError

REQUIRED = ("KIND", "INPUT", "init", "forward", "vjp")
INPUTS = ("real", "tokens")
#: The sizes the verifier draws for an axis, by name; other names get SIZES["other"].
SIZES = {"B": (1, 4), "T": (1, 5), "C": (1, 6), "other": (1, 4)}
X_KEY = "x"
TINY = np.finfo(np.float64).tiny  # 2⁻¹⁰²², the smallest normal float64


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
    import importlib

    return as_model(f"layers/{stem}", importlib.import_module(f"lab.layers.{stem}"))


def all_layers() -> list[Model]:
    return [get(n) for n in names()]


def as_model(name: str, layer: ModuleType) -> Model:
    """The layer as a model whose loss is ⟨dout, forward⟩ and whose grad is the hand ``vjp``."""
    missing = [a for a in REQUIRED if not hasattr(layer, a)]
    if missing:
        raise ModelError(f"layer {name!r} lacks {', '.join(missing)} (the contract needs {', '.join(REQUIRED)})")
    if layer.INPUT not in INPUTS:
        raise ModelError(f"layer {name!r} has INPUT {layer.INPUT!r}; expected one of {', '.join(INPUTS)}")
    if layer.INPUT == "tokens" and not (isinstance(getattr(layer, "VOCAB", None), int) and layer.VOCAB > 0):
        raise ModelError(f"layer {name!r} takes tokens but declares no VOCAB (a positive int: ids are 0..VOCAB-1)")
    axes = tuple(getattr(layer, "SHAPE", ("B", "T", "C")))
    least = dict(getattr(layer, "MIN_SIZES", {}))
    ranges = {}
    for a in axes:
        lo, hi = SIZES.get(a, SIZES["other"])
        lo = max(lo, int(least.get(a, lo)))
        ranges[a] = (lo, max(hi, lo))
    tokens = layer.INPUT == "tokens"
    if not tokens and X_KEY in layer.init(tuple(lo for lo, _ in ranges.values())):
        raise ModelError(f"layer {name!r} has a parameter named {X_KEY!r}, the name its input takes in the verifier")
    ns = SimpleNamespace(
        KIND="layer",
        LAYER=layer,
        INPUT=layer.INPUT,
        TARGET="real",  # unused: the data are dout (and ids), drawn by the layer's own strategy
        AXES=axes,
        SHAPES=ranges,
        HYPERPARAMETERS=dict(getattr(layer, "HYPERPARAMETERS", {})),
        init=functools.partial(_init, layer, axes, tokens),
        loss=functools.partial(_loss, layer, tokens),
        grad=functools.partial(_grad, layer, tokens),
        predict=functools.partial(_predict, layer, tokens),
        structure=functools.partial(_structure, layer, tokens),
        shape_of=functools.partial(_shape_of, axes),
        out_shape=functools.partial(_out_shape, layer, axes, tokens),
    )
    if hasattr(layer, "HYPER_DOMAIN"):
        ns.HYPER_DOMAIN = dict(layer.HYPER_DOMAIN)
    if hasattr(layer, "KINK_ORDER"):
        ns.KINK_ORDER = layer.KINK_ORDER
        if callable(getattr(layer, "kink_distance", None)):
            ns.kink_distance = functools.partial(_kink_distance, layer, tokens)
    ns.__file__ = getattr(layer, "__file__", None)
    ns.__name__ = getattr(layer, "__name__", name)
    ns.__doc__ = getattr(layer, "__doc__", None)
    # the defaults of forward's keyword arguments stand in for loss's, which the model reads
    ns.loss.__signature__ = inspect.signature(layer.forward)
    return Model(name, ns)


def _shape_of(axes, sizes: dict) -> tuple[int, ...]:
    return tuple(int(sizes[a]) for a in axes)


def _init(layer, axes, tokens, n_features: int = 1, *, seed: int = 0, **sizes) -> dict:
    """The layer's params for an input of the drawn sizes, and ``x`` (zeros) for a real input."""
    shape = _shape_of(axes, {a: sizes.get(a, 1) for a in axes})
    params = {k: np.asarray(v, dtype=np.float64) for k, v in layer.init(shape, seed=seed).items()}
    if not tokens:
        params[X_KEY] = np.zeros(shape)
    return params


def _split(tokens, theta, y, xp=np):
    params = {k: v for k, v in theta.items() if k != X_KEY}
    x = xp.astype(y, xp.int64) if tokens else theta[X_KEY]
    return params, x


def _loss(layer, tokens, theta, X, y, **hyper):
    """⟨dout, forward(params, x)⟩, with dout = ``X`` in the output's shape."""
    from array_api_compat import array_namespace

    xp = array_namespace(X, *theta.values())
    params, x = _split(tokens, theta, y, xp)
    out = layer.forward(params, x, **hyper)
    return xp.sum(xp.reshape(X, out.shape) * out)


def _predict(layer, tokens, theta, X, y=None, **hyper):
    params, x = _split(tokens, theta, y)
    return np.asarray(layer.forward(params, x, **hyper))


def _out_shape(layer, axes, tokens, theta, y, **hyper) -> tuple[int, ...]:
    params, x = _split(tokens, theta, y)
    try:
        with np.errstate(all="ignore"):
            return tuple(np.shape(layer.forward(params, x, **hyper)))
    except NotImplementedError:
        raise
    except Exception as e:
        raise ModelError(f"forward raised {type(e).__name__} on NumPy input of shape {np.shape(x)}: {e}") from None


def _readonly(a) -> np.ndarray:
    a = np.array(a, dtype=np.asarray(a).dtype, copy=True)
    a.setflags(write=False)
    return a


def _call_vjp(layer, params, x, dout, hyper):
    """``vjp`` on read-only copies of its arguments; a write is a :class:`ModelError` naming the argument."""
    args = {"params": {k: _readonly(v) for k, v in params.items()}, "x": _readonly(x), "dout": _readonly(dout)}
    try:
        return layer.vjp(args["params"], args["x"], args["dout"], **hyper)
    except ValueError as e:
        if "read-only" not in str(e):
            raise
    # find the argument it writes: make one argument read-only at a time
    names = [("params", k) for k in params] + [("x", None), ("dout", None)]
    for what, key in names:
        trial = {"params": {k: np.array(v) for k, v in params.items()}, "x": np.array(x), "dout": np.array(dout)}
        if what == "params":
            trial["params"][key] = _readonly(params[key])
        else:
            trial[what] = _readonly(trial[what])
        try:
            layer.vjp(trial["params"], trial["x"], trial["dout"], **hyper)
        except ValueError as e:
            if "read-only" in str(e):
                which = f"params[{key!r}]" if what == "params" else what
                raise ModelError(f"vjp writes into {which}, which it must only read (copy it first)") from None
        except Exception:
            pass
    raise ModelError("vjp writes into one of its arguments, which it must only read (copy them first)") from None


def _hand(layer, tokens, theta, X, y, **hyper):
    """The hand vjp at the case, as (d params, d x): the contract's shapes checked."""
    params, x = _split(tokens, theta, y)
    out_shape = _out_shape(layer, None, tokens, theta, y, **hyper)
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
        if np.shape(v) != np.shape(params[k]):
            raise ModelError(f"vjp's d params[{k!r}] has shape {np.shape(v)}; params[{k!r}] has {np.shape(params[k])}")
    if tokens:
        if dx is not None:
            raise ModelError("vjp returns a d x for an input of tokens; ids have no gradient: return None")
    elif np.shape(dx) != np.shape(x):
        raise ModelError(f"vjp's d x has shape {np.shape(dx)}; x has {np.shape(x)}")
    out = {k: np.asarray(v, dtype=np.float64) for k, v in dp.items()}
    if not tokens:
        out[X_KEY] = np.asarray(dx, dtype=np.float64)
    return out


def _grad(layer, tokens, theta, X, y, **hyper):
    return _hand(layer, tokens, theta, X, y, **hyper)


def _structure(layer, tokens, theta, X, y, **hyper) -> str:
    """What a backward pass must do whatever its formula, checked exactly (no tolerance), or "":

    - ``dout = 0`` gives exactly 0;
    - ``vjp`` is linear in ``dout``: scaling dout by −2 scales the result by −2 bit for bit (×2 and
      a sign change are exact in floating point, so every rounding of a linear program scales with
      them, except below the smallest normal number; a mask by ``dout > 0`` does not);
    - two calls give identical results.
    """
    g = _hand(layer, tokens, theta, X, y, **hyper)
    zero = _hand(layer, tokens, theta, np.zeros_like(X), y, **hyper)
    nonzero = [k for k, v in zero.items() if np.any(v != 0)]
    if nonzero:
        return f"vjp with dout = 0 gives a nonzero gradient of {', '.join(nonzero)}: a backward pass is linear in dout"
    again = _hand(layer, tokens, theta, X, y, **hyper)
    differ = [k for k in g if not np.array_equal(g[k], again[k], equal_nan=True)]
    if differ:
        return f"two calls of vjp at the same point give different {', '.join(differ)}: is its randomness seeded?"
    with np.errstate(all="ignore"):
        scaled = _hand(layer, tokens, theta, -2.0 * np.asarray(X), y, **hyper)
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


def _kink_distance(layer, tokens, theta, X, y, **hyper):
    """The layer's kinks as the kinks of one sample: shape (1, m)."""
    params, x = _split(tokens, theta, y)
    sig = inspect.signature(layer.kink_distance).parameters
    kw = {k: v for k, v in hyper.items() if k in sig}
    return np.asarray(layer.kink_distance(params, x, **kw), dtype=float).reshape(1, -1)

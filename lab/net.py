"""Networks: layers from ``lab/layers`` composed into one scalar loss, and their hand backward composed too.

A network file (``lab/nets/NAME.py``) declares ``KIND = "net"``, ``VOCAB``, ``NET`` and ``init``:

    NET = Net((stage("emb", embedding), stage("cat", flatten), stage("hidden", linear), ...,
               stage("loss", cross_entropy, smoothing=0.0)), targets="last")

Its input ``x`` is a window of token ids, (B, T). The network reads ``x[:, :-1]`` and predicts
``x[:, -1]`` (``targets="last"``, the makemore MLP) or every next id ``x[:, 1:]`` (``targets="next"``,
a transformer). The last stage is the loss: it takes the activation as its parameter ``logits`` and
the targets as its input. Each stage's parameters are ``"STAGE.KEY"`` in one dict; a
:func:`residual` adds its input to its body's output; a stage may *tie* a parameter to another
stage's (the head's ``W`` is the token embedding's ``W`` transposed), whose gradient is then the
sum of both uses.

The hand backward (:func:`backward`) runs the forward once, keeping what each stage's forward saves for
its ``vjp`` (:func:`keeps`), then calls each stage's own ``vjp`` from the loss down and says
the gradient it passes at every boundary to ``record``: the boundary table that
``lab verify --boundaries`` prints is built from it. A network file may write its own
``vjp(params, x, dout, record=None)`` instead (a whole backward by hand, as a learner would); it
should then call ``record(name, gradient)`` at each stage's output.

To the verifier a network is a layer with input tokens and a scalar output (lab/layer.py), so
every rule that judges a layer judges it. :func:`tapped` is the same network with a zero-valued
*tap* added to every stage's output: the gradient with respect to a tap is the true gradient at
that boundary, and the hand's is what it recorded there.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import pkgutil
import types
from dataclasses import dataclass

import numpy as np
from array_api_compat import array_namespace

from lab.model import KINDS, PREFIXES, Model, ModelError

TAP = "@"  # a tap's key among the tapped network's parameters: "@" + the stage's name
TARGETS = ("last", "next")


@dataclass(frozen=True)
class Stage:
    """One layer of a network: its name, its module, its hyperparameters and its tied parameters,
    each ``(key, source, transposed)``: the layer's parameter ``key`` is the parameter ``source``
    ("STAGE.KEY") of another stage, transposed or not."""

    name: str
    layer: types.ModuleType
    hyper: tuple[tuple[str, float], ...] = ()
    tied: tuple[tuple[str, str, bool], ...] = ()


@dataclass(frozen=True)
class Residual:
    """``out = x + body(x)``: the skip carries the input past the body's stages, and in the backward
    the gradient at ``x`` is the sum of both paths' (eq. 1 of derivations/layers/residual.md)."""

    name: str
    body: tuple[Stage, ...]


@dataclass(frozen=True)
class Net:
    """A sequence of stages and residual blocks whose last stage is the loss."""

    stages: tuple[Stage | Residual, ...]
    targets: str = "last"
    loss_param: str = "logits"  # the loss stage's parameter that holds the activation

    def __post_init__(self):
        if self.targets not in TARGETS:
            raise ModelError(f"a network's targets are one of {', '.join(TARGETS)}, not {self.targets!r}")
        if not self.stages or not isinstance(self.stages[-1], Stage):
            raise ModelError("a network ends in its loss: a stage such as stage('loss', cross_entropy)")
        names = [s.name for s in walk(self)] + [r.name for r in self.stages if isinstance(r, Residual)]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ModelError(f"two stages of the network are named {', '.join(twice)}")
        for s in walk(self):
            for key, source, _ in s.tied:
                if owner(self, source) is None:
                    raise ModelError(f"stage {s.name!r} ties {key!r} to {source!r}, which no stage holds")


def stage(name: str, layer: types.ModuleType, *, tie: dict | None = None, **hyper) -> Stage:
    """A stage; ``tie={"W": "tok.W.T"}`` makes its ``W`` the stage ``tok``'s ``W`` transposed."""
    tied = []
    for key, source in (tie or {}).items():
        transposed = source.endswith(".T")
        tied.append((key, source.removesuffix(".T"), transposed))
    return Stage(name, layer, tuple(sorted((k, float(v)) for k, v in hyper.items())), tuple(tied))


def residual(name: str, *body: Stage) -> Residual:
    """``x + body(x)``; the body's stages are named ``NAME.STAGE``."""
    return Residual(name, tuple(dataclasses.replace(s, name=f"{name}.{s.name}") for s in body))


def walk(net: Net) -> list[Stage]:
    """Every stage (not the residual blocks), from the input to the loss."""
    out = []
    for s in net.stages:
        out.extend(s.body if isinstance(s, Residual) else (s,))
    return out


def boundaries(net: Net) -> list[Stage | Residual]:
    """Every stage and residual block whose output is a boundary (all but the loss), in forward order;
    a block comes after its body."""
    out = []
    for s in net.stages[:-1]:
        out.extend((*s.body, s) if isinstance(s, Residual) else (s,))
    return out


def own_keys(s: Stage, params: dict) -> list[str]:
    """The parameters ``"STAGE.KEY"`` that stage ``s`` holds itself."""
    return [f"{s.name}.{k}" for k in by_stage(params).pop(s.name, {})]


def by_stage(params: dict) -> dict[str, dict]:
    """The parameters grouped by the stage that holds them: ``{"hidden": {"W": ..., "b": ...}, ...}``."""
    out: dict[str, dict] = {}
    for k, v in params.items():
        name, _, key = k.rpartition(".")
        out.setdefault(name, {})[key] = v
    return out


def owner(net: Net, source: str) -> Stage | None:
    """The stage that holds the parameter ``source`` ("STAGE.KEY")."""
    name, _, _ = source.rpartition(".")
    return next((s for s in walk(net) if s.name == name), None)


def stage_params(s: Stage, params: dict, xp=np, groups: dict | None = None) -> dict:
    """The layer's own parameter dict for stage ``s``: its own keys, and the tied ones read from their source.
    ``groups`` is :func:`by_stage` of ``params``, when the caller has it."""
    # (not groups.get: a name of code a traced function reads counts as this module's global of that name)
    groups = by_stage(params) if groups is None else groups
    out = dict(groups[s.name]) if s.name in groups else {}
    for key, source, transposed in s.tied:
        out[key] = xp.permute_dims(params[source], (1, 0)) if transposed else params[source]
    return out


def split(net: Net, x, xp=np):
    """The ids the network reads and the ids it predicts, from a window (B, T)."""
    ids = x[:, :-1]
    return ids, (x[:, -1:] if net.targets == "last" else x[:, 1:])


def forward(net: Net, params: dict, x, taps: dict | None = None):
    """The loss, stage by stage (array API, so JAX traces it); with ``taps``, ``taps["@NAME"]`` is added to
    the output of stage or block NAME."""
    xp = array_namespace(x, *params.values())
    ids, targets = split(net, x, xp)
    a, groups = ids, by_stage(params)
    for s in net.stages[:-1]:
        a = _forward(s, params, a, taps, xp, groups)
    last = net.stages[-1]
    return last.layer.forward({net.loss_param: a}, targets, **dict(last.hyper))


def _forward(s, params, a, taps, xp, groups):
    if isinstance(s, Residual):
        h = a
        for b in s.body:
            h = _forward(b, params, h, taps, xp, groups)
        out = a + h  # the skip (eq. 1 of derivations/layers/residual.md)
    else:
        out = s.layer.forward(stage_params(s, params, xp, groups), a, **dict(s.hyper))
    return out if taps is None else out + taps[TAP + s.name]


def activations(
    net: Net, params: dict, x, saved: dict | None = None, groups: dict | None = None
) -> tuple[dict, dict, np.ndarray]:
    """NumPy forward: each stage's input, each boundary's output, and the targets. With a dict ``saved``,
    ``saved[NAME]`` holds what the forward of stage NAME kept for its vjp, when its layer keeps anything.
    ``groups`` is :func:`by_stage` of ``params``, when the caller has it."""
    ids, targets = split(net, np.asarray(x))
    inputs: dict = {}
    outputs: dict = {}
    a, groups = ids, by_stage(params) if groups is None else groups

    def run(s, a):
        inputs[s.name] = a
        keep = {"saved": saved.setdefault(s.name, {})} if saved is not None and keeps(s.layer) else {}
        outputs[s.name] = s.layer.forward(stage_params(s, params, np, groups), a, **dict(s.hyper), **keep)
        return outputs[s.name]

    for s in net.stages[:-1]:
        if isinstance(s, Residual):
            h = a
            for b in s.body:
                h = run(b, h)
            a = outputs[s.name] = a + h
        else:
            a = run(s, a)
    inputs[net.stages[-1].name] = a
    return inputs, outputs, targets


def keeps(layer) -> bool:
    """Whether the layer's forward keeps what its vjp reuses: both take a keyword ``saved`` (a dict the
    forward fills; without it, the vjp runs the forward again). A layer may be any object with the two."""
    return _takes_saved(layer.forward) and _takes_saved(layer.vjp)


@functools.cache  # keyed by the function: a layer itself may be unhashable (a SimpleNamespace)
def _takes_saved(f) -> bool:
    try:
        return "saved" in inspect.signature(f).parameters
    except (TypeError, ValueError):  # a callable without a signature to read
        return False


def backward(net: Net, params: dict, x, dout, record=None) -> tuple[dict, None]:
    """The hand backward: each stage's ``vjp`` from the loss down, parameters' gradients summed over their
    uses (a tied weight gets both), and the gradient at each boundary said to ``record(name, g)``."""
    saved: dict = {}
    groups = by_stage(params)
    inputs, _, targets = activations(net, params, x, saved, groups)
    last = net.stages[-1]
    dp, _ = last.layer.vjp({net.loss_param: inputs[last.name]}, targets, dout, **dict(last.hyper))
    g = dp[net.loss_param]  # the gradient at the last boundary
    grads: dict = {}
    for s in reversed(net.stages[:-1]):
        g = _backward(s, params, inputs, saved, g, grads, record, groups)
    for k, v in params.items():  # a parameter no stage reads has gradient 0
        if k not in grads:
            grads[k] = np.zeros_like(np.asarray(v, dtype=np.float64))
    return {k: grads[k] for k in params}, None


def _backward(s, params, inputs, saved, g, grads, record, groups):
    if record is not None:
        record(s.name, g)
    if isinstance(s, Residual):
        h = g
        for b in reversed(s.body):
            h = _backward(b, params, inputs, saved, h, grads, record, groups)
        return g + h  # the skip's gradient plus the body's
    keep = {"saved": saved[s.name]} if s.name in saved else {}
    dp, dx = s.layer.vjp(stage_params(s, params, np, groups), inputs[s.name], g, **dict(s.hyper), **keep)
    for key in groups[s.name] if s.name in groups else ():
        _add(grads, f"{s.name}.{key}", dp[key])
    for key, source, transposed in s.tied:  # a tied weight's gradient is the sum over its uses
        _add(grads, source, dp[key].T if transposed else dp[key])
    return dx


def _add(grads: dict, key: str, g) -> None:
    """grads[key] + g, a new array: never a sum written into an array that a layer returned."""
    grads[key] = g if key not in grads else grads[key] + g


# -- the network as the verifier sees it -------------------------------------------------------


def hand_vjp(module: types.ModuleType):
    """The network's hand backward: its file's own ``vjp`` when it writes one, else the composed one."""
    own = getattr(module, "vjp", None)
    return own if callable(own) else functools.partial(backward, module.NET)


def tapped_forward(net: Net, params: dict, x):
    """The loss with the taps (the parameters ``"@NAME"``) added at the boundaries."""
    taps = {k: v for k, v in params.items() if k.startswith(TAP)}
    return forward(net, {k: v for k, v in params.items() if not k.startswith(TAP)}, x, taps)


def tapped_vjp(vjp, params: dict, x, dout) -> tuple[dict, None]:
    """The hand backward with the gradient it said at each boundary as the gradient of that boundary's tap.
    A boundary the hand code did not say gets NaN: no value to judge."""
    said: dict = {}
    plain = {k: v for k, v in params.items() if not k.startswith(TAP)}
    grads, _ = vjp(plain, x, dout, record=lambda name, g: said.__setitem__(TAP + name, np.asarray(g, dtype=float)))
    out = dict(grads)
    for k, v in params.items():
        if k.startswith(TAP):
            if k in said and np.shape(said[k]) != np.shape(v):
                raise ModelError(
                    f"record({k.removeprefix(TAP)!r}, g): g has shape {np.shape(said[k])}; the output of "
                    f"{k.removeprefix(TAP)} has {np.shape(v)}"
                )
            out[k] = said[k] if k in said else np.full(np.shape(v), np.nan)
    return out, None


def _layer_face(name: str, module: types.ModuleType, tapped: bool = False) -> types.ModuleType:
    """The network as a layer: input a window of ids (B, T), output its loss."""
    missing = [a for a in ("VOCAB", "NET", "init") if not hasattr(module, a)]
    if missing:
        raise ModelError(f"network {name!r} lacks {', '.join(missing)} (a network declares VOCAB, NET and init)")
    if not isinstance(module.NET, Net):
        raise ModelError(f"network {name!r}: NET must be a lab.net.Net, not a {type(module.NET).__name__}")
    face = types.ModuleType(name)
    face.KIND, face.INPUT, face.VOCAB, face.SHAPE = "layer", "tokens", int(module.VOCAB), ("B", "T")
    face.MIN_SIZES = {"T": 2}  # one id to read, one to predict
    face.NET, face.NETWORK = module.NET, module
    face.__file__, face.__doc__ = getattr(module, "__file__", None), module.__doc__
    vjp = hand_vjp(module)
    if tapped:
        face.init = functools.partial(_tapped_init, module)
        face.forward = functools.partial(tapped_forward, module.NET)
        face.vjp = functools.partial(tapped_vjp, vjp)
    else:
        face.init = module.init
        face.forward = functools.partial(forward, module.NET)
        face.vjp = vjp
    return face


def _tapped_init(module, shape, *, seed=0) -> dict:
    shape = (shape[0], max(shape[1], 2))  # at least one id to read (the verifier asks init for its keys at size 1)
    params = dict(module.init(shape, seed=seed))
    _, outputs, _ = activations(module.NET, params, np.zeros(shape, dtype=np.int64))
    params.update({TAP + k: np.zeros(np.shape(v)) for k, v in outputs.items()})
    return params


def as_model(name: str, module: types.ModuleType) -> Model:
    """The network as a model: its loss with a scalar ``dout`` is ⟨dout, loss⟩, its grad the hand backward."""
    from lab.layer import as_model as layer_model

    m = layer_model(name, _layer_face(name, module))
    return m


def tapped(model: Model) -> Model:
    """The network of ``model`` with a tap at every boundary (see the module's docstring)."""
    from lab.layer import as_model as layer_model

    network = network_of(model)
    return layer_model(f"{model.name} (tapped)", _layer_face(model.name, network, tapped=True))


def network_of(model: Model) -> types.ModuleType | None:
    """The network file behind a model, or None when the model is not a network."""
    return getattr(getattr(model.module, "LAYER", None), "NETWORK", None)


def names() -> list[str]:
    """The names of the networks in ``lab/nets/``, as ``nets/NAME``, sorted."""
    import lab.nets

    return sorted(f"nets/{m.name}" for m in pkgutil.iter_modules(lab.nets.__path__) if not m.name.startswith("_"))


def get(name: str) -> Model:
    """The registered network ``nets/NAME``, as a model."""
    stem = name.removeprefix("nets/")
    if f"nets/{stem}" not in names():
        raise ModelError(f"unknown network {name!r}; known networks: {', '.join(names())}")
    return as_model(f"nets/{stem}", importlib.import_module(f"lab.nets.{stem}"))


def all_nets() -> list[Model]:
    return [get(n) for n in names()]


KINDS["net"] = as_model  # lab.model.load hands a network file here
PREFIXES["nets/"] = get

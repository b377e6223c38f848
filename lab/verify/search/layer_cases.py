"""Cases for a layer (lab/layer.py): sizes for its axes, params, an input that exposes the traps, a random dout.

The input is drawn in one of a few structures, each for the mistakes it shows:

- ``plain``: random reals;
- ``ties``: small integers, so ReLU inputs sit exactly at 0 and pooling windows hold tied maxima
  (the kinks where a backward must give a valid subgradient);
- ``flat_rows``: rows of tiny variance (a constant plus 1e-7 noise), where a norm's backward loses
  its digits unless it is written stably;
- ``large``: a real input up to 1e3, or for ids the params that the ids select up to 1e3: a loss's
  logits of 1e3, where a softmax without its max overflows, or a network's embedding, its input of
  1e3 (and, where the output ties to it, its logits). Only those: every weight of a network at 1e3
  compounds to 1e3 to the power of its depth, where no rounding bound is finite and the case proves
  nothing (474 of the transformer's 1,920 cases under ci).

Ids (an input of tokens) always repeat one id, where ``dW[ids] += dout`` drops a gradient. ``dout``
is drawn at random, never constant (a constant upstream hides a norm's projection term and a
softmax's Jacobian), and a scalar dout is never 1 (which hides a backward that ignores it).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lab.model import Model
from lab.net import walk
from lab.verify.case import Case

#: The sizes the search draws, per axis in the order (B, T, C) (a layer's SHAPE names up to three axes;
#: a fourth takes C's). Few, so few programs compile: B = 1, C = 1, all three different, T ≥ 3 for
#: pooling windows, the largest last. A layer's MIN_SIZES and ranges clip them.
BUCKETS = ((1, 1, 1), (2, 3, 1), (1, 4, 3), (3, 2, 5), (2, 5, 4), (4, 5, 6))
STRUCTURES = ("plain", "ties", "flat_rows", "large")


def is_layer(model: Model) -> bool:
    return getattr(model.module, "KIND", None) == "layer"


def menu(model: Model) -> list[dict[str, int]]:
    """The sizes of each bucket for this layer's axes, clipped to its ranges, without repeats."""
    out = []
    for bucket in BUCKETS:
        sizes = {}
        for i, axis in enumerate(model.module.AXES):
            lo, hi = model.module.SHAPES[axis]
            sizes[axis] = int(min(max(bucket[min(i, 2)], lo), hi))
        if sizes not in out:
            out.append(sizes)
    return out


def _x(rng_or_draw, shape, structure: str, scale: float, tokens: bool, vocab: int, draw=None):
    """An input of ``shape`` in ``structure``, from a NumPy generator (the fill) or Hypothesis (``draw``)."""
    if draw is not None:
        u = draw(hnp.arrays(np.float64, shape, elements=st.floats(-1, 1, allow_subnormal=False)), label="input")
        k = draw(st.integers(0, 2**32 - 1), label="input seed")
        rng = np.random.default_rng(k)
    else:
        rng = rng_or_draw
        u = rng.uniform(-1, 1, shape)
    if tokens:
        ids = np.floor((u + 1) / 2 * vocab).clip(0, vocab - 1)
        if ids.size > 1:
            ids.flat[1] = ids.flat[0]  # a repeated id, always
        return ids
    if structure == "ties":
        return np.round(u * 2) * scale  # ... -1, 0, 1, 2: exact zeros, and ties in every window
    if structure == "flat_rows":
        return (rng.uniform(-3, 3, shape[:-1] + (1,)) + 1e-7 * u) * scale
    if structure == "large":
        return u * 1e3
    return u * scale


def _dout(rng, shape) -> np.ndarray:
    """A random upstream gradient, never constant; a scalar one lies in [0.5, 2] and is not 1."""
    if shape == ():
        v = float(rng.uniform(0.5, 2.0))
        return np.full((1, 1), 1.5 if v == 1.0 else v)
    d = rng.standard_normal(shape)
    if d.size > 1 and np.all(d == d.flat[0]):
        d.flat[0] += 1.0
    return d.reshape(-1, shape[-1] if len(shape) else 1)


def _selected_by_ids(mod, keys) -> set[str]:
    """Of the parameter ``keys``, those that a layer's ids select: all of a layer's, a network's first stage's."""
    network = getattr(mod.LAYER, "NETWORK", None)
    if network is None:
        return set(keys)
    first = walk(network.NET)[0].name
    return {k for k in keys if k.rpartition(".")[0] == first}


#: (id of the layer's module, its sizes) -> (the module, the shape of each parameter its init makes). The
#: module may be unhashable (a SimpleNamespace); it is kept, so its id is not reused for another.
_SHAPES: dict = {}


def _param_shapes(model: Model, sizes: dict) -> dict[str, tuple[int, ...]]:
    """The shapes of the parameters ``init`` makes at these sizes: run once per sizes, not per case."""
    key = (id(model.module), tuple(sorted(sizes.items())))
    if key not in _SHAPES:
        _SHAPES[key] = (model.module, {k: np.shape(v) for k, v in model.init(1, **sizes).items()})
    return _SHAPES[key][1]


def make_case(
    model: Model, sizes: dict, hyper: dict, rng, structure: str, pscale: float, draw=None, shapes: dict | None = None
) -> Case:
    """One case of these sizes and hyperparameters, its input in ``structure`` (see the module's docstring);
    its parameters of ``shapes``, when given, else of the shapes ``init`` makes at these sizes."""
    mod = model.module
    f = mod.FORM
    shapes = _param_shapes(model, sizes) if shapes is None else shapes
    tokens = "tokens" in f.kinds
    large = _selected_by_ids(mod, shapes) if tokens and structure == "large" else set()
    drawn = {k: shape for k, shape in shapes.items() if k not in f.real_keys}
    counts = [math.prod(shape) for shape in drawn.values()]
    # one draw for them all: the same numbers, in the same order, as one draw per parameter
    flat = rng.uniform(-1, 1, sum(counts))
    params, at = {}, 0
    for (k, shape), n in zip(drawn.items(), counts, strict=True):
        params[k] = flat[at : at + n].reshape(shape) * (1e3 if k in large else pscale)
        at += n
    vocab = getattr(mod.LAYER, "VOCAB", 1)
    parts = [
        _x(rng, shape, structure, pscale, kind == "tokens", vocab, draw=draw)
        for kind, shape in zip(f.kinds, f.shapes(sizes), strict=True)
    ]
    theta, y = f.join(params, tuple(parts) if f.tuple else parts[0])
    out = mod.out_shape(theta, y, **hyper)
    return Case(theta, _dout(rng, out), y, dict(hyper), dict(sizes), layer=True)


def draw_cases(draw, model: Model, scales, batch: int) -> list[Case]:
    """A list of 1 to ``batch`` cases of one size for the layer ``model`` (Hypothesis)."""
    sizes = draw(st.sampled_from(menu(model)), label="sizes")
    hyper = {k: draw(st.floats(lo, hi), label=k) for k, (lo, hi) in model.hyperparameters.items()}
    count = draw(st.integers(1, batch), label="cases in batch")
    out = []
    for _ in range(count):
        structure = draw(st.sampled_from(STRUCTURES), label="structure")
        pscale = draw(st.sampled_from(scales.params), label="scale")
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
        out.append(make_case(model, sizes, hyper, rng, structure, pscale, draw=draw))
    return out


def fill(model: Model, drawn: list[Case], size: int, seed: int, scales) -> list[Case]:
    """``drawn`` followed by random cases of the same sizes and parameter shapes, up to ``size`` in all (a
    network's stage may hold parameters of other shapes than its layer's own ``init`` makes)."""
    rng = np.random.default_rng([seed, *drawn[0].X.shape])
    shapes = {k: np.shape(v) for k, v in drawn[0].params.items()}
    out = list(drawn)
    while len(out) < size:
        structure = STRUCTURES[int(rng.integers(len(STRUCTURES)))]
        scale = float(rng.choice(scales.params))
        out.append(make_case(model, drawn[0].sizes, drawn[0].hyper, rng, structure, scale, shapes=shapes))
    return out


def plain(model: Model, sizes: dict, hyper: dict, count: int, seed: int) -> list[Case]:
    """``count`` fresh cases of these sizes and hyperparameters with plain random inputs and params:
    no ties, no flat rows, so no kink and nothing near one, almost surely."""
    rng = np.random.default_rng([seed, *sorted(sizes.values())])
    return [make_case(model, sizes, hyper, rng, "plain", 1.0) for _ in range(count)]


def plain_case(model: Model, seed: int = 0) -> Case:
    """One plain case of the largest sizes, hyperparameters at their defaults: a place to look at."""
    return plain(model, menu(model)[-1], dict(model.hyper_defaults), 1, seed)[0]


def first_cases(model: Model, scales, seed: int = 0) -> list[tuple[list[Case], int]]:
    """Per size of :func:`menu`, the cases to check before Hypothesis draws any, with their fill seed."""
    out = []
    for i, sizes in enumerate(menu(model)):
        rng = np.random.default_rng([seed, i])
        hyper = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in model.hyperparameters.items()}
        drawn = [make_case(model, sizes, hyper, rng, STRUCTURES[j % len(STRUCTURES)], 1.0) for j in range(4)]
        out.append((drawn, seed + i))
    return out

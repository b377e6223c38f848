"""Seeded mistakes: the verifier must catch each one and name it.

A mutant is a model whose hand gradient carries one classic mistake. Every
mutation works on any model that keeps the contract, by changing what ``grad``
returns; the ones that need a sigmoid or labels say where they apply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lab.model import Model


@dataclass(frozen=True)
class Mutation:
    name: str
    describe: str
    expect: str  # a phrase the diagnosis must contain
    make: Callable  # (module) -> mutated grad
    applies: Callable[[Model], bool] = lambda m: True


def _part(module, params, X, y, mask, **hyper):
    """The contribution of the samples in ``mask`` to a mean gradient."""
    if not mask.any():
        return {k: np.zeros_like(np.asarray(v, dtype=float)) for k, v in params.items()}
    g = module.grad(params, X[mask], y[mask], **hyper)
    return {k: np.asarray(v) * mask.sum() / len(y) for k, v in g.items()}


def _scaled(c):
    return lambda mod: lambda p, X, y, **h: {k: c * np.asarray(v) for k, v in mod.grad(p, X, y, **h).items()}


def _missing_mean(mod):
    return lambda p, X, y, **h: {k: X.shape[0] * np.asarray(v) for k, v in mod.grad(p, X, y, **h).items()}


def _bias(params) -> str:
    """The last bias parameter (b, or b2 of a network): the one a hand derivation most often drops."""
    return [k for k in params if k.startswith("b")][-1]


def _weights(params) -> str:
    """The first weight parameter (w, W or W1)."""
    return next(k for k in params if k.lower().startswith("w"))


def _drop_bias(mod):
    def grad(p, X, y, **h):
        g, b = mod.grad(p, X, y, **h), _bias(p)
        return {k: (np.zeros_like(np.asarray(v)) if k == b else v) for k, v in g.items()}

    return grad


def _transposed(mod):
    def grad(p, X, y, **h):
        g, w = mod.grad(p, X, y, **h), _weights(p)
        return {k: (np.asarray(v)[::-1] if k == w else v) for k, v in g.items()}

    return grad


def _one_entry(mod):
    def grad(p, X, y, **h):
        g = {k: np.array(v, dtype=float) for k, v in mod.grad(p, X, y, **h).items()}
        g[_weights(p)].flat[0] *= 1 + 1e-6
        return g

    return grad


def _extra_penalty(mod):
    """An L2 term λw that the loss does not have (a gradient copied from ridge regression), λ = 1/2."""

    def grad(p, X, y, **h):
        g, w = mod.grad(p, X, y, **h), _weights(p)
        return {k: (np.asarray(v) + 0.5 * np.asarray(p[w]) if k == w else v) for k, v in g.items()}

    return grad


def _label_one(mod):
    def grad(p, X, y, **h):
        mask = (y == 1) if set(np.unique(y)) <= {0.0, 1.0} else (y > 0)
        g, extra = mod.grad(p, X, y, **h), _part(mod, p, X, y, mask, **h)
        return {k: np.asarray(g[k]) + 0.5 * extra[k] for k in g}

    return grad


def _sigmoid_derivative(mod):
    """∂ℓ/∂z taken as (p − y)·σ'(z): an extra factor σ'(z) = p(1 − p) per sample."""

    def grad(p, X, y, **h):
        s = mod.predict(p, X)
        s = s * (1 - s)
        out = None
        for i in range(X.shape[0]):
            gi = mod.grad(p, X[i : i + 1], y[i : i + 1], **h)
            out = {k: s[i] * np.asarray(v) / X.shape[0] + (0 if out is None else out[k]) for k, v in gi.items()}
        return out

    return grad


MUTATIONS = [
    Mutation("sign", "the whole gradient negated", "sign flip", _scaled(-1.0)),
    Mutation("factor_2", "twice the gradient", "constant factor 2", _scaled(2.0)),
    Mutation("factor_half", "half the gradient", "constant factor 1/2", _scaled(0.5)),
    Mutation("missing_mean", "a sum where the mean belongs (no 1/n)", "factor n", _missing_mean),
    Mutation(
        "dropped_bias",
        "∂L/∂b left out (zero)",
        "zero block",
        _drop_bias,
        lambda m: any(k.startswith("b") for k in m.init(m.n_features or 2)),
    ),
    Mutation(
        "transposed_X",
        "features in the wrong order (X where Xᵀ belongs)",
        "transposed or permuted",
        _transposed,
        lambda m: m.n_features is None and any(k.lower().startswith("w") for k in m.init(2)),
    ),
    Mutation(
        "extra_penalty",
        "an L2 term ½w that the loss does not have",
        "missing or extra term",
        _extra_penalty,
        lambda m: any(k.lower().startswith("w") for k in m.init(m.n_features or 2)),
    ),
    Mutation(
        "sigmoid_derivative",
        "∂ℓ/∂z = (p − y)·σ'(z), an extra σ'(z)",
        "sigmoid derivative",
        _sigmoid_derivative,
        lambda m: m.target == "binary" and hasattr(m.module, "sigmoid"),
    ),
    Mutation(
        "one_entry_1e-6",
        "one entry off by a relative 1e-6",
        "single entry",
        _one_entry,
        lambda m: any(k.lower().startswith("w") for k in m.init(m.n_features or 2)),
    ),
    Mutation("label_one", "half as much again, only for samples with y = 1", "wrong only", _label_one),
]


def mutant(model: Model, mutation: Mutation) -> Model:
    """``model`` with ``mutation`` seeded into its gradient."""
    mod = model.module
    return model.replaced(mutation.name, grad=mutation.make(mod))


# Layers: each trap is an edit of a course layer's own source, the slip a learner makes in that line.


@dataclass(frozen=True)
class Slip:
    name: str
    layer: str  # a layer of lab/layers/
    describe: str
    expect: str  # a phrase the diagnosis must contain
    old: str  # a line (or part of one) of the layer's vjp, found exactly once in its source
    new: str


SLIPS = [
    Slip(
        "overlap_assign",
        "max_pool1d",
        "overlapping windows written with = where += belongs",
        "summed",
        "dx[:, k : k + stop : STRIDE, :] += dout * (first == k)",
        "dx[:, k : k + stop : STRIDE, :] = dout * (first == k)",
    ),
    Slip(
        "index_assign",
        "embedding",
        "dW[ids] += dout, which drops repeated ids, where np.add.at belongs",
        "summed",
        "np.add.at(dW, ids, np.reshape(dout, (-1, W.shape[1])))",
        "dW[ids] += np.reshape(dout, (-1, W.shape[1]))",
    ),
    Slip(
        "norm_projection",
        "layer_norm",
        "layer norm's backward without the projection term x̂·mean(g ⊙ x̂)",
        "projection",
        "dx = rstd * (g - mean_g - xhat * mean_gx)",
        "dx = rstd * (g - mean_g)",
    ),
    Slip(
        "reduction_axis",
        "linear",
        'dW as einsum("btc,bsd->cd"): T reduced in each factor apart',
        "reduction",
        "dW = X.T @ D",
        'dW = np.einsum("btc,bsd->cd", x, dout)',
    ),
    Slip(
        "mask_by_dout",
        "relu",
        "the ReLU mask taken from dout > 0, not from x > 0",
        "not linear in dout",
        "np.where(x > 0, dout, 0.0)",
        "np.where(dout > 0, dout, 0.0)",
    ),
    Slip(
        "dropout_scale",
        "dropout",
        "dropout's backward without the forward's 1/(1 − p)",
        "(1 − p)",
        "dout * mask / (1.0 - p)",
        "dout * mask",
    ),
    Slip(
        "softmax_diagonal",
        "softmax",
        "the softmax Jacobian's diagonal s(1 − s) alone",
        "diagonal",
        "return {}, np.where(is_top, -others, dx)",
        "return {}, s * (1 - s) * dout",
    ),
    Slip(
        "attention_unmasked",
        "causal_self_attention",
        "the attention weights recomputed in the backward without the causal mask",
        "mask",
        "s = np.where(np.triu(np.ones((T, T), dtype=bool), k=1), -np.inf, s)",
        "s = s",
    ),
    Slip(
        "attention_scale",
        "causal_self_attention",
        "the scores' 1/√D missing in the backward",
        "√",
        "ds = ds / np.sqrt(D)",
        "ds = ds",
    ),
    Slip(
        "conv_flipped",
        "conv1d",
        "dx scattered with the flipped kernel W[K−1−k]",
        "flipped",
        "dxpad[:, k : k + stop : STRIDE, :] += dout @ W[k].T",
        "dxpad[:, k : k + stop : STRIDE, :] += dout @ W[KERNEL - 1 - k].T",
    ),
    Slip(
        "skip_dropped",
        "residual",
        "the skip connection's dout left out of dx",
        "identity path",
        'dx = dout + dout @ params["W"].T',
        'dx = dout @ params["W"].T',
    ),
    Slip(
        "bias_one_axis",
        "linear",
        "db summed over B and averaged over T: one axis of two",
        "1/T",
        "db = np.sum(D, axis=0)",
        "db = np.mean(np.sum(dout, axis=0), axis=0)",
    ),
    Slip(
        "tanh_of_input",
        "tanh",
        "tanh's derivative as 1 − x² of the input, where 1 − t² of the output t = tanh x belongs",
        "d x is wrong",  # no tested hypothesis names it: the diagnosis gives the ratio's range
        "dout * ((1.0 - t) * (1.0 + t))",
        "dout * ((1.0 - x) * (1.0 + x))",
    ),
    Slip(
        "position_first_only",
        "position",
        "dP from the first sequence alone, where every sequence of the batch adds to the same rows",
        "contributions",
        "dP[:T] = np.sum(dout, axis=0)",
        "dP[:T] = dout[0]",
    ),
    Slip(
        "flatten_order",
        "flatten",
        "dout folded back as (C, T) and transposed, not in the forward's (T, C) order",
        "a path that the forward does not",
        "dx = np.reshape(dout, x.shape)",
        "dx = np.swapaxes(np.reshape(dout, (x.shape[0], x.shape[2], x.shape[1])), 1, 2)",
    ),
]


def slipped(slip: Slip) -> Model:
    """The course layer ``slip.layer`` with ``slip`` made in its source, as a model to verify."""
    import types
    from pathlib import Path

    from lab.layer import as_model, get

    path = Path(get(f"layers/{slip.layer}").module.__file__)
    source = path.read_text(encoding="utf-8")
    if source.count(slip.old) != 1:
        raise ValueError(f"slip {slip.name}: {path.name} has {source.count(slip.old)} copies of {slip.old!r}, not 1")
    name = f"layers/{slip.layer}~{slip.name}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    exec(
        compile(source.replace(slip.old, slip.new), f"{path} ({slip.name})", "exec", dont_inherit=True), module.__dict__
    )
    return as_model(name, module)

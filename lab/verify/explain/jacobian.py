"""How a layer's backward differs from the true one, read from the two Jacobians.

A backward pass is linear in dout, so the hand code is a matrix: its row H[o] is the hand vjp at
dout = e_o, the o-th unit output. Autodiff gives the true row J[o] with its rounding bound E[o],
all rows in one batch of cases of the failing case's shape. Each pattern below is a claim
H = T(J) for a named T (keep the diagonal, keep some of each column's entries, sum along an
output axis, ...), compared entry by entry as every comparison is, |H − T(J)| ≤ T(E) + the hand
code's rounding. A pattern is said only when it holds at the failing case and at two fresh cases
of its sizes with plain inputs, and when the failing case shows it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from lab.model import Model
from lab.verify.case import BATCH, Case
from lab.verify.measure.autodiff import Witness
from lab.verify.measure.hand import hand_gradient

#: The hand code's rounding, relative to the entries compared: a pattern is about entries that are
#: zero or of order one, never about the last digits, so a generous 2⁻⁴⁰ (1e-12) costs nothing.
HAND_REL = 2.0**-40

#: Jacobians of layers with more outputs than this are not read: the diagnosis runs at a shrunk
#: case, whose output has at most a few hundred entries.
MAX_OUTPUTS = 4 * BATCH

#: A group of a normalization must have this many entries for "the error is a multiple of x̂
#: in each group" to be a claim: one coefficient is fitted per group.
GROUP = 3


@dataclass(frozen=True)
class Jacobians:
    """At one case: the hand's H and the true J (outputs × the entries of the blocks), J's bound E."""

    case: Case
    keys: list[str]
    shapes: dict[str, tuple[int, ...]]
    out_shape: tuple[int, ...]
    H: np.ndarray
    J: np.ndarray
    E: np.ndarray

    def cols(self, key: str) -> slice:
        start = 0
        for k in self.keys:
            size = math.prod(self.shapes[k])
            if k == key:
                return slice(start, start + size)
            start += size
        raise KeyError(key)

    def tol(self, cols: slice, T_of_E: np.ndarray, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """The tolerance of |A − B| where B = T(J) has bound T_of_E, per entry, with the hand's rounding
        relative to the entries and to the largest entry of their column (a cancelled sum of order-one
        terms keeps an error of that order)."""
        scale = np.max(np.abs(self.J[:, cols]), axis=0, keepdims=True)
        return T_of_E + HAND_REL * (np.abs(A) + np.abs(B) + scale)

    @property
    def dout(self) -> np.ndarray:
        return np.ravel(self.case.X)


def measure(model: Model, witness: Witness, case: Case, keys: list[str]) -> Jacobians | None:
    """H, J and E at ``case`` for the blocks ``keys``, or None when the output is too large or the hand
    code is not linear in dout there (H·dout must give the hand value at the case's own dout)."""
    mod = model.module
    out_shape = tuple(mod.out_shape(case.params, case.y, **case.hyper))
    n = math.prod(out_shape)
    if n == 0 or n > MAX_OUTPUTS:
        return None
    units = np.eye(n)
    cases = [Case(case.params, units[o].reshape(case.X.shape), case.y, case.hyper, case.sizes) for o in range(n)]
    J, E = [], []
    for start in range(0, n, BATCH):
        for ev in witness.evaluate(cases[start : start + BATCH], BATCH):
            J.append(np.concatenate([np.ravel(ev.grad[k]) for k in keys]))
            E.append(np.concatenate([np.ravel(ev.grad_err[k]) for k in keys]))
    H = []
    with np.errstate(all="ignore"):
        for c in cases:
            g = hand_gradient(model, c)
            H.append(np.concatenate([np.ravel(g[k]) for k in keys]))
        whole = hand_gradient(model, case)
    jac = Jacobians(case, keys, {k: np.shape(case.params[k]) for k in keys}, out_shape, *map(np.array, (H, J, E)))
    if not (np.all(np.isfinite(jac.H)) and np.all(np.isfinite(jac.J)) and np.all(np.isfinite(jac.E))):
        return None
    at_dout = np.concatenate([np.ravel(whole[k]) for k in keys])
    combined = jac.dout @ jac.H
    slack = HAND_REL * (np.abs(jac.dout) @ np.abs(jac.H) + np.abs(at_dout)) * 16
    return jac if np.all(np.abs(combined - at_dout) <= slack) else None


def _index(shape: tuple[int, ...], flat: int) -> str:
    return "[" + ", ".join(map(str, np.unravel_index(flat, shape))) + "]" if shape else ""


def _name(key: str) -> str:
    return "d x" if key == "x" else f"d {key}"


def _axes(model: Model, key: str) -> tuple[str, ...] | None:
    """The names of the axes of the input part held under ``key``, or None for a parameter."""
    f = model.module.FORM
    for k, axes in zip(f.keys, f.axes, strict=True):
        if k == key:
            return axes
    return None


def spurious(model: Model, jacs: list[Jacobians], wrong: list[str]) -> str | None:
    """The hand sends gradient along paths the forward does not have: H ≠ 0 where J = 0 within its bound,
    at every case. With an input whose axes the output shares, and every such path from an output at an
    earlier position along one axis while the forward never reads later positions there: a causal mask."""
    first = jacs[0]
    extra = {}  # per case and block, the entries of H that the forward does not have
    for n, jac in enumerate(jacs):
        for k in wrong:
            c = jac.cols(k)
            H, J, E = jac.H[:, c], jac.J[:, c], jac.E[:, c]
            extra[n, k] = (np.abs(J) <= E) & (np.abs(H) > jac.tol(c, E, H, J))
        if not any(extra[n, k].any() for k in wrong):
            return None
    shown = [k for k in wrong if extra[0, k].any()]
    if not shown:
        return None
    inputs = [k for k in shown if _axes(model, k) is not None]
    k = (inputs or shown)[0]
    o, i = (int(j) for j in np.argwhere(extra[0, k])[0])
    said = (
        f"{_name(k)}{_index(first.shapes[k], i)} receives gradient from out{_index(first.out_shape, o)}, which "
        f"does not depend on {k}{_index(first.shapes[k], i)} (its true Jacobian entry is 0)"
    )
    axes = _axes(model, k)
    if axes is None or first.shapes[k] != first.out_shape:
        return f"{said}: the backward has a path that the forward does not"
    for a, axis in enumerate(axes):
        if first.out_shape[a] >= 2 and _causal(jacs, extra, k, a):
            return (
                f"{said}: the output at each position along {axis} depends only on inputs at or before it, "
                "and the backward sends gradient from it to later ones: the causal mask is missing in the "
                "backward"
            )
    forward, backward = _mixed(jacs, extra, k)
    if backward and not backward & forward:
        along = lambda s: ", ".join(axes[a] for a in sorted(s))  # noqa: E731
        return (
            f"{said}: the backward mixes entries that differ along {along(backward)}, which the forward never "
            f"mixes ({'it mixes along ' + along(forward) if forward else 'it mixes none'}): a reduction over "
            "the wrong axis"
        )
    return f"{said}: the backward has a path that the forward does not"


def _mixed(jacs: list[Jacobians], extra: dict, k: str) -> tuple[set, set]:
    """The axes along which the true Jacobian links an output to an input at another index, and those
    along which the hand's extra paths do, over every case (an input of the output's shape)."""
    forward, backward = set(), set()
    for n, jac in enumerate(jacs):
        c = jac.cols(k)
        o = np.stack(np.unravel_index(np.arange(jac.H.shape[0]), jac.out_shape))[:, :, None]
        i = np.stack(np.unravel_index(np.arange(c.stop - c.start), jac.shapes[k]))[:, None, :]
        differ = o != i  # (axes, outputs, inputs)
        true = np.abs(jac.J[:, c]) > jac.E[:, c]
        forward |= {a for a in range(differ.shape[0]) if np.any(differ[a] & true)}
        backward |= {a for a in range(differ.shape[0]) if np.any(differ[a] & extra[n, k])}
    return forward, backward


def _causal(jacs: list[Jacobians], extra: dict, k: str, a: int) -> bool:
    """Along axis ``a``, the forward never reads an input after the output's position, and every extra
    path of the hand runs from an output to an input after it, at every case."""
    for n, jac in enumerate(jacs):
        c = jac.cols(k)
        o_pos = np.unravel_index(np.arange(jac.H.shape[0]), jac.out_shape)[a][:, None]
        i_pos = np.unravel_index(np.arange(c.stop - c.start), jac.shapes[k])[a][None, :]
        later = np.broadcast_to(i_pos > o_pos, extra[n, k].shape)
        if np.any((np.abs(jac.J[:, c]) > jac.E[:, c]) & later) or not np.all(later[extra[n, k]]):
            return False
    return True


def some_of_each_sum(model: Model, jacs: list[Jacobians], wrong: list[str]) -> str | None:
    """Each entry keeps some of its contributions and drops the others: H[o, i] is J[o, i] or 0, at
    every case, and at the failing case an entry fed by several outputs lost some of them."""
    first = jacs[0]
    shown = None
    for jac in jacs:
        for k in wrong:
            c = jac.cols(k)
            H, J, E = jac.H[:, c], jac.J[:, c], jac.E[:, c]
            kept = np.abs(H - J) <= jac.tol(c, E, H, J)
            dropped = (np.abs(H) <= jac.tol(c, np.zeros_like(E), H, np.zeros_like(J))) & (np.abs(J) > E)
            if not np.all(kept | dropped):
                return None
            if jac is first and shown is None:
                fed = np.sum(np.abs(J) > E, axis=0)
                lost = np.sum(dropped & ~kept, axis=0)
                several = np.flatnonzero((fed >= 2) & (lost >= 1))
                if several.size:
                    i = int(several[0])
                    shown = (k, i, int(fed[i] - lost[i]), int(fed[i]))
    if shown is None:
        return None
    k, i, m, n = shown
    return (
        f"{_name(k)}{_index(first.shapes[k], i)} keeps {m} of the {n} contributions it must add up "
        f"(from the {n} outputs it feeds), the others are dropped: an assignment (=, or a fancy-index +=, "
        f"which keeps one of repeated indices) where the contributions must be summed (+=, np.add.at)"
    )


def diagonal(model: Model, jacs: list[Jacobians], wrong: list[str]) -> str | None:
    """The hand keeps only ∂out[i]/∂x[i]: H is the diagonal of J, at every case, and J has cross terms."""
    first = jacs[0]
    for k in wrong:
        if first.shapes[k] != first.out_shape:
            return None
    cross = False
    for jac in jacs:
        for k in wrong:
            c = jac.cols(k)
            H, J, E = jac.H[:, c], jac.J[:, c], jac.E[:, c]
            D = np.diag(np.diag(J))
            if not np.all(np.abs(H - D) <= jac.tol(c, np.diag(np.diag(E)), H, D)):
                return None
            off = ~np.eye(J.shape[0], dtype=bool)
            cross |= bool(np.any((np.abs(J) > E) & off))
    if not cross:
        return None
    names = " and ".join(_name(k) for k in wrong)
    return (
        f"{names} keeps only the diagonal of the Jacobian: ∂out[i]/∂x[i] is right, and the cross terms "
        "∂out[i]/∂x[j], i ≠ j, which the true gradient has, are missing"
    )


def summed_along(model: Model, jacs: list[Jacobians], wrong: list[str]) -> str | None:
    """The hand pairs each dout entry with the sum over an output axis of what it should meet at its own
    position: H = J summed along that axis and broadcast back, at every case."""
    first = jacs[0]
    for a, size in enumerate(first.out_shape):
        if size < 2:
            continue
        holds = True
        for jac in jacs:
            for k in wrong:
                c = jac.cols(k)
                shape = jac.out_shape + (c.stop - c.start,)
                J = jac.J[:, c].reshape(shape)
                E = jac.E[:, c].reshape(shape)
                S = np.broadcast_to(J.sum(axis=a, keepdims=True), shape).reshape(jac.H.shape[0], -1)
                SE = np.broadcast_to(E.sum(axis=a, keepdims=True), shape).reshape(jac.H.shape[0], -1)
                H = jac.H[:, c]
                if not np.all(np.abs(H - S) <= jac.tol(c, SE, H, S)):
                    holds = False
                    break
            if not holds:
                break
        if holds:
            names = " and ".join(_name(k) for k in wrong)
            axes = _axes(model, next((k for k in first.keys if _axes(model, k)), "")) or ()
            axis = axes[a] if len(axes) == len(first.out_shape) else f"axis {a}"
            return (
                f"{names} pairs each dout entry with the sum over {axis} (size {size}) of the factor it "
                f"multiplies, not with the factor at its own position: a reduction over {axis} taken in "
                "each factor apart (as an einsum with a mistyped index does)"
            )
    return None


def _standardized(x: np.ndarray, axes: tuple[int, ...], centred: bool) -> np.ndarray:
    z = x - np.mean(x, axis=axes, keepdims=True) if centred else x
    scale = np.sqrt(np.mean(z * z, axis=axes, keepdims=True))
    with np.errstate(all="ignore"):
        return np.where(scale > 0, z / scale, 0.0)


def projection(model: Model, jacs: list[Jacobians], wrong: list[str]) -> str | None:
    """The error of d x in each group of a normalization is a multiple of that group's normalized input
    x̂ (centred or not): the projection term of the backward, −x̂·mean(g ⊙ x̂), is missing or wrong. Read
    at each case's own dout; one coefficient per group of at least ``GROUP`` entries is fitted."""
    if wrong != [k for k in wrong if _axes(model, k)] or len(wrong) != 1:
        return None
    k = wrong[0]
    first = jacs[0]
    shape = first.shapes[k]
    if shape != first.out_shape:
        return None
    names = _axes(model, k)
    groups = [axes for r in range(1, len(shape) + 1) for axes in itertools.combinations(range(len(shape)), r)
              if math.prod(shape[a] for a in axes) >= GROUP]  # fmt: skip
    for axes in groups:  # x̂ alone first, in every grouping: it is the narrower claim
        for centred in (True, False):
            if _fits(jacs, k, axes, centred, with_mean=False):
                xhat = "(x − mean)/σ" if centred else "x/rms"
                return (
                    f"{_name(k)}'s error in each group along {_along(names, axes)} is a multiple of that group's "
                    f"x̂ = {xhat}: the projection term x̂·mean(g ⊙ x̂) of the normalization's backward is missing "
                    "or wrong"
                )
    for axes in reversed(groups):  # a constant alone, the narrower claim, over the widest groups it holds on
        if math.prod(shape[a] for a in axes) > GROUP and _fits(jacs, k, axes, True, with_mean=True, with_xhat=False):
            return (
                f"{_name(k)}'s error is one constant in each group along {_along(names, axes)}: the projection's "
                "term −mean(g) in the normalization's backward is missing or wrong (the mean was held constant)"
            )
    for axes in groups:
        if math.prod(shape[a] for a in axes) > GROUP and _fits(jacs, k, axes, True, with_mean=True):
            return (
                f"{_name(k)}'s error in each group along {_along(names, axes)} is a combination of 1 and that "
                "group's x̂ = (x − mean)/σ: both terms of the projection, −mean(g) and −x̂·mean(g ⊙ x̂), are "
                "missing or wrong (the statistics were held constant)"
            )
    return None


def _along(names: tuple[str, ...], axes: tuple[int, ...]) -> str:
    return ", ".join(names[a] for a in axes)


def _fits(
    jacs: list[Jacobians], k: str, axes: tuple[int, ...], centred: bool, with_mean: bool, with_xhat: bool = True
) -> bool:
    """At every case, the error of block ``k`` at the case's dout is, group by group along ``axes``, a
    multiple of x̂ (plus a constant, ``with_mean``; a constant alone without ``with_xhat``), and at some
    case it is not within tolerance of 0."""
    seen = False
    for jac in jacs:
        c = jac.cols(k)
        H, J, E = jac.H[:, c], jac.J[:, c], jac.E[:, c]
        d = jac.dout
        err = (d @ H - d @ J).reshape(jac.shapes[k])
        tol = (np.abs(d) @ jac.tol(c, E, H, J)).reshape(jac.shapes[k])
        seen |= bool(np.any(np.abs(err) > tol))  # the error itself, before any part of it is fitted away
        xhat = _standardized(np.asarray(jac.case.params[k], dtype=float), axes, centred)
        if with_mean:  # the constant part first: x̂ has mean 0 in each group, so the two fits are apart
            err = err - np.mean(err, axis=axes, keepdims=True)
        with np.errstate(all="ignore"):
            coef = np.sum(err * xhat, axis=axes, keepdims=True) / np.sum(xhat * xhat, axis=axes, keepdims=True)
        coef = np.where(np.isfinite(coef), coef, 0.0) if with_xhat else np.zeros_like(coef)
        if not np.all(np.abs(err - coef * xhat) <= tol * (1 + np.abs(coef))):
            return False
    return seen


def identity(model: Model, jacs: list[Jacobians], wrong: list[str]) -> str | None:
    """The hand misses (or doubles) the identity path: H = J ∓ I for an input of the output's shape,
    at every case."""
    first = jacs[0]
    for k in wrong:
        if first.shapes[k] != first.out_shape or _axes(model, k) is None:
            continue
        for sign, said in ((-1.0, "minus"), (1.0, "plus")):
            holds = True
            for jac in jacs:
                c = jac.cols(k)
                H, J, E = jac.H[:, c], jac.J[:, c], jac.E[:, c]
                T = J + sign * np.eye(J.shape[0])
                if not np.all(np.abs(H - T) <= jac.tol(c, E, H, T)):
                    holds = False
                    break
            if holds:
                what = "missing" if sign < 0 else "counted twice"
                return (
                    f"{_name(k)} is the true gradient {said} dout: the identity path's gradient (the skip "
                    f"connection's dout) is {what}"
                )
    return None

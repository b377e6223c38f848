"""The judge: does the hand gradient agree with the witnesses, and do they agree with each other?

Every comparison has its own tolerance, derived from rounding-error bounds
(lab/verify/measure/rounding.py), never a fixed rtol or atol:

- hand vs reverse mode, entry j:  |h_j − g_j| ≤ 2 E_j, where E_j bounds the
  error of g_j. When the hand gradient misses that, it is run again in other
  precisions (lab/verify/measure/hand.py): a correct formula evaluated in
  another order converges to g, a mistake does not. The first is *inexact*
  (a pass, with the digits it keeps), the second is *wrong*.
- forward vs reverse, direction v: |⟨g, v⟩ − D_v| ≤ Σ_j |v_j| E_j + γ_m Σ_j |g_j v_j| + E_v,
  where E_v bounds the error of the forward-mode value D_v.
- finite differences vs forward mode: |F_v − D_v| ≤ (error estimate of F_v) + E_v.
- hand Hessian vs ``jax.hessian``: |H_ij − A_ij| ≤ 2 E_ij.

What a case can come to (``Verdict.kind``):

- ``pass``: checked and right; ``inexact``: right, but the hand program loses digits;
- ``inconclusive``: every entry of the gradient is within the witnesses' rounding of 0, so
  even a gradient off by a factor 2 would agree: the case proves nothing;
- ``outside``: skipped, with a ``reason``: the loss itself is not finite there;
- ``gradient``, ``hessian``, ``loss_and_grad``: the hand code is wrong; ``witnesses``: the
  witnesses disagree with each other; ``contract``: the code does not keep the model contract.

Where the loss is finite but autodiff is not (a ``where`` whose untaken branch overflows),
the hand gradient is judged by one-sided finite differences alone.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from lab.model import Model
from lab.verify.case import BATCH, Case
from lab.verify.measure import kinks
from lab.verify.measure.autodiff import Evidence, flatten
from lab.verify.measure.differences import fd_directional, loss_rounding, one_sided
from lab.verify.measure.hand import Precision, explain, hand_gradient
from lab.verify.measure.rounding import gamma


@dataclass
class Mismatch:
    """The worst disagreement of one comparison."""

    what: str  # "gradient", "hessian", "loss_and_grad", "forward", "finite differences"
    param: str | None
    index: tuple[int, ...]
    hand: float
    reference: float
    tolerance: float

    @property
    def where(self) -> str:
        if self.param is None:
            return f"H[{', '.join(map(str, self.index))}]" if self.what == "hessian" else self.what
        return self.param + (f"[{', '.join(map(str, self.index))}]" if self.index else "")


@dataclass
class Verdict:
    """The judge's word on one case."""

    case: Case
    ok: bool
    rel_error: float = 0.0  # max |hand − autodiff| / max |autodiff|, over gradient entries
    margin: float = 0.0  # max |hand − autodiff| / tolerance: the case passes while this is ≤ 1
    kind: str = "pass"  # pass, inexact, inconclusive, outside, gradient, hessian, loss_and_grad, witnesses, contract
    message: str = ""
    reason: str = ""  # why a case was skipped (outside) or proves nothing (inconclusive)
    precision: Precision | None = None  # for an inexact pass: the digits the hand program keeps
    mismatch: Mismatch | None = None
    hand: dict[str, np.ndarray] = field(default_factory=dict)
    reference: dict[str, np.ndarray] = field(default_factory=dict)
    tolerance: dict[str, np.ndarray] = field(default_factory=dict)
    diagnosis: str = ""


def _ratio(diff, tol):
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(diff == 0, 0.0, diff / tol)
    return np.where(np.isnan(r), np.inf, r)


def judge(model: Model, case: Case, ev: Evidence, finite_differences: bool = True, witness=None) -> Verdict:
    """Compare the hand gradient (and Hessian) of ``model`` at ``case`` with the evidence.

    ``finite_differences=False`` leaves out the slowest witness (forward and reverse mode
    are still compared); the search keeps it for the cases Hypothesis draws. With the
    ``witness`` (lab/verify/measure/autodiff.py), a discrepancy that no other precision explains
    is followed back along the path θ/2, θ/4, ... (see :func:`_continuation`).
    """
    with np.errstate(all="ignore"):  # overflow in a user's grad is judged by its result, not warned about
        return _judge(model, case, ev, finite_differences, witness)


#: Points on the path θ·2⁻ᵏ, k = 1..PATH, at which a discrepancy is followed back: far enough that a
#: score of 1e4 (the extreme profile's) comes down to about 10.
PATH = 10


def _collapsed(hand: dict, grad: dict, tol: dict, stable: bool, scale: float) -> bool:
    """Is the discrepancy a loss of digits rather than a wrong value?

    Either the hand gradient lost its digits towards 0 (|h − g| ≤ |g|), or the hand program keeps
    its digits (``stable``) and the discrepancy is tiny, 2⁻⁴⁰ of ``scale`` (the gradient's size
    along the path): then the loss program's derivative is what lost them, as a cut-off does.
    """
    return all(
        np.all(np.abs(hand[k] - grad[k]) <= np.abs(grad[k]) + tol[k])
        or (stable and np.all(np.abs(hand[k] - grad[k]) <= 2.0**-40 * scale + tol[k]))
        for k in grad
    )


def _size(g: dict) -> float:
    return max((float(np.max(np.abs(v))) for v in g.values() if np.size(v)), default=0.0)


def _continuation(model: Model, case: Case, witness, hand: dict, grad: dict, tol: dict, stable: bool) -> bool:
    """Does the discrepancy at θ fade along the path θ/2, θ/4, ..., θ/2¹⁰, as cancellation does?

    A correct formula that cancels (1 − 1/(1 + e^z) at z = −335) can lose every digit in every
    precision at hand, so no ladder of precisions shows it converging. Along the path to θ it
    cancels less and less: it is right (exactly, or within its own rounding) from some point
    on, and before that it has only lost digits (see :func:`_collapsed`). A mistake (a factor, a
    sign, a dropped or extra term, one wrong entry) stays wrong at the end of the path, and a
    wrong value (e^{−z} for e^{z}) is not a loss of digits.
    """
    if not stable and not _collapsed(hand, grad, tol, False, 0.0):
        return False  # a wrong value, not lost digits: no need to walk the path
    path = [
        Case({k: np.asarray(v) * 0.5**j for k, v in case.params.items()}, case.X, case.y, case.hyper, case.sizes)
        for j in range(1, PATH + 1)
    ]
    verdicts = [_judge(model, c, ev, False, None) for c, ev in zip(path, witness.evaluate(path, BATCH), strict=True)]
    scale = max([_size(hand)] + [_size(r.reference) for r in verdicts if r.reference])
    if not _collapsed(hand, grad, tol, stable, scale):
        return False
    right = []
    for r in verdicts:
        ok = r.kind in ("pass", "inexact", "inconclusive")
        if not ok:
            if r.kind != "gradient" or not r.reference:
                return False
            if not _collapsed(r.hand, r.reference, r.tolerance, r.precision is not None and r.precision.stable, scale):
                return False
        right.append(ok)
    first = right.index(True) if True in right else len(right)
    return len(right) - first >= 2 and all(right[first:])


def _judge(model: Model, case: Case, ev: Evidence, finite_differences: bool, witness=None) -> Verdict:
    try:
        hand = hand_gradient(model, case)
    except NotImplementedError:
        raise
    except Exception as e:  # a crash in the user's grad is a verdict, not a crash of the verifier
        return Verdict(case, False, kind="contract", message=f"grad raised {type(e).__name__}: {e}")
    if set(hand) != set(ev.grad):
        return Verdict(
            case, False, kind="contract", message=f"grad returns keys {sorted(hand)}; params has {sorted(ev.grad)}"
        )
    for k, g in ev.grad.items():
        if hand[k].shape != g.shape:
            hint = " (transposed?)" if hand[k].shape == g.shape[::-1] else ""
            return Verdict(
                case,
                False,
                kind="contract",
                message=f"grad[{k!r}] has shape {hand[k].shape}; params[{k!r}] has {g.shape}{hint}",
            )

    if not np.isfinite(ev.loss):
        # the loss itself overflows float64 here (e^z past 709), or is NaN: nothing to compare
        return Verdict(case, True, kind="outside", reason="the loss is not finite")
    if not all(np.all(np.isfinite(g)) for g in ev.grad.values()):
        # NaN is not "outside": a where() whose untaken branch overflows poisons autodiff, not the loss
        return _judge_by_differences(model, case, ev, hand)
    on_kink = kinks.at_kink(model, case)
    if model.kink_order == 1 and on_kink.any():  # the gradient jumps there: any subgradient will do
        return _judge_subgradient(model, case, ev, hand, on_kink)

    tol = {k: 2.0 * ev.grad_err[k] for k in hand}
    if on_kink.any():
        # A kink of the second derivative (Huber at |r| = δ): the gradient is continuous, but the hand
        # code and JAX may take opposite branches within the rounding of the score, and the flat branch
        # carries no error bound for it. Allow what the hand gradient moves when those scores move by
        # their rounding.
        for sign in (1.0, -1.0):
            moved = hand_gradient(model, kinks.nudged(model, case, np.flatnonzero(on_kink), sign))
            tol = {k: tol[k] + 2.0 * np.abs(np.asarray(moved[k], dtype=float) - hand[k]) for k in tol}
    # an entry whose bound is infinite (a division by a value within its own error) is not checked
    if not any(np.any(np.isfinite(t)) for t in tol.values()):
        return Verdict(case, True, kind="inconclusive", reason="the rounding bound of autodiff is not finite")
    worst, mism = _worst(hand, ev.grad, tol, "gradient")
    scale = max((float(np.max(np.abs(g))) for g in ev.grad.values() if g.size), default=0.0)
    diff = max((float(np.max(np.abs(hand[k] - ev.grad[k]))) for k in hand if hand[k].size), default=0.0)
    rel = diff / scale if scale > 0 else (np.inf if diff > 0 else 0.0)
    # a passing case counts its relative error only where the gradient stands clear of rounding
    resolved = scale > 100 * max((float(np.max(t)) for t in tol.values() if t.size), default=0.0)
    v = Verdict(case, True, rel_error=rel if resolved or worst > 1 else 0.0, margin=worst, mismatch=mism)
    v.hand, v.reference, v.tolerance = hand, ev.grad, tol

    # central differences that straddle a kink mislead the extrapolation: steps stop short of every kink
    witnesses = _witnesses_agree(model, case, ev, hand, finite_differences=finite_differences and not on_kink.any())
    if worst > 1.0:
        if not all(np.all(np.isfinite(h)) for h in hand.values()):
            v.ok, v.kind = False, "gradient"
        else:
            v.precision = explain(model, case, hand, ev.grad, tol)
            if (
                not v.precision.explained
                and witness is not None
                and _continuation(model, case, witness, hand, ev.grad, tol, v.precision.stable)
            ):
                # right on the way here. If the hand code keeps its digits in every precision and has not
                # lost magnitude (cancellation drives a value towards 0), the loss is what changed.
                kept = v.precision.stable and all(
                    np.all(
                        (np.abs(hand[k]) >= (1 - 2.0**-20) * np.abs(ev.grad[k]))
                        | (np.abs(hand[k] - ev.grad[k]) <= tol[k])
                    )
                    for k in hand
                )
                v.precision.explained, v.precision.method = True, "loss" if kept else "path"
            v.ok, v.kind = (True, "inexact") if v.precision.explained else (False, "gradient")
        if not v.ok:
            v.message = (
                f"{mism.where}: hand {mism.hand:.17g}, autodiff {mism.reference:.17g}, "
                f"difference {abs(mism.hand - mism.reference):.3g} > tolerance {mism.tolerance:.3g}"
            )
            if witnesses:
                v.message += f"; and the witnesses disagree: {witnesses}"
            return v
    if witnesses:
        v.ok, v.kind, v.message = False, "witnesses", witnesses
        return v
    if callable(getattr(model.module, "loss_and_grad", None)):
        v = _judge_loss_and_grad(model, case, ev, v)
        if not v.ok:
            return v
    if ev.hessian is not None and np.all(np.isfinite(ev.hessian)) and not on_kink.any():
        v = _judge_hessian(model, case, ev, v)
        if not v.ok:
            return v
    if v.kind == "pass" and all(np.all(np.abs(ev.grad[k]) <= tol[k]) for k in tol):
        # a zero gradient (or twice this one) would pass too: the case cannot tell right from wrong
        v.kind, v.reason = "inconclusive", "the gradient is within rounding of 0"
    return v


def _worst(hand: dict, ref: dict, tol: dict, what: str) -> tuple[float, Mismatch | None]:
    """The largest |hand − ref| / tol over all entries, and where it is."""
    worst, mism = -1.0, None
    for k in hand:
        r = _ratio(np.abs(hand[k] - ref[k]), tol[k])
        if r.size and float(r.max()) > worst:
            i = tuple(int(j) for j in np.unravel_index(int(np.argmax(r)), r.shape))
            worst = float(r.max())
            mism = Mismatch(what, k, i, float(hand[k][i]), float(ref[k][i]), float(tol[k][i]))
    return max(worst, 0.0), mism


def _coordinates(keys: list[str], template: dict) -> list[tuple[str, tuple[int, ...], dict]]:
    """One unit direction per parameter entry."""
    out = []
    for k in keys:
        for i in np.ndindex(np.shape(template[k])):
            e = {j: np.zeros(np.shape(template[j])) for j in keys}
            e[k][i] = 1.0
            out.append((k, i, e))
    return out


def _sided(model: Model, case: Case, d: dict, h0: float, f_err: float) -> tuple[float, float, float, float]:
    """The one-sided derivatives of the loss along ``d`` (down, its error, up, its error); ``f_err``
    bounds the rounding of a loss value (the witnesses' bound at θ)."""
    p0 = {k: np.asarray(case.params[k], dtype=float) for k in d}

    @functools.cache  # the difference tables and the rounding bound ask for the same points
    def f(t):
        with np.errstate(all="ignore"):
            return float(model.module.loss({k: p0[k] + t * d[k] for k in d}, case.X, case.y, **case.hyper))

    f_err = loss_rounding(model, case, d, (0.0, h0, -h0), f_err, f64=f)
    up, e_up = one_sided(f, h0, 1.0, f_err=f_err)
    down, e_down = one_sided(f, h0, -1.0, f_err=f_err)
    return down, e_down, up, e_up


def _judge_by_differences(model: Model, case: Case, ev: Evidence, hand) -> Verdict:
    """Where the loss is finite and autodiff is not: each entry of the hand gradient against the
    one-sided differences of the loss along its coordinate. A smooth loss has equal one-sided
    derivatives and the hand entry must match them; a hand entry that is NaN there is wrong."""
    keys = list(ev.grad)
    v = Verdict(case, True, kind="pass", hand=hand, reference={}, tolerance={})
    on_kink = kinks.at_kink(model, case)
    checked = 0
    for k, i, e in _coordinates(keys, ev.grad):
        h0 = min(1e-3 * max(1.0, abs(float(np.asarray(case.params[k])[i]))), kinks.max_step(model, case, e, on_kink))
        if not h0 > 0:
            continue
        down, e_down, up, e_up = _sided(model, case, e, h0, ev.loss_err)
        if not (np.isfinite(down) and np.isfinite(up) and np.isfinite(e_down) and np.isfinite(e_up)):
            continue  # the loss leaves its domain within any step: no witness for this entry
        checked += 1
        h = float(hand[k][i])
        tol = e_down + e_up + 4 * gamma(1) * max(abs(down), abs(up))
        lo, hi = min(down, up) - tol, max(down, up) + tol
        if not (lo <= h <= hi):
            ref = 0.5 * (down + up)
            v.ok, v.kind = False, "gradient"
            v.mismatch = Mismatch("gradient", k, i, h, ref, tol)
            v.margin, v.rel_error = np.inf, abs(h - ref) / max(abs(ref), 1e-300) if np.isfinite(h) else np.inf
            v.message = (
                f"{v.mismatch.where}: hand {h:.17g}, but the loss is finite here and its one-sided derivatives "
                f"are {down:.17g} and {up:.17g} (autodiff of the loss gives NaN or inf here: an intermediate "
                "value, or an untaken branch of a where, overflows)"
            )
            return v
    if not checked:
        return Verdict(case, True, kind="outside", reason="autodiff is not finite and the loss has no finite steps")
    return v


def _judge_subgradient(model: Model, case: Case, ev: Evidence, hand, on_kink: np.ndarray) -> Verdict:
    """At a kink: the hand (sub)gradient must lie between the one-sided derivatives along each direction.

    For a convex loss g is a subgradient at θ exactly when D₋(v) ≤ ⟨g, v⟩ ≤ D₊(v) for every v,
    where D± are the one-sided directional derivatives; they are measured by finite differences
    whose steps cross no other sample's kink. The hand code and the loss may disagree on which side
    of a kink a sample lies by the rounding of its score; the bracket allows for that through the
    autodiff error bound, which covers the score's rounding.
    """
    keys = list(ev.grad)
    g = flatten(hand, keys)
    eg = flatten(ev.grad_err, keys)
    v = Verdict(
        case, True, kind="pass", hand=hand, reference=ev.grad, tolerance={k: np.zeros_like(ev.grad[k]) for k in keys}
    )
    directions = list(ev.directions)
    for block in keys:  # and the first coordinate of each parameter block
        e = {k: np.zeros_like(ev.grad[k]) for k in keys}
        e[block].flat[0] = 1.0
        directions.append(e)
    for i, d in enumerate(directions):
        dv = flatten(d, keys)
        h0 = min(1e-3 / max(float(np.linalg.norm(dv)), 1e-300), kinks.max_step(model, case, d, skip=on_kink))
        if not h0 > 0:
            continue
        down, e_down, up, e_up = _sided(model, case, d, h0, ev.loss_err)
        if not (np.isfinite(down) and np.isfinite(up)):
            continue
        gv = float(g @ dv)
        slack = gamma(dv.size) * float(np.abs(g) @ np.abs(dv)) + 2 * float(eg @ np.abs(dv))
        # D₋ ≤ D₊ at a convex kink; where the two are nearly equal their estimates may fall either way
        lo, hi = min(down - e_down, up - e_up) - slack, max(down + e_down, up + e_up) + slack
        if not (lo <= gv <= hi):
            v.ok, v.kind = False, "gradient"
            v.message = (
                f"at a kink of the loss the hand gradient is not a subgradient: along direction {i} "
                f"⟨g, v⟩ = {gv:.17g} is outside the one-sided derivatives [{down:.17g}, {up:.17g}]"
            )
            v.diagnosis = v.message
            v.margin = np.inf
            v.rel_error = max(down - gv, gv - up) / max(abs(down), abs(up), 1e-300)
            return v
    return v


def _witnesses_agree(model: Model, case: Case, ev: Evidence, hand, finite_differences: bool = True) -> str:
    """An empty string when forward mode, reverse mode and finite differences agree; else why not.

    A finite-difference witness whose steps leave the loss's domain, or whose bound is not finite,
    is no witness: it is left out rather than trusted.
    """
    keys = list(ev.grad)
    g = flatten(ev.grad, keys)
    eg = flatten(ev.grad_err, keys)
    for i, v in enumerate(ev.directions):
        vf = flatten(v, keys)
        dot = float(g @ vf)
        tol = float(np.abs(vf) @ eg + gamma(vf.size) * (np.abs(g) @ np.abs(vf)) + ev.jvp_err[i])
        if not abs(dot - ev.jvp[i]) <= tol and np.isfinite(tol):
            return (
                f"forward mode gives {ev.jvp[i]:.17g} along direction {i} but reverse mode "
                f"gives {dot:.17g} (tolerance {tol:.3g}); the loss is not differentiable here "
                "or uses a custom derivative rule"
            )
        if i > 0 or not finite_differences:
            continue  # finite differences along the first direction: forward mode covers the rest
        step = kinks.max_step(model, case, v)
        if not step > 0:
            continue
        fd, fd_tol = fd_directional(model, case, v, ev.loss, float(ev.jvp[i]), ev.loss_err, max_step=step)
        tol = fd_tol + float(ev.jvp_err[i])
        if not (np.isfinite(fd) and np.isfinite(tol)):
            continue
        if not abs(fd - ev.jvp[i]) <= tol:
            hf = float(flatten(hand, keys) @ vf)
            hint = (
                "the hand gradient agrees with finite differences, so autodiff is cut: "
                "a stop_gradient, or a value JAX sees as constant"
                if abs(hf - fd) <= tol
                else "the loss is not differentiable at this point (a kink, max, abs or branch), "
                "or it is too ill-conditioned here for finite differences"
            )
            return (
                f"autodiff gives {ev.jvp[i]:.17g} along direction {i} but finite differences "
                f"give {fd:.17g} (tolerance {tol:.3g}); {hint}"
            )
    return ""


def _judge_loss_and_grad(model: Model, case: Case, ev: Evidence, v: Verdict) -> Verdict:
    """The optional ``loss_and_grad`` (one pass, for training) must give the loss and the gradient
    that the witnesses give, within the same tolerances as ``loss`` and ``grad``."""
    try:
        L, g = model.module.loss_and_grad(case.params, case.X, case.y, **case.hyper)
        L, g = float(L), {k: np.asarray(x, dtype=np.float64) for k, x in g.items()}
    except Exception as e:
        v.ok, v.kind, v.message = False, "contract", f"loss_and_grad raised {type(e).__name__}: {e}"
        return v
    if set(g) != set(ev.grad) or any(g[k].shape != ev.grad[k].shape for k in g):
        mine, want = ({k: x.shape for k, x in d.items()} for d in (g, ev.grad))
        v.ok, v.kind = False, "contract"
        v.message = f"loss_and_grad returns a gradient shaped {mine}; the parameters are shaped {want}"
        return v
    tol = 2.0 * ev.loss_err
    if not abs(L - ev.loss) <= tol:
        v.ok, v.kind = False, "loss_and_grad"
        v.mismatch = Mismatch("loss_and_grad", None, (), L, ev.loss, tol)
        v.message = (
            f"loss_and_grad's loss {L:.17g}, the loss {ev.loss:.17g}: difference {abs(L - ev.loss):.3g} > tolerance "
            f"{tol:.3g}"
        )
        return v
    for k in g:
        r = _ratio(np.abs(g[k] - ev.grad[k]), 2.0 * ev.grad_err[k])
        if r.size and float(r.max()) > 1.0:
            i = tuple(int(j) for j in np.unravel_index(int(np.argmax(r)), r.shape))
            tol_i = 2.0 * float(ev.grad_err[k][i])
            v.ok, v.kind = False, "loss_and_grad"
            v.mismatch = Mismatch("loss_and_grad", k, i, float(g[k][i]), float(ev.grad[k][i]), tol_i)
            v.message = (
                f"loss_and_grad's gradient {v.mismatch.where}: {g[k][i]:.17g}, autodiff {ev.grad[k][i]:.17g}, "
                f"difference {abs(g[k][i] - ev.grad[k][i]):.3g} > tolerance {tol_i:.3g}; grad itself agrees, so "
                "the mistake is in loss_and_grad's copy of the formulas"
            )
            return v
    return v


def _judge_hessian(model: Model, case: Case, ev: Evidence, v: Verdict) -> Verdict:
    try:
        H = np.asarray(model.module.hessian(case.params, case.X, case.y, **case.hyper), dtype=np.float64)
    except Exception as e:
        v.ok, v.kind, v.message = False, "contract", f"hessian raised {type(e).__name__}: {e}"
        return v
    if H.shape != ev.hessian.shape:
        v.ok, v.kind = False, "contract"
        v.message = f"hessian has shape {H.shape}; expected {ev.hessian.shape} over the flattened parameters"
        return v
    tol = 2.0 * ev.hessian_err
    r = _ratio(np.abs(H - ev.hessian), tol)
    if r.size and float(r.max()) > 1.0 and np.all(np.isfinite(H)):
        # a correct Hessian evaluated in another order carries rounding of its own, as a gradient does
        p = explain(model, case, {"H": H}, {"H": ev.hessian}, {"H": tol}, what="hessian")
        if p.explained:
            if v.kind == "pass":
                v.kind, v.precision = "inexact", p
            return v
    if r.size and float(r.max()) > 1.0:
        i = tuple(int(j) for j in np.unravel_index(int(np.argmax(r)), r.shape))
        v.ok, v.kind = False, "hessian"
        v.mismatch = Mismatch("hessian", None, i, float(H[i]), float(ev.hessian[i]), float(tol[i]))
        v.hand, v.reference, v.tolerance = {"H": H}, {"H": ev.hessian}, {"H": tol}
        v.message = (
            f"Hessian {v.mismatch.where}: hand {H[i]:.17g}, jax.hessian {ev.hessian[i]:.17g}, "
            f"difference {abs(H[i] - ev.hessian[i]):.3g} > tolerance {tol[i]:.3g}"
        )
    return v


def judge_batch(model: Model, batch: list[Case], evidence: list[Evidence], drawn: int = 0, witness=None):
    """The verdicts of a batch of one shape, in order, as :func:`judge` gives them.

    Most cases pass with room. Those are settled together, in arrays: a case whose hand code runs,
    whose every value is finite, that has no sample on a kink, and whose gradient, forward mode, loss_and_grad
    and Hessian all fall within their tolerances gets the same passing verdict that ``judge`` would
    give it. Every other case, and the first ``drawn`` (the ones finite differences check), goes
    through ``judge`` one at a time, when its turn comes.
    """
    with np.errstate(all="ignore"):
        settled = _settle(model, batch, evidence, drawn)
    for i, (case, ev) in enumerate(zip(batch, evidence, strict=True)):
        yield settled.get(i) or judge(model, case, ev, finite_differences=i < drawn, witness=witness)


def _shapes(g: dict) -> dict:
    return {k: np.shape(v) for k, v in g.items()}


def _settle(model: Model, batch: list[Case], evidence: list[Evidence], drawn: int) -> dict[int, Verdict]:
    """The passing verdicts of :func:`judge_batch`, by index; a case left out goes to ``judge``."""
    if len(batch) <= drawn:
        return {}
    keys = list(evidence[0].grad)
    mod = model.module
    with_lg, with_h = callable(getattr(mod, "loss_and_grad", None)), evidence[0].hessian is not None
    hands, lgs, hs = {}, {}, {}
    for i in range(drawn, len(batch)):
        case, ev = batch[i], evidence[i]
        if not np.isfinite(ev.loss) or (model.kink_order is not None and kinks.at_kink(model, case).any()):
            continue  # a case on a kink is judged against one-sided derivatives, alone
        try:
            h = hand_gradient(model, case)
            if with_lg:
                L, g = mod.loss_and_grad(case.params, case.X, case.y, **case.hyper)
                lgs[i] = float(L), {k: np.asarray(x, dtype=np.float64) for k, x in g.items()}
            if with_h:
                hs[i] = np.asarray(mod.hessian(case.params, case.X, case.y, **case.hyper), dtype=np.float64)
        except Exception:  # judge says what went wrong
            continue
        shapes = {k: g.shape for k, g in ev.grad.items()}
        if (
            _shapes(h) != shapes
            or (with_lg and _shapes(lgs[i][1]) != shapes)
            or (with_h and hs[i].shape != ev.hessian.shape)
        ):
            continue
        hands[i] = h
    idx = list(hands)
    if not idx:
        return {}
    ev_of = [evidence[i] for i in idx]
    stack = lambda rows: np.stack(rows).reshape(len(idx), -1)  # noqa: E731
    H = {k: np.stack([hands[i][k] for i in idx]) for k in keys}
    G = {k: np.stack([ev.grad[k] for ev in ev_of]) for k in keys}
    tol = {k: 2.0 * np.stack([ev.grad_err[k] for ev in ev_of]) for k in keys}
    Hf, Gf, Tf = (np.concatenate([d[k].reshape(len(idx), -1) for k in keys], axis=1) for d in (H, G, tol))
    ok = np.all(np.isfinite(Gf), axis=1) & np.all(np.isfinite(Hf), axis=1) & np.all(np.isfinite(Tf), axis=1)
    ratio = _ratio(np.abs(Hf - Gf), Tf)
    worst = np.max(ratio, axis=1, initial=0.0)
    ok &= worst <= 1.0
    # forward mode against reverse mode along each direction (see _witnesses_agree)
    Ef = Tf / 2.0
    jvp, jvp_err = np.stack([ev.jvp for ev in ev_of]), np.stack([ev.jvp_err for ev in ev_of])
    for j, v in enumerate(ev_of[0].directions):
        vf = flatten(v, keys)
        # row by row, as _witnesses_agree sums them: a matrix product may sum in another order
        dot = np.array([g @ vf for g in Gf])
        t = np.array([np.abs(vf) @ e for e in Ef]) + gamma(vf.size) * np.array([np.abs(g) @ np.abs(vf) for g in Gf])
        t = t + jvp_err[:, j]
        ok &= (np.abs(dot - jvp[:, j]) <= t) | ~np.isfinite(t)
    if with_lg:
        L = np.array([lgs[i][0] for i in idx])
        loss, loss_err = np.array([ev.loss for ev in ev_of]), np.array([ev.loss_err for ev in ev_of])
        ok &= np.abs(L - loss) <= 2.0 * loss_err
        LG = np.concatenate([stack([lgs[i][1][k] for i in idx]) for k in keys], axis=1)
        ok &= np.max(_ratio(np.abs(LG - Gf), Tf), axis=1, initial=0.0) <= 1.0
    if with_h:
        A, AE = stack([ev.hessian for ev in ev_of]), stack([ev.hessian_err for ev in ev_of])
        checked = np.all(np.isfinite(A), axis=1)  # judge leaves a Hessian with a NaN unchecked
        ok &= ~checked | (np.max(_ratio(np.abs(stack([hs[i] for i in idx]) - A), 2.0 * AE), axis=1, initial=0.0) <= 1.0)
    out = {}
    for r, i in enumerate(idx):
        if not ok[r]:
            continue
        order = list(hands[i])  # the hand gradient's own order, in which judge looks for the worst entry
        hand, ref, t = {k: H[k][r] for k in order}, evidence[i].grad, {k: tol[k][r] for k in order}
        w, mism = _worst(hand, ref, t, "gradient")
        scale = float(np.max(np.abs(Gf[r]), initial=0.0))
        diff = float(np.max(np.abs(Hf[r] - Gf[r]), initial=0.0))
        rel = diff / scale if scale > 0 else (np.inf if diff > 0 else 0.0)
        resolved = scale > 100 * float(np.max(Tf[r], initial=0.0))
        v = Verdict(batch[i], True, rel_error=rel if resolved else 0.0, margin=w, mismatch=mism)
        v.hand, v.reference, v.tolerance = hand, ref, t
        if np.all(np.abs(Gf[r]) <= Tf[r]):
            v.kind, v.reason = "inconclusive", "the gradient is within rounding of 0"
        out[i] = v
    return out

"""The judge: does the hand gradient agree with the witnesses, and do they agree with each other?

Every comparison has its own tolerance, derived from rounding-error bounds
(lab/verify/rounding.py), never a fixed rtol or atol:

- hand vs reverse mode, entry j:  |h_j − g_j| ≤ 2 E_j, where E_j bounds the
  error of g_j. The hand formula computes the same quantity with the same
  kinds of operations, so its error is taken to obey the same bound; the
  difference of two values each within E_j of the truth is within 2 E_j.
- forward vs reverse, direction v: |⟨g, v⟩ − D_v| ≤ Σ_j |v_j| E_j + γ_m Σ_j |g_j v_j| + E_v,
  where E_v bounds the error of the forward-mode value D_v.
- finite differences vs forward mode: |F_v − D_v| ≤ (error estimate of F_v) + E_v.
- hand Hessian vs ``jax.hessian``: |H_ij − A_ij| ≤ 2 E_ij.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lab.model import Model
from lab.verify.cases import Case
from lab.verify.rounding import gamma
from lab.verify.witnesses import Evidence, fd_directional, flatten, hand_gradient, one_sided

#: A sample this close to a kink (in the units of kink_distance) is at the kink: the loss has no
#: gradient there and JAX's choice of side need not match the hand code's. Rounding of the
#: score alone moves it by far less than this.
AT_KINK = 1e-8
#: Within this distance, central differences may straddle the kink, so they are not a witness.
NEAR_KINK = 1e-4


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
    kind: str = "pass"  # pass, gradient, hessian, loss_and_grad, witnesses, contract, outside (loss not finite)
    message: str = ""
    mismatch: Mismatch | None = None
    hand: dict[str, np.ndarray] = field(default_factory=dict)
    reference: dict[str, np.ndarray] = field(default_factory=dict)
    tolerance: dict[str, np.ndarray] = field(default_factory=dict)
    diagnosis: str = ""


def _ratio(diff, tol):
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(diff == 0, 0.0, diff / tol)
    return np.where(np.isnan(r), np.inf, r)


def judge(model: Model, case: Case, ev: Evidence, finite_differences: bool = True) -> Verdict:
    """Compare the hand gradient (and Hessian) of ``model`` at ``case`` with the evidence.

    ``finite_differences=False`` leaves out the slowest witness (forward and reverse mode
    are still compared); the search keeps it for the cases Hypothesis draws.
    """
    with np.errstate(all="ignore"):  # overflow in a user's grad is judged by its result, not warned about
        return _judge(model, case, ev, finite_differences)


def _judge(model: Model, case: Case, ev: Evidence, finite_differences: bool) -> Verdict:
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

    if not np.isfinite(ev.loss) or not all(np.all(np.isfinite(g)) for g in ev.grad.values()):
        # the loss or its true gradient overflows float64 here (e^z past 709): nothing to compare
        return Verdict(case, True, kind="outside")
    kink = _kink_distance(model, case)
    if model.kink_order == 1 and kink <= AT_KINK:
        return _judge_subgradient(model, case, ev, hand)

    tol = {k: 2.0 * ev.grad_err[k] for k in hand}
    worst, mism = -1.0, None
    for k in hand:
        r = _ratio(np.abs(hand[k] - ev.grad[k]), tol[k])
        if r.size and float(r.max()) > worst:
            i = tuple(int(j) for j in np.unravel_index(int(np.argmax(r)), r.shape))
            worst = float(r.max())
            mism = Mismatch("gradient", k, i, float(hand[k][i]), float(ev.grad[k][i]), float(tol[k][i]))
    worst = max(worst, 0.0)
    scale = max((float(np.max(np.abs(g))) for g in ev.grad.values() if g.size), default=0.0)
    diff = max((float(np.max(np.abs(hand[k] - ev.grad[k]))) for k in hand if hand[k].size), default=0.0)
    # Relative error only where the gradient stands clear of rounding; else the margin says it all.
    resolved = scale > 100 * max((float(np.max(t)) for t in tol.values() if t.size), default=0.0)
    rel = diff / scale if resolved else 0.0
    v = Verdict(case, True, rel_error=rel, margin=worst, mismatch=mism, hand=hand, reference=ev.grad, tolerance=tol)

    # central differences that straddle a kink of either order mislead the extrapolation
    witnesses = _witnesses_agree(model, case, ev, hand, finite_differences=finite_differences and kink > NEAR_KINK)
    if worst > 1.0:
        v.ok, v.kind = False, "gradient"
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
    if (
        ev.hessian is not None
        and np.all(np.isfinite(ev.hessian))
        and not (model.kink_order is not None and kink <= AT_KINK)
    ):
        return _judge_hessian(model, case, ev, v)
    return v


def _kink_distance(model: Model, case: Case) -> float:
    """The smallest distance of any sample to a kink of the loss (inf for a smooth loss)."""
    if model.kink_order is None:
        return np.inf
    d = np.asarray(model.module.kink_distance(case.params, case.X, case.y, **case.hyper), dtype=float)
    return float(d.min()) if d.size else np.inf


def _judge_subgradient(model: Model, case: Case, ev: Evidence, hand) -> Verdict:
    """At a kink: the hand (sub)gradient must lie between the one-sided derivatives along each direction.

    For a convex loss g is a subgradient at θ exactly when D₋(v) ≤ ⟨g, v⟩ ≤ D₊(v) for every v,
    where D± are the one-sided directional derivatives; they are measured by finite differences.
    """
    keys = list(ev.grad)
    g = flatten(hand, keys)
    v = Verdict(
        case, True, kind="pass", hand=hand, reference=ev.grad, tolerance={k: np.zeros_like(ev.grad[k]) for k in keys}
    )
    directions = list(ev.directions)
    for block in keys:  # and the first coordinate of each parameter block
        e = {k: np.zeros_like(ev.grad[k]) for k in keys}
        e[block].flat[0] = 1.0
        directions.append(e)
    p0 = {k: np.asarray(case.params[k], dtype=float) for k in keys}
    for i, d in enumerate(directions):
        dv = flatten(d, keys)

        def f(t, d=d):
            return float(model.module.loss({k: p0[k] + t * d[k] for k in keys}, case.X, case.y, **case.hyper))

        h0 = 1e-3 / max(float(np.linalg.norm(dv)), 1e-300)
        up, e_up = one_sided(f, h0, 1.0)
        down, e_down = one_sided(f, h0, -1.0)
        gv = float(g @ dv)
        slack = gamma(dv.size) * float(np.abs(g) @ np.abs(dv))
        if not (down - e_down - slack <= gv <= up + e_up + slack):
            v.ok, v.kind = False, "gradient"
            v.message = (
                f"at a kink of the loss the hand gradient is not a subgradient: along direction {i} "
                f"⟨g, v⟩ = {gv:.17g} is outside the one-sided derivatives [{down:.17g}, {up:.17g}]"
            )
            v.diagnosis = v.message
            v.margin = np.inf
            return v
    return v


def _witnesses_agree(model: Model, case: Case, ev: Evidence, hand, finite_differences: bool = True) -> str:
    """An empty string when forward mode, reverse mode and finite differences agree; else why not."""
    keys = list(ev.grad)
    g = flatten(ev.grad, keys)
    eg = flatten(ev.grad_err, keys)
    for i, v in enumerate(ev.directions):
        vf = flatten(v, keys)
        dot = float(g @ vf)
        tol = float(np.abs(vf) @ eg + gamma(vf.size) * (np.abs(g) @ np.abs(vf)) + ev.jvp_err[i])
        if abs(dot - ev.jvp[i]) > tol:
            return (
                f"forward mode gives {ev.jvp[i]:.17g} along direction {i} but reverse mode "
                f"gives {dot:.17g} (tolerance {tol:.3g}); the loss is not differentiable here "
                "or uses a custom derivative rule"
            )
        if i > 0 or not finite_differences:
            continue  # finite differences along the first direction: forward mode covers the rest
        fd, fd_tol = fd_directional(model, case, v, ev.loss, float(ev.jvp[i]), ev.loss_err)
        tol = fd_tol + float(ev.jvp_err[i])
        if not np.isfinite(fd) or abs(fd - ev.jvp[i]) > tol:
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

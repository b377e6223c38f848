"""The judge: one ordered table of rules over measured evidence.

Every number compared here is *measured*: a value with a bound on its own error (lab/verify/measure/).
Two numbers agree when |a − b| ≤ err(a) + err(b) (:func:`agree`), the only tolerance. The hand value's
error is taken as autodiff's bound for the same function until the hand program's own rounding is
measured (a rerun in other precisions): a correct formula written as the loss is rounds as the loss does.

The rules, in order; the first that decides, decides:

1. **contract**: ``grad`` raises, or returns other keys or shapes than ``params`` → CONTRACT. A layer's
   backward must also give exactly 0 for dout = 0, scale by −2 bit for bit with dout, and repeat
   itself (lab/layer.py) → else WRONG, with no tolerance to measure. These are facts of the code, not of
   the point, so they are checked on the drawn cases of a batch (the fill adds points, not code).
2. **no reference**: the loss is not finite, or the parameters have no entries at this shape → SKIPPED.
3. **autodiff not finite** (a ``where`` whose untaken branch overflows): the reference is the one-sided
   differences of the loss along each coordinate; the hand entry must lie between them → VERIFIED, else the
   exact referee decides (its error estimate is Ridders', not a bound) → VERIFIED, INEXACT or WRONG.
   Along a coordinate where the loss leaves its domain within any step, the exact referee is the
   reference (a true value beyond the largest double is matched by the hand's infinity) → VERIFIED,
   INEXACT or WRONG; without it → INCONCLUSIVE.
4. **a kink of the gradient** (hinge, ReLU at 0): the reference is the set of valid subgradients, spanned by
   the gradients autodiff measures on each side of each sample's kink; the hand value must lie within its
   error of that set → VERIFIED or WRONG.
5. **no usable bound**: every entry of autodiff's bound is infinite: the exact referee is the reference →
   VERIFIED, INEXACT or WRONG; without it → INCONCLUSIVE. Rules 3 and 5 ask the referee for
   :data:`REFEREED_PER_BATCH` cases of a batch at most, each of :data:`REFEREE_OPS` operations at most.
6. **hand against autodiff**, entry by entry. Where they do not agree, the loss may have a kink the model
   does not declare (an abs at 0, a max or a sort at a tie): autodiff's gradients just off the point, on
   either side along each such entry and along hand − autodiff, are measured. A mix of them → VERIFIED at
   a kink; where the sides differ along every direction, they are the reference, as at rule 3 →
   VERIFIED, or INCONCLUSIVE outside them, since without the kinks declared they bound the valid
   values only where the loss is convex (:func:`_between_sides`). Else the hand
   program's own error is measured (extended precision, float32, the path θ/2ᵏ): within it → INEXACT,
   else → WRONG.
7. **the witnesses against each other**: forward mode against reverse mode along random directions,
   and finite differences against forward mode on the drawn cases → WITNESSES. Where autodiff's slopes
   just off the point differ along that direction (a kink), the differences straddle it: no witness.
8. **loss_and_grad**, when defined, against the loss and autodiff → WRONG (what = loss_and_grad).
9. **the Hessian**, when defined, against ``jax.hessian``; measured like the gradient → INEXACT or WRONG.
10. **can it tell?** Every entry of autodiff is within its error of 0, so a zero gradient (or twice
    this one) would agree too → INCONCLUSIVE; else → VERIFIED.

A batch is judged by the same rules: rules 7 to 9 compare the whole batch in arrays, and a case is
then decided from its own row and entries. A single case is a batch of one. Rule 6's measurement of the hand
program's error and rule 7's finite differences run only for the cases that need them.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from lab.model import Model, shape_of
from lab.verify.case import BATCH, Case
from lab.verify.measure import kinks
from lab.verify.measure.autodiff import Evidence, Witness, flatten, unflatten
from lab.verify.measure.differences import fd_directional, loss_rounding, one_sided
from lab.verify.measure.hand import Precision, explain, hand_gradient, hand_gradients
from lab.verify.measure.rounding import U, gamma
from lab.verify.vocabulary import Kind, Reason, What

#: A passing case counts its relative error only where the gradient stands this many tolerances
#: clear of rounding: below that the relative error measures rounding, not the formula.
RESOLVED = 100.0
#: Points on the path θ·2⁻ᵏ, k = 1..PATH, at which a discrepancy is followed back: far enough that a
#: score of 1e4 (the extreme profile's) comes down to about 10.
PATH = 10
#: On the path, a hand program that keeps its digits in every precision may still differ from autodiff
#: by a cut-off in the loss (log1pexp(z) = z for large z), which is at most this share of the gradient.
CUT_OFF = 2.0**-40
#: A hand gradient that kept its magnitude to this share of autodiff's has not lost digits towards 0.
KEPT = 1 - 2.0**-20
#: The first step of a one-sided table along a coordinate, relative to the parameter (at least 1).
STEP = 1e-3


@dataclass
class Measured:
    """A value and a bound on its own error (arrays of one shape)."""

    value: np.ndarray
    err: np.ndarray


def share(a: Measured, b: Measured) -> np.ndarray:
    """|a − b| as a share of err(a) + err(b): the two agree where this is ≤ 1. Equal values agree even
    with a bound of 0; a NaN (a value or bound) never agrees."""
    diff = np.abs(np.asarray(a.value) - np.asarray(b.value))
    tol = np.asarray(a.err) + np.asarray(b.err)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(diff == 0, 0.0, diff / tol)
    return np.where(np.isnan(r), np.inf, r)


def agree(a: Measured, b: Measured) -> np.ndarray:
    """|a − b| ≤ err(a) + err(b), entry by entry."""
    return share(a, b) <= 1.0


@dataclass
class Mismatch:
    """The worst disagreement of one comparison."""

    what: What
    param: str | None
    index: tuple[int, ...]
    hand: float
    reference: float
    tolerance: float

    @property
    def where(self) -> str:
        if self.param is None:
            return f"H[{', '.join(map(str, self.index))}]" if self.what == What.HESSIAN else str(self.what)
        return self.param + (f"[{', '.join(map(str, self.index))}]" if self.index else "")


@dataclass
class Verdict:
    """The judge's word on one case."""

    case: Case
    kind: Kind = Kind.VERIFIED
    what: What = What.GRADIENT  # the hand function the verdict is about
    rel_error: float = 0.0  # max |hand − autodiff| / max |autodiff|, over gradient entries
    margin: float = 0.0  # max |hand − autodiff| / tolerance: the case passes while this is ≤ 1
    message: str = ""
    reason: Reason | None = None  # why a case was skipped or proves nothing
    precision: Precision | None = None  # for an inexact pass: the digits the hand program keeps
    mismatch: Mismatch | None = None
    hand: dict[str, np.ndarray] = field(default_factory=dict)
    reference: dict[str, np.ndarray] = field(default_factory=dict)
    tolerance: dict[str, np.ndarray] = field(default_factory=dict)
    diagnosis: str = ""
    at_kink: bool = False  # decided against the interval of one-sided derivatives (rule 4)
    exact: dict[str, np.ndarray] | None = None  # the referee's value where it was asked (rule 6), float64
    breach: str = ""  # where autodiff broke its own bound, by the referee: a bug in a rounding rule
    smooth: str = ""  # rule 6: a direction where hand and autodiff differ and the loss has no kink
    refereed: bool = True  # False: wrong by autodiff, not yet asked of the referee (a search's draft)
    rule: int = 10  # the rule of this module that decided the case

    @property
    def ok(self) -> bool:
        """No fault found: verified, inexact, inconclusive or skipped."""
        return not self.kind.failed

    @property
    def passed(self) -> bool:
        """Checked, and right."""
        return self.kind.passed


def judge(model: Model, case: Case, ev: Evidence, finite_differences: bool = True, witness=None) -> Verdict:
    """The verdict on one case: a batch of one (see :func:`judge_batch`)."""
    return next(judge_batch(model, [case], [ev], drawn=1 if finite_differences else 0, witness=witness))


def judge_batch(
    model: Model,
    batch: list[Case],
    evidence: list[Evidence],
    drawn: int = 0,
    witness=None,
    referee: bool = True,
    hands: list | None = None,
) -> Iterator[Verdict]:
    """The verdicts of a batch of one shape, in order, by the rules of this module.

    The first ``drawn`` cases are also checked by finite differences (the slow witness). With the
    ``witness`` (lab/verify/measure/autodiff.py), a discrepancy that no other precision explains is
    followed back along the path θ/2, θ/4, ... Verdicts are given as they are asked for, so a search
    that stops at the first wrong case does not pay for the rest. Without ``referee`` a wrong verdict
    is not yet re-evaluated by the exact referee (rule 6), nor does its message say whether the
    witnesses disagree too (rule 7): a search that shrinks asks for both only for the case it prints
    (lab/verify/search/engine.py). ``hands`` are the batch's hand gradients
    (:func:`~lab.verify.measure.hand.hand_gradients`), when the caller computed them while autodiff ran.
    """
    with np.errstate(all="ignore"):  # overflow in a user's grad is judged by its result, not warned about
        hands = hand_gradients(model, batch) if hands is None else hands
        early, rows = _first_rules(model, batch, evidence, hands, witness, max(drawn, 1), referee)
        table = _Table(model, batch, evidence, rows)
    for i, case in enumerate(batch):
        # the error state is set and reset around each verdict, never held across a yield: a search that
        # stops early drops this generator, which may be closed later, in another context
        with np.errstate(all="ignore"):
            if i in early:
                v = early[i]
                v = v() if callable(v) else v
            else:
                v = _decide(model, case, evidence[i], table, table.index[i], rows[i], i < drawn, witness, referee)
        yield v


# -- rules 1 to 5: one case at a time -----------------------------------------------------------------


@dataclass
class _Row:
    """A case that reached rule 6: its hand gradient and the tolerance of each entry; ``laid``, when they
    are known already, the three laid end to end (:func:`_end_to_end`)."""

    hand: dict[str, np.ndarray]
    tol: dict[str, np.ndarray]
    on_kink: np.ndarray
    laid: tuple | None = None


def _first_rules(
    model: Model,
    batch: list[Case],
    evidence: list[Evidence],
    hands: list,
    witness=None,
    drawn: int = 1,
    referee: bool = True,
):
    """Rules 1 to 5 for every case: a verdict (or a function that makes it, when it is slow) for the
    cases they decide, and a :class:`_Row` for the rest. A layer's structure is read on the first
    ``drawn`` cases; without ``referee``, rule 3's wrong is a draft, as rule 6's is."""
    early: dict = {}
    rows: dict[int, _Row] = {}
    layouts: dict = {}
    spare = [REFEREED_PER_BATCH]  # the referee calls rules 3 and 5 may still make for this batch
    for i, (case, ev, hand) in enumerate(zip(batch, evidence, hands, strict=True)):
        if isinstance(hand, Exception):  # a crash in the user's grad is a verdict, not a crash of the verifier
            said = f"grad raised {type(hand).__name__} at a case with {case.size_words()}: {hand}"
            early[i] = Verdict(case, Kind.CONTRACT, message=said, rule=1)
            continue
        problem = _shapes_differ("grad", hand, ev.grad) or (kinks.signed(model, case) if model.kink_order else "")
        if problem:
            early[i] = Verdict(case, Kind.CONTRACT, message=problem, rule=1)
            continue
        structure = getattr(model.module, "structure", None)  # a layer's backward: exact facts, no tolerance
        problem = structure(case.params, case.X, case.y, **case.hyper) if callable(structure) and i < drawn else ""
        if problem:
            early[i] = Verdict(case, Kind.WRONG, message=problem, diagnosis=problem, hand=hand, rule=1)
            continue
        if not np.isfinite(ev.loss):  # the loss itself overflows float64 here (e^z past 709), or is NaN
            early[i] = Verdict(case, Kind.SKIPPED, reason=Reason.LOSS_NOT_FINITE, rule=2)
            continue
        flat, _, finite = ev.vectors()
        if not flat.size:  # init gave empty arrays (pairs of columns, d = 1)
            early[i] = Verdict(case, Kind.SKIPPED, reason=Reason.NO_PARAMETERS, rule=2)
            continue
        if not finite:
            early[i] = functools.partial(_by_differences, model, case, ev, hand, referee, spare)
            continue
        on_kink = kinks.at_kink(model, case)
        if model.kink_order == 1 and on_kink.any():
            early[i] = functools.partial(_subgradient, model, case, ev, hand, on_kink, witness)
            continue
        tol = {k: 2.0 * ev.grad_err[k] for k in hand}  # err(hand) + err(autodiff), both autodiff's bound
        if on_kink.any():
            # A kink of the second derivative (Huber at |r| = δ): the gradient is continuous, but the hand
            # code and JAX may take opposite branches within the rounding of the score, and the flat branch
            # carries no error bound for it. The hand value's error includes what it moves when those
            # scores move by their rounding.
            for sign in (1.0, -1.0):
                moved = hand_gradient(model, kinks.nudged(model, case, np.flatnonzero(on_kink), sign))
                tol = {k: tol[k] + 2.0 * np.abs(np.asarray(moved[k], dtype=float) - hand[k]) for k in tol}
        if not any(np.any(np.isfinite(t)) for t in tol.values()):
            early[i] = functools.partial(_exact_only, model, case, hand, ev.grad_err, 5, spare)
            continue
        rows[i] = _Row(hand, tol, on_kink, None if on_kink.any() else _laid(hand, ev, layouts))
    return early, rows


def _laid(hand: dict, ev: Evidence, layouts: dict) -> tuple:
    """:func:`_end_to_end` of ``hand``, autodiff and the tolerance 2·err(autodiff), autodiff's from the
    vectors the evidence read once per batch, put in ``hand``'s order (JAX returns a dict's keys sorted).
    ``layouts`` keeps each order's positions for the batch."""
    G, E, _ = ev.vectors()
    order = (tuple(hand), tuple(ev.grad))
    if order not in layouts:
        at = dict(zip(ev.grad, np.cumsum([0] + [np.size(g) for g in ev.grad.values()]), strict=False))
        keys = [k for k in hand if np.size(hand[k])]
        starts = np.cumsum([0] + [np.size(hand[k]) for k in keys[:-1]])
        where = np.concatenate([np.arange(at[k], at[k] + np.size(hand[k])) for k in keys] or [np.zeros(0, int)])
        layouts[order] = keys, starts, where
    keys, starts, where = layouts[order]
    return keys, starts, [flatten(hand, list(hand)) if keys else np.zeros(0), G[where], 2.0 * E[where]]


def _shapes_differ(name: str, got: dict, want: dict) -> str:
    if set(got) != set(want):
        return f"{name} returns keys {sorted(got)}; params has {sorted(want)}"
    for k, g in want.items():
        if shape_of(got[k]) != shape_of(g):
            hint = " (transposed?)" if np.shape(got[k]) == np.shape(g)[::-1] else ""
            return f"{name}[{k!r}] has shape {np.shape(got[k])}; params[{k!r}] has {np.shape(g)}{hint}"
    return ""


# -- rules 6 to 9: the comparisons, for the whole batch in arrays ---------------------------------------


class _Table:
    """The comparisons of rules 7 to 9 for the cases that reached them, one row per case (rule 6 reads
    each case's own entries, to say where the worst one is).

    Each is a :func:`share` (≤ 1 agrees) computed on the stacked batch, so a case judged alone and the
    same case judged in a batch get the same numbers.
    """

    def __init__(self, model: Model, batch: list[Case], evidence: list[Evidence], rows: dict[int, _Row]):
        self.index = {i: r for r, i in enumerate(rows)}
        if not rows:
            return
        idx = list(rows)
        evs = [evidence[i] for i in idx]
        self.keys = keys = list(evs[0].grad)
        G, E = (np.stack(v) for v in zip(*(ev.vectors()[:2] for ev in evs), strict=True))
        # rule 7: forward mode against reverse mode, ⟨g, v⟩ measured with Σ|v_j| E_j + γ_m Σ|g_j v_j|
        D = np.stack([flatten(v, keys) for v in evs[0].directions], axis=1)  # (P, k)
        dot = np.einsum("bp,pk->bk", G, D)
        dot_err = E @ np.abs(D) + gamma(D.shape[0]) * (np.abs(G) @ np.abs(D))
        jvp, jvp_err = np.stack([ev.jvp for ev in evs]), np.stack([ev.jvp_err for ev in evs])
        self.dot, self.dot_err, self.jvp, self.jvp_err = dot, dot_err, jvp, jvp_err
        forward = share(Measured(dot, dot_err), Measured(jvp, jvp_err))
        self.forward = np.where(np.isfinite(dot_err + jvp_err), forward, 0.0)  # an infinite bound tells nothing
        # rule 8: loss_and_grad, against the loss and autodiff with the same tolerances as loss and grad
        self.lg = self.lg_problem = None
        mod = model.module
        if callable(getattr(mod, "loss_and_grad", None)):
            self.lg_problem, self.lg_hand = {}, {}
            L, LG = np.full(len(idx), np.nan), np.full_like(G, np.nan)
            for r, i in enumerate(idx):
                c = batch[i]
                try:
                    value, g = mod.loss_and_grad(c.params, c.X, c.y, **c.hyper)
                    value, g = float(value), {k: np.asarray(x, dtype=np.float64) for k, x in g.items()}
                except Exception as e:
                    self.lg_problem[r] = f"loss_and_grad raised {type(e).__name__}: {e}"
                    continue
                if _shapes_differ("loss_and_grad", g, evs[r].grad):
                    mine, want = ({k: np.shape(x) for k, x in d.items()} for d in (g, evs[r].grad))
                    self.lg_problem[r] = (
                        f"loss_and_grad returns a gradient shaped {mine}; the parameters are shaped {want}"
                    )
                    continue
                L[r], LG[r], self.lg_hand[r] = value, flatten(g, keys), g
            loss, loss_err = np.array([ev.loss for ev in evs]), np.array([ev.loss_err for ev in evs])
            self.lg_L = L
            self.lg_loss = share(Measured(L, loss_err), Measured(loss, loss_err))
            self.lg = share(Measured(LG, E), Measured(G, E))
        # rule 9: the Hessian, where jax.hessian is finite and no sample sits on a kink
        self.hess = self.hess_problem = None
        if evs[0].hessian is not None:
            self.hess_problem, self.hess_hand, self.hess = {}, {}, np.zeros(len(idx))
            for r, i in enumerate(idx):
                ev, c = evs[r], batch[i]
                if not np.all(np.isfinite(ev.hessian)) or rows[i].on_kink.any():
                    continue
                try:
                    Hh = np.asarray(mod.hessian(c.params, c.X, c.y, **c.hyper), dtype=np.float64)
                except Exception as e:
                    self.hess_problem[r] = f"hessian raised {type(e).__name__}: {e}"
                    continue
                if Hh.shape != ev.hessian.shape:
                    self.hess_problem[r] = (
                        f"hessian has shape {Hh.shape}; expected {ev.hessian.shape} over the flattened parameters"
                    )
                    continue
                self.hess_hand[r] = Hh
                self.hess[r] = np.max(share(Measured(Hh, ev.hessian_err), Measured(ev.hessian, ev.hessian_err)))


def _end_to_end(hand: dict, *others: dict) -> tuple[list[str], np.ndarray, list[np.ndarray]]:
    """The keys of ``hand`` that hold entries, where each one's entries start, and the entries of
    ``hand`` and of each of ``others`` (same keys and shapes) laid end to end in that order."""
    keys = [k for k in hand if np.size(hand[k])]
    starts = np.cumsum([0] + [np.size(hand[k]) for k in keys[:-1]])
    flats = [np.concatenate([np.ravel(d[k]) for k in keys]) if keys else np.zeros(0) for d in (hand, *others)]
    return keys, starts, flats


def _worst(hand: dict, ref: dict, tol: dict, what: What, laid=None) -> tuple[float, Mismatch | None]:
    """The largest |hand − ref| / tol over all entries, and where it is (the first such entry, in the
    order of ``hand``'s keys): one comparison of the entries laid end to end (``laid``, when the caller
    has them: :func:`_end_to_end` of the three), not one per parameter."""
    keys, starts, (h, a, t) = _end_to_end(hand, ref, tol) if laid is None else laid
    if not keys:
        return 0.0, None
    r = share(Measured(h, t), Measured(a, 0.0))
    j = int(np.argmax(r))
    n = int(np.searchsorted(starts, j, side="right")) - 1  # the parameter entry j belongs to
    k = keys[n]
    i = tuple(int(e) for e in np.unravel_index(j - int(starts[n]), np.shape(hand[k])))
    mism = Mismatch(what, k, i, float(hand[k][i]), float(ref[k][i]), float(tol[k][i]))
    return max(float(r.max()), 0.0), mism


def _decide(
    model: Model, case: Case, ev: Evidence, t: _Table, r: int, row: _Row, drawn: bool, witness, referee: bool = True
) -> Verdict:
    """Rules 6 to 10 for one case, from its row ``r`` of the table."""
    hand, tol = row.hand, row.tol
    laid = row.laid or _end_to_end(hand, ev.grad, tol)
    h, a, tl = laid[2]
    worst, mism = _worst(hand, ev.grad, tol, What.GRADIENT, laid)
    scale = float(np.max(np.abs(a))) if a.size else 0.0
    diff = float(np.max(np.abs(h - a))) if h.size else 0.0  # NaN where the hand code gave a NaN
    rel = diff / scale if scale > 0 else (np.inf if diff > 0 else 0.0)
    resolved = scale > RESOLVED * (float(np.max(tl)) if tl.size else 0.0)
    v = Verdict(case, rel_error=rel if resolved or worst > 1 else 0.0, margin=worst, mismatch=mism)
    v.hand, v.reference, v.tolerance = hand, ev.grad, tol

    # rule 7 is read first, so that a wrong gradient's message can say the witnesses disagree too; a
    # verdict not yet refereed is judged again before it is printed, and its message waits till then
    # (a search that shrinks meets hundreds of wrong cases, and their finite differences are the cost).
    # Central differences that straddle a kink mislead the extrapolation: steps stop short of every kink
    def read_witnesses() -> str:
        return _witnesses(model, case, ev, t, r, hand, drawn and not row.on_kink.any(), witness)

    witnesses = read_witnesses() if referee else None
    # rule 6
    if worst > 1.0:
        v.kind, v.rule = Kind.WRONG, 6
        # a kink first: there no precision or path explains a discrepancy, and the path's own cases would
        # be judged at the same kink; a draft stays wrong by autodiff, as for the referee below
        if referee and witness is not None and _between_sides(case, ev, v, laid, row, witness):
            return v
        if all(np.all(np.isfinite(h)) for h in hand.values()):
            v.precision = _own_error(model, case, ev, hand, tol, witness, referee)
            if v.precision.explained:
                v.kind = Kind.INEXACT
            # the path θ/2ᵏ steps off a kink at once, and is then right: no loss of digits, a kink (a draft
            # meets it here; a refereed case asked above)
            kinked = not referee and v.precision.method in ("path", "loss", "jump") and witness is not None
            if kinked and _between_sides(case, ev, v, laid, row, witness):
                v.precision = None
                return v
        if v.kind == Kind.WRONG:
            note = _referee(model, case, ev, v) if referee else ""
            v.refereed = referee
            if v.kind == Kind.WRONG:
                v.message = (
                    f"{mism.where}: hand {mism.hand:.17g}, autodiff {mism.reference:.17g}{note}, "
                    f"difference {abs(mism.hand - mism.reference):.3g} > tolerance {mism.tolerance:.3g}"
                )
                if witnesses:
                    v.message += f"; and the witnesses disagree: {witnesses}"
                return v
    # rule 7
    if witnesses is None:
        witnesses = read_witnesses()
    if witnesses:
        v.kind, v.message, v.rule = Kind.WITNESSES, witnesses, 7
        return v
    # rule 8
    if t.lg is not None:
        if r in t.lg_problem:
            v.kind, v.message, v.rule = Kind.CONTRACT, t.lg_problem[r], 8
            return v
        if not t.lg_loss[r] <= 1.0:
            L, tol_L = float(t.lg_L[r]), 2.0 * ev.loss_err
            v.kind, v.what, v.rule = Kind.WRONG, What.LOSS_AND_GRAD, 8
            v.mismatch = Mismatch(What.LOSS_AND_GRAD, None, (), L, ev.loss, tol_L)
            v.message = (
                f"loss_and_grad's loss {L:.17g}, the loss {ev.loss:.17g}: difference {abs(L - ev.loss):.3g} > "
                f"tolerance {tol_L:.3g}"
            )
            return v
        # the reference is autodiff, or the referee where it overturned autodiff at rule 6
        ref = v.exact if v.exact is not None else ev.grad
        g = t.lg_hand.get(r, {})
        worst_lg, m = _worst(g, ref, {k: 2.0 * ev.grad_err[k] for k in g}, What.LOSS_AND_GRAD)
        # the same value as grad's (sklearn's grad is loss_and_grad's): judged already, inexact or not
        same = all(np.all(np.abs(g[k] - hand[k]) <= tol[k]) for k in g)
        if not same and not np.all(t.lg[r] <= 1.0) and worst_lg > 1.0:
            v.kind, v.what, v.mismatch, v.rule = Kind.WRONG, What.LOSS_AND_GRAD, m, 8
            v.message = (
                f"loss_and_grad's gradient {m.where}: {m.hand:.17g}, autodiff {m.reference:.17g}, "
                f"difference {abs(m.hand - m.reference):.3g} > tolerance {m.tolerance:.3g}; grad itself agrees, so "
                "the mistake is in loss_and_grad's copy of the formulas"
            )
            return v
    # rule 9
    if t.hess is not None:
        if r in t.hess_problem:
            v.kind, v.message, v.rule = Kind.CONTRACT, t.hess_problem[r], 9
            return v
        if t.hess[r] > 1.0:
            v = _hessian(model, case, ev, v, t.hess_hand[r])
            if v.kind.failed:
                return v
    # rule 10
    if v.kind == Kind.VERIFIED and np.all(np.abs(a) <= tl):
        v.kind, v.reason = Kind.INCONCLUSIVE, Reason.WITHIN_ROUNDING
    return v


def _referee(model: Model, case: Case, ev: Evidence, v: Verdict) -> str:
    """Before a gradient is called wrong: the exact referee (lab/verify/measure/referee.py), the loss's
    derivative as written at 60 digits. Where the hand value agrees with it, the hand code is right and
    autodiff broke its own bound (a bug in a rounding rule, kept in ``v.breach``): the case is verified.
    Returns the words that put the exact value beside hand and autodiff in the message."""
    from lab.verify.measure import referee  # mpmath: imported when a gradient looks wrong, not with the judge

    try:
        ex = referee.exact_gradient(model.module.loss, case.params, case.X, case.y, case.hyper, branches="float64")
    except referee.Unsupported as e:
        return f" (no exact referee: {e})"
    except Exception as e:  # the referee is a second opinion: its failure leaves the first one standing
        return f" (no exact referee: {type(e).__name__})"
    v.exact = {k: np.asarray(x, dtype=np.float64) for k, x in ex.value.items()}
    # where hand and autodiff disagree, the referee less sure of the value than the hand's tolerance can
    # neither confirm nor overturn (elsewhere autodiff's agreement stands, whatever the referee's error)
    disputed = {k: ~(np.abs(v.hand[k] - ev.grad[k]) <= v.tolerance[k]) for k in v.hand}
    unsure = [k for k in v.hand if np.any((np.asarray(ex.err[k], dtype=float) > ev.grad_err[k]) & disputed[k])]
    if unsure:
        return f" (the exact referee's own error exceeds the tolerance at {', '.join(unsure)})"
    # the hand value's error, unmeasured, is autodiff's bound for the same function (the module's docstring)
    agrees = all(
        np.all(agree(Measured(v.hand[k], ev.grad_err[k]), Measured(v.exact[k], np.asarray(ex.err[k], dtype=float))))
        for k in v.hand
    )
    m = v.mismatch
    exact_here = float(v.exact[m.param][m.index]) if m is not None and m.param is not None else np.nan
    if agrees:
        v.kind, v.rule = Kind.VERIFIED, 6
        v.margin = max(
            float(np.max(share(Measured(v.hand[k], ev.grad_err[k]), Measured(v.exact[k], ex.err[k])), initial=0.0))
            for k in v.hand
        )
        v.breach = (
            f"{m.where}: autodiff {m.reference:.17g}, exact {exact_here:.17g}, hand {m.hand:.17g}: autodiff is "
            f"off by {abs(m.reference - exact_here):.3g}, beyond its bound {float(ev.grad_err[m.param][m.index]):.3g}"
        )
        return ""
    return f", exact {exact_here:.17g}"


def _own_error(
    model: Model, case: Case, ev: Evidence, hand: dict, tol: dict, witness, referee: bool = True
) -> Precision:
    """Rule 6's measurement of the hand program's own error: reruns in other precisions, then the path."""
    p = explain(model, case, hand, ev.grad, tol)
    if p.explained or witness is None:
        return p
    walked = _continuation(model, case, witness, hand, ev.grad, tol, p.stable, referee)
    if walked != "digits":
        p.method = walked  # "jump": wrong, then right at once (a kink stepped off, or a cut-off), or ""
        return p
    # right on the way here. If the hand code keeps its digits in every precision and has not lost
    # magnitude (cancellation drives a value towards 0), the loss is what changed.
    kept = p.stable and all(
        np.all((np.abs(hand[k]) >= KEPT * np.abs(ev.grad[k])) | (np.abs(hand[k] - ev.grad[k]) <= tol[k])) for k in hand
    )
    p.explained, p.method = True, "loss" if kept else "path"
    return p


def _collapsed(hand: dict, grad: dict, tol: dict, stable: bool, scale: float, parts: dict | None = None) -> bool:
    """Is the discrepancy a loss of digits rather than a wrong value?

    Either the hand gradient lost its digits towards 0 (|h − g| ≤ |g|), or the hand program keeps
    its digits (``stable``) and the discrepancy is tiny, CUT_OFF of ``scale`` (the gradient's size
    along the path): then the loss program's derivative is what lost them, as a cut-off does.
    With ``parts`` (:func:`_parts`, the samples' parts of the gradient in absolute value, summed), a
    loss of digits is also any |h − g| up to them: each sample's part lost whole, which the total
    alone does not bound where parts of opposite signs meet.
    """
    reach = {k: np.abs(grad[k]) if parts is None else np.maximum(np.abs(grad[k]), parts[k]) for k in grad}
    return all(
        np.all(np.abs(hand[k] - grad[k]) <= reach[k] + tol[k]) or (stable and _cut_off(hand, grad, tol, scale, k))
        for k in grad
    )


def _cut_off(hand: dict, grad: dict, tol: dict, scale: float, k: str) -> bool:
    return bool(np.all(np.abs(hand[k] - grad[k]) <= CUT_OFF * scale + tol[k]))


def _loss_side(hand: dict, grad: dict, tol: dict, stable: bool, scale: float) -> bool:
    """The second way of :func:`_collapsed` alone: the hand keeps its digits and the discrepancy is a
    cut-off's, so the loss program is the side that lost them."""
    return stable and all(_cut_off(hand, grad, tol, scale, k) for k in grad)


def _parts(model: Model, case: Case, grad: dict, err: dict, witness) -> dict | None:
    """Per entry, Σ_i |g_i| / n: autodiff's gradient of each sample alone, where the loss is the mean of its
    samples' losses (checked: the parts add up to ``grad`` within their bounds, ``err`` and theirs). None
    for one sample, for a layer, or for a loss that is not such a mean (a GP's, a pairwise ranking)."""
    n = case.X.shape[0]
    if n < 2 or getattr(model.module, "KIND", None) == "layer":
        return None
    try:
        singles = [dataclasses.replace(case, X=case.X[i : i + 1], y=case.y[i : i + 1]) for i in range(n)]
        evs = [e for i in range(0, n, BATCH) for e in witness.evaluate(singles[i : i + BATCH], BATCH)]
    except Exception:  # a loss that needs more than one sample
        return None
    out = {}
    for k in grad:
        g = np.stack([np.asarray(e.grad[k]) for e in evs]) / n
        e = np.stack([np.asarray(e.grad_err[k]) for e in evs]) / n
        if not (np.all(np.isfinite(g)) and np.all(np.abs(g.sum(axis=0) - grad[k]) <= e.sum(axis=0) + err[k])):
            return None
        out[k] = np.abs(g).sum(axis=0)
    return out


def _size(g: dict) -> float:
    return max((float(np.max(np.abs(v))) for v in g.values() if np.size(v)), default=0.0)


#: The verdicts that count as right at a point of the path θ/2, θ/4, ...
RIGHT_ON_THE_PATH = (Kind.VERIFIED, Kind.INEXACT, Kind.INCONCLUSIVE)


def _continuation(
    model: Model, case: Case, witness, hand: dict, grad: dict, tol: dict, stable: bool, referee: bool = True
) -> str:
    """Does the discrepancy at θ fade along the path θ/2, θ/4, ..., θ/2¹⁰, as cancellation does? "digits"
    when it does, "jump" when the path is wrong and then right with no point between (below), else "".

    A correct formula that cancels (1 − 1/(1 + e^z) at z = −335) can lose every digit in every
    precision at hand, so no ladder of precisions shows it converging. Along the path to θ it
    cancels less and less: it is right (exactly, or within its own rounding) over the end of the
    path, and wherever it is wrong before that it has only lost digits (see :func:`_collapsed`). A mistake (a factor, a
    sign, a dropped or extra term, one wrong entry) stays wrong at the end of the path, and a
    wrong value (e^{−z} for e^{z}) is not a loss of digits.

    Digits the hand code lost come back somewhere on the way: between all lost and none, a point where
    it keeps some and a higher precision gives back the rest (an INEXACT verdict; 1 − σ(t) keeps a few
    of its digits for t from 2 to 37, which halving t cannot jump). A cut-off in the hand code
    (exp(clip(η, −30, 30))) goes from wrong straight to right: not a loss of digits. A cut-off in the
    loss program (the hand keeps its digits: :func:`_loss_side`) needs no such point.
    """
    half = {k: t / 2 for k, t in tol.items()}
    parts = functools.cache(lambda: _parts(model, case, grad, half, witness))  # asked for only where |g| is not enough
    if not stable and not _collapsed(hand, grad, tol, False, 0.0):
        if not _collapsed(hand, grad, tol, False, 0.0, parts()):
            return ""  # a wrong value, not lost digits: no need to walk the path
    path = [
        Case({k: np.asarray(v) * 0.5**j for k, v in case.params.items()}, case.X, case.y, case.hyper, case.sizes)
        for j in range(1, PATH + 1)
    ]
    evidence = witness.evaluate(path, BATCH)
    # the end of the path first: a case still wrong there is a mistake, whatever comes before it, and
    # a mistake is the common case here, so it costs one judgement (and one referee call) instead of ten
    last = next(judge_batch(model, path[-1:], evidence[-1:], referee=referee))
    if last.kind not in RIGHT_ON_THE_PATH:
        return ""
    verdicts = [*judge_batch(model, path[:-1], evidence[:-1], referee=referee), last]
    scale = max([_size(hand)] + [_size(r.reference) for r in verdicts if r.reference])
    if not (_collapsed(hand, grad, tol, stable, scale) or _collapsed(hand, grad, tol, stable, scale, parts())):
        return ""
    lost = not _loss_side(hand, grad, tol, stable, scale)  # the hand lost digits, not the loss program
    right = []
    for r in verdicts:
        ok = r.kind in RIGHT_ON_THE_PATH
        if not ok:
            if r.kind != Kind.WRONG or r.what != What.GRADIENT or not r.reference:
                return ""
            steady = r.precision is not None and r.precision.stable
            if not _collapsed(r.hand, r.reference, r.tolerance, steady, scale):
                there = _parts(model, r.case, r.reference, {k: t / 2 for k, t in r.tolerance.items()}, witness)
                if not _collapsed(r.hand, r.reference, r.tolerance, steady, scale, there):
                    return ""
            lost = lost or not _loss_side(r.hand, r.reference, r.tolerance, steady, scale)
        right.append(ok)
    # right over the end of the path, at two points at least. A point wrong before them has only lost
    # digits (checked above), but they need not come back in order: with several samples in a case, the
    # entry that is worst at one point may keep some digits while another loses all of them at the next
    first = len(right) - next((i for i, ok in enumerate(reversed(right)) if not ok), len(right))
    if len(right) - first < 2:
        return ""
    if lost and not any(r.kind == Kind.INEXACT for r in verdicts):
        return "jump"  # from wrong straight to right: a kink stepped off, or a cut-off in the hand code
    return "digits"


def _witnesses(model: Model, case: Case, ev: Evidence, t: _Table, r: int, hand, differences: bool, witness) -> str:
    """Rule 7: an empty string when forward mode, reverse mode and finite differences agree; else why not.

    A finite-difference witness whose steps leave the loss's domain, or whose bound is not finite,
    is no witness: it is left out rather than trusted. Central differences average the two sides of a
    kink, so where they miss forward mode, the loss's slope on either side is measured (:func:`_sides`):
    where the sides differ, the point is on a kink the model does not declare, and the differences are
    no witness there, as at a declared one; the cause named otherwise is the one the sides show.
    """
    keys = list(ev.grad)
    for i in range(len(ev.directions)):
        if t.forward[r, i] > 1.0:
            tol = t.dot_err[r, i] + t.jvp_err[r, i]
            return (
                f"forward mode gives {ev.jvp[i]:.17g} along direction {i} but reverse mode "
                f"gives {t.dot[r, i]:.17g} (tolerance {tol:.3g}); the loss is not differentiable here "
                "or uses a custom derivative rule"
            )
    if not differences or not ev.directions:
        return ""
    v = ev.directions[0]  # finite differences along the first direction: forward mode covers the rest
    step = kinks.max_step(model, case, v)
    if not step > 0:
        return ""
    fd, fd_err = fd_directional(model, case, v, ev.loss, float(ev.jvp[0]), ev.loss_err, max_step=step)
    if not (np.isfinite(fd) and np.isfinite(fd_err + ev.jvp_err[0])):
        return ""
    if agree(Measured(fd, fd_err), Measured(ev.jvp[0], ev.jvp_err[0])):
        return ""
    tol = fd_err + float(ev.jvp_err[0])
    hf = float(flatten(hand, keys) @ flatten(v, keys))
    said = f"autodiff gives {ev.jvp[0]:.17g} along direction 0 but finite differences give {fd:.17g}"
    said += f" (tolerance {tol:.3g})"
    # central differences average the two sides of a kink: the sides, measured, tell a kink from a cut
    measured = _sides(case, ev, [flatten(v, keys)], keys, witness)[0] if witness is not None else None
    if measured is None:
        return f"{said}; the loss is not differentiable here, or too ill-conditioned for finite differences"
    down, up = measured[:2]
    if not agree(down, up):
        # a kink along v: the differences straddle it and are no witness there, as at a declared kink (and
        # where kinks meet, forward mode's value, valid, need not lie between the line's two sides either)
        return ""
    hint = (
        "the hand gradient agrees with them, and autodiff's slope is the same on either side, so the loss has "
        "no kink here and autodiff is cut: a stop_gradient, or a value JAX sees as constant"
        if abs(hf - fd) <= tol
        else "the loss is too ill-conditioned here for finite differences"
    )
    return f"{said}; {hint}"


def _hessian(model: Model, case: Case, ev: Evidence, v: Verdict, H: np.ndarray) -> Verdict:
    """Rule 9 for a case whose hand Hessian missed its tolerance: measured like the gradient."""
    tol = 2.0 * ev.hessian_err
    if np.all(np.isfinite(H)):
        # a correct Hessian evaluated in another order carries rounding of its own, as a gradient does
        p = explain(model, case, {"H": H}, {"H": ev.hessian}, {"H": tol}, what="hessian")
        if p.explained:
            if v.kind == Kind.VERIFIED:
                v.kind, v.precision, v.rule = Kind.INEXACT, p, 9
            return v
    r = share(Measured(H, tol), Measured(ev.hessian, np.zeros_like(tol)))
    i = tuple(int(j) for j in np.unravel_index(int(np.argmax(r)), r.shape))
    v.kind, v.what, v.rule = Kind.WRONG, What.HESSIAN, 9
    v.mismatch = Mismatch(What.HESSIAN, None, i, float(H[i]), float(ev.hessian[i]), float(tol[i]))
    v.hand, v.reference, v.tolerance = {"H": H}, {"H": ev.hessian}, {"H": tol}
    v.message = (
        f"Hessian {v.mismatch.where}: hand {H[i]:.17g}, jax.hessian {ev.hessian[i]:.17g}, "
        f"difference {abs(H[i] - ev.hessian[i]):.3g} > tolerance {tol[i]:.3g}"
    )
    return v


# -- rules 3 and 4: the one-sided differences are the reference ----------------------------------------


def _coordinates(keys: list[str], template: dict) -> list[tuple[str, tuple[int, ...], dict]]:
    """One unit direction per parameter entry."""
    out = []
    for k in keys:
        for i in np.ndindex(np.shape(template[k])):
            e = {j: np.zeros(np.shape(template[j])) for j in keys}
            e[k][i] = 1.0
            out.append((k, i, e))
    return out


def sided(model: Model, case: Case, d: dict, h0: float, f_err: float) -> tuple[Measured, Measured]:
    """The one-sided derivatives of the loss along ``d`` (down, up), each measured; ``f_err`` bounds the
    rounding of a loss value (the witnesses' bound at θ)."""
    p0 = {k: np.asarray(case.params[k], dtype=float) for k in d}

    @functools.cache  # the difference tables and the rounding bound ask for the same points
    def f(t):
        with np.errstate(all="ignore"):
            return float(model.module.loss({k: p0[k] + t * d[k] for k in d}, case.X, case.y, **case.hyper))

    f_err = loss_rounding(model, case, d, (0.0, h0, -h0), f_err, f64=f)
    up, e_up = one_sided(f, h0, 1.0, f_err=f_err)
    down, e_down = one_sided(f, h0, -1.0, f_err=f_err)
    return Measured(down, e_down), Measured(up, e_up)


#: Where the exact referee is the reference (rules 3 and 5), the hand value, before its own rounding is
#: measured, is taken as this many ulps from the exact value at most (autodiff's bound, which stands for
#: its error elsewhere, is not finite there).
FEW_ULPS = 16.0
#: Rules 3 and 5 ask the referee for at most this many cases of a batch, the first that need it (the
#: drawn ones come first): one call costs 0.1 to 1 s (measured: logistic regression 0.3 s, a Cholesky
#: loss 0.7 to 1 s, at n ≤ 128), so a loss whose bound is infinite at every case costs at most that per
#: batch of 128. The other cases that need it are inconclusive. Counted per batch, so a batch is judged
#: the same whenever it is judged (a search replays batches while it shrinks).
REFEREED_PER_BATCH = 1
#: ... and only where its program makes at most this many operations on mpf numbers
#: (:func:`~lab.verify.measure.referee.cost`): 4 to 17 µs each were measured past a thousand, so a call
#: stays under about 2 s (scikit-learn's GP likelihood at n = 128 makes 1.2e7: 42 s).
REFEREE_OPS = 1e5


def _exact_gradient(model: Model, case: Case):
    """The referee's gradient at ``case`` (decisions taken as float64 takes them), or None and why not."""
    from lab.verify.measure import referee  # mpmath: imported when it is asked, not with the judge

    try:
        return referee.exact_gradient(
            model.module.loss, case.params, case.X, case.y, case.hyper, branches="float64"
        ), ""
    except referee.Unsupported as e:
        return None, f"no exact referee: {e}"
    except Exception as e:  # the referee is a second opinion: its failure leaves the first one standing
        return None, f"no exact referee: {type(e).__name__}"


def _against_exact(
    model: Model, case: Case, hand: dict, ex, rule: int, own: dict, known: dict | None = None, confirmed: bool = False
) -> Verdict:
    """The hand gradient against the referee's value ``ex``, the reference where autodiff gives none.

    A hand entry's error is taken as autodiff's bound ``own`` for the same entry where that is finite
    (as at rule 6), else :data:`FEW_ULPS` of the exact value; it agrees within that plus the referee's
    error. Where the exact value lies beyond the largest double, the hand's infinity of its sign is its
    float64 value, and a finite hand value is measured against it in the referee's digits. Entries the
    referee gives NaN, or with an error of its own beyond the hand's tolerance, have no reference,
    unless ``known`` marks them as witnessed already (rule 3's differences). A disagreement the hand
    program's own rounding explains (measured as at rule 6) is INEXACT. Any other is WRONG where
    autodiff's bound stood for the hand's error, where the hand value is not finite and the exact one
    is (or is an infinity of the other sign), or where a second reference found the same
    (``confirmed``: rule 3's differences); else INCONCLUSIVE, since the hand's error is then neither
    bounded nor measured. All entries agreeing is VERIFIED, and some without a reference,
    INCONCLUSIVE."""
    exact = {k: np.asarray(ex.value[k], dtype=np.float64) for k in hand}
    tol, shares, unknown = {}, {}, False
    for k in hand:
        h, x, mine = np.asarray(hand[k], dtype=float), exact[k], np.asarray(own[k], dtype=float)
        hand_tol = np.where(np.isfinite(mine), mine, FEW_ULPS * U * np.abs(x))
        tol[k] = np.asarray(ex.err[k], dtype=float) + hand_tol
        s = np.where(h == x, 0.0, share(Measured(h, 0.0), Measured(x, tol[k])))
        for i in map(tuple, np.argwhere(np.isinf(x) & np.isfinite(h))):  # beyond the largest double
            m = np.asarray(ex.mp[k], dtype=object)[i]  # measured in the referee's digits
            s[i] = float(abs(m - float(h[i])) / (FEW_ULPS * U * abs(m)))
        # the referee's own error beyond the hand's tolerance: it cannot tell right from wrong there
        unsure = (np.asarray(ex.err[k], dtype=float) > hand_tol) & ~(np.isinf(x) & (h == x))
        nan = np.isnan(x) | unsure if known is None else (np.isnan(x) | unsure) & ~known[k]
        unknown |= bool(nan.any())
        shares[k] = np.where(nan, 0.0, s)
    worst = max((float(np.max(s, initial=0.0)) for s in shares.values()), default=0.0)
    out = Verdict(case, hand=hand, rule=rule, margin=worst, exact=exact)
    out.reference, out.tolerance = exact, tol
    if worst <= 1.0:
        if unknown:
            out.kind, out.reason = Kind.INCONCLUSIVE, Reason.PART_UNREFERENCED if rule == 3 else Reason.BOUND_NOT_FINITE
        return out
    k, i = max(
        ((k, np.unravel_index(int(np.argmax(s)), s.shape)) for k, s in shares.items()), key=lambda t: shares[t[0]][t[1]]
    )
    i = tuple(int(j) for j in i)
    h, x = float(np.asarray(hand[k])[i]), float(exact[k][i])
    out.mismatch = Mismatch(What.GRADIENT, k, i, h, x, float(tol[k][i]))
    bad = {k: shares[k] > 1.0 for k in hand}
    hand_finite = all(np.all(np.isfinite(np.asarray(hand[k], dtype=float)[bad[k]])) for k in hand)
    if hand_finite and all(np.all(np.isfinite(exact[k][bad[k]])) for k in hand):
        # the hand program's own error where it disagrees; the entries that agree stay out of the question
        p = explain(model, case, hand, exact, {k: np.where(bad[k], tol[k], np.inf) for k in hand})
        if p.explained:
            out.kind, out.precision = Kind.INEXACT, p
            return out
    # a few ulps stood for the hand's error where autodiff's bound is not finite, and no rerun measured
    # it: the extended run is no proof where the code casts to float64 inside (scipy's svd), and a
    # near-singular solve may lose every digit. A wrong needs autodiff's bound, a hand value that is not
    # finite, or a second reference.
    if hand_finite and not (confirmed or all(np.all(np.isfinite(own[k])[bad[k]]) for k in hand)):
        out.kind, out.reason = Kind.INCONCLUSIVE, Reason.HAND_ERROR_UNMEASURED
        out.message = f"{out.mismatch.where}: hand {h:.17g}, exact {x:.17g}"
        return out
    out.kind = Kind.WRONG
    out.margin = worst if np.isfinite(worst) else np.inf  # a NaN hand value is as far off as can be
    rel = abs(h - x) / max(abs(x), 1e-300)
    out.rel_error = rel if np.isfinite(rel) else np.inf
    return out


def _differences_refereed(model: Model, case: Case, hand: dict, own: dict, v: Verdict) -> Verdict:
    """Rule 3's wrong ``v``, asked of the exact referee before it is printed. The differences' error is
    Ridders' estimate, not a bound: where the loss turns sharply within the steps (a clip met a
    23rd of the way into the first step) two extrapolations can agree on a wrong value. Where the
    referee has a finite value for every entry, it is the reference (:func:`_against_exact`), with the
    exact value added to the message. Without a referee the differences stand."""
    ex, why = _exact_gradient(model, case)
    if ex is None:
        v.message += f" ({why})"
        return v
    if not all(np.all(np.isfinite(np.asarray(x, dtype=float))) for x in ex.value.values()):
        return v
    out = _against_exact(model, case, hand, ex, 3, own, confirmed=True)
    if out.kind != Kind.WRONG:
        return out
    d, mism = v.mismatch, out.mismatch
    out.message = f"{v.message}; the exact referee gives {float(out.exact[d.param][d.index]):.17g} there"
    if mism.where != d.where:
        out.message += (
            f", and its worst disagreement is at {mism.where}: hand {mism.hand:.17g}, exact {mism.reference:.17g}"
        )
    return out


def _exact_only(
    model: Model, case: Case, hand: dict, own: dict, rule: int, spare: list[int], known: dict | None = None
) -> Verdict:
    """Rules 3 and 5 where autodiff gives no usable reference for some entries (``known``: the entries
    witnessed otherwise; ``own``: autodiff's bound): the exact referee is the reference, while the
    batch has a call to spare."""
    why = "autodiff's rounding bound is not finite here" if rule == 5 else "autodiff gives NaN or inf here"
    reason = Reason.BOUND_NOT_FINITE if rule == 5 else Reason.PART_UNREFERENCED
    if spare[0] <= 0:
        return Verdict(case, Kind.INCONCLUSIVE, reason=reason, rule=rule, hand=hand)
    from lab.verify.measure import referee  # mpmath: imported when it is asked, not with the judge

    try:
        ops = referee.cost(model.module.loss, case.params, case.X, case.y, case.hyper)
    except Exception as e:  # a program the referee cannot read is one it cannot run
        return Verdict(case, Kind.INCONCLUSIVE, reason=reason, rule=rule, hand=hand, message=type(e).__name__)
    if ops > REFEREE_OPS:
        said = f"the exact referee would make {ops:.3g} operations here, more than {REFEREE_OPS:.3g}"
        return Verdict(case, Kind.INCONCLUSIVE, reason=reason, rule=rule, hand=hand, message=said)
    spare[0] -= 1
    ex, no = _exact_gradient(model, case)
    if ex is None:
        return Verdict(case, Kind.INCONCLUSIVE, reason=reason, rule=rule, hand=hand, message=no)
    v = _against_exact(model, case, hand, ex, rule, own, known)
    if v.kind == Kind.WRONG:
        m = v.mismatch
        beyond = " (beyond the largest double)" if np.isinf(m.reference) else ""
        v.message = (
            f"{m.where}: hand {m.hand:.17g}, exact {m.reference:.17g}{beyond} by the exact referee, which is the "
            f"reference here: {why}"
        )
    return v


def _by_differences(
    model: Model, case: Case, ev: Evidence, hand, referee: bool = True, spare: list[int] | None = None
) -> Verdict:
    """Rule 3: where the loss is finite and autodiff is not, each entry of the hand gradient against the
    one-sided differences of the loss along its coordinate. A smooth loss has equal one-sided
    derivatives and the hand entry must match them; a hand entry that is NaN there is wrong. A wrong
    one is asked of the exact referee before it is printed (:func:`_differences_refereed`). Entries
    along which the loss leaves its domain within any step have no differences: the exact referee is
    their reference (:func:`_exact_only`), else the case is inconclusive."""
    keys = list(ev.grad)
    v = Verdict(case, hand=hand, rule=3)
    on_kink = kinks.at_kink(model, case)
    known = {k: np.zeros(np.shape(ev.grad[k]), dtype=bool) for k in keys}
    for k, i, e in _coordinates(keys, ev.grad):
        h0 = min(STEP * max(1.0, abs(float(np.asarray(case.params[k])[i]))), kinks.max_step(model, case, e, on_kink))
        if not h0 > 0:
            continue
        down, up = sided(model, case, e, h0, ev.loss_err)
        if not all(np.isfinite(x) for x in (down.value, up.value, down.err, up.err)):
            continue  # the loss leaves its domain within any step: no differences for this entry
        known[k][i] = True
        h = float(hand[k][i])
        lo, hi, slack = _span(down, up)
        if not (lo <= h <= hi):
            ref = 0.5 * (down.value + up.value)
            v.kind = Kind.WRONG
            v.mismatch = Mismatch(What.GRADIENT, k, i, h, ref, slack)
            v.margin, v.rel_error = np.inf, abs(h - ref) / max(abs(ref), 1e-300) if np.isfinite(h) else np.inf
            v.message = (
                f"{v.mismatch.where}: hand {h:.17g}, but the loss is finite here and its one-sided derivatives "
                f"are {down.value:.17g} and {up.value:.17g} (autodiff of the loss gives NaN or inf here: an "
                "intermediate value, or an untaken branch of a where, overflows)"
            )
            if not referee:
                v.refereed = False
                return v
            return _differences_refereed(model, case, hand, ev.grad_err, v)
    if not any(x.any() for x in known.values()):
        return Verdict(case, Kind.SKIPPED, reason=Reason.NO_FINITE_STEPS, rule=3)
    if all(x.all() for x in known.values()):
        return v
    return _exact_only(model, case, hand, ev.grad_err, 3, [REFEREED_PER_BATCH] if spare is None else spare, known)


def _subgradient(model: Model, case: Case, ev: Evidence, hand, on_kink: np.ndarray, witness) -> Verdict:
    """Rule 4: at kinks the hand gradient must be a valid subgradient: a point of the set spanned by the
    gradients of the regions that meet there.

    First along directions: the hand value must lie between the one-sided directional derivatives
    (:func:`_bracket`), which for one kink are exactly the ends of that set. Several kinks whose jumps
    have opposite signs widen the set beyond them, so a hand value outside is then tested against the
    set itself. Each sample on a kink is moved off it to either side by its knob
    (lab/verify/measure/kinks.py), and autodiff measures the gradient of each region there: ``g₀`` with
    every such sample on its first side and ``g₀ + J_i`` with sample i alone on its second. The kinks of
    different samples sit in different terms of the loss, so their jumps add: the valid subgradients are
    g₀ + Σ λ_i J_i with 0 ≤ λ_i ≤ 1 (λ_i = 0 or 1 takes one side, ½ is JAX's even split). The additivity
    is checked on the region where every sample is on its second side. Where the sides cannot be
    measured (a sample on two kinks at once, a knob that does not move its kink), there is no reference:
    the case is inconclusive.
    """
    keys = list(ev.grad)
    g = flatten(hand, keys)
    v = _bracket(model, case, ev, hand, on_kink)
    if v.kind == Kind.VERIFIED:
        return v
    witness = witness if witness is not None else Witness(model)

    def unclear() -> Verdict:
        return _off_the_point(case, ev, hand, on_kink, witness) or Verdict(
            case, Kind.INCONCLUSIVE, reason=Reason.KINKS_TOGETHER, rule=4, at_kink=True
        )

    around = kinks.sides(model, case)
    if around is None:
        return unclear()
    cases = [*around.base, *(c for pair in around.flip for c in pair), *around.other]
    evs = [e for i in range(0, len(cases), BATCH) for e in witness.evaluate(cases[i : i + BATCH], BATCH)]

    def side(e0: Evidence, e1: Evidence) -> Measured:  # the gradient one step off, its bound and its drift
        a, b = flatten(e0.grad, keys), flatten(e1.grad, keys)
        return Measured(a, flatten(e0.grad_err, keys) + np.abs(b - a))

    base, other = side(evs[0], evs[1]), side(evs[-2], evs[-1])
    flips = [side(evs[2 + 2 * i], evs[3 + 2 * i]) for i in range(len(around.flip))]
    if not all(np.all(np.isfinite(m.value)) for m in (base, other, *flips)):
        return unclear()
    J = np.stack([f.value - base.value for f in flips], axis=1)  # (entries, samples on kinks)
    F = np.stack([f.err + base.err for f in flips], axis=1)  # the error of each jump
    # additivity: the region of all second sides is g₀ + Σ J_i
    if not np.all(agree(other, Measured(base.value + J.sum(axis=1), base.err + F.sum(axis=1)))):
        return unclear()
    # the hand value's error, as rule 6 takes it: the bound of the region value it matches (and of the
    # value at the case), added to that region value's own
    E = flatten(ev.grad_err, keys) + 2.0 * base.err
    F = 2.0 * F
    # Which point of the set to compare with: the side the hand code itself takes for each sample, read
    # off the hand value with that sample alone moved to either side (a guess, checked against autodiff's
    # regions below); then the point nearest the hand value, by a linear program, rounded to the choices
    # code makes (one side, the other, the even split: λ_i ∈ {0, ½, 1}) and as it is.
    lam = _closest(g - base.value, J, E + F.sum(axis=1) / 2) if np.all(np.isfinite(g)) else None
    lam = np.full(J.shape[1], 0.5) if lam is None else lam
    for choice in (_own_sides(model, g, around, keys), np.round(2 * lam) / 2, lam):
        if choice is None:
            continue
        point = Measured(base.value + J @ choice, E + np.where(choice > 0, F, 0.0) @ choice)  # 0 · ∞ is 0 here
        r = share(Measured(g, np.zeros_like(g)), point)
        if np.all(r <= 1.0):
            ok = Verdict(case, hand=hand, reference=unflatten(point.value, ev.grad, keys), rule=4, at_kink=True)
            ok.tolerance = unflatten(point.err, ev.grad, keys)
            return ok
    at = int(np.argmax(r))
    k, i = _entry(keys, ev.grad, at)
    n = len(around.rows)
    v.kind, v.margin = Kind.WRONG, float(r[at])
    v.reference = unflatten(point.value, ev.grad, keys)
    v.tolerance = unflatten(point.err, ev.grad, keys)
    v.mismatch = Mismatch(What.GRADIENT, k, i, float(g[at]), float(point.value[at]), float(point.err[at]))
    scale = float(np.max(np.abs(point.value))) if point.value.size else 0.0
    v.rel_error = abs(float(g[at]) - float(point.value[at])) / max(scale, 1e-300) if np.isfinite(g[at]) else np.inf
    where = f"the {n} kinks it sits on" if n > 1 else "the kink it sits on"
    v.message = (
        f"at a kink of the loss the hand gradient is not a subgradient: {v.mismatch.where} is {g[at]:.17g}, "
        f"and no choice of side at {where} gives it; the nearest valid value is {point.value[at]:.17g} "
        f"(± {point.err[at]:.2g})"
    )
    v.diagnosis = v.message
    return v


def _off_the_point(case: Case, ev: Evidence, hand, on_kink: np.ndarray, witness) -> Verdict | None:
    """Where the knobs cannot reach the regions around the point (a sample on two kinks, a knob that
    would carry another kink across), rule 6's measurement instead: autodiff just off the point in
    parameter space (:func:`_between_sides`). Only a VERIFIED result is taken; anything else leaves the
    case without a reference (None)."""
    tol = {k: 2.0 * ev.grad_err[k] for k in hand}
    v = Verdict(case, hand=hand, reference=ev.grad, tolerance=tol, rule=4, at_kink=True)
    laid = _end_to_end(hand, ev.grad, tol)
    if _between_sides(case, ev, v, laid, _Row(hand, tol, on_kink), witness) and v.kind == Kind.VERIFIED:
        return v
    return None


def _own_sides(model: Model, g: np.ndarray, around: kinks.Sides, keys: list[str]) -> np.ndarray | None:
    """Per sample on a kink, the share λ ∈ {0, ½, 1} of its second side in the hand value ``g``: the
    one for which the hand value with that sample alone moved to its first and second sides, mixed, comes
    nearest ``g``. None when the hand code fails there."""
    out = np.zeros(len(around.alone))
    for i, (first, second) in enumerate(around.alone):
        try:
            a, b = (flatten(hand_gradient(model, c), keys) for c in (first, second))
        except Exception:
            return None
        out[i] = min((0.0, 0.5, 1.0), key=lambda mu: float(np.max(np.abs(g - a - mu * (b - a)), initial=0.0)))
    return out


def _closest(target: np.ndarray, J: np.ndarray, tol: np.ndarray, mix: bool = False) -> np.ndarray | None:
    """The λ for which J λ comes closest to ``target`` in the largest entry, each entry in units of its
    ``tol``: in [0, 1]ᵏ, or with ``mix`` a convex mix (λ ≥ 0, Σ λ = 1). A linear program, since there are
    often more samples on kinks than entries; None where it finds none."""
    from scipy.optimize import linprog  # scipy is slow to import: only runs at kinks pay for it

    use = np.isfinite(tol) & (tol > 0)
    k = J.shape[1]
    if not use.any() or k == 0:
        return np.full(k, 1.0 / k) if mix else np.zeros(k)
    A, b = J[use] / tol[use, None], target[use] / tol[use]
    size = max(float(np.max(np.abs(A))), float(np.max(np.abs(b))), 1e-300)  # one factor: numbers near 1
    A, b = A / size, b / size
    ones = np.ones((A.shape[0], 1))
    # minimize τ subject to −τ ≤ A λ − b ≤ τ, and 0 ≤ λ ≤ 1 or λ a mix
    res = linprog(
        np.r_[np.zeros(k), 1.0],
        A_ub=np.block([[A, -ones], [-A, -ones]]),
        b_ub=np.r_[b, -b],
        A_eq=np.r_[np.ones(k), 0.0][None, :] if mix else None,
        b_eq=[1.0] if mix else None,
        bounds=[(0.0, None if mix else 1.0)] * k + [(0.0, None)],
        method="highs",
    )
    if res.status != 0:
        return None
    lam = np.clip(res.x[:k], 0.0, None if mix else 1.0)
    return lam / lam.sum() if mix else lam


def _entry(keys: list[str], template: dict, at: int) -> tuple[str, tuple[int, ...]]:
    """The parameter and index of entry ``at`` of the flattened gradient."""
    for k in keys:
        size = int(np.size(template[k]))
        if at < size:
            return k, tuple(int(j) for j in np.unravel_index(at, np.shape(template[k])))
        at -= size
    raise IndexError(at)


def _bracket(model: Model, case: Case, ev: Evidence, hand, on_kink: np.ndarray) -> Verdict:
    """Rule 4 along directions: the hand value must lie between the one-sided directional derivatives,
    measured by finite differences whose steps cross no other kink. For one kink this is the subgradient
    set exactly; the hand code and the loss may disagree on which side a sample lies by the rounding of
    its score, which the autodiff error bound covers.
    """
    keys = list(ev.grad)
    v = Verdict(case, hand=hand, reference=ev.grad, tolerance={k: np.zeros_like(ev.grad[k]) for k in keys})
    v.at_kink, v.rule = True, 4
    g = flatten(hand, keys)
    eg = flatten(ev.grad_err, keys)
    directions = list(ev.directions)
    for block in keys:  # and the first coordinate of each parameter block
        e = {k: np.zeros_like(ev.grad[k]) for k in keys}
        e[block].flat[0] = 1.0
        directions.append(e)
    for i, d in enumerate(directions):
        dv = flatten(d, keys)
        h0 = min(STEP / max(float(np.linalg.norm(dv)), 1e-300), kinks.max_step(model, case, d, skip=on_kink))
        if not h0 > 0:
            continue
        down, up = sided(model, case, d, h0, ev.loss_err)
        if not (np.isfinite(down.value) and np.isfinite(up.value)):
            continue
        gv = float(g @ dv)
        slack = gamma(dv.size) * float(np.abs(g) @ np.abs(dv)) + 2 * float(eg @ np.abs(dv))
        # D₋ ≤ D₊ at a convex kink; where the two are nearly equal their estimates may fall either way
        lo = min(down.value - down.err, up.value - up.err) - slack
        hi = max(down.value + down.err, up.value + up.err) + slack
        if not (lo <= gv <= hi):
            v.kind = Kind.WRONG
            v.message = (
                f"at a kink of the loss the hand gradient is not a subgradient: along direction {i} "
                f"⟨g, v⟩ = {gv:.17g} is outside the one-sided derivatives [{down.value:.17g}, {up.value:.17g}]"
            )
            v.diagnosis = v.message
            v.margin = np.inf
            v.rel_error = max(down.value - gv, gv - up.value) / max(abs(down.value), abs(up.value), 1e-300)
            return v
    return v


def _span(down: Measured, up: Measured) -> tuple[float, float, float]:
    """The interval spanned by both one-sided derivatives, each with its error, widened by the rounding
    of their difference: (low end, high end, that widening)."""
    slack = float(down.err + up.err + 4 * gamma(1) * max(abs(down.value), abs(up.value)))
    return min(down.value, up.value) - slack, max(down.value, up.value) + slack, slack


#: Rule 6 measures the sides along the coordinates of at most this many disagreeing entries, the worst
#: first; the direction hand − autodiff covers them all.
SIDES = 64
#: How far rule 6 steps off a kink to measure each side, relative to the size of the parameters moved:
#: far above their rounding (2⁻⁵²), and small enough that the smooth part of the gradient barely moves.
OFF_KINK = 2.0**-26


def _sides(case: Case, ev: Evidence, directions: list[np.ndarray], keys: list[str], witness) -> list:
    """The loss's gradient on either side of θ along each flat direction d, measured: autodiff's gradient
    at θ ± τd, θ ± 2τd and θ ± 4τd, extrapolated to θ from each side (Richardson: 2g(τ) − g(2τ), which
    removes the smooth drift of the gradient over the step, first order in τ). Its error is autodiff's
    bounds at the points used plus the gap to the same extrapolation from 2τ and 4τ; a kink crossed
    within 4τ makes that gap large and the side unmeasured, never wrongly measured. Returns per
    direction the slopes along d (down, up) and the gradients (down, up), the limiting gradients of the
    regions that meet at θ, or None where a side is not finite."""
    theta = flatten({k: np.asarray(case.params[k], dtype=float) for k in keys}, keys)
    steps = (1.0, 2.0, 4.0, -1.0, -2.0, -4.0)
    moved = []
    for d in directions:
        tau = OFF_KINK * max(1.0, float(np.max(np.abs(theta[d != 0]))))
        for m in steps:
            p = unflatten(theta + m * tau * d, case.params, keys)
            moved.append(dataclasses.replace(case, params={**case.params, **p}))
    evidence = [e for i in range(0, len(moved), BATCH) for e in witness.evaluate(moved[i : i + BATCH], BATCH)]
    out = []
    for n, d in enumerate(directions):
        got = evidence[6 * n : 6 * n + 6]
        g = [flatten(e.grad, keys) for e in got]
        b = [flatten(e.grad_err, keys) for e in got]
        limits = []
        for o in (3, 0):  # down, then up
            near, far = 2 * g[o] - g[o + 1], 2 * g[o + 1] - g[o + 2]
            limits.append(Measured(near, np.abs(near - far) + 2 * b[o] + b[o + 1]))
        slopes = [
            Measured(float(m.value @ d), float(m.err @ np.abs(d) + gamma(d.size) * (np.abs(m.value) @ np.abs(d))))
            for m in limits
        ]
        finite = all(np.all(np.isfinite(m.value)) and np.all(np.isfinite(m.err)) for m in (*limits, *slopes))
        out.append((*slopes, *limits) if finite else None)
    return out


def _mixes(h: np.ndarray, h_err: np.ndarray, gradients: list[Measured]) -> bool:
    """Is ``h`` within its error of a convex mix of the measured ``gradients``, entry by entry? The gradients
    on the sides of a kink are limiting gradients of the regions that meet there, and every mix of them
    is a valid (Clarke) subgradient. The mix nearest ``h`` (:func:`_closest`), in units of h's error plus
    the largest error of the gradients, checked again in plain arithmetic, not the solver's."""
    G = np.stack([m.value for m in gradients], axis=1)  # (entries, gradients)
    T = h_err + np.max(np.stack([m.err for m in gradients], axis=1), axis=1)
    T = np.maximum(T, 1e-300 + 2.0**-52 * np.maximum(np.abs(h), np.max(np.abs(G), axis=1)))
    lam = _closest(h, G, T, mix=True)
    return lam is not None and bool(np.all(np.abs(G @ lam - h) <= T))


def _between_sides(case: Case, ev: Evidence, v: Verdict, laid, row: _Row, witness) -> bool:
    """Rule 6, before a gradient is called wrong: is the loss differentiable here at all?

    At a kink the model does not declare (an abs at 0, a max or a sort at a tie), autodiff gives one
    one-sided value among several valid ones, and the hand code may take another. Along hand − autodiff,
    then along the coordinate of each entry where they disagree (the worst first), the loss's gradient
    on either side is measured by autodiff just off θ (:func:`_sides`): the gradients of the regions
    that meet at θ. Last, every such entry is moved at once to the side the hand value takes, which
    adds that region's gradient.

    - A hand value that is a mix of them (or of autodiff's own), where some direction shows a kink, is
      valid at any kink: True, ``v`` VERIFIED.
    - Where the two sides of a direction agree, the loss is smooth along it and autodiff stands as the
      reference: False, ``v`` is left as it is (wrong).
    - Where every direction shows a kink, the interval between its sides is the reference, as at rule 3
      and as rule 4 first tries: True, VERIFIED if the hand value along each lies inside; outside one,
      INCONCLUSIVE, not WRONG. The sides bound the valid subgradients where the loss is convex near θ,
      but not where kinks meet with mixed signs, and an undeclared kink cannot be moved alone, as rule 4
      moves each sample.

    (Differences of the loss cannot see a kink that the rounding of a large loss hides; autodiff on
    either side sees it at any scale.)
    """
    hand = v.hand
    keys, starts, (h, a, tl) = laid
    if not np.all(np.isfinite(h)):
        return False
    r = share(Measured(h, tl), Measured(a, 0.0))
    bad = np.flatnonzero(r > 1.0)
    bad = bad[np.argsort(-r[bad], kind="stable")]
    if not bad.size:
        return False
    hand_err = flatten(row.tol, keys) / 2  # the hand value's error, as rule 6 takes it: autodiff's bound
    limits = [Measured(a, flatten(ev.grad_err, keys))]  # the gradients of the regions met, autodiff's first
    sides = []  # (entry or None for hand − autodiff, hand along it, its error, down, up)
    kinked = mixed = False  # the sides of some direction measured apart; the hand value a mix of the sides

    def place(j: int) -> str:
        n = int(np.searchsorted(starts, j, side="right")) - 1
        k = keys[n]
        i = np.unravel_index(j - int(starts[n]), np.shape(hand[k]))
        return k + (f"[{', '.join(str(int(e)) for e in i)}]" if i else "")

    def unit(j: int) -> np.ndarray:
        e = np.zeros_like(h)
        e[j] = 1.0
        return e

    # First hand − autodiff alone (the one coordinate, when one entry disagrees): a mistake is smooth
    # along it, and that one measurement decides. Then, if need be, the coordinates, the worst first.
    if bad.size > 1:
        d = np.zeros_like(h)
        d[bad] = (h - a)[bad]
        stages = [([None], [d / np.max(np.abs(d))]), ([int(j) for j in bad[:SIDES]], [unit(j) for j in bad[:SIDES]])]
    else:
        stages = [([int(bad[0])], [unit(bad[0])])]
    for at, directions in stages:
        measured = _sides(case, ev, directions, keys, witness)
        if any(m is None for m in measured):
            return False  # no measured reference along one: autodiff stands
        limits += [g for m in measured for g in m[2:]]
        kinked = kinked or any(not agree(m[0], m[1]) for m in measured)
        # at a kink, a mix of the gradients of the regions met on either side (or autodiff's own) is valid
        mixed = kinked and _mixes(h, hand_err, limits)
        if mixed:
            break
        if at == ["toward"]:  # the hand's own region: a gradient to mix, not a line to judge
            continue
        if len(at) > 1 and None not in at:
            # Which side of each coordinate's kink the hand value takes (the nearer of the two limits), and
            # all of them at once: where several kinks sit in separate terms (a layer's ReLU at each x = 0),
            # that region's gradient is the hand value, and no coordinate alone reaches it.
            u = np.zeros_like(h)
            for j, (_, _, g_down, g_up) in zip(at, measured, strict=True):
                u[j] = 1.0 if abs(h[j] - g_up.value[j]) <= abs(h[j] - g_down.value[j]) else -1.0
            stages.append((["toward"], [u]))
        for j, d, (down, up, _, _) in zip(at, directions, measured, strict=True):
            hv = float(h @ d)
            if agree(down, up):  # smooth along it: autodiff is the derivative there
                v.smooth = (
                    f"along {place(j) if j is not None else 'hand − autodiff'} the loss has no kink (autodiff's "
                    f"slope just off the point is {up.value:.6g} on either side), and the hand gives {hv:.6g}"
                )
                return False
            sides.append((j, hv, float(hand_err @ np.abs(d)), down, up))
    if mixed:
        v.kind, v.margin, v.rel_error, v.at_kink = Kind.VERIFIED, 0.0, 0.0, True
        v.message = (
            "at a kink of the loss: the hand gradient is a mix of the gradients autodiff measures just off "
            f"the point, on either side of it along {len(limits) // 2} direction{'s' if len(limits) > 3 else ''}"
        )
        return True

    v.at_kink = True
    for j, hv, hv_err, down, up in sorted(sides, key=lambda x: x[0] is None):  # an entry, rather than d, named
        lo, hi, _ = _span(down, up)
        if lo - hv_err <= hv <= hi + hv_err:
            continue
        # Outside: not a subgradient where the loss is convex near θ (a lasso's 2λ at 0). But where kinks
        # meet inside a network (ReLU units all at 0 before a layer of mixed signs), a valid one-sided
        # gradient can lie outside every line's sides, and which regions meet here is not declared.
        along = f"{place(j)} is {hv:.17g}" if j is not None else f"along hand − autodiff, hand gives {hv:.17g}"
        v.kind, v.reason, v.margin, v.rel_error = Kind.INCONCLUSIVE, Reason.UNDECLARED_KINK, 0.0, 0.0
        v.message = (
            f"at a kink of the loss that the model does not declare: {along}, outside the loss's one-sided "
            f"derivatives {down.value:.17g} and {up.value:.17g} there"
        )
        return True
    j, hv, _, down, up = next(x for x in sides if x[0] is not None)
    v.kind, v.margin, v.rel_error = Kind.VERIFIED, 0.0, 0.0
    v.message = (
        f"at a kink of the loss: {place(j)} is {hv:.17g}, between its one-sided derivatives "
        f"{down.value:.17g} and {up.value:.17g}"
    )
    return True

"""The search: Hypothesis draws cases for a model until one fails, then shrinks it."""

from __future__ import annotations

import gc
import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from hypothesis import Phase, Verbosity, example, given, settings
from hypothesis import seed as hseed
from hypothesis import strategies as st

from lab.model import Model
from lab.verify.case import BATCH, Case
from lab.verify.explain.diagnosis import diagnose
from lab.verify.judge import Verdict, judge_batch
from lab.verify.measure import kinks
from lab.verify.measure.autodiff import OutOfTime, TraceError, Witness
from lab.verify.measure.hand import hand_gradients
from lab.verify.runtime.programs import STORE
from lab.verify.runtime.source_key import code_key
from lab.verify.runtime.store import file_hash
from lab.verify.search.cases import Explicit, cases, every_shape, fill
from lab.verify.search.profiles import PROFILES, same_draws_everywhere
from lab.verify.vocabulary import Kind, Status

#: A pass needs this many conclusive cases. Fewer means the search checked almost nothing: a loss
#: that is NaN nearly everywhere, or a gradient below rounding at every drawn point. One compiled
#: batch holds 128 cases, so a model that verifies at all clears it with its first example.
MIN_CASES = 100
#: The audit of the rounding bounds: verified cases are checked against the exact referee, one per
#: batch, until this many gradient entries are audited; small cases only (a referee call costs ~10 ms).
AUDIT_ENTRIES, AUDIT_SIZE = 64, 64


@dataclass
class ModelReport:
    """What verifying one model found."""

    model: str
    status: Status = Status.PASS
    cases: int = 0  # conclusive cases checked (right, or right but inexact)
    max_error: float = 0.0  # worst relative error of the hand gradient against autodiff
    max_margin: float = 0.0  # worst error over tolerance (≤ 1 passes)
    outside: int = 0  # cases skipped (the loss itself is not finite there), counted by reason in ``skipped``
    skipped: Counter = field(default_factory=Counter)  # by Reason
    inconclusive: Counter = field(default_factory=Counter)  # cases that prove nothing, by reason
    inexact: int = 0  # cases right in mathematics whose hand program loses digits to rounding
    precision: Verdict | None = None  # the inexact case that loses the most digits
    failure: Verdict | None = None
    message: str = ""
    derivation: str = ""  # ok, or the first problem found
    extra: dict = field(default_factory=dict)
    audited: int = 0  # entries of autodiff's gradient checked against the exact referee (the audit)
    held: int = 0  # of those, the ones within their rounding bound
    breaches: list[str] = field(default_factory=list)  # where a bound did not hold: a bug in a rounding rule

    @property
    def mostly_inconclusive(self) -> bool:
        """A pass on fewer conclusive cases than inconclusive ones: read it with care."""
        return sum(self.inconclusive.values()) > self.cases


class _Found(Exception):
    def __init__(self, verdict: Verdict):
        super().__init__(verdict.message)
        self.verdict = verdict


class _Overturned(Exception):
    """The exact referee sided with the hand code at the case a search shrank to."""


def verify(
    model: Model,
    profile: str = "ci",
    examples: int | None = None,
    seed: int | None = None,
    on_case: Callable[[int], None] | None = None,
) -> ModelReport:
    """Search for a case where ``model``'s hand gradient disagrees with the witnesses.

    The exact referee (rule 6) costs about a tenth of a second a case, and a search that shrinks meets
    hundreds of wrong cases: it is asked only of the case the search ends on, before that one is
    printed. When it sides with the hand code there, autodiff broke its bound, and the search runs
    again with the referee asked at every wrong case."""
    # what exists before the search (the imported modules, JAX's many objects) outlives it: the collector's
    # full passes need not walk it (a twentieth of a warm network's search)
    gc.freeze()
    try:
        return _search(model, profile, examples, seed, on_case, referee=False)
    except _Overturned:
        return _search(model, profile, examples, seed, on_case, referee=True)
    finally:
        gc.unfreeze()


def _search(model, profile, examples, seed, on_case, referee: bool) -> ModelReport:
    report = ModelReport(model.name)
    if model.kink_order is not None and not callable(getattr(model.module, "kink_distance", None)):
        report.status = Status.ERROR
        report.message = f"KINK_ORDER = {model.kink_order} is declared but kink_distance(params, X, y) is not"
        return report
    witness = Witness(model)
    kw, scales = PROFILES[profile]
    kw = dict(kw)
    if examples is not None:
        kw["max_examples"] = examples
    if seed is not None:
        kw["derandomize"] = False

    first: list = []  # the first failing case, before shrinking: the widest evidence for a diagnosis
    # Once a case Hypothesis drew has failed, the search shrinks what it drew, so the random fill is left
    # out: a smaller example then fails by its own cases (the reproducer it prints), and each try costs
    # those cases alone instead of a batch of 128. A failure found in the fill keeps the fill throughout,
    # so every example the shrinker replays gives the answer it gave before.
    drawn_failed: list[bool] = []
    explicit: list = []  # a failure among the examples of every shape, kept for when Hypothesis finds none

    @settings(
        settings.get_profile(profile),
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
        **kw,
    )
    @given(cases(model, scales), st.integers(0, 2**32 - 1))
    def check(drawn, fill_seed):
        if explicit and isinstance(drawn, Explicit):  # only the first explicit failure is ever used
            return
        batch = list(drawn) if drawn_failed and drawn_failed[0] else fill(model, drawn, BATCH, fill_seed, scales)
        evidence_of = witness.start(batch, BATCH)
        hands = hand_gradients(model, batch)  # the hand side, while XLA computes the witnesses
        evidence = evidence_of()
        audit_next = [report.audited < AUDIT_ENTRIES]  # one verified case of this batch joins the audit
        # finite differences (the slow witness) on the drawn cases; both autodiff modes on all
        verdicts = judge_batch(model, batch, evidence, drawn=len(drawn), witness=witness, referee=referee, hands=hands)
        for i, verdict in enumerate(verdicts):
            if verdict.kind == Kind.SKIPPED:
                report.outside += 1
                report.skipped[verdict.reason] += 1
                continue
            if verdict.kind == Kind.INCONCLUSIVE:
                report.inconclusive[verdict.reason] += 1
                continue
            report.cases += 1
            if on_case:
                on_case(report.cases)
            if verdict.kind == Kind.INEXACT:
                report.inexact += 1
                if report.precision is None or verdict.precision.digits < report.precision.precision.digits:
                    report.precision = verdict
            if verdict.breach:
                report.breaches.append(verdict.breach)
            if verdict.kind == Kind.VERIFIED:
                report.max_error = max(report.max_error, verdict.rel_error)
                report.max_margin = max(report.max_margin, verdict.margin)
                if audit_next[0] and verdict.case.X.size <= AUDIT_SIZE:
                    audit_next[0] = False
                    _audit(model, verdict.case, evidence[i], report)
            elif verdict.kind.failed:
                if isinstance(drawn, Explicit):  # not shrinkable: let Hypothesis search and shrink first
                    explicit.append(verdict)
                    return
                if not first:
                    first.append(verdict)
                    drawn_failed.append(i < len(drawn))
                raise _Found(verdict)

    try:
        shapes = every_shape(model, scales)  # a layer's forward runs here, for its output's shape
        for drawn, fill_seed in reversed(shapes):  # decorators apply bottom-up: first shape first
            check = example(drawn, fill_seed)(check)
        witness.prefetch([drawn for drawn, _ in shapes], BATCH)
        if seed is not None:
            check = hseed(seed)(check)
        with same_draws_everywhere():
            check()
        if explicit:
            raise _Found(explicit[0])
        if report.cases < MIN_CASES:
            report.status, report.message = Status.ERROR, _too_few(report)
    except _Found as found:
        if not found.verdict.refereed:  # asked of the referee now, before it is printed
            found.verdict = _refereed(model, witness, found.verdict)
        report.status, report.failure = Status.FAIL, found.verdict
        report.message = found.verdict.message
        wide = first[0] if first and first[0].case.X.shape[0] > found.verdict.case.X.shape[0] else None
        found.verdict.diagnosis = diagnose(model, witness, found.verdict, wide)
        if found.verdict.kind == Kind.CONTRACT:
            report.status = Status.ERROR
        else:
            report.max_error = max(report.max_error, found.verdict.rel_error)
            report.max_margin = max(report.max_margin, found.verdict.margin)
    except TraceError as e:
        report.status, report.message = Status.ERROR, str(e)
    except OutOfTime as e:  # XLA's threads stay stuck: the caller should end the process
        report.status, report.message = Status.ERROR, str(e)
        report.extra["stuck"] = True
    except NotImplementedError as e:
        report.status = Status.ERROR
        report.message = (
            f"not implemented: {e or 'loss or grad raises NotImplementedError'} (fill in {model.source.name})"
        )
    return report


def _refereed(model: Model, witness: Witness, v):
    """``v``'s case judged again with the exact referee; :class:`_Overturned` when it is no longer wrong."""
    again = next(judge_batch(model, [v.case], witness.evaluate([v.case], BATCH), drawn=1, witness=witness))
    if not again.kind.failed:
        raise _Overturned
    return again


def _audit(model: Model, case: Case, ev, report: ModelReport) -> None:
    """Autodiff's gradient at a verified case against the exact referee: does each entry lie within its
    rounding bound? A breach is a bug in a rounding rule, kept in the report. The result is kept in the
    program store under a hash of the loss's code, the case, and the values and bounds audited, so a warm
    run does not audit the same numbers again."""
    key = _audit_key(model, case, ev)
    kept = STORE.get(key) if key else None
    if kept is not None:
        held, total, *found = kept.decode().split("\n")
        report.held, report.audited = report.held + int(held), report.audited + int(total)
        report.breaches += [b for b in found if b]
        return
    from lab.verify.measure import referee  # mpmath: imported when a run audits, not with the engine

    # decisions (comparisons, argmax) as float64 takes them where a sample sits on a kink, else exactly
    branches = "float64" if kinks.at_kink(model, case).any() else "real"
    try:
        ex = referee.exact_gradient(model.module.loss, case.params, case.X, case.y, case.hyper, branches=branches)
    except Exception:  # no referee for this loss (an unknown primitive): nothing audited
        return
    a = referee.audit(ev.grad, ev.grad_err, ex)
    found = referee.breaches(ev.grad, ev.grad_err, ex) if a.held < a.total else []
    report.audited += a.total
    report.held += a.held
    report.breaches += found
    if key:
        STORE.put(key, "\n".join([str(a.held), str(a.total), *found]).encode())


def _audit_key(model: Model, case: Case, ev) -> str | None:
    code = code_key(model.module.loss)
    if code is None:
        return None
    h = hashlib.sha256(f"audit\n{code}\n{file_hash(referee_file())}\n{sorted(case.hyper.items())}".encode())
    for a in (*case.params.values(), case.X, case.y, *ev.grad.values(), *ev.grad_err.values()):
        h.update(np.ascontiguousarray(np.asarray(a, dtype=np.float64)).tobytes())
    return "a-" + h.hexdigest()


def referee_file() -> str:
    return str(Path(__file__).resolve().parents[1] / "measure" / "referee.py")


def _too_few(r: ModelReport) -> str:
    """Why a search that found no mistake checked too little to pass, in one line."""
    skipped, unclear = sum(r.skipped.values()), sum(r.inconclusive.values())
    total = r.cases + skipped + unclear
    if r.cases == 0 and skipped == total and len(r.skipped) == 1:
        reason = next(iter(r.skipped))
        reason = {"the loss is not finite": "the loss is not finite at any drawn point"}.get(reason, reason)
        return f"nothing was checked: {reason} ({total} cases drawn)"
    parts = [f"{n} skipped: {why}" for why, n in r.skipped.most_common()]
    parts += [f"{n} inconclusive: {why}" for why, n in r.inconclusive.most_common()]
    return f"only {r.cases} of {total} cases could be checked, fewer than {MIN_CASES} ({'; '.join(parts)})"

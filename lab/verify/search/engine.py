"""The search: Hypothesis draws cases for a model until one fails, then shrinks it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from hypothesis import Phase, Verbosity, example, given, settings
from hypothesis import seed as hseed
from hypothesis import strategies as st

from lab.model import Model
from lab.verify.case import BATCH, Case
from lab.verify.explain.diagnosis import diagnose
from lab.verify.judge import Verdict, judge_batch
from lab.verify.measure.autodiff import OutOfTime, TraceError, Witness
from lab.verify.search.cases import Explicit, cases, every_shape, fill, shape_menu
from lab.verify.search.profiles import PROFILES, same_draws_everywhere

#: A pass needs this many conclusive cases. Fewer means the search checked almost nothing: a loss
#: that is NaN nearly everywhere, or a gradient below rounding at every drawn point. One compiled
#: batch holds 128 cases, so a model that verifies at all clears it with its first example.
MIN_CASES = 100


@dataclass
class ModelReport:
    """What verifying one model found."""

    model: str
    status: str = "pass"  # pass, fail, error
    cases: int = 0  # conclusive cases checked (right, or right but inexact)
    max_error: float = 0.0  # worst relative error of the hand gradient against autodiff
    max_margin: float = 0.0  # worst error over tolerance (≤ 1 passes)
    outside: int = 0  # cases skipped (the loss itself is not finite there), counted by reason in ``skipped``
    skipped: Counter = field(default_factory=Counter)
    inconclusive: Counter = field(default_factory=Counter)  # cases that prove nothing, by reason
    inexact: int = 0  # cases right in mathematics whose hand program loses digits to rounding
    precision: Verdict | None = None  # the inexact case that loses the most digits
    failure: Verdict | None = None
    message: str = ""
    derivation: str = ""  # ok, or the first problem found
    extra: dict = field(default_factory=dict)


class _Found(Exception):
    def __init__(self, verdict: Verdict):
        super().__init__(verdict.message)
        self.verdict = verdict


def verify(
    model: Model,
    profile: str = "ci",
    examples: int | None = None,
    seed: int | None = None,
    on_case: Callable[[int], None] | None = None,
) -> ModelReport:
    """Search for a case where ``model``'s hand gradient disagrees with the witnesses."""
    report = ModelReport(model.name)
    witness = Witness(model)
    kw, scales = PROFILES[profile]
    kw = dict(kw)
    if examples is not None:
        kw["max_examples"] = examples
    if seed is not None:
        kw["derandomize"] = False

    first: list = []  # the first failing case, before shrinking: the widest evidence for a diagnosis
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
        batch = fill(model, drawn, BATCH, fill_seed, scales)
        evidence = witness.evaluate(batch, BATCH)
        # finite differences (the slow witness) on the drawn cases; both autodiff modes on all
        for verdict in judge_batch(model, batch, evidence, drawn=len(drawn), witness=witness):
            if verdict.kind == "outside":
                report.outside += 1
                report.skipped[verdict.reason] += 1
                continue
            if verdict.kind == "inconclusive":
                report.inconclusive[verdict.reason] += 1
                continue
            report.cases += 1
            if on_case:
                on_case(report.cases)
            if verdict.kind == "inexact":
                report.inexact += 1
                if report.precision is None or verdict.precision.digits < report.precision.precision.digits:
                    report.precision = verdict
            if verdict.kind == "pass":
                report.max_error = max(report.max_error, verdict.rel_error)
                report.max_margin = max(report.max_margin, verdict.margin)
            elif not verdict.ok:
                if isinstance(drawn, Explicit):  # not shrinkable: let Hypothesis search and shrink first
                    explicit.append(verdict)
                    return
                if not first:
                    first.append(verdict)
                raise _Found(verdict)

    shapes = every_shape(model, scales)
    for drawn, fill_seed in reversed(shapes):  # decorators apply bottom-up: first shape first
        check = example(drawn, fill_seed)(check)
    witness.prefetch([drawn for drawn, _ in shapes], BATCH)
    if seed is not None:
        check = hseed(seed)(check)
    try:
        with same_draws_everywhere():
            check()
        if explicit:
            raise _Found(explicit[0])
        if report.cases < MIN_CASES:
            report.status, report.message = "error", _too_few(report)
    except _Found as found:
        report.status, report.failure = "fail", found.verdict
        report.message = found.verdict.message
        wide = first[0] if first and first[0].case.X.shape[0] > found.verdict.case.X.shape[0] else None
        found.verdict.diagnosis = diagnose(model, witness, found.verdict, wide)
        if found.verdict.kind == "contract":
            report.status = "error"
        else:
            report.max_error = max(report.max_error, found.verdict.rel_error)
            report.max_margin = max(report.max_margin, found.verdict.margin)
    except TraceError as e:
        report.status, report.message = "error", str(e)
    except OutOfTime as e:  # XLA's threads stay stuck: the caller should end the process
        report.status, report.message = "error", str(e)
        report.extra["stuck"] = True
    except NotImplementedError as e:
        report.status = "error"
        report.message = (
            f"not implemented: {e or 'loss or grad raises NotImplementedError'} (fill in {model.source.name})"
        )
    return report


def prefetch(models: list[Model]) -> None:
    """Start loading the stored programs of ``models``, in order, in the background: a run of several
    models then judges one while the next one's programs load."""
    for model in models:
        witness = Witness(model)
        zeros = []
        for n, d, sizes in shape_menu(model):
            params = {k: np.zeros(np.shape(v)) for k, v in model.init(d, **sizes).items()}
            hyper = {k: float(lo) for k, (lo, _) in model.hyperparameters.items()}
            zeros.append([Case(params, np.zeros((n, d)), np.zeros(n), hyper, dict(sizes))])
        witness.prefetch(zeros, BATCH, stored_only=True)


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

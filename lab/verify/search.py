"""The search: Hypothesis draws cases for a model until one fails, then shrinks it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import Phase, Verbosity, given, settings
from hypothesis import seed as hseed
from hypothesis import strategies as st

from lab.model import Model
from lab.verify.cases import BATCH, cases, fill
from lab.verify.diagnosis import diagnose
from lab.verify.judge import Verdict, judge
from lab.verify.profiles import PROFILES
from lab.verify.witnesses import TraceError, Witness


@dataclass
class ModelReport:
    """What verifying one model found."""

    model: str
    status: str = "pass"  # pass, fail, error
    cases: int = 0
    max_error: float = 0.0  # worst relative error of the hand gradient against autodiff
    max_margin: float = 0.0  # worst error over tolerance (≤ 1 passes)
    outside: int = 0  # cases skipped because the loss itself is not finite there (e^z past 709)
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

    @settings(
        settings.get_profile(profile),
        database=None,
        phases=[Phase.generate, Phase.shrink],
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
        **kw,
    )
    @given(cases(model, scales), st.integers(0, 2**32 - 1))
    def check(drawn, fill_seed):
        batch = fill(model, drawn, BATCH, fill_seed, scales)
        evidence = witness.evaluate(batch, BATCH)
        # finite differences (the slow witness) on the drawn cases; both autodiff modes on all
        pairs = enumerate(zip(batch, evidence, strict=True))
        for verdict in (judge(model, c, ev, finite_differences=i < len(drawn)) for i, (c, ev) in pairs):
            if verdict.kind == "outside":
                report.outside += 1
                continue
            report.cases += 1
            if on_case:
                on_case(report.cases)
            if verdict.ok:
                report.max_error = max(report.max_error, verdict.rel_error)
                report.max_margin = max(report.max_margin, verdict.margin)
            else:
                if not first:
                    first.append(verdict)
                raise _Found(verdict)

    if seed is not None:
        check = hseed(seed)(check)
    try:
        check()
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
    except NotImplementedError as e:
        report.status = "error"
        report.message = (
            f"not implemented: {e or 'loss or grad raises NotImplementedError'} (fill in {model.source.name})"
        )
    return report

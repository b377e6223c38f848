"""The report: a table for people, JSON for programs, and a reproducer for a failure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lab.verify.search.engine import ModelReport
from lab.verify.vocabulary import Kind, Status


def table(reports: list[ModelReport]) -> str:
    """One row per model: name, cases checked and skipped, worst relative error, worst error/tolerance,
    derivation, status; then a line for every model whose cases were skipped, proved nothing, or
    were right but inexact."""
    head = ("model", "checked", "skipped", "worst error", "of tolerance", "derivation", "status")
    rows = [head]
    for r in reports:
        rows.append(
            (
                r.model,
                str(r.cases),
                str(r.outside + sum(r.inconclusive.values())),
                f"{r.max_error:.1e}",
                _share(r.max_margin),
                r.derivation or "-",
                _status(r),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [
        "  ".join(
            c.ljust(w) if i in (0, 5, 6) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [line for r in reports for line in _notes(r)]
    audited = sum(r.audited for r in reports)
    if audited:
        held = sum(r.held for r in reports)
        notes.append(f"rounding bounds audited against the exact referee: held at {held} of {audited} entries")
    return "\n".join(line.rstrip() for line in lines + ([""] + notes if notes else []))


def _status(r: ModelReport) -> str:
    if r.status == Status.PASS:
        return "verified, mostly inconclusive" if r.mostly_inconclusive else "verified"
    return {Status.FAIL: "FAIL", Status.ERROR: "ERROR"}[r.status]


def _notes(r: ModelReport) -> list[str]:
    """What the row's counts hide: why cases were skipped, how many proved nothing, lost digits."""
    out = []
    total = r.cases + r.outside + sum(r.inconclusive.values())
    for why, n in r.skipped.most_common():
        out.append(f"{r.model}: {n} of {total} cases skipped: {why}")
    unclear = sum(r.inconclusive.values())
    if unclear:
        mostly = " (most of them: read this verdict with care)" if r.mostly_inconclusive else ""
        whys = "; ".join(f"{n} {why}" for why, n in r.inconclusive.most_common())
        out.append(f"{r.model}: {unclear} of {total} cases inconclusive{mostly}: {whys}")
    if r.breaches:
        out.append(
            f"{r.model}: autodiff broke its rounding bound at {len(r.breaches)} entries, by the exact referee "
            f"(a bug in a rule of lab/verify/measure/rounding.py; please report it): {r.breaches[0]}"
        )
    if r.inexact and r.precision is not None:
        out.append(f"{r.model}: right but inexact at {r.inexact} of {r.cases} cases: {precision_note(r.precision)}")
    return out


def precision_note(v) -> str:
    """One sentence on the digits an inexact hand gradient keeps, and how we know it is rounding."""
    p = v.precision
    # the reference the hand value was measured against: the exact referee where autodiff gave none
    ref = "the exact value" if v.rule in (3, 5) and v.exact is not None else "autodiff"
    if p.method == "loss":
        return (
            f"the loss program is the inexact side ({p.where}): your grad keeps its digits in extended "
            "precision, and agrees with autodiff at θ/2, θ/4, ...; here the loss takes a branch whose exact "
            "derivative differs from the function it stands for (a cut-off such as log1pexp(z) = z for large z?)"
        )
    if p.method == "single":
        return (
            f"your {p.what} computes in float32 ({p.where}): every entry it returns is a float32 number, and it keeps "
            f"{int(round(p.digits))} of 16 digits at worst, within float32's rounding of {ref} (a case with "
            f"{v.case.size_words()}); the formula is right, and float64 would keep the rest"
        )
    how = {
        "extended": f"in extended precision it converges to {ref}",
        "float32": "its error grows by the ratio of float32's rounding to float64's in float32",
        "path": "on the path θ/2, θ/4, ... it is right at the end, and wherever it is wrong it only loses "
        "digits (it is off by no more than its samples' parts of the gradient, each lost whole)",
    }[p.method]
    return (
        f"your {p.what} keeps {int(round(p.digits))} of 16 digits at worst ({p.where}, a case with "
        f"{v.case.size_words()}); "
        f"{how}, so the formula is right and its evaluation order loses the digits (a cancellation?)"
    )


def _share(x: float) -> str:
    if not np.isfinite(x):
        return "inf"
    return f"{x:.0%}" if x <= 10 else f"{x:.1e}×"


def failures(reports: list[ModelReport]) -> str:
    """The shrunk counterexample of every model that did not pass."""
    out = []
    for r in reports:
        if r.status == "pass":
            continue
        out.append(f"\n{r.model}: {r.status.upper()}: {r.message}")
        if r.failure is not None and r.failure.kind != Kind.CONTRACT:
            c = r.failure.case
            out.append(f"  shrunk counterexample: {c.size_words()}")  # a layer's axes, a model's n and d
            if r.failure.diagnosis:
                out.append(f"  diagnosis: {r.failure.diagnosis}")
            out.append("  reproduce with:\n" + "\n".join("    " + s for s in reproducer(r).splitlines()))
    return "\n".join(out)


def _lit(a) -> str:
    a = np.asarray(a)
    text = np.array2string(a, separator=", ", precision=17, floatmode="unique", threshold=10**6, max_line_width=10**6)
    return f"np.array({text})"


def reproducer(r: ModelReport) -> str:
    """A Python snippet that recomputes the failing case with the lab and with JAX."""
    c = r.failure.case
    params = "{" + ", ".join(f"{k!r}: {_lit(v)}" for k, v in c.params.items()) + "}"
    hyper = "".join(f", {k}={v!r}" for k, v in c.hyper.items())
    spec = r.extra.get("spec", r.model)
    return "\n".join(
        [
            "import numpy as np",
            "import lab, lab.verify.runtime.jax_config as J",
            f"model = lab.load({spec!r})",
            f"params = {params}",
            f"X = {_lit(c.X)}",
            f"y = {_lit(c.y)}",
            f"print(model.module.grad(params, X, y{hyper}))",
            f"print(J.jax.grad(lambda p: model.module.loss(p, J.jnp.asarray(X), J.jnp.asarray(y){hyper}))"
            "({k: J.jnp.asarray(v) for k, v in params.items()}))",
        ]
    )


def to_json(reports: list[ModelReport]) -> list[dict]:
    out = []
    for r in reports:
        f = r.failure
        counter = None
        if f is not None and f.kind != Kind.CONTRACT:
            counter = {
                "params": {k: np.asarray(v).tolist() for k, v in f.case.params.items()},
                "X": f.case.X.tolist(),
                "y": f.case.y.tolist(),
                "hyperparameters": f.case.hyper,
                "where": f.mismatch.where if f.mismatch else None,
                "hand": f.mismatch.hand if f.mismatch else None,
                "reference": f.mismatch.reference if f.mismatch else None,
                "tolerance": f.mismatch.tolerance if f.mismatch else None,
                "reproducer": reproducer(r),
            }
        out.append(
            {
                "model": r.model,
                "status": r.status,
                "mostly_inconclusive": r.mostly_inconclusive,
                "cases": r.cases,
                "cases_outside_domain": r.outside,
                "cases_skipped": dict(r.skipped),
                "cases_inconclusive": dict(r.inconclusive),
                "cases_inexact": r.inexact,
                "audit": {"held": r.held, "entries": r.audited, "breaches": r.breaches},
                "precision": precision_note(r.precision) if r.precision is not None else None,
                "max_error": r.max_error if np.isfinite(r.max_error) else None,
                "max_error_over_tolerance": r.max_margin if np.isfinite(r.max_margin) else None,
                "derivation": r.derivation,
                "message": r.message,
                "diagnosis": (f.diagnosis or f.message) if f is not None else None,
                "verdict": {"kind": f.kind, "what": f.what} if f is not None else None,
                "counterexample": counter,
            }
        )
    return out


def write_json(reports: list[ModelReport], path: str | Path) -> None:
    Path(path).write_text(json.dumps(to_json(reports), indent=2) + "\n", encoding="utf-8")

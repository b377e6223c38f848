"""One case walked through the judge's rules (lab/verify/judge.py), with the numbers each rule read.

``lab verify NAME --explain`` prints it for the first case the search draws, or for the point of
``--at``. It reads the evidence and the verdict; it decides nothing itself.
"""

from __future__ import annotations

import numpy as np

from lab.model import Model
from lab.verify.case import Case
from lab.verify.judge import Measured, Verdict, share
from lab.verify.measure.autodiff import Evidence, flatten
from lab.verify.measure.rounding import gamma

RULES = {
    1: "contract: grad runs and returns the keys and shapes of params",
    2: "a reference exists: the loss is finite",
    3: "autodiff is finite (else the one-sided differences are the reference, and the exact referee along "
    "coordinates where the loss has no finite steps)",
    4: "no sample on a kink of the gradient (else the set of valid subgradients is the reference)",
    5: "autodiff's error bound is finite somewhere (else the exact referee is the reference)",
    6: "hand agrees with autodiff: |h − g| ≤ err(h) + err(g), entry by entry",
    7: "the witnesses agree: forward mode with reverse mode, finite differences with forward mode",
    8: "loss_and_grad agrees with the loss and autodiff",
    9: "the hand Hessian agrees with jax.hessian",
    10: "the reference can tell right from wrong: autodiff stands clear of its error bound",
}


def walk(model: Model, case: Case, ev: Evidence, v: Verdict) -> str:
    """The rules in order, each with what it read for this case, up to the one that decided ``v``."""
    lines = [f"{model.name}: one case, {case.size_words()}; the rules of lab/verify/judge.py in order"]

    def say(rule: int, text: str) -> None:
        mark = "decides" if rule == v.rule else "passes"
        lines.append(f"  {rule:>2}. {RULES[rule]}\n      {text} -> {mark}")

    if v.rule == 1:
        say(1, v.message)
        return _end(lines, v)
    say(1, "grad returns " + ", ".join(f"{k} {np.shape(g)}" for k, g in v.hand.items()) if v.hand else "grad runs")
    say(2, f"loss = {ev.loss:.17g} ± {ev.loss_err:.3g}")
    if v.rule == 2:
        return _end(lines, v)
    finite = all(np.all(np.isfinite(g)) for g in ev.grad.values())
    say(3, "autodiff is finite at every entry" if finite else "autodiff is NaN or inf at some entry")
    if v.rule == 3:
        return _end(lines, v)
    say(4, "a sample sits on a kink: judged against the valid subgradients" if v.rule == 4 else "no sample on a kink")
    if v.rule == 4:
        return _end(lines, v)
    keys = list(ev.grad)
    E = flatten(ev.grad_err, keys)
    say(5, f"the bound is finite at {int(np.sum(np.isfinite(E)))} of {E.size} entries")
    if v.rule == 5:
        return _end(lines, v)
    m = v.mismatch
    if m is not None:
        of = _of(float(share(Measured(m.hand, m.tolerance), Measured(m.reference, 0.0))))
        say(
            6,
            f"worst entry {m.where}: hand {m.hand:.17g}, autodiff {m.reference:.17g}; "
            f"|h − g| = {abs(m.hand - m.reference):.3g}, err(h) + err(g) = {m.tolerance:.3g} "
            f"({of} it)" + _own(v)
            + ("; but autodiff's gradients just off the point show a kink here, and they are the reference"
               if v.at_kink and v.rule == 6 else ""),
        )  # fmt: skip
    if v.rule == 6:
        return _end(lines, v)
    g = flatten(ev.grad, keys)
    parts = []
    for i, dv in enumerate(ev.directions):
        vf = flatten(dv, keys)
        err = float(np.abs(vf) @ E + gamma(vf.size) * (np.abs(g) @ np.abs(vf)))
        parts.append(f"⟨g, v{i}⟩ = {float(g @ vf):.17g} ± {err:.3g}, forward {ev.jvp[i]:.17g} ± {ev.jvp_err[i]:.3g}")
    say(7, "; ".join(parts) or "no directions")
    if v.rule == 7:
        return _end(lines, v)
    has_lg = callable(getattr(model.module, "loss_and_grad", None))
    say(8, "loss_and_grad agrees" if has_lg else "the model defines no loss_and_grad")
    if v.rule == 8:
        return _end(lines, v)
    say(9, "the hand Hessian agrees" if ev.hessian is not None else "the model defines no hessian")
    if v.rule == 9:
        return _end(lines, v)
    T = flatten(v.tolerance, keys) if v.tolerance else 2 * E
    top, bound = float(np.max(np.abs(g), initial=0.0)), float(np.max(T, initial=0.0))
    say(10, f"max |g| = {top:.3g}, largest error bound {bound:.3g}")
    return _end(lines, v)


def _own(v: Verdict) -> str:
    """What rule 6's measurement of the hand program's own error found, when it was measured."""
    p = v.precision
    if p is None:
        return ""
    if p.explained:
        return f"; the hand program's own error explains it ({p.method})"
    if p.method == "jump":
        return "; on the path θ/2ᵏ the hand goes from wrong straight to right: a cut-off or a kink, not lost digits"
    return "; the hand program's own error (reruns in other precisions, the path θ/2ᵏ) does not explain it"


def _end(lines: list[str], v: Verdict) -> str:
    why = v.message or (str(v.reason) if v.reason else "")
    lines.append(f"verdict: {v.kind}" + (f" ({v.what})" if v.kind.failed and v.what != "gradient" else "")
                 + (f": {why}" if why else ""))  # fmt: skip
    return "\n".join(lines)


def _of(x: float) -> str:
    """A share of a tolerance: "40% of", or "4.5e+15 times" where a percentage would run to many digits."""
    return f"{x:.0%} of" if x <= 100 else f"{x:.3g} times"

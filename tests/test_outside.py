"""Verdicts that hold on code the lab did not write: no false alarm on a correct gradient, no vacuous pass.

Every module in tests/outside/ is a model file written in someone else's style (scikit-learn's
Cython losses behind a hand chain rule, course notebooks, micrograd, statsmodels, tutorials).
Each declares ``EXPECT``:

- ``"verified"``: the gradient is correct (perhaps evaluated in another order); the verifier must
  pass it, having checked at least 100 cases, and must pass it at extreme scales too. A module may
  also declare ``OVERFLOWS``: the one failure its code earns where an intermediate overflows and the
  loss does not; a run may fail with that phrase and no other, and a test shows it at such a point;
- ``"not finite"``: the loss is NaN everywhere; the verifier must refuse it as an error, not pass
  a run that checked nothing;
- any other phrase: a seeded mistake; the verifier must fail it and its diagnosis must contain
  the phrase.

A module may declare ``KNOWN = "issue N: ..."``: a verdict the verifier gets wrong today, for a
reason in a part being rewritten. Its ``test_verdict`` is then a strict xfail: when the fix lands it
passes, the xfail fails, and the declaration is removed.
"""

import ast
from pathlib import Path

import pytest

from lab.model import load
from lab.verify.search.engine import verify

OUTSIDE = Path(__file__).resolve().parent / "outside"
FILES = sorted(p for p in OUTSIDE.glob("*.py") if not p.name.startswith("_"))


def _expect(path: Path, name: str = "EXPECT") -> str | None:
    """The module's ``EXPECT`` (or another declaration), read without importing it (collection stays cheap)."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    if name == "EXPECT":
        raise AssertionError(f"{path.name} declares no EXPECT")
    return None


VERIFIED = [p for p in FILES if _expect(p) == "verified"]


def _explain(r) -> str:
    """The report in one line and, for a failure, the case in full (17 digits), to replay it with lab.check."""
    diagnosis = r.failure.diagnosis if r.failure is not None else ""
    out = f"status {r.status}, {r.cases} cases, {r.outside} outside: {r.message} | {diagnosis}"
    if r.failure is not None:
        import numpy as np

        c = r.failure.case
        with np.printoptions(precision=17, threshold=10_000):
            out += f"\ncase: params={c.params!r} X={c.X!r} y={c.y!r} hyper={c.hyper!r}"
    return out


def test_the_folder_is_populated():
    assert len(FILES) >= 25
    assert VERIFIED and len(VERIFIED) < len(FILES)


def _known(paths):
    """``paths`` as parameters, each module that declares ``KNOWN`` marked as a strict xfail."""
    out = []
    for p in paths:
        known = _expect(p, "KNOWN")
        marks = [pytest.mark.xfail(strict=True, reason=known)] if known else []
        out.append(pytest.param(p, id=p.stem, marks=marks))
    return out


@pytest.mark.parametrize("path", _known(FILES))
def test_verdict(path):
    expect = _expect(path)
    model = load(str(path))
    assert model.module.EXPECT == expect
    r = verify(model, profile="ci")
    if expect == "verified":
        _passes(path, r)
        assert r.cases >= 100, _explain(r)
    elif expect == "not finite":
        assert r.status == "error", _explain(r)
        assert "not finite" in r.message, _explain(r)
    else:
        assert r.status == "fail", _explain(r)
        assert expect in r.failure.diagnosis, _explain(r)


@pytest.mark.slow
@pytest.mark.parametrize("path", _known(VERIFIED))
def test_no_false_alarm_at_extreme_scales(path):
    """Features up to 1e6, scores up to 1e4, near-collinear columns, repeated rows, n = 1."""
    _passes(path, verify(load(str(path)), profile="extreme", examples=20))


def _passes(path: Path, r) -> None:
    """A pass; or, for a module that declares ``OVERFLOWS``, a failure with that phrase; or, for one that
    declares ``RAISES``, the contract error its own code earns (it raises there) with that phrase."""
    overflows, raises = _expect(path, "OVERFLOWS"), _expect(path, "RAISES")
    if overflows is not None and r.status == "fail":
        assert overflows in r.message, _explain(r)
    elif raises is not None and r.status == "error" and r.failure is not None:
        assert raises in r.message, _explain(r)
    else:
        assert r.status == "pass", _explain(r)


def test_a_cancellation_whose_worst_entry_moves_along_the_path_is_inexact_not_wrong():
    """Scores in the hundreds at two samples: b[2] loses every digit of p_y − 1 at θ, and on the path θ/2ᵏ it keeps
    some at θ/8 while W[0, 1] loses its own at θ/16 and θ/32; right from θ/64 on. It was once wrong, read
    as "right from some point on" failing at the early inexact point."""
    import numpy as np

    from lab.verify.search.point import check

    model = load(str(OUTSIDE / "softmax_true_class_shift.py"))
    W = np.array([[0.0038475356732050226, -0.005000144917302483, 0.006004455688294572]])
    b = np.array([-0.3045085389025448, 0.7041036000421297, 0.19479350486650482])
    X, y = np.array([[108122.26738928098], [-166902.8168464526]]), np.array([2.0, 1.0])
    at = check(model, {"W": W, "b": b}, X, y)
    assert at.exit_code == 0 and "inexact" in str(at) and "path" in str(at), str(at)


def test_a_term_read_on_a_wider_case_is_named_at_the_case_shown_too():
    """Hand − true = −α(1 − 1/n)·w: read on a wider case (n = 24, α = 6) c is −5.75, at the case shown
    (n = 2, α = 1) it is −0.5. The term was once named with the wider case's c alone, beside a case where it
    is another; now each c is named with its case, and each was tested by removal."""
    import numpy as np

    from lab.verify.case import BATCH, Case
    from lab.verify.explain.diagnosis import diagnose
    from lab.verify.judge import judge
    from lab.verify.measure.autodiff import Witness

    model = load(str(OUTSIDE / "mistake_penalty_over_nobs.py"))
    w = Witness(model)
    rng = np.random.default_rng(0)
    verdicts = []
    for X, y, alpha in [
        (np.zeros((2, 1)), np.zeros(2), 1.0),
        (rng.standard_normal((24, 3)), rng.poisson(1.0, 24).astype(float), 6.0),
    ]:
        case = Case({"w": np.ones(X.shape[1]), "b": np.zeros(())}, X, y, {"alpha": alpha})
        verdicts.append(judge(model, case, w.evaluate([case], BATCH)[0], witness=w))
    shown, wide = verdicts
    said = diagnose(model, w, shown, wide=wide)
    assert "c = -0.5 at the case shown and -5.75 on a wider case (n = 24, d = 3, alpha = 6)" in said, said
    alone = diagnose(model, w, shown)  # it probes a wider case itself: n = 24 at the same α, c = −(1 − 1/24)
    assert "c = -0.5 at the case shown and -0.958333 on a wider case (n = 24, d = 3, alpha = 1)" in alone, alone


def test_sklearns_tweedie_identity_gradient_overflows_where_the_loss_is_finite():
    """raw = 7e-265: raw^(−1.5) overflows in sklearn's gradient; the derivative is 3.8e131."""
    import numpy as np

    from lab.verify.search.point import check

    model = load(str(OUTSIDE / "sk_tweedie_identity.py"))
    at = check(model, {"w": np.zeros(1), "b": np.asarray(7.056234972170661e-265)}, np.zeros((1, 1)), np.zeros(1))
    assert at.exit_code == 1 and model.module.OVERFLOWS in str(at), str(at)
    fine = check(model, {"w": np.zeros(1), "b": np.asarray(1e-100)}, np.zeros((1, 1)), np.zeros(1))
    assert fine.exit_code == 0, str(fine)

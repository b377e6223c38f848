"""Verdicts that hold on code the lab did not write: no false alarm on a correct gradient, no vacuous pass.

Every module in tests/outside/ is a model file written in someone else's style (scikit-learn's
Cython losses behind a hand chain rule, course notebooks, micrograd, statsmodels, tutorials).
Each declares ``EXPECT``:

- ``"verified"``: the gradient is correct (perhaps evaluated in another order); the verifier must
  pass it, having checked at least 100 cases, and must pass it at extreme scales too;
- ``"not finite"``: the loss is NaN everywhere; the verifier must refuse it as an error, not pass
  a run that checked nothing;
- any other phrase: a seeded mistake; the verifier must fail it and its diagnosis must contain
  the phrase.
"""

import ast
from pathlib import Path

import pytest

from lab.model import load
from lab.verify.search import verify

OUTSIDE = Path(__file__).resolve().parent / "outside"
FILES = sorted(p for p in OUTSIDE.glob("*.py") if not p.name.startswith("_"))


def _expect(path: Path) -> str:
    """The module's ``EXPECT``, read without importing it (collection stays cheap)."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "EXPECT" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path.name} declares no EXPECT")


VERIFIED = [p for p in FILES if _expect(p) == "verified"]


def _explain(r) -> str:
    diagnosis = r.failure.diagnosis if r.failure is not None else ""
    return f"status {r.status}, {r.cases} cases, {r.outside} outside: {r.message} | {diagnosis}"


def test_the_folder_is_populated():
    assert len(FILES) >= 25
    assert VERIFIED and len(VERIFIED) < len(FILES)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_verdict(path):
    expect = _expect(path)
    model = load(str(path))
    assert model.module.EXPECT == expect
    r = verify(model, profile="ci")
    if expect == "verified":
        assert r.status == "pass", _explain(r)
        assert r.cases >= 100, _explain(r)
    elif expect == "not finite":
        assert r.status == "error", _explain(r)
        assert "not finite" in r.message, _explain(r)
    else:
        assert r.status == "fail", _explain(r)
        assert expect in r.failure.diagnosis, _explain(r)


@pytest.mark.parametrize("path", VERIFIED, ids=[p.stem for p in VERIFIED])
def test_no_false_alarm_at_extreme_scales(path):
    """Features up to 1e6, scores up to 1e4, near-collinear columns, repeated rows, n = 1."""
    r = verify(load(str(path)), profile="extreme", examples=20)
    assert r.status == "pass", _explain(r)

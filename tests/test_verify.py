"""The verifier: it passes correct gradients, catches and names seeded mistakes, and explains itself."""

import json
import os
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from searches import mutant_report

from lab import model as registry
from lab.cli import main
from lab.scaffold import new
from lab.verify.case import Case, pick, signs
from lab.verify.explain.mutations import MUTATIONS, mutant
from lab.verify.judge import judge
from lab.verify.measure.autodiff import Witness
from lab.verify.measure.differences import finite_difference
from lab.verify.measure.rounding import U, bounded
from lab.verify.runtime.jax_config import jax, jnp
from lab.verify.search.engine import verify

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
MODELS = registry.names()
PAIRS = [(m, mu) for m in MODELS for mu in MUTATIONS if mu.applies(registry.get(m))]


@pytest.mark.parametrize("name", MODELS)
def test_correct_gradients_pass(name):
    r = verify(registry.get(name), profile="ci")
    assert r.status == "pass", r.message
    assert r.cases >= 40
    # the audit: autodiff's rounding bound holds against the exact referee at every audited entry
    assert r.audited > 0 and r.held == r.audited, r.breaches
    assert r.max_margin <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_no_false_alarm_at_extreme_scales(name):
    """Features up to 1e6, scores up to 1e4, near-collinear columns, repeated rows, n = 1.

    Each example checks BATCH = 128 cases, so thorough checks 20,480 cases per model and ci 6,400.
    """
    examples = {"thorough": 160, "ci": 50}.get(PROFILE, 12)
    r = verify(registry.get(name), profile="extreme", examples=examples)
    assert r.status == "pass", r.message
    assert r.cases >= examples


@pytest.mark.parametrize(("name", "mutation"), PAIRS, ids=[f"{m}-{mu.name}" for m, mu in PAIRS])
def test_mutation_is_caught_and_named(name, mutation):
    """Caught, and named by what the counterexample shows: an index of w within its d entries, n its own
    number of samples, and words for several samples only when it has several."""
    r = mutant_report(name, mutation.name)
    assert r.status == "fail"
    text = r.failure.diagnosis
    assert mutation.expect in text, text
    n, d = r.failure.case.X.shape
    for i in re.findall(r"\bw\[(\d+)\]", text):
        assert int(i) < d, text
    for m in re.findall(r"n = (\d+)", text):
        assert int(m) == n, text
    assert "from 1 to 1" not in text
    if n == 1:
        assert not re.search(r"\b(samples?|rows?)\b", text), text


def test_hypothesis_writes_an_explicit_example_in_one_short_line():
    """Hypothesis writes out every explicit example it runs, failing or not; the cases' arrays made that
    2% of a search. It writes their count and sizes instead."""
    from hypothesis.vendor.pretty import pretty

    from lab.verify.search.cases import every_shape

    examples = every_shape(registry.load("nets/char_mlp"))
    text = pretty(examples[-1][0])
    assert text.startswith("Explicit(") and "\n" not in text and len(text) < 120, text
    assert str(len(examples[-1][0])) in text and str(examples[-1][0][0].sizes) in text


def test_every_kind_of_mutation_is_applied():
    """At least ten kinds of mistake, and every model gets at least eight of them."""
    assert len(MUTATIONS) >= 10
    for name in MODELS:
        assert sum(mu.applies(registry.get(name)) for mu in MUTATIONS) >= 8


def test_detects_a_relative_1e_minus_6_error_on_ordinary_data():
    """Sharp detection: one entry off by a relative 1e-6 fails on a plain random case."""
    model = registry.get("multivariate_linear_regression")
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((30, 5)), rng.standard_normal(30)
    case = Case({"w": rng.standard_normal(5), "b": np.asarray(0.3)}, X, y)
    ev = Witness(model).evaluate([case], 4)[0]
    assert judge(model, case, ev).ok
    bad = mutant(model, next(mu for mu in MUTATIONS if mu.name == "one_entry_1e-6"))
    v = judge(bad, case, ev)
    assert not v.ok and v.mismatch.where == "w[0]"
    # the tolerance there is far below the error: detection works down to about this relative size
    assert v.mismatch.tolerance / abs(v.mismatch.reference) < 1e-11


def test_rounding_bound_holds_against_exact_arithmetic():
    """The running error bound of a float64 sum covers its true error (exact via fractions)."""
    from fractions import Fraction

    rng = np.random.default_rng(0)
    x = rng.standard_normal(1000) * 10.0 ** rng.integers(-8, 8, 1000)
    (s,), (e,) = jax.jit(bounded(lambda v: [jnp.sum(v * v)]))(x)
    exact = sum(Fraction(float(a)) ** 2 for a in x)
    assert abs(Fraction(float(s)) - exact) <= Fraction(float(e))
    assert float(e) <= 1000 * U * float(np.sum(x * x)) * 1.01  # and it is not vacuous


def test_finite_difference_error_estimate():
    d, err, _ = finite_difference(np.exp, 0.5)
    assert abs(d - 1.0) <= 2 * err + 1e-15 and err < 1e-9


def test_the_three_difference_tables_share_half_their_steps():
    """fd_directional's tables at h0, h0/2¹⁰ and h0/2²⁰ (20 central steps each, halving) meet on the
    steps they have in common, so the loss runs 80 times for the tables, not 120, and the difference
    is still right."""
    from types import SimpleNamespace

    from lab.verify.measure.differences import fd_directional

    base = registry.get("multivariate_linear_regression")
    points = []

    def loss(params, X, y):
        points.append(float(params["b"]))
        return base.module.loss(params, X, y)

    model = SimpleNamespace(module=SimpleNamespace(loss=loss))
    rng = np.random.default_rng(0)
    case = Case(
        {"w": rng.standard_normal(3), "b": np.asarray(0.5)}, rng.standard_normal((10, 3)), rng.standard_normal(10)
    )
    v = {"w": np.zeros(3), "b": np.asarray(1.0)}
    slope = float(base.module.grad(case.params, case.X, case.y)["b"])
    value = float(base.module.loss(case.params, case.X, case.y))
    d, err = fd_directional(model, case, v, value, slope, 4 * U * value)
    assert abs(d - slope) <= err < 1e-7 * abs(slope)
    assert len(set(points)) <= 81  # θ itself, then the tables' steps on both sides
    assert sum(p != 0.5 for p in set(points)) == 80


def test_witnesses_disagree_on_a_stop_gradient(tmp_path):
    """A loss whose autodiff is cut is its own verdict, naming the likely cause."""
    src = (registry.get("multivariate_linear_regression").source).read_text()
    src = src.replace("    return xp.mean(r * r)", "    import jax\n    return xp.mean(r * jax.lax.stop_gradient(r))")
    f = tmp_path / "cut_mse.py"
    f.write_text(src)
    model = registry.load(str(f))
    rng = np.random.default_rng(0)
    case = Case(
        {"w": rng.standard_normal(3), "b": np.asarray(0.5)}, rng.standard_normal((10, 3)), rng.standard_normal(10)
    )
    w = Witness(model)
    v = judge(model, case, w.evaluate([case], 4)[0], witness=w)
    assert not v.ok
    # the hand gradient agrees with finite differences, and autodiff's slope just off the point is the
    # same on either side (no kink): autodiff is cut
    assert "stop_gradient" in v.message and "no kink here" in v.message, v.message


def test_loss_that_does_not_trace_is_a_usage_error(tmp_path, capsys):
    src = registry.get("multivariate_linear_regression").source.read_text()
    f = tmp_path / "numpy_mse.py"
    f.write_text(src.replace("return xp.mean(r * r)", "return np.mean(np.asarray(r) ** 2)"))
    assert main(["verify", "--module", str(f), "--examples", "3"]) == 2
    assert "cannot trace" in capsys.readouterr().out


@pytest.mark.parametrize(
    "slip, says",
    [
        (("np.sum(np.logaddexp(0.0, z) - y[rows] * z)", "np.sum(np.logaddexp(0.0, z))"), "loss_and_grad's loss"),
        (("g = sigmoid(z) - y[rows]", "g = y[rows] - sigmoid(z)"), "loss_and_grad's gradient"),
        (("return total / n + 0.5 * lam", "return total + 0.5 * lam"), "loss_and_grad's loss"),
    ],
)
def test_a_wrong_loss_and_grad_is_caught_while_grad_is_right(tmp_path, slip, says):
    """loss_and_grad repeats loss and grad for training; a slip in that copy alone fails verify and
    names loss_and_grad, though grad and the Hessian are right."""
    src = registry.get("logistic_regression").source.read_text()
    bad = src.replace(*slip)
    assert bad != src, "the loss_and_grad of logistic_regression changed"
    f = tmp_path / "bad_fused.py"
    f.write_text(bad)
    r = verify(registry.load(str(f)), profile="ci")
    assert r.status == "fail" and r.failure.what == "loss_and_grad", r.message
    assert says in r.message and says in r.failure.diagnosis


def test_hessian_mistake_is_caught(tmp_path):
    src = registry.get("logistic_regression").source.read_text()
    f = tmp_path / "bad_hessian.py"
    bad = src.replace("    return H\n", "    return 2 * H\n")  # the whole Hessian: its λ part too
    assert bad != src, "the Hessian weight line of logistic_regression changed"
    f.write_text(bad)
    r = verify(registry.load(str(f)), profile="ci")
    assert r.status == "fail" and r.failure.what == "hessian"
    assert "factor 2" in r.failure.diagnosis


def test_json_report_and_reproducer(tmp_path, capsys):
    src = registry.get("multivariate_linear_regression").source.read_text()
    f = tmp_path / "flipped.py"
    flipped = src.replace("g_w += X[rows].T @ r", "g_w -= X[rows].T @ r")
    assert flipped != src, "the gradient line of multivariate_linear_regression changed"
    f.write_text(flipped)
    out = tmp_path / "report.json"
    code = main(["verify", "linear_regression", "--module", str(f), "--json", str(out), "--no-derivations"])
    assert code == 1
    report = json.loads(out.read_text())
    assert [r["model"] for r in report] == ["linear_regression", "flipped"]
    for r in report:
        assert {"model", "status", "cases", "max_error", "diagnosis", "counterexample"} <= set(r)
    assert report[0]["status"] == "pass" and report[0]["counterexample"] is None
    bad = report[1]
    assert bad["status"] == "fail" and bad["counterexample"]["where"].startswith("w")
    # the reproducer runs and shows the two gradients disagree
    got: list = []
    exec(bad["counterexample"]["reproducer"], {"print": got.append})
    hand, auto = got
    assert not np.allclose(hand["w"], np.asarray(auto["w"]))
    assert "sign flip" in capsys.readouterr().out


def test_add_a_new_loss_end_to_end(tmp_path, capsys):
    """The README's guide: scaffold, see "not implemented", write log-cosh, verify, break it, see it fail."""
    py, md = new("log_cosh", tmp_path)
    assert main(["verify", "--module", str(py), "--examples", "3"]) == 2
    err = capsys.readouterr().err  # the contract check, before any case is drawn: one line
    assert "not implemented" in err and err.count("\n") == 1
    with pytest.raises(ValueError, match="exists already"):
        new("log_cosh", tmp_path)
    with pytest.raises(ValueError, match="not a valid model name"):
        new("2fast", tmp_path)

    src = py.read_text()
    src = src.replace(
        '    raise NotImplementedError("log_cosh.loss: write the loss here")',
        "    r = X @ params['w'] + params['b'] - y\n"
        "    # log cosh r = logaddexp(r, -r) - log 2, finite for every r (eq. 2)\n"
        "    return xp.mean(xp.logaddexp(r, -r)) - np.log(2.0)",
    ).replace(
        '    raise NotImplementedError("log_cosh.grad: write the hand-derived gradient here")',
        "    n = X.shape[0]\n"
        "    t = np.tanh(X @ params['w'] + params['b'] - y) / n  # d log cosh r / dr = tanh r (eq. 3)\n"
        "    return {'w': X.T @ t, 'b': np.asarray(t.sum())}  # (eq. 4)",
    )
    py.write_text(src)
    stub = "# s = ...  # ∂ℓ_i/∂ŷ_i from (eq. 3), computed here from X, y and params\n"
    assert stub in md.read_text()
    md.write_text(md.read_text().replace(
        stub,
        "t = np.tanh(X @ params['w'] + params['b'] - y) / len(y)\n"
        "assert np.allclose(g['w'], X.T @ t) and np.isclose(g['b'], t.sum())\n",
    ))  # fmt: skip
    assert main(["verify", "--module", str(py)]) == 0
    out = capsys.readouterr().out
    assert "log_cosh" in out and "verified" in out and "ok" in out

    py.write_text(src.replace("/ n  #", "/ n * 2  #"))
    assert main(["verify", "--module", str(py), "--no-derivations"]) == 1
    assert "constant factor 2" in capsys.readouterr().out


def test_derivation_checks_fail_loudly(tmp_path):
    from lab.derivations.check import check_file

    m = registry.get("linear_regression")
    f = tmp_path / "linear_regression.md"
    f.write_text("# x\n\n$$a \\tag{1}$$\n\n```python\nassert 1 + 1 == 3\n```\n")
    problems = " ".join(check_file(f, m).problems)
    assert "failed at line 6" in problems  # the failing block's line
    assert "cites eq." in problems  # labels the code cites but the file lacks
    assert "never compares" in problems
    assert "justifies no model" in " ".join(check_file(tmp_path / "nothing.md", None).problems)


BREAKS = {  # a classic slip in each model's own source: drop the 2, drop the 1/n, flip a sign
    "linear_regression": ("dw = (2.0 / n)", "dw = (1.0 / n)"),
    "multivariate_linear_regression": ("np.asarray((2.0 / n) * g_b)", "np.asarray(2.0 * g_b)"),
    "logistic_regression": ("g = p - y[rows]", "g = y[rows] - p"),
    "ridge_regression": ('+ lam * params["w"]', '- lam * params["w"]'),
    "huber_regression": ("np.clip(r, -delta, delta) / n", "np.clip(r, -delta, delta)"),
    "poisson_regression": ("g = (np.exp(z) - y) / n", "g = (y - np.exp(z)) / n"),
    "mlp": ("return (2.0 / y.shape[0]) * (yhat - y)", "return (1.0 / y.shape[0]) * (yhat - y)"),
    "softmax_regression": ("G = (P - Y) / n", "G = (Y - P) / n"),
    "hinge_svm": ("g = -(active * y) / n", "g = (active * y) / n"),
}


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_breaking_a_model_fails_verify_by_name(tmp_path, name, capsys):
    """Drop the 1/n, the 2 or flip a sign in the file itself: the table names the model."""
    src = registry.get(name).source.read_text()
    broken = BREAKS[name]
    assert broken[0] in src
    f = tmp_path / f"{name}.py"
    f.write_text(src.replace(*broken))
    assert main(["verify", "--module", str(f), "--no-derivations"]) == 1
    out = capsys.readouterr().out
    assert name in out and "FAIL" in out


def test_a_program_that_does_not_return_stops_the_run_in_one_line(monkeypatch):
    """A stuck program (XLA cannot be interrupted) is an error naming the model, the shape and what was
    running, after the time budget; Hypothesis does not shrink it (each rerun would wait as long)."""
    from lab.verify.measure import autodiff
    from lab.verify.runtime import memo

    monkeypatch.setattr(autodiff, "RUN_BUDGET", 0.05)
    monkeypatch.setattr(type(jnp.zeros(1)), "is_ready", lambda self: False)
    monkeypatch.setattr(memo, "get", lambda name: None)  # every batch runs its program, none is read back
    r = verify(registry.get("linear_regression"), profile="ci")
    assert r.status == "error" and r.extra.get("stuck"), r.message
    assert "stopped after" in r.message and "linear_regression" in r.message and "n = 1, d = 1" in r.message
    assert "\n" not in r.message


@given(
    seed=st.integers(0, 2**32 - 1),
    options=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=5).map(tuple),
    shape=st.lists(st.integers(0, 4), max_size=3).map(tuple),
)
def test_the_fill_s_quick_draws_are_rng_choice_number_for_number(seed, options, shape):
    """``pick`` and ``signs`` replace ``Generator.choice`` in the fill and the kinks' jitter (five times
    cheaper): the same numbers, and the generator left in the same state, so every case is as it was."""
    a, b = np.random.default_rng(seed), np.random.default_rng(seed)
    for _ in range(3):
        assert pick(a, options) == b.choice(options)
        mine, theirs = signs(a, shape), b.choice([-1.0, 1.0], shape)
        assert np.shape(mine) == np.shape(theirs) and np.array_equal(mine, theirs)
    assert a.random() == b.random()


def test_a_derandomized_profile_draws_the_same_cases_whatever_is_imported(tmp_path, monkeypatch):
    """Hypothesis reads constants from every loaded module outside site-packages into its draws; the
    verifier's search must not depend on them (issue 18: pandas on PYTHONPATH changed --profile extreme)."""
    import importlib
    import sys

    from lab.verify.search import engine

    drawn = []
    real_fill = engine.fill

    def spy(model, cases, *a, **k):
        drawn.append(np.concatenate([c.X.ravel() for c in cases]).tobytes())
        return real_fill(model, cases, *a, **k)

    monkeypatch.setattr(engine, "fill", spy)
    model = registry.get("linear_regression")
    verify(model, profile="extreme", examples=15)
    before, drawn[:] = list(drawn), []
    (tmp_path / "local_constants_probe.py").write_text(
        "".join(f"C{i} = {v!r}\n" for i, v in enumerate([0.1 * k + 1e-3 for k in range(400)] + [1e3, -7.5, 2.5e5]))
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("local_constants_probe")
    try:
        verify(model, profile="extreme", examples=15)
    finally:
        sys.modules.pop("local_constants_probe", None)
    assert drawn == before


def test_a_pass_where_most_cases_proved_nothing_is_not_shown_as_plainly_verified():
    from collections import Counter

    from lab.verify.explain.report import table
    from lab.verify.search.engine import ModelReport

    weak = ModelReport("weak", cases=531, inconclusive=Counter({"the rounding bound of autodiff is not finite": 1517}))
    strong = ModelReport(
        "strong", cases=2047, inconclusive=Counter({"each entry of autodiff is within its error bound of 0": 1})
    )
    text = table([weak, strong])
    rows = {line.split()[0]: line.split("-", 1)[1].strip() for line in text.splitlines()[2:4]}
    assert rows == {"weak": "verified, mostly inconclusive", "strong": "verified"}
    assert "(most of them: read this verdict with care)" in text

"""The lessons (derivations/lessons/*.md): checked like derivations by make verify, never taken for a
derivation without a model, and each a page of the study book."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lab.derivations import check as derivations

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "derivations" / "lessons").glob("*.md"))

GOOD = """# A lesson

Gradient descent on least squares, by the model's own grad:

$$
\\theta_{k+1} = \\theta_k - \\eta \\nabla L(\\theta_k) . \\tag{1}
$$

```python
import numpy as np
from lab import get, plots
from lab.optim import History

m = get("multivariate_linear_regression")
X = np.arange(12.0).reshape(6, 2) / 10
y = X @ np.array([1.0, -1.0]) + 0.5
p = m.init(2)
hist = History()
for _ in range(300):
    g = m.grad(p, X, y)
    hist.loss.append(m.loss(p, X, y))
    p = {k: p[k] - 0.5 * g[k] for k in p}          # (1)
assert m.loss(p, X, y) < 1e-3 * hist.loss[0]
plots.loss_curve(hist, FIGURES / "a-lesson.png")
```
"""


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_lesson_runs_labels_its_equations_and_checks_the_models(path, tmp_path):
    """Each lesson's blocks pass, draw their figures into FIGURES, and fail when every grad is made wrong."""
    r = derivations.check_lesson(path, tmp_path)
    assert r.status == "ok", r.problems
    assert r.name == f"lessons/{path.stem}" and r.blocks >= 2
    text = path.read_text(encoding="utf-8")
    for image in re.findall(r"!\[[^\]]*\]\(figures/([^)]+)\)", text):
        assert (tmp_path / image).stat().st_size > 1000, f"{path.name} shows {image}, which its blocks did not draw"


def test_a_lesson_that_checks_nothing_or_fails_is_reported(tmp_path):
    good = tmp_path / "good.md"
    good.write_text(GOOD, encoding="utf-8")
    r = derivations.check_lesson(good, tmp_path / "figs")
    assert r.status == "ok", r.problems
    assert (tmp_path / "figs" / "a-lesson.png").exists()

    idle = tmp_path / "idle.md"  # asserts only arithmetic: a wrong grad goes unnoticed
    idle.write_text("# Idle\n\n$$ x \\tag{1} $$\n\n```python\nassert 1 + 1 == 2\n```\n", encoding="utf-8")
    r = derivations.check_lesson(idle)
    assert r.status == "unchecked" and "asserts nothing about the lab's models" in r.problems[0]

    broken = tmp_path / "broken.md"
    broken.write_text(GOOD.replace("< 1e-3 *", "> 1e3 *"), encoding="utf-8")
    r = derivations.check_lesson(broken)
    assert r.status == "FAIL" and "broken.md block at line" in r.problems[0] and "AssertionError" in r.problems[0]

    untagged = tmp_path / "untagged.md"
    untagged.write_text(GOOD.replace("\\tag{1}", ""), encoding="utf-8")
    assert "labels no equation" in " ".join(derivations.check_lesson(untagged).problems)


NET_LESSON = """# A network's gradient

The gradient at the logits is the probabilities minus the one-hot, over the batch:

$$
\\mathrm{d}z_b = (p_b - e_{y_b}) / B . \\tag{1}
$$

```python
import numpy as np
import lab.net as nets
from lab.nets import char_mlp

x = np.array([[0, 0, 5, 13], [0, 5, 13, 13]])
P = char_mlp.init(x.shape, seed=0)
said = {}
nets.backward(char_mlp.NET, P, x, 1.0, record=lambda s, g: said.__setitem__(s, g))
_, out, _ = nets.activations(char_mlp.NET, P, x)
z = out["logits"][:, 0]
p = np.exp(z - z.max(1, keepdims=True))
p /= p.sum(1, keepdims=True)
p[np.arange(2), x[:, -1]] -= 1
assert np.allclose(said["logits"][:, 0], p / 2)          # (1)
```
"""


def test_a_lesson_on_a_network_is_checked_through_the_layers_vjp(tmp_path):
    """A lesson on a network reaches no model's grad, only the layers' vjp (through lab.net): its asserts are
    held to a wrong vjp, and one that asserts nothing about them is unchecked."""
    good = tmp_path / "net.md"
    good.write_text(NET_LESSON, encoding="utf-8")
    r = derivations.check_lesson(good)
    assert r.status == "ok", r.problems
    idle = tmp_path / "idle.md"
    idle.write_text(NET_LESSON.replace('assert np.allclose(said["logits"][:, 0], p / 2)', "assert len(said) == 6"),
                    encoding="utf-8")  # fmt: skip
    r = derivations.check_lesson(idle)
    assert r.status == "unchecked" and "asserts nothing about the lab's models or layers" in r.problems[0]


def test_check_all_reports_lessons_under_their_own_name_not_as_orphans(tmp_path):
    """A lesson names no model: check_all calls it lessons/NAME, and it is no derivation without a model."""
    (tmp_path / "lessons").mkdir()
    (tmp_path / "lessons" / "good.md").write_text(GOOD, encoding="utf-8")
    results = {r.name: r for r in derivations.check_all(tmp_path)}
    assert results["lessons/good"].ok
    assert not any("justifies no model" in p for r in results.values() for p in r.problems)
    assert "no derivation" in " ".join(results["logistic_regression"].problems)  # the models are still required


def test_a_full_lab_verify_lists_the_lessons_and_a_failing_one_fails_the_run(tmp_path, monkeypatch, capsys):
    """Below the table, one line per lesson; a lesson that fails makes the exit code 1. (The models' search
    is replaced by a stub that passes at once: this test is about the lessons, not the witnesses.)"""
    import lab.verify
    from lab import model as registry
    from lab.cli import main
    from lab.verify.search import engine as search

    stub = lambda m, **kw: search.ModelReport(m.name, cases=1)  # noqa: E731
    monkeypatch.setattr(lab.verify, "verify", stub)  # the name the command line calls
    assert main(["verify"]) == 0
    out = capsys.readouterr().out
    for path in LESSONS:
        assert re.search(rf"^derivations/lessons/{path.stem}\.md\s+\d+ blocks\s+ok$", out, re.M), out
    assert "justifies no model" not in out

    root = tmp_path / "derivations"
    (root / "lessons").mkdir(parents=True)
    one = registry.get("linear_regression")  # one model and its derivation (the rest would only be checked again)
    (root / f"{one.name}.md").write_text(one.derivation.read_text(encoding="utf-8"), encoding="utf-8")
    (root / "lessons" / "broken.md").write_text(GOOD.replace("< 1e-3 *", "> 1e3 *"), encoding="utf-8")
    monkeypatch.setattr(registry, "names", lambda: [one.name])
    monkeypatch.setattr(registry, "DERIVATIONS", root)
    assert main(["verify"]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^derivations/lessons/broken\.md\s+1 blocks\s+FAIL$", out, re.M), out
    assert "broken.md block at line" in out
    assert [line for line in out.splitlines() if re.search(r"\bFAIL\s*$", line)] == [
        line for line in out.splitlines() if line.startswith("derivations/lessons/broken.md")
    ], out  # the lesson is what fails the run

"""Tests for lab.plots: every figure is a valid PNG of FIGSIZE * DPI pixels, with titled axes and a legend."""

import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import user_losses
from matplotlib.image import imread

import lab
from lab import plots
from lab.data import synthetic
from lab.optim import History

ROOT = Path(__file__).resolve().parent.parent
SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, after checking the signature and the closing IEND chunk."""
    data = path.read_bytes()
    assert data[:8] == SIGNATURE, f"{path.name} is not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13, f"{path.name}: the first chunk is not IHDR"
    assert data[-12:] == b"\x00\x00\x00\x00IEND\xaeB`\x82", f"{path.name} is truncated"
    return struct.unpack(">II", data[16:24])


def check_png(path: Path, name: str) -> None:
    """A PNG of the expected pixel size whose pixels are not all one color."""
    w, h = plots.FIGSIZE[name]
    assert png_size(path) == (round(w * plots.DPI), round(h * plots.DPI))
    pixels = imread(path)
    assert pixels.std() > 0.05, f"{path.name} looks blank"


def check_labels(fig) -> None:
    """Every plotting axes has an x label, a y label and a legend; the figure has a title."""
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert axes
    suptitle = fig._suptitle.get_text() if fig._suptitle is not None else ""
    for ax in axes:
        assert ax.get_xlabel() and ax.get_ylabel(), f"untitled axis in {ax.get_title()!r}"
        assert ax.get_title() or suptitle
        legend = ax.get_legend()
        assert legend is not None and legend.get_texts(), f"no legend in {ax.get_title()!r}"


@pytest.fixture(scope="module")
def mlr_data():
    X, y, _ = synthetic(lab.get("multivariate_linear_regression"), n=60, d=2, seed=1)
    return X * np.array([1.0, 0.4]), y


def test_loss_curve(tmp_path):
    hist = History(loss=[1.0, 0.5, 0.2, 0.1], grad_norm=[2.0, 1.0, 0.3, 0.1], stop_reason="max steps")
    fig = plots.loss_curve(hist, tmp_path / "loss.png", title="a run")
    check_png(tmp_path / "loss.png", "loss_curve")
    check_labels(fig)
    assert fig.axes[0].get_yscale() == "log"
    assert fig.axes[0].get_title() == "a run"


def test_loss_curve_of_a_real_run_with_a_zero_loss(tmp_path):
    # an exact fit reaches loss 0, which a log scale cannot show: it is drawn at a floor instead
    model = lab.get("linear_regression")
    X = np.array([[0.0], [1.0], [2.0]])
    _, hist = lab.fit(model, X, 2 * X[:, 0] + 1, lr=0.2, steps=3000, tol=1e-300)
    assert min(hist.loss) < 1e-25
    check_labels(plots.loss_curve(hist, tmp_path / "zero.png"))
    check_png(tmp_path / "zero.png", "loss_curve")


def _rerun(model, X, y, lr: float, steps: int):
    """Gradient descent by the test's own loop: the losses and gradient norms while the loss is finite and
    below 1e6 times its start; and whether it left that range (diverged)."""
    params, X, y = model.check(model.init(X.shape[1]), X, y)
    losses, norms = [], []
    with np.errstate(all="ignore"):
        for _ in range(steps + 1):
            L, g = float(model.loss(params, X, y)), model.grad(params, X, y)
            if not np.isfinite(L) or (losses and L > 1e6 * max(abs(losses[0]), 1e-12)):
                return np.array(losses), np.array(norms), True
            losses.append(L)
            norms.append(float(np.sqrt(sum(np.sum(v * v) for v in g.values()))))
            params = {k: params[k] - lr * g[k] for k in params}
    return np.array(losses), np.array(norms), False


def _top_curvature_at_minimum(model, X, y) -> tuple[float, float]:
    """(best loss, λ_max of the Hessian there), by scipy's BFGS from init: a second way to the minimizer."""
    from scipy.optimize import minimize

    p0 = model.init(X.shape[1])
    flat = plots._flat(p0)
    res = minimize(lambda t: model.loss(plots._unflat(t, p0), X, y), flat,
                   jac=lambda t: plots._flat(model.grad(plots._unflat(t, p0), X, y)), method="BFGS",
                   options={"gtol": 1e-10})  # fmt: skip
    H = model.module.hessian(plots._unflat(res.x, p0), X, y)
    return float(res.fun), float(np.linalg.eigvalsh(H)[-1])


def _check_run_label(model, X, y, run, steps: int, best: float) -> str:
    """The run's data is gradient descent at its rate, and its label's first word is what that run did,
    by the test's own rerun. Returns the word."""
    losses, norms, diverged = _rerun(model, X, y, run.lr, steps)
    assert np.allclose(run.losses, losses, rtol=1e-9, atol=1e-12) and run.losses.size == losses.size
    said = run.label.split(":")[0]
    assert said in ("diverged", "converged", "still falling", "not converging"), run.label
    if said == "diverged":
        assert diverged and losses.size <= steps
        assert f"diverged at step {losses.size}" in run.label  # the step whose loss left the range
    else:
        assert not diverged and losses.size == steps + 1
    if said == "converged":
        assert norms[-1] <= 1e-6 * norms[0]
        assert losses[-1] - best <= 1e-8 * (losses[0] - best)  # at the minimum, not elsewhere
        k = int(re.search(r"by step (\d+)", run.label)[1])
        assert norms[k] <= 1e-6 * norms[0] and np.all(norms[:k] > 1e-6 * norms[0])
    if said == "still falling":
        assert norms[-1] > 1e-6 * norms[0] and np.all(np.diff(losses[-11:]) < 0)
    if said == "not converging":
        assert norms[-1] > 1e-6 * norms[0] and not np.all(np.diff(losses[-11:]) < 0)
        assert ("loss rose" in run.label) == (losses[-1] > losses[0])
    return said


@pytest.fixture(scope="module")
def tukey(tmp_path_factory):
    return user_losses.user_model(tmp_path_factory.mktemp("user"), "tukey_biweight")


FIGURE_MODELS = ["logistic_regression", "softmax_regression", "poisson_regression", "huber_regression", "tukey"]


@pytest.mark.parametrize("name", FIGURE_MODELS)
def test_learning_rates_labels_say_what_each_curve_did(tmp_path, tukey, name):
    """For the four GLM-like models and a Tukey biweight user file, on the book's synthetic data: the rates
    are fractions of 2/L*, L* the top Hessian eigenvalue at the minimizer (found again here by BFGS); each
    drawn curve is its run's loss above the best; each label's verdict is what a rerun of gradient descent
    at that rate did; no run above 2/L* is called converged (the minimizer repels it), and the run at half
    of 2/L* gets within 1e-6 of the start's excess."""
    from lab.book import figures as book

    model = tukey if name == "tukey" else lab.get(name)
    X, y, _ = synthetic(model, n=book.N, d=book.D, seed=book.SEED)
    steps = 60
    fig = plots.learning_rates(model, X, y, tmp_path / "lr.png", steps=steps)
    check_png(tmp_path / "lr.png", "learning_rates")
    check_labels(fig)
    best, L_star = _top_curvature_at_minimum(model, X, y)
    assert fig.bound == pytest.approx(2 / L_star, rel=1e-6)
    assert [r.lr / fig.bound for r in fig.runs] == pytest.approx(list(plots.FRACTIONS))
    best = min([best] + [float(r.losses.min()) for r in fig.runs])
    drawn = [ln for ln in fig.axes[0].get_lines() if not ln.get_label().startswith("_")]
    assert [ln.get_label() for ln in drawn] == [r.label for r in fig.runs]
    said = []
    for run, line in zip(fig.runs, drawn, strict=True):
        excess = np.maximum(run.losses - best, 1e-15 * abs(best))
        assert np.allclose(line.get_ydata(), excess, rtol=1e-9), run.label
        assert f"({run.lr / fig.bound:.3g}·2/L*)" in run.label
        said.append(_check_run_label(model, X, y, run, steps, best))
        if run.lr > fig.bound:
            assert said[-1] != "converged", run.label
    half = fig.runs[1]  # 0.5·2/L*: converged, or close and still falling (Poisson, slowed along the path)
    assert said[1] in ("converged", "still falling") and half.losses[-1] - best <= 1e-6 * (half.losses[0] - best)
    assert "2/L* = " in fig.axes[0].get_title() and "at the minimizer" in fig.axes[0].get_title()


def test_learning_rates_on_a_quadratic_diverges_above_two_over_L(tmp_path, mlr_data):
    """On least squares L* = L everywhere: 1.1·2/L is labelled diverged, and the curve is clipped so the
    converging ones keep the plot."""
    model = lab.get("multivariate_linear_regression")
    fig = plots.learning_rates(model, *mlr_data, tmp_path / "lr.png", steps=60)
    labels = [r.label for r in fig.runs]
    assert labels[-1].startswith("diverged: lr = ") and "diverged at step" in labels[-1], labels
    assert _rerun(model, *mlr_data, fig.runs[-1].lr, 60)[2]
    assert labels[1].startswith(("converged", "still falling")) and labels[2].endswith("oscillating"), labels
    top = fig.axes[0].get_ylim()[1]
    start = fig.axes[0].get_lines()[0].get_ydata()[0]
    assert top <= 1e4 * start


def test_stable_lr_is_two_over_the_top_eigenvalue(mlr_data):
    X, y = mlr_data
    Xt = np.hstack([X, np.ones((len(X), 1))])
    L = np.linalg.eigvalsh(2 / len(X) * Xt.T @ Xt)[-1]
    assert plots.stable_lr(lab.get("multivariate_linear_regression"), X, y) == pytest.approx(2 / L, rel=1e-9)


@pytest.mark.parametrize("name", ["multivariate_linear_regression", "poisson_regression", "logistic_regression"])
def test_lr_sweep_marks_a_largest_stable_step_that_was_stable(tmp_path, name):
    """The sweep's "largest stable step" is measured: gradient descent at it, and at every smaller rate of
    the sweep, converged or kept falling (by the test's own rerun), and at the next rate it did not. It is
    below 2/L*, above which no run converges; for Poisson, whose curvature grows along the path, the
    figure's 2/L* is the minimizer's, not 2/L of the start (which is ten times larger here)."""
    model = lab.get(name)
    X, y, _ = synthetic(model, n=200, d=3, seed=0)
    steps = 50
    fig = plots.lr_sweep(model, X, y, tmp_path / "sweep.png", steps=steps, num=15)
    check_png(tmp_path / "sweep.png", "lr_sweep")
    check_labels(fig)
    ax, sweep = fig.axes[0], fig.sweep
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert sweep.bound == pytest.approx(2 / _top_curvature_at_minimum(model, X, y)[1], rel=1e-6)
    assert any(np.allclose(line.get_xdata(), sweep.bound) for line in ax.get_lines()), "no 2/L* line"
    lrs = [r.lr for r in sweep.runs]
    assert sweep.largest_stable is not None and sweep.largest_stable < sweep.bound
    k = lrs.index(sweep.largest_stable)
    for lr in lrs[: k + 2]:
        losses, norms, diverged = _rerun(model, X, y, lr, steps)
        ok = not diverged and (norms[-1] <= 1e-6 * norms[0] or np.all(np.diff(losses[-11:]) < 0))
        assert ok == (lr <= sweep.largest_stable), lr
    line = next(ln for ln in ax.get_lines() if ln.get_label().startswith("largest stable step measured"))
    assert np.allclose(line.get_xdata(), sweep.largest_stable)
    for run in sweep.runs:
        assert (run.outcome == "diverged") == _rerun(model, X, y, run.lr, steps)[2]
    if name == "poisson_regression":
        assert sweep.bound < 0.2 * plots.stable_lr(model, X, y)


def test_fitted_line(tmp_path):
    model = lab.get("linear_regression")
    X, y, _ = synthetic(model, n=40, seed=3)
    params, _ = plots.optimum(model, X, y)
    fig = plots.fitted_line(params, X, y, tmp_path / "line.png")
    check_png(tmp_path / "line.png", "fitted_line")
    check_labels(fig)
    line = fig.axes[0].get_lines()[0]
    xs, ys = line.get_xdata(), line.get_ydata()
    assert np.allclose(ys, params["w"] * xs + params["b"])


def test_decision_boundary(tmp_path):
    model = lab.get("logistic_regression")
    X, y, _ = synthetic(model, n=120, d=2, seed=0)
    params, _ = plots.optimum(model, X, y)
    fig = plots.decision_boundary(params, X, y, tmp_path / "boundary.png")
    check_png(tmp_path / "boundary.png", "decision_boundary")
    check_labels(fig)
    assert any(ax.get_label() == "<colorbar>" for ax in fig.axes)
    # the drawn boundary is where w·x + b = 0
    line = next(ln for ln in fig.axes[0].get_lines() if ln.get_label().startswith("boundary"))
    pts = np.column_stack([line.get_xdata(), line.get_ydata()])
    assert np.allclose(pts @ params["w"] + params["b"], 0, atol=1e-9)


def test_decision_boundary_vertical(tmp_path):
    X = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5], [3.0, 2.0]])
    fig = plots.decision_boundary({"w": np.array([1.0, 0.0]), "b": np.array(-1.5)}, X, [0, 0, 1, 1], tmp_path / "v.png")
    check_png(tmp_path / "v.png", "decision_boundary")
    check_labels(fig)


def test_optimizer_comparison(tmp_path):
    model = lab.get("logistic_regression")
    X, y, _ = synthetic(model, n=300, d=3, seed=0)
    fig = plots.optimizer_comparison(model, X, y, tmp_path / "opt.png")
    check_png(tmp_path / "opt.png", "optimizer_comparison")
    check_labels(fig)
    step_ax, time_ax = fig.axes
    assert step_ax.get_yscale() == time_ax.get_yscale() == "log"
    assert "time" in time_ax.get_xlabel()
    names = [t.get_text().split()[0] for t in step_ax.get_legend().get_texts()]
    expected = [c[0] for c in plots.COMPARED] if plots._accepts_optimizer() else ["gd"]
    assert names == expected
    # Newton, with its exact Hessian, ends closest to the best loss
    finals = {
        t.get_text().split()[0]: ln.get_ydata()[-1]
        for t, ln in zip(step_ax.get_legend().get_texts(), step_ax.get_lines(), strict=True)
    }
    if "newton" in finals:
        assert finals["newton"] == min(finals.values())


def test_main_writes_every_plot(tmp_path):
    out = tmp_path / "figures"
    run = subprocess.run(
        [sys.executable, "-m", "lab.plots", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    printed = [Path(line).name for line in run.stdout.splitlines() if line.endswith(".png")]
    assert sorted(printed) == sorted(f"{name}.png" for name in plots.FIGSIZE)
    for name in plots.FIGSIZE:
        check_png(out / f"{name}.png", name)


def _lesson_figures(tmp_path):
    """Each lesson figure drawn from small made-up numbers: (name, Figure, path)."""
    k = np.arange(5)
    z = np.linspace(-3, 3, 50)
    s = 1 / (1 + np.exp(-z))
    ns = [10, 100, 1000]
    return [
        ("spectral_rates", plots.spectral_rates(0.9 ** k[:, None] * np.array([1.0, 0.5]), [0.9, -0.5],
                                                tmp_path / "a.png"), tmp_path / "a.png"),
        ("steps_by_condition", plots.steps_by_condition([10, 100], {"gd": [20, 200], "hb": [8, 25]},
                                                        tmp_path / "b.png"), tmp_path / "b.png"),
        ("links_and_variances", plots.links_and_variances(z, {"sigmoid": (s, s * (1 - s)), "exp": (np.exp(z),
                                                          np.exp(z))}, tmp_path / "c.png"), tmp_path / "c.png"),
        ("weight_growth", plots.weight_growth(ns, {"a": [1, 2, 3], "b": [1, 1.5, 1.5]}, tmp_path / "d.png"),
         tmp_path / "d.png"),
        ("validation_curve", plots.validation_curve(ns, [3, 2, 1], [3, 1, 2], tmp_path / "e.png", xlabel="λ",
                                                    chosen=100), tmp_path / "e.png"),
        ("timings", plots.timings(ns, {"loop": [1e-3, 1e-2, 1e-1]}, tmp_path / "f.png", floor=[1e-6, 1e-5, 1e-4]),
         tmp_path / "f.png"),
        ("spectra", plots.spectra({"raw": [1e3, 1.0, 1e-2], "standardized": [3.0, 1.0, 0.5]}, tmp_path / "g.png"),
         tmp_path / "g.png"),
        ("boundary_errors", plots.boundary_errors(["logits", "act", "emb.W"], {"right": [0.01, 0.0, 0.2],
                                                  "a slip": [0.01, 30.0, 4e3]}, tmp_path / "h.png"),
         tmp_path / "h.png"),
    ]  # fmt: skip


def test_every_lesson_figure_is_a_labelled_png_of_its_size(tmp_path):
    """The lessons' figures keep the house rules: their own size (LESSON_FIGSIZE), titled axes, a legend."""
    drawn = _lesson_figures(tmp_path)
    assert sorted(name for name, _, _ in drawn) == sorted(plots.LESSON_FIGSIZE)
    assert not set(plots.LESSON_FIGSIZE) & set(plots.FIGSIZE)  # python -m lab.plots draws FIGSIZE only
    for name, fig, path in drawn:
        w, h = plots.LESSON_FIGSIZE[name]
        assert png_size(path) == (round(w * plots.DPI), round(h * plots.DPI))
        assert imread(path).std() > 0.05, f"{name} looks blank"
        check_labels(fig)


def test_the_book_caption_tells_each_run_as_it_went(tmp_path):
    """The book's trained figure of poisson_regression names 2/L* at the minimizer and says, per run, what
    the learning-rate figure's own runs did (not what their fractions would do on a quadratic)."""
    from lab.book import figures as book

    model = lab.get("poisson_regression")
    made = book.trained("poisson_regression", tmp_path / "poisson.png")
    assert made.path is not None and made.path.exists()
    X, y, _ = synthetic(model, n=book.N, d=book.D, seed=book.SEED)
    fig = plots.learning_rates(model, X, y, tmp_path / "again.png")
    assert f"2/L* = {fig.bound:.3g}, where L* is the largest Hessian eigenvalue at the minimizer" in made.caption
    for run in fig.runs:
        assert f"at {run.lr / fig.bound:.3g}·2/L* it {book.SAID[run.outcome]}" in made.caption
    assert "diverging" not in made.caption and "slow, good" not in made.caption


def test_the_book_figure_of_a_model_without_a_hessian_is_the_line_search(tmp_path):
    """The MLP has no Hessian: its figure is one run of the lab's default step, the line search."""
    from lab.book import figures as book

    made = book.trained("mlp", tmp_path / "mlp.png")
    assert made.path is not None and "line search" in made.caption and "no hessian" in made.caption

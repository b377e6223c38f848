"""Tests for lab.plots: every figure is a valid PNG of FIGSIZE * DPI pixels, with titled axes and a legend."""

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
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


def test_learning_rates_shows_each_regime(tmp_path, mlr_data):
    fig = plots.learning_rates(lab.get("multivariate_linear_regression"), *mlr_data, tmp_path / "lr.png", steps=40)
    check_png(tmp_path / "lr.png", "learning_rates")
    check_labels(fig)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    kinds = [s.split(":")[0] for s in labels]
    assert kinds == ["slow", "good", "oscillating", "diverging"]
    assert "diverged at step" in labels[-1]
    # the diverging curve is clipped, so the converging ones keep the plot
    top = fig.axes[0].get_ylim()[1]
    start = fig.axes[0].get_lines()[0].get_ydata()[0]
    assert top <= 1e4 * start


def test_learning_rates_kind_follows_the_bound():
    assert [plots._kind(f) for f in (0.01, 0.3, 0.5, 0.7, 0.99, 1.0, 3.0)] == [
        "slow", "good", "good", "oscillating", "oscillating", "diverging", "diverging",
    ]  # fmt: skip


def test_stable_lr_is_two_over_the_top_eigenvalue(mlr_data):
    X, y = mlr_data
    Xt = np.hstack([X, np.ones((len(X), 1))])
    L = np.linalg.eigvalsh(2 / len(X) * Xt.T @ Xt)[-1]
    assert plots.stable_lr(lab.get("multivariate_linear_regression"), X, y) == pytest.approx(2 / L, rel=1e-9)


def test_lr_sweep(tmp_path, mlr_data):
    model = lab.get("multivariate_linear_regression")
    fig = plots.lr_sweep(model, *mlr_data, tmp_path / "sweep.png", steps=30, num=15)
    check_png(tmp_path / "sweep.png", "lr_sweep")
    check_labels(fig)
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    bound = plots.stable_lr(model, *mlr_data)
    assert any(np.allclose(line.get_xdata(), bound) for line in ax.get_lines()), "no 2/L line"
    assert any("diverged" in t.get_text() for t in ax.get_legend().get_texts())


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

"""Figures for the learning-rate story, written as PNG files (matplotlib, Agg backend).

Every figure has a fixed size (``FIGSIZE`` inches at ``DPI``), titled axes, a
title and a legend. Each function saves its file and returns the ``Figure``.

    python -m lab.plots OUTDIR    # every figure, on synthetic data

The learning rates of ``learning_rates`` are read as fractions of 2/L*, where L* is
the largest eigenvalue of the Hessian at the minimizer: above 2/L* the minimizer repels
gradient descent, so no larger step can converge to it. Below it a run may still diverge
where the path crosses more curved ground (Poisson's e^z), so every curve is labelled by
what it did (:func:`outcome`), never by its fraction alone; the figures keep their runs'
data (``fig.runs``, ``fig.sweep``) so that tests can hold the labels to it.
"""

from __future__ import annotations

import argparse
import inspect
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from lab import optim  # noqa: E402
from lab.model import Model, Params  # noqa: E402

DPI = 100
#: Figure size in inches, per plot; the PNG is FIGSIZE * DPI pixels.
FIGSIZE = {
    "loss_curve": (6.0, 4.0),
    "learning_rates": (11.0, 4.5),
    "lr_sweep": (7.0, 4.5),
    "fitted_line": (6.0, 4.5),
    "decision_boundary": (6.5, 5.5),
    "optimizer_comparison": (11.0, 4.5),
    "network_curves": (7.0, 4.5),
}
#: The lessons' figures (derivations/lessons/), drawn by the lessons' own blocks when they are checked and
#: when the book is built; ``python -m lab.plots`` does not draw them.
LESSON_FIGSIZE = {
    "spectral_rates": (7.0, 4.5),
    "steps_by_condition": (6.5, 4.5),
    "links_and_variances": (11.0, 4.2),
    "weight_growth": (6.5, 4.5),
    "validation_curve": (6.5, 4.5),
    "timings": (6.5, 4.5),
    "spectra": (6.5, 4.5),
    "boundary_errors": (7.0, 4.5),
}
#: The default learning rates of ``learning_rates``, as fractions of 2/L.
FRACTIONS = (0.05, 0.5, 0.95, 1.1)
GROW = 1e6  # a run has diverged once its loss grows past GROW times its start


def _figure(name: str, ncols: int = 1) -> tuple[Figure, list]:
    fig = Figure(figsize={**FIGSIZE, **LESSON_FIGSIZE}[name], dpi=DPI, layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def _save(fig: Figure, path) -> Figure:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png")  # no bbox_inches: the size stays FIGSIZE * DPI
    return fig


# -- the numbers behind the pictures -----------------------------------------


def _flat(params: Params) -> np.ndarray:
    return np.concatenate([np.ravel(v) for v in params.values()])


def _unflat(theta: np.ndarray, like: Params) -> Params:
    out, i = {}, 0
    for k, v in like.items():
        out[k] = theta[i : i + v.size].reshape(v.shape)
        i += v.size
    return out


def stable_lr(model: Model, X, y) -> float:
    """2/L, the largest stable gradient-descent step, from lab.optim or else the Hessian at init."""
    if hasattr(optim, "lipschitz"):
        return 2.0 / float(optim.lipschitz(model, X, y))
    if not hasattr(model.module, "hessian"):
        raise ValueError(f"{model.name} has no hessian, so its bound 2/L is unknown")
    params, X, y = model.check(model.init(np.shape(X)[1]), X, y)
    return 2.0 / float(np.linalg.eigvalsh(model.module.hessian(params, X, y))[-1])


def optimum(model: Model, X, y, steps: int = 500) -> tuple[Params, float]:
    """A minimizer and its loss, a reference for the figures: scipy's ``trust-exact`` with the model's
    Hessian (it follows negative curvature out of saddles, so on a non-convex loss it ends at a local
    minimum), or BFGS without one, from ``model.init``."""
    from scipy.optimize import minimize

    params, X, y = model.check(model.init(np.shape(X)[1]), X, y)
    loss, grad = model.module.loss, model.module.grad
    hess = getattr(model.module, "hessian", None)

    def f(theta):
        return float(loss(_unflat(theta, params), X, y))

    def g(theta):
        return _flat(grad(_unflat(theta, params), X, y))

    theta0 = _flat(params)
    with np.errstate(all="ignore"):
        if callable(hess):
            res = minimize(f, theta0, jac=g, hess=lambda t: np.asarray(hess(_unflat(t, params), X, y)),
                           method="trust-exact", options={"gtol": 1e-12, "maxiter": steps})  # fmt: skip
        else:
            res = minimize(f, theta0, jac=g, method="BFGS", options={"gtol": 1e-12, "maxiter": steps})
    theta = res.x if f(res.x) <= f(theta0) else theta0
    return _unflat(theta, params), f(theta)


def curvature_at_minimum(model: Model, X, y) -> tuple[Params, float, float]:
    """``(minimizer, its loss, L*)``, L* the largest eigenvalue of the Hessian at the minimizer: gradient
    descent can converge to the minimizer only with a step below 2/L* (near it, the error along the top
    eigenvector is multiplied by 1 − lr L* at each step)."""
    if not callable(getattr(model.module, "hessian", None)):
        raise ValueError(f"{model.name} has no hessian, so its curvature at the minimizer is unknown")
    best_params, best = optimum(model, X, y)
    _, Xc, yc = model.check(None, X, y)
    H = np.asarray(model.module.hessian(best_params, Xc, yc), dtype=float)
    return best_params, best, float(np.linalg.eigvalsh((H + H.T) / 2)[-1])


def _accepts_optimizer() -> bool:
    sig = inspect.signature(optim.fit).parameters
    return "optimizer" in sig or any(p.kind is p.VAR_KEYWORD for p in sig.values())


def train(model: Model, X, y, optimizer: str = "gd", **kw):
    """``lab.optim.fit`` with ``optimizer``; returns ``(params, history, error)``.

    On divergence ``params`` is None, ``error`` is the DivergedError, and the
    history is the one it carries (or None).
    """
    if _accepts_optimizer():
        kw["optimizer"] = optimizer
    elif optimizer != "gd":
        raise NotImplementedError(f"lab.optim.fit has no optimizer {optimizer!r} yet")
    try:
        params, hist = optim.fit(model, X, y, **kw)
    except optim.DivergedError as e:
        return None, getattr(e, "history", None), e
    return params, hist, None


#: What a run did, as its label says it: its loss left the finite or grew past GROW times its start; its
#: gradient norm fell to CONVERGED_BY times its start; it was still falling at the end (the loss fell at
#: each of the last LAST steps); or none of these (it bounces, or creeps up).
DIVERGED, CONVERGED, FALLING, NOT_CONVERGING = "diverged", "converged", "still falling", "not converging"
CONVERGED_BY, LAST = 1e-6, 10


@dataclass
class Run:
    """One gradient-descent run of a figure: what was drawn, and what the label says about it."""

    lr: float
    losses: np.ndarray  # the loss at each step while finite
    grad_norms: np.ndarray
    thetas: np.ndarray  # the parameters at each step while finite, flattened
    diverged: bool  # the loss became non-finite or grew past GROW times its start
    outcome: str = ""
    label: str = ""
    excess: np.ndarray = field(default_factory=lambda: np.zeros(0))  # the drawn loss − best, floored


def gd_run(model: Model, X, y, lr: float, steps: int) -> Run:
    """Gradient descent at a fixed ``lr`` from init for ``steps`` steps, every step kept (the loss, the
    gradient norm, the parameters), until the loss stops being finite or grows past GROW times its start."""
    params, X, y = model.check(model.init(np.shape(X)[1]), X, y)
    losses, norms, thetas = [], [], []
    diverged = False
    with np.errstate(all="ignore"):
        for _ in range(steps + 1):
            L = float(model.module.loss(params, X, y))
            g = model.module.grad(params, X, y)
            gn = float(np.sqrt(sum(float(np.sum(np.square(v))) for v in g.values())))
            if not (np.isfinite(L) and np.isfinite(gn)) or (losses and L > GROW * max(abs(losses[0]), 1e-12)):
                diverged = True
                break
            losses.append(L)
            norms.append(gn)
            thetas.append(_flat(params))
            params = {k: params[k] - lr * np.asarray(g[k]) for k in params}
    return Run(lr=lr, losses=np.array(losses), grad_norms=np.array(norms), thetas=np.array(thetas), diverged=diverged)


def outcome(run: Run) -> str:
    """What ``run`` did: DIVERGED, CONVERGED, FALLING or NOT_CONVERGING (see their comment)."""
    if run.diverged:
        return DIVERGED
    g = run.grad_norms
    if g[-1] <= CONVERGED_BY * g[0]:
        return CONVERGED
    if run.losses.size > LAST and np.all(np.diff(run.losses[-1 - LAST :]) < 0):
        return FALLING
    return NOT_CONVERGING


def _oscillates(e: np.ndarray) -> bool:
    """Whether the error along the stiffest direction changes sign on most steps (while above rounding)."""
    e = e[np.abs(e) > 1e-9 * np.max(np.abs(e))] if e.size else e
    return e.size > 2 and float(np.mean(np.sign(e[1:]) != np.sign(e[:-1]))) >= 0.8


def _describe(run: Run, best: float) -> str:
    """The label's account of the run, from its own numbers."""
    if run.outcome == DIVERGED:
        return f"diverged at step {run.losses.size}"
    steps = run.losses.size - 1
    if run.outcome == CONVERGED:
        k = int(np.argmax(run.grad_norms <= CONVERGED_BY * run.grad_norms[0]))
        gap = run.losses[-1] - best
        where = (
            "" if gap <= 1e-6 * max(run.losses[0] - best, 1e-300) else f" (a stationary point {gap:.2g} above the best)"
        )
        return f"|∇L| below 1e-6 of its start by step {k}{where}"
    if run.outcome == FALLING:
        return f"loss − best {max(run.losses[-1] - best, 0):.2g} after {steps} steps"
    if run.losses[-1] > run.losses[0]:
        return f"loss rose from {run.losses[0]:.3g} to {run.losses[-1]:.3g} (not yet past {GROW:.0e} times)"
    return f"loss − best stays near {max(float(np.median(run.losses[-LAST:])) - best, 0):.2g}"


def _signed(v: float) -> str:
    """``+ 1.2`` or ``− 1.2``, for a term in a formula."""
    return f"{'−' if v < 0 else '+'} {abs(v):.3g}"


def _floor(best: float) -> float:
    return 1e-15 * max(abs(best), 1e-300)


# -- the figures ---------------------------------------------------------------


def loss_curve(history, path, title: str | None = None) -> Figure:
    """The loss (and the gradient norm) against the step, on a log scale."""
    fig, (ax,) = _figure("loss_curve")
    loss = np.asarray(history.loss, dtype=float)
    floor = _floor(float(np.nanmin(np.abs(loss)))) if loss.size else 1e-300
    steps = np.arange(loss.size)
    reason = f", {history.stop_reason}" if getattr(history, "stop_reason", "") else ""
    ax.plot(steps, np.maximum(loss, floor), lw=2, label=f"loss ({loss.size - 1} steps{reason})")
    gn = np.asarray(getattr(history, "grad_norm", []), dtype=float)
    if gn.size:
        ax.plot(np.arange(gn.size), np.maximum(gn, 1e-300), lw=1, ls="--", label="gradient norm")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss, gradient norm (log scale)")
    ax.set_title(title or "Training loss")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    return _save(fig, path)


def learning_rates(model: Model, X, y, path, lrs=None, steps: int = 60) -> Figure:
    """Loss curves of gradient descent at several learning rates, each labelled by what it did.

    The rates are ``FRACTIONS`` of 2/L*, L* the largest Hessian eigenvalue at the minimizer (see
    :func:`curvature_at_minimum`), unless ``lrs`` is given. Left: the loss above the best loss found
    (the reference minimizer's, or a run's if lower), log scale. Right: the parameter error along the
    stiffest direction v (the top eigenvector at the minimizer), which changes sign every step near
    the minimizer once lr > 1/L* and grows there once lr > 2/L*. The returned figure keeps the runs
    (``fig.runs``, a list of :class:`Run`, in the order drawn) and 2/L* (``fig.bound``).
    """
    best_params, best, L_star = curvature_at_minimum(model, X, y)
    bound = 2.0 / L_star
    lrs = [f * bound for f in FRACTIONS] if lrs is None else list(lrs)
    _, Xc, yc = model.check(None, X, y)
    top = np.linalg.eigh(model.module.hessian(best_params, Xc, yc))[1][:, -1]
    theta_star = _flat(best_params)
    runs = [gd_run(model, X, y, float(lr), steps) for lr in lrs]
    best = min([best] + [float(np.min(r.losses)) for r in runs])  # a run may find a lower local minimum
    floor = _floor(best)
    fig, (ax, ax2) = _figure("learning_rates", 2)
    start = None
    for i, run in enumerate(runs):
        frac = run.lr / bound
        color = f"C{i}"
        e = (run.thetas - theta_star) @ top
        e = e / e[0] if e[0] != 0 else e
        run.outcome = outcome(run)
        wave = ", oscillating" if _oscillates(e) and run.outcome != DIVERGED else ""
        run.label = f"{run.outcome}: lr = {run.lr:.3g} ({frac:.3g}·2/L*), {_describe(run, best)}{wave}"
        run.excess = np.maximum(run.losses - best, floor)
        start = run.excess[0] if start is None else start
        ax.plot(np.arange(run.excess.size), run.excess, color=color, lw=1.8, label=run.label)
        if run.outcome == DIVERGED:
            ax.plot([run.excess.size - 1], [min(run.excess[-1], start * 1e3)], "x", color=color, ms=10, mew=2)
        ax2.plot(np.arange(e.size), e, "o-", color=color, ms=3, lw=1, label=f"{run.outcome}{wave} ({frac:.3g}·2/L*)")
    top_y = start * 3e3 if start and any(r.outcome == DIVERGED for r in runs) else None  # a diverging curve: clipped
    ax.set_yscale("log")
    ax.set_ylim(top=top_y)
    ax.set_xlabel("step")
    ax.set_ylabel("loss − best loss (log scale)")
    ax.set_title(f"2/L* = {bound:.3g}, L* the top Hessian eigenvalue at the minimizer", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    ax2.axhline(0, color="k", lw=0.6)
    ax2.set_ylim(-1.6, 1.6)
    ax2.set_xlim(-0.5, min(steps, 20) + 0.5)
    ax2.set_xlabel("step")
    ax2.set_ylabel("vᵀ(θ − θ*) / its start value (v: top Hessian eigenvector)")
    ax2.set_title("Error along the stiffest direction v")
    ax2.grid(True, alpha=0.3)
    ax2.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"{model.name}: gradient descent at {len(runs)} learning rates, each labelled by what it did")
    fig.runs, fig.bound = runs, bound
    return _save(fig, path)


@dataclass
class Sweep:
    """The runs of :func:`lr_sweep`, by increasing learning rate, and what the figure marks."""

    runs: list
    bound: float  # 2/L*, from the Hessian at the minimizer
    largest_stable: float | None  # the largest rate whose run and every smaller rate's converged or kept falling


def lr_sweep(model: Model, X, y, path, steps: int = 50, num: int = 41) -> Figure:
    """Final loss above the best after ``steps`` steps of gradient descent against the learning rate.

    The rates run from 10⁻³ to 1.5 times 2/L* (L* the top Hessian eigenvalue at the minimizer), and
    the figure marks two of them: 2/L*, above which no run can converge to the minimizer, and the
    largest rate measured stable, below which every run converged or was still falling. They differ
    when the path crosses more curved ground than the minimizer (Poisson's e^z). The returned figure
    keeps the runs (``fig.sweep``, a :class:`Sweep`).
    """
    _, best, L_star = curvature_at_minimum(model, X, y)
    bound = 2.0 / L_star
    runs = [gd_run(model, X, y, float(lr), steps) for lr in bound * np.geomspace(1e-3, 1.5, num)]
    for run in runs:
        run.outcome = outcome(run)
    best = min([best] + [float(np.min(r.losses)) for r in runs])
    floor = _floor(best)
    stable = None
    for run in runs:
        if run.outcome not in (CONVERGED, FALLING):
            break
        stable = run
    drawn = [r for r in runs if r.outcome != DIVERGED]
    for run in drawn:
        run.excess = np.maximum(run.losses - best, floor)
    fig, (ax,) = _figure("lr_sweep")
    for kind, marker in ((CONVERGED, "o"), (FALLING, "s"), (NOT_CONVERGING, "D")):
        some = [r for r in drawn if r.outcome == kind]
        if some:
            ax.plot([r.lr for r in some], [r.excess[-1] for r in some], marker, ms=4,
                    label=f"{kind}: final loss − best after {steps} steps")  # fmt: skip
    bad = [r for r in runs if r.outcome == DIVERGED]
    if bad:
        top = max(r.excess[-1] for r in drawn) * 10 if drawn else 1.0
        ax.plot(
            [r.lr for r in bad], [top] * len(bad), "x", color="C3", ms=8, mew=2, label="diverged (drawn at the top)"
        )
    ax.axvline(bound, color="k", ls="--", lw=1.2, label=f"2/L* = {bound:.3g} (Hessian at the minimizer)")
    if stable is not None:
        ax.axvline(stable.lr, color="C2", ls=":", lw=1.6,
                   label=f"largest stable step measured: {stable.lr:.3g} ({stable.outcome})")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("final loss − best loss (log scale)")
    ax.set_title(f"{model.name}: learning-rate sweep")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.sweep = Sweep(runs=runs, bound=bound, largest_stable=None if stable is None else stable.lr)
    return _save(fig, path)


def fitted_line(params: Params, X, y, path) -> Figure:
    """The one-feature data and the fitted line ŷ = w x + b (linear_regression)."""
    x = np.asarray(X, dtype=float)[:, 0]
    w, b = float(np.asarray(params["w"]).reshape(())), float(np.asarray(params["b"]).reshape(()))
    fig, (ax,) = _figure("fitted_line")
    ax.scatter(x, y, s=12, alpha=0.6, label=f"data (n = {x.size})")
    grid = np.linspace(x.min(), x.max(), 2)
    ax.plot(grid, w * grid + b, color="C3", lw=2, label=f"fit: ŷ = {w:.3g}·x {_signed(b)}")
    ax.set_xlabel("feature x")
    ax.set_ylabel("target y")
    ax.set_title("linear_regression: the fitted line")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return _save(fig, path)


def decision_boundary(params: Params, X, y, path) -> Figure:
    """Two-feature data colored by class, the line w·x + b = 0, and contours of P(y = 1)."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y)
    w, b = np.asarray(params["w"], dtype=float), float(np.asarray(params["b"]))
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = 0.05 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
    z = w[0] * g0 + w[1] * g1 + b
    prob = np.exp(-np.logaddexp(0.0, -z))  # σ(z), finite for any z
    fig, (ax,) = _figure("decision_boundary")
    filled = ax.contourf(g0, g1, prob, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.35)
    fig.colorbar(filled, ax=ax, label="P(y = 1)")
    lines = ax.contour(g0, g1, prob, levels=[0.1, 0.25, 0.75, 0.9], colors="0.35", linewidths=0.7)
    ax.clabel(lines, fontsize=7, fmt="%.2g")
    for cls, color in ((0, "C0"), (1, "C3")):
        pts = X[y == cls]
        ax.scatter(pts[:, 0], pts[:, 1], s=12, color=color, edgecolor="k", linewidth=0.3, label=f"class {cls}")
    label = f"boundary {w[0]:.3g}·x₁ {_signed(w[1])}·x₂ {_signed(b)} = 0"
    if abs(w[1]) > 1e-12 * max(abs(w[0]), 1e-300):
        xs = np.linspace(lo[0], hi[0], 2)
        ax.plot(xs, -(w[0] * xs + b) / w[1], "k-", lw=2, label=label)
    elif abs(w[0]) > 0:
        ax.axvline(-b / w[0], color="k", lw=2, label=label)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel("feature x₁")
    ax.set_ylabel("feature x₂")
    ax.set_title("logistic_regression: the decision boundary")
    ax.legend(fontsize=8, loc="best")
    return _save(fig, path)


#: (optimizer, learning rate as a fraction of 2/L, steps, keywords) for the comparison. A step of sgd is an epoch.
COMPARED = (
    ("gd", 0.5, 400, {}),
    ("momentum", 0.5, 400, {"beta": 0.9}),
    ("nesterov", 0.5, 400, {"beta": 0.9}),
    ("newton", None, 50, {}),
    ("sgd", 0.05, 60, {"batch_size": 32, "seed": 0}),
)

SHORT = {"beta": "β", "batch_size": "batch"}


def optimizer_comparison(model: Model, X, y, path) -> Figure:
    """Loss minus the best loss against step and against wall time, for each available optimizer."""
    bound = stable_lr(model, X, y)
    _, best = optimum(model, X, y)
    runs, skipped = [], []
    for name, frac, steps, kw in COMPARED:
        lr = 1.0 if frac is None else frac * bound
        try:
            _, hist, err = train(model, X, y, name, lr=lr, steps=steps, tol=1e-10, **kw)
        except (NotImplementedError, TypeError, ValueError) as e:
            skipped.append(f"{name}: {e}")
            continue
        if hist is None or not hist.loss:
            skipped.append(f"{name}: diverged ({err})")
            continue
        extra = "".join(f", {SHORT[k]} = {v}" for k, v in kw.items() if k in SHORT)
        runs.append((f"{name} (lr = {lr:.3g}{extra})", hist, err))
    best = min([best] + [float(np.nanmin(h.loss)) for _, h, _ in runs])
    floor = _floor(best)
    fig, (ax, ax2) = _figure("optimizer_comparison", 2)
    for i, (label, hist, err) in enumerate(runs):
        loss = np.asarray(hist.loss, dtype=float)
        t = np.asarray(hist.time, dtype=float)[: loss.size]
        excess = np.maximum(loss[: t.size] - best, floor)
        label += " diverged" if err is not None else ""
        ax.plot(np.arange(loss.size), np.maximum(loss - best, floor), color=f"C{i}", lw=1.6, label=label)
        ax2.plot(np.maximum(t, 1e-6) * 1e3, excess, color=f"C{i}", lw=1.6, label=label)
    for a in (ax, ax2):
        a.set_yscale("log")
        a.set_ylabel("loss − best loss (log scale)")
        a.grid(True, alpha=0.3)
        a.legend(fontsize=8)
    ax.set_xlabel("step (for sgd, an epoch)")
    ax.set_title("against step")
    ax2.set_xscale("log")
    ax2.set_xlabel("wall time (ms, log scale)")
    ax2.set_title("against wall time")
    n, d = np.shape(X)
    fig.suptitle(f"{model.name}: optimizers compared (n = {n}, d = {d})")
    for s in skipped:
        print(f"optimizer_comparison: skipped {s}")
    return _save(fig, path)


# -- make plots -----------------------------------------------------------------


# -- the lessons' figures (derivations/lessons/) --------------------------------------------------


def spectral_rates(errors, rates, path, title: str = "Gradient descent along each Hessian eigenvector") -> Figure:
    """|error| along each eigenvector against the step (solid, measured), with the prediction |1 − ηλᵢ|ᵏ |e₀ᵢ|
    (dashed). ``errors`` is (steps + 1, m): the error's coordinates in the eigenbasis; ``rates`` the m factors
    1 − ηλᵢ."""
    fig, (ax,) = _figure("spectral_rates")
    errors = np.abs(np.asarray(errors, dtype=float))
    k = np.arange(errors.shape[0])
    for i, r in enumerate(np.asarray(rates, dtype=float)):
        (line,) = ax.plot(k, np.maximum(errors[:, i], 1e-300), "o", ms=4, label=f"|1 − ηλ| = {abs(r):.3g}")
        ax.plot(k, np.maximum(errors[0, i] * np.abs(r) ** k, 1e-300), ls="--", lw=1, color=line.get_color())
    ax.plot([], [], "o", ms=4, color="gray", label="measured")
    ax.plot([], [], ls="--", color="gray", label="predicted |1 − ηλ|ᵏ |e₀|")
    ax.set_yscale("log")
    ax.set_xlabel("step k")
    ax.set_ylabel("|error along eigenvector| (log scale)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, path)


def steps_by_condition(kappas, counts: dict, path, title: str = "Steps to converge against the condition number"
                       ) -> Figure:  # fmt: skip
    """Steps to a tolerance against κ = L/μ on log-log axes, one line per method (``counts``: label -> steps),
    with the reference slopes κ and √κ."""
    fig, (ax,) = _figure("steps_by_condition")
    kappas = np.asarray(kappas, dtype=float)
    for label, c in counts.items():
        ax.plot(kappas, c, "o-", lw=2, label=label)
    first = [float(np.asarray(c, dtype=float)[0]) for c in counts.values()]
    ax.plot(kappas, max(first) * kappas / kappas[0], "k--", lw=1, label="∝ κ")
    ax.plot(kappas, min(first) * np.sqrt(kappas / kappas[0]), "k:", lw=1, label="∝ √κ")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("condition number κ = L/μ")
    ax.set_ylabel("steps to the tolerance")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return _save(fig, path)


def spectra(eigenvalues: dict, path, title: str = "Hessian eigenvalues") -> Figure:
    """Each Hessian's eigenvalues, largest first, on a log scale (``eigenvalues``: label -> values); the legend
    gives each condition number κ = λ_max/λ_min."""
    fig, (ax,) = _figure("spectra")
    for label, ev in eigenvalues.items():
        ev = np.sort(np.asarray(ev, dtype=float))[::-1]
        ax.plot(np.arange(1, ev.size + 1), ev, "o-", lw=2, label=f"{label} (κ = {ev[0] / ev[-1]:.3g})")
    ax.set_yscale("log")
    ax.set_xlabel("index, largest first")
    ax.set_ylabel("eigenvalue (log scale)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return _save(fig, path)


def links_and_variances(z, curves: dict, path, mu_lim=(-2.0, 3.0)) -> Figure:
    """Left: each inverse link μ(z); right: its variance function v(μ) against μ. ``curves`` maps a label to
    ``(mu, v)``, arrays over the scores ``z``; the axes show μ within ``mu_lim``."""
    fig, (left, right) = _figure("links_and_variances", ncols=2)
    for label, (mu, v) in curves.items():
        left.plot(z, mu, lw=2, label=label)
        order = np.argsort(mu)
        right.plot(np.asarray(mu)[order], np.asarray(v)[order], lw=2, label=label)
    left.set_xlabel("score z = xᵀw + b")
    left.set_ylabel("mean μ = g⁻¹(z)")
    left.set_title("Inverse links")
    right.set_xlabel("mean μ")
    right.set_ylabel("variance v(μ) = dμ/dz")
    right.set_title("Variance functions: the Hessian's weights")
    left.set_ylim(*mu_lim)
    right.set_xlim(*mu_lim)
    right.set_ylim(0.0, mu_lim[1])
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
        ax.legend()
    return _save(fig, path)


def weight_growth(budgets, norms: dict, path, title: str = "Weights against the step budget") -> Figure:
    """‖w‖ after each step budget (log scale), one line per model or setting (``norms``: label -> values)."""
    fig, (ax,) = _figure("weight_growth")
    for label, v in norms.items():
        ax.plot(budgets, v, "o-", lw=2, label=label)
    ax.set_xscale("log")  # ‖w‖ ~ log t on separable data: a straight line here
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel("steps of gradient descent (log scale)")
    ax.set_ylabel("‖w‖")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return _save(fig, path)


def validation_curve(x, train, valid, path, *, xlabel: str, log_x: bool = True, chosen: float | None = None,
                     title: str = "Training and validation loss") -> Figure:  # fmt: skip
    """Training and validation loss against a capacity or a penalty, with the chosen value marked."""
    fig, (ax,) = _figure("validation_curve")
    ax.plot(x, train, "o-", lw=2, label="training loss")
    ax.plot(x, valid, "s-", lw=2, label="validation loss")
    if chosen is not None:
        ax.axvline(chosen, color="gray", ls="--", label=f"chosen: {chosen:.3g}")
    if log_x:
        ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("mean squared error (log scale)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return _save(fig, path)


def network_curves(run, path, title: str | None = None) -> Figure:
    """A network's training and validation loss in nats per character against the step, with the uniform
    guess's log 27 and the learning rate's drop marked (``run``: a lab.optim.network.NetRun)."""
    from lab.optim.network import DECAY_AT, UNIFORM

    fig, (ax,) = _figure("network_curves")
    last = run.steps[-1] if run.steps else 0
    tr = f"2,048 training windows (last {run.train[-1]:.3f})" if run.train else "training windows"
    va = f"2,048 validation windows (last {run.validation[-1]:.3f})" if run.validation else "validation windows"
    ax.plot(run.steps, run.train, lw=2, label=tr)
    ax.plot(run.steps, run.validation, lw=2, ls="--", label=va)
    ax.axhline(UNIFORM, color="gray", lw=1, ls=":", label=f"uniform guess, log 27 = {UNIFORM:.3f}")
    if last:
        ax.axvline(DECAY_AT * last, color="gray", lw=1, ls="-.", label="learning rate ÷ 10")
    ax.set_xlabel("step")
    ax.set_ylabel("nats per character")
    ax.set_title(title or f"{run.name}: loss of the next character")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return _save(fig, path)


def boundary_errors(rows, shares: dict, path, title: str = "Hand against true at each boundary") -> Figure:
    """Each row's worst |hand − true| as a share of its tolerance (log scale), the rows (``rows``: boundaries and
    parameters) from the loss down, one bar per backward and row (``shares``: label -> one share per row). A share
    above 1 is wrong; a share of 0 (exact) is drawn at the axis's left end."""
    fig, (ax,) = _figure("boundary_errors")
    values = np.asarray([list(v) for v in shares.values()], dtype=float)
    positive = values[values > 0]
    floor = 10.0 ** np.floor(np.log10(min(positive.min(), 1e-3))) if positive.size else 1e-3
    y = np.arange(len(rows))
    height = 0.8 / max(len(shares), 1)
    for i, (label, v) in enumerate(shares.items()):
        drawn = np.maximum(np.asarray(list(v), dtype=float), floor)
        ax.barh(y + (i - (len(shares) - 1) / 2) * height, drawn, height=height, left=floor / 10, label=label)
    ax.axvline(1.0, color="black", lw=1, ls="--", label="the tolerance: above it, wrong")
    ax.set_xscale("log")
    ax.set_yticks(y, [f"d {r}" for r in rows])
    ax.invert_yaxis()  # the loss at the top, as the backward reads
    ax.set_xlabel("worst |hand − true| / tolerance (log scale)")
    ax.set_ylabel("gradient of, from the loss down")
    ax.set_title(title)
    ax.grid(True, axis="x", which="both", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=min(len(shares) + 1, 3), fontsize="small")
    return _save(fig, path)


def timings(ns, seconds: dict, path, *, floor=None, title: str = "Time per gradient against n") -> Figure:
    """Seconds per call against n on log-log axes, one line per implementation; ``floor`` (optional) is the
    time of one read of X, the physical floor."""
    fig, (ax,) = _figure("timings")
    for label, t in seconds.items():
        ax.plot(ns, t, "o-", lw=2, label=label)
    if floor is not None:
        ax.plot(ns, floor, "k--", lw=1, label="one read of X (the floor)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rows n")
    ax.set_ylabel("seconds per gradient (log scale)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return _save(fig, path)


def main(argv: list[str] | None = None) -> int:
    """Write every figure into OUTDIR from synthetic data and print the file names."""
    from lab.data import synthetic
    from lab.model import get

    p = argparse.ArgumentParser(prog="python -m lab.plots", description="Write the lab's figures as PNG files.")
    p.add_argument("outdir", nargs="?", default="plots", help="folder for the PNG files (default: plots)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    written = []

    mlr, one, logit = get("multivariate_linear_regression"), get("linear_regression"), get("logistic_regression")
    X, y, _ = synthetic(mlr, n=200, d=3, seed=args.seed)
    X = X * np.array([1.0, 0.6, 0.3])  # unequal feature scales: a condition number of about 10
    learning_rates(mlr, X, y, out / "learning_rates.png")
    lr_sweep(mlr, X, y, out / "lr_sweep.png")
    written += ["learning_rates.png", "lr_sweep.png"]

    X1, y1, _ = synthetic(one, n=80, seed=args.seed + 3, noise=0.5)  # seed 3: a visible slope
    params, _, _ = train(one, X1, y1, "gd", lr=0.5 * stable_lr(one, X1, y1), steps=500, tol=1e-10)
    fitted_line(params, X1, y1, out / "fitted_line.png")
    written.append("fitted_line.png")

    X2, y2, _ = synthetic(logit, n=300, d=2, seed=args.seed)
    params, hist, _ = train(logit, X2, y2, "gd", lr=0.5 * stable_lr(logit, X2, y2), steps=500, tol=1e-8)
    decision_boundary(params, X2, y2, out / "decision_boundary.png")
    loss_curve(hist, out / "loss_curve.png", title="logistic_regression: gradient descent at lr = 1/L")
    written += ["decision_boundary.png", "loss_curve.png"]

    X3, y3, _ = synthetic(logit, n=2000, d=10, seed=args.seed)
    X3 = X3 * np.geomspace(1.0, 0.1, 10)  # unequal scales, where momentum and Newton pay off
    optimizer_comparison(logit, X3, y3, out / "optimizer_comparison.png")
    written.append("optimizer_comparison.png")

    from lab import data
    from lab.net import get as get_net
    from lab.net import network_of
    from lab.optim.network import train as train_network

    names = data.surnames(args.seed)  # a short run on a few thousand names: a second or two
    few = data.Names(names.train[:3000], names.validation[:400], names.test[:1])
    network = network_of(get_net("nets/char_mlp"))
    run = train_network(network, steps=400, lr=network.TRAIN["lr"], sizes={"C": 10, "H": 64}, evals=10, names=few,
                        seed=args.seed)  # fmt: skip
    network_curves(run, out / "network_curves.png", title="char_mlp: 400 steps on 3,000 training names")
    written.append("network_curves.png")

    for name in written:
        print(out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

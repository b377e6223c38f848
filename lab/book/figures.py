"""The trained-model figure of each page, drawn by the lab's own plotting code (``lab.plots``).

Each model is trained by gradient descent on synthetic data of its own kind. Where
its Hessian is known, the figure is ``lab.plots.learning_rates``: the loss at four
learning rates read as fractions of 2/L*, L* the largest Hessian eigenvalue at the
minimizer, and the caption says what each run did. Without a Hessian (the MLP) it is
``lab.plots.loss_curve`` of one run of the lab's default, a backtracking line search.
A model that the lab's ``fit`` cannot train gets a sentence on its page instead of a figure.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Synthetic data of every figure: n rows, d features, one seed.
N, D, SEED = 200, 3, 0
#: For a model whose learning rates cannot be read against 2/L* (no Hessian, or a kink in the gradient),
#: one run is drawn: the line search where the gradient is continuous, else the largest of these steps
#: that does not diverge.
FALLBACK_LRS, FALLBACK_STEPS = (0.1, 0.01, 0.001), 300
#: How a caption tells each run's outcome (lab.plots.outcome).
SAID = {"diverged": "diverged", "converged": "converged", "still falling": "was still falling at the end",
        "not converging": "did not converge"}  # fmt: skip


@dataclass
class Figure:
    """A figure written to ``path`` with its caption, or ``path`` None and the reason in ``caption``."""

    path: Path | None
    caption: str


def trained(name: str, path: Path) -> Figure:
    """Train model ``name`` and draw it into ``path`` (PNG); never raises for a model that will not train."""
    try:
        from lab import model as registry
        from lab.data import synthetic

        m = registry.get(name)
        X, y, _ = synthetic(m, n=N, d=D, seed=SEED)
    except Exception as e:  # noqa: BLE001 - a page says why, the build goes on
        return Figure(None, f"No figure: the synthetic data for {name} could not be made ({_why(e)}).")
    d = m.n_features or D
    data = f"synthetic data ({N} rows, {d} feature{'s' if d != 1 else ''}, seed {SEED})"
    with warnings.catch_warnings(), np.errstate(all="ignore"):  # a diverging run overflows on purpose
        warnings.simplefilter("ignore")
        return _draw(m, X, y, path, name, data)


def _draw(m, X, y, path: Path, name: str, data: str) -> Figure:
    from lab import plots

    first = _no_bound(m)
    if first is None:
        try:
            fig = plots.learning_rates(m, X, y, path)
            return Figure(path, _caption(name, data, fig))
        except Exception as e:  # noqa: BLE001 - fall back to one run below
            first = f"the learning-rate figure failed ({_why(e)})"
    failed = []
    if m.kink_order != 1:  # the lab's default step: a line search, which needs no bound
        try:
            _, hist, err = plots.train(m, X, y, "gd", lr="auto", steps=FALLBACK_STEPS, tol=1e-10)
        except Exception as e:  # noqa: BLE001
            hist, err = None, e
        if err is None and hist is not None and len(hist.loss):
            plots.loss_curve(hist, path, title=f"{name}: gradient descent, steps by line search")
            return Figure(
                path,
                f"{name} trained by gradient descent on {data}, each step by a backtracking (Armijo) line search, "
                f"at most {FALLBACK_STEPS} steps: the loss and the gradient norm ({hist.message}). One run "
                f"only: {first}.",
            )
        failed.append(f"the line search: {_why(err) if err is not None else 'no history'}")
    for lr in FALLBACK_LRS:  # the largest step of these that does not diverge
        try:
            _, hist, err = plots.train(m, X, y, "gd", lr=lr, steps=FALLBACK_STEPS, tol=1e-10)
        except Exception as e:  # noqa: BLE001
            failed.append(f"lr = {lr}: {_why(e)}")
            continue
        if err is None and hist is not None and len(hist.loss):
            plots.loss_curve(hist, path, title=f"{name}: gradient descent at lr = {lr}")
            return Figure(
                path,
                f"{name} trained by gradient descent on {data}, {FALLBACK_STEPS} steps at lr = {lr}: the loss "
                f"and the gradient norm ({hist.message}). One learning rate only: {first}.",
            )
        failed.append(f"lr = {lr}: diverged")
    return Figure(
        None,
        f"No figure: {name} could not be trained by gradient descent with the lab's fit "
        f"({'; '.join(failed)}); and {first}.",
    )


def _caption(name: str, data: str, fig) -> str:
    """What the learning-rate figure shows, each run told by its own outcome."""
    runs = "; ".join(f"at {r.lr / fig.bound:.3g}·2/L* it {SAID[r.outcome]}" for r in fig.runs)
    return (
        f"{name} trained by gradient descent on {data} at four learning rates, read as fractions of "
        f"2/L* = {fig.bound:.3g}, where L* is the largest Hessian eigenvalue at the minimizer (no larger step "
        f"can converge to it): {runs}."
    )


def _no_bound(m) -> str | None:
    """Why the learning rates of this model cannot be read against 2/L*, or None when they can."""
    if not hasattr(m.module, "hessian"):
        return "it defines no hessian, so there is no curvature L* to read learning rates against"
    if m.kink_order == 1:
        return (
            "its gradient jumps (KINK_ORDER = 1), so the Hessian bounds no step across a kink "
            "and 2/L* says nothing about gradient descent here"
        )
    return None


def _why(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__

"""The trained-model figure of each page, drawn by the lab's own plotting code (``lab.plots``).

Each model is trained by gradient descent on synthetic data of its own kind. Where
its Hessian is known, the figure is ``lab.plots.learning_rates``: the loss at four
learning rates read as fractions of the stable bound 2/L. Without a Hessian (the
MLP) it is ``lab.plots.loss_curve`` of one run at a fixed step. A model that the
lab's ``fit`` cannot train gets a sentence on its page instead of a figure.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Synthetic data of every figure: n rows, d features, one seed.
N, D, SEED = 200, 3, 0
#: The steps tried, largest first, for a model whose learning rates cannot be read against 2/L (no
#: Hessian, a kink in the gradient, or a curvature that grows along the path): one run is drawn.
FALLBACK_LRS, FALLBACK_STEPS = (0.1, 0.01, 0.001), 300
GROWS = "gradient descent"


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

    first = _no_bound(m, X, y)
    if first is None:
        try:
            plots.learning_rates(m, X, y, path)
            return Figure(
                path,
                f"{name} trained by gradient descent on {data} at four learning rates, read as fractions "
                "of the stable bound 2/L from the Hessian: slow, good, oscillating and diverging.",
            )
        except Exception as e:  # noqa: BLE001 - fall back to one run below
            first = f"the learning-rate figure failed ({_why(e)})"
    elif first.startswith(GROWS):
        try:  # the sweep shows where the runs diverge, below the bound of the start
            plots.lr_sweep(m, X, y, path)
            return Figure(
                path,
                f"{name} trained by gradient descent on {data}: the loss after 50 steps against the learning "
                f"rate, with 2/L from the Hessian at the start dashed. {first[0].upper()}{first[1:]}.",
            )
        except Exception as e:  # noqa: BLE001 - fall back to one run below
            first += f" (and the sweep failed: {_why(e)})"
    failed = []
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
                f"and the gradient norm. One learning rate only: {first}.",
            )
        failed.append(f"lr = {lr}: diverged")
    return Figure(
        None,
        f"No figure: {name} could not be trained by gradient descent with the lab's fit "
        f"({'; '.join(failed)}); and {first}.",
    )


def _no_bound(m, X, y) -> str | None:
    """Why the learning rates of this model cannot be read against 2/L, or None when they can."""
    from lab import plots

    if not hasattr(m.module, "hessian"):
        return "it defines no hessian, so there is no bound 2/L to read learning rates against"
    if m.kink_order == 1:
        return (
            "its gradient jumps (KINK_ORDER = 1), so the Hessian bounds no step across a kink "
            "and 2/L says nothing about gradient descent here"
        )
    try:
        bound = plots.stable_lr(m, X, y)
        _, _, err = plots.train(m, X, y, "gd", lr=0.5 * bound, steps=60, tol=0.0)
    except Exception as e:  # noqa: BLE001
        return f"its bound 2/L could not be computed ({_why(e)})"
    if err is not None:
        return (
            f"{GROWS} at half the bound 2/L = {bound:.3g} of the Hessian at the start diverges: the curvature "
            "grows along the path, so that bound holds only near where it was computed"
        )
    return None


def _why(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__

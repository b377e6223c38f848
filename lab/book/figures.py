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
#: The step of the fallback run, for models without a Hessian (no bound 2/L to read it against).
FALLBACK_LR, FALLBACK_STEPS = 0.1, 300


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

    if hasattr(m.module, "hessian"):
        try:
            plots.learning_rates(m, X, y, path)
            return Figure(
                path,
                f"{name} trained by gradient descent on {data} at four learning rates, read as fractions "
                "of the stable bound 2/L from the Hessian: slow, good, oscillating and diverging.",
            )
        except Exception as e:  # noqa: BLE001 - fall back to one run below
            first = _why(e)
    else:
        first = "it defines no hessian, so there is no bound 2/L to read learning rates against"
    try:
        _, hist, err = plots.train(m, X, y, "gd", lr=FALLBACK_LR, steps=FALLBACK_STEPS, tol=1e-10)
        if hist is None or not len(hist.loss):
            raise RuntimeError(f"gradient descent diverged ({err})")
        plots.loss_curve(hist, path, title=f"{name}: gradient descent at lr = {FALLBACK_LR}")
    except Exception as e:  # noqa: BLE001
        return Figure(
            None,
            f"No figure: {name} could not be trained by gradient descent with the lab's fit ({_why(e)}); "
            f"the learning-rate figure needs more ({first}).",
        )
    return Figure(
        path,
        f"{name} trained by gradient descent on {data}, {FALLBACK_STEPS} steps at lr = {FALLBACK_LR}: "
        f"the loss and the gradient norm. One learning rate only: {first}.",
    )


def _why(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__

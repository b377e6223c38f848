"""The trained-model figure of each page, drawn by the lab's own plotting code (``lab.plots``).

Each model is trained by gradient descent on synthetic data of its own kind. Where
its Hessian is known, the figure is ``lab.plots.learning_rates``: the loss at four
learning rates read as fractions of 2/L*, L* the largest Hessian eigenvalue at the
minimizer, and the caption says what each run did. Without a Hessian (the MLP) it is
``lab.plots.loss_curve`` of one run of the lab's default, a backtracking line search.
A model that the lab's ``fit`` cannot train gets a sentence on its page instead of a figure.

A network (``lab/nets/NAME.py``) is trained briefly on the census surnames by ``lab.optim.network.train``, its
hand backward and Adam, exactly as ``lab train nets/NAME`` does; the figure is ``lab.plots.network_curves`` of that
run, its caption states what was run and what it reached, and the page lists names sampled from it.
"""

from __future__ import annotations

import importlib
import inspect
import warnings
from dataclasses import dataclass, field
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
#: Each network's run for the book: steps of Adam and init's widths (absent: the file's TRAIN). Short, so that a
#: fresh build stays quick: about 3 s for the MLP and 8 s for the transformer (C = 16, not TRAIN's 32) on one core.
NET_RUNS = {"char_mlp": {"steps": 3000}, "transformer": {"steps": 800, "sizes": {"C": 16}}}
NET_STEPS = 1000  # a network the table does not name
NET_BATCH, NET_SEED = 32, 0


@dataclass
class Figure:
    """A figure written to ``path`` with its caption, or ``path`` None and the reason in ``caption``."""

    path: Path | None
    caption: str
    samples: list[str] = field(default_factory=list)  # a network's: names sampled from the trained network
    data: dict = field(default_factory=dict)  # a network's: what was run and the run's numbers, as the caption says


def trained(name: str, path: Path) -> Figure:
    """Train model ``name`` and draw it into ``path`` (PNG); never raises for a model that will not train."""
    try:
        from lab import model as registry
        from lab.data import synthetic

        m = registry.get(name)
        X, y, _ = synthetic(m, n=N, d=D, seed=SEED)
    except Exception as e:  # noqa: BLE001 - a page says why, the build goes on
        return Figure(None, f"No figure: the synthetic data for {name} could not be made ({_why(e)}).")
    try:  # a model just made by lab new: its loss raises until it is written, once, not at every step tried
        registry.check_contract(m, m.init(X.shape[1]), X, y)
    except Exception as e:  # noqa: BLE001
        return Figure(
            None, f"No figure: {name} does not run yet ({e if isinstance(e, registry.ModelError) else _why(e)})."
        )
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


def network(name: str, path: Path, steps: int | None = None, sizes: dict | None = None) -> Figure:
    """Train the network ``name`` (nets/NAME) briefly with its hand backward and draw its loss curve into ``path``;
    never raises: a network that will not train gets its reason as the caption. ``steps`` and ``sizes`` (init's
    widths) default to :data:`NET_RUNS`."""
    stem = name.removeprefix("nets/")
    plan = NET_RUNS.get(stem, {})
    steps = int(steps if steps is not None else plan.get("steps", NET_STEPS))
    try:
        from lab import plots
        from lab.data import surnames
        from lab.optim.network import UNIFORM, train, windows

        module = importlib.import_module(f"lab.nets.{stem}")
        given = getattr(module, "TRAIN", {})
        # every size init takes (the transformer's blocks L too), at its default unless TRAIN or the plan sets it
        widths = {k: p.default for k, p in inspect.signature(module.init).parameters.items()
                  if p.kind is p.KEYWORD_ONLY and k != "seed" and p.default is not p.empty}  # fmt: skip
        widths |= {k: v for k, v in given.items() if k not in ("block", "lr")}
        widths |= dict(plan.get("sizes", {}) if sizes is None else sizes)
        lr = float(given.get("lr", 1e-3))
        names = surnames(NET_SEED)
        run = train(module, steps=steps, batch=NET_BATCH, lr=lr, seed=NET_SEED, sizes=widths, names=names)
    except Exception as e:  # noqa: BLE001 - a page says why, the build goes on
        return Figure(None, f"No figure: {name} could not be trained ({_why(e)}).")
    count = sum(int(np.size(v)) for v in run.params.values())
    n_val = len(windows(names.validation, run.block))
    data = {"steps": steps, "batch": NET_BATCH, "block": run.block, "sizes": widths, "lr": lr, "seed": NET_SEED,
            "parameters": count, "eval_steps": list(run.steps), "train": list(run.train),
            "validation": list(run.validation), "final_validation": run.final_validation,
            "validation_windows": n_val, "seconds": run.seconds}  # fmt: skip
    plots.network_curves(run, path, title=f"{name}: {steps} steps of Adam, hand backward")
    said = ", ".join(f"{k} = {v}" for k, v in widths.items())
    if getattr(module, "HEADS", None):  # a module constant of the attention, not a size init takes
        said += f", {module.HEADS} attention heads"
    caption = (
        f"{name} trained with its hand backward and Adam for {steps} steps on batches of {NET_BATCH} windows of "
        f"the census surnames ({len(names.train):,} training names; {run.block} characters of context, {said}, "
        f"{count:,} parameters; learning rate {lr:g}, a tenth of it for the last fifth of the steps; seed {NET_SEED}). "
        f"The curves are the loss in nats per character on 2,048 fixed training and validation windows, every "
        f"{run.steps[0]} steps; at step {run.steps[-1]} they read {run.train[-1]:.3f} (training) and "
        f"{run.validation[-1]:.3f} (validation). On all {n_val:,} validation windows the trained network scores "
        f"{run.final_validation:.3f} nats per character, against log 27 = {UNIFORM:.3f} for a uniform guess."
    )
    return Figure(path, caption, list(run.samples), data)


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

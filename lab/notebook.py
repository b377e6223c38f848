"""``lab notebook NAME``: a runnable Jupyter notebook of a model or a lesson.

A model's notebook is its derivation (``derivations/NAME.md``), read by jupytext, so its
```` ```python ```` blocks become code cells and its prose markdown cells, followed by a
section that trains the model the way the lab's first notebooks did: an explicit
gradient-descent loop of about ten lines that calls the model's ``grad``, its predictions, and
its loss curve drawn inline. A lesson's notebook is the lesson (``derivations/lessons/NAME.md``),
with a first cell that makes the ``FIGURES`` folder its blocks draw into, and a cell after each
block that drew a figure, which shows it.
"""

from __future__ import annotations

import math
from pathlib import Path

from lab import model as registry

LESSONS = registry.DERIVATIONS / "lessons"

KERNEL = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def names() -> tuple[list[str], list[str]]:
    """(models, lessons) that have a notebook."""
    lessons = sorted(p.stem for p in LESSONS.glob("*.md") if not p.stem.startswith("_"))
    return registry.names(), lessons


def source(name: str) -> tuple[str, Path]:
    """``("model", derivation)`` or ``("lesson", lesson file)`` for ``name`` (a lesson may be written
    ``lessons/NAME``); a ``ValueError`` listing the names otherwise."""
    models, lessons = names()
    stem = name.removeprefix("lessons/")
    if name in models and registry.get(name).derivation.exists():
        return "model", registry.get(name).derivation
    if stem in lessons:
        return "lesson", LESSONS / f"{stem}.md"
    raise ValueError(f"no model or lesson named {name!r}; models: {', '.join(models)}; lessons: {', '.join(lessons)}")


def notebook(name: str):
    """The notebook of the model or lesson ``name``, as an ``nbformat`` node (not executed)."""
    import jupytext
    import nbformat

    kind, path = source(name)
    nb = jupytext.reads(path.read_text(encoding="utf-8"), fmt="md")
    new_code, new_md = nbformat.v4.new_code_cell, nbformat.v4.new_markdown_cell
    rel = path.relative_to(registry.DERIVATIONS.parent).as_posix()
    note = new_md(f"*Made by `lab notebook {name}` from `{rel}`. Run it in the lab's environment "
                  "(`make test` creates `.venv`; its kernel is `python3`).*")  # fmt: skip
    if kind == "model":
        setup = new_code(f'from lab import get\n\nmodel = get("{name}")  # the blocks below may use `model`')
        cells = [note, setup, *nb.cells, *_training(name)]
    else:
        setup = new_code(
            "from pathlib import Path\n"
            "from IPython.display import Image, display\n\n"
            'FIGURES = Path("figures")  # where the blocks draw their figures\n'
            "FIGURES.mkdir(exist_ok=True)\n"
            "_shown = set()\n\n\n"
            "def show_figures():\n"
            '    """Show the figures drawn since the last call."""\n'
            '    for png in sorted(FIGURES.glob("*.png")):\n'
            "        if png not in _shown:\n"
            "            _shown.add(png)\n"
            "            display(Image(filename=str(png)))"
        )
        cells = [note, setup]
        for cell in nb.cells:
            cells.append(cell)
            if cell.cell_type == "code" and "FIGURES" in cell.source:
                cells.append(new_code("show_figures()"))
    out = nbformat.v4.new_notebook(cells=cells)
    out.metadata["kernelspec"] = dict(KERNEL)
    out.metadata["language_info"] = {"name": "python"}
    out.nbformat_minor = max(out.nbformat_minor, 5)
    for i, cell in enumerate(out.cells):  # stable ids: the same source gives the same file
        cell["id"] = f"{kind}-{i}"
    nbformat.validate(out)
    return out


def _learning_rate(name: str) -> tuple[float, str]:
    """A learning rate for the training section, and where it comes from."""
    from lab.data import synthetic
    from lab.optim import safe_lr

    m = registry.get(name)
    X, y, _ = synthetic(m, n=200, d=3, seed=0)
    try:
        lr, why = safe_lr(m, X, y), "1/L for this data: lab.optim.safe_lr(model, X, y)"
    except ValueError:
        kink = getattr(m.module, "KINK_ORDER", None) == 1
        lr, why = (
            0.05,
            "a small fixed step: "
            + (
                "the gradient of this loss has a kink, so no step is safe everywhere"
                if kink
                else "the model has no Hessian to read a safe step from"
            ),
        )
    lr = float(f"{lr:.3g}")
    for halved in range(30):  # L at the start is not a bound everywhere (Poisson): halve until every step descends
        if _descends(m, X, y, lr):
            return lr, why if not halved else f"{why}, halved {halved} times until every step lowered the loss"
        lr = float(f"{lr / 2:.3g}")
    return lr, why


def _descends(m, X, y, lr: float, steps: int = 300) -> bool:
    """Whether the training section's loop at ``lr`` keeps the loss finite and falling (or flat)."""
    import numpy as np

    params = m.init(X.shape[1])
    last = m.loss(params, X, y)
    with np.errstate(all="ignore"):
        for _ in range(steps):
            g = m.module.grad(params, X, y)
            params = {k: params[k] - lr * g[k] for k in params}
            loss = float(m.module.loss(params, X, y))
            if not (math.isfinite(loss) and loss <= last * (1 + 1e-12) + 1e-15):
                return False
            last = loss
    return True


def _training(name: str) -> list:
    import nbformat

    lr, why = _learning_rate(name)
    code = f"""%matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
from lab.data import synthetic

X, y, _ = synthetic(model, n=200, d=3, seed=0)  # data of the model's own kind
params = model.init(X.shape[1])
lr = {lr!r}  # {why}
losses = [model.loss(params, X, y)]
for step in range(300):
    g = model.grad(params, X, y)  # the hand-derived gradient
    params = {{k: params[k] - lr * g[k] for k in params}}  # θ ← θ − lr ∇L(θ)
    losses.append(model.loss(params, X, y))
print(f"loss {{losses[0]:.6g}} -> {{losses[-1]:.6g}} in {{len(losses) - 1}} steps")"""
    predict = """prediction = np.asarray(model.predict(params, X))
print("first predictions:", np.round(prediction[:5], 4))
print("first targets:    ", y[:5])

fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(losses)
ax.set_yscale("log")
ax.set_xlabel("step")
ax.set_ylabel("training loss (log scale)")
ax.set_title(f"{model.name}: gradient descent at lr = {lr:g}")
plt.show()"""
    return [
        nbformat.v4.new_markdown_cell(
            "## Training it\n\n"
            "Gradient descent written out: the model's `loss`, its hand-derived `grad`, and a loop. "
            "`lab.fit` does the same with more care (stopping rules, other optimizers)."
        ),
        nbformat.v4.new_code_cell(code),
        nbformat.v4.new_code_cell(predict),
    ]


def write(name: str, path: Path | str | None = None) -> Path:
    """Write the notebook of ``name`` to ``path`` (default ``NAME.ipynb`` here); return the path."""
    import nbformat

    nb = notebook(name)
    path = Path(path) if path is not None else Path(f"{name.removeprefix('lessons/')}.ipynb")
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path

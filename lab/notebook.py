"""``lab notebook NAME``: a runnable Jupyter notebook of a model, a lesson or a network.

A model's notebook is its derivation (``derivations/NAME.md``), read by jupytext, so its
```` ```python ```` blocks become code cells and its prose markdown cells, followed by a
section that trains the model the way the lab's first notebooks did: an explicit
gradient-descent loop of about ten lines that calls the model's ``grad``, its predictions, and
its loss curve drawn inline. A lesson's notebook is the lesson (``derivations/lessons/NAME.md``),
with a first cell that makes the ``FIGURES`` folder its blocks draw into, and a cell after each
block that drew a figure, which shows it. A network's notebook (``lab notebook nets/NAME``) is its derivation
(``derivations/nets/NAME.md``), with ``layer``, the network as the verifier sees it, defined first for its
blocks, followed by a section that trains it as the book's page did: mini-batches of windows of the census
surnames, the hand backward stage by stage (``lab.net.backward``) and Adam, in a loop of about fifteen lines, its
loss curve in nats per character drawn inline, and names sampled from it.
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


def networks() -> list[str]:
    """The networks (``nets/NAME``) that have a notebook: those with a derivation."""
    from lab import net

    return [n for n in net.names() if (registry.DERIVATIONS / f"{n}.md").exists()]


def source(name: str) -> tuple[str, Path]:
    """``("model", derivation)``, ``("lesson", lesson file)`` or ``("net", derivation)`` for ``name`` (a lesson
    may be written ``lessons/NAME``, a network is ``nets/NAME``); a ``ValueError`` listing the names otherwise."""
    models, lessons = names()
    stem = name.removeprefix("lessons/")
    if name in models and registry.get(name).derivation.exists():
        return "model", registry.get(name).derivation
    if stem in lessons:
        return "lesson", LESSONS / f"{stem}.md"
    nets = networks()
    if name in nets:
        return "net", registry.DERIVATIONS / f"{name}.md"
    raise ValueError(f"no model, lesson or network named {name!r}; models: {', '.join(models)}; lessons: "
                     f"{', '.join(lessons)}; networks: {', '.join(nets)}")  # fmt: skip


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
    elif kind == "net":
        setup = new_code(
            "from lab import net\n\n"
            f'model = net.get("{name}")  # the network as the verifier sees it\n'
            "layer = model.module.LAYER  # a layer from a window of ids to the loss; its vjp is the hand backward"
        )
        cells = [note, setup, *nb.cells, *_net_training(name)]
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


FIXED_LR = 0.05  # the training section's step when none can be read from the model


def _learning_rate(name: str) -> tuple[float, str]:
    """A learning rate for the training section, and where it comes from."""
    from lab.data import synthetic
    from lab.optim import safe_lr

    m = registry.get(name)
    X, y, _ = synthetic(m, n=200, d=3, seed=0)
    try:  # a model just made by lab new (or broken) still gets its notebook: the derivation, and a loop that
        registry.check_contract(m, m.init(X.shape[1]), X, y)  # will raise what the contract says here
    except Exception as e:  # noqa: BLE001 - the model's own code (init, loss or grad) failed
        said = str(e) if isinstance(e, registry.ModelError) else f"init raised {type(e).__name__}: {e}"
        return FIXED_LR, f"a small fixed step: no step can be read yet, {said}".splitlines()[0]
    try:
        lr, why = safe_lr(m, X, y), "1/L for this data: lab.optim.safe_lr(model, X, y)"
    except ValueError:
        kink = getattr(m.module, "KINK_ORDER", None) == 1
        lr, why = (
            FIXED_LR,
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
            try:
                g = m.module.grad(params, X, y)
                params = {k: params[k] - lr * g[k] for k in params}
                loss = float(m.module.loss(params, X, y))
            except Exception:  # noqa: BLE001 - the model's own code failed on the way: this step does not descend
                return False
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


def _net_training(name: str) -> list:
    """The training section of a network's notebook: the book's run (lab.book.figures.NET_RUNS), written out."""
    import importlib

    import nbformat

    from lab.book.figures import NET_BATCH, NET_RUNS, NET_SEED, NET_STEPS

    stem = name.removeprefix("nets/")
    module = importlib.import_module(f"lab.nets.{stem}")
    given = getattr(module, "TRAIN", {})
    plan = NET_RUNS.get(stem, {})
    sizes = {k: v for k, v in given.items() if k not in ("block", "lr")} | dict(plan.get("sizes", {}))
    steps, block, lr = int(plan.get("steps", NET_STEPS)), int(given.get("block", 3)), float(given.get("lr", 1e-3))
    widths = ", ".join(f"{k}={v!r}" for k, v in sizes.items())
    every = max(1, steps // 20)
    code = f"""%matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
from threadpoolctl import threadpool_limits
from lab import data
from lab.nets import {stem} as network
from lab.optim import Adam
from lab.optim.network import listed, per_character, sample, windows

names = data.surnames(0)  # the census surnames, split 80/10/10 into train, validation, test
block = {block}  # characters of context; a window is block + 1 ids: the context, then the id to predict
train_w, val_w = windows(names.train, block), windows(names.validation, block)
params = network.init(({NET_BATCH}, block + 1), seed={NET_SEED}, {widths})
opt, rng, lr, steps = Adam(lr={lr!r}), np.random.default_rng({NET_SEED}), {lr!r}, {steps}
fixed_tr = train_w[rng.choice(len(train_w), size=2048, replace=False)]  # windows to score along the way
fixed_va = val_w[rng.choice(len(val_w), size=2048, replace=False)]
curve = []  # (step, nats per character on the fixed training windows, on the fixed validation windows)
with threadpool_limits(1, user_api="blas"):  # small matrices: one BLAS thread is the fastest
    for step in range(1, steps + 1):
        if step == int(0.8 * steps) + 1:
            opt.lr = lr / 10  # the last fifth of the steps at a tenth of the rate
        xb = train_w[rng.integers(0, len(train_w), size={NET_BATCH})]  # a batch of windows
        grads, _ = layer.vjp(params, xb, 1.0)  # the hand backward, stage by stage from the loss down
        params = opt.step(params, grads)  # one step of Adam
        if step % {every} == 0:
            curve.append((step, per_character(network, params, fixed_tr), per_character(network, params, fixed_va)))
final = per_character(network, params, val_w)
print(f"validation {{final:.4f}} nats per character after {{steps}} steps "
      f"(uniform guess: log 27 = {{np.log(27):.4f}})")"""
    plot = """steps_at, tr, va = zip(*curve)
fig, ax = plt.subplots(figsize=(7, 4.5))
ax.plot(steps_at, tr, lw=2, label="2,048 training windows")
ax.plot(steps_at, va, lw=2, ls="--", label="2,048 validation windows")
ax.axhline(np.log(27), color="gray", lw=1, ls=":", label="uniform guess, log 27")
ax.set_xlabel("step")
ax.set_ylabel("nats per character")
ax.set_title(f"{model.name}: {steps} steps of Adam, hand backward")
ax.legend()
plt.show()
print("sampled names:", listed(sample(network, params, block, 10, seed=0)))"""
    return [
        nbformat.v4.new_markdown_cell(
            "## Training it\n\n"
            "Mini-batches of windows of the census surnames, the network's hand backward and Adam, written out: "
            f"the run of this network's page in the study book ({steps} steps, the same seed, so the same numbers). "
            f"`lab.optim.network.train` does the same, and `lab train {name}` runs it."
        ),
        nbformat.v4.new_code_cell(code),
        nbformat.v4.new_code_cell(plot),
    ]


def write(name: str, path: Path | str | None = None) -> Path:
    """Write the notebook of ``name`` to ``path`` (default ``NAME.ipynb`` here, without lessons/ or nets/); return
    the path."""
    import nbformat

    nb = notebook(name)
    path = Path(path) if path is not None else Path(f"{name.rpartition('/')[2]}.ipynb")
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path

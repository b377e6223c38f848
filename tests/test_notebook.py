"""lab notebook: every model's, lesson's and network's notebook runs in this environment's kernel and shows its
figures."""

from __future__ import annotations

import math
import re
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from lab import notebook
from lab.cli import main

pytestmark = pytest.mark.slow  # compiles or runs kernels: minutes

MODELS, LESSONS = notebook.names()
NETS = notebook.networks()
TIMES: dict[str, float] = {}


def _run(nb, folder: Path) -> None:
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()


def _images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)


@pytest.mark.parametrize("name", MODELS + LESSONS + NETS)
def test_every_notebook_runs_and_its_figures_appear_in_the_outputs(name, tmp_path):
    path = notebook.write(name, tmp_path / f"{name}.ipynb")
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    kind, source = notebook.source(name)
    blocks = len(re.findall(r"^```python", source.read_text(encoding="utf-8"), re.M))
    assert sum(c.cell_type == "code" for c in nb.cells) >= blocks  # every checked block is a cell
    t0 = time.perf_counter()
    _run(nb, tmp_path)  # raises CellExecutionError, naming the cell, when one fails
    TIMES[name] = time.perf_counter() - t0
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    if kind == "model":
        assert _images(nb) >= 1, "the loss curve is not in the outputs"
        loss0, loss1 = map(float, re.search(r"loss (\S+) -> (\S+) in 300 steps", printed).groups())
        assert loss1 < loss0  # the loop trained it
    elif kind == "net":
        assert _images(nb) >= 1, "the loss curve is not in the outputs"
        final = float(re.search(r"validation (\S+) nats per character after \d+ steps", printed).group(1))
        assert final < math.log(27) - 0.5  # the loop trained it: well below the uniform guess
        sampled = re.search(r"sampled names: (.*)", printed).group(1).split(", ")
        from lab.book.figures import network  # the book page's run: the notebook's loop is the same run

        book = network(name, tmp_path / "book.png")
        assert f"{final:.4f}" == f"{book.data['final_validation']:.4f}"
        assert sampled == [n or "(empty)" for n in book.samples]  # an empty name shown as the book shows it
    else:
        shown = re.findall(r"!\[[^\]]*\]\(figures/[^)]+\.png\)", source.read_text(encoding="utf-8"))
        assert _images(nb) >= len(shown) > 0


def test_the_kernel_is_this_environment(tmp_path):
    """The notebooks run on the python3 kernel of the project's own venv, where lab is installed."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys, lab\nprint(sys.prefix)")])
    _run(nb, tmp_path)
    assert nb.cells[0].outputs[0]["text"].strip() == sys.prefix


def test_lab_notebook_writes_a_model_notebook_with_its_derivation_and_a_training_loop(tmp_path, capsys):
    out = tmp_path / "lr.ipynb"
    assert main(["notebook", "logistic_regression", "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    nb = nbformat.read(str(out), as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "# Logistic regression" in text and r"\tag{11}" in text  # the derivation, as markdown
    loop = next(c.source for c in nb.cells if "for step in range" in c.source)
    assert "model.grad(params, X, y)" in loop and len(loop.splitlines()) <= 16
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert main(["notebook", "lessons/no_minimum", "-o", str(tmp_path / "l.ipynb")]) == 0


def test_lab_notebook_writes_a_network_notebook_with_its_derivation_and_the_book_s_training_run(tmp_path, capsys):
    from lab.book.figures import NET_RUNS

    out = tmp_path / "mlp.ipynb"
    assert main(["notebook", "nets/char_mlp", "-o", str(out)]) == 0
    assert "the network nets/char_mlp" in capsys.readouterr().out
    nb = nbformat.read(str(out), as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "# A character MLP, backpropagated by hand" in text and r"\tag{12}" in text  # the derivation
    setup = nb.cells[1].source
    assert 'model = net.get("nets/char_mlp")' in setup and "layer = model.module.LAYER" in setup
    loop = next(c.source for c in nb.cells if "for step in range" in c.source)
    assert "layer.vjp(params, xb, 1.0)" in loop and "opt.step(params, grads)" in loop
    assert f"steps = Adam(lr=0.01), np.random.default_rng(0), 0.01, {NET_RUNS['char_mlp']['steps']}" in loop
    assert len(loop.splitlines()) <= 30
    assert notebook.write("nets/transformer", tmp_path / "t.ipynb").exists()


@pytest.mark.parametrize(
    "args, says",
    [
        (["notebook", "no_such_thing"], "no model, lesson or network named 'no_such_thing'"),
        (["notebook", "nets/no_such_net"], "networks: nets/char_mlp, nets/transformer"),
        (["notebook", "mlp", "-o", "/nonexistent/folder/x.ipynb"], "there is no folder"),
    ],
)
def test_lab_notebook_bad_input_is_one_line_and_exit_2(args, says, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1

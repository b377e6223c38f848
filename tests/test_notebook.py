"""lab notebook: every model's and lesson's notebook runs in this environment's kernel and shows its figures."""

from __future__ import annotations

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
TIMES: dict[str, float] = {}


def _run(nb, folder: Path) -> None:
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()


def _images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)


@pytest.mark.parametrize("name", MODELS + LESSONS)
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
    if kind == "model":
        assert _images(nb) >= 1, "the loss curve is not in the outputs"
        printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
        loss0, loss1 = map(float, re.search(r"loss (\S+) -> (\S+) in 300 steps", printed).groups())
        assert loss1 < loss0  # the loop trained it
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


@pytest.mark.parametrize(
    "args, says",
    [
        (["notebook", "no_such_thing"], "no model or lesson named 'no_such_thing'"),
        (["notebook", "mlp", "-o", "/nonexistent/folder/x.ipynb"], "there is no folder"),
    ],
)
def test_lab_notebook_bad_input_is_one_line_and_exit_2(args, says, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1

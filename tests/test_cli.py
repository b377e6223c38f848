"""The command line, through ``lab.cli.main`` (and once as ``python -m lab``).

Exit codes: 0 success, 1 a wrong gradient, 2 bad input (one line on stderr, no traceback).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lab.cli import main
from lab.data import synthetic
from lab.model import get, names
from lab.optim import fit

ROOT = Path(__file__).resolve().parent.parent
MLR = ROOT / "lab" / "models" / "multivariate_linear_regression.py"


def _one_line_error(capsys) -> str:
    """The run's stderr, asserted to be one line with no traceback; stdout empty."""
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_verify_unknown_model_is_one_line_naming_it(capsys):
    """``lab verify nope`` exits 2 with one line naming "nope"."""
    assert main(["verify", "nope"]) == 2
    assert "'nope'" in _one_line_error(capsys)


def test_train_with_a_huge_learning_rate_reports_divergence(capsys):
    """``lab train ... --lr 1e9`` exits 2 with one line saying it diverged."""
    assert main(["train", "logistic_regression", "--lr", "1e9", "--steps", "20"]) == 2
    assert "diverged" in _one_line_error(capsys)


@pytest.mark.parametrize(
    "argv, says",
    [
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "required: command"),
        (["train", "linear_regression", "--bogus"], "unrecognized arguments: --bogus"),
        (["train", "linear_regression", "--lr", "fast"], "expected a number or 'auto'; got 'fast'"),
        (["train", "nope"], "'nope'"),
        (["train", "linear_regression", "--n", "0"], "n=0"),
        (["verify", "linear_regression", "--examples", "0"], "--examples must be at least 1"),
        (["verify", "--profile", "huge"], "invalid choice: 'huge'"),
        (["train", "logistic_regression", "--optimizer", "newton", "--warm-start", "0"], "positive number of rows"),
        (["train", "logistic_regression", "--optimizer", "gd", "--hessian-rows", "9"], "apply to --optimizer newton"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(capsys, argv, says):
    """Unknown subcommands, bad flags and bad values: exit 2, one line naming the problem."""
    assert main(argv) == 2
    assert says in _one_line_error(capsys)


def test_verify_a_registered_model(capsys):
    """``lab verify linear_regression`` exits 0 and prints its table row as verified."""
    argv = ["verify", "linear_regression", "--examples", "3", "--no-derivations"]
    assert main(argv) == 0
    out, _ = capsys.readouterr()
    rows = [line for line in out.splitlines() if line.startswith("linear_regression")]
    assert len(rows) == 1 and "verified" in rows[0].split(), out


def test_verify_catches_a_sign_flip_in_a_users_file(tmp_path, capsys):
    """A copy of multivariate_linear_regression with the w-gradient negated: exit 1, the report
    names the file's model and says FAIL."""
    source = MLR.read_text()
    flipped = source.replace("g_w += X[rows].T @ r", "g_w -= X[rows].T @ r")
    assert flipped != source, "the gradient line of multivariate_linear_regression changed"
    path = tmp_path / "flipped_mlr.py"
    path.write_text(flipped)
    assert main(["verify", "--module", str(path), "--examples", "5", "--no-derivations"]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    row = [line for line in out.splitlines() if line.startswith("flipped_mlr ")]
    assert len(row) == 1 and "FAIL" in row[0], out
    assert re.search(r"flipped_mlr: FAIL: w\[", out), out


def test_verify_a_file_that_does_not_import(tmp_path, capsys):
    """``--module`` on a file that raises on import: exit 2, one line saying it does not import."""
    path = tmp_path / "broken.py"
    path.write_text("import numpy as np\nraise ImportError('no such thing')\n")
    assert main(["verify", "--module", str(path)]) == 2
    assert "does not import" in _one_line_error(capsys)


def test_train_prints_the_loss_and_the_fitted_parameters(capsys):
    """``lab train linear_regression --steps 500 --lr 0.1`` exits 0, prints a falling loss and
    the parameters that the Python API fits on the same synthetic data."""
    assert main(["train", "linear_regression", "--steps", "500", "--lr", "0.1"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    m = re.search(r"linear_regression: loss (\S+) -> (\S+) in (\d+) steps", out)
    assert m, out
    first, last = float(m[1]), float(m[2])
    assert last < first
    model = get("linear_regression")
    X, y, _ = synthetic(model, n=200, d=3, seed=0)  # the CLI's defaults
    params, hist = fit(model, X, y, lr=0.1, steps=500)
    assert last == pytest.approx(hist.loss[-1], rel=1e-5)
    for k, v in params.items():
        printed = re.search(rf"^\s+{k} = (.+)$", out, re.M)
        assert printed, out
        values = [float(t) for t in printed[1].strip("[]").split()]
        assert values == pytest.approx(np.ravel(v).tolist(), rel=1e-5)


def test_python_m_lab_models_lists_the_registry():
    """``python -m lab models`` (a real process) prints one registered name per line."""
    done = subprocess.run(
        [sys.executable, "-m", "lab", "models"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == names()


def test_train_newton_on_sampled_rows_says_so(capsys):
    """``--warm-start`` and ``--hessian-rows`` reach the same loss as exact Newton, and the stop line says
    how the run was set up."""
    argv = ["train", "logistic_regression", "--optimizer", "newton", "--n", "2000", "--d", "3", "--tol", "1e-12"]
    assert main(argv) == 0
    exact = capsys.readouterr().out.splitlines()[0]
    assert main([*argv, "--warm-start", "500", "--hessian-rows", "200"]) == 0
    sampled = capsys.readouterr().out.splitlines()[0]
    final = re.compile(r"-> (\S+) in")
    assert float(final.search(sampled)[1]) == pytest.approx(float(final.search(exact)[1]), rel=1e-9)
    assert re.search(r"started from Newton on (\S+ then )?500 of 2,000 rows", sampled)
    assert "each Hessian from 200 random rows" in sampled

"""The command line, through ``lab.cli.main`` (and once as ``python -m lab``).

Exit codes: 0 success, 1 a wrong gradient, 2 bad input (one line on stderr, no traceback).
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import user_losses

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
    assert lines[0].startswith("lab: error: "), lines[0]  # one prefix for every error
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
    table = out.split("\n\n")[0]  # notes on skipped or inconclusive cases follow the table
    rows = [line for line in table.splitlines() if line.startswith("linear_regression")]
    assert len(rows) == 1 and "verified" in rows[0].split(), out


@pytest.mark.parametrize("how", [["--module"], []], ids=["--module", "path alone"])
def test_verify_catches_a_sign_flip_in_a_users_file(tmp_path, capsys, how):
    """A copy of multivariate_linear_regression with the w-gradient negated: exit 1, the report
    names the file's model and says FAIL. The path works with --module or alone."""
    source = MLR.read_text()
    flipped = source.replace("g_w += X[rows].T @ r", "g_w -= X[rows].T @ r")
    assert flipped != source, "the gradient line of multivariate_linear_regression changed"
    path = tmp_path / "flipped_mlr.py"
    path.write_text(flipped)
    assert main(["verify", *how, str(path), "--examples", "5", "--no-derivations"]) == 1
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
    """``python -m lab models`` (a real process) prints a header, then one line per registered model: its
    name, its status in the last report, target, hyperparameters with their domains, and the first line of
    its docstring."""
    done = subprocess.run(
        [sys.executable, "-m", "lab", "models"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    head, *lines = done.stdout.splitlines()
    assert head.split()[:3] == ["model", "verified", "target"]
    assert [line.split()[0] for line in lines] == names()
    for line in lines:
        m = get(line.split()[0])
        assert line.split()[1] in ("verified", "FAIL", "ERROR", "-")  # the last make verify's word, if any
        assert line.split()[2] == m.target
        assert m.module.__doc__.strip().splitlines()[0] in line
        assert all(f"{k}=" in line and f" in {d}" in line for k, d in m.hyper_domains.items())


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


def test_lab_alone_lists_its_subcommands(capsys):
    """``lab`` with no arguments prints each subcommand with its help line and exits 0."""
    assert main([]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    for command in ("verify", "train", "new", "mutants", "models"):
        assert re.search(rf"^  {command}\s+\S", out, re.M), out


def test_train_that_makes_the_loss_worse_fails_naming_the_rate_and_bound(capsys):
    """``--lr 100`` on logistic regression does not blow up but ends above its start: exit 2, one line with
    the learning rate and the stable bound, which is below 100."""
    assert main(["train", "logistic_regression", "--lr", "100", "--steps", "50"]) == 2
    line = _one_line_error(capsys)
    m = re.search(r"loss worse, (\S+) -> (\S+), at learning rate 100; .* stable learning rate is below (\S+)$", line)
    assert m, line
    assert float(m[2]) > float(m[1]) and float(m[3]) < 100


def test_train_accepts_a_module_name_without_py_from_its_folder(tmp_path, monkeypatch, capsys):
    """``lab train my_mlr`` in the folder of my_mlr.py trains that file."""
    (tmp_path / "my_mlr.py").write_text(MLR.read_text())
    monkeypatch.chdir(tmp_path)
    assert main(["train", "my_mlr", "--steps", "20", "--lr", "0.1"]) == 0
    assert "my_mlr: loss" in capsys.readouterr().out


def test_verify_module_says_which_derivation_it_checks(tmp_path, capsys):
    """A my_mlr.md beside my_mlr.py is picked up, and the run says so; a block that asserts nothing about
    the model makes it "unchecked", and the run fails."""
    (tmp_path / "my_mlr.py").write_text(MLR.read_text())
    md = tmp_path / "my_mlr.md"
    from lab.derivations.check import cited

    tags = "".join(f"$$ x \\tag{{{label}}} $$\n" for label in cited(MLR.read_text()))  # every label the code cites
    md.write_text(f"# My MLR\n\n{tags}\n```python\nassert True\ng = model.grad\n```\n")
    assert main(["verify", "--module", str(tmp_path / "my_mlr.py"), "--examples", "2"]) == 1
    out = capsys.readouterr().out
    assert f"my_mlr: checking the derivation {md}" in out
    row = next(line for line in out.splitlines() if line.startswith("my_mlr "))
    assert row.split()[-2:] == ["unchecked", "FAIL"], row  # its block asserts nothing about the model


def test_progress_lines_when_stderr_is_not_a_terminal(monkeypatch, capsys):
    """With stderr not a terminal, ``_progress`` prints a plain line every EVERY seconds naming the model,
    the cases done and the seconds elapsed, and stops when the run ends."""
    import time

    from lab import cli

    monkeypatch.setattr(cli._progress, "EVERY", 0.05)
    lines: list[str] = []
    with cli._progress("some_model") as tick:
        tick(7)
        deadline = time.monotonic() + 30  # two lines, however busy the machine (a fixed sleep was flaky)
        while len(lines) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
            lines += capsys.readouterr().err.splitlines()
    time.sleep(0.15)  # three periods: a thread that went on would print three more lines
    after = capsys.readouterr().err.splitlines()
    assert len(lines) >= 2 and len(after) <= 1, (lines, after)  # at most the line in flight at the end
    assert all(re.fullmatch(r"lab: some_model: 7 cases checked, \d+ s", line) for line in lines + after), lines


BROKEN_GRAD = "\n\ndef grad(params, X, y):\n    g = _grad(params, X, y)\n    return {BODY}\n"


def _user_file(tmp_path, name, body=None, loss=None):
    """multivariate_linear_regression under another name, its grad (or loss) replaced."""
    src = MLR.read_text().replace("def grad(", "def _grad(")
    if body is None:
        src = src.replace("def _grad(", "def grad(")
    else:
        src += BROKEN_GRAD.replace("{BODY}", body)
    if loss is not None:
        src = src.replace("def loss(", "def _loss(") + f"\n\ndef loss(params, X, y):\n    return {loss}\n"
    path = tmp_path / f"{name}.py"
    path.write_text(src)
    return str(path)


#: every error path of the command line: (argv, with {tmp} for a temporary folder; a phrase of the line)
ERROR_PATHS = [
    (["frobnicate"], "invalid choice"),
    (["verify", "nope"], "unknown model 'nope'"),
    (["verify", "--module", "{tmp}/absent.py"], "no such model file"),
    (["verify", "{tmp}/absent.py"], "no such model file"),
    (["verify", "{tmp}/broken.py"], "does not import"),
    (["verify", "--module", "{tmp}/broken.py"], "does not import"),
    (["verify", "--profile", "huge"], "invalid choice: 'huge'"),
    (["verify", "linear_regression", "--examples", "0"], "--examples must be at least 1"),
    (["verify", "linear_regression", "--json", "/nonexistent/dir/r.json"], "there is no folder /nonexistent/dir"),
    (["verify", "linear_regression", "--json", "{tmp}"], "is a folder"),
    (["verify", "--seed", "x"], "invalid int value"),
    (["train", "nope"], "known models: hinge_svm"),
    (["train", "lab.models.nope"], "no model module named"),
    (["train", "linear_regression", "--bogus"], "unrecognized arguments: --bogus"),
    (["train", "linear_regression", "--lr", "fast"], "expected a number or 'auto'"),
    (["train", "linear_regression", "--lr", "-1"], "learning rate must be a positive number"),
    (["train", "linear_regression", "--n", "0"], "n=0"),
    (["train", "linear_regression", "--steps", "-2"], "steps must be non-negative"),
    (["train", "linear_regression", "--optimizer", "adagrad"], "invalid choice: 'adagrad'"),
    (["train", "linear_regression", "--target", "y"], "--target goes with --csv"),
    (["train", "linear_regression", "--csv", "{tmp}/absent.csv"], "--csv needs --target"),
    (["train", "linear_regression", "--csv", "{tmp}/absent.csv", "--target", "y"], "no such file"),
    (["train", "linear_regression", "--data", "diabetes"], "exactly 1 feature"),
    (["train", "ridge_regression", "--hyper", "lam"], "--hyper takes NAME=NUMBER"),
    (["train", "ridge_regression", "--hyper", "lam=-1"], "lam = -1 is outside its domain [0, inf)"),
    (["train", "huber_regression", "--hyper", "delta=0"], "delta = 0 is outside its domain (0, inf)"),
    (["train", "ridge_regression", "--hyper", "tau=0.5"], "has no hyperparameter tau"),
    (["train", "hinge_svm", "--lr", "auto"], "no learning rate is stable"),
    (["train", "logistic_regression", "--lr", "1e9", "--steps", "20"], "diverged"),
    (["train", "logistic_regression", "--lr", "100", "--steps", "50"], "made the loss worse"),
    (["train", "logistic_regression", "--optimizer", "closed"], "closed form applies to least squares"),
    (["train", "logistic_regression", "--optimizer", "newton", "--warm-start", "0"], "positive number of rows"),
    (["train", "logistic_regression", "--optimizer", "gd", "--hessian-rows", "9"], "apply to --optimizer newton"),
    (["train", "{tmp}/list_grad.py", "--lr", "0.1"], "grad returns a list; it must return a dict"),
    (["train", "{tmp}/b_shape.py", "--lr", "0.1"], "grad['b'] has shape (1,); params['b'] has shape ()"),
    (["train", "{tmp}/vector_loss.py", "--lr", "0.1"], "loss returns shape (16,); it must return a scalar"),
    (["train", "{tmp}/fresh.py", "--lr", "0.1"], "loss is not implemented yet"),
    (["new", "Bad-Name"], "not a valid model name"),
    (["new", "linear_regression"], "exists already"),
    (["new", "x_loss", "--target", "complex"], "invalid choice: 'complex'"),
    (["new", "x_loss", "--kink", "3"], "invalid choice: 3"),
    (["new", "x_loss", "--hyper", "tau=0.9:0.1"], "--hyper"),
    (["new", "x_loss", "--hyper", "tau=0.5:2 in (0, 1)"], "outside"),
    (["mutants", "nope"], "unknown model 'nope'"),
    (["verify", "layers/linear", "--at", "{tmp}/model_point.npz"], "layers/linear's point needs W, x (a layer's or"),
    (["train", "layers/linear"], "layers/linear is a layer, which has no loss of its own to fit"),
    (["train", "linear_regression", "--plot", "{tmp}/no/such/x.png"], "--plot: cannot write"),
    (["verify", "relu"], "unknown model 'relu'; known models: hinge_svm"),
    (["verify", "relu"], "(or a path to your own .py file); did you mean layers/relu?"),
    (["train", "char_mlp"], "; did you mean nets/char_mlp?"),
    (["mutants", "{tmp}/fresh.py"], "fresh: loss is not implemented yet"),
    (["mutants", "{tmp}/root/lab/layers/own_layer.py"], "no mistake to seed into own_layer"),
]


@pytest.mark.parametrize("argv, says", ERROR_PATHS, ids=[" ".join(a) for a, _ in ERROR_PATHS])
def test_every_error_path_is_one_line_exit_2_and_no_traceback(tmp_path, capsys, argv, says):
    """Each error path of the command line, through ``main`` with stderr captured: exit 2, exactly one
    line on stderr naming the problem, nothing on stdout, no traceback."""
    from lab.scaffold import new, new_layer

    (tmp_path / "broken.py").write_text("raise ImportError('no such thing')\n")
    _user_file(tmp_path, "list_grad", body="list(g.values())")
    _user_file(tmp_path, "b_shape", body="{'w': g['w'], 'b': g['b'].reshape(1)}")
    _user_file(tmp_path, "vector_loss", loss="(X @ params['w'] + params['b'] - y) ** 2")
    py, _ = new("fresh", tmp_path / "root")
    (tmp_path / "fresh.py").write_text(py.read_text())
    new_layer("own_layer", tmp_path / "root")
    np.savez(tmp_path / "model_point.npz", X=np.ones((2, 3)), y=np.zeros(2), w=np.zeros(3), b=np.zeros(()))
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if argv[0] == "new" and argv[1] != "linear_regression":
        argv += ["--root", str(tmp_path / "root")]
    assert main(argv) == 2
    assert says in _one_line_error(capsys)


def test_lab_new_asks_on_a_terminal(monkeypatch):
    """The questions of ``lab new`` on a terminal: a bad answer is asked again, Enter keeps the default,
    and the answers become the target, the kink order and the hyperparameters."""
    from lab import cli

    answers = iter(["reals", "positive", "3", "1", "tau=2:1", "tau=0.1:0.9 in (0, 1); s=1:2"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    target, kink, hyper = cli._ask()
    assert (target, kink) == ("positive", 1)
    assert [(h.name, h.lo, h.hi, h.domain) for h in hyper] == [("tau", 0.1, 0.9, "(0, 1)"), ("s", 1, 2, "(-inf, inf)")]
    monkeypatch.setattr("builtins.input", lambda prompt: "")
    assert cli._ask() == ("real", None, [])


def _watch_with_edits(monkeypatch, argv: list[str], edits: list) -> int:
    """``lab verify --watch`` for len(edits) + 1 runs: each wait for a save makes the next edit instead."""
    import time

    from lab import cli

    pending = list(edits)

    def sleep(seconds):  # the wait for a save (poll), not the pause after one (poll / 3)
        if seconds == 0.25:
            if not pending:
                raise KeyboardInterrupt  # never hang: a run too many is a failure, not a wait
            pending.pop(0)()

    monkeypatch.setattr(time, "sleep", sleep)
    args = cli._parser().parse_args(["verify", *argv, "--watch"])
    monkeypatch.setattr(cli, "_watch", functools.partial(cli._watch, poll=0.25, runs=len(edits) + 1))
    return cli._verify(args)


def test_watch_verifies_again_after_each_save(tmp_path, monkeypatch, capsys):
    """A wrong gradient saved is a FAIL, a file saved mid-edit (a syntax error) is one line and the watch
    goes on, and the fix saved is verified: each in the same process, from the file as saved."""
    path = tmp_path / "watched_mlr.py"
    good = MLR.read_text()
    path.write_text(good)
    flipped = good.replace("g_w += X[rows].T @ r", "g_w -= X[rows].T @ r")
    assert flipped != good
    edits = [
        lambda: path.write_text(flipped),
        lambda: path.write_text(good + "\ndef broken(:\n"),
        lambda: path.write_text(good + "\n# fixed\n"),
    ]
    rc = _watch_with_edits(monkeypatch, [str(path), "--examples", "2", "--no-derivations"], edits)
    out, err = capsys.readouterr()
    assert rc == 0
    runs = out.split("changed: verifying again")
    assert len(runs) == 4, out
    row = lambda text: next(line for line in text.splitlines() if line.startswith("watched_mlr "))  # noqa: E731
    assert "verified" in row(runs[0]) and "FAIL" in row(runs[1]) and "verified" in row(runs[3])
    assert runs[0].splitlines()[-1].endswith(" watched_mlr.py ")  # the line that names the file saved
    assert err.count("lab: error:") == 1 and "does not import" in err and "Traceback" not in out + err


def test_watch_reads_an_edited_module_again(tmp_path, monkeypatch, capsys):
    """A model given as a dotted module is imported once; an edit to it is read again (a reload)."""
    (tmp_path / "watch_probe_mlr.py").write_text(MLR.read_text())
    monkeypatch.syspath_prepend(str(tmp_path))
    flipped = MLR.read_text().replace("g_w += X[rows].T @ r", "g_w -= X[rows].T @ r")
    edits = [lambda: (tmp_path / "watch_probe_mlr.py").write_text(flipped)]
    rc = _watch_with_edits(monkeypatch, ["--module", "watch_probe_mlr", "--examples", "2", "--no-derivations"], edits)
    assert rc == 1
    first, second = capsys.readouterr().out.split("changed: verifying again")
    assert "verified" in first and "FAIL" in second


def test_watch_of_a_file_that_is_not_there_is_a_usage_error(tmp_path, capsys):
    assert main(["verify", str(tmp_path / "absent.py"), "--watch"]) == 2
    assert "no such model file" in _one_line_error(capsys)
    assert main(["verify", "linear_regression", "--watch", "--at", "p.npz"]) == 2
    assert "--watch and --at" in _one_line_error(capsys)


# -- the default step of lab train ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name, why",
    [("focal_loss", "has no Hessian"), ("tukey_biweight", "has no curvature bound that holds everywhere")],
)
def test_train_a_new_loss_by_default(tmp_path, capsys, name, why):
    """``lab train FILE`` with no --lr trains a loss without a Hessian (focal) and a non-convex one (Tukey's
    biweight) to a gradient norm at tol, by a line search, and says so; --lr FLOAT stays that exact step."""
    path = user_losses.write(tmp_path, name)
    assert main(["train", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert f"learning rate auto: a backtracking (Armijo) line search at each step, since {name} {why}" in out
    found = re.search(rf"{name}: loss (\S+) -> (\S+) in (\d+) steps \(converged: gradient norm (\S+) ≤ tol 1e-08", out)
    assert found, out
    assert float(found[2]) < float(found[1]) and int(found[3]) <= 100 and float(found[4]) <= 1e-8
    low, high = map(float, re.search(r"step sizes taken: (\S+) to (\S+)", out).groups())
    assert 0 < low <= high

    assert main(["train", str(path), "--lr", "0.5", "--steps", "3"]) == 0
    out, _ = capsys.readouterr()
    assert "learning rate 0.5" in out and "line search" not in out
    model = user_losses.user_model(tmp_path, name)
    X, y, _ = synthetic(model, n=200, d=3, seed=0)
    _, hist = fit(model, X, y, lr=0.5, steps=3)
    assert f"-> {hist.loss[-1]:.10g} in 3 steps" in out


def test_train_reports_a_flat_start(tmp_path, capsys):
    """Tukey's biweight on diabetes (targets 25 to 346, every residual at w = 0, b = 0 beyond c): the
    gradient is exactly 0 at the start, and the run says "flat start", not "converged"."""
    path = user_losses.write(tmp_path, "tukey_biweight")
    assert main(["train", str(path), "--data", "diabetes"]) == 0
    out, _ = capsys.readouterr()
    assert "in 0 steps (flat start: the gradient is exactly 0 at the starting point" in out, out
    assert "plateau" in out and "converged" not in out


def test_train_momentum_auto_without_a_hessian_names_the_way_out(tmp_path, capsys):
    path = user_losses.write(tmp_path, "focal_loss")
    assert main(["train", str(path), "--optimizer", "momentum"]) == 2
    assert "use --optimizer gd (a line search)" in _one_line_error(capsys)


# -- help, version, --at files ------------------------------------------------------------------------


def test_version_and_each_subcommand_s_help_shows_valid_examples_and_exit_codes(capsys):
    import shlex

    from lab import __version__
    from lab.cli import _parser

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"lab {__version__}"
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "exit codes: 0" in capsys.readouterr().out
    for command in ("verify", "train", "new", "mutants", "models", "cache", "book", "notebook"):
        with pytest.raises(SystemExit) as e:
            main([command, "--help"])
        out = capsys.readouterr().out
        assert e.value.code == 0 and re.search(r"^exit codes: 0 .*; 2 bad input", out, re.M), command
        shown = re.split(r"^examples?:$", out, flags=re.M)[1]
        examples = [x.strip() for x in shown.splitlines() if x.strip().startswith("lab ")]
        assert examples, f"lab {command} --help shows no example"
        for line in examples:  # every example parses as a command line of this very parser
            words = shlex.split(line.split("  ")[0])
            assert words[:2] == ["lab", command], line
            _parser().parse_args(words[1:])
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    out = capsys.readouterr().out
    assert "--profile {dev,ci,thorough,extreme}" in out and "how hard to search" in out
    with pytest.raises(SystemExit):
        main(["new", "--help"])
    assert "the new model's name" in capsys.readouterr().out


def test_at_with_a_file_that_is_not_an_npz_says_what_it_must_hold(tmp_path, capsys):
    text, npy, objects = tmp_path / "point.txt", tmp_path / "point.npy", tmp_path / "objects.npz"
    text.write_text("x,y\n1,2\n")
    np.save(npy, np.zeros(3))
    np.savez(objects, X=np.zeros((2, 1)), y=np.array([{"a": 1}, None], dtype=object))
    for path, says in ((text, "is not an .npz file"), (npy, "is an .npy file, one array"),
                       (objects, "it holds Python objects, not numbers")):  # fmt: skip
        assert main(["verify", "linear_regression", "--at", str(path)]) == 2
        line = _one_line_error(capsys)
        assert says in line and "np.savez('point.npz', X=X, y=y, w=w, b=b)" in line, line
        assert "pickle" not in line and "unsafe" not in line, line


def test_at_takes_hyperparameters_from_the_file(tmp_path, capsys):
    m = get("ridge_regression")
    X, y, _ = synthetic(m, n=12, d=3, seed=1)
    params = {"w": np.array([0.3, -0.2, 0.1]), "b": np.array(0.5)}
    bad = tmp_path / "bad.npz"
    np.savez(bad, X=X, y=y, lam=np.array(-5.0), **params)
    assert main(["verify", "ridge_regression", "--at", str(bad)]) == 2
    assert "lam = -5 is outside its domain" in _one_line_error(capsys)  # the file's lam was read
    good = tmp_path / "good.npz"
    np.savez(good, X=X, y=y, lam=np.array(0.5), **params)
    assert main(["verify", "ridge_regression", "--at", str(good)]) == 0
    assert capsys.readouterr().out.startswith("ridge_regression: verified: ")


def test_a_failing_verify_writes_its_counterexample_and_at_reads_it_back(tmp_path, monkeypatch, capsys):
    source = MLR.read_text()
    flipped = source.replace("g_w += X[rows].T @ r", "g_w -= X[rows].T @ r")
    assert flipped != source, "the gradient line of multivariate_linear_regression changed"
    path = tmp_path / "flipped_mlr.py"
    path.write_text(flipped)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("lab.cli.COUNTEREXAMPLES", ".cache/counterexamples")  # the default (conftest moves it)
    assert main(["verify", str(path), "--examples", "3", "--no-derivations"]) == 1
    out = capsys.readouterr().out
    saved = tmp_path / ".cache" / "counterexamples" / "flipped_mlr.npz"
    again = f"lab verify {path} --at .cache/counterexamples/flipped_mlr.npz"
    written = "flipped_mlr: counterexample written to .cache/counterexamples/flipped_mlr.npz"
    assert f"{written}; judge it alone: {again}" in out
    with np.load(saved) as z:
        assert {"X", "y", "w", "b"} <= set(z.files)
    assert main(again.split()[1:]) == 1  # the same wrong gradient, found again at that one point
    assert "flipped_mlr: WRONG" in capsys.readouterr().out

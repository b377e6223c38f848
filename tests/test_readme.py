"""The README's commands run as printed, after its set-up steps, in a fresh clone.

The clone is ``git clone`` of this repository (its committed HEAD) into a temporary folder. Every ```sh block of the
README is run there by bash as one script (``set -e``, so a ``source`` carries on to the lines after it).

Exactly two lines are left out: ``make verify`` and ``make test``. CI runs those two itself, and here they would
build a second venv and run the whole suite inside the suite. What ``make verify`` leaves behind that the other
commands need, the venv ``.venv`` with the lab installed and its stamp, is stood in for by a venv of the clone's own
(no pip, no download) that sees the packages of the venv running these tests and the clone's own ``lab`` (checked
below), with the ``lab`` script pip would write. Never a link to the running venv: a ``make`` target in the clone
would then install the clone into it. ``BROWSER=true``, so that ``lab book --open`` opens nothing. Without node and
npm the book's block cannot run: it is skipped with one line, except under CI=true, where that is a failure, as in
tests/test_book.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
LEFT_TO_CI = ("make verify", "make test")  # run by CI itself; everything else runs here


def _blocks(text: str) -> list[str]:
    return re.findall(r"^ *```sh\n(.*?)^ *```", text, flags=re.S | re.M)


def _command(line: str) -> str:
    return line.split("#", 1)[0].strip()


def test_the_readme_keeps_its_two_commands_and_says_what_a_verdict_means():
    text = README.read_text(encoding="utf-8")
    commands = [_command(x) for block in _blocks(text) for x in block.splitlines()]
    assert [c for c in commands if c in LEFT_TO_CI] == list(LEFT_TO_CI)
    assert "\n## What a verdict means\n" in text
    first_screen = "\n".join(text.splitlines()[:40])  # what the lab is, the two commands, where to go next
    assert "make verify" in first_screen and "make test" in first_screen and "source .venv/bin/activate" in first_screen


def test_the_book_s_example_quotes_the_code_as_it_is_now():
    """docs/book.md quotes a line of logistic_regression.py and names the lines that implement eq. 7."""
    from lab.derivations import cited

    doc = (ROOT / "docs" / "book.md").read_text(encoding="utf-8")
    source = (ROOT / "lab" / "models" / "logistic_regression.py").read_text(encoding="utf-8").splitlines()
    line = int(re.search(r"for example line (\d+):", doc).group(1))
    quoted = re.search(r"```python\n(.*?)\n```", doc, re.S).group(1)
    assert source[line - 1] == quoted
    implementing = [i for i, s in enumerate(source, 1) if "7" in cited(s)]
    assert f"implemented at lines {', '.join(map(str, implementing))}" in doc
    assert f"#L{implementing[0]}" in doc


def _stand_in_venv(clone: Path) -> None:
    """clone/.venv as make verify leaves it: a venv whose python imports the clone's lab, a lab script, the stamp."""
    venv = clone / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    here = [p for p in sys.path if p.endswith("site-packages")]  # the packages of the venv running these tests
    (site / "lab_stand_in.pth").write_text("\n".join([str(clone), *here]) + "\n", encoding="utf-8")
    script = venv / "bin" / "lab"
    script.write_text(f"#!{venv / 'bin' / 'python'}\nimport sys\nfrom lab.cli import main\nsys.exit(main())\n")
    script.chmod(0o755)
    (venv / ".installed").touch()  # Makefile's stamp: the venv is up to date, so no make target installs anything


@pytest.mark.slow
def test_every_command_of_the_readme_runs_as_printed_in_a_fresh_clone(tmp_path):
    clone = tmp_path / "lab"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, capture_output=True)
    _stand_in_venv(clone)
    env = {
        **os.environ,
        "BROWSER": "true",
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "HYPOTHESIS_PROFILE": os.environ.get("HYPOTHESIS_PROFILE", "ci"),
    }
    for var in ("VIRTUAL_ENV", "PYTHONPATH"):
        env.pop(var, None)
    which = subprocess.run(
        [str(clone / ".venv" / "bin" / "python"), "-c", "import lab; print(lab.__file__)"],
        cwd=clone, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert Path(which.stdout.strip()).is_relative_to(clone), f"the clone's commands would run {which.stdout}"

    blocks = _blocks((clone / "README.md").read_text(encoding="utf-8"))
    ran, left = [], []
    for block in blocks:
        lines = block.splitlines()
        left += [x for x in lines if _command(x) in LEFT_TO_CI]
        script = "\n".join(x for x in lines if _command(x) not in LEFT_TO_CI)
        if not _command(script.replace("\n", " ")):
            continue
        if "lab book" in script and not (shutil.which("node") and shutil.which("npm")):
            msg = "node and npm are missing (apt-get install nodejs npm): the README's book command cannot run"
            pytest.fail(msg) if os.environ.get("CI") == "true" else pytest.skip(msg)
        proc = subprocess.run(["bash", "-e", "-x", "-c", script], cwd=clone, env=env, capture_output=True, text=True)
        said = f"{script}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        assert proc.returncode == 0, f"a README block failed:\n{said}"
        assert "Traceback" not in proc.stdout + proc.stderr
        ran += [_command(x) for x in script.splitlines() if _command(x)]
    assert [_command(x) for x in left] == list(LEFT_TO_CI)  # exactly those two were left to CI
    assert any(c.startswith("lab verify") for c in ran) and any("lab book" in c for c in ran), ran
    # what the commands said they would make, they made
    assert (clone / "linear_regression.ipynb").exists()
    assert (clone / "book" / "linear_regression.html").exists() and (clone / "book" / "index.html").exists()

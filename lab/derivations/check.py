"""Check the derivations: every model has one, every block runs, every cited equation exists.

A derivation is ``derivations/NAME.md`` beside ``lab/models/NAME.py``. Its
```` ```python ```` blocks run in order in one namespace, like cells of a
notebook, so a later block can use what an earlier one defined. A block
fails the check when it raises (its ``assert`` statements are the checks).

A derivation has one of four statuses: "ok"; "FAIL" (a block raises, a cited
label is missing, ...); "template", when it is still the text ``lab new`` wrote;
and "unchecked", when its blocks assert nothing about the model: they still
pass when the model's ``grad`` is made wrong (1.5 × grad + 0.1).

A lesson is ``derivations/lessons/NAME.md``: a chapter across models, named by no model file.
It is checked the same way (its blocks run in one namespace; it labels its equations), with
``FIGURES`` in the namespace, a folder its blocks draw their figures into (a temporary one here,
``book/figures/`` when the book is built). Its result is named ``lessons/NAME``; it is "unchecked"
when its blocks still pass with every model's ``grad`` and every layer's ``vjp`` made wrong (a lesson
on a network reaches the layers' ``vjp`` through ``lab.net``, never a model's ``grad``).
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lab import model as registry
from lab.scaffold import is_template

BLOCK = re.compile(r"^```python[^\n]*\n(.*?)^```", re.S | re.M)
TAG = re.compile(r"\\tag\{([^}]+)\}")
CITE = re.compile(r"\(eqs?\.\s*([0-9][0-9a-z]*(?:\s*(?:,|and|–|-)\s*[0-9][0-9a-z]*)*)\)")


@dataclass
class DerivationResult:
    name: str
    blocks: int = 0
    problems: list[str] = field(default_factory=list)
    template: bool = False  # still the text lab new wrote
    unchecked: bool = False  # the blocks pass with a wrong grad too

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def status(self) -> str:
        """ "ok", "template", "unchecked" or "FAIL": the derivation column of ``lab verify``."""
        if self.template:
            return "template"
        if self.unchecked:
            return "unchecked"
        return "ok" if self.ok else "FAIL"


def blocks(text: str) -> list[tuple[int, str]]:
    """The python blocks of a markdown text, each with the line it starts on."""
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in BLOCK.finditer(text)]


def cited(source: str) -> set[str]:
    """Equation labels cited in code as ``(eq. 4)`` or ``(eqs. 6, 7)``."""
    out: set[str] = set()
    for m in CITE.finditer(source):
        out.update(p for p in re.split(r"\s*(?:,|and|–|-)\s*", m.group(1)) if p)
    return out


def check_file(path: Path, model: registry.Model | None) -> DerivationResult:
    """Run one derivation's blocks and check the equation labels its model cites."""
    result = DerivationResult(path.stem)
    if model is None:
        result.problems.append(f"{path.name} justifies no model: there is no lab/models/{path.stem}.py")
        return result
    text = path.read_text(encoding="utf-8")
    if is_template(text, path.stem):
        result.template = True
        result.problems.append(f"{path.name} is still the template that lab new wrote: write the derivation and "
                               "the checks of its steps")  # fmt: skip
        return result
    found = blocks(text)
    result.blocks = len(found)
    if not found:
        result.problems.append(f"{path.name} has no ```python block that checks a step")
    layer = getattr(model.module, "LAYER", None) if getattr(model.module, "KIND", None) == "layer" else None
    fn = "vjp" if layer is not None else "grad"
    if fn not in "".join(code for _, code in found):
        result.problems.append(f"{path.name} never compares its result with the {'layer' if layer else 'model'}'s {fn}")
    tags = set(TAG.findall(text))
    missing = sorted(cited(model.source.read_text(encoding="utf-8")) - tags, key=label_key)
    if missing:
        result.problems.append(f"{model.source.name} cites eq. {', '.join(missing)}, which {path.name} does not label")
    names = {"layer": layer} if layer is not None else {}
    failed = _run_blocks(path, found, model, **names)
    if failed:
        result.problems.append(failed)
    elif found and not result.problems:
        with _wrong_vjp(layer) if layer is not None else _wrong_grad(model):
            noticed = _run_blocks(path, found, model, **names)
        if not noticed:
            result.unchecked = True
            result.problems.append(
                f"{path.name} asserts nothing about {model.name}: its blocks pass even when {fn} returns "
                f"1.5 × {fn} + 0.1; assert your formula against {'layer.vjp' if layer is not None else 'model.grad'}"
            )
    return result


def _run_blocks(path: Path, found: list[tuple[int, str]], model: registry.Model | None, **names) -> str:
    """Run the blocks in one namespace; the first failure in words, or "" when all pass."""
    namespace: dict = {"__name__": f"derivation_{path.stem}", "model": model, **names}
    for line, code in found:
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(code, f"{path}:{line}", "exec"), namespace)
        except Exception as e:
            tb = traceback.extract_tb(e.__traceback__)[-1]
            where = (
                f"line {line + tb.lineno - 1}" if tb.filename.startswith(str(path)) else f"{tb.filename}:{tb.lineno}"
            )
            return f"{path.name} block at line {line} failed at {where}: {type(e).__name__}: {e}"
    return ""


@contextlib.contextmanager
def _wrong_grad(model: registry.Model):
    """Within the block, the model module's ``grad`` (and ``loss_and_grad``) return 1.5 × grad + 0.1, by
    whatever path a block reaches them (``model``, ``get``, or an import of the module)."""
    mod = model.module
    saved = {k: getattr(mod, k) for k in ("grad", "loss_and_grad") if callable(getattr(mod, k, None))}

    def wrong(g):
        return {k: 1.5 * np.asarray(v, dtype=float) + 0.1 for k, v in g.items()}

    def grad(*a, **kw):
        return wrong(saved["grad"](*a, **kw))

    def loss_and_grad(*a, **kw):
        L, g = saved["loss_and_grad"](*a, **kw)
        return L, wrong(g)

    try:
        mod.grad = grad
        if "loss_and_grad" in saved:
            mod.loss_and_grad = loss_and_grad
        yield
    finally:
        for k, f in saved.items():
            setattr(mod, k, f)


@contextlib.contextmanager
def _wrong_vjp(layer):
    """Within the block, the layer module's ``vjp`` returns 1.5 × its value + 0.1 (d x too)."""
    saved = layer.vjp

    def wrong(a):
        return None if a is None else 1.5 * np.asarray(a, dtype=float) + 0.1

    def vjp(*a, **kw):
        dp, dx = saved(*a, **kw)
        return {k: wrong(v) for k, v in dp.items()}, wrong(dx)

    try:
        layer.vjp = vjp
        yield
    finally:
        layer.vjp = saved


#: The folder of the lessons, under the derivations.
LESSONS = "lessons"


def lesson_name(path: Path) -> str:
    return f"{LESSONS}/{path.stem}"


def run_lesson(path: Path, figures: Path) -> str:
    """Run a lesson's blocks with ``FIGURES = figures``; the first failure in words, or "" when all pass."""
    figures.mkdir(parents=True, exist_ok=True)
    return _run_blocks(path, blocks(path.read_text(encoding="utf-8")), None, FIGURES=figures)


def check_lesson(path: Path, figures: Path | None = None) -> DerivationResult:
    """Run one lesson's blocks (drawing its figures into ``figures``, a temporary folder by default), check that
    it labels its equations, and that its asserts notice a wrong ``grad`` in the models it uses, or a wrong
    ``vjp`` in the layers."""
    result = DerivationResult(lesson_name(path))
    text = path.read_text(encoding="utf-8")
    found = blocks(text)
    result.blocks = len(found)
    if not found:
        result.problems.append(f"{path.name} has no ```python block that checks a claim")
    if not TAG.search(text):
        result.problems.append(f"{path.name} labels no equation (\\tag{{N}})")
    with tempfile.TemporaryDirectory() as tmp:
        failed = run_lesson(path, Path(figures) if figures is not None else Path(tmp))
        if failed:
            result.problems.append(failed)
        elif found and not result.problems:
            with contextlib.ExitStack() as stack:
                for m in registry.all_models():
                    stack.enter_context(_wrong_grad(m))
                for layer in _layer_modules():
                    stack.enter_context(_wrong_vjp(layer))
                noticed = run_lesson(path, Path(tmp) / "wrong")
            if not noticed:
                result.unchecked = True
                result.problems.append(f"{path.name} asserts nothing about the lab's models or layers: its blocks "
                                       "pass even when every grad returns 1.5 × grad + 0.1, and every layer's vjp "
                                       "1.5 × vjp + 0.1")  # fmt: skip
    return result


def _layer_modules() -> list:
    """The modules of ``lab/layers/`` (whose ``vjp`` a network's backward calls)."""
    import importlib

    from lab import layer

    return [importlib.import_module(f"lab.{n.replace('/', '.')}") for n in layer.names()]


def check_lessons(root: Path = registry.DERIVATIONS / LESSONS) -> list[DerivationResult]:
    """Check every lesson in ``root``."""
    return [check_lesson(p) for p in sorted(Path(root).glob("*.md")) if not p.stem.startswith("_")]


def derivation_for(model: registry.Model) -> Path:
    """Where a model's derivation lives: derivations/NAME.md, beside the package or beside a user's file."""
    if model.name in registry.names() and model.source.parent == Path(registry.lab.models.__path__[0]):
        return model.derivation
    src = model.source
    root = src.parent.parent.parent / "derivations"
    for cand in (src.with_suffix(".md"), root / f"{model.name}.md", root / src.parent.name / f"{src.stem}.md"):
        if cand.exists():
            return cand
    return src.with_suffix(".md")


def label_key(label: str):
    m = re.match(r"(\d+)(.*)", label)
    return (int(m.group(1)), m.group(2)) if m else (0, label)


def check_all(
    root: Path = registry.DERIVATIONS, extra: list[registry.Model] = (), skip: set[str] = frozenset()
) -> list[DerivationResult]:
    """Check every derivation, every registered model for a derivation of its own, and every lesson
    (``root/lessons/*.md``, results named ``lessons/NAME``); the derivations named in ``skip`` were
    checked already and are left out."""
    results = []
    models = {m: registry.get(m) for m in registry.names()}
    for m in extra:
        models.setdefault(m.name, m)
    for name in sorted(models):
        if not (root / f"{name}.md").exists():
            r = DerivationResult(name)
            r.problems.append(f"model {name!r} has no derivation: expected derivations/{name}.md")
            results.append(r)
    for path in sorted(root.glob("*.md")):
        if path.stem.startswith("_") or path.stem in ("README", "index") or path.stem in skip:
            continue
        results.append(check_file(path, models.get(path.stem)))
    results += check_lessons(root / LESSONS)
    return sorted(results, key=lambda r: r.name)


class Background:
    """The derivations of a ``lab verify`` run, checked in a process of their own while the search runs.

    Their blocks are plain NumPy and often train a model (0.7 s for logistic regression), so on a
    second core they leave the critical path. ``jobs`` pairs each model's spec (a registered name or
    a file) with its derivation; ``root``, when given, adds the lessons and the derivations that
    justify no model. :meth:`results` waits for them; if the process fails to report, they are
    checked here instead.

    A result is kept (:data:`RESULTS`) under a hash of everything its blocks can read: the derivation,
    the model's file and the files beside it, every file of the lab, and the versions of Python and
    of the packages the blocks use. A run that changed none of them checks nothing again; an edit
    to any of them checks again.
    """

    def __init__(self, jobs: list[tuple[str, registry.Model, Path]], root: Path | None = None):
        import subprocess
        import sys

        self.root, self._proc = root, None
        self._keys = {m.name: _key(path, m.source, model=m) for _, m, path in jobs}
        if root is not None:
            self._keys[""] = _key(*sorted(Path(root).rglob("*.md")))
        self._cached = {name: _cached(key) for name, key in self._keys.items()}
        self.jobs = [j for j in jobs if self._cached[j[1].name] is None]
        self._rest = root is not None and self._cached[""] is None
        if not self.jobs and not self._rest:
            return
        self._out = Path(tempfile.mkstemp(prefix="lab-derivations-", suffix=".json")[1])
        argv = [sys.executable, "-m", "lab.derivations.check", "--out", str(self._out)]
        for spec, _, path in self.jobs:
            argv += ["--model", spec, str(path)]
        if self._rest:
            argv += ["--root", str(root)]
        self._proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    @property
    def started(self) -> bool:
        """Whether any block runs (False: every result came from :data:`RESULTS`)."""
        return self._proc is not None

    def cancel(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._out.unlink(missing_ok=True)

    def results(self) -> tuple[dict[str, DerivationResult], list[DerivationResult]]:
        """(each model's result by name, the lessons' and orphans' results)."""
        done = {k: v[0] for k, v in self._cached.items() if v is not None and k}
        rest = self._cached[""] if self.root is not None and self._cached[""] is not None else []
        if self._proc is None:
            return done, rest
        import json

        try:
            self._proc.communicate()
            data = json.loads(self._out.read_text(encoding="utf-8")) if self._proc.returncode == 0 else None
        except (OSError, ValueError):
            data = None
        finally:
            self._out.unlink(missing_ok=True)
        if data is None:  # the process could not run or report: check here
            new, new_rest = _check_jobs(self.jobs, self.root if self._rest else None)
        else:
            rebuild = lambda d: DerivationResult(**d)  # noqa: E731
            new, new_rest = {k: rebuild(v) for k, v in data["models"].items()}, [rebuild(d) for d in data["rest"]]
        for name, r in new.items():
            _keep(self._keys[name], [r])
        if self._rest:
            _keep(self._keys[""], new_rest)
            rest = new_rest
        return {**done, **new}, rest


def _results_store():
    from lab.verify.runtime.store import Store, cache_dir

    root = cache_dir()
    return Store(None if root is None else root / "derivations")


#: Derivation results kept between runs, beside the compiled programs (``lab cache clear`` empties both).
RESULTS = _results_store()
_VERSIONED = ("numpy", "scipy", "scikit-learn", "matplotlib", "array-api-compat", "gradient-lab")


def _key(*paths, model: registry.Model | None = None) -> str:
    """A hash of ``paths``, the lab's own files, the files beside ``model``'s, and the versions. A file of
    the repository is named by its path inside it, so another clone (CI's, a worktree) finds the same
    results; a file elsewhere (a user's model) by its full path."""
    import hashlib

    from lab.verify.runtime.store import file_hash

    files = {str(p) for p in paths if p is not None} | set(_lab_files())
    if model is not None:
        files.update(str(p) for p in Path(model.source).resolve().parent.glob("*.py"))
    parts = list(_versions())
    named = sorted((_in_repository(f), f) for f in files)
    parts += [f"{name} {file_hash(f) if Path(f).is_file() else '-'}" for name, f in named]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@functools.cache
def _versions() -> tuple[str, ...]:
    """Python's version and those of the packages in ``_VERSIONED``, read once a process (reading a
    package's metadata costs milliseconds, and a full run makes a key for each of 60 files)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    parts = [f"python {platform.python_version()}"]
    for pkg in _VERSIONED:
        try:
            parts.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            parts.append(f"{pkg} -")
    return tuple(parts)


@functools.lru_cache(maxsize=4096)  # a path's place in the repository does not change within a run
def _in_repository(path: str) -> str:
    """``path`` inside the repository that holds the lab (the folder above ``lab/``), else as given."""
    try:
        return Path(path).resolve().relative_to(_REPOSITORY).as_posix()
    except ValueError:
        return path


_REPOSITORY = Path(registry.__file__).resolve().parent.parent


@functools.cache
def _lab_files() -> tuple[str, ...]:
    """Every file of the lab: its code and templates, not the book's npm packages (listed once a run)."""
    out = []
    for folder, subs, names in os.walk(Path(registry.__file__).resolve().parent):
        subs[:] = [d for d in subs if d not in ("node_modules", "__pycache__")]
        out += [os.path.join(folder, n) for n in names]
    return tuple(out)


def _cached(key: str) -> list[DerivationResult] | None:
    import json

    payload = RESULTS.get(f"d-{key}")
    if payload is None:
        return None
    try:
        return [DerivationResult(**d) for d in json.loads(payload)]
    except (ValueError, TypeError):
        return None


def _keep(key: str, results: list[DerivationResult]) -> None:
    import dataclasses
    import json

    RESULTS.put(f"d-{key}", json.dumps([dataclasses.asdict(r) for r in results]).encode())


def _check_jobs(jobs, root: Path | None) -> tuple[dict[str, DerivationResult], list[DerivationResult]]:
    done = {m.name: check_file(path, m) for _, m, path in jobs}
    rest = [] if root is None else [d for d in check_all(root, skip=set(done)) if d.name not in done]
    return done, rest


def _background_main(argv: list[str]) -> int:
    import argparse
    import dataclasses
    import json

    p = argparse.ArgumentParser(prog="python -m lab.derivations.check")
    p.add_argument("--out", required=True)
    p.add_argument("--model", nargs=2, action="append", default=[], metavar=("SPEC", "DERIVATION"))
    p.add_argument("--root")
    args = p.parse_args(argv)
    jobs = []
    for spec, path in args.model:
        m = registry.get(spec) if spec in registry.names() else registry.load(spec)
        jobs.append((spec, m, Path(path)))
    done, rest = _check_jobs(jobs, None if args.root is None else Path(args.root))
    data = {
        "models": {k: dataclasses.asdict(v) for k, v in done.items()},
        "rest": [dataclasses.asdict(d) for d in rest],
    }
    Path(args.out).write_text(json.dumps(data), encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--out" or "--model" in argv:
        return _background_main(argv)
    results = check_all()
    width = max(len(r.name) for r in results) if results else 10
    for r in results:
        status = r.status
        print(f"{r.name:<{width}}  {r.blocks:>2} blocks  {status}")
        for p in r.problems:
            print(f"  - {p}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())

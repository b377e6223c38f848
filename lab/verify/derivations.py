"""Check the derivations: every model has one, every block runs, every cited equation exists.

A derivation is ``derivations/NAME.md`` beside ``lab/models/NAME.py``. Its
```` ```python ```` blocks run in order in one namespace, like cells of a
notebook, so a later block can use what an earlier one defined. A block
fails the check when it raises (its ``assert`` statements are the checks).
"""

from __future__ import annotations

import contextlib
import io
import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from lab import model as registry

BLOCK = re.compile(r"^```python[^\n]*\n(.*?)^```", re.S | re.M)
TAG = re.compile(r"\\tag\{([^}]+)\}")
CITE = re.compile(r"\(eqs?\.\s*([0-9][0-9a-z]*(?:\s*(?:,|and|–|-)\s*[0-9][0-9a-z]*)*)\)")


@dataclass
class DerivationResult:
    name: str
    blocks: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


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
    found = blocks(text)
    result.blocks = len(found)
    if not found:
        result.problems.append(f"{path.name} has no ```python block that checks a step")
    if "grad" not in "".join(code for _, code in found):
        result.problems.append(f"{path.name} never compares its result with the model's grad")
    tags = set(TAG.findall(text))
    missing = sorted(cited(model.source.read_text(encoding="utf-8")) - tags, key=_label_key)
    if missing:
        result.problems.append(
            f"lab/models/{model.name}.py cites eq. {', '.join(missing)}, which {path.name} does not label"
        )
    namespace: dict = {"__name__": f"derivation_{path.stem}", "model": model}
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
            result.problems.append(f"{path.name} block at line {line} failed at {where}: {type(e).__name__}: {e}")
            break
    return result


def derivation_for(model: registry.Model) -> Path:
    """Where a model's derivation lives: derivations/NAME.md, beside the package or beside a user's file."""
    if model.name in registry.names() and model.source.parent == Path(registry.lab.models.__path__[0]):
        return model.derivation
    src = model.source
    for cand in (src.with_suffix(".md"), src.parent.parent.parent / "derivations" / f"{model.name}.md"):
        if cand.exists():
            return cand
    return src.with_suffix(".md")


def _label_key(label: str):
    m = re.match(r"(\d+)(.*)", label)
    return (int(m.group(1)), m.group(2)) if m else (0, label)


def check_all(root: Path = registry.DERIVATIONS, extra: list[registry.Model] = ()) -> list[DerivationResult]:
    """Check every derivation, and every registered model for a derivation of its own."""
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
        if path.stem.startswith("_") or path.stem in ("README", "index"):
            continue
        results.append(check_file(path, models.get(path.stem)))
    return sorted(results, key=lambda r: r.name)


def main(argv: list[str] | None = None) -> int:
    results = check_all()
    width = max(len(r.name) for r in results) if results else 10
    for r in results:
        status = "ok" if r.ok else "FAIL"
        print(f"{r.name:<{width}}  {r.blocks:>2} blocks  {status}")
        for p in r.problems:
            print(f"  - {p}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())

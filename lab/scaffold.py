"""`lab new NAME`: a model file and its derivation from templates that explain each part."""

from __future__ import annotations

import keyword
from pathlib import Path

from lab import model as registry

TEMPLATES = Path(__file__).resolve().parent / "templates"
ROOT = Path(__file__).resolve().parent.parent


def new(name: str, root: Path = ROOT) -> tuple[Path, Path]:
    """Write ``lab/models/NAME.py`` and ``derivations/NAME.md`` under ``root``; return their paths."""
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_") or name != name.lower():
        raise ValueError(f"{name!r} is not a valid model name: use a lower-case Python identifier such as log_cosh")
    py = root / "lab" / "models" / f"{name}.py"
    md = root / "derivations" / f"{name}.md"
    taken = [str(p.relative_to(root)) for p in (py, md) if p.exists()]
    if taken or (root == ROOT and name in registry.names()):
        raise ValueError(f"model {name!r} exists already ({', '.join(taken) or 'registered'}); pick another name")
    title = name.replace("_", " ").capitalize()
    texts = [(TEMPLATES / t).read_text(encoding="utf-8").replace("{name}", name).replace("{title}", title)
             for t in ("model.py.tmpl", "derivation.md.tmpl")]  # fmt: skip
    for path, text in zip((py, md), texts, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return py, md

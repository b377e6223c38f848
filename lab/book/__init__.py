"""The study book: every derivation beside the code it justifies, linked both ways (``make book``, ``lab book``).

See :mod:`lab.book.build` for how a page is made.
"""

from __future__ import annotations

import sys
import webbrowser
from pathlib import Path

from lab.book.build import OUT, BuildError, BuildResult, ToolMissing, build

__all__ = ["OUT", "BuildError", "BuildResult", "ToolMissing", "build", "run"]


def run(name: str | None = None, *, open_it: bool = False, out: Path = OUT, **build_kw) -> int:
    """``lab book [--open] [NAME]``: build the book; open the index or NAME's page. Exit 0, 1 (bad source) or 2."""
    try:
        result = build(out, **build_kw)
    except BuildError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        print(f"lab: error: book: {len(e.problems)} problem(s); no page with an error was written", file=sys.stderr)
        return 1
    except ToolMissing as e:
        print(f"lab: error: book: {e}", file=sys.stderr)
        return 2
    page = out / ("index.html" if name is None else f"{name}.html")
    if name is not None and not page.exists():  # a lesson: lesson-NAME.html; a layer: layer-NAME.html; a network
        lesson, layer, net = (out / f"{kind}-{name.split('/')[-1]}.html" for kind in ("lesson", "layer", "net"))
        if name.startswith("nets/"):
            page = net
        else:
            page = layer if name.startswith("layers/") or not lesson.exists() else lesson
    if not page.exists():
        print(f"lab: error: book: no page for {name!r}; the models, lessons, layers and networks are listed in "
              f"{out / 'index.html'}", file=sys.stderr)  # fmt: skip
        return 2
    built = f"{len(result.built)} page(s) built, {len(result.kept)} unchanged"
    if result.removed:
        built += f", {len(result.removed)} removed (sources gone: {', '.join(result.removed)})"
    print(f"book: {built}, index {'built' if result.index_built else 'unchanged'} ({result.seconds:.1f} s): {page}")
    if open_it:
        webbrowser.open(page.resolve().as_uri())
    return 0

"""What a file in tests/outside/ declares about itself (EXPECT, TRAP, NAMED, ...), read without importing it."""

import ast
from pathlib import Path


def declared(path: Path, name: str):
    """The literal value assigned to ``name`` at the top of the file ``path``, or None."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    return None

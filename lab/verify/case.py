"""A case: one point at which a gradient is checked, shared by every room of the verifier."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BATCH = 128  # cases of one shape checked in one compiled call: the drawn ones, then random fill


@dataclass
class Case:
    """One point at which a gradient is checked."""

    params: dict[str, np.ndarray]
    X: np.ndarray
    y: np.ndarray
    hyper: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)  # the integer arguments of init (SHAPES)
    layer: bool = False  # a layer's case: X is dout, the sizes are its axes

    @property
    def shape(self) -> tuple[int, int]:
        return self.X.shape

    def size_words(self) -> str:
        """The case's size as its model names it: a layer's axes (B = 2, T = 3, C = 4), a model's n and d."""
        if self.layer:
            return ", ".join(f"{a} = {n}" for a, n in self.sizes.items())
        n, d = self.X.shape
        return f"n = {n}, d = {d}"

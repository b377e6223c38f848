"""A case: one point at which a gradient is checked, shared by every room of the verifier."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BATCH = 128  # cases of one shape checked in one compiled call: the drawn ones, then random fill

# Random draws the verifier makes for every case, hence often: NumPy's ``Generator.choice`` costs five
# times the draw itself. These draw the same numbers from the generator as ``rng.choice`` would.
_SIGNS = np.array([-1.0, 1.0])


def pick(rng: np.random.Generator, options):
    """One of ``options`` (a tuple of numbers) at random: ``rng.choice(options)``, number for number."""
    return options[rng.integers(0, len(options))]


def signs(rng: np.random.Generator, shape) -> np.ndarray:
    """±1 at random in an array of ``shape``: ``rng.choice([-1.0, 1.0], shape)``, number for number."""
    return _SIGNS[rng.integers(0, 2, shape)]


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

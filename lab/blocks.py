"""Blocks of rows, for gradients that read X from memory once.

A gradient such as (2/n) Xᵀ(Xw + b − y) reads X twice when written as two
products: once for the residuals, once for Xᵀr. X of a million rows does not fit
in any cache, so both reads come from main memory. The sum over rows splits over
blocks of rows, Xᵀr = Σ_k X_kᵀ r_k, and a block small enough to stay in the
core's cache is read from memory for r_k and from cache for X_kᵀ r_k.
"""

from collections.abc import Iterator

import numpy as np

#: About one core's L2 cache: the block X[rows] is read a second time from there.
BLOCK_BYTES = 1 << 20


def row_blocks(X: np.ndarray, block_bytes: int = BLOCK_BYTES) -> Iterator[slice]:
    """Slices of consecutive rows of ``X`` that cover it in order, each at most ``block_bytes`` of X
    (at least one row). ``X[rows]`` is a view, not a copy."""
    n, d = X.shape
    step = max(1, block_bytes // (X.itemsize * max(d, 1)))
    return (slice(lo, min(lo + step, n)) for lo in range(0, n, step))

"""lab/blocks.py: the row blocks that let a gradient read X from memory once."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from lab.blocks import BLOCK_BYTES, row_blocks
from lab.model import get


@given(n=st.integers(1, 5000), d=st.integers(1, 400), block_bytes=st.integers(1, 1 << 21))
def test_row_blocks_cover_the_rows_in_order_within_the_byte_budget(n, d, block_bytes):
    X = np.empty((n, d))
    blocks = list(row_blocks(X, block_bytes))
    assert [i for s in blocks for i in range(s.start, s.stop)] == list(range(n))
    most = max(1, block_bytes // (8 * d))
    assert all(0 < s.stop - s.start <= most for s in blocks)
    assert all(s.stop - s.start == most for s in blocks[:-1])  # only the last block is short


def test_a_large_x_is_summed_block_by_block_to_the_one_pass_value():
    """At 3,000 × 200 the default blocks are 655 rows, so the gradient takes five blocks. It matches
    the one-pass formulas (eqs. 7, 8 and 8, 9 of the two derivations) to rounding."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 200))
    assert len(list(row_blocks(X))) == -(-3000 // (BLOCK_BYTES // (8 * 200))) == 5
    params = {"w": 0.1 * rng.standard_normal(200), "b": np.asarray(0.3)}
    y = rng.standard_normal(3000)
    g = get("multivariate_linear_regression").grad(params, X, y)
    r = X @ params["w"] + params["b"] - y
    np.testing.assert_allclose(g["w"], 2 / 3000 * X.T @ r, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(g["b"], 2 / 3000 * r.sum(), rtol=1e-12)
    labels = (rng.random(3000) < 0.5).astype(float)
    g = get("logistic_regression").grad(params, X, labels)
    p = 1 / (1 + np.exp(-(X @ params["w"] + params["b"])))
    np.testing.assert_allclose(g["w"], X.T @ (p - labels) / 3000, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(g["b"], (p - labels).sum() / 3000, rtol=1e-12)

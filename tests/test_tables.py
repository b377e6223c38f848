"""The Neville tables of the finite-difference witnesses run in Python floats for speed: they must give
what the NumPy tables gave, bit for bit, NaN and infinity included."""

import math

import numpy as np
import pytest

from lab.verify.measure.differences import _one_sided_np, _ridders_np, finite_difference, one_sided

FUNCTIONS = [
    lambda t: math.exp(3 * t) - 1.0,
    lambda t: abs(t) + 0.5 * t,  # a kink at 0
    lambda t: 1e300 * (1 + t) ** 3,  # overflows in the table
    lambda t: math.log(1 + t) if t > -1 else math.nan,  # leaves its domain
    lambda t: math.nan if abs(t) > 0.3 else t * t,  # NaN at the first steps only
    lambda t: 1e-3 * math.sin(1e4 * t),
]


def same(a, b):
    return (np.isnan(a) and np.isnan(b)) or a == b


@pytest.mark.parametrize("k", range(len(FUNCTIONS)))
@pytest.mark.parametrize("h0", [1.0, 1e-3, 0.7, 1e-200])
def test_python_tables_equal_numpy_tables(k, h0):
    f = FUNCTIONS[k]
    fast, slow = finite_difference(f, h0), _ridders_np(f, h0, 2.0, 20)
    assert all(same(float(a), float(b)) for a, b in zip(fast, slow, strict=True))
    for side in (1.0, -1.0):
        for f_err in (0.0, 1e-12):
            fast = one_sided(f, h0, side, f_err=f_err)
            g0 = f(0.0)
            h = h0
            for _ in range(12):
                if np.isfinite(f(side * h)):
                    break
                h /= 16
            slow = _one_sided_np(f, h, side, 2.0, 16, f_err, g0)
            assert all(same(float(a), float(b)) for a, b in zip(fast, slow, strict=True))

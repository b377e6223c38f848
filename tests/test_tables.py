"""The Neville tables of the finite-difference witnesses run in Python floats for speed: they must give
what the same tables give in NumPy (kept here as the reference), bit for bit, NaN and infinity included,
steps that underflow to 0 too."""

import math

import numpy as np
import pytest

from lab.verify.measure.differences import finite_difference, one_sided
from lab.verify.measure.rounding import U

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the NumPy reference overflows on purpose

FUNCTIONS = [
    lambda t: math.exp(3 * t) - 1.0,
    lambda t: abs(t) + 0.5 * t,  # a kink at 0
    lambda t: 1e300 * (1 + t) ** 3,  # overflows in the table
    lambda t: math.log(1 + t) if t > -1 else math.nan,  # leaves its domain
    lambda t: math.nan if abs(t) > 0.3 else t * t,  # NaN at the first steps only
    lambda t: 1e-3 * math.sin(1e4 * t),
]


def _ridders_np(f, h0, con, steps):
    """The reference: Ridders' central table in NumPy scalars."""
    a = np.zeros((steps, steps))
    rounding = np.zeros(steps)
    h = h0
    best, err = np.nan, np.inf
    for i in range(steps):
        fp, fm = f(h), f(-h)
        a[0, i] = (fp - fm) / (2 * h)
        rounding[i] = 4 * U * (abs(fp) + abs(fm)) / (2 * h)
        fac = con * con
        for j in range(1, i + 1):
            a[j, i] = (a[j - 1, i] * fac - a[j - 1, i - 1]) / (fac - 1)
            fac *= con * con
            e = max(abs(a[j, i] - a[j - 1, i]), abs(a[j, i] - a[j - 1, i - 1])) + 4 * rounding[i - j : i + 1].max()
            if e <= err:
                err, best = e, a[j, i]
        h /= con
    return best, err, h


def _one_sided_np(f, h0, side, con, steps, f_err, f0):
    """The reference: the one-sided table in NumPy scalars."""
    a = np.zeros((steps, steps))
    rounding = np.zeros(steps)
    h, best, err = h0, np.nan, np.inf
    for i in range(steps):
        fh = f(side * h)
        a[0, i] = side * (fh - f0) / h
        rounding[i] = (4 * U * (abs(fh) + abs(f0)) + 2 * f_err) / h
        fac = con
        for j in range(1, i + 1):
            a[j, i] = (a[j - 1, i] * fac - a[j - 1, i - 1]) / (fac - 1)
            fac *= con
            e = max(abs(a[j, i] - a[j - 1, i]), abs(a[j, i] - a[j - 1, i - 1])) + 4 * rounding[i - j : i + 1].max()
            if e <= err:
                err, best = e, a[j, i]
        h /= con
    return best, err


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

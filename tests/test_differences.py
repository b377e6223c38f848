"""The finite-difference tables: stopping a one-sided table early changes nothing it returns."""

import math

from hypothesis import given
from hypothesis import strategies as st

from lab.verify.measure import differences

floats = st.floats(-1e6, 1e6, allow_nan=False)


@given(
    a=floats, b=floats, c=floats, kink=floats,
    side=st.sampled_from([-1.0, 1.0]),
    h0=st.sampled_from([1e-1, 1e-3, 1e-6]),
    f_err=st.floats(0, 1e-10),
)  # fmt: skip
def test_the_early_stop_of_a_one_sided_table_returns_what_the_full_table_returns(a, b, c, kink, side, h0, f_err):
    """Later entries are bounded below by their rounding, which only grows: the stop is exact."""

    def f(t):
        return a + b * t + c * t * t + (kink * t if t > 0 else 0.0) + 1e-3 * math.expm1(t)

    f0 = f(0.0)
    early = differences._ridders(f, h0, 2.0, 16, central=False, side=side, f0=f0, f_err=f_err)
    full = differences._ridders(f, h0, 2.0, 16, central=False, side=side, f0=f0, f_err=f_err, stop=False)
    assert early[:2] == full[:2] or all(math.isnan(x) for x in early[:1] + full[:1])

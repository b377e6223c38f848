"""Rounding rules of lab/verify/measure/rounding.py that real code needs: integer arithmetic, float
powers of a negative base, −inf masks, exact sums, scatter-add and sort. Each bound is checked to hold
against exact arithmetic (fractions) and not to be vacuous."""

from fractions import Fraction

import numpy as np

from lab.verify.measure import rounding
from lab.verify.measure.rounding import ETA, U, bounded
from lab.verify.runtime.jax_config import jax, jnp
from lab.verify.runtime.programs import COMPILE_OPTIONS


def _run(f, *args):
    """``bounded(f)`` compiled as the verifier compiles it, on NumPy arguments."""
    args = [jnp.asarray(a) for a in args]
    out, err = jax.jit(bounded(f)).trace(*args).lower().compile(COMPILE_OPTIONS)(*args)
    return jax.tree_util.tree_map(np.asarray, out), jax.tree_util.tree_map(np.asarray, err)


def test_integer_arithmetic_is_exact_and_needs_no_rule():
    """i % 3, i // 2 and indexing by np.triu_indices: no traceback, no primitive named as approximated."""
    rounding.approximated.clear()

    def f(x):
        n = x.shape[0]
        rows = jnp.arange(n)
        i, j = np.triu_indices(n, k=1)
        w = 1.0 + (rows % 3).astype(x.dtype) + (rows // 2).astype(x.dtype)
        return jnp.sum(w[i] * x[i] * x[j])

    x = np.array([0.5, -1.25, 2.0, 3.0, -0.75])
    (s, e) = _run(f, x)
    w = 1.0 + np.arange(5) % 3 + np.arange(5) // 2
    i, j = np.triu_indices(5, k=1)
    exact = sum(
        Fraction(float(w[a])) * Fraction(float(x[a])) * Fraction(float(x[b])) for a, b in zip(i, j, strict=True)
    )
    assert abs(Fraction(float(s)) - exact) <= Fraction(float(e)) and np.isfinite(e)
    assert not rounding.approximated  # rem, div, select_n on integers: exact, not linearized


def test_float_power_of_a_negative_base_has_a_finite_bound():
    """(w − 1) ** 2.0 as SciPy's rosen writes it: its value and its gradient (pow(b, 2.0 − 1.0))."""
    w = np.array([-3.0, -0.7, 0.2, 1.0, 2.5])
    (c, g), (ec, eg) = _run(lambda v: (jnp.sum((v - 1) ** 2.0), jax.grad(lambda u: jnp.sum((u - 1) ** 2.0))(v)), w)
    assert np.isfinite(ec) and np.all(np.isfinite(eg))
    exact = sum((Fraction(float(a)) - 1) ** 2 for a in w)
    assert abs(Fraction(float(c)) - exact) <= Fraction(float(ec))
    for a, ga, ea in zip(w, g, eg, strict=True):
        assert abs(Fraction(float(ga)) - 2 * (Fraction(float(a)) - 1)) <= Fraction(float(ea))
    assert np.all(eg <= 16 * U * np.abs(2 * (w - 1)) + 1e-300)  # not vacuous


def test_float_power_bounds_hold_and_stay_infinite_where_the_power_is_undefined():
    x = np.array([2.0, 0.3, -1.5, -2.0, 0.0])
    (c,), (e,) = _run(lambda v: [(v * 1.1) ** 1.5], x)  # the base carries an error
    assert np.all(np.isfinite(e[:2])) and np.all(np.isnan(c[2:4]))
    y = np.array([3.0, -2.0, 0.5])
    (c,), (e,) = _run(lambda b, k: [b ** (k * 1.1)], np.array([-2.0, -2.0, 4.0]), y)  # an error on the exponent
    assert not np.isfinite(e[0]) and np.isfinite(e[2])  # a negative base: the exact power may be undefined


def test_an_infinite_mask_does_not_poison_the_bound():
    """A softmax over the others, the diagonal masked with −inf (NCA): finite bounds on the probabilities
    and on the gradient; exp(−inf) = 0 exactly."""

    def f(x):
        d = (x[:, None] - x[None, :]) ** 2
        rows = jnp.arange(x.shape[0])
        z = jnp.where(rows[:, None] == rows[None, :], -jnp.inf, -d)
        z = z - jnp.max(z, axis=1, keepdims=True)
        p = jnp.exp(z) / jnp.sum(jnp.exp(z), axis=1, keepdims=True)
        return jnp.sum(p[:, 0])

    x = np.array([0.3, -1.0, 2.0, 0.5])
    (v, g), (ev, eg) = _run(jax.value_and_grad(f), x)
    assert np.isfinite(ev) and np.all(np.isfinite(eg))
    assert ev < 1e-13 and np.all(eg < 1e-12)


def test_an_overflow_still_has_an_infinite_bound():
    (c,), (e,) = _run(lambda a, b: [a + b], np.array([1e308, -np.inf]), np.array([1e308, 1.0]))
    assert np.isinf(c[0]) and np.isinf(e[0])  # finite inputs, infinite result: not exact
    assert e[1] == 0.0  # −inf + 1 is −inf exactly


def test_exact_sums_have_no_rounding_and_inexact_ones_keep_theirs():
    a = np.array([2.0, 0.1, 1.0, 3.0, 0.0])
    b = np.array([-1.0, 0.2, 2.0**-60, 2.0**-1070, 5.0])
    (s, d), (es, ed) = _run(lambda x, y: (x + y, x - y), a, b)
    assert es[0] == 0.0 and ed[0] == 0.0  # 2 − 1, 2 + (−1): exact
    for k in (1, 2):  # 0.1 + 0.2, 1 + 2⁻⁶⁰: rounded
        assert es[k] >= U * abs(s[k]) and abs(Fraction(float(s[k])) - Fraction(a[k]) - Fraction(b[k])) <= Fraction(
            es[k]
        )
    assert es[3] >= ETA and es[4] >= ETA  # a subnormal or zero summand: η, no less


def test_a_sum_with_a_constant_that_rounds_keeps_its_rounding():
    """XLA folds constants through sums, (x + 1) − 1 → x, so TwoSum's test of fl(1 + b) read 1 + e^−40 as
    exact (bound 2e-33 where it is off by 4e-18) and a Mish's loss at x = −500 had a bound of 2e-231 where
    it was off by 4e-216. Read behind a barrier, the sum keeps u|c|."""
    b = np.array([np.exp(-40.0), np.exp(-500.0), 2.0**-60, 0.5])
    (s,), (es,) = _run(lambda x: (1.0 + x,), b)
    for k in range(3):
        assert es[k] >= U * abs(s[k]) and abs(Fraction(float(s[k])) - 1 - Fraction(b[k])) <= Fraction(es[k])
    assert es[3] == 0.0  # 1 + 0.5: exact


def test_scatter_add_bound_holds():
    rounding.approximated.clear()
    x = np.array([0.1, 0.7, -0.3, 1e-3])
    (g,), (e,) = _run(lambda v: [jax.grad(lambda u: jnp.sum(u[np.array([0, 0, 1, 3, 3, 3])] ** 3))(v)], x)
    assert "scatter-add" not in rounding.approximated
    idx = [0, 0, 1, 3, 3, 3]
    for k in range(4):
        exact = sum(3 * Fraction(float(x[k])) ** 2 for i in idx if i == k)
        assert abs(Fraction(float(g[k])) - exact) <= Fraction(float(e[k]))


def test_sort_moves_errors_with_their_values():
    """The errors follow the values' order, not their own."""
    x = np.array([-3.0, 1.0, 2.0])
    (c,), (e,) = _run(lambda v: [jnp.sort(v * np.array([1e10, 1.0, 0.1]) * 1.1)], x)
    # the largest value carries the largest error
    assert np.argmax(e) == np.argmax(np.abs(c))


def test_a_flat_function_of_an_inexact_argument_has_a_finite_bound_that_holds():
    """expm1(−e^z) at z = 43 (log(1 − p) of the complementary log-log link), σ and tanh at |z| = 1.1e20: z
    carries an error of up to 1e4 there, and the function barely moves over it. The rules of exp, expm1,
    exp2, σ and tanh multiplied a slope of 0 by e^error = ∞, a NaN: a binomial model with that link was
    inconclusive at 88 of 2048 cases ("the rounding bound of autodiff is not finite")."""
    import mpmath as mp

    mp.mp.dps = 60
    near = np.array([39.48267714926702, -39.48267714926702, 600.0, 3.0, 0.5])  # e^(1.1 z) finite
    far = np.array([1e20, -1e20, 39.48267714926702, -700.0, 3.0, 0.5])
    cases = {
        "expm1": (lambda z: jnp.expm1(-jnp.exp(z)), lambda t: mp.expm1(-mp.exp(t)), near),
        "exp": (lambda z: jnp.exp(-jnp.exp(z)), lambda t: mp.exp(-mp.exp(t)), near),
        "exp2": (lambda z: jnp.exp2(-jnp.exp(z)), lambda t: mp.power(2, -mp.exp(t)), near),
        "logistic": (jax.nn.sigmoid, lambda t: 1 / (1 + mp.exp(-t)), far),
        "tanh": (jnp.tanh, mp.tanh, far),
    }
    for name, (f, exact, a) in cases.items():
        b = np.full(a.shape, 1.1)  # a · b rounds: the argument carries an error
        (c,), (e,) = _run(lambda x, y, f=f: [f(x * y)], a, b)
        assert np.all(np.isfinite(e)), (name, c, e)
        for x, y, ci, ei in zip(a, b, c, e, strict=True):
            truth = exact(mp.mpf(float(x)) * mp.mpf(float(y)))
            assert abs(mp.mpf(float(ci)) - truth) <= mp.mpf(float(ei)), (name, x, ci, ei, truth)
        assert e[0] < 1e-14 and e[2] < 1e-14, (name, e)  # flat over the error: a few roundings of the value

"""The exact referee: JAX's derivative program run again at 60 and 120 digits.

It must agree with the hand gradients and with jax.grad where float64 is accurate, be right where
float64 is not (against closed forms in mpmath), keep integer arithmetic exact, name what it cannot
run, and, as the audit, find every compiled rounding bound of every model holding.
"""

import functools
import math

import mpmath
import numpy as np
import pytest
from hypothesis import assume, given, note
from hypothesis import strategies as st

from lab import model as registry
from lab.verify.case import BATCH, Case
from lab.verify.measure.autodiff import Witness
from lab.verify.measure.kinks import at_kink
from lab.verify.measure.referee import (
    Unsupported,
    along,
    audit,
    breaches,
    exact_gradient,
    exact_hessian,
    exact_loss,
)
from lab.verify.runtime.jax_config import jax, jnp
from lab.verify.search.cases import EXTREME, ORDINARY, fill, shape_menu
from tests.strategies import problems

MP = mpmath.MPContext()
MP.dps = 80  # the closed forms, in a context of the tests' own


def _hyper(draw, m):
    return {k: draw(st.floats(lo, hi), label=k) for k, (lo, hi) in m.hyperparameters.items()}


def _random_cases(m, n, d, sizes, count, seed, scales=ORDINARY) -> list[Case]:
    """``count`` random cases of one shape from the search's own fill, hyperparameters drawn in range."""
    rng = np.random.default_rng(seed)
    hyper = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in m.hyperparameters.items()}
    zeros = {k: np.zeros(np.shape(v)) for k, v in m.init(d, **sizes).items()}
    first = Case(zeros, np.zeros((n, d)), np.zeros(n), hyper, dict(sizes))
    return fill(m, [first], count + 1, seed, scales)[1:]


def _worst(a: dict, b: dict) -> float:
    """max |a − b| over every entry of every parameter, relative to the largest |b|."""
    top = max(float(np.max(np.abs(b[k]), initial=0.0)) for k in b)
    return max(float(np.max(np.abs(np.asarray(a[k]) - b[k]), initial=0.0)) for k in b) / max(top, 1e-300)


# -- the models: referee, hand code and autodiff agree ------------------------------------------


@functools.cache
def _compiled_grad(name: str):
    """``jax.grad`` of the model's loss, compiled once per shape: run eagerly, JAX compiles every
    primitive of the derivative for each new shape (1.6 s an example for softmax regression)."""
    loss = registry.get(name).module.loss
    return jax.jit(jax.grad(lambda q, X, y, hyper: loss(q, X, y, **hyper)))


@pytest.mark.parametrize("name", registry.names())
@given(data=st.data())
def test_agrees_with_hand_and_autodiff(name, data):
    """Off the kinks, where float64 is accurate, the three give the same gradient to 1e-12 of its size."""
    m = registry.get(name)
    p = data.draw(problems(m), label="problem")
    case = Case(p.params, p.X, p.y, _hyper(data.draw, m), p.sizes)
    assume(not np.any(at_kink(m, case)))
    ex = exact_gradient(m.module.loss, case.params, case.X, case.y, case.hyper)
    hand = m.module.grad(case.params, case.X, case.y, **case.hyper)
    auto = _compiled_grad(name)(case.params, case.X, case.y, case.hyper)
    assume(all(np.all(np.isfinite(ex.value[k])) for k in ex.value))
    note(f"referee {ex.value}\nhand {hand}\nautodiff {auto}")
    assert set(ex.value) == set(case.params)
    assert all(ex.value[k].shape == np.shape(case.params[k]) for k in ex.value)
    assert _worst(hand, ex.value) <= 1e-12
    assert _worst(auto, ex.value) <= 1e-12
    # the two runs (60 and 120 digits) agree far beyond float64
    assert all(np.all(ex.err[k] <= 1e-40 * (np.abs(ex.value[k]) + 1.0)) for k in ex.value)


HESSIANS = [n for n in registry.names() if callable(getattr(registry.get(n).module, "hessian", None))]


@pytest.mark.parametrize("name", HESSIANS)
def test_hessian_agrees_with_the_hand_hessian(name):
    m = registry.get(name)
    n, d, sizes = shape_menu(m)[3]
    case = next(c for c in _random_cases(m, n, d, sizes, 4, 5) if not np.any(at_kink(m, c)))
    keys = list(m.init(d, **sizes))
    ex = exact_hessian(m.module.loss, case.params, case.X, case.y, case.hyper, keys=keys)
    hand = np.asarray(m.module.hessian(case.params, case.X, case.y, **case.hyper))
    assert ex.value.shape == hand.shape
    assert np.max(np.abs(hand - ex.value)) <= 1e-12 * np.max(np.abs(ex.value))


def test_loss_is_the_loss():
    m = registry.get("logistic_regression")
    rng = np.random.default_rng(0)
    X, y, w, b = rng.normal(size=(7, 3)), rng.integers(0, 2, 7).astype(float), rng.normal(size=3), 0.25
    ex = exact_loss(m.module.loss, {"w": w, "b": np.asarray(b)}, X, y)
    z = [MP.fsum(MP.mpf(X[i, j]) * MP.mpf(w[j]) for j in range(3)) + MP.mpf(b) for i in range(7)]
    want = MP.fsum(MP.log1p(MP.exp(zi)) - MP.mpf(yi) * zi for zi, yi in zip(z, y, strict=True)) / 7
    assert abs(ex.mp - want) <= MP.mpf(10) ** -55 * abs(want)
    assert float(ex.value) == float(want)


# -- exact where float64 is not ------------------------------------------------------------------


def _one(loss, w: float, x: float = 1.0):
    return exact_gradient(loss, {"w": np.asarray(w)}, np.asarray([[x]]), np.asarray([1.0]))


def logistic_naive(p, X, y):
    """−log σ(z), with σ from jax.nn.sigmoid: its derivative σ(1 − σ) is 0 in float64 once σ rounds to 1."""
    z = X[:, 0] * p["w"]
    return -jnp.sum(jnp.log(jax.nn.sigmoid(z)))


def logistic_log1p(p, X, y):
    """log(1 + e^{−z}) written with log1p: accurate in float64 too."""
    z = X[:, 0] * p["w"]
    return jnp.sum(jnp.log1p(jnp.exp(-z)))


@pytest.mark.parametrize("z", [34.7, 40.0, 100.0])
def test_exact_where_float64_rounds_sigma_to_one(z):
    """The derivative of −log σ(z) is −σ(−z) = −e^{−z}/(1 + e^{−z}): 8.5e−16 at z = 34.7."""
    want = -MP.exp(-MP.mpf(z)) / (1 + MP.exp(-MP.mpf(z)))
    for loss in (logistic_naive, logistic_log1p):
        ex = _one(loss, z)
        assert abs(ex.mp["w"] - want) <= MP.mpf(10) ** -55 * abs(want), loss.__name__
        assert ex.value["w"] == float(want)
    auto = float(jax.grad(lambda w: logistic_naive({"w": w}, jnp.ones((1, 1)), None))(z))
    if z >= 40.0:
        assert auto == 0.0  # float64 autodiff of the naive form: σ rounds to 1, its slope to 0
    else:
        assert abs(auto - float(want)) > 1e-3 * abs(float(want))  # a few ulps of σ near 1: 10% off


def cancelling(p, X, y):
    """((1 + w) − 1)²: float64 loses w below 1e−16; its derivative is 2((1 + w) − 1) = 2w."""
    return jnp.sum(((1.0 + p["w"]) - 1.0) ** 2) + 0.0 * jnp.sum(X)


@pytest.mark.parametrize("w", [1e-20, 3e-40])
def test_exact_through_a_cancellation(w):
    ex = _one(cancelling, w)
    assert float(jax.grad(lambda v: cancelling({"w": v}, jnp.ones((1, 1)), None))(w)) == 0.0
    assert ex.value["w"] == 2 * w  # exact: 2w is a float64
    assert ex.err["w"] <= 1e-50 * 2 * w


def test_the_referee_reports_its_own_error(monkeypatch):
    """Below 60 digits ((1 + 1e−70) − 1) the coarse run loses w; the error it reports covers that, and the
    referee, seeing its runs differ, runs again at four times the digits, where w is kept."""
    from lab.verify.measure import referee

    w = 1e-70
    ex = _one(cancelling, w)
    assert ex.dps == 4 * referee.DPS and ex.value["w"] == 2 * w and ex.err["w"] <= 1e-100 * 2 * w
    monkeypatch.setattr(referee, "MORE", 1)  # no second pair of runs
    ex = _one(cancelling, w)
    assert ex.value["w"] == 2 * w  # the 120-digit run keeps it
    assert ex.err["w"] >= 2 * w * (1 - 1e-15)  # and the 60-digit run's loss of it is reported


def test_the_mathematical_value_where_float64_overflows():
    """log(e^z) at z = 800: inf in float64, z in the referee; its derivative 1."""

    def loss(p, X, y):
        return jnp.sum(jnp.log(jnp.exp(X[:, 0] * p["w"])))

    assert not np.isfinite(float(loss({"w": 800.0}, jnp.ones((1, 1)), None)))
    assert float(exact_loss(loss, {"w": np.asarray(800.0)}, np.ones((1, 1)), np.ones(1)).value) == 800.0
    assert _one(loss, 800.0).value["w"] == 1.0


def test_special_values():
    """log 0 = −inf, 1/0 = inf, 0/0 and log(−1) and √−1 are NaN, in both runs alike (no error claimed)."""

    def loss(p, X, y):
        w = p["w"]
        return jnp.stack([jnp.log(w * 0.0), 1.0 / (w * 0.0), (w * 0.0) / (w * 0.0), jnp.log(-w), jnp.sqrt(-w)])

    ex = exact_loss(loss, {"w": np.asarray(2.0)}, np.ones((1, 1)), np.ones(1))
    assert ex.value[0] == -np.inf and ex.value[1] == np.inf
    assert np.all(np.isnan(ex.value[2:]))
    assert np.all(ex.err == 0.0)


# -- integer arithmetic, indexing and scatters are exact -----------------------------------------


def test_integer_indexing_is_exact():
    """x[i % 3], x[i // 2], the upper triangle by triu_indices and a scatter-add with repeated indices."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(6, 3))
    idx = np.array([0, 0, 2, 1, 0, 2])
    rows, cols = np.triu_indices(3)

    def loss(p, X, y):
        i = jnp.arange(X.shape[0])
        a = jnp.sum(X[:, 0] * p["v"][i % 3] ** 2)
        b = jnp.sum(X[:, 1] * p["v"][i // 2])
        c = jnp.sum(p["P"][jnp.triu_indices(3)] ** 2)
        s = jnp.zeros(3).at[jnp.asarray(idx)].add(X[:, 2] * p["v"][i % 3])
        return a + b + c + jnp.sum(s**3)

    params = {"v": rng.normal(size=3), "P": rng.normal(size=(3, 3))}
    ex = exact_gradient(loss, params, X, np.zeros(6))

    v = [MP.mpf(t) for t in params["v"]]
    x = [[MP.mpf(t) for t in row] for row in X]
    s = [MP.fsum(x[i][2] * v[i % 3] for i in range(6) if idx[i] == j) for j in range(3)]
    want_v = [MP.mpf(0)] * 3
    for i in range(6):
        want_v[i % 3] += 2 * x[i][0] * v[i % 3] + 3 * s[idx[i]] ** 2 * x[i][2]
        want_v[i // 2] += x[i][1]
    want_P = [[2 * MP.mpf(params["P"][r, c]) if r <= c else MP.mpf(0) for c in range(3)] for r in range(3)]
    for j in range(3):
        assert abs(ex.mp["v"][j] - want_v[j]) <= MP.mpf(10) ** -50
    for r, c in zip(*np.triu_indices(3), strict=True):
        assert abs(ex.mp["P"][r, c] - want_P[r][c]) <= MP.mpf(10) ** -50
    assert np.all(ex.value["P"][np.tril_indices(3, -1)] == 0.0)
    assert rows.size == 6


def test_loops_sorts_and_cumulative_sums():
    """fori_loop (while), scan, cond, sort, cumsum, cumprod, cummax and argmax: as jax.grad, in closed form."""

    def loss(p, X, y):
        w = p["w"]
        powered = jax.lax.fori_loop(0, 3, lambda _, a: a * w, jnp.ones_like(w))  # w³
        carry, ys = jax.lax.scan(lambda c, t: (c + t * c, c), 1.0, w)  # Π (1 + w_i)
        branch = jax.lax.cond(w[0] > 0, lambda: jnp.sum(w**2), lambda: jnp.sum(w))
        ordered = jnp.sort(w)
        cum = jnp.cumsum(w) * jnp.cumprod(1 + w) + jax.lax.cummax(w)
        return jnp.sum(powered) + carry + jnp.sum(ys) + branch + ordered[0] * 3 + jnp.sum(cum) + w[jnp.argmax(w)] * 0.5

    w = np.array([0.3, -1.25, 2.0, 0.75])
    ex = exact_gradient(loss, {"w": w}, np.zeros((1, 1)), np.zeros(1))
    auto = np.asarray(jax.grad(lambda v: loss({"w": v}, None, None))(jnp.asarray(w)))
    assert np.max(np.abs(ex.value["w"] - auto)) <= 1e-14 * np.max(np.abs(auto))
    assert np.all(ex.err["w"] <= 1e-50)


# -- what it cannot run, and what it leaves alone ------------------------------------------------


def test_an_unknown_primitive_is_named():
    def loss(p, X, y):
        return jnp.sum(jax.scipy.special.i0e(p["w"]))

    with pytest.raises(Unsupported, match="no referee for primitive bessel_i0e") as e:
        exact_gradient(loss, {"w": np.ones(2)}, np.ones((1, 1)), np.ones(1))
    assert e.value.primitive == "bessel_i0e"
    assert isinstance(e.value, ValueError)


def test_mpmath_global_precision_untouched_and_programs_cached():
    traced = []

    def loss(p, X, y):
        traced.append(1)
        return jnp.sum((X @ p["w"] - y) ** 2)

    before = mpmath.mp.dps
    args = ({"w": np.ones(2)}, np.ones((3, 2)), np.zeros(3))
    exact_gradient(loss, *args)
    exact_gradient(loss, {"w": np.full(2, 0.5)}, args[1] * 3, args[2])
    assert len(traced) == 1  # the second call, at the same shapes, reads the same jaxpr
    assert mpmath.mp.dps == before


# -- the audit: every compiled rounding bound holds ----------------------------------------------


def test_the_audit_sees_a_breach():
    """An audit that could not fail would prove nothing: a bound one ulp too small breaks."""
    ex = _one(logistic_log1p, 2.0)
    value = {"w": np.asarray(np.nextafter(ex.value["w"], 0.0) if ex.value["w"] else 1e-300)}
    err = abs(float(MP.mpf(float(value["w"])) - ex.mp["w"][()]))
    assert audit(value, {"w": np.asarray(err * 1.01)}, ex) == (1, 1, pytest.approx(1 / 1.01))
    held, total, worst = audit(value, {"w": np.asarray(err / 4)}, ex)
    assert (held, total) == (0, 1) and worst == pytest.approx(4.0)
    assert breaches(value, {"w": np.asarray(err / 4)}, ex)[0].startswith("w[]")
    assert audit(value, {"w": np.asarray(np.inf)}, ex).total == 0  # an infinite bound promises nothing


AUDIT_SHAPES = ((1, 1), (4, 3), (64, 8))


@pytest.mark.parametrize("scales", [ORDINARY, EXTREME], ids=["ordinary", "extreme"])
@pytest.mark.parametrize("name", registry.names())
def test_rounding_bounds_hold(name, scales):
    """The compiled witness's loss, gradient, directional derivatives (forward mode) and Hessian lie
    within their rounding bounds of the referee, on every entry of random cases, samples on the
    kinks included. The bounds take every comparison as coming out as in float64, so the referee
    takes float64's decisions too. A breach is a bug in a rule."""
    m = registry.get(name)
    w = Witness(m)
    held = total = 0
    worst = 0.0
    found = []
    menu = [s for s in shape_menu(m) if (s[0], s[1]) in AUDIT_SHAPES or (m.n_features and s[0] in (1, 4, 64))]
    for i, (n, d, sizes) in enumerate(menu):
        cases = _random_cases(m, n, d, sizes, 4, 100 + i, scales)
        for case, ev in zip(cases, w.evaluate(cases, BATCH), strict=True):
            args = (m.module.loss, case.params, case.X, case.y, case.hyper)
            grad = exact_gradient(*args, branches="float64")
            checks = [
                (ev.grad, ev.grad_err, grad),
                (np.asarray(ev.loss), np.asarray(ev.loss_err), exact_loss(*args, branches="float64")),
            ]
            if not np.any(at_kink(m, case)):  # forward mode may split a tie otherwise than reverse mode
                checks.append((ev.jvp, ev.jvp_err, along(grad, ev.directions)))
            if ev.hessian is not None and n * d <= 12:
                checks.append((ev.hessian, ev.hessian_err, exact_hessian(*args, keys=w.keys, branches="float64")))
            for values, bounds, ex in checks:
                a = audit(values, bounds, ex)
                held, total, worst = held + a.held, total + a.total, max(worst, a.worst_ratio)
                found += [f"{(n, d)} {b}" for b in breaches(values, bounds, ex)]
    print(f"{name}: bound held at {held} of {total} audited entries (worst error/bound {worst:.3g})")
    assert total > 0
    assert held == total, "\n".join(found[:10])
    assert math.isfinite(worst) and worst <= 1.0


def hinge(p, X, y):
    return jnp.sum(jnp.maximum(0.0, 1.0 - y * (X[:, 0] * p["w"])))


def test_on_a_kink_the_real_numbers_and_float64_may_branch_apart():
    """0.1 × 10 rounds to 1 exactly: float64 sits on the hinge's kink, where jnp.maximum splits the
    slope in half; the real product is 1 + 5.6e−17, past the kink, where the slope is 0."""
    args = ({"w": np.asarray(10.0)}, np.asarray([[0.1]]), np.asarray([1.0]))
    auto = float(jax.grad(lambda p: hinge(p, jnp.asarray(args[1]), jnp.asarray(args[2])))(args[0])["w"])
    assert auto == -0.05
    assert exact_gradient(hinge, *args).value["w"] == 0.0
    assert exact_gradient(hinge, *args, branches="float64").value["w"] == -0.05
    with pytest.raises(ValueError, match="branches"):
        exact_gradient(hinge, *args, branches="nearest")


def _zoo():
    """Losses written with common JAX functions (nn, scipy.special, linalg, lax): name -> loss of W."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(6, 3)), rng.integers(0, 3, 6)
    A = X.T @ X + np.eye(3)
    S = lambda W: A + W @ W.T  # noqa: E731  (symmetric positive definite)
    special = jax.scipy.special
    return {
        "log_softmax": lambda W: jnp.sum(jax.nn.log_softmax(X @ W, axis=1)[jnp.arange(6), y]),
        "logsumexp": lambda W: jnp.sum(special.logsumexp(X @ W, axis=1)),
        "gelu": lambda W: jnp.sum(jax.nn.gelu(X @ W, approximate=False) + jax.nn.gelu(X @ W)),
        "relu_silu_softplus": lambda W: jnp.sum(jax.nn.relu(X @ W) + jax.nn.silu(X @ W) + jax.nn.softplus(X @ W)),
        "one_hot_take_along": lambda W: (
            jnp.sum(jax.nn.one_hot(y, 3) * (X @ W)) + jnp.sum(jnp.take_along_axis(X @ W, y[:, None], axis=1))
        ),
        "norm_var_std_clip": lambda W: (
            jnp.linalg.norm(W) + jnp.var(X @ W) + jnp.std(W) + jnp.sum(jnp.clip(W, -0.3, 0.3) ** 2)
        ),
        "solve_inv": lambda W: jnp.sum(jnp.linalg.solve(S(W), X.T @ y)) + jnp.sum(jnp.linalg.inv(A + W)),
        "cholesky_cho_solve": lambda W: (
            jnp.sum(jnp.linalg.cholesky(S(W)))
            + jnp.sum(jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(S(W)), X.T @ y))
        ),
        "slogdet_triangular": lambda W: (
            jnp.linalg.slogdet(A + W)[1] + jnp.sum(jax.scipy.linalg.solve_triangular(A + W, jnp.ones(3), lower=True))
        ),
        "special": lambda W: (
            jnp.sum(special.erf(W) + special.gammaln(W**2 + 1) + special.digamma(W**2 + 1))
            + jnp.sum(
                special.xlogy(W**2, W**2 + 1) + special.erfinv(jnp.tanh(W) * 0.5) + special.logit(special.expit(W))
            )
        ),
        "trig": lambda W: (
            jnp.sum(jnp.sin(W) * jnp.cos(W) + jnp.arctan2(W, 2.0) + jnp.tan(W) + jnp.arcsinh(W))
            + jnp.sum(jnp.arccos(W * 0.5) + jnp.arctanh(W * 0.5) + jnp.cosh(W) + jnp.sinc(W))
        ),
        "powers_logs": lambda W: (
            jnp.sum(jnp.abs(W) ** 1.7 + W**3 + (W**2 + 1) ** -0.5 + jnp.exp2(W))
            + jnp.sum(
                jnp.log2(W**2 + 1) + jnp.log10(W**2 + 1) + jnp.expm1(W) + jnp.hypot(W, 1.0) + jnp.logaddexp(W, 0.3)
            )
        ),
        "rem_round_floor": lambda W: jnp.sum(jnp.fmod(W * 7, 1.3) + jnp.round(W * 10) * W + jnp.floor(W) * W),
        "prod_max_min_median": lambda W: jnp.prod(W + 2) + jnp.max(W) + jnp.min(X @ W) + jnp.median(X @ W),
        "einsum": lambda W: jnp.einsum("ij,jk,ik->", X, W, X),
        "cumulative_top_k": lambda W: (
            jnp.sum(jax.lax.cumlogsumexp(W, axis=0)) + jnp.sum(jax.lax.top_k(W.ravel(), 2)[0])
        ),
        "where_isfinite": lambda W: jnp.sum(jnp.where(jnp.isfinite(1 / W), W, 0.0) + jnp.nan_to_num(W)),
        "slices_pads": lambda W: (
            jnp.sum(jax.lax.dynamic_slice(W, (1, 0), (2, 2)))
            + jnp.sum(jax.lax.dynamic_update_slice(W, W[:1] * 2, (2, 0)))
            + jnp.sum(jnp.pad(W, 1, constant_values=0.5) ** 2)
            + jnp.sum(jnp.flip(W) * X[:3])
            + jnp.sum(jnp.concatenate([W, X[:2]]) ** 2)
        ),
    }


ZOO = _zoo()


@pytest.mark.parametrize("name", list(ZOO))
def test_common_functions_agree_with_autodiff(name):
    """Well-conditioned losses: the referee and jax.grad agree to a few ulps, and the two runs to 50 digits."""
    f = ZOO[name]
    W = np.random.default_rng(1).normal(size=(3, 3)) * 0.5
    ex = exact_gradient(lambda p, X, y: f(p["W"]), {"W": W}, np.zeros((1, 1)), np.zeros(1))
    auto = np.asarray(jax.grad(f)(jnp.asarray(W)))
    assert np.max(np.abs(ex.value["W"] - auto)) <= 1e-14 * np.max(np.abs(auto))
    assert np.all(ex.err["W"] <= 1e-50 * np.max(np.abs(auto)))


def _log_uniform(rng, lo, hi, k, sign=1.0):
    return sign * np.exp(rng.uniform(np.log(lo), np.log(hi), k))


def _kernel_grids():
    """Each library function the rounding rules allow a few ulps for, on a grid over its range."""
    rng = np.random.default_rng(0)
    k = 2000
    return {
        "exp": (jnp.exp, np.concatenate([rng.uniform(-745, 709.7, k), rng.uniform(-1, 1, k)])),
        "expm1": (jnp.expm1, np.concatenate([_log_uniform(rng, 1e-8, 40, k), _log_uniform(rng, 1e-8, 40, k, -1.0)])),
        "log": (jnp.log, np.concatenate([_log_uniform(rng, 1e-300, 1e300, k), rng.uniform(0.5, 2, k)])),
        "log1p": (jnp.log1p, np.concatenate([_log_uniform(rng, 1e-8, 1e6, k), -_log_uniform(rng, 1e-8, 1 - 1e-9, k)])),
        "tanh": (jnp.tanh, np.concatenate([rng.uniform(-25, 25, k), _log_uniform(rng, 1e-8, 1, k)])),
        "logistic": (jax.nn.sigmoid, np.concatenate([rng.uniform(-745, 40, k), rng.uniform(-40, 40, k)])),
        "sqrt": (jnp.sqrt, _log_uniform(rng, 1e-300, 1e300, k)),
        "exp2": (jnp.exp2, rng.uniform(-1020, 1020, k)),
        "integer_pow": (lambda x: x**3, _log_uniform(rng, 1e-100, 1e100, k)),
    }


KERNELS = _kernel_grids()


@pytest.mark.parametrize("name", list(KERNELS))
def test_each_rule_bounds_its_compiled_kernel(name):
    """One primitive on exact inputs: its compiled value lies within its rule's bound of the referee."""
    from lab.verify.measure.rounding import bounded

    f, x = KERNELS[name]
    values, bounds = jax.jit(bounded(f))(x)
    ex = exact_loss(lambda p, X, y: f(p["x"]), {"x": x}, np.zeros((1, 1)), np.zeros(1))
    a = audit(np.asarray(values), np.asarray(bounds), ex)
    print(f"{name}: bound held at {a.held} of {a.total} entries (worst error/bound {a.worst_ratio:.3g})")
    found = breaches(np.asarray(values), np.asarray(bounds), ex)
    assert a.held == a.total, "\n".join(f"x = {x[int(b[1 : b.index(']')])]!r}: {b}" for b in found[:5])


def _linear_algebra():
    """Programs through each linear-algebra primitive, on a well and an ill-conditioned matrix (a column
    scaled by 1e4), with errors on the inputs (the matrix and right side are computed), some batched."""
    n, k = 5, 3

    def parts(x):
        return x[: n * n].reshape(n, n) * 1.1, x[n * n :].reshape(n, k) * 0.7

    def tri(lower, transpose, left, unit):
        def f(x):
            a, b = parts(x)
            a = a + 3.0 * jnp.eye(n)
            return jax.lax.linalg.triangular_solve(
                a, b if left else b.T, left_side=left, lower=lower, transpose_a=transpose, unit_diagonal=unit
            )

        return f

    def spd(x):
        a, _ = parts(x)
        return a @ a.T + 0.1 * jnp.eye(n)

    def solve_sq(x):
        return jnp.sum(jnp.linalg.solve(*parts(x)) ** 2)

    programs = {
        f"triangular_solve(lower={lo}, transpose={tr}, left={le}, unit={un})": tri(lo, tr, le, un)
        for lo, tr, le, un in [(True, False, True, False), (False, True, False, True), (True, True, True, True)]
    }
    programs |= {
        "solve": lambda x: jnp.linalg.solve(*parts(x)),
        "batched solve": lambda x: jnp.linalg.solve(jnp.stack([parts(x)[0], parts(x)[0].T]), parts(x)[1]),
        "cholesky": lambda x: jnp.linalg.cholesky(spd(x)),
        "cho_solve": lambda x: jax.scipy.linalg.cho_solve((jnp.linalg.cholesky(spd(x)), True), parts(x)[1]),
        "slogdet": lambda x: jnp.linalg.slogdet(parts(x)[0])[1],
        "grad of a solve": jax.grad(solve_sq),
        "jvp of a solve": lambda x: jax.jvp(solve_sq, (x,), (0.5 * x + 1.0,))[1],
        "a cond on the data": lambda x: jax.lax.cond(x[0] > 0, jnp.tanh, lambda t: jnp.tanh(t) * 3.0 + t, x),
    }
    rng = np.random.default_rng(7)
    inputs = []
    for scale in (1.0, 1e4):
        x = rng.normal(size=n * n + n * k)
        x[: n * n : n] *= scale  # the first column
        inputs.append(x)
    return programs, inputs


LINALG, LINALG_INPUTS = _linear_algebra()


@pytest.mark.parametrize("name", list(LINALG))
def test_linear_algebra_has_rules_whose_bounds_hold_and_are_not_vacuous(name):
    """Factorizations and solves carry their own backward error (a first-order estimate |J e| + c_f u |c|
    was breached by a solve and a Cholesky factor on these inputs): the compiled value lies within its
    bound of the referee, no primitive is left to the estimate, and the bound is within 10⁴ of the real
    error somewhere, not a bound so wide that it proves nothing."""
    from lab.verify.measure import rounding

    f = LINALG[name]
    for x in LINALG_INPUTS:
        rounding.approximated.clear()
        values, bounds = jax.jit(rounding.bounded(f))(x)
        assert not rounding.approximated, rounding.approximated
        values, bounds = np.asarray(values), np.asarray(bounds)
        ex = exact_loss(lambda p, X, y: f(p["x"]), {"x": x}, np.zeros((1, 1)), np.zeros(1))
        a = audit(values, bounds, ex)
        print(f"{name}: bound held at {a.held} of {a.total} entries (worst error/bound {a.worst_ratio:.3g})")
        assert a.total == values.size and np.all(np.isfinite(bounds))
        assert a.held == a.total, "\n".join(breaches(values, bounds, ex)[:5])
        assert a.worst_ratio >= 1e-4


OVERFLOWS = {
    "the naive sigmoid": lambda z: 1.0 / (1.0 + jnp.exp(-z * 1.1)),
    "a clipped log-loss": lambda z: -jnp.log(jnp.clip(1.0 / (1.0 + jnp.exp(-z * 1.1)), 1e-15, 1 - 1e-15)),
    "numpy-ml's mish": lambda z: (z * 1.1) * jnp.tanh(jnp.log(jnp.exp(z * 1.1) + 1.0)),
    "tanh of log1p of exp": lambda z: jnp.tanh(jnp.log1p(jnp.exp(z * 1.1))),
    "sigmoid of an overflow": lambda z: jax.nn.sigmoid(jnp.exp(z * 1.1)),
    "exp of minus an overflow": lambda z: jnp.exp(-jnp.exp(z * 1.1)),
    "over an overflow times 1e-300": lambda z: jnp.where(z > 0, z / (jnp.exp(z * 1.1) * 1e-300), 0.0),
}


@pytest.mark.parametrize("name", list(OVERFLOWS))
def test_a_value_brought_back_from_an_overflow_has_a_finite_bound_that_holds(name):
    """e^{1.1 z} overflows past z = 645; what a division, a tanh, a sigmoid or an exp of minus it makes of
    that is finite and known to within its floor's reach (1/(1 + e^800) is within e^−709 of 0). Every
    finite value of these programs has a finite bound, and it holds against the referee."""
    from lab.verify.measure.rounding import bounded

    f = OVERFLOWS[name]
    z = np.concatenate([np.linspace(-1000.0, 1000.0, 41), [-709.0, -710.0, -745.5, 645.3, 709.9, 0.3]])
    values, bounds = (np.asarray(a) for a in jax.jit(bounded(f))(z))
    ex = exact_loss(lambda p, X, y: f(p["x"]), {"x": z}, np.zeros((1, 1)), np.zeros(1))
    a = audit(values, bounds, ex)
    print(f"{name}: bound held at {a.held} of {a.total} entries (worst error/bound {a.worst_ratio:.3g})")
    assert np.all(np.isfinite(bounds[np.isfinite(values)]))
    assert np.any(np.abs(z * 1.1) > 709.8)  # the overflow is met
    assert a.total == np.sum(np.isfinite(values)) and a.held == a.total, "\n".join(breaches(values, bounds, ex)[:5])


def test_a_clamp_to_a_computed_limit_carries_that_limits_rounding():
    """lax.clamp(lo, x, hi) with lo a sum that rounds and x below it returns lo, with lo's error: the rule once
    gave x's alone, and a bound of 3.7e-15 stood for an error of 2.2e-14. Clamp moves by at most the
    largest move of its three operands."""
    from lab.verify.measure.rounding import bounded

    def f(z):
        lo = jnp.sum(z[:-1]) / 3.0
        return jax.lax.clamp(lo, z[-1], lo + 1.0) * jnp.ones(3) + jnp.asarray([0.0, 1.0, -1.0]) * z[-1]

    z = np.concatenate([np.full(1000, 0.1), [-5.0]])
    values, bounds = (np.asarray(a) for a in jax.jit(bounded(f))(z))
    ex = exact_loss(lambda p, X, y: f(p["x"]), {"x": z}, np.zeros((1, 1)), np.zeros(1))
    a = audit(values, bounds, ex)
    assert a.total == 3 and a.held == a.total, "\n".join(breaches(values, bounds, ex))
    assert np.all(bounds < 1e-9)  # and not vacuous: lo's own rounding, about 1e-12


def test_the_referees_cost_counts_entries_multiply_adds_and_factorizations():
    """What :func:`cost` counts, on programs whose count is known: a matrix-vector product's 5·3 multiply-adds
    and its sum's one entry; a Cholesky factor of order n costs n times its n² entries."""
    from lab.verify.measure.referee import cost

    X, y = np.ones((5, 3)), np.zeros(5)
    assert cost(lambda p, X, y: jnp.sum(X @ p["w"]), {"w": np.ones(3)}, X, y, kind="loss") == 5 * 3 + 1
    chol = [
        cost(lambda p, X, y: jnp.linalg.cholesky(p["A"])[0, 0], {"A": np.eye(n)}, X, y, kind="loss") for n in (8, 16)
    ]
    assert chol[0] >= 8**3 and chol[1] - chol[0] >= 16**3 - 8**3  # and the rest of the program, n² a step


CLOGLOG = """
def loss(params, X, y):
    xp = array_namespace(X, y)
    eta = X @ params["w"] + params["b"]
    mu = 1 - xp.exp(-xp.exp(eta))
    return -xp.mean(y * xp.log(mu / (1 - mu) + 1e-200) + xp.log(1 - mu))
def grad(params, X, y):
    s = np.exp(X @ params["w"] + params["b"])
    g = FACTOR * np.where(y == 1, -s / (np.expm1(s) + 1e-200), s) / X.shape[0]
    return {"w": X.T @ g, "b": np.asarray(g.sum())}
"""
CLOGLOG_POINT = (
    {"w": np.array([0.3]), "b": np.array(-200.0)},
    np.array([[1.0], [0.5], [1.0]]),
    np.array([1.0, 1.0, 0.0]),
)


def _cloglog(tmp_path, factor):
    from lab.model import load

    f = tmp_path / f"cloglog_{int(factor)}.py"
    head = 'import numpy as np\nfrom array_api_compat import array_namespace\nTARGET = "binary"\n'
    head += 'def init(d):\n    return {"w": np.zeros(d), "b": np.zeros(())}\n'
    head += 'def predict(params, X):\n    return X @ params["w"]\n'
    f.write_text(head + f"FACTOR = {factor}\n" + CLOGLOG)
    return load(str(f))


def test_the_referee_runs_again_with_more_digits_where_its_two_runs_differ(tmp_path, monkeypatch):
    """statsmodels' complementary log-log at η = −200 (a probe's file): at 60 digits 1 − exp(−e⁻²⁰⁰) is 0, and
    the referee's gradient came out −1.16e113 for −2/3, with an error estimate as large, so a hand gradient 3
    times too large was verified against it. Where its two runs differ by more than float64 can see, it
    runs again at four times the digits; and an entry it is still less sure of than the hand's tolerance
    is no reference (so, with one run only, the wrong gradient is not verified)."""
    from lab.verify.case import BATCH, Case
    from lab.verify.judge import judge
    from lab.verify.measure import referee
    from lab.verify.measure.autodiff import Witness
    from lab.verify.vocabulary import Kind, Reason

    params, X, y = CLOGLOG_POINT
    right, wrong = _cloglog(tmp_path, 1.0), _cloglog(tmp_path, 3.0)
    ex = referee.exact_gradient(right.module.loss, params, X, y, branches="float64")
    assert ex.dps == 4 * referee.DPS and np.all(referee.settled(ex.value["b"], ex.err["b"]))
    assert abs(float(ex.value["b"]) + 2 / 3) < 1e-15 and abs(float(ex.value["w"][0]) + 0.5) < 1e-15
    case = Case(params, X, y)
    for m, kinds in ((right, {Kind.VERIFIED}), (wrong, {Kind.INCONCLUSIVE})):
        ev = Witness(m).evaluate([case], BATCH)[0]
        assert judge(m, case, ev).kind in kinds
    monkeypatch.setattr(referee, "MORE", 1)  # the first pair of runs only: not settled
    ex = referee.exact_gradient(right.module.loss, params, X, y, branches="float64")
    assert not np.all(referee.settled(ex.value["b"], ex.err["b"]))
    for m in (right, wrong):  # the referee cannot tell: neither is verified, and the reason says why
        ev = Witness(m).evaluate([case], BATCH)[0]
        v = judge(m, case, ev)
        assert (v.rule, v.kind, v.reason) == (5, Kind.INCONCLUSIVE, Reason.BOUND_NOT_FINITE), v.message

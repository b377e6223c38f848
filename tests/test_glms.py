"""Ridge, Huber and Poisson regression against independent references and scikit-learn's optima.

The generic properties (gradient against JAX, purity, descent) are in test_models.py. Here:

- each loss against a reference that shares no code with it: ``sklearn.metrics`` and
  ``scipy.special`` / ``scipy.stats``, and HuberRegressor's own objective function;
- each fitted model against scikit-learn's optimum, to a relative 1e-6 on the coefficients,
  with the mapping between the objectives spelled out at each test;
- what each derivation promises beyond that: the ridge closed form, Huber's kink, Poisson's
  behaviour where e^z overflows.
"""

from __future__ import annotations

import warnings
from decimal import Decimal, getcontext

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.optimize import minimize
from scipy.special import gammaln, huber, xlogy
from scipy.stats import poisson
from sklearn.linear_model import HuberRegressor, PoissonRegressor, Ridge
from sklearn.linear_model._huber import _huber_loss_and_gradient
from sklearn.metrics import mean_poisson_deviance, mean_squared_error
from strategies import (
    Problem,
    large_scores,
    moderate_problems,
    problems,
    scores,
    synthetic_sets,
)

from lab.model import get
from lab.optim import fit

EPS = np.finfo(np.float64).eps
RIDGE, HUBER, POISSON = get("ridge_regression"), get("huber_regression"), get("poisson_regression")


def flat(params) -> np.ndarray:
    return np.append(np.ravel(params["w"]), params["b"])


def unflat(theta: np.ndarray) -> dict:
    return {"w": theta[:-1].copy(), "b": np.asarray(theta[-1])}


def hyper(model, name: str) -> st.SearchStrategy[float]:
    """A value of the model's hyperparameter ``name``, from the range the verifier fuzzes."""
    lo, hi = model.hyperparameters[name]
    return st.floats(lo, hi)


def magnitude(model, p: Problem, **kw) -> float:
    """The loss at |θ|, |X| and −|y|: every term adds with the same sign, so rounding errors of
    the loss are relative to it (as in test_models.py)."""
    absolute = {k: np.abs(v) for k, v in p.params.items()}
    return float(model.module.loss(absolute, np.abs(p.X), -np.abs(p.y), **kw))


def score_scale(p: Problem) -> np.ndarray:
    """Σ_j |x_ij w_j| + |b| per sample: the rounding of z_i is within (d + 1) eps times it."""
    return np.abs(p.X) @ np.abs(p.params["w"]) + np.abs(p.params["b"])


# -- ridge regression ------------------------------------------------------------------------


@given(data=st.data())
def test_ridge_loss_is_mean_squared_error_plus_penalty(data):
    """L = ``mean_squared_error`` of X w + b, plus (λ/2)‖w‖², for λ across its fuzz range.

    Tolerance 4 (n + d + 2) eps · magnitude, as for the unpenalized squared error."""
    p = data.draw(problems(RIDGE), label="problem")
    lam = data.draw(hyper(RIDGE, "lam"), label="lam")
    w = p.params["w"]
    ref = mean_squared_error(p.y, scores(p.params, p.X)) + lam / 2 * float(w @ w)
    got = float(RIDGE.module.loss(p.params, p.X, p.y, lam=lam))
    tol = 4 * (p.n + p.d + 2) * EPS * magnitude(RIDGE, p, lam=lam)
    assert abs(got - ref) <= tol, (got, ref)


@settings(max_examples=10)
@given(data=st.data())
def test_ridge_closed_form_matches_sklearn_ridge(data):
    """``closed_form`` is sklearn's ``Ridge(alpha=n λ / 2)`` to rtol 1e-10, and zeroes the gradient.

    sklearn minimizes ‖y − X w − b‖² + α‖w‖², which is n times our L = (1/n)‖r‖² + (λ/2)‖w‖²
    exactly when α = nλ/2 (derivation, eq. 11a); neither penalizes the intercept."""
    p = data.draw(synthetic_sets(RIDGE, min_n=20, max_n=200), label="data")
    lam = data.draw(hyper(RIDGE, "lam"), label="lam")
    ref = Ridge(alpha=p.n * lam / 2).fit(p.X, p.y)
    got = RIDGE.module.closed_form(p.X, p.y, lam=lam)
    coef = np.append(ref.coef_, ref.intercept_)
    np.testing.assert_allclose(flat(got), coef, rtol=1e-10, atol=1e-10 * np.max(np.abs(coef)))
    g = RIDGE.module.grad(got, p.X, p.y, lam=lam)
    assert np.max(np.abs(flat(g))) <= 1e-12 * max(1.0, np.max(np.abs(p.y)))


def test_ridge_closed_form_with_more_features_than_samples_and_equal_columns():
    """λ > 0 makes the normal equations positive definite for any X (derivation, section 4)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 9))
    X[:, 1] = X[:, 0]
    y = rng.normal(size=5)
    got = RIDGE.module.closed_form(X, y, lam=0.3)
    ref = Ridge(alpha=5 * 0.3 / 2).fit(X, y)
    coef = np.append(ref.coef_, ref.intercept_)
    np.testing.assert_allclose(flat(got), coef, rtol=1e-9, atol=1e-12)
    assert got["w"][0] == pytest.approx(got["w"][1], rel=1e-12)  # equal columns share the weight


def test_ridge_bias_is_not_penalized():
    """Adding c to every target adds c to b and leaves w alone (derivation, section 2)."""
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(30, 3)), rng.normal(size=30)
    a, b = RIDGE.module.closed_form(X, y, lam=2.0), RIDGE.module.closed_form(X, y + 7.0, lam=2.0)
    np.testing.assert_allclose(b["w"], a["w"], rtol=1e-10, atol=1e-14)
    assert float(b["b"]) == pytest.approx(float(a["b"]) + 7.0, rel=1e-12)


@pytest.mark.parametrize("optimizer", ["closed", "newton", "gd"])
@settings(max_examples=5)
@given(data=st.data())
def test_fitted_ridge_matches_sklearn(optimizer, data):
    """``lab.optim.fit`` at the default λ reaches ``Ridge(alpha=n λ / 2)`` to rtol 1e-6: the
    closed form, Newton's method (one step: the loss is quadratic) and gradient descent at 1/L."""
    p = data.draw(synthetic_sets(RIDGE, min_n=50, max_n=200), label="data")
    lam = RIDGE.module.LAM
    coef = Ridge(alpha=p.n * lam / 2).fit(p.X, p.y)
    ref = np.append(coef.coef_, coef.intercept_)
    params, hist = fit(RIDGE, p.X, p.y, optimizer=optimizer, steps=100_000, tol=1e-11)
    assert optimizer == "closed" or hist.stop_reason == "converged"
    np.testing.assert_allclose(flat(params), ref, rtol=1e-6, atol=1e-6 * np.max(np.abs(ref)))


# -- Huber regression ------------------------------------------------------------------------


@given(data=st.data())
def test_huber_loss_matches_scipy_special_huber(data):
    """L = mean of ``scipy.special.huber(δ, r)``, which is r²/2 for |r| ≤ δ and δ(|r| − δ/2) beyond.

    Tolerance 4 (n + d + 2) eps · magnitude: ρ_δ moves by at most min(|r|, δ) times the rounding
    of r, which is (d + 2) eps times the magnitude of r's terms M, and min(|r|, δ) M ≤ 2 ρ_δ(M)."""
    p = data.draw(problems(HUBER), label="problem")
    delta = data.draw(hyper(HUBER, "delta"), label="delta")
    ref = np.mean(huber(delta, scores(p.params, p.X) - p.y))
    got = float(HUBER.module.loss(p.params, p.X, p.y, delta=delta))
    tol = 4 * (p.n + p.d + 2) * EPS * magnitude(HUBER, p, delta=delta)
    assert abs(got - ref) <= tol, (got, ref)


def _sklearn_huber(theta: np.ndarray, sigma: float, X, y, epsilon: float):
    """HuberRegressor's objective and gradient over (w, b) at a fixed scale σ, with α = 0."""
    f, g = _huber_loss_and_gradient(np.append(theta, sigma), X, y, epsilon, 0.0, np.ones(len(y)))
    return f, g[:-1]


@given(data=st.data())
def test_huber_objective_is_sklearns_at_a_fixed_scale(data):
    """sklearn's objective Σ_i [σ + σ H_ε(|r_i|/σ)] (α = 0) equals n σ + (2n/σ) L with δ = ε σ
    (derivation, eq. 4a), and its gradient over (w, b) is (2n/σ) times ours, at every point."""
    p = data.draw(moderate_problems(HUBER, bound=50.0), label="problem")
    epsilon = data.draw(st.floats(1.0, 3.0), label="epsilon")
    sigma = data.draw(st.floats(0.1, 5.0), label="sigma")
    delta = epsilon * sigma
    f, g = _sklearn_huber(flat(p.params), sigma, p.X, p.y, epsilon)
    L = float(HUBER.module.loss(p.params, p.X, p.y, delta=delta))
    ours = flat(HUBER.module.grad(p.params, p.X, p.y, delta=delta))
    mag = p.n * sigma + 2 * p.n / sigma * magnitude(HUBER, p, delta=delta)
    assert abs(f - (p.n * sigma + 2 * p.n / sigma * L)) <= 8 * (p.n + p.d + 2) * EPS * mag
    # each side sums n terms ψ_i x̃_i with |ψ_i| ≤ δ, and ψ_i moves by at most the rounding of r_i
    Xt = np.hstack([p.X, np.ones((p.n, 1))])
    gscale = 2 / sigma * np.abs(Xt).T @ (delta + score_scale(p) + np.abs(p.y))
    assert np.all(np.abs(g - 2 * p.n / sigma * ours) <= 8 * (p.n + p.d + 2) * EPS * gscale)


def newton_huber(X, y, delta: float, steps: int = 100) -> np.ndarray:
    """Newton's method with step halving on the Huber loss at threshold δ, from θ = 0, with the
    model's own grad and hessian. ``lab.optim.fit`` passes no hyperparameters, so it would use the
    default δ. H is singular where fewer than d + 1 residuals are inliers: lstsq then gives the
    minimum-norm direction. The loss is piecewise quadratic, so Newton ends in a few steps."""
    m = HUBER.module
    theta = np.zeros(X.shape[1] + 1)
    for _ in range(steps):
        g = flat(m.grad(unflat(theta), X, y, delta=delta))
        if np.linalg.norm(g) <= 1e-13:
            break
        step = np.linalg.lstsq(m.hessian(unflat(theta), X, y, delta=delta), g, rcond=None)[0]
        L0, t = m.loss(unflat(theta), X, y, delta=delta), 1.0
        while m.loss(unflat(theta - t * step), X, y, delta=delta) > L0 - 1e-4 * t * (g @ step):
            t /= 2
            assert t > 1e-10, "no decrease along the Newton direction"
        theta = theta - t * step
    assert np.linalg.norm(flat(m.grad(unflat(theta), X, y, delta=delta))) <= 1e-12
    return theta


def _with_outliers(p: Problem, seed: int, count: int = 8) -> Problem:
    rng = np.random.default_rng(seed)
    y = p.y + 0.5 * rng.standard_normal(p.n)  # noise of the size of δ, so both pieces are in use
    y[rng.choice(p.n, count, replace=False)] += 30 * rng.standard_normal(count)
    return p._replace(y=y)


@settings(max_examples=8)
@given(data=st.data())
def test_fitted_huber_regression_matches_sklearn(data):
    """Our minimizer at δ = ε σ* is HuberRegressor's (w*, b*), to rtol 1e-6.

    HuberRegressor fits a scale σ jointly; by eq. 4a, at its optimum (w*, b*, σ*), (w*, b*)
    minimizes our L with δ = ε σ*. Its L-BFGS-B run stops on a relative decrease of the
    objective below 2.2e-9 (scipy's default ``ftol``, which sklearn does not expose), which leaves
    its coefficients off by up to ~1e-5. So we finish minimizing sklearn's own objective
    (``_huber_loss_and_gradient``) from its solution with ``ftol=0``, and compare with that at
    1e-6; the raw HuberRegressor agrees to 1e-3."""
    p = data.draw(synthetic_sets(HUBER, min_n=80, max_n=200, max_d=4), label="data")
    p = _with_outliers(p, data.draw(st.integers(0, 2**32 - 1), label="outlier seed"))
    epsilon = data.draw(st.sampled_from([1.2, 1.35, 2.0]), label="epsilon")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sk = HuberRegressor(epsilon=epsilon, alpha=0.0, tol=1e-12, max_iter=100_000).fit(p.X, p.y)
    start = np.concatenate([sk.coef_, [sk.intercept_, sk.scale_]])
    res = minimize(
        _huber_loss_and_gradient,
        start,
        args=(p.X, p.y, epsilon, 0.0, np.ones(p.n)),
        jac=True,
        method="L-BFGS-B",
        bounds=[(None, None)] * (p.d + 1) + [(1e-10, None)],  # σ > 0, as sklearn bounds it
        options=dict(ftol=0.0, gtol=1e-13, maxiter=100_000),
    )
    ref, sigma = res.x[:-1], res.x[-1]
    ours = newton_huber(p.X, p.y, epsilon * sigma)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-6 * np.max(np.abs(ref)))
    raw = np.append(sk.coef_, sk.intercept_)
    np.testing.assert_allclose(ours, raw, rtol=1e-3, atol=1e-3 * np.max(np.abs(raw)))
    # and at that σ, sklearn's gradient over (w, b) vanishes at our minimizer
    _, g = _sklearn_huber(ours, sigma, p.X, p.y, epsilon)
    assert np.max(np.abs(g)) <= 1e-9 * p.n * np.max(np.abs(p.y))


def test_huber_gradient_is_continuous_and_its_hessian_jumps_at_the_kink():
    """Across r = δ the gradient moves by the step only; H loses x̃ x̃ᵀ/n (eqs. 5, 9, 10)."""
    rng = np.random.default_rng(2)
    X, y, delta = rng.normal(size=(6, 2)), rng.normal(size=6), 0.7
    params = {"w": np.array([0.3, -0.2]), "b": np.asarray(0.0)}
    r = scores(params, X) - y
    i = 3
    at = {"w": params["w"], "b": np.asarray(delta - r[i])}  # residual i at +δ, up to rounding
    m = HUBER.module
    dist = m.kink_distance(at, X, y, delta=delta)
    assert dist.shape == (6,) and dist[i] < 1e-15 and np.all(np.delete(dist, i) > 1e-6)
    Xt = np.hstack([X, np.ones((6, 1))])
    for s in (1e-9, 1e-7):
        lo = {"w": at["w"], "b": at["b"] - s}  # residual i inside, at δ − s
        hi = {"w": at["w"], "b": at["b"] + s}  # and outside, at δ + s; no other residual crosses
        step = flat(m.grad(hi, X, y, delta=delta)) - flat(m.grad(lo, X, y, delta=delta))
        assert np.max(np.abs(step)) <= 2 * s * np.max(np.abs(Xt)) + 1e-15  # ψ is 1-Lipschitz
        jump = m.hessian(lo, X, y, delta=delta) - m.hessian(hi, X, y, delta=delta)
        np.testing.assert_allclose(jump, np.outer(Xt[i], Xt[i]) / 6, rtol=1e-12, atol=1e-15)
    dist = m.kink_distance(params, X, y, delta=delta)
    np.testing.assert_array_equal(dist, np.abs(np.abs(r) - delta))


def test_huber_gradient_ignores_how_far_an_outlier_is():
    """|ψ_δ| ≤ δ: moving a target that is already beyond δ leaves the gradient unchanged (eq. 5)."""
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(20, 3)), rng.normal(size=20)
    params = {"w": np.zeros(3), "b": np.asarray(0.0)}
    y[0] = 50.0
    far = y.copy()
    far[0] = 5e9
    g, g_far = HUBER.module.grad(params, X, y), HUBER.module.grad(params, X, far)
    np.testing.assert_array_equal(flat(g), flat(g_far))


# -- Poisson regression ----------------------------------------------------------------------


@given(data=st.data())
def test_poisson_loss_matches_half_deviance_and_logpmf(data):
    """On scores |z| ≤ 20, L = ``mean_poisson_deviance``/2 − mean(y log y − y) (eq. 6) and
    L = −mean(``poisson.logpmf``) − mean(log y!) (eqs. 4, 5).

    Tolerance: 8 (n + d + 4) eps times the size of the terms either side sums (μ, y|z|, y log y,
    y and log y!), plus the rounding of each z_i, which e^z and y z amplify by μ_i + y_i."""
    p = data.draw(moderate_problems(POISSON, bound=20.0), label="problem")
    z = scores(p.params, p.X)
    mu, y = np.exp(z), p.y
    got = float(POISSON.module.loss(p.params, p.X, p.y))
    from_deviance = mean_poisson_deviance(y, mu) / 2 - np.mean(xlogy(y, y) - y)
    from_logpmf = -np.mean(poisson.logpmf(y, mu)) - np.mean(gammaln(y + 1))
    terms = np.mean(mu + np.abs(y * z) + xlogy(y, y) + y + gammaln(y + 1))
    tol = 8 * (p.n + p.d + 4) * EPS * (terms + np.mean((mu + y) * score_scale(p)))
    assert abs(got - from_deviance) <= tol, (got, from_deviance, tol)
    assert abs(got - from_logpmf) <= tol, (got, from_logpmf, tol)


@settings(max_examples=8)
@given(data=st.data())
def test_fitted_poisson_regression_matches_sklearn(data):
    """Newton's method (``lab.optim.fit``) reaches ``PoissonRegressor(alpha=0)`` to rtol 1e-6.

    sklearn minimizes (1/2n) Σ deviance + (α/2)‖w‖²; with α = 0 that is our L plus a constant
    of the data (eq. 6): the same minimizer and the same gradient."""
    p = data.draw(synthetic_sets(POISSON, min_n=50, max_n=200, max_d=4), label="data")
    # with too few nonzero counts the minimizer may not exist (derivation, section 5)
    assume(np.count_nonzero(p.y) >= p.d + 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a ConvergenceWarning would void the reference
        sk = PoissonRegressor(alpha=0.0, tol=1e-12, max_iter=10_000).fit(p.X, p.y)
    ref = np.append(sk.coef_, sk.intercept_)
    params, hist = fit(POISSON, p.X, p.y, optimizer="newton", tol=1e-12, steps=100)
    assert hist.stop_reason == "converged"
    np.testing.assert_allclose(flat(params), ref, rtol=1e-6, atol=1e-6 * np.max(np.abs(ref)))
    mean_mu = np.mean(POISSON.module.predict(params, p.X))
    assert mean_mu == pytest.approx(np.mean(p.y), rel=1e-10)  # eq. 10


def _exact_gradient(z: np.ndarray, y: np.ndarray) -> tuple[list[Decimal], Decimal]:
    """The gradient over (w, b) at w = 1, b = 0, X = z, in 60-digit decimals, where nothing
    overflows: (1/n) Σ (e^{z_i} − y_i) z_i and (1/n) Σ (e^{z_i} − y_i); and the mean size of
    their terms, (1/n) Σ (e^{z_i} + y_i) max(|z_i|, 1)."""
    getcontext().prec = 60
    e = [Decimal(float(zi)).exp() for zi in z]
    zs, ys = [Decimal(float(v)) for v in z], [Decimal(float(v)) for v in y]
    n = len(e)
    gw = sum((ei - yi) * zi for ei, yi, zi in zip(e, ys, zs, strict=True)) / n
    gb = sum(ei - yi for ei, yi in zip(e, ys, strict=True)) / n
    size = sum((ei + yi) * max(abs(zi), 1) for ei, yi, zi in zip(e, ys, zs, strict=True)) / n
    return [gw, gb], size


@given(z=large_scores(1e4), data=st.data())
def test_poisson_gradient_is_right_or_infinite_and_never_nan_for_scores_up_to_1e4(z, data):
    """For |z| ≤ 1e4, beyond e^z's overflow at log(max double) = 709.78 (eq. 14): the loss is
    +inf once some z > 709.78 and finite while every z ≤ 709.78 − log n (between, the sum of the
    e^{z_i} may overflow first); each gradient entry is within its rounding of the exact value,
    or ±inf with the exact value's sign where that exceeds the largest double (eqs. 15, 16).
    Nothing is ever NaN.

    Tolerance 4 (n + 4) eps (1 + max|z|) times the mean size of the terms: e^z amplifies the
    rounding of its argument by |z|, as does (16) with m = max z."""
    counts = st.integers(0, 30).map(float)
    y = data.draw(hnp.arrays(np.float64, z.shape, elements=counts), label="y")
    params, X, n = {"w": np.ones(1), "b": np.asarray(0.0)}, z[:, None], z.size
    with np.errstate(over="ignore"):  # NumPy warns where e^z and the true values overflow
        loss = POISSON.module.loss(params, X, y)
        g = flat(POISSON.module.grad(params, X, y))
        H = POISSON.module.hessian(params, X, y)
    log_max = np.log(np.finfo(np.float64).max)
    assert not np.isnan(loss)
    assert loss == np.inf if np.max(z) > log_max else True
    assert np.isfinite(loss) if np.max(z) <= log_max - np.log(n) else True
    assert not np.isnan(g).any() and not np.isnan(H).any()
    big = Decimal(float(np.finfo(np.float64).max))
    exact, size = _exact_gradient(z, y)
    tol = Decimal(4 * (n + 4) * EPS * (1 + np.max(np.abs(z)))) * size
    for got, ref in zip(g, exact, strict=True):
        if abs(ref) > big:
            assert got == (np.inf if ref > 0 else -np.inf), (got, ref)
        else:
            assert np.isfinite(got) and abs(Decimal(float(got)) - ref) <= tol, (got, ref)


@given(data=st.data())
def test_poisson_hessian_is_positive_semidefinite(data):
    """(1/n) X̃ᵀ diag(μ) X̃ has no eigenvalue below −(d + 1) n eps times its largest (eq. 11).
    Scores up to 200, so that the Hessian stays finite also for the features of 1e6 of the
    extreme profile."""
    p = data.draw(moderate_problems(POISSON, bound=200.0), label="problem")
    H = POISSON.module.hessian(p.params, p.X, p.y)
    ev = np.linalg.eigvalsh(H)
    assert ev.min() >= -(p.d + 1) * p.n * EPS * max(ev.max(), np.finfo(np.float64).tiny)

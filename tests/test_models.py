"""Properties of every registered model: its gradient, its loss, its predictions, its descent.

Tests that hold for any model keeping the contract are parametrized over
``lab.model.names()``, so a new file in lab/models/ is covered without editing
this file. Tests against a model-specific reference (scikit-learn, lstsq) are
parametrized over the models they apply to.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.optimize import linprog
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, mean_squared_error
from strategies import (
    Problem,
    large_scores,
    moderate_problems,
    problems,
    scores,
    synthetic_sets,
)

from lab.model import Model, get, names
from lab.optim import fit
from lab.optim import lipschitz as curvature
from lab.verify.measure.rounding import bounded
from lab.verify.runtime.jax_config import jax, jnp
from lab.verify.runtime.programs import COMPILE_OPTIONS

MODELS = names()
LINEAR = ["linear_regression", "multivariate_linear_regression"]  # mean squared error of X w + b
LOGISTIC = ["logistic_regression"]  # mean binary cross-entropy of sigmoid(X w + b)
# classify(params, X, threshold) of a binary model; a "classes" model's classify is an argmax
BINARY = [n for n in MODELS if get(n).target == "binary"]
CLASSIFIERS = [n for n in BINARY if hasattr(get(n).module, "classify")]
EPS = np.finfo(np.float64).eps
TINY = np.finfo(np.float64).tiny  # results below it may be subnormal here and flushed to 0 in XLA


# -- the JAX witness, built once per model --------------------------------------------------


def _grad_and_scale(loss, params, X, y):
    """``jax.grad`` of the loss, and per parameter entry the size of the terms its gradient sums.

    For sample i let g_i be the gradient of that sample's loss alone. The scale
    of entry k is the largest, over the samples, of

        |g_i(y_i = 0)|               the prediction's part (e.g. σ(z)·x, 2 z·x)
      + |g_i(y_i) − g_i(y_i = 0)|    the target's part (e.g. −y·x, −2 y·x)
      + Σ_m |∂g_i/∂θ_m| |θ_m|        how far rounding the products x·θ inside z moves g_i

    These are the quantities that cancel in p − y or X w + b − y, so an error
    bound in terms of them holds where the gradient itself is tiny.
    """

    def one(p, x, t):
        return loss(p, x[None, :], t[None])

    per_sample = jax.vmap(jax.grad(one), in_axes=(None, 0, 0))
    jac = jax.vmap(jax.jacfwd(jax.grad(one)), in_axes=(None, 0, 0))
    g, g0, J = per_sample(params, X, y), per_sample(params, X, jnp.zeros_like(y)), jac(params, X, y)
    scale = {}
    for k in params:
        s = jnp.abs(g0[k]) + jnp.abs(g[k] - g0[k])
        for m, theta in params.items():
            Jkm = jnp.abs(J[k][m]).reshape(g[k].shape + (-1,))  # (n, *shape_k, size_m)
            s = s + Jkm @ jnp.abs(theta).reshape(-1)
        scale[k] = jnp.max(s, axis=0)
    return jax.grad(loss)(params, X, y), scale


@functools.cache
def autodiff(name: str):
    """The jitted witness for one model: jit keeps one compiled program per shape."""
    return jax.jit(functools.partial(_grad_and_scale, get(name).module.loss), compiler_options=COMPILE_OPTIONS)


@functools.cache
def rounding_bound(name: str):
    """Per entry, a bound on the rounding error of ``jax.grad`` of the loss (lab.verify.measure.rounding).

    A library function errs by a few ulps of its output. Where that output later cancels
    (1 − tanh² of a saturated unit in mlp), the error is amplified beyond ``_grad_and_scale``'s
    scale; this bound carries each primitive's error through the cancellation. It is slow to
    trace, so the test asks for it only where the scale alone is exceeded."""
    return jax.jit(
        lambda params, X, y: bounded(jax.grad(get(name).module.loss))(params, X, y)[1], compiler_options=COMPILE_OPTIONS
    )


def magnitude(model: Model, params, X, y) -> float:
    """The loss at |θ|, |X| and −|y|: every term adds with the same sign, so this bounds the
    size of what the loss sums (mean (|x||w| + |b| + |y|)² for squared error; at least
    mean |z| + |y z| for cross-entropy). Rounding errors of the loss are relative to it."""
    absolute = {k: np.abs(v) for k, v in params.items()}
    return float(model.module.loss(absolute, np.abs(X), -np.abs(y)))


def lipschitz(model: Model, p: Problem) -> float:
    """A bound L on the Hessian wherever a step of 1/L from the problem's parameters goes: the
    largest top eigenvalue of the Hessian at those parameters and at ``init`` (θ = 0), for a
    "real" target also with y = ŷ (every residual 0), and then at the end of the step θ − ∇L/L.
    Squared error has a constant Hessian; cross-entropy's (1/n) X̃ᵀ diag(p(1−p)) X̃ is largest
    at θ = 0, where every p(1−p) = 1/4; Huber's (1/n) X̃ᵀ diag(1[|r| ≤ δ]) X̃ is largest where no
    residual is clipped, as at y = ŷ. Poisson's (1/n) X̃ᵀ diag(e^z) X̃ has no global bound, but
    its top eigenvalue is convex along a line, so the ends of the step bound it on the step."""
    hessian = getattr(model.module, "hessian", None)
    if hessian is None:
        pytest.skip(f"{model.name} has no hessian")
    if model.kink_order == 1:
        pytest.skip(f"{model.name}'s gradient jumps at kinks: its Hessian bounds nothing")
    at = [(p.params, p.y), (model.init(p.d, **p.sizes), p.y)]
    if model.target == "real":
        at += [(q, model.module.predict(q, p.X)) for q, _ in at]

    def top(q, y):
        return float(np.linalg.eigvalsh(np.asarray(hessian(q, p.X, y))).max())

    L = max(top(q, y) for q, y in at)
    # a bound valid at every θ, where lab.optim knows one: the softmax's curvature peaks neither at
    # θ = 0 nor at the ends of the step (Böhning: λ_max(X̃ᵀX̃)/(2n); softmax_regression.md, eq. 16)
    L = max(L, curvature(model, p.X, p.y, p.params)["global"] or 0.0)
    g = model.module.grad(p.params, p.X, p.y)
    return max(L, top({k: v - g[k] / L for k, v in p.params.items()}, p.y))


def flat(params) -> np.ndarray:
    return np.concatenate([np.ravel(params[k]) for k in ("w", "b")])


# -- the gradient ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
@given(data=st.data())
def test_hand_gradient_matches_jax_grad(name, data):
    """``model.grad`` agrees with ``jax.grad`` of ``model.module.loss`` in float64.

    Tolerance per entry: 2 (n + d + 20) (eps · scale + tiny) (see ``_grad_and_scale``). Each side
    rounds a mean of n samples (γ_n), a dot product of d + 1 terms in each score (γ_{d+1}),
    and a few transcendental functions: JAX differentiates logaddexp as
    exp(z − logaddexp(0, z)), whose argument is off by up to eps·|z|/2, which matters only
    while e^{−|z|} > eps, that is |z| < 37: about 19 ulps. The factor 2: both sides err.
    Where that is exceeded, twice JAX's own rounding-error bound is added (``rounding_bound``).
    """
    model = get(name)
    p = data.draw(problems(model), label="problem")
    if model.kink_order == 1:  # no gradient at a kink; the verifier checks one-sided slopes there
        assume(np.min(model.module.kink_distance(p.params, p.X, p.y)) > 1e-6)
    hand = model.grad(p.params, p.X, p.y)
    auto, scale = autodiff(name)(p.params, p.X, p.y)
    assert set(hand) == set(p.params)
    for k, theta in p.params.items():
        assert hand[k].shape == theta.shape, k
        a, s = np.asarray(auto[k]), np.asarray(scale[k])
        err, tol = np.abs(hand[k] - a), 2 * (p.n + p.d + 20) * (EPS * s + TINY)
        if not np.all(err <= tol):  # a library function's error, amplified by a cancellation
            tol = tol + 2 * np.asarray(rounding_bound(name)(p.params, p.X, p.y)[k])
        assert np.all(err <= tol), f"{k}: hand {hand[k]}, jax {a}, |difference| {err} > {tol}"


# -- purity ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
@given(data=st.data())
def test_no_function_mutates_its_inputs(name, data):
    """loss, grad, predict (wrapped and raw), hessian and classify leave params, X and y alone,
    and the gradient does not alias an input (an optimizer may update it in place)."""
    model = get(name)
    p = data.draw(problems(model), label="problem")
    before = ({k: v.copy() for k, v in p.params.items()}, p.X.copy(), p.y.copy())
    mod = model.module
    calls = {
        "Model.loss": lambda: model.loss(p.params, p.X, p.y),
        "Model.grad": lambda: model.grad(p.params, p.X, p.y),
        "Model.predict": lambda: model.predict(p.params, p.X),
        "loss": lambda: mod.loss(p.params, p.X, p.y),
        "grad": lambda: mod.grad(p.params, p.X, p.y),
        "predict": lambda: mod.predict(p.params, p.X),
    }
    for extra in ("hessian", "classify"):
        if hasattr(mod, extra):
            args = (p.params, p.X, p.y) if extra == "hessian" else (p.params, p.X)
            calls[extra] = functools.partial(getattr(mod, extra), *args)
    for what, call in calls.items():
        out = call()
        assert np.array_equal(p.X, before[1]), f"{what} changed X"
        assert np.array_equal(p.y, before[2]), f"{what} changed y"
        for k, v in p.params.items():
            assert np.array_equal(v, before[0][k]), f"{what} changed params[{k!r}]"
        if what.endswith("grad"):
            for k, g in out.items():
                for src in (p.X, p.y, *p.params.values()):
                    assert not np.shares_memory(g, src), f"{what}[{k!r}] aliases an input"


# -- the loss against independent references -----------------------------------------------


@pytest.mark.parametrize("name", LINEAR)
@given(data=st.data())
def test_squared_error_matches_sklearn(name, data):
    """The loss is ``sklearn.metrics.mean_squared_error`` of X w + b.

    Tolerance 4 (n + d + 2) eps · magnitude: the residual X w + b − y is a sum of d + 2
    rounded terms, squared and averaged over n samples, on both sides.
    """
    model = get(name)
    p = data.draw(problems(model), label="problem")
    ref = mean_squared_error(p.y, scores(p.params, p.X))
    got = model.loss(p.params, p.X, p.y)
    tol = 4 * (p.n + p.d + 2) * EPS * magnitude(model, p.params, p.X, p.y)
    assert abs(got - ref) <= tol, (got, ref, tol)


@pytest.mark.parametrize("name", LOGISTIC)
@given(data=st.data())
def test_cross_entropy_matches_sklearn_log_loss(name, data):
    """The loss is ``sklearn.metrics.log_loss`` of σ(X w + b), on scores |z| ≤ 20.

    log_loss clips p to [eps, 1 − eps]; at |z| ≤ 20 p stays within [2e-9, 1 − 2e-9], so
    the clip never acts. log_loss forms log(1 − p) from a p rounded by eps, which is off by
    eps / (1 − p): the tolerance carries that term besides 4 (n + d + 4) eps · magnitude.
    """
    model = get(name)
    p = data.draw(moderate_problems(model, bound=20.0), label="problem")
    prob = expit(scores(p.params, p.X))
    ref = log_loss(p.y, prob, labels=[0, 1])
    got = model.loss(p.params, p.X, p.y)
    mag = magnitude(model, p.params, p.X, p.y)
    tol = 4 * EPS * ((p.n + p.d + 4) * mag + np.mean(1 / np.minimum(prob, 1 - prob)))
    assert abs(got - ref) <= tol, (got, ref, tol)


# -- numerical stability of logistic regression ---------------------------------------------

#: Underflow of e^{−|z|} to 0 is the intended, correctly rounded result; the rest must not happen.
STRICT = dict(over="raise", divide="raise", invalid="raise", under="ignore")


def _strict(f, *args):
    with warnings.catch_warnings(), np.errstate(**STRICT):
        warnings.simplefilter("error")
        return f(*args)


@pytest.mark.parametrize("name", LOGISTIC)
@pytest.mark.parametrize(
    "z, y, loss, dw, db",
    [
        (1e4, 0.0, 1e4, 1e4, 1.0),  # log(1 + e^z) ≈ z; p − y = 1
        (-1e4, 0.0, 0.0, 0.0, 0.0),  # log(1 + e^z) ≈ e^z = 0; p − y = 0
        (1e4, 1.0, 0.0, 0.0, 0.0),  # log(1 + e^z) − z ≈ 0
        (-1e4, 1.0, 1e4, 1e4, -1.0),  # −z; p − y = −1, times x = −1e4
    ],
)
def test_logistic_limits_at_scores_of_1e4(name, z, y, loss, dw, db):
    """At z = ±1e4 the loss and gradient reach their analytic limits, with no warning."""
    model = get(name)
    params, X, Y = {"w": np.ones(1), "b": np.zeros(())}, np.array([[z]]), np.array([y])
    assert _strict(model.loss, params, X, Y) == pytest.approx(loss, rel=4 * EPS, abs=0)
    g = _strict(model.grad, params, X, Y)
    assert float(g["w"][0]) == pytest.approx(dw, rel=4 * EPS, abs=0)
    assert float(g["b"]) == pytest.approx(db, rel=4 * EPS, abs=0)
    assert float(_strict(model.predict, params, X)[0]) == (1.0 if z > 0 else 0.0)


@pytest.mark.parametrize("name", LOGISTIC)
@given(z=large_scores(1e4), data=st.data())
def test_logistic_is_finite_and_correct_for_scores_up_to_1e4(name, z, data):
    """For |z| ≤ 1e4 loss, grad and predict are finite, silent, and match stable references:
    ℓ = max(z, 0) − y z + log1p(e^{−|z|}) and p = scipy.special.expit(z).

    Tolerance 4 (n + 4) eps times the sum of the magnitudes of the terms (γ_n for the mean,
    a few ulps for exp and log1p per sample), plus tiny·|z| where e^{−|z|} underflows: the
    model may keep a subnormal σ(−745) ≈ 5e-324 that expit rounds to 0."""
    model = get(name)
    y = data.draw(hnp.arrays(np.float64, z.shape, elements=st.sampled_from([0.0, 1.0])), label="y")
    params, X, n = {"w": np.ones(1), "b": np.zeros(())}, z[:, None], z.size
    loss = _strict(model.loss, params, X, y)
    g = _strict(model.grad, params, X, y)
    prob = _strict(model.predict, params, X)
    q = expit(z)
    ref_loss = np.mean(np.maximum(z, 0) - y * z + np.log1p(np.exp(-np.abs(z))))
    c, a = 4 * (n + 4) * EPS, np.abs(z)
    assert np.isfinite(loss) and abs(loss - ref_loss) <= c * np.mean(a * (1 + y) + 1)
    assert abs(g["w"][0] - np.mean((q - y) * z)) <= c * np.mean(a * (q + y)) + TINY * np.mean(a)
    assert abs(g["b"] - np.mean(q - y)) <= c * np.mean(q + y) + TINY
    assert np.all((prob >= 0) & (prob <= 1))
    assert np.all(np.abs(prob - q) <= 4 * EPS * q + TINY)


# -- predictions ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
@given(data=st.data())
def test_predict_gives_one_finite_value_per_row(name, data):
    """``predict`` has shape (n,) and is finite; a binary model's prediction is a probability.
    A "classes" model predicts one probability per class: shape (n, k), rows summing to 1."""
    model = get(name)
    p = data.draw(problems(model), label="problem")
    pred = model.predict(p.params, p.X)
    if model.target == "classes":
        assert pred.ndim == 2 and pred.shape[0] == p.n
        assert np.all(pred >= 0)
        assert np.allclose(pred.sum(axis=1), 1.0, rtol=0, atol=pred.shape[1] * 4 * EPS)
    else:
        assert pred.shape == (p.n,)
    assert np.all(np.isfinite(pred))
    if model.target == "binary":
        assert np.all((pred >= 0) & (pred <= 1))


@pytest.mark.parametrize("name", LINEAR)
@given(data=st.data())
def test_linear_prediction_is_x_w_plus_b(name, data):
    """The linear models predict X w + b, up to the rounding of d + 1 products and sums."""
    model = get(name)
    p = data.draw(problems(model), label="problem")
    pred, ref = model.predict(p.params, p.X), scores(p.params, p.X)
    mag = np.abs(p.X) @ np.abs(np.reshape(p.params["w"], (-1,))) + np.abs(p.params["b"])
    assert np.all(np.abs(pred - ref) <= 2 * (p.d + 2) * EPS * mag)


@pytest.mark.parametrize("name", CLASSIFIERS)
@given(data=st.data())
def test_classify_thresholds_the_probability(name, data):
    """``classify`` returns integer 0/1 labels: 1 exactly where p ≥ threshold; 0.5 by default;
    a higher threshold never labels more rows 1."""
    model = get(name)
    p = data.draw(problems(model), label="problem")
    lo, hi = sorted(data.draw(st.lists(st.floats(0, 1), min_size=2, max_size=2), label="t"))
    prob = model.predict(p.params, p.X)
    labels = model.module.classify(p.params, p.X, threshold=lo)
    assert labels.shape == (p.n,) and np.issubdtype(labels.dtype, np.integer)
    assert set(np.unique(labels)) <= {0, 1}
    np.testing.assert_array_equal(labels == 1, prob >= lo)
    assert np.all(model.module.classify(p.params, p.X, threshold=hi) <= labels)
    np.testing.assert_array_equal(model.module.classify(p.params, p.X), prob >= 0.5)
    assert np.all(model.module.classify(p.params, p.X, threshold=0.0) == 1)
    assert np.all(model.module.classify(p.params, p.X, threshold=np.nextafter(1.0, 2.0)) == 0)


# -- descent --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
@given(data=st.data())
def test_gradient_step_of_one_over_L_decreases_the_loss(name, data):
    """One step θ − ∇L/L, with L bounding the Hessian, lowers the loss by at least |∇L|²/(2L)
    (the descent lemma), up to rounding: 8 (n + d + 20) eps · magnitude of the loss."""
    model = get(name)
    p = data.draw(problems(model), label="problem")
    L = lipschitz(model, p)
    g = model.grad(p.params, p.X, p.y)
    step = {k: v - g[k] / L for k, v in p.params.items()}
    before, after = model.loss(p.params, p.X, p.y), model.loss(step, p.X, p.y)
    mag = max(magnitude(model, q, p.X, p.y) for q in (p.params, step))
    decrease = sum(float(np.sum(v * v)) for v in g.values()) / (2 * L)
    assert after <= before - decrease + 8 * (p.n + p.d + 20) * EPS * mag, (before, after, decrease)


@pytest.mark.parametrize("name", MODELS)
@given(data=st.data())
def test_fit_at_one_over_L_never_increases_the_loss(name, data):
    """``fit`` for 50 steps at lr = 1/L records a non-increasing loss history, where L bounds the curvature
    everywhere (lab.optim knows a global bound); else for the one step on which :func:`lipschitz` bounds
    it. Poisson's curvature e^z has no global bound, and 50 steps at a fixed 1/L can climb to where it
    exceeds 2/lr and diverge (a derandomized draw of an X with one nonzero entry did)."""
    model = get(name)
    p = data.draw(problems(model), label="problem")
    lr = 1 / lipschitz(model, p)  # skips a model without a Hessian
    steps = 50 if curvature(model, p.X, p.y, p.params)["global"] is not None else 1
    params, hist = fit(model, p.X, p.y, lr=lr, steps=steps, params=p.params)
    assert 1 <= len(hist.loss) <= steps + 1 and hist.stop_reason in ("converged", "max steps")
    mag = max(magnitude(model, q, p.X, p.y) for q in (p.params, params))
    slack = 8 * (p.n + p.d + 20) * EPS * mag
    rises = np.diff(hist.loss)
    assert np.all(rises <= slack), (hist.loss, slack)


# -- fitted models against independent solvers ----------------------------------------------


@pytest.mark.parametrize("name", LINEAR)
@given(data=st.data())
def test_fitted_linear_model_matches_lstsq(name, data):
    """Gradient descent at lr = 1/L to a gradient norm of 1e-10 reaches the least-squares
    solution of [X, 1] θ ≈ y (numpy.linalg.lstsq) to rtol 1e-6."""
    model = get(name)
    p = data.draw(synthetic_sets(model, min_n=50, max_n=200), label="data")
    coef = np.linalg.lstsq(np.hstack([p.X, np.ones((p.n, 1))]), p.y, rcond=None)[0]
    params, hist = fit(model, p.X, p.y, lr=1 / lipschitz(model, p), steps=100_000, tol=1e-10)
    assert hist.stop_reason == "converged"
    np.testing.assert_allclose(flat(params), coef, rtol=1e-6, atol=1e-6 * np.max(np.abs(coef)))


def separable(X: np.ndarray, y: np.ndarray) -> bool:
    """Whether some (w, b) puts every sample on its label's side (then the MLE does not exist):
    the linear program s_i (x_i·w + b) ≥ 1, s_i = 2 y_i − 1, is feasible."""
    A = -(2 * y - 1)[:, None] * np.hstack([X, np.ones((len(y), 1))])
    res = linprog(np.zeros(A.shape[1]), A_ub=A, b_ub=-np.ones(len(y)), bounds=(None, None))
    return res.status == 0


@pytest.mark.parametrize("name", LOGISTIC)
@settings(max_examples=8)  # each example fits two models to a gradient of 1e-10: a few suffice
@given(data=st.data())
def test_fitted_logistic_regression_matches_sklearn(name, data):
    """On non-separable synthetic data, gradient descent reaches sklearn's unpenalized
    LogisticRegression (C = inf; ``penalty=None`` is deprecated in sklearn 1.8) to rtol 1e-4."""
    model = get(name)
    p = data.draw(synthetic_sets(model, min_n=100, max_n=300, max_d=4), label="data")
    assume(not separable(p.X, p.y))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a ConvergenceWarning would void the reference
        clf = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(p.X, p.y)
    ref = np.append(clf.coef_[0], clf.intercept_[0])
    params, hist = fit(model, p.X, p.y, lr=1 / lipschitz(model, p), steps=200_000, tol=1e-10)
    assert hist.stop_reason == "converged"
    np.testing.assert_allclose(flat(params), ref, rtol=1e-4, atol=1e-4 * np.max(np.abs(ref)))


def _standardized(X):
    return (X - X.mean(axis=0)) / X.std(axis=0)


@pytest.mark.parametrize("lam", [1e-3, 0.05, 1.0])
@pytest.mark.parametrize("data_set", ["breast_cancer", "synthetic"])
def test_penalized_logistic_fit_matches_sklearn_C_one_over_n_lam(data_set, lam):
    """With lam > 0, fit reaches sklearn's LogisticRegression(C = 1/(n lam)) to a relative 1e-6 (eq. 17):
    both penalize the weights and not the intercept. breast_cancer is separable, so only the penalty
    gives it a minimizer."""
    from sklearn.datasets import load_breast_cancer

    model = get("logistic_regression")
    if data_set == "breast_cancer":
        X, y = load_breast_cancer(return_X_y=True)
        X, y = _standardized(X), y.astype(float)
    else:
        rng = np.random.default_rng(3)
        X = rng.normal(size=(300, 5)) * np.array([1.0, 3.0, 0.3, 1.0, 2.0])
        y = (rng.random(300) < expit(X @ rng.normal(size=5) + 0.4)).astype(float)
    n = len(y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # newton-cholesky: lbfgs stops with a gradient near 1e-8 at tol=1e-14, a relative 1e-6 off on breast_cancer
        clf = LogisticRegression(C=1 / (n * lam), solver="newton-cholesky", tol=1e-14, max_iter=1000).fit(X, y)
    params, hist = fit(model, X, y, optimizer="newton", hyper={"lam": lam}, steps=100, tol=1e-13)
    assert hist.stop_reason == "converged"
    scale = np.max(np.abs(clf.coef_))
    assert np.max(np.abs(params["w"] - clf.coef_[0])) <= 1e-6 * scale  # relative to the largest coefficient
    assert abs(params["b"] - clf.intercept_[0]) <= 1e-6 * max(scale, abs(clf.intercept_[0]))
    g = model.with_hyper(lam=lam).grad(params, X, y)  # the minimum of (14): the gradient (15) vanishes there
    assert np.linalg.norm(g["w"]) < 1e-10 and abs(g["b"]) < 1e-10


def test_logistic_lam_zero_is_the_unpenalized_model():
    """The default lam = 0 leaves loss, grad and hessian exactly as they were; lam adds (λ/2)|w|², λw, λ on the
    weights' diagonal (eqs. 14-16), and nothing on the bias."""
    mod = get("logistic_regression").module
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 2, 20).astype(float)
    params = {"w": rng.normal(size=3), "b": np.asarray(0.4)}
    assert mod.loss(params, X, y) == mod.loss(params, X, y, lam=0.0)
    lam = 0.25
    assert np.isclose(mod.loss(params, X, y, lam=lam), mod.loss(params, X, y) + lam / 2 * params["w"] @ params["w"])
    g0, g = mod.grad(params, X, y), mod.grad(params, X, y, lam=lam)
    np.testing.assert_allclose(g["w"] - g0["w"], lam * params["w"], rtol=1e-12)
    assert g["b"] == g0["b"]
    dH = mod.hessian(params, X, y, lam=lam) - mod.hessian(params, X, y)
    np.testing.assert_allclose(dH, np.diag([lam] * 3 + [0.0]), atol=1e-15)
    model = get("logistic_regression")  # the curvature bound (eq. 11a) grows by λ, so the safe step shrinks
    bound0, bound = curvature(model, X, y)["global"], curvature(model.with_hyper(lam=lam), X, y)["global"]
    assert bound == pytest.approx(bound0 + lam, rel=1e-12)
    H = mod.hessian({"w": 3 * params["w"], "b": params["b"]}, X, y, lam=lam)
    assert np.linalg.eigvalsh(H).max() <= bound + 1e-12

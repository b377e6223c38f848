"""softmax_regression and hinge_svm against independent references: sklearn, JAX, one-sided slopes.

The generic properties (gradient against ``jax.grad``, purity, descent) are in
tests/test_models.py; this file holds what only these two models have: a loss
that ``sklearn.metrics`` computes too, a fit that sklearn's solvers reach, the
shift invariance of the softmax, and the hinge's kink.
"""

from __future__ import annotations

import functools
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.optimize import linprog
from scipy.special import softmax as scipy_softmax
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import hinge_loss, log_loss
from sklearn.svm import SVC
from strategies import finite_floats, problems

from lab.data import synthetic
from lab.model import Model, get
from lab.optim import fit
from lab.verify.measure.autodiff import flatten, unflatten
from lab.verify.runtime.jax_config import jax, jnp
from lab.verify.runtime.programs import COMPILE_OPTIONS

EPS = np.finfo(np.float64).eps
SOFTMAX, HINGE = get("softmax_regression"), get("hinge_svm")


def with_hyper(model: Model, **hyper) -> Model:
    """``model`` with keyword hyperparameters fixed, for code that calls ``loss(params, X, y)``."""
    mod = model.module
    fixed = SimpleNamespace(**{k: getattr(mod, k) for k in dir(mod) if not k.startswith("__")})
    for f in ("loss", "grad", "hessian"):
        setattr(fixed, f, functools.partial(getattr(mod, f), **hyper))
    fixed.__file__, fixed.__name__ = mod.__file__, mod.__name__
    return Model(model.name, fixed)


def jax_grad(model: Model, params, X, y, **hyper):
    g = jax.grad(lambda q: model.module.loss(q, jnp.asarray(X), jnp.asarray(y), **hyper))(params)
    return {k: np.asarray(v) for k, v in g.items()}


@functools.cache
def witness(name: str):
    """``jax.grad`` and ``jax.hessian`` (over the parameters flattened in ``init``'s key order,
    matrices row-major) of a model's loss at a given ``lam``, jitted: one compilation per shape."""
    model = get(name)
    keys = list(model.init(1))  # jit hands dicts back with sorted keys: keep init's order here

    def both(params, X, y, lam):
        f = lambda q: model.module.loss(q, X, y, lam=lam)  # noqa: E731
        H = jax.hessian(lambda v: f(unflatten(v, params, keys)))(flatten(params, keys))
        return jax.grad(f)(params), H

    jitted = jax.jit(both, compiler_options=COMPILE_OPTIONS)
    return lambda params, X, y, lam: jax.tree_util.tree_map(np.asarray, jitted(params, X, y, lam))


# -- softmax regression -----------------------------------------------------------------------


@st.composite
def softmax_problems(
    draw,
    min_n: int = 1,
    max_n: int = 30,
    min_d: int = 1,
    max_d: int = 5,
    bound: float | None = None,
):
    """``(params, X, y, k)`` with k from SHAPES; with ``bound``, params scaled so |z| ≤ bound."""
    n, d = draw(st.integers(min_n, max_n), label="n"), draw(st.integers(min_d, max_d), label="d")
    lo, hi = SOFTMAX.shapes["n_classes"]
    k = draw(st.integers(lo, hi), label="k")
    X = draw(hnp.arrays(np.float64, (n, d), elements=finite_floats(10.0)), label="X")
    W = draw(hnp.arrays(np.float64, (d, k), elements=finite_floats(3.0)), label="W")
    b = draw(hnp.arrays(np.float64, (k,), elements=finite_floats(3.0)), label="b")
    y = draw(hnp.arrays(np.float64, (n,), elements=st.integers(0, k - 1).map(float)), label="y")
    if bound is not None:
        top = float(np.max(np.abs(X @ W + b)))
        if top > bound:
            W, b = W * (bound / top), b * (bound / top)
    return {"W": W, "b": b}, X, y, k


@given(problem=softmax_problems(bound=15.0), lam=st.floats(*SOFTMAX.hyperparameters["lam"]))
def test_softmax_loss_matches_sklearn_log_loss(problem, lam):
    """The loss is ``sklearn.metrics.log_loss`` of scipy's softmax, plus (λ/2)‖W‖².

    At |z| ≤ 15 every probability is at least e^{−30}/5 > eps, so log_loss's clip to
    [eps, 1 − eps] never acts. Tolerance: logsumexp and the exps round to a few ulps of
    the score range 30, the mean of n terms to γ_n."""
    params, X, y, k = problem
    ref = log_loss(y, scipy_softmax(X @ params["W"] + params["b"], axis=1), labels=list(range(k)))
    ref += 0.5 * lam * float(np.sum(params["W"] ** 2))
    got = float(SOFTMAX.module.loss(params, X, y, lam=lam))
    tol = 8 * (len(y) + X.shape[1] + k + 30) * EPS * (30.0 + abs(ref))
    assert abs(got - ref) <= tol, (got, ref, tol)


@given(
    problem=softmax_problems(min_n=6, max_n=6, min_d=2, max_d=2),
    lam=st.floats(*SOFTMAX.hyperparameters["lam"]),
)
def test_softmax_grad_and_hessian_match_jax_for_every_k_and_lam(problem, lam):
    """grad equals ``jax.grad`` and hessian equals ``jax.hessian`` over (W row-major, then b), for k
    from 2 to 5 and λ across its range. One shape per k keeps JAX to four compilations; the
    generic test in tests/test_models.py varies n and d at the default λ."""
    params, X, y, k = problem
    n, d = X.shape
    auto, A = witness("softmax_regression")(params, X, y, lam)
    hand = SOFTMAX.module.grad(params, X, y, lam=lam)
    zmax = float(np.max(np.abs(X @ params["W"] + params["b"]))) + 1.0
    xmax = float(np.max(np.abs(X))) + 1.0
    for key in params:
        assert hand[key].shape == params[key].shape
        atol = 16 * (n + d + k) * EPS * (xmax * zmax + lam * np.max(np.abs(params["W"])))
        np.testing.assert_allclose(hand[key], auto[key], rtol=0, atol=atol)
    H = SOFTMAX.module.hessian(params, X, y, lam=lam)
    assert H.shape == ((d + 1) * k, (d + 1) * k)
    np.testing.assert_allclose(H, A, rtol=0, atol=16 * (n + d + k) * EPS * (xmax**2 * zmax + lam))


@given(problem=softmax_problems(), shift=hnp.arrays(np.float64, (9,), elements=finite_floats(5.0)))
def test_softmax_is_invariant_to_shifting_every_class(problem, shift):
    """Adding c to every column of W and t to every entry of b changes no probability, no loss
    and (at λ = 0) no gradient (eq. 14); the Hessian vanishes along that shift (eq. 15), and
    with λ > 0 still along the shift of b alone."""
    params, X, y, k = problem
    n, d = X.shape
    c, t = shift[:d], shift[8]
    moved = {"W": params["W"] + c[:, None], "b": params["b"] + t}
    m = SOFTMAX.module
    Z = np.abs(X) @ np.abs(params["W"]) + np.abs(params["b"])
    tol = 64 * (d + 2) * EPS * (float(np.max(Z)) + (np.abs(X) @ np.abs(c)).max() + abs(t) + 1)
    np.testing.assert_allclose(m.predict(moved, X), m.predict(params, X), rtol=0, atol=tol)
    assert abs(m.loss(moved, X, y) - m.loss(params, X, y)) <= tol
    H = m.hessian(params, X, y)
    v = np.kron(np.append(c, t), np.ones(k))  # the shift, flattened like W̃ = [W; bᵀ]
    h_tol = 16 * (n + d + k) * EPS * (np.max(np.abs(X)) + 1) ** 2  # rounding of terms x̃ x̃ᵀ p, p ≤ 1
    assert np.max(np.abs(H @ v)) <= h_tol * np.sum(np.abs(v))
    H_lam = m.hessian(params, X, y, lam=0.5)
    assert np.max(np.abs(H_lam @ np.r_[np.zeros(d * k), np.ones(k)])) <= h_tol * k
    assert np.linalg.eigvalsh(H).min() >= -h_tol * (d + 1) * k  # positive semidefinite


@given(problem=softmax_problems())
def test_softmax_predict_is_probabilities_and_classify_is_their_argmax(problem):
    """``predict`` gives P, shape (n, k), rows summing to 1; ``classify`` its argmax, shape (n,)."""
    params, X, y, k = problem
    P = SOFTMAX.predict(params, X)
    assert P.shape == (X.shape[0], k)
    assert np.all((P >= 0) & (P <= 1)) and np.allclose(P.sum(axis=1), 1.0, rtol=0, atol=k * EPS * 4)
    labels = SOFTMAX.module.classify(params, X)
    assert labels.shape == (X.shape[0],) and np.issubdtype(labels.dtype, np.integer)
    assert np.all(P[np.arange(len(labels)), labels] == P.max(axis=1))


def _strict(f, *args, **kw):
    with (
        warnings.catch_warnings(),
        np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"),
    ):
        warnings.simplefilter("error")
        return f(*args, **kw)


@pytest.mark.parametrize("label, loss", [(0.0, 0.0), (1.0, 2e4), (2.0, 1e4)])
def test_softmax_is_exact_and_silent_at_scores_of_1e4(label, loss):
    """Scores z = (1e4, −1e4, 0): logsumexp is exactly 1e4, so the loss is 1e4 − z_y; the
    gradient is x (p − e_y) with p = (1, 0, 0); no overflow, no NaN, no warning."""
    params = {"W": np.array([[1e4, -1e4, 0.0]]), "b": np.zeros(3)}
    X, y = np.array([[1.0]]), np.array([label])
    assert _strict(SOFTMAX.loss, params, X, y) == loss
    g = _strict(SOFTMAX.grad, params, X, y)
    expected = np.array([1.0, 0.0, 0.0]) - (np.arange(3) == label)
    np.testing.assert_array_equal(g["W"][0], expected)
    np.testing.assert_array_equal(g["b"], expected)
    assert np.all(np.isfinite(_strict(SOFTMAX.module.hessian, params, X, y)))
    np.testing.assert_array_equal(_strict(SOFTMAX.predict, params, X), [[1.0, 0.0, 0.0]])


def separable(X: np.ndarray, y: np.ndarray, k: int) -> bool:
    """Whether some W̃ puts every sample's own class score ahead of every other by 1 (then the
    unpenalized multinomial MLE does not exist): a linear program in (d + 1) k unknowns."""
    n, d = X.shape
    Xt = np.hstack([X, np.ones((n, 1))])
    rows = []
    for i in range(n):
        for c in range(k):
            if c != int(y[i]):
                r = np.zeros((d + 1, k))
                r[:, c], r[:, int(y[i])] = Xt[i], -Xt[i]  # z_c − z_{y_i} ≤ −1
                rows.append(r.ravel())
    res = linprog(np.zeros((d + 1) * k), A_ub=np.array(rows), b_ub=-np.ones(len(rows)), bounds=(None, None))
    return res.status == 0


def _classes_data(seed: int, n: int, d: int, k: int):
    """Features from a standard normal, labels drawn from a softmax of random linear scores."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    P = scipy_softmax(X @ rng.standard_normal((d, k)) + rng.standard_normal(k), axis=1)
    y = np.array([rng.choice(k, p=row) for row in P], dtype=float)
    return X, y


DATASETS = {
    "synthetic-k3": lambda: synthetic(SOFTMAX, n=300, d=3, seed=1)[:2],
    "k4-d2": lambda: _classes_data(7, 250, 2, 4),
    "k5-d4": lambda: _classes_data(3, 400, 4, 5),
}


@pytest.mark.parametrize("C", [np.inf, 1.0, 0.01])
@pytest.mark.parametrize("data", list(DATASETS))
def test_fitted_softmax_matches_sklearn_multinomial_logistic_regression(data, C):
    """Newton's method (lab.optim.fit) on the mean loss with λ = 1/(n C) (eq. 17) reaches
    sklearn's multinomial LogisticRegression(C) to a relative 1e-6 on the coefficients.

    The parameters are identifiable only up to a shift of every class (eq. 14), so both are
    centered across classes first: W is centered by the penalty (at C = inf, by sklearn's
    start at 0), b by centering both. The predicted probabilities, which are identifiable,
    agree without centering."""
    X, y = DATASETS[data]()
    n, k = len(y), int(y.max()) + 1
    assert set(np.unique(y)) == set(range(k))
    if C == np.inf:
        assert not separable(X, y, k)  # else the unpenalized optimum does not exist
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a ConvergenceWarning would void the reference
        clf = LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(X, y)
    lam = 0.0 if C == np.inf else 1.0 / (n * C)
    model = with_hyper(SOFTMAX, lam=lam)
    params, hist = fit(
        model,
        X,
        y,
        optimizer="newton",
        steps=100,
        tol=1e-11,
        params=SOFTMAX.init(X.shape[1], n_classes=k),
    )
    assert hist.stop_reason == "converged", hist.stop_reason

    def centered(M):
        return M - M.mean(axis=-1, keepdims=True)

    ref_W, ref_b = centered(clf.coef_.T), centered(clf.intercept_)
    scale = max(np.max(np.abs(ref_W)), np.max(np.abs(ref_b)))
    np.testing.assert_allclose(centered(params["W"]), ref_W, rtol=1e-6, atol=1e-6 * scale)
    np.testing.assert_allclose(centered(params["b"]), ref_b, rtol=1e-6, atol=1e-6 * scale)
    np.testing.assert_allclose(SOFTMAX.predict(params, X), clf.predict_proba(X), rtol=1e-6, atol=1e-9)


# -- the hinge SVM ---------------------------------------------------------------------------


@given(data=st.data(), lam=st.floats(*HINGE.hyperparameters["lam"]))
def test_hinge_loss_matches_sklearn_hinge_loss_plus_penalty(data, lam):
    """The loss is ``sklearn.metrics.hinge_loss(y, X w + b)`` (the mean of max(0, 1 − y z)) plus
    (λ/2)‖w‖². hinge_loss encodes labels with a LabelBinarizer, which calls a lone class −1
    even when it is +1, so the comparison needs both labels in y."""
    p = data.draw(problems(HINGE), label="problem")
    assume(set(np.unique(p.y)) == {-1.0, 1.0})
    z = p.X @ p.params["w"] + p.params["b"]
    ref = hinge_loss(p.y, z) + 0.5 * lam * float(p.params["w"] @ p.params["w"])
    got = float(HINGE.module.loss(p.params, p.X, p.y, lam=lam))
    mag = np.mean(1 + np.abs(p.X) @ np.abs(p.params["w"]) + np.abs(p.params["b"])) + lam * float(
        p.params["w"] @ p.params["w"]
    )
    assert abs(got - ref) <= 4 * (p.n + p.d + 4) * EPS * mag, (got, ref)


@given(data=st.data(), lam=st.floats(*HINGE.hyperparameters["lam"]))
def test_hinge_subgradient_equals_jax_grad_away_from_kinks(data, lam):
    """Where every sample is more than 1e-6 from its kink, the subgradient is the gradient, and it
    equals ``jax.grad``; ``hessian`` equals ``jax.hessian`` (λ on the w block, 0 elsewhere). One
    shape keeps JAX to one compilation; tests/test_models.py varies n and d at the default λ."""
    n, d = 9, 3
    X = data.draw(hnp.arrays(np.float64, (n, d), elements=finite_floats(10.0)), label="X")
    params = {"w": data.draw(hnp.arrays(np.float64, (d,), elements=finite_floats(3.0)), label="w"),
              "b": np.asarray(data.draw(finite_floats(3.0), label="b"))}  # fmt: skip
    y = data.draw(hnp.arrays(np.float64, (n,), elements=st.sampled_from([-1.0, 1.0])), label="y")
    assume(np.min(HINGE.module.kink_distance(params, X, y, lam=lam)) > 1e-6)
    auto, A = witness("hinge_svm")(params, X, y, lam)
    hand = HINGE.module.grad(params, X, y, lam=lam)
    scale = np.max(np.abs(X)) + lam * np.max(np.abs(params["w"])) + 1
    for k in params:
        np.testing.assert_allclose(hand[k], auto[k], rtol=0, atol=4 * (n + d + 2) * EPS * scale)
    np.testing.assert_array_equal(HINGE.module.hessian(params, X, y, lam=lam), A)


@st.composite
def on_a_kink(draw):
    """Dyadic X, w and labels with b chosen so that sample j sits exactly on its kink, y_j z_j = 1.
    Every number is a multiple of 1/16 below 64, so z is exact in any summation order, and every
    other sample is either exactly on its kink too or at least 1/16 away from it."""
    n, d = draw(st.integers(1, 12), label="n"), draw(st.integers(1, 4), label="d")
    quarter = st.integers(-8, 8).map(lambda i: i / 4)
    X = draw(hnp.arrays(np.float64, (n, d), elements=quarter), label="X")
    w = draw(hnp.arrays(np.float64, (d,), elements=quarter), label="w")
    y = draw(hnp.arrays(np.float64, (n,), elements=st.sampled_from([-1.0, 1.0])), label="y")
    j = draw(st.integers(0, n - 1), label="j")
    b = y[j] - X[j] @ w  # z_j = y_j, so 1 − y_j z_j = 0 exactly
    return {"w": w, "b": np.asarray(b)}, X, y, j


@given(problem=on_a_kink(), lam=st.sampled_from([1e-3, 0.25, 10.0]),
       v=hnp.arrays(np.float64, (5,), elements=st.floats(-1, 1)))  # fmt: skip
def test_hinge_subgradient_at_a_kink_lies_between_the_one_sided_derivatives(problem, lam, v):
    """At a kink, −L'(θ; −v) ≤ ⟨g, v⟩ ≤ L'(θ; v) (eq. 9) along a random v and along ±x̃_j, with
    one-sided differences of step 2⁻²⁰. The lab picks the a_i = 0 end of [−1, 0] (eq. 7); JAX,
    at max(0, s) with s = 0, the midpoint −½: the two differ by exactly ½ y_i x̃_i / n per
    sample on its kink."""
    params, X, y, j = problem
    n, d = X.shape
    g = HINGE.module.grad(params, X, y, lam=lam)
    theta, gv = np.append(params["w"], params["b"]), np.append(g["w"], g["b"])
    Xt = np.hstack([X, np.ones((n, 1))])
    slack = 1 - y * (X @ params["w"] + params["b"])
    kink = slack == 0
    assert kink[j] and HINGE.module.kink_distance(params, X, y)[j] == 0.0

    def L(th):
        return float(HINGE.module.loss({"w": th[:-1], "b": np.asarray(th[-1])}, X, y, lam=lam))

    t = 2.0**-20  # small enough that no sample 1/16 from its kink reaches it
    for u in (v[: d + 1], Xt[j], -Xt[j]):
        up, down = (L(theta + t * u) - L(theta)) / t, (L(theta) - L(theta - t * u)) / t
        slack_tol = lam * t * float(u[:-1] @ u[:-1]) + 64 * EPS * (1 + abs(L(theta))) / t  # curvature, rounding
        assert down - slack_tol <= gv @ u <= up + slack_tol, (down, gv @ u, up)
    auto = jax_grad(HINGE, params, X, y, lam=lam)
    half = -(Xt[kink].T @ y[kink]) / (2 * n)  # JAX's −½ minus the lab's 0, summed over the kinks
    np.testing.assert_allclose(np.append(auto["w"], auto["b"]) - gv, half, rtol=0, atol=64 * n * EPS * (1 + lam * 2))


@given(data=st.data())
def test_hinge_predict_is_the_sign_with_ties_to_plus_one_and_kink_distance_is_z_minus_y(data):
    """``predict`` is +1 where z ≥ 0 and −1 where z < 0 (eq. 5); ``kink_distance`` is |1 − y z| =
    |z − y| (eq. 13)."""
    p = data.draw(problems(HINGE), label="problem")
    z = HINGE.module.decision_function(p.params, p.X)
    pred = HINGE.predict(p.params, p.X)
    np.testing.assert_array_equal(pred, np.where(z >= 0, 1.0, -1.0))
    np.testing.assert_array_equal(HINGE.predict({"w": np.zeros(p.d), "b": np.zeros(())}, p.X), 1.0)
    dist = HINGE.module.kink_distance(p.params, p.X, p.y)
    np.testing.assert_allclose(dist, np.abs(z - p.y), rtol=0, atol=4 * EPS * (1 + np.max(np.abs(z))))


@pytest.mark.parametrize("seed, n, d, lam", [(1, 200, 5, 0.1), (2, 60, 2, 1.0), (3, 150, 4, 0.003), (4, 80, 3, 0.03)])
def test_svc_solution_is_a_minimizer_of_the_lab_objective(seed, n, d, lam):
    """sklearn's SVC(kernel="linear", C = 1/(n λ)) solves the same problem (eq. 15). At its
    solution, with its dual variables α = |dual_coef_| / C:

    - α = a (the lab's active set, eq. 7) on every sample more than 1e-6 from its kink;
    - 0 ∈ ∂L (eq. 14): the lab's subgradient, with the kink samples' a_i replaced by α_i, is 0;
    - no perturbation of size 1e-4 lowers the lab's loss.
    """
    X, y, _ = synthetic(HINGE, n=n, d=d, seed=seed)
    C = 1.0 / (n * lam)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = SVC(kernel="linear", C=C, tol=1e-10).fit(X, y)
    params = {"w": clf.coef_[0], "b": np.asarray(clf.intercept_[0])}
    alpha = np.zeros(n)
    alpha[clf.support_] = np.abs(clf.dual_coef_[0]) / C
    assert np.all((alpha >= 0) & (alpha <= 1 + 1e-12))
    slack = 1 - y * HINGE.module.decision_function(params, X)
    a = (slack > 0).astype(float)
    at_kink = np.abs(slack) <= 1e-6
    np.testing.assert_allclose(alpha[~at_kink], a[~at_kink], rtol=0, atol=1e-8)
    g = HINGE.module.grad(params, X, y, lam=lam)
    Xt = np.hstack([X, np.ones((n, 1))])
    certificate = np.append(g["w"], g["b"]) + Xt.T @ ((a - alpha) * y) / n
    np.testing.assert_allclose(certificate, 0.0, rtol=0, atol=1e-9)
    L0 = HINGE.module.loss(params, X, y, lam=lam)
    rng = np.random.default_rng(seed)
    for v in rng.standard_normal((100, d + 1)):
        moved = {"w": params["w"] + 1e-4 * v[:-1], "b": np.asarray(params["b"] + 1e-4 * v[-1])}
        assert HINGE.module.loss(moved, X, y, lam=lam) >= L0 - 1e-12

"""The two-layer network of lab/models/mlp.py (derivation: derivations/mlp.md).

Hand backprop against ``jax.grad`` at every hidden width, the per-sample chain rule
against the vectorized backprop, each layer's backward against JAX's vector-Jacobian
product, the forward pass against scikit-learn's ``MLPRegressor``, a fit of a curve
that no line fits, the saddle at zero, and a random but reproducible ``init``.
The properties every model shares (purity, finite predictions, ...) are in
test_models.py, which picks this model up from the registry.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import mean_squared_error
from sklearn.neural_network import MLPRegressor
from strategies import SCALES, Problem, arrays, labels

from lab.model import get
from lab.optim import fit
from lab.verify.runtime.jax_config import jax, jnp
from lab.verify.runtime.programs import COMPILE_OPTIONS
from lab.verify.search.cases import MAX_D, MAX_N, features

MODEL = get("mlp")
mlp = MODEL.module
KEYS = ("W1", "b1", "w2", "b2")
H_MIN, H_MAX = MODEL.shapes["hidden"]
U = 2.0**-53  # unit roundoff of float64
TINY = np.finfo(np.float64).tiny  # XLA on the CPU may flush results below it to zero
#: Error of tanh in ulps. Measured on a dense grid of [-25, 25]: NumPy's is within 1.2 ulps,
#: XLA's (jnp.tanh under jit) up to 8.1 ulps near |z| ≈ 16, where tanh is within 1e-13 of ±1.
TANH_ULPS = 10


def gamma(k: int) -> float:
    """γ_k = k u / (1 − k u): a sum of k + 1 terms, in any order, errs by at most γ_k Σ |terms|."""
    return k * U / (1 - k * U)


def error_bound(params, X, y) -> dict[str, np.ndarray]:
    """Per entry, a first-order bound on the rounding error of the gradient of ``mlp.loss``.

    The forward and the backward pass of derivations/mlp.md (eqs. 1–5, 11–17) are re-run on
    magnitudes, by the standard model fl(a ∘ b) = (a ∘ b)(1 + δ), |δ| ≤ u (Higham, *Accuracy and
    Stability of Numerical Algorithms*, ch. 3). A dot product or sum of m terms errs by γ_m times
    the sum of their absolute values, in any summation order. A product or difference errs by u
    times its result. tanh errs by TANH_ULPS ulps, plus tanh' = 1 − a² ≤ 1 times the error of its
    argument. The error of each input is carried through a step by the absolute value of its partial
    derivative. The bound holds for NumPy's backprop and for ``jax.grad`` alike: they run the same
    operations in other orders, and (eq. 24) is the factored form JAX's tanh rule uses.
    """
    W1, b1, w2, b2 = (np.asarray(params[k], dtype=np.float64) for k in KEYS)
    (n, d), h = X.shape, W1.shape[1]
    A = np.tanh(X @ W1 + b1)
    S = (1 - A) * (1 + A)  # tanh' (eq. 8)
    dy = 2.0 / n * (A @ w2 + b2 - y)  # (eq. 11)
    dA = np.outer(dy, w2)  # (eq. 14)
    dZ = dA * S  # (eq. 15)
    aX, aA, aw2 = np.abs(X), np.abs(A), np.abs(w2)
    eZ = gamma(d + 1) * (aX @ np.abs(W1) + np.abs(b1))  # (eq. 1): d products and a bias
    eA = S * eZ + TANH_ULPS * U * aA + TINY  # (eq. 2)
    eyhat = gamma(h + 1) * (aA @ aw2 + np.abs(b2)) + eA @ aw2  # (eq. 3)
    er = eyhat + U * (np.abs(A @ w2 + b2) + np.abs(y))  # (eq. 4)
    edy = 2.0 / n * er + 3 * U * np.abs(dy) + TINY  # (eq. 11): 2/n and r rounded, JAX's r + r
    edA = np.outer(edy, aw2) + U * np.abs(dA) + TINY  # (eq. 14)
    eS = 2 * aA * eA + 3 * U * S + TINY  # (1 − a)(1 + a) (eq. 24): ∂/∂a = −2a, three roundings
    edZ = edA * S + np.abs(dA) * eS + 3 * U * np.abs(dZ) + TINY  # (eq. 15)
    return {
        "W1": gamma(n) * (aX.T @ np.abs(dZ)) + aX.T @ edZ + n * TINY,  # (eq. 16)
        "b1": gamma(n) * np.abs(dZ).sum(axis=0) + edZ.sum(axis=0) + n * TINY,  # (eq. 17)
        "w2": gamma(n) * (aA.T @ np.abs(dy)) + eA.T @ np.abs(dy) + aA.T @ edy + n * TINY,  # (12)
        "b2": gamma(n) * np.abs(dy).sum() + edy.sum() + n * TINY,  # (eq. 13)
    }


@st.composite
def networks(draw, scales=SCALES) -> Problem:
    """A point: n in 1..64, d in 1..8, h in SHAPES["hidden"], values at the profile's scales."""
    n = draw(st.integers(1, MAX_N), label="n")
    d = draw(st.integers(1, MAX_D), label="d")
    h = draw(st.integers(H_MIN, H_MAX), label="h")
    X = draw(features(n, d, scales), label="X")
    scale = draw(st.sampled_from(scales.params), label="parameter scale")
    shapes = {k: v.shape for k, v in MODEL.init(d, hidden=h).items()}
    params = {k: draw(arrays(s, scale), label=f"params[{k!r}]") for k, s in shapes.items()}
    y = draw(labels("real", X.shape[0], scales), label="y")
    return Problem("mlp", params, X, y)


jax_grad = jax.jit(jax.grad(mlp.loss), compiler_options=COMPILE_OPTIONS)


def assert_within(got, ref, bound, what):
    for k in KEYS:
        err, tol = np.abs(np.asarray(got[k]) - np.asarray(ref[k])), 2 * bound[k]
        assert np.all(err <= tol), f"{what} {k}: {got[k]} vs {ref[k]}, |difference| {err} > {tol}"


# -- the gradient ---------------------------------------------------------------------------


@given(p=networks())
def test_backprop_matches_jax_grad_at_every_width(p):
    """The hand backprop equals ``jax.grad`` of the loss within twice :func:`error_bound`:
    each side is within the bound of the exact gradient. h varies, so the wrapper must accept it."""
    hand = MODEL.grad(p.params, p.X, p.y)
    auto = jax_grad(p.params, jnp.asarray(p.X), jnp.asarray(p.y))
    assert {k: hand[k].shape for k in KEYS} == {k: p.params[k].shape for k in KEYS}
    assert_within(hand, auto, error_bound(p.params, p.X, p.y), "hand vs jax.grad")


@given(p=networks())
def test_per_sample_chain_rule_summed_is_the_vectorized_backprop(p):
    """(1/n) Σ_i ∇ℓ_i with ∇ℓ_i from the chain rule of one sample (eq. 10), in a loop, equals
    the vectorized backprop (eqs. 11–17) within twice :func:`error_bound`."""
    W1, b1, w2, b2 = (p.params[k] for k in KEYS)
    total = {k: np.zeros(np.shape(p.params[k])) for k in KEYS}
    for x_i, y_i in zip(p.X, p.y, strict=True):
        a_i = np.tanh(x_i @ W1 + b1)  # (eqs. 1, 2)
        r_i = a_i @ w2 + b2 - y_i  # (eqs. 3, 4)
        delta = 2 * r_i * w2 * (1 - a_i * a_i)  # ∂ℓ_i/∂z_i = 2 r_i w2 ⊙ (1 − a_i²) (eq. 10)
        total["W1"] += np.outer(x_i, delta)
        total["b1"] += delta
        total["w2"] += 2 * r_i * a_i
        total["b2"] += 2 * r_i
    mean = {k: v / p.n for k, v in total.items()}
    bound = error_bound(p.params, p.X, p.y)
    assert_within(mlp.grad(p.params, p.X, p.y), mean, bound, "backprop vs Σ_i")


@pytest.mark.parametrize("n, d, h", [(1, 1, 1), (7, 3, 5), (40, 8, 6)])
def test_each_layer_backward_is_the_vjp_of_its_forward(n, d, h):
    """Each backward, given an upstream gradient, returns what ``jax.vjp`` of its forward does."""
    rng = np.random.default_rng([n, d, h])
    X, W1, b1 = rng.normal(size=(n, d)), rng.normal(size=(d, h)), rng.normal(size=h)
    w2, b2, y = rng.normal(size=h), np.asarray(rng.normal()), rng.normal(size=n)
    A1 = np.tanh(X @ W1 + b1)
    dZ1, dA1, dyhat = rng.normal(size=(n, h)), rng.normal(size=(n, h)), rng.normal(size=n)
    close = lambda a, b: np.testing.assert_allclose(a, np.asarray(b), rtol=1e-12, atol=1e-13)  # noqa: E731

    _, vjp = jax.vjp(lambda W, b: mlp.dense1(X, W, b), W1, b1)
    for mine, ref in zip(mlp.dense1_backward(dZ1, X), vjp(dZ1), strict=True):
        close(mine, ref)
    Z1 = X @ W1 + b1
    _, vjp = jax.vjp(lambda Z: mlp.activation(Z, jnp), jnp.asarray(Z1))
    close(mlp.activation_backward(dA1, A1), vjp(dA1)[0])
    _, vjp = jax.vjp(lambda A, w, b: mlp.dense2(A, w, b), A1, w2, b2)
    for mine, ref in zip(mlp.dense2_backward(dyhat, A1, w2), vjp(dyhat), strict=True):
        close(mine, ref)
    yhat = A1 @ w2 + b2
    _, vjp = jax.vjp(lambda t: mlp.mse(t, jnp.asarray(y), jnp), jnp.asarray(yhat))
    close(mlp.mse_backward(yhat, y), vjp(1.0)[0])


def test_tolerance_is_tight_on_ordinary_data():
    """The bound is no blanket: on ordinary data it is below 1e-12 of the gradient's largest entry,
    so a relative error of 1e-12 in the hand gradient would fail the tests above."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 5)), rng.normal(size=50)
    params = {k: rng.normal(size=np.shape(v)) for k, v in mlp.init(5, hidden=6).items()}
    g, bound = mlp.grad(params, X, y), error_bound(params, X, y)
    top = max(float(np.max(np.abs(g[k]))) for k in KEYS)
    assert max(float(np.max(2 * bound[k])) for k in KEYS) < 1e-12 * top


# -- the loss against an independent reference ---------------------------------------------


@given(p=networks())
def test_forward_pass_and_loss_match_sklearn_mlp_regressor(p):
    """``predict`` is the forward pass of sklearn's ``MLPRegressor`` (tanh, one hidden layer) given
    the same weights, and ``loss`` is ``mean_squared_error`` of its predictions. sklearn's training
    objective is half the squared error plus an L2 term; only its forward pass is used here.

    Tolerance for a prediction: 2 (d + h + 2 + TANH_ULPS) u times its magnitude
    |a|·|w2| + |b2| + (|X||W1| + |b1|)·|w2|, the last term carrying the error of z through
    tanh' ≤ 1. For the loss: what those differences do to the mean of squares, plus γ_{n+3} on
    both sides."""
    W1, b1, w2, b2 = (p.params[k] for k in KEYS)
    reg = MLPRegressor(hidden_layer_sizes=(W1.shape[1],), activation="tanh", max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(p.X, p.y)  # sets up the layers; the weights are replaced below
    reg.coefs_ = [W1.copy(), w2[:, None].copy()]
    reg.intercepts_ = [b1.copy(), np.atleast_1d(b2).copy()]
    ref = reg.predict(p.X)

    got = MODEL.predict(p.params, p.X)
    A = np.abs(np.tanh(p.X @ W1 + b1))
    mag = A @ np.abs(w2) + np.abs(b2) + (np.abs(p.X) @ np.abs(W1) + np.abs(b1)) @ np.abs(w2)
    tp = 2 * (p.d + W1.shape[1] + 2 + TANH_ULPS) * U * mag + TINY
    assert got.shape == ref.shape == (p.n,)
    assert np.all(np.abs(got - ref) <= tp), (got, ref, tp)

    r = np.abs(got - p.y)
    tol = np.mean(2 * r * tp + tp * tp) + 2 * gamma(p.n + 3) * np.mean((r + tp) ** 2) + TINY
    assert abs(MODEL.loss(p.params, p.X, p.y) - mean_squared_error(p.y, ref)) <= tol


# -- training -------------------------------------------------------------------------------

SINE_X = np.linspace(-3.0, 3.0, 64)[:, None]
SINE_Y = np.sin(SINE_X[:, 0])


def best_line_loss(X, y) -> float:
    """The mean squared error of the least-squares fit of [X, 1] θ ≈ y."""
    Xt = np.hstack([X, np.ones((len(X), 1))])
    return float(np.mean((Xt @ np.linalg.lstsq(Xt, y, rcond=None)[0] - y) ** 2))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_descent_fits_a_sine_that_no_line_fits(seed):
    """From ``init``, 10⁴ steps of gradient descent at η = 0.05 on y = sin(x), x in [−3, 3], lower
    the loss at least 20-fold and end at least 10 times below the best straight line (lstsq).
    η = 0.05 is a step small enough for the whole run here (derivations/mlp.md, eq. 21)."""
    params, hist = fit(MODEL, SINE_X, SINE_Y, lr=0.05, steps=10_000, params=mlp.init(1, seed=seed))
    assert hist.stop_reason in ("converged", "max steps")
    assert hist.loss[-1] < hist.loss[0] / 20, (hist.loss[0], hist.loss[-1])
    assert hist.loss[-1] < best_line_loss(SINE_X, SINE_Y) / 10, hist.loss[-1]
    assert MODEL.loss(params, SINE_X, SINE_Y) == pytest.approx(hist.loss[-1], rel=0.05)


def test_descent_from_zeros_stalls_at_the_saddle():
    """From all zeros only b2 moves (eq. 19a): W1, b1 and w2 stay exactly 0, b2 goes to the mean of
    y and the loss to its variance, above even the best straight line."""
    zeros = {k: np.zeros_like(v) for k, v in mlp.init(1).items()}
    params, hist = fit(MODEL, SINE_X, SINE_Y, lr=0.05, steps=2000, params=zeros)
    assert all(np.all(params[k] == 0) for k in ("W1", "b1", "w2"))
    assert float(params["b2"]) == pytest.approx(np.mean(SINE_Y), abs=1e-8)
    assert hist.loss[-1] == pytest.approx(np.var(SINE_Y), rel=1e-8)
    assert hist.loss[-1] > best_line_loss(SINE_X, SINE_Y)


# -- init -----------------------------------------------------------------------------------


@given(d=st.integers(1, MAX_D), h=st.integers(H_MIN, H_MAX), seed=st.integers(0, 2**32 - 1))
def test_init_is_random_reproducible_and_not_zero(d, h, seed):
    """``init(d, hidden=h, seed=s)``: the shapes of the contract, float64, the same for the same
    seed and different for another, weights all nonzero with no two hidden units alike, biases 0."""
    p = mlp.init(d, hidden=h, seed=seed)
    assert {k: p[k].shape for k in KEYS} == {"W1": (d, h), "b1": (h,), "w2": (h,), "b2": ()}
    assert all(p[k].dtype == np.float64 for k in KEYS)
    again, other = mlp.init(d, hidden=h, seed=seed), mlp.init(d, hidden=h, seed=seed + 1)
    assert all(np.array_equal(p[k], again[k]) for k in KEYS)
    assert not np.array_equal(p["W1"], other["W1"]) and not np.array_equal(p["w2"], other["w2"])
    assert np.all(p["W1"] != 0) and np.all(p["w2"] != 0)
    assert len({tuple(col) for col in p["W1"].T}) == h  # distinct units: the symmetry is broken
    assert np.all(p["b1"] == 0) and p["b2"] == 0


def test_init_defaults_and_scale():
    """The default is hidden=4, seed=0, also through the registry's wrapper; weights have standard
    deviation 1/√fan_in (eq. 20)."""
    explicit = mlp.init(3, hidden=4, seed=0)
    for default in (mlp.init(3), MODEL.init(3)):
        assert all(np.array_equal(default[k], explicit[k]) for k in KEYS)
    assert all(np.array_equal(MODEL.init(3, hidden=2)[k], mlp.init(3, hidden=2)[k]) for k in KEYS)
    p = mlp.init(400, hidden=300, seed=7)  # 120 000 and 300 draws
    assert np.std(p["W1"]) == pytest.approx(1 / np.sqrt(400), rel=0.02)
    assert np.std(p["w2"]) == pytest.approx(1 / np.sqrt(300), rel=0.15)
    assert abs(np.mean(p["W1"])) < 4 / np.sqrt(400 * 120_000)

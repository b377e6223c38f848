"""The optimizers, the learning-rate story and the closed form (lab/optim/), and their agreement
with scikit-learn on its bundled data sets.

Tests that hold for any model keeping the contract are parametrized over ``lab.model.names()``
and the optimizers that apply to it.
"""

from __future__ import annotations

import re
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import user_losses
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog
from sklearn.linear_model import LinearRegression, LogisticRegression
from strategies import synthetic_sets

from lab import optim
from lab.cli import main
from lab.data import Standardizer, load, synthetic
from lab.model import Model, get, names
from lab.model import load as load_model
from lab.optim import DivergedError, History, fit, flatten, lipschitz, safe_lr, stable_lr, unflatten

ROOT = Path(__file__).resolve().parent.parent
MLR_SOURCE = (ROOT / "lab" / "models" / "multivariate_linear_regression.py").read_text()
MODELS = names()
GRADIENT_METHODS = ["gd", "sgd", "momentum", "nesterov"]
LEAST_SQUARES = ["linear_regression", "multivariate_linear_regression"]
WITH_HESSIAN = [n for n in MODELS if hasattr(get(n).module, "hessian")]
EPS = np.finfo(np.float64).eps
DIVERGED = r"^diverged at step \d+: loss grew from .* to .*; for this data a stable learning rate is below "


def _global_bound(name: str) -> bool:
    m = get(name)
    X, y, _ = synthetic(m, n=30, d=2, seed=0)
    return hasattr(m.module, "hessian") and optim.smooth(m) and lipschitz(m, X, y)["global"] is not None


#: Models whose loss has a bound L valid everywhere, so 1/L is a safe step (see lipschitz).
BOUNDED = [n for n in MODELS if _global_bound(n)]


def _applies(name: str, optimizer: str) -> bool:
    m = get(name)
    if optimizer == "newton":
        return hasattr(m.module, "hessian")
    if optimizer == "closed":
        return name in LEAST_SQUARES or callable(getattr(m.module, "closed_form", None))
    return True


PAIRS = [(n, o) for n in MODELS for o in [*GRADIENT_METHODS, "newton", "closed"] if _applies(n, o)]


def _user_model(tmp_path, name: str, source: str):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return load_model(str(path))


def _no_hessian_source() -> str:
    i = MLR_SOURCE.index("def hessian(")
    return MLR_SOURCE[:i]


def _slack(losses) -> float:
    """Rounding allowance between two loss evaluations of similar size."""
    return 1e-12 * max(1.0, float(np.max(np.abs(losses))))


def _check_history(hist: History, steps_max: int) -> None:
    k = hist.steps
    assert 0 <= k <= steps_max
    assert len(hist.loss) == len(hist.grad_norm) == len(hist.time) == k + 1
    assert len(hist.step_size) == k and all(s > 0 for s in hist.step_size)
    assert np.all(np.diff(hist.time) >= 0) and hist.time[0] >= 0
    assert np.all(np.isfinite(hist.loss)) and np.all(np.isfinite(hist.grad_norm))


# -- every optimizer descends ----------------------------------------------------------------


@pytest.mark.parametrize("name, optimizer", PAIRS, ids=[f"{n}-{o}" for n, o in PAIRS])
@settings(max_examples=10)
@given(data=st.data())
def test_every_optimizer_lowers_the_loss(name, optimizer, data):
    """From init on synthetic data, each optimizer that applies to a model ends below the start
    loss with finite parameters and a consistent history. The gradient methods step at the safe
    1/L where the model has a global bound L (for SGD, the per-sample L), else at 1e-3; gradient
    descent at 1/L and Newton (line search) never raise the loss; the closed form reaches a zero
    gradient."""
    m = get(name)
    p = data.draw(synthetic_sets(m, min_n=20, max_n=80, max_d=4), label="data")
    kw = {}
    if optimizer in GRADIENT_METHODS:
        kw["lr"] = safe_lr(m, p.X, p.y, optimizer=optimizer) if name in BOUNDED else 1e-3
    params, hist = fit(m, p.X, p.y, optimizer=optimizer, steps=30, tol=0.0, **kw)
    _check_history(hist, 30)
    assert set(params) == set(p.params) and all(np.all(np.isfinite(v)) for v in params.values())
    assert hist.loss[-1] < hist.loss[0]
    assert hist.loss[-1] == pytest.approx(m.loss(params, p.X, p.y), rel=1e-12, abs=1e-300)
    if optimizer == "newton" or (optimizer == "gd" and name in BOUNDED):
        assert np.all(np.diff(hist.loss) <= _slack(hist.loss)), hist.loss
    if optimizer == "closed":
        assert hist.steps == 1 and hist.stop_reason.startswith("solved")
        assert hist.grad_norm[-1] <= 1e-8 * max(1.0, hist.grad_norm[0])


@pytest.mark.parametrize("name", [n for n in MODELS if get(n).target == "binary" and n in WITH_HESSIAN])
@given(data=st.data())
def test_newton_converges_in_few_steps_on_logistic_regression(name, data):
    """On non-separable data (where the maximum-likelihood point exists) Newton's method reaches a
    gradient norm of 1e-10 in at most 10 steps, and every step it takes is a full one near the end
    (quadratic convergence)."""
    m = get(name)
    p = data.draw(synthetic_sets(m, min_n=50, max_n=200, max_d=4), label="data")
    assume(not _separable(p.X, p.y))
    _, hist = fit(m, p.X, p.y, optimizer="newton", tol=1e-10, steps=50)
    assert hist.stop_reason == "converged" and hist.steps <= 10, hist.message
    assert hist.step_size[-1] == 1.0


@pytest.mark.parametrize("name", LEAST_SQUARES)
def test_newton_solves_a_quadratic_in_one_step(name):
    """On least squares the Newton step is exact: one step to a zero gradient."""
    m = get(name)
    X, y, _ = synthetic(m, n=50, d=3, seed=4)
    _, hist = fit(m, X, y, optimizer="newton", tol=1e-9)
    assert hist.steps == 1 and hist.stop_reason == "converged"


def test_newton_without_a_hessian_is_a_value_error(tmp_path):
    """A model with no ``hessian`` gets a ValueError naming it, from newton and from lipschitz."""
    m = _user_model(tmp_path, "no_hessian", _no_hessian_source())
    X, y, _ = synthetic(m, n=20, d=2, seed=0)
    with pytest.raises(ValueError, match="'no_hessian' has no hessian"):
        fit(m, X, y, optimizer="newton")
    with pytest.raises(ValueError, match="'no_hessian' has no hessian"):
        lipschitz(m, X, y)
    with pytest.raises(ValueError, match="has no hessian"):
        fit(m, X, y, optimizer="momentum")  # momentum's lr="auto" needs L
    _, hist = fit(m, X, y)  # gradient descent's lr="auto" is a line search, which needs no L
    assert hist.stop_reason == "converged" and "line search" in hist.message


SAMPLED = [{"hessian_rows": 50}, {"warm_start": 100}, {"warm_start": 100, "hessian_rows": 50}]


@pytest.mark.parametrize("kw", SAMPLED, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
@pytest.mark.parametrize("name", [n for n in WITH_HESSIAN if optim.smooth(get(n))])
def test_newton_on_sampled_rows_reaches_the_exact_optimum(name, kw):
    """A Hessian from a random subset of rows, or a start from Newton on a subset, changes the path
    but not the answer: the same loss to rounding and the same predictions as exact Newton, with the
    gradient norm on all rows below tol, and a note that says what was done."""
    m = get(name)
    X, y, _ = synthetic(m, n=1000, d=4, seed=3)
    exact, h_exact = fit(m, X, y, optimizer="newton", tol=1e-10, steps=100)
    params, hist = fit(m, X, y, optimizer="newton", tol=1e-10, steps=200, seed=1, **kw)
    assert h_exact.stop_reason == hist.stop_reason == "converged", hist.message
    assert hist.grad_norm[-1] <= 1e-10
    assert m.loss(params, X, y) == pytest.approx(m.loss(exact, X, y), rel=1e-12)
    np.testing.assert_allclose(m.predict(params, X), m.predict(exact, X), rtol=1e-7, atol=1e-9)
    if "hessian_rows" in kw:
        assert "each Hessian from 50 random rows" in hist.message
    if "warm_start" in kw:
        assert re.search(r"(started from|ignored the start from) Newton on 100 of 1,000 rows", hist.message), (
            hist.message
        )
    same, again = fit(m, X, y, optimizer="newton", tol=1e-10, steps=200, seed=1, **kw)
    assert again.loss == hist.loss and all(np.array_equal(same[k], params[k]) for k in params)  # the seed decides


def test_newton_warm_start_on_a_misleading_subset_is_ignored():
    """Four rows of a logistic problem in four parameters are separable: Newton on them runs off
    towards infinity. On four other rows the start it gives is worse than the user's, so it is
    dropped and said so, and the run is exact Newton from the user's start."""
    m = get("logistic_regression")
    X, y, _ = synthetic(m, n=300, d=3, seed=0)
    _, exact = fit(m, X, y, optimizer="newton", tol=1e-10)
    _, hist = fit(m, X, y, optimizer="newton", tol=1e-10, warm_start=4)
    said = r"ignored the start from Newton on 4 of 300 rows: on 4 other rows its loss \S+ > \S+"
    assert re.search(said, hist.message), hist.message
    assert hist.loss == exact.loss and hist.stop_reason == "converged"


def test_newton_warm_start_pays_off_on_large_data():
    """From a start solved on a tenth of the rows, the full-data run needs fewer steps than from
    zero, and its clock includes the time spent on the subset."""
    m = get("logistic_regression")
    X, y, _ = synthetic(m, n=20_000, d=5, seed=2)
    _, cold = fit(m, X, y, optimizer="newton", tol=1e-10)
    _, warm = fit(m, X, y, optimizer="newton", tol=1e-10, warm_start=2_000)
    # six parameters: the 2,000 rows are solved from a solve on 200 of them (LADDER = 10 rows per parameter)
    assert re.search(r"started from Newton on 200 then 2,000 of 20,000 rows \(\d+ \+ \d+ steps\)", warm.message)
    assert warm.steps < cold.steps and warm.loss[0] < cold.loss[0]
    assert warm.loss[-1] == pytest.approx(cold.loss[-1], rel=1e-13)
    assert warm.time[0] > 0


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "newton"])
def test_training_reads_x_once_per_step_through_loss_and_grad(tmp_path, optimizer):
    """A model with loss_and_grad is trained through it: the full-batch optimizers never call loss or
    grad on the full data, and the run matches, to rounding, the same model without loss_and_grad."""
    m = get("logistic_regression")
    X, y, _ = synthetic(m, n=400, d=3, seed=5)
    calls = {"loss": 0, "grad": 0, "loss_and_grad": 0}
    spy = types.SimpleNamespace(**{k: getattr(m.module, k) for k in dir(m.module) if not k.startswith("__")})

    def counting(name):
        f = getattr(m.module, name)

        def counted(params, X, y, **k):
            calls[name] += X.shape[0] == 400  # full-data calls only
            return f(params, X, y, **k)

        return counted

    for name in calls:
        setattr(spy, name, counting(name))
    spy.__file__, spy.__name__ = m.module.__file__, "spy"
    plain = types.SimpleNamespace(**vars(spy))
    del plain.loss_and_grad
    kw = {"steps": 20, "tol": 0.0, "lr": 0.5} if optimizer != "newton" else {"tol": 1e-12}
    params, hist = fit(Model("spy", spy), X, y, optimizer=optimizer, **kw)
    assert calls["loss_and_grad"] == hist.steps + 1 and calls["loss"] == calls["grad"] == 0, calls
    ref, ref_hist = fit(Model("plain", plain), X, y, optimizer=optimizer, **kw)
    np.testing.assert_allclose(hist.loss, ref_hist.loss, rtol=1e-13)
    np.testing.assert_allclose(params["w"], ref["w"], rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("kw", [{"hessian_rows": 0}, {"warm_start": -3}, {"hessian_rows": 2.5}])
def test_newton_sampling_options_must_be_positive_row_counts(kw):
    m = get("logistic_regression")
    X, y, _ = synthetic(m, n=50, d=2, seed=0)
    with pytest.raises(ValueError, match=f"{next(iter(kw))} must be a positive number of rows"):
        fit(m, X, y, optimizer="newton", **kw)


# -- SGD, momentum, Nesterov -------------------------------------------------------------------


def test_sgd_with_a_seed_is_reproducible_and_the_seed_matters():
    """The same seed gives the same run bit for bit; another seed shuffles differently."""
    m = get("logistic_regression")
    X, y, _ = synthetic(m, n=100, d=3, seed=1)
    a, ha = fit(m, X, y, optimizer="sgd", lr=0.5, steps=20, seed=7, batch_size=10)
    b, hb = fit(m, X, y, optimizer="sgd", lr=0.5, steps=20, seed=7, batch_size=10)
    c, _ = fit(m, X, y, optimizer="sgd", lr=0.5, steps=20, seed=8, batch_size=10)
    assert ha.loss == hb.loss and all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(flatten(a), flatten(c))


def test_sgd_with_one_batch_is_gradient_descent():
    """With batch_size ≥ n each epoch is one step on all rows (in a shuffled order), so the run is
    gradient descent's up to rounding in the sums."""
    m = get("multivariate_linear_regression")
    X, y, _ = synthetic(m, n=40, d=3, seed=2)
    a, ha = fit(m, X, y, optimizer="sgd", lr=0.2, steps=25, batch_size=1000, tol=0.0)
    b, hb = fit(m, X, y, optimizer="gd", lr=0.2, steps=25, tol=0.0)
    np.testing.assert_allclose(ha.loss, hb.loss, rtol=1e-12)
    np.testing.assert_allclose(flatten(a), flatten(b), rtol=1e-10)


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov"])
def test_momentum_with_beta_zero_is_gradient_descent(optimizer):
    """β = 0 removes the velocity: heavy ball and Nesterov are then gradient descent exactly."""
    m = get("logistic_regression")
    X, y, _ = synthetic(m, n=60, d=3, seed=3)
    a, ha = fit(m, X, y, optimizer=optimizer, lr=0.7, beta=0.0, steps=40, tol=0.0)
    b, hb = fit(m, X, y, optimizer="gd", lr=0.7, steps=40, tol=0.0)
    np.testing.assert_allclose(ha.loss, hb.loss, rtol=1e-14)
    np.testing.assert_allclose(flatten(a), flatten(b), rtol=1e-13, atol=1e-15)


def test_nesterov_follows_the_textbook_recurrence():
    """The one-gradient form run on the look-ahead point φ = θ + βv matches the two-variable
    textbook form v ← βv − lr ∇L(θ + βv), θ ← θ + v, at every step."""
    m = get("logistic_regression")
    X, y, _ = synthetic(m, n=60, d=3, seed=5)
    lr, beta, steps = 0.8, 0.7, 15
    theta, v = flatten(m.init(3)), np.zeros(4)
    like = m.init(3)
    ref = []
    for _ in range(steps + 1):
        ref.append(m.loss(unflatten(theta + beta * v, like), X, y))
        v = beta * v - lr * flatten(m.grad(unflatten(theta + beta * v, like), X, y))
        theta = theta + v
    _, hist = fit(m, X, y, optimizer="nesterov", lr=lr, beta=beta, steps=steps, tol=0.0)
    np.testing.assert_allclose(hist.loss, ref, rtol=1e-12)


def test_heavy_ball_follows_its_recurrence():
    """Heavy ball: v ← βv − lr ∇L(θ), θ ← θ + v, from v = 0."""
    m = get("multivariate_linear_regression")
    X, y, _ = synthetic(m, n=30, d=2, seed=6)
    lr, beta, steps = 0.1, 0.5, 12
    like = m.init(2)
    theta, v, ref = flatten(like), np.zeros(3), []
    for _ in range(steps + 1):
        ref.append(m.loss(unflatten(theta, like), X, y))
        v = beta * v - lr * flatten(m.grad(unflatten(theta, like), X, y))
        theta = theta + v
    _, hist = fit(m, X, y, optimizer="momentum", lr=lr, beta=beta, steps=steps, tol=0.0)
    np.testing.assert_allclose(hist.loss, ref, rtol=1e-12)


# -- Adam and AdamW ------------------------------------------------------------------------------------


def _adam_reference(m, X, y, *, lr, b1, b2, eps, decay, steps):
    """Adam/AdamW written out with plain NumPy on the flattened parameters: the losses along the way."""
    like = m.init(X.shape[1])
    theta, mom, sq, losses = flatten(like), np.zeros(flatten(like).size), np.zeros(flatten(like).size), []
    for t in range(1, steps + 2):
        p = unflatten(theta, like)
        losses.append(m.loss(p, X, y))
        g = flatten(m.grad(p, X, y))
        mom = b1 * mom + (1 - b1) * g
        sq = b2 * sq + (1 - b2) * g**2
        mhat, vhat = mom / (1 - b1**t), sq / (1 - b2**t)
        theta = theta - lr * (mhat / (np.sqrt(vhat) + eps) + decay * theta)
    return losses[:-1] if steps else losses, theta


@pytest.mark.parametrize("optimizer, decay", [("adam", 0.0), ("adamw", 0.1)])
def test_adam_follows_its_recurrence(optimizer, decay):
    """Three steps of Adam (and AdamW, λ = 0.1), at non-default β1, β2, ε, equal the recurrence written out by
    hand with plain NumPy: the losses at every step and the final parameters, to rounding."""
    m = get("logistic_regression")
    X, y, _ = synthetic(m, n=50, d=3, seed=7)
    kw = {"lr": 0.05, "beta1": 0.8, "beta2": 0.95, "eps": 1e-3, "steps": 3, "tol": 0.0}
    if optimizer == "adamw":
        kw["weight_decay"] = decay
    start = {"w": np.array([0.3, -0.2, 0.1]), "b": np.asarray(0.4)}  # nonzero, so the decay acts at once
    params, hist = fit(m, X, y, optimizer=optimizer, params=start, **kw)
    like = m.init(3)
    theta, mom, sq, ref = flatten(start), np.zeros(4), np.zeros(4), []
    for t in (1, 2, 3, 4):
        ref.append(m.loss(unflatten(theta, like), X, y))
        if t == 4:
            break
        g = flatten(m.grad(unflatten(theta, like), X, y))
        mom = 0.8 * mom + 0.2 * g
        sq = 0.95 * sq + 0.05 * g * g
        mhat, vhat = mom / (1 - 0.8**t), sq / (1 - 0.95**t)
        theta = theta - 0.05 * (mhat / (np.sqrt(vhat) + 1e-3) + decay * theta)
    assert hist.steps == 3 and hist.step_size == [0.05] * 3
    np.testing.assert_allclose(hist.loss, ref, rtol=1e-14)
    np.testing.assert_allclose(flatten(params), theta, rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_adam_matches_optax(optimizer):
    """Twenty steps agree with optax.adam / optax.adamw (an independent implementation, run by JAX in float64)
    from the same start, at the same settings, to 1e-12."""
    optax = pytest.importorskip("optax")
    from lab.verify.runtime.jax_config import jnp

    m = get("logistic_regression")
    X, y, _ = synthetic(m, n=80, d=3, seed=2)
    start = {"w": np.array([0.5, -0.3, 0.2]), "b": np.asarray(-0.1)}
    lr, b1, b2, eps, steps = 0.03, 0.9, 0.99, 1e-6, 20
    if optimizer == "adam":
        tx, kw = optax.adam(lr, b1=b1, b2=b2, eps=eps), {}
    else:
        tx, kw = optax.adamw(lr, b1=b1, b2=b2, eps=eps, weight_decay=0.05), {"weight_decay": 0.05}
    p = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in start.items()}
    state = tx.init(p)
    for _ in range(steps):
        g = {k: jnp.asarray(v) for k, v in m.grad({k: np.asarray(v) for k, v in p.items()}, X, y).items()}
        updates, state = tx.update(g, state, p)
        p = optax.apply_updates(p, updates)
    ours, _ = fit(m, X, y, optimizer=optimizer, lr=lr, beta1=b1, beta2=b2, eps=eps, steps=steps, tol=0.0,
                  params=start, **kw)  # fmt: skip
    for k in start:
        np.testing.assert_allclose(ours[k], np.asarray(p[k]), rtol=1e-12, atol=1e-14)


@given(scale=st.floats(1e-6, 1e6), seed=st.integers(0, 2**16))
def test_adams_first_step_is_lr_in_every_coordinate(scale, seed):
    """With m̂₁ = g and v̂₁ = g², the first step is −lr g/(|g| + ε): −lr sign(g) within lr ε/|g|, whatever the
    gradient's scale. A loss multiplied by 1e-6 or by 1e6 moves each parameter by lr."""
    m = get("logistic_regression")
    X, y, _ = synthetic(m, n=40, d=3, seed=seed)
    start = {"w": np.array([0.2, -0.1, 0.3]), "b": np.asarray(0.05)}
    g = scale * flatten(m.grad(start, X, y))
    assume(np.all(np.abs(g) > 1e-9))
    lr, eps = 0.01, 1e-8
    params, hist = optim.adam(_scaled(m, scale), X, y, lr=lr, steps=1, tol=0.0, params=start, eps=eps)
    step = flatten(params) - flatten(start)
    assert hist.steps == 1
    assert np.all(np.abs(step + lr * np.sign(g)) <= lr * eps / np.abs(g) + 4 * EPS)


def _scaled(m, c: float) -> Model:
    """``m`` with its loss and gradient multiplied by ``c`` (a user's model in all but name)."""
    mod = types.SimpleNamespace(**{k: getattr(m.module, k) for k in dir(m.module) if not k.startswith("__")})
    mod.loss = lambda p, X, y: c * m.module.loss(p, X, y)
    mod.grad = lambda p, X, y: {k: c * v for k, v in m.module.grad(p, X, y).items()}
    del mod.loss_and_grad
    mod.__file__, mod.__name__ = m.module.__file__, "scaled"
    return Model("scaled", mod)


@pytest.mark.parametrize("c", [1e-4, 1e4])
def test_adam_is_invariant_to_scaling_the_loss_and_gd_is_not(c):
    """Multiplying the loss by c > 0 multiplies m by c and √v by c: Adam's path is the same (up to ε, here with
    ε = 1e-14 against gradients of about 1e-5 at c = 1e-4). Gradient descent's steps are c times as long."""
    m = get("logistic_regression")
    X, y, _ = synthetic(m, n=60, d=3, seed=4)
    kw = {"lr": 0.02, "steps": 50, "tol": 0.0, "eps": 1e-14}
    a, _ = optim.adam(m, X, y, **kw)
    b, _ = optim.adam(_scaled(m, c), X, y, **kw)
    np.testing.assert_allclose(flatten(b), flatten(a), rtol=1e-8, atol=1e-12)
    g1, _ = optim.gd(m, X, y, lr=0.5, steps=1)
    gc, _ = optim.gd(_scaled(m, c), X, y, lr=0.5, steps=1)
    np.testing.assert_allclose(flatten(gc), c * flatten(g1), rtol=1e-12)  # from 0: c times the step


def test_adam_moves_a_small_consistent_gradient_as_fast_as_a_large_one():
    """On the least squares Σ a_i w_i² (plus the bias's term), a = (1e-3, 1, 1e3), started at w = 1, every
    coordinate moves by about lr per step while its gradient keeps its sign: after 10 steps all three have
    moved by 10 lr (to 1 %), where gradient descent at 0.9 of its stable step moves the flat one 1000 times
    less."""
    X = np.diag(np.sqrt([1e-3, 1.0, 1e3])) * np.sqrt(3)  # the mean of (x·w)² over the 3 rows is Σ a_i w_i²
    y = np.zeros(3)
    m = get("multivariate_linear_regression")
    start = {"w": np.ones(3), "b": np.asarray(0.0)}
    lr = 1e-3
    params, _ = optim.adam(m, X, y, lr=lr, steps=10, tol=0.0, params=start)
    moved = 1 - params["w"]
    np.testing.assert_allclose(moved, 10 * lr, rtol=0.01)
    gdp, _ = optim.gd(m, X, y, lr=0.9 * stable_lr(m, X, y), steps=10, tol=0.0, params=start)
    assert 1 - gdp["w"][0] < 2e-3 * moved[0]


def test_adamw_shrinks_by_exactly_one_minus_lr_lambda_at_a_zero_gradient():
    """With a gradient of exactly 0, AdamW multiplies θ by 1 − lr λ at every step (to rounding: the recurrence
    computes θ − lr λ θ), and plain Adam does not move. Adam with an L2 term instead, its gradient λθ, moves
    every coordinate by about lr per step, θ = 3 as much as θ = −0.5: the term was divided by √v̂."""
    start = {"w": np.array([3.0, -0.5]), "b": np.asarray(2.0)}
    zero = {k: np.zeros_like(v) for k, v in start.items()}
    lr, lam, steps = 0.1, 0.2, 5
    w, plain, coupled = optim.Adam(lr=lr, weight_decay=lam), optim.Adam(lr=lr), optim.Adam(lr=lr)
    pw, pa, pc = start, start, start
    for k in range(1, steps + 1):
        before = flatten(pw)
        pw = w.step(pw, zero)
        np.testing.assert_array_equal(flatten(pw), before - lr * lam * before)
        np.testing.assert_allclose(flatten(pw), (1 - lr * lam) ** k * flatten(start), rtol=4 * k * EPS)
        pa = plain.step(pa, zero)
        pc = coupled.step(pc, {key: lam * v for key, v in pc.items()})
    assert all(np.array_equal(pa[k], start[k]) for k in start)
    moved = np.abs(flatten(start) - flatten(pc))
    np.testing.assert_allclose(moved, steps * lr, rtol=0.06)  # λθ shrinks along the way, so m̂/√v̂ ≲ 1
    decayed = np.abs(flatten(start) - flatten(pw))
    assert decayed[0] / decayed[1] == pytest.approx(6.0) and moved[0] / moved[1] < 1.1  # AdamW: in proportion to θ
    assert all(np.all(zero[k] == 0) for k in zero) and start["w"].tolist() == [3.0, -0.5]  # not mutated


def test_adam_lowers_the_loss_on_logistic_regression():
    """From init, Adam at lr = 0.05 brings logistic regression within 1e-6 of Newton's minimum in 2000
    steps; AdamW's small decay stops it a little above, at a point where the loss's gradient balances
    λθ; lr="auto" is Adam's default 1e-3."""
    m = get("logistic_regression")
    X, y, _ = synthetic(m, n=300, d=3, seed=8)
    best, _ = fit(m, X, y, optimizer="newton", tol=1e-12)
    low = m.loss(best, X, y)
    _, hist = fit(m, X, y, optimizer="adam", lr=0.05, steps=2000, tol=1e-10)
    _check_history(hist, 2000)
    assert hist.loss[-1] - low < 1e-6 and hist.loss[-1] < 0.9 * hist.loss[0]
    _, hw = fit(m, X, y, optimizer="adamw", lr=0.05, steps=2000, tol=0.0, weight_decay=0.01)
    assert low < hw.loss[-1] < low + 1e-2
    _, auto = fit(m, X, y, optimizer="adam", steps=3)
    assert auto.step_size == [optim.ADAM_LR] * 3


@pytest.mark.parametrize("kw, says", [
    ({"beta1": 1.0}, r"beta1 must be in \[0, 1\); got 1.0"),
    ({"beta1": -0.1}, r"beta1 must be in \[0, 1\); got -0.1"),
    ({"beta2": 1.0}, r"beta2 must be in \[0, 1\); got 1.0"),
    ({"eps": 0.0}, "eps must be a positive number; got 0.0"),
    ({"eps": float("nan")}, "eps must be a positive number; got nan"),
    ({"lr": -1.0}, "learning rate must be a positive number; got -1.0"),
])  # fmt: skip
@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_adam_rejects_bad_settings(optimizer, kw, says):
    m = get("logistic_regression")
    X, y, _ = synthetic(m, n=20, d=2, seed=0)
    with pytest.raises(ValueError, match=says):
        fit(m, X, y, optimizer=optimizer, **{"lr": 0.01, **kw})


def test_adamw_rejects_a_negative_weight_decay():
    m = get("logistic_regression")
    X, y, _ = synthetic(m, n=20, d=2, seed=0)
    with pytest.raises(ValueError, match="weight decay must be a non-negative number; got -0.01"):
        fit(m, X, y, optimizer="adamw", weight_decay=-0.01)


def test_lab_train_with_adam(capsys):
    """`lab train --optimizer adam` trains and says its learning rate; adamw takes --weight-decay; a bad β2 is
    a one-line error."""
    argv = ["train", "logistic_regression", "--optimizer", "adam", "--lr", "0.05", "--steps", "300"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert err == "" and out.startswith("learning rate 0.05\n")
    first, last = map(float, re.search(r"loss (\S+) -> (\S+) in 300 steps", out).groups())
    assert last < 0.8 * first
    assert main(["train", "logistic_regression", "--optimizer", "adamw", "--weight-decay", "0.1", "--steps", "5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("learning rate 0.001 (auto: the default of Kingma and Ba)\n") and "in 5 steps" in out
    assert main(["train", "logistic_regression", "--optimizer", "adam", "--beta2", "1"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["lab: error: Adam's beta2 must be in [0, 1); got 1.0"]


# -- stopping, History, fit's arguments ---------------------------------------------------------


def test_stop_reasons_and_the_message():
    """A reachable tol stops as "converged" and says so with both numbers; steps=0 is "max steps"
    with no step taken; on_step is called once per recorded step."""
    m = get("multivariate_linear_regression")
    X, y, _ = synthetic(m, n=50, d=3, seed=0)
    seen = []
    _, hist = fit(m, X, y, steps=10_000, tol=1e-9, on_step=seen.append)
    assert hist.stop_reason == "converged" and hist.grad_norm[-1] <= 1e-9 < hist.grad_norm[-2]
    assert re.fullmatch(r"converged: gradient norm \S+ ≤ tol 1e-09", hist.message), hist.message
    assert seen == list(range(hist.steps + 1))
    _, hist = fit(m, X, y, steps=0)
    assert hist.stop_reason == "max steps" and hist.steps == 0 and hist.step_size == []
    assert hist.message.startswith("max steps: gradient norm")


def test_fit_rejects_unknown_optimizers_and_bad_settings():
    m = get("multivariate_linear_regression")
    X, y, _ = synthetic(m, n=20, d=2, seed=0)
    with pytest.raises(ValueError, match=r"unknown optimizer 'adagrad'; choose one of gd, sgd, momentum"):
        fit(m, X, y, optimizer="adagrad")
    with pytest.raises(ValueError, match="positive number or 'auto'; got 'fast'"):
        fit(m, X, y, lr="fast")
    with pytest.raises(ValueError, match=r"beta must be in \[0, 1\); got 1.0"):
        fit(m, X, y, optimizer="momentum", beta=1.0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer; got 0"):
        fit(m, X, y, optimizer="sgd", batch_size=0)


def test_fit_does_not_mutate_its_inputs():
    m = get("logistic_regression")
    X, y, _ = synthetic(m, n=30, d=3, seed=0)
    start = {"w": np.full(3, 0.1), "b": np.asarray(0.2)}
    copies = [X.copy(), y.copy(), {k: v.copy() for k, v in start.items()}]
    for optimizer in [*GRADIENT_METHODS, "adam", "adamw", "newton"]:
        fit(m, X, y, optimizer=optimizer, params=start, steps=5)
    assert np.array_equal(X, copies[0]) and np.array_equal(y, copies[1])
    assert all(np.array_equal(start[k], copies[2][k]) for k in start)


# -- the learning-rate story ---------------------------------------------------------------------


def _gram(X):
    Xt = np.hstack([X, np.ones((X.shape[0], 1))])
    return Xt.T @ Xt


@given(data=st.data())
def test_lipschitz_is_exact_for_least_squares_and_global_for_logistic(data):
    """Least squares: L = λ_max((2/n) X̃ᵀX̃), the same at the start and globally. Logistic
    regression: the global bound is λ_max(X̃ᵀX̃)/(4n), equal to the value at θ = 0 and above it
    at any other θ. ``float()`` of the result is L."""
    mlr, lr_ = get("multivariate_linear_regression"), get("logistic_regression")
    p = data.draw(synthetic_sets(mlr, min_n=5, max_n=60), label="data")
    c = lipschitz(mlr, p.X, p.y)
    exact = np.linalg.eigvalsh(2 * _gram(p.X) / p.n)[-1]
    assert c["quadratic"] and c["L"] == c["global"] == c["at_start"] == float(c)
    assert c["L"] == pytest.approx(exact, rel=1e-10)
    q = data.draw(synthetic_sets(lr_, min_n=5, max_n=60), label="logistic data")
    bound = np.linalg.eigvalsh(_gram(q.X))[-1] / (4 * q.n)
    c = lipschitz(lr_, q.X, q.y)
    assert not c["quadratic"] and c["global"] == pytest.approx(bound, rel=1e-10) and c["L"] == c["global"]
    assert c["at_start"] == pytest.approx(bound, rel=1e-10)  # at w = 0, b = 0 every p(1 − p) = 1/4
    away = {"w": np.full(q.d, 0.7), "b": np.asarray(-0.3)}
    assert lipschitz(lr_, q.X, q.y, away)["at_start"] <= bound * (1 + 1e-12)


#: (optimizer, β) whose stable bound is sharp on a quadratic.
SHARP = [("gd", 0.0), ("momentum", 0.9), ("nesterov", 0.9), ("momentum", 0.5), ("nesterov", 0.3)]


@pytest.mark.parametrize("optimizer, beta", SHARP)
def test_the_stable_bound_is_sharp_on_a_quadratic(optimizer, beta):
    """On least squares, 0.95 of stable_lr converges and 1.05 of it diverges, for gradient descent
    (2/L), heavy ball (2(1 + β)/L) and Nesterov (2(1 + β)/((1 + 2β) L))."""
    m = get("multivariate_linear_regression")
    X, y, _ = synthetic(m, n=80, d=3, seed=9)
    bound = stable_lr(m, X, y, optimizer=optimizer, beta=beta)
    kw = {} if optimizer == "gd" else {"beta": beta}
    _, hist = fit(m, X, y, optimizer=optimizer, lr=0.95 * bound, steps=20_000, tol=1e-8, **kw)
    assert hist.stop_reason == "converged"
    with pytest.raises(DivergedError, match=DIVERGED):
        fit(m, X, y, optimizer=optimizer, lr=1.05 * bound, steps=20_000, tol=1e-8, **kw)


def test_the_divergence_message_names_the_step_the_losses_and_the_bound():
    """The message has exactly the documented shape, its bound is 2/L rounded down to two digits,
    the error carries the history up to the blow-up, and no parameters come back."""
    m = get("multivariate_linear_regression")
    X, y, _ = synthetic(m, n=50, d=3, seed=0)
    two_over_L = stable_lr(m, X, y)
    with pytest.raises(DivergedError, match=DIVERGED) as e:
        fit(m, X, y, lr=3 * two_over_L, steps=1000)
    msg = str(e.value)
    step, first, last, bound = re.fullmatch(
        r"diverged at step (\d+): loss grew from (\S+) to (\S+); for this data a stable learning rate is below (\S+)",
        msg,
    ).groups()
    hist = e.value.history
    assert int(step) == hist.steps and float(first) == pytest.approx(hist.loss[0], rel=5e-3)
    assert float(last) == pytest.approx(hist.loss[-1], rel=5e-3) and float(last) > 1e6 * float(first)
    assert 0.9 * two_over_L <= float(bound) <= two_over_L
    assert isinstance(e.value, ValueError)


def test_divergence_to_inf_is_caught_and_without_a_bound_says_lower_the_learning_rate(tmp_path):
    """A step so large the loss overflows is caught at once; a model with no hessian gets the
    advice to lower the learning rate, since no bound is known."""
    m = get("logistic_regression")
    X, y, _ = synthetic(m, n=50, d=3, seed=0)
    with pytest.raises(DivergedError, match=DIVERGED):
        fit(m, 1e150 * X, y, lr=1e200, steps=5)
    u = _user_model(tmp_path, "unbounded", _no_hessian_source())
    X, y, _ = synthetic(u, n=50, d=3, seed=0)
    with pytest.raises(DivergedError, match=r"^diverged at step 1: loss grew from .* to .*; lower the learning rate$"):
        fit(u, X, y, lr=1e9, steps=10)


@pytest.mark.parametrize("name", ["multivariate_linear_regression", "logistic_regression", "linear_regression"])
def test_lr_auto_picks_a_step_below_the_bound_that_converges(name):
    """``lr="auto"`` steps at 1/L, below 2/L, and converges."""
    m = get(name)
    X, y, _ = synthetic(m, n=100, d=3, seed=11)
    _, hist = fit(m, X, y, lr="auto", steps=20_000, tol=1e-9)
    assert hist.stop_reason == "converged"
    assert hist.step_size[0] == pytest.approx(safe_lr(m, X, y)) and hist.step_size[0] < stable_lr(m, X, y)


def test_lab_train_lr_auto(capsys):
    """``lab train ... --lr auto`` prints the step it picked and the bound, and converges."""
    assert main(["train", "multivariate_linear_regression", "--lr", "auto", "--steps", "5000"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    chosen, bound = re.search(r"learning rate (\S+) \(auto: 1/L\); for this data a stable learning rate is below (\S+)",
                              out).groups()  # fmt: skip
    assert float(chosen) == pytest.approx(float(bound) / 2, rel=1e-3)
    assert "(converged: gradient norm" in out


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov"])
def test_lab_train_s_default_step_without_a_global_bound_is_one_whose_run_trained(capsys, optimizer):
    """Poisson's curvature e^z grows along the path and momentum has no line search: its default step, 1/L at
    the start, diverged (lab: error, exit 2, "lower the learning rate"). The default now halves it until the
    run trains and says how many times; the step it names trains, the one before it did not."""
    assert main(["train", "poisson_regression", "--optimizer", optimizer, "--steps", "30"]) == 0
    out = capsys.readouterr().out
    said = re.search(r"learning rate (\S+) \(auto: 1/L at the start, halved (\d+) times until the run neither "
                     r"diverged nor ended above its start\)", out)  # fmt: skip
    assert said, out
    lr, halved = float(said.group(1)), int(said.group(2))
    loss0, loss1 = map(float, re.search(r"loss (\S+) -> (\S+) in 30 steps", out).groups())
    assert halved >= 1 and loss1 < loss0
    m = get("poisson_regression")
    X, y, _ = synthetic(m, n=200, d=3, seed=0)  # lab train's data by default
    first = safe_lr(m, X, y, optimizer=optimizer)
    assert lr == pytest.approx(first / 2**halved, rel=1e-3)
    try:  # the step one halving larger did not train here
        _, hist = fit(m, X, y, optimizer=optimizer, lr=2 * first / 2**halved, steps=30)
        assert hist.loss[-1] > hist.loss[0]
    except DivergedError:
        pass


def test_a_model_whose_gradient_jumps_has_no_auto_step(tmp_path):
    """KINK_ORDER = 1 (a gradient with jumps, like the hinge) means no step is stable everywhere."""
    source = _no_hessian_source() + (
        "\n\ndef hessian(params, X, y):\n    return 0 * X[:1, :1]\n\nKINK_ORDER = 1\n"
        "\n\ndef kink_distance(params, X, y):\n    return abs(X @ params['w'] + params['b'] - y)\n"
    )
    m = _user_model(tmp_path, "kinked", source)
    X, y, _ = synthetic(m, n=20, d=2, seed=0)
    with pytest.raises(ValueError, match="jumps at a kink"):
        fit(m, X, y, lr="auto")


# -- the closed form ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LEAST_SQUARES)
@given(data=st.data())
def test_closed_form_by_cholesky_matches_lstsq(name, data):
    """On well-conditioned data the normal equations are solved by Cholesky, with no warning, and
    agree with numpy.linalg.lstsq on [X, 1] to 1e-9."""
    m = get(name)
    p = data.draw(synthetic_sets(m, min_n=10, max_n=100), label="data")
    ref = np.linalg.lstsq(np.hstack([p.X, np.ones((p.n, 1))]), p.y, rcond=None)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        params, hist = fit(m, p.X, p.y, optimizer="closed")
    assert hist.stop_reason == "solved: normal equations by Cholesky"
    np.testing.assert_allclose(flatten(params), ref, rtol=1e-9, atol=1e-9 * np.max(np.abs(ref)))


@pytest.mark.parametrize("gap", [1e-7, 0.0])
def test_closed_form_falls_back_to_lstsq_on_near_collinear_columns(gap):
    """Two columns equal up to 1e-7 (or exactly): the condition number passes 1e12, so it warns
    naming it and solves by lstsq, whose fit is as good as numpy's on [X, 1]."""
    m = get("multivariate_linear_regression")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(100)
    X = np.column_stack([x, x + gap * rng.standard_normal(100), rng.standard_normal(100)])
    y = X @ [1.0, 1.0, -2.0] + 0.5 + 0.1 * rng.standard_normal(100)
    with pytest.warns(RuntimeWarning, match=r"ill-conditioned \(condition number \S+ (> 1e\+12|and Cholesky failed)"):
        params, hist = fit(m, X, y, optimizer="closed")
    assert hist.stop_reason == "solved: least squares (lstsq)"
    ref = np.linalg.lstsq(np.hstack([X, np.ones((100, 1))]), y, rcond=None)[0]
    best = m.loss({"w": ref[:3], "b": np.asarray(ref[3])}, X, y)
    assert hist.loss[-1] <= best * (1 + 1e-9)


def test_closed_form_is_for_least_squares_only(tmp_path):
    """It is decided by the loss, not the name: a user's copy of least squares qualifies, a loss
    scaled by 2 or a classifier does not, and gets a ValueError saying so."""
    copy = _user_model(tmp_path, "my_least_squares", MLR_SOURCE)
    doubled = _user_model(tmp_path, "doubled", MLR_SOURCE.replace("return xp.mean(r * r)", "return 2 * xp.mean(r * r)"))
    assert optim.least_squares(copy, 3) and not optim.least_squares(doubled, 3)
    X, y, _ = synthetic(copy, n=30, d=3, seed=0)
    params, _ = fit(copy, X, y, optimizer="closed")
    with pytest.raises(ValueError, match="'doubled' is neither"):
        fit(doubled, X, y, optimizer="closed")
    logit = get("logistic_regression")
    Xl, yl, _ = synthetic(logit, n=30, d=3, seed=0)
    with pytest.raises(ValueError, match="closed form applies to least squares"):
        fit(logit, Xl, yl, optimizer="closed")


# -- real data against scikit-learn ------------------------------------------------------------------


def _standardized(name: str, columns=slice(None)):
    ds = load(name)
    return Standardizer().fit_transform(ds.X[:, columns]), ds.y


def _rel(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - b) / np.abs(b)))


@pytest.fixture(scope="module")
def diabetes():
    X, y = _standardized("diabetes")
    ref = LinearRegression().fit(X, y)
    coef = np.append(ref.coef_, ref.intercept_)
    loss = get("multivariate_linear_regression").loss(unflatten(coef, {"w": ref.coef_, "b": 0.0}), X, y)
    return X, y, coef, loss


@pytest.mark.parametrize("optimizer, kw", [
    ("closed", {}),
    ("gd", {"lr": "auto", "steps": 50_000, "tol": 1e-11}),
    ("nesterov", {"lr": "auto", "steps": 50_000, "tol": 1e-11}),
    ("newton", {"tol": 1e-11}),
])  # fmt: skip
def test_diabetes_matches_sklearn_linear_regression(diabetes, optimizer, kw):
    """On standardized load_diabetes every coefficient is within relative 1e-6 of
    sklearn.linear_model.LinearRegression's, and the loss within relative 1e-9."""
    X, y, coef, loss = diabetes
    params, hist = fit(get("multivariate_linear_regression"), X, y, optimizer=optimizer, **kw)
    assert hist.stop_reason.startswith(("converged", "solved")), hist.message
    assert _rel(flatten(params), coef) <= 1e-6
    assert abs(hist.loss[-1] - loss) <= 1e-9 * loss


def _separable(X, y) -> bool:
    """Whether some (w, b) puts every sample strictly on its label's side: the linear program
    s_i (x_i·w + b) ≥ 1, s_i = 2 y_i − 1, is feasible (then the MLE does not exist)."""
    A = -(2 * y - 1)[:, None] * np.hstack([X, np.ones((len(y), 1))])
    return linprog(np.zeros(A.shape[1]), A_ub=A, b_ub=-np.ones(len(y)), bounds=(None, None)).status == 0


def _sklearn_logistic(X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a ConvergenceWarning would void the reference
        clf = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000, **kw).fit(X, y)
    params = {"w": clf.coef_[0], "b": np.asarray(clf.intercept_[0])}
    return flatten(params), get("logistic_regression").loss(params, X, y)


def test_breast_cancer_mean_features_match_sklearn_logistic_regression():
    """Standardized load_breast_cancer with all 30 features is linearly separable (see the next
    test), so the unpenalized optimum does not exist there. Its 10 "mean ..." features are not
    separable: the optimum exists and is unique, and Newton reaches it.

    The reference is LogisticRegression(C=inf, tol=1e-12, max_iter=10000). Its default lbfgs stops
    on its own relative-decrease test (ftol) before tol bites: its coefficients are off by about
    3e-5 relative, with a gradient norm far above Newton's, while its loss agrees to about 1e-13.
    So the coefficients are compared with the newton-cholesky solver at the same settings, which
    converges to the optimum, and the loss with both."""
    X, y = _standardized("breast_cancer", slice(0, 10))
    assert not _separable(X, y)
    m = get("logistic_regression")
    params, hist = fit(m, X, y, optimizer="newton", tol=1e-12, steps=100)
    assert hist.stop_reason == "converged", hist.message
    ours = flatten(params)
    coef, loss = _sklearn_logistic(X, y, solver="newton-cholesky")
    assert _rel(ours, coef) <= 1e-6
    assert abs(hist.loss[-1] - loss) <= 1e-9 * loss
    lbfgs_coef, lbfgs_loss = _sklearn_logistic(X, y)
    assert abs(hist.loss[-1] - lbfgs_loss) <= 1e-9 * lbfgs_loss
    assert hist.loss[-1] <= lbfgs_loss * (1 + 1e-14)  # Newton is at least as low as lbfgs
    lbfgs_grad = optim.grad_norm(m.grad(unflatten(lbfgs_coef, params), X, y))
    assert hist.grad_norm[-1] < lbfgs_grad


def test_breast_cancer_all_features_separable_both_reach_the_infimum():
    """With all 30 standardized features the classes are linearly separable: the loss has
    infimum 0 and no minimizer, and the coefficients grow without bound, so no two solvers agree
    on them (sklearn's own solvers differ by a factor of 2). What can be compared is the loss:
    Newton's and LogisticRegression's both get within 1e-9 of the infimum 0, and Newton's
    parameters separate every sample, a proof that the data are separable."""
    X, y = _standardized("breast_cancer")
    m = get("logistic_regression")
    params, hist = fit(m, X, y, optimizer="newton", tol=1e-10, steps=200)
    assert hist.stop_reason == "converged", hist.message
    z = X @ params["w"] + params["b"]
    assert np.all((2 * y - 1) * z > 0)
    _, loss = _sklearn_logistic(X, y)
    assert 0 < hist.loss[-1] < 1e-9 and 0 < loss < 1e-9


# -- separable classes: the loss has no minimum ----------------------------------------------------


def _separable_sets():
    from sklearn.datasets import load_breast_cancer, load_wine

    X, y = load_breast_cancer(return_X_y=True)  # all 30 features
    Xw, yw = load_wine(return_X_y=True)
    return {"breast_cancer": (X, y.astype(float)), "wine class 0 vs rest": (Xw, (yw == 0).astype(float))}


def _lp_separable(X, y) -> bool:
    """An independent check: the margin LP max t s.t. s_i(x_iᵀw + b) ≥ t, |w|, |b| ≤ 1 has t > 0."""
    s = np.where(y > 0, 1.0, -1.0)
    n, d = X.shape
    A = np.hstack([-s[:, None] * X, -s[:, None], np.ones((n, 1))])  # −s_i(x_iᵀw + b) + t ≤ 0
    c = np.zeros(d + 2)
    c[-1] = -1.0
    res = linprog(c, A_ub=A, b_ub=np.zeros(n), bounds=[(-1, 1)] * (d + 1) + [(None, 1)])
    return res.status == 0 and -res.fun > 1e-9


@pytest.mark.parametrize("which", ["breast_cancer", "wine class 0 vs rest"])
def test_fit_on_separable_classes_says_the_loss_has_no_minimum(which):
    """Separable classes: fit records it and says so in place of "converged", with the fix; the
    weights it returns keep growing with the step budget, and the loss keeps falling towards 0."""
    X, y = _separable_sets()[which]
    X = Standardizer().fit_transform(X)
    assert _lp_separable(X, y)
    m = get("logistic_regression")
    norms, losses = [], []
    for steps in (100, 400, 1600):
        params, hist = fit(m, X, y, steps=steps)
        assert hist.separable is True and hist.no_minimum is True
        assert hist.message.startswith("the classes are linearly separable: the loss has no minimum"), hist.message
        assert "converged" not in hist.message and "lam=" in hist.message
        norms.append(np.linalg.norm(params["w"]))
        losses.append(hist.loss[-1])
    assert norms[0] < norms[1] < norms[2]
    assert losses[0] > losses[1] > losses[2] > 0
    _, newton = fit(m, X, y, optimizer="newton", steps=100)  # even a "converged" Newton run is told
    assert newton.separable is True and "converged" not in newton.message


def test_fit_on_overlapping_classes_converges_and_says_so():
    """Classes that overlap: not separable (checked by an independent margin LP), the fit converges to
    sklearn's minimizer and the message says "converged"; a penalty skips the check."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 4))
    y = (rng.random(400) < 1 / (1 + np.exp(-(X @ np.array([1.0, -2.0, 0.5, 0.0]))))).astype(float)
    assert not _lp_separable(X, y)
    m = get("logistic_regression")
    _, hist = fit(m, X, y, optimizer="newton", tol=1e-10)
    assert hist.separable is False and hist.message.startswith("converged"), hist.message
    _, hist = fit(m, X, y, hyper={"lam": 0.01}, steps=50)
    assert hist.separable is None and hist.message.startswith("max steps")
    _, hist = fit(m, X, y, steps=10, check_separable=False)
    assert hist.separable is None


def test_separable_agrees_with_the_margin_lp_and_skips_what_is_too_large():
    """separable() agrees with the independent margin LP on separable, overlapping and one-class data,
    takes 0/1 and ±1 labels alike, and answers None above MAX_ENTRIES instead of taking long."""
    from lab.optim.separable import MAX_ENTRIES, separable

    rng = np.random.default_rng(1)
    cases = list(_separable_sets().values())
    X = rng.normal(size=(60, 3))
    cases += [(X, (X[:, 0] + X[:, 1] > 0.3).astype(float)), (X, (X[:, 0] ** 2 > 0.5).astype(float)),
              (X, np.ones(60))]  # fmt: skip
    for X, y in cases:
        assert separable(X, y) is _lp_separable(X, y)
        assert separable(X, 2 * y - 1) is separable(X, y)
    n = MAX_ENTRIES // 4 + 1
    assert separable(np.zeros((n, 3)), np.ones(n)) is None


LINEAR_PROBABILITY = '''"""Least squares on 0/1 labels: a binary model whose loss has a minimum, separable or not."""
import numpy as np
from array_api_compat import array_namespace

TARGET = "binary"


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return X @ params["w"] + params["b"]


def loss(params, X, y):
    xp = array_namespace(X, y)
    r = X @ params["w"] + params["b"] - y
    return xp.mean(r * r)


def grad(params, X, y):
    r = X @ params["w"] + params["b"] - y
    return {"w": 2 * X.T @ r / len(y), "b": np.asarray(2 * np.sum(r) / len(y))}
'''


def test_a_binary_loss_with_a_minimum_on_separable_data_is_not_told_otherwise(tmp_path):
    """Separable classes, but a squared error: its loss grows along the separating direction, so it has a
    minimum; the fit records the separability, converges, and says "converged"."""
    m = _user_model(tmp_path, "linear_probability", LINEAR_PROBABILITY)
    X, y = _separable_sets()["wine class 0 vs rest"]
    X = Standardizer().fit_transform(X)
    _, hist = fit(m, X, y, lr=0.01, steps=100_000, tol=1e-8)
    assert hist.separable is True and hist.no_minimum is False
    assert hist.stop_reason == "converged" and hist.message.startswith("converged"), hist.message
    _, logistic = fit(get("logistic_regression"), X, y, steps=50)
    assert logistic.separable is True and logistic.no_minimum is True


def test_hinge_and_penalized_models_are_not_told_there_is_no_minimum():
    """The hinge reaches 0 at finite weights (a kink at the margin), and a penalty λ > 0 gives a minimum:
    neither is checked. Regression models never are."""
    assert optim.unbounded_when_separable(get("logistic_regression"))
    assert not optim.unbounded_when_separable(get("logistic_regression").with_hyper(lam=0.1))
    assert not optim.unbounded_when_separable(get("hinge_svm"))
    assert not optim.unbounded_when_separable(get("multivariate_linear_regression"))


def test_lab_train_on_breast_cancer_says_separable_and_exits_0(capsys):
    """`lab train` prints the one line in place of "converged" and exits 0: the fit did what was asked."""
    assert main(["train", "logistic_regression", "--data", "breast_cancer", "--steps", "200"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    line = next(li for li in out.splitlines() if li.startswith("logistic_regression: loss"))
    assert "the classes are linearly separable: the loss has no minimum" in line and "converged" not in line
    assert main(["train", "logistic_regression", "--data", "breast_cancer", "--steps", "200", "--hyper",
                 "lam=0.01"]) == 0  # fmt: skip
    assert "separable" not in capsys.readouterr().out


# -- the line search, the default where no bound on the curvature holds everywhere --------------------


def _armijo_holds(hist: History) -> None:
    """Every step of the run met the Armijo condition L(θ − t∇L) ≤ L(θ) − ½ t |∇L|², or else changed the
    loss by no more than the two losses' measured rounding (where the line search read the slopes, eq. 9)."""
    L, g, t = np.array(hist.loss), np.array(hist.grad_norm), np.array(hist.step_size)
    rounding = np.array(hist.rounding)
    assert t.size == rounding.size == hist.steps and np.all(t > 0)
    assert np.all(np.isnan(rounding) | (rounding >= 16 * EPS * np.abs(L[:-1])))
    armijo = L[1:] <= L[:-1] - optim.ARMIJO_C * t * g[:-1] ** 2
    assert np.all(armijo | (np.abs(L[1:] - L[:-1]) <= rounding)), hist.loss
    assert armijo[0]  # far from a minimum, the losses tell the decrease


#: Log-cosh regression plus a constant that cancels: (C + log cosh r) − C rounds at eps·C, far above 16 eps·L.
CANCELLING = '''"""Log-cosh regression written as (C + log cosh r) - C: its rounding is eps C, whatever the loss."""

import numpy as np
from array_api_compat import array_namespace

TARGET = "real"
C = 1e4


def init(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(())}


def predict(params, X):
    return X @ params["w"] + params["b"]


def loss(params, X, y):
    xp = array_namespace(X, y)
    r = X @ params["w"] + params["b"] - y
    return xp.mean((C + (xp.logaddexp(r, -r) - xp.log(xp.asarray(2.0, dtype=r.dtype)))) - C)


def grad(params, X, y):
    s = np.tanh(X @ params["w"] + params["b"] - y) / X.shape[0]
    return {"w": X.T @ s, "b": np.asarray(np.sum(s))}


def hessian(params, X, y):
    s = 1 / np.cosh(X @ params["w"] + params["b"] - y) ** 2 / X.shape[0]
    Xt = np.hstack([X, np.ones((X.shape[0], 1))])
    return Xt.T @ (s[:, None] * Xt)
'''


def test_a_loss_whose_rounding_is_far_above_eps_times_its_value_still_converges(tmp_path):
    """(C + log cosh r) − C carries a rounding of about eps·C = 2e-12 at a loss of 0.3. Taking 16 eps·L for
    the losses' rounding reads that noise as a rise wherever it happens to rise: the line search halved a
    good step to nothing and stalled at a gradient of 9e-8, and Newton, on 3 of these 5 data sets, ran to
    its step limit. Measured by an extended-precision run, the rounding is seen: the line search lets the
    slopes decide (eq. 9), changing the loss by no more than the rounding it measured, and Newton takes
    the full step."""
    path = tmp_path / "cancelling.py"
    path.write_text(CANCELLING)
    m = load_model(str(path))
    X, y, _ = synthetic(m, n=200, d=3, seed=0)
    _, hist = optim.gd_linesearch(m, X, y, tol=1e-10)
    assert hist.stop_reason == "converged" and hist.steps <= 40, hist.message
    _armijo_holds(hist)
    assert np.nanmin(hist.rounding) > 100 * 16 * EPS * hist.loss[-1]  # the slopes decided, at the real rounding
    for seed in range(5):
        X, y, _ = synthetic(m, n=200, d=3, seed=seed)
        _, hist = optim.newton(m, X, y, tol=1e-13)
        assert hist.stop_reason == "converged" and hist.steps <= 12, (seed, hist.message)


def _check_grad(m, X, y, params) -> None:
    """The user file's hand gradient against central differences (it is the test's own input)."""
    theta, h = flatten(params), 1e-6
    num = np.array([(m.loss(unflatten(theta + h * e, params), X, y) - m.loss(unflatten(theta - h * e, params), X, y))
                    / (2 * h) for e in np.eye(theta.size)])  # fmt: skip
    assert np.allclose(flatten(m.grad(params, X, y)), num, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", ["focal_loss", "tukey_biweight"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_new_loss_trains_by_default(tmp_path, name, seed):
    """A focal loss with no Hessian and a non-convex Tukey biweight, each a user file, train with fit's
    defaults to a gradient norm at tol: by a line search whose every step meets the Armijo condition, since
    neither has a bound on its curvature valid everywhere. The point reached is a minimum: no nearby point
    along a coordinate is lower."""
    m = user_losses.user_model(tmp_path, name)
    X, y, _ = synthetic(m, n=200, d=3, seed=seed)
    _check_grad(m, X, y, {"w": np.array([0.3, -0.2, 0.5]), "b": np.asarray(0.1)})
    assert not optim.has_global_bound(m, X, y)
    params, hist = fit(m, X, y)
    assert hist.stop_reason == "converged" and hist.grad_norm[-1] <= 1e-8, hist.message
    assert hist.steps <= 100 and "line search" in hist.message
    _armijo_holds(hist)
    theta, L = flatten(params), hist.loss[-1]
    for e in np.eye(theta.size):
        for s in (1e-3, -1e-3):
            assert m.loss(unflatten(theta + s * e, params), X, y) >= L


def test_the_line_search_steps_are_at_least_half_of_one_over_L():
    """On least squares (L exact and global) every accepted step is at least min(first trial, 1/(2L)):
    each t ≤ 1/L meets the Armijo condition (the descent lemma), so halving stops by 1/(2L). With c = 1/2
    the condition on a quadratic reads t ≤ |g|²/gᵀHg, so no step is longer than 1/μ (μ = λ_min(H))."""
    m = get("multivariate_linear_regression")
    X, y, _ = synthetic(m, n=100, d=3, seed=3)
    X = X * np.array([10.0, 1.0, 0.5])  # L about 200: the first trial, 1, is far too long
    mu, L = np.linalg.eigvalsh(m.module.hessian(m.init(3), X, y))[[0, -1]]
    assert L == pytest.approx(float(lipschitz(m, X, y))) and L > 100
    _, hist = optim.gd_linesearch(m, X, y, steps=20_000, tol=1e-9)
    assert hist.stop_reason == "converged", hist.message
    _armijo_holds(hist)
    assert min(hist.step_size) >= 1 / (2 * L) and max(hist.step_size) <= 1 / mu


def test_the_line_search_never_diverges_where_a_fixed_step_does(tmp_path):
    """Poisson regression's curvature e^z grows along the path: 1/L from the Hessian at the start diverges
    on this data, and the default (the line search, as Poisson has no global bound) converges."""
    m = get("poisson_regression")
    X, y, _ = synthetic(m, n=200, d=3, seed=1)
    assert not optim.has_global_bound(m, X, y)
    with pytest.raises(DivergedError):
        fit(m, X, y, lr=safe_lr(m, X, y), steps=200)
    _, hist = fit(m, X, y)
    assert hist.stop_reason == "converged", hist.message
    _armijo_holds(hist)


#: The negated mean squared error, −(1/n)|r|², and its gradient −(2/n)X̃ᵀr: a maximum where r = 0.
NEGATED = (MLR_SOURCE[: MLR_SOURCE.index("def hessian(")].replace("return xp.mean(r * r)", "return -xp.mean(r * r)")
           .replace("(2.0 / n) * g", "(-2.0 / n) * g"))  # fmt: skip


def test_a_flat_start_is_not_reported_as_converged(tmp_path):
    """A gradient exactly 0 at the start stops every method at once. It is reported as a flat start when
    the loss is the same nearby (Tukey with every residual beyond c) or lower nearby (the top of a negated
    square), and as converged only where the loss rises around it (a least-squares fit that is exact)."""
    tukey = user_losses.user_model(tmp_path, "tukey_biweight")
    X, y, _ = synthetic(tukey, n=50, d=2, seed=0)
    far = y + 100.0  # every residual at w = 0, b = 0 is beyond c = 4.685
    assert optim.grad_norm(tukey.grad(tukey.init(2), X, far)) == 0
    for kw in ({}, {"lr": 0.1}, {"optimizer": "newton"}):
        params, hist = fit(tukey, X, far, **kw)
        assert hist.steps == 0 and hist.stop_reason.startswith(optim.FLAT_START), hist.message
        assert "plateau" in hist.message and "converged" not in hist.message
    assert fit(tukey, X, y)[1].stop_reason == "converged"  # from the same start, on y, it descends

    assert NEGATED.count("-xp.mean(r * r)") == 1 and NEGATED.count("(-2.0 / n) * g") == 2
    top = _user_model(tmp_path, "negated_square", NEGATED)
    _, hist = fit(top, X, X @ np.zeros(2), lr=0.1)  # r = 0 at the start: the top of -r²
    assert hist.steps == 0 and hist.stop_reason.startswith(optim.FLAT_START) and "not a minimum" in hist.message

    mlr = get("multivariate_linear_regression")
    _, hist = fit(mlr, X, np.zeros(len(X)))  # y = 0 is fitted exactly at the start, a true minimum
    assert hist.steps == 0 and hist.stop_reason == "converged"


def test_a_divergence_on_poisson_does_not_call_the_start_bound_stable():
    """Poisson's 2/L comes from the Hessian at the start, and the path reaches more curved ground: a run
    that diverges is not told that a stable rate is below it, but to lower the rate or use the line search."""
    m = get("poisson_regression")
    X, y, _ = synthetic(m, n=200, d=3, seed=0)
    bound = stable_lr(m, X, y)
    for lr, why in ((0.5 * bound, "the curvature grows along the path"), (3 * bound, "2/L at the start is")):
        with pytest.raises(DivergedError) as e:
            fit(m, X, y, lr=lr, steps=200)
        msg = str(e.value)
        assert "stable learning rate" not in msg and why in msg and "the default, a line search for gd" in msg

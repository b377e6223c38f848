"""The rounding interpreter's programs were made smaller (exact values carry no error arrays, rules
with fewer operations); the bounds they compute must be the same numbers. Every model's, layer's and
network's witness program, and a user's losses, are bounded by lab/verify/measure/rounding.py and by
the interpreter as it was (tests/rounding_before.py), both compiled as the verifier compiles them, at
ordinary and extreme scales, and their values and bounds compared bit for bit (a zero's sign aside).
So are a few programs that meet infinities and NaNs, where the rules' 0·∞ arguments matter."""

import numpy as np
import pytest

import rounding_before as before
from lab import layer, model as registry, net
from lab.verify.measure import rounding
from lab.verify.measure.autodiff import Witness
from lab.verify.runtime.jax_config import jax, jnp
from lab.verify.runtime.programs import COMPILE_OPTIONS
from lab.verify.search.cases import EXTREME, ORDINARY, every_shape
from user_losses import user_model

pytestmark = pytest.mark.slow  # compiles two programs per model and scale: minutes in all


def _compiled(f, args):
    return jax.jit(f).trace(*args).lower().compile(COMPILE_OPTIONS)(*args)


def _same(new, old, what: str) -> None:
    for a, b in zip(jax.tree_util.tree_leaves(new), jax.tree_util.tree_leaves(old), strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype, what
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        assert np.all(same), f"{what}: {np.count_nonzero(~same)} entries differ, e.g. {a[~same][:3]} vs {b[~same][:3]}"


def _both(f, *args) -> None:
    args = [jnp.asarray(a) for a in args]
    _same(_compiled(rounding.bounded(f), args), _compiled(before.bounded(f), args), getattr(f, "__name__", "f"))


def _witness_programs_agree(m, scales) -> None:
    w = Witness(m)
    for batch, _ in every_shape(m, scales)[:1]:
        args = jax.device_put(w._arrays(list(batch)[:4], 4))
        w._decide_sequential(args)
        for interp in (rounding, before):
            if w.sequential:
                interp.program = lambda *a, i=interp: jax.lax.map(lambda x: i.bounded(w._witnesses)(*x), a)
            else:
                interp.program = lambda *a, i=interp: i.bounded(jax.vmap(w._witnesses))(*a)
        _same(_compiled(rounding.program, args), _compiled(before.program, args), m.name)


NAMES = registry.names() + layer.names() + net.names()


@pytest.mark.parametrize("scales", [ORDINARY, EXTREME], ids=["ordinary", "extreme"])
@pytest.mark.parametrize("name", NAMES)
def test_the_bounds_are_the_same_as_before(name, scales):
    m = registry.load(name)
    _witness_programs_agree(m, scales)


@pytest.mark.parametrize("name", ["focal_loss", "tukey_biweight"])
def test_a_users_losses_have_the_same_bounds_as_before(name, tmp_path):
    _witness_programs_agree(user_model(tmp_path, name), EXTREME)


SPECIAL = np.array([0.0, -0.0, 1.0, -2.5, 1e-310, 1e308, -1e308, np.inf, -np.inf, np.nan, 0.1, 3.0])


def _grid():
    a = np.repeat(SPECIAL, SPECIAL.size)
    b = np.tile(SPECIAL, SPECIAL.size)
    return a, b


@pytest.mark.parametrize(
    "f",
    [
        lambda a, b: [a + b, a - b, a * b, a / b, jnp.maximum(a, b)],
        lambda a, b: [(a * 1.1) + b, (a * 1.1) * b, (a * 1.1) / b, b / (a * 1.1), (a * 1.1) - 2.0],
        lambda a, b: [a / 0.8, 2.0 * a, a * jnp.inf, a + 1.0, (a * 1.1) / 3.0, (a * 1.1) * 0.0, (a * 1.1) * -0.0],
        lambda a, b: [jnp.exp(a), jnp.log(a), jnp.log1p(a), jnp.tanh(a), jax.nn.sigmoid(a), jnp.sqrt(a)],
        lambda a, b: [jnp.exp(a * 1.1), jnp.log(a * 1.1), jnp.sqrt(a * 1.1), a**2, a**-2, (a * 1.1) ** 3],
        lambda a, b: [jax.lax.rsqrt(a), jax.lax.rsqrt(a * 1.1), jnp.expm1(a), jax.scipy.special.erf(a * 1.1)],
        lambda a, b: [jnp.sum(a * b), jnp.sum(a), jnp.cumsum(a * 1.1), jnp.max(a * 1.1), a @ b, (a * 1.1) @ b],
        lambda a, b: [jnp.outer(a, b) @ (b * 1.1), jnp.where(a > b, a * 1.1, b), jnp.sort(a * b), jnp.abs(-a * b)],
        lambda a, b: [jnp.concatenate([a, a * 1.1]), jnp.pad(a * 1.1, 2, constant_values=1.0), (a * 1.1)[::-1]],
        lambda a, b: [jnp.clip(a * 1.1, -1.0, 1.0), a**0.0, (a * 1.1) ** 0, jnp.square(a), jnp.square(a * 1.1)],
    ],
)
def test_infinities_and_nans_give_the_same_bounds_as_before(f):
    _both(f, *_grid())


def test_gradients_through_masks_give_the_same_bounds_as_before():
    def f(x, w):
        d = (x[:, None] - x[None, :]) ** 2
        rows = jnp.arange(x.shape[0])
        z = jnp.where(rows[:, None] == rows[None, :], -jnp.inf, -d * w[0])
        z = z - jnp.max(z, axis=1, keepdims=True)
        p = jnp.exp(z) / jnp.sum(jnp.exp(z), axis=1, keepdims=True)
        return jnp.sum(p[:, 0] * jnp.log(p[:, 1] + 1e-300))

    x, w = np.array([0.3, -1.0, 2.0, 0.5, 1e200]), np.array([1.5])
    _both(jax.value_and_grad(f, argnums=(0, 1)), x, w)
    _both(lambda x, w: jax.jvp(lambda v: f(v, w), (x,), (x * 0.5,)), x, w)

"""The rounding rules and the referee on the primitives that network layers bring: rsqrt, erf, erfc,
pooling (reduce_window_sum and _max, select_and_scatter_add, select_and_gather_add), conv_general_dilated,
and the older rules on layer-style programs (scatter-add with repeated ids, dot_general with batch
dimensions, cumsum, cummax, argmax, clamp, custom_jvp_call, nested jit, integer_pow, logistic).

Each layer's gradient of ⟨dout, forward⟩, its jvp and its forward are compiled with their bounds, as
the verifier compiles them, and every entry must lie within its bound of the referee (which takes
float64's decisions), on random inputs: ordinary, with ties and exact zeros, of wide range, huge, tiny.
"""

import math

import numpy as np
import pytest

from lab.verify.measure import rounding
from lab.verify.measure.referee import audit, breaches, exact_gradient, exact_loss
from lab.verify.measure.rounding import bounded
from lab.verify.runtime.jax_config import jax, jnp
from lab.verify.runtime.programs import COMPILE_OPTIONS

lax = jax.lax
B, T, C = 2, 7, 3


def _compile(f, *args):
    """``bounded(f)`` compiled as the verifier compiles it."""
    return jax.jit(bounded(f)).trace(*args).lower().compile(COMPILE_OPTIONS)


# -- the layers: forward(p, ids) with p a dict holding x ------------------------------------------


def maxpool(p, ids):
    """Overlapping windows (3, stride 2) over T, padded: ties go to the first maximum."""
    return lax.reduce_window(p["x"], -jnp.inf, lax.max, (1, 3, 1), (1, 2, 1), "SAME")


def maxpool2d(p, ids):
    return lax.reduce_window(p["x"], -jnp.inf, lax.max, (1, 3, 2), (1, 2, 1), "VALID")


def avgpool(p, ids):
    return lax.reduce_window(p["x"], 0.0, lax.add, (1, 3, 2), (1, 2, 1), ((0, 0), (1, 1), (0, 1))) / 6.0


def conv1d(p, ids):
    """(B, T, C) by a (3, C, 4) kernel: stride 2, padding (2, 1), kernel dilation 2, and a bias."""
    y = lax.conv_general_dilated(
        p["x"], p["w"], (2,), [(2, 1)], rhs_dilation=(2,), dimension_numbers=("NWC", "WIO", "NWC")
    )
    return y + p["b"]


def depthwise(p, ids):
    """One kernel per feature (feature_group_count = C): its weight gradient has batch_group_count = C."""
    return lax.conv_general_dilated(
        p["x"], p["d"], (1,), [(1, 1)], dimension_numbers=("NWC", "WIO", "NWC"), feature_group_count=C
    )


def layernorm(p, ids):
    x = p["x"]
    m = jnp.mean(x, -1, keepdims=True)
    v = jnp.mean((x - m) ** 2, -1, keepdims=True)
    return (x - m) * lax.rsqrt(v + 1e-5) * p["g"] + p["b"]


def gelus(p, ids):
    """Exact GELU by erf, jax.nn.gelu exact (erfc) and tanh, and relu (custom_jvp_call), at exact zeros too."""
    x = p["x"]
    erf_gelu = 0.5 * x * (1.0 + jax.scipy.special.erf(x / jnp.sqrt(2.0)))
    return erf_gelu + jax.nn.gelu(x, approximate=False) + jax.nn.gelu(x) + jax.nn.relu(x)


def embedding(p, ids):
    """Rows of W by id, ids repeated: the gradient is a scatter-add onto the repeated rows."""
    return p["W"][ids] * p["x"]


def attention(p, ids):
    """Causal single-head attention: dot_general with a batch dimension, a −inf mask, softmax."""
    x = p["x"]
    q, k, v = x @ p["q"], x @ p["k"], x @ p["v"]
    s = jnp.einsum("btc,bsc->bts", q, k) / math.sqrt(C)
    s = jnp.where(jnp.tril(jnp.ones((T, T), bool)), s, -jnp.inf)
    return jnp.einsum("bts,bsc->btc", jax.nn.softmax(s, axis=-1), v)


def dropout(p, ids):
    """A fixed mask from a seed: PRNG keys pass through the referee, random bits read as floats are exact."""
    keep = jax.random.bernoulli(jax.random.key(0), 0.8, p["x"].shape)
    return jnp.where(keep, p["x"] / 0.8, 0.0)


@jax.jit
def _inner(x):
    return jax.nn.sigmoid(x) * x**3


def misc(p, ids):
    """cumsum, cummax, reduce_max (ties split), argmax, clamp, stop_gradient, a nested jit with logistic and
    integer_pow."""
    x = p["x"]
    top = jnp.take_along_axis(x, jnp.argmax(x, axis=-1)[..., None], axis=-1)
    c = lax.clamp(-0.5, x, 0.5)
    peak = jnp.max(x, axis=-1, keepdims=True)
    return jnp.cumsum(x, 1) + lax.cummax(x, 1) + top * c + lax.stop_gradient(x) * x + _inner(x) + peak


LAYERS = {
    "maxpool": (maxpool, {}),
    "maxpool2d": (maxpool2d, {}),
    "avgpool": (avgpool, {}),
    "conv1d": (conv1d, {"w": (3, C, 4), "b": (4,)}),
    "depthwise": (depthwise, {"d": (3, 1, C)}),
    "layernorm": (layernorm, {"g": (C,), "b": (C,)}),
    "gelus": (gelus, {}),
    "embedding": (embedding, {"W": (5, C)}),
    "attention": (attention, {"q": (C, C), "k": (C, C), "v": (C, C)}),
    "dropout": (dropout, {}),
    "misc": (misc, {}),
}

#: How x is drawn: ordinary; ties and exact zeros; a wide range in one array; huge; tiny.
REGIMES = {
    "ordinary": lambda rng, s: rng.normal(size=s),
    "ties": lambda rng, s: rng.integers(-2, 3, size=s) * 0.5,
    "wide": lambda rng, s: rng.normal(size=s) * 10.0 ** rng.uniform(-8, 8, s),
    "huge": lambda rng, s: rng.normal(size=s) * 1e100,
    "tiny": lambda rng, s: rng.normal(size=s) * 1e-150,
}


def _draw(layer, regime, seed):
    rng = np.random.default_rng(seed)
    f, shapes = LAYERS[layer]
    params = {"x": REGIMES[regime](rng, (B, T, C))}
    params.update({k: rng.normal(size=s) for k, s in shapes.items()})
    ids = np.concatenate([[1, 1], rng.integers(0, 5, B * T - 2)]).reshape(B, T).astype(np.float64)  # a repeat
    dout = rng.normal(size=jax.eval_shape(lambda q: f(q, ids.astype(int)), params).shape)
    tangent = {k: rng.normal(size=np.shape(v)) for k, v in params.items()}
    return params, dout, ids, tangent


def _programs(layer):
    """⟨dout, forward⟩, its jvp along the tangent and the forward, in the referee's loss(p, X, y, **hyper) form:
    X is dout, y the ids (as floats), the tangent a hyperparameter per parameter."""
    f = LAYERS[layer][0]

    def pairing(p, X, y):
        return jnp.sum(X * f(p, y.astype(jnp.int32)))

    def jvp(p, X, y, **t):
        return jax.jvp(lambda q: f(q, y.astype(jnp.int32)), (p,), ({k: t["t_" + k] for k in p},))[1]

    def forward(p, X, y):
        return f(p, y.astype(jnp.int32))

    return pairing, jvp, forward


@pytest.mark.parametrize("layer", list(LAYERS))
def test_layer_bounds_hold(layer):
    rounding.approximated.clear()
    pairing, jvp, forward = _programs(layer)

    def witness(p, X, y, t):
        return jax.grad(pairing)(p, X, y), jvp(p, X, y, **t), forward(p, X, y)

    held = total = entries = 0
    worst = 0.0
    found = []
    program = None
    for regime in REGIMES:
        for seed in range(2):
            params, dout, ids, tangent = _draw(layer, regime, seed)
            hyper = {"t_" + k: v for k, v in tangent.items()}
            args = [params, dout, ids, hyper]
            if program is None:
                program = _compile(witness, *args)
            (g, j, out), (eg, ej, eout) = jax.tree_util.tree_map(np.asarray, program(*args))
            checks = [
                (g, eg, exact_gradient(pairing, params, dout, ids, branches="float64")),
                (j, ej, exact_loss(jvp, params, dout, ids, hyper, branches="float64")),
                (out, eout, exact_loss(forward, params, dout, ids, branches="float64")),
            ]
            for values, bounds, ex in checks:
                a = audit(values, bounds, ex)
                held, total, worst = held + a.held, total + a.total, max(worst, a.worst_ratio)
                entries += sum(np.size(v) for v in jax.tree_util.tree_leaves(values))
                found += [f"{regime} seed {seed}: {b}" for b in breaches(values, bounds, ex)]
    print(f"{layer}: bound held at {held} of {total} audited entries of {entries} (worst error/bound {worst:.3g})")
    assert not rounding.approximated, rounding.approximated
    assert held == total, "\n".join(found[:10])
    assert total >= 0.6 * entries  # not vacuous: most bounds finite (huge inputs may overflow)


# -- one primitive on exact inputs --------------------------------------------------------------


def _log_uniform(rng, lo, hi, k, sign=1.0):
    return sign * np.exp(rng.uniform(np.log(lo), np.log(hi), k))


def _kernels():
    rng = np.random.default_rng(0)
    k = 1500
    return {
        "rsqrt": (lax.rsqrt, np.concatenate([_log_uniform(rng, 1e-300, 1e300, k), rng.uniform(0.5, 4, k)])),
        "erf": (
            jax.scipy.special.erf,
            np.concatenate([rng.uniform(-7, 7, k), _log_uniform(rng, 1e-300, 1, k, -1.0), rng.uniform(0.3, 1.5, k)]),
        ),
        "erfc": (
            lax.erfc,
            np.concatenate(
                [
                    rng.uniform(-7, 28, k),
                    rng.uniform(0.4, 1.1, k),
                    rng.uniform(16, 27, k),
                    -_log_uniform(rng, 1e-9, 1, k),
                ]
            ),
        ),
    }


KERNELS = _kernels()


@pytest.mark.parametrize("name", list(KERNELS))
def test_each_new_rule_bounds_its_compiled_kernel(name):
    f, x = KERNELS[name]
    values, bounds = (np.asarray(a) for a in _compile(f, x)(x))
    ex = exact_loss(lambda p, X, y: f(p["x"]), {"x": x}, np.zeros((1, 1)), np.zeros(1))
    a = audit(values, bounds, ex)
    print(f"{name}: bound held at {a.held} of {a.total} entries (worst error/bound {a.worst_ratio:.3g})")
    assert a.held == a.total, "\n".join(breaches(values, bounds, ex)[:5])
    assert a.total >= 0.99 * x.size


def test_rsqrt_of_a_subnormal_has_no_finite_bound():
    """XLA reads a subnormal as 0: rsqrt gives inf where the real value is finite."""
    x = np.array([4e-320, 0.0, 4.0])
    values, bounds = (np.asarray(a) for a in _compile(lax.rsqrt, x)(x))
    assert np.isinf(values[0]) and np.isinf(bounds[0])
    assert values[2] == 0.5 and bounds[2] < 1e-15


# -- decisions at ties ---------------------------------------------------------------------------


def _tied(p, X, y):
    """A window that float64 sees tied (1 + 2⁻⁶⁰ rounds to 1) and the real numbers do not."""
    z = p["x"] + X[0]
    return lax.reduce_window(z, -jnp.inf, lax.max, (2,), (2,), "VALID")


def test_pooling_ties_replay_float64_or_decide_in_the_reals():
    params, X, y = {"x": np.array([1.0, 1.0])}, np.array([[0.0, 2.0**-60]]), np.zeros(1)
    dout = lambda p, X, y: jnp.sum(_tied(p, X, y) * 3.0)  # noqa: E731
    jvp = lambda p, X, y: jax.jvp(lambda q: _tied(q, X, y), (p,), ({"x": jnp.array([5.0, 7.0])},))[1]  # noqa: E731
    auto = jax.jit(jax.grad(dout))(params, X, y)["x"]
    assert list(auto) == [3.0, 0.0]  # float64: a tie, the first entry selected
    assert list(exact_gradient(dout, params, X, y, branches="float64").value["x"]) == [3.0, 0.0]
    assert list(exact_gradient(dout, params, X, y).value["x"]) == [0.0, 3.0]  # the real maximum is the second
    assert float(jax.jit(jvp)(params, X, y)[0]) == 5.0
    assert float(exact_loss(jvp, params, X, y, branches="float64").value[0]) == 5.0
    assert float(exact_loss(jvp, params, X, y).value[0]) == 7.0


# -- primitives without a rule -------------------------------------------------------------------


def test_a_window_reduced_by_a_program_of_its_own_is_named_and_refereed():
    """lax.reduce_window with a product: no rounding rule (named, no traceback), and the referee folds it."""
    rounding.approximated.clear()
    x = np.array([[0.5, -1.25, 2.0, 3.0, 0.1]])

    def f(x):
        return lax.reduce_window(x, 1.0, lax.mul, (1, 2), (1, 1), "VALID")

    values, _ = _compile(f, x)(x)
    assert "reduce_window" in rounding.approximated
    ex = exact_loss(lambda p, X, y: f(p["x"]), {"x": x}, np.zeros((1, 1)), np.zeros(1))
    assert np.all(np.abs(ex.value - np.asarray(values)) <= 1e-15 * np.abs(ex.value))


# -- what XLA computes otherwise than the jaxpr says ----------------------------------------------

REWRITTEN = {
    "x / 0.8": lambda x, y: x / 0.8,  # as x · fl(1/0.8): dropout's scaling
    "x / √y": lambda x, y: x / jnp.sqrt(y),  # as x · rsqrt(y)
    "x / √2": lambda x, y: x / jnp.sqrt(2.0),  # √2 folded, then as x · fl(1/√2)
    "x / e^y": lambda x, y: x / jnp.exp(y),
}


@pytest.mark.parametrize("name", list(REWRITTEN))
def test_divisions_xla_rewrites_keep_their_bound(name):
    """XLA turns a division by a constant into a product by its rounded reciprocal: two roundings."""
    f = REWRITTEN[name]
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=3000), rng.uniform(0.1, 10, 3000)
    values, bounds = (np.asarray(a) for a in _compile(f, x, y)(x, y))
    if name == "x / 0.8":
        assert np.any(values != x / 0.8)  # not the correctly rounded quotient
    ex = exact_loss(lambda p, X, y: f(p["x"], p["y"]), {"x": x, "y": y}, np.zeros((1, 1)), np.zeros(1))
    a = audit(values, bounds, ex)
    print(f"{name}: bound held at {a.held} of {a.total} entries (worst error/bound {a.worst_ratio:.3g})")
    assert a.held == a.total == x.size, "\n".join(breaches(values, bounds, ex)[:5])

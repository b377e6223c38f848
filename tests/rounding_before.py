"""The rounding interpreter as it was before its programs were made smaller (lab/verify/measure/rounding.py
at c956a0b), kept unchanged as the reference that tests/test_rounding_same.py holds the new one to: the
same bounds, bit for bit.

Its own docstring follows.

Rounding-error bounds for a JAX computation, by running error analysis.

``bounded(f)`` turns ``f`` into a function that returns ``f``'s outputs and,
for every output entry, a bound on how far its float64 value can sit from the
exact real-number result of the same program. The program is read as a jaxpr
(so it is the very computation ``jax.grad`` or ``jax.jvp`` builds) and each
primitive carries an error along with its value, by the standard model of
floating-point arithmetic, fl(a ∘ b) = (a ∘ b)(1 + δ) + η with |δ| ≤ u = 2⁻⁵³
and |η| ≤ 2⁻¹⁰²² (results below the smallest normal number may be flushed to
zero, as XLA does on the CPU); below, "u|c|" stands for u|c| + η:

    add, sub     e = e_a + e_b + u|c|   (no u|c| where TwoSum shows fl(a ± b) exact, as 2.0 − 1.0)
    mul          e = |a| e_b + |b| e_a + e_a e_b + u|c|
    div          e = (e_a + |c| e_b) / (|b| − e_b) + 2u|c|   (XLA computes a / const as a · fl(1/const))
    sum of m     e = Σ e_i + γ_{m−1} Σ |a_i|,        γ_k = k u / (1 − k u)
    dot over K   e = γ_K |A||B| + |A| E_B + E_A |B| + E_A E_B
    exp          e = |c| (e^{e_a} − 1) + c_f u |c|
    log          e = −log(1 − e_a/|a|) + c_f u |c|
    tanh, σ      e = f'(a) e^{2 e_a} e_a + c_f u |c|
    rsqrt        e = e_a / (2 lo √lo) + c_f u |c|,   lo = a − e_a (the slope's largest value on the interval)
    erf, erfc    e = (2/√π) e^{−m²} e_a + c_f u |c|, m = max(|a| − e_a, 0) (likewise)
    windows      a window's sum as a sum of its m entries; its max as reduce_max; the max-pool
                 transposes (select_and_scatter_add, select_and_gather_add) as a scatter-add and a gather
    conv         e as for dot, K = the entries of one output's kernel (input features × kernel window)
    pow (float)  e = max |x^y − c| over x ± e_x + |c| (e^{|log x| e_y} − 1) + c_f u |c|
                 (an integral y may have a negative base; an error on y there is ∞)

c_f = 4 allows a few ulps for the library's transcendental functions (16 for
tanh and the logistic function, whose XLA versions were measured 8 ulps off; 32 + 2a² for erfc,
measured up to a² ulps off in its tail). Shape
primitives move errors exactly as they move values. The verifier compares two
gradients within twice such a bound; see lab/verify/judge.py.

The bound is first order in the errors (terms of order u² are dropped except
where written) and it is a worst case: real errors are usually far smaller.
Primitives without a rule get a linearized estimate, |J e| + c_f u |c|, and are
named in ``approximated`` so a report can say the bound is not rigorous there
(a primitive whose results are all integers or booleans, such as i % 3, needs none: they are
exact, as the discrete ones are);
where that estimate is not finite (an infinite slope times a zero error, as for
x**0.5 at 0) the primitive is evaluated at the ends of the error interval. A rule
that meets 0·∞ gives ∞, never NaN: a NaN bound would silently pass every test. An infinite value
that comes from an infinite input (a −inf mask) is exact: −inf + 1 is −inf, and an exact operand adds
no error however large the other is; an overflow, from finite inputs, keeps an infinite bound.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from lab.verify.runtime.jax_config import jax, jnp

DropVar, Literal = jax.extend.core.DropVar, jax.extend.core.Literal

U = 2.0**-53  # unit roundoff of float64
ETA = 2.0**-1022  # smallest normal float64: XLA on the CPU flushes results below it to zero
C_F = 4.0  # ulps allowed for exp, log, log1p, ...
#: XLA's tanh (and the logistic built on it) is up to 8.1 ulps off near |z| ≈ 16 on the CPU
#: (measured on a dense grid of [−25, 25], jax 0.10.2); allow twice that.
C_TANH = 16.0
#: XLA's expm1 is up to 5.1 ulps off on the CPU (x = 0.00116; found by the referee's kernel test,
#: tests/test_referee.py, jax 0.10.2); allow 8.
C_EXPM1 = 8.0
#: XLA's log1p is up to 240 ulps off for x in (1 − √2, −0.354) on the CPU (the same test; 2.7 ulps for
#: x > 0); allow 512 on a margin around that range.
C_LOG1P_NEAR, LOG1P_NEAR = 512.0, (-0.45, -0.3)

#: XLA's erfc is up to 15 ulps off near 1 and about a² ulps in its tail (512 at a = 26, where it computes
#: e^{−a²} from a rounded a²; measured by tests/test_layer_primitives.py, jax 0.10.2): allow twice that.
C_ERFC, C_ERFC_TAIL = 32.0, 2.0

#: Primitive names met without a rule, across all calls (for the report).
approximated: set[str] = set()


def gamma(k):
    return k * U / (1.0 - k * U)


def _is_float(x) -> bool:
    return jnp.issubdtype(jnp.result_type(x), jnp.floating)


def _zero(x):
    """No error: exact inputs, and integer or boolean values (indices, masks)."""
    return jnp.zeros(jnp.shape(x), jnp.result_type(x) if _is_float(x) else jnp.float64)


def _round(c, inputs=()):
    """u|c| + η; but nothing where c is infinite because an input is (−inf + 1 is −inf exactly: a mask,
    not an overflow; an input that overflowed carries an infinite error of its own)."""
    r = U * jnp.abs(c) + ETA
    if inputs:
        r = jnp.where(jnp.isinf(c) & _any_inf(inputs), 0.0, r)
    return r


def _any_inf(xs):
    out = False
    for x in xs:
        out = out | jnp.isinf(x)
    return out


def _times(size, err):
    """|a|·e_b, where an exact operand (e_b = 0) adds nothing however large |a| is (−inf · 0 error)."""
    return jnp.where(err == 0, 0.0, size * err)


def _lib(c, ulps=C_F):
    return ulps * U * jnp.abs(c) + ETA


# -- rules: each takes (values, errors, outputs, params) and returns output errors --


#: Below this size a summand's last bit is below 2⁻¹⁰²², where XLA flushes: its rounding error may be lost.
_TWO_SUM_MIN = 2.0**-969


def _sum_rounding(a, b, c):
    """The rounding of c = fl(a + b): none where it is exact (2.0 − 1.0), else u|c| + η.

    Exactness is read off Knuth's TwoSum, which computes a + b − c without error in round-to-nearest
    (XLA does not reassociate float arithmetic) when every summand's last bit is a normal number.
    A smaller summand (zero, or a subnormal that XLA reads as zero) may be lost: η, no less.
    """
    bb = c - a
    exact = jnp.isfinite(c) & ((a - (c - bb)) + (b - bb) == 0)
    normal = (jnp.abs(a) >= _TWO_SUM_MIN) & (jnp.abs(b) >= _TWO_SUM_MIN)
    return jnp.where(exact, jnp.where(normal, 0.0, ETA), _round(c, (a, b)))


def _add(v, e, c, p):
    return e[0] + e[1] + _sum_rounding(v[0], v[1], c)


def _sub(v, e, c, p):
    return e[0] + e[1] + _sum_rounding(v[0], -v[1], c)


def _mul(v, e, c, p):
    a, b = v
    return _times(jnp.abs(a), e[1]) + _times(jnp.abs(b), e[0]) + e[0] * e[1] + _round(c, v)


def _div(v, e, c, p):
    # two roundings, not one: XLA rewrites a / b as a · fl(1/b) where b is a constant (x / 0.8, x / √2
    # folded) and a / √b as a · rsqrt(b) (measured: 1.5 u|c| off for x / 0.8)
    b = jnp.abs(v[1])
    ok = b > e[1]
    return (
        jnp.where(ok, (e[0] + jnp.abs(c) * e[1]) / jnp.where(ok, b - e[1], 1.0), jnp.inf) + _round(c) + U * jnp.abs(c)
    )


def _same(v, e, c, p):
    return e[0]


def _maxmin(v, e, c, p):
    return jnp.maximum(e[0], e[1])


def _exp(v, e, c, p):
    return jnp.abs(c) * jnp.expm1(e[0]) + _lib(c)


def _expm1(v, e, c, p):
    return jnp.abs(c + 1.0) * jnp.expm1(e[0]) + _lib(c, C_EXPM1)


def _exp2(v, e, c, p):
    # XLA computes 2^x as e^{x ln 2}: the rounding of x and ln 2 in x ln 2 grows the error by up to 2|x| ln 2 ulps
    # (700 ulps near |x| = 1000, the referee's kernel test)
    return jnp.abs(c) * jnp.expm1(math.log(2.0) * e[0]) + _lib(c, C_F + 2 * math.log(2.0) * jnp.abs(v[0]))


def _log(v, e, c, p):
    a = jnp.abs(v[0])
    r = jnp.where(a > e[0], e[0] / jnp.where(a > 0, a, 1.0), 1.0)
    return jnp.where(r < 1.0, -jnp.log1p(-jnp.minimum(r, 0.5)) * jnp.where(r < 0.5, 1.0, jnp.inf), jnp.inf) + _lib(c)


def _log1p(v, e, c, p):
    near = (v[0] > LOG1P_NEAR[0]) & (v[0] < LOG1P_NEAR[1])
    return _log([1.0 + v[0]], e, c, p) + jnp.where(near, _lib(c, C_LOG1P_NEAR), 0.0)


def _logistic(v, e, c, p):
    return c * (1.0 - c) * jnp.exp(e[0]) * e[0] + C_TANH * U * jnp.abs(c) + ETA


def _tanh(v, e, c, p):
    return (1.0 - c * c) * jnp.exp(2.0 * e[0]) * e[0] + C_TANH * U * jnp.abs(c) + ETA


def _sqrt(v, e, c, p):
    lo = jnp.maximum(v[0] - e[0], 0.0)
    return jnp.where(lo > 0, e[0] / (jnp.sqrt(lo) + jnp.abs(c)), jnp.sqrt(e[0])) + _round(c)


def _rsqrt(v, e, c, p):
    # the slope of a^{-1/2} is largest at the interval's low end: |Δ| ≤ e / (2 lo √lo). XLA reads a
    # subnormal a as 0 (rsqrt = inf), so one is taken as no lower than 0: an infinite bound. XLA's
    # rsqrt was measured 1.44 ulps off at most (1/√a, two roundings): c_f = 4.
    a = v[0]
    lo = jnp.where(a >= ETA, a - e[0], 0.0)
    ok = lo > 0
    slope = jnp.where(ok, jax.lax.rsqrt(jnp.where(ok, lo, 1.0)) / (2.0 * jnp.where(ok, lo, 1.0)), jnp.inf)
    return jnp.where(e[0] > 0, slope * e[0], jnp.where(a >= ETA, 0.0, jnp.inf)) + _lib(c)


def _erf_slope(v, e):
    """The largest |erf'| = (2/√π) e^{−t²} over [a − e_a, a + e_a], times e_a."""
    m = jnp.maximum(jnp.abs(v[0]) - e[0], 0.0)
    return 2.0 / math.sqrt(math.pi) * jnp.exp(-m * m) * e[0]


def _erf(v, e, c, p):
    # XLA's erf was measured 1.33 ulps off at most (tests/test_layer_primitives.py): c_f = 4
    return _erf_slope(v, e) + _lib(c)


def _erfc(v, e, c, p):
    tail = jnp.clip(v[0], 0.0, 32.0)  # erfc is 1 to 2 for a < 0, and 0 in float64 past 27
    return _erf_slope(v, e) + _lib(c, C_ERFC + C_ERFC_TAIL * tail * tail)


def _integer_pow(v, e, c, p):
    k = p["y"]
    a = jnp.abs(v[0]) + e[0]
    if k >= 0:
        return abs(k) * a ** (abs(k) - 1) * e[0] + abs(k) * _round(c)
    lo = jnp.maximum(jnp.abs(v[0]) - e[0], 0.0)
    return jnp.where(lo > 0, abs(k) * e[0] / lo, jnp.inf) * jnp.abs(c) + abs(k) * _round(c)


def _pow(v, e, c, p):
    """x**y for a float y: the change of the power over x's error interval, and over y's.

    Over x's interval [x − e_x, x + e_x] the power is monotone on either side of 0, so its ends bound
    it; an interval around 0 with y < 0 passes through a pole. A negative base has a real power only
    for an integral y, where the power is exact to compute; an error on y there leaves the real result
    undefined (∞). The library's pow is within one ulp (measured), c_f allowed as for exp.
    """
    x, y = v
    ex, ey = e
    integral = y == jnp.round(y)
    lo = jnp.where(integral, x - ex, jnp.maximum(x - ex, 0.0))  # a non-integral y needs x ≥ 0
    hi = x + ex
    spread = jnp.maximum(jnp.abs(jnp.power(lo, y) - c), jnp.abs(jnp.power(hi, y) - c))
    spread = jnp.where((ex > 0) & (y < 0) & (lo <= 0) & (hi >= 0), jnp.inf, jnp.where(ex > 0, spread, 0.0))
    ax = jnp.abs(x)
    through_y = jnp.where(
        x > 0,
        jnp.abs(c) * jnp.expm1(jnp.abs(jnp.log(jnp.where(x > 0, ax, 1.0))) * ey),
        jnp.where((x == 0) & (y - ey > 0), 0.0, jnp.inf),
    )
    return spread + jnp.where(ey > 0, through_y, 0.0) + _lib(c)


def _square(v, e, c, p):
    return 2.0 * jnp.abs(v[0]) * e[0] + e[0] * e[0] + _round(c)


def _reduce_sum(v, e, c, p):
    a = v[0]
    m = math.prod(a.shape[i] for i in p["axes"])
    s = jax.lax.reduce_sum_p.bind(jnp.abs(a), **p)
    return jax.lax.reduce_sum_p.bind(e[0], **p) + gamma(max(m - 1, 0)) * s + m * ETA


def _reduce_max(v, e, c, p):
    return jax.lax.reduce_max_p.bind(e[0], axes=p["axes"], out_sharding=p.get("out_sharding"))


def _cumsum(v, e, c, p):
    m = v[0].shape[p["axis"]]
    return jax.lax.cumsum(e[0], axis=p["axis"], reverse=p["reverse"]) + gamma(m) * jax.lax.cumsum(
        jnp.abs(v[0]), axis=p["axis"], reverse=p["reverse"]
    )


def _scatter_add(v, e, c, p):
    """Updates added into an operand at indices: a sum of at most m + 1 terms per entry, m the updates."""
    op, idx, upd = v
    m = math.prod(idx.shape[:-1]) + 1
    scatter = jax.lax.scatter_add_p.bind
    return scatter(e[0], idx, e[2], **p) + gamma(m) * scatter(jnp.abs(op), idx, jnp.abs(upd), **p) + m * ETA


def _dot_general(v, e, c, p):
    a, b = v
    (ca, _), _ = p["dimension_numbers"]
    k = math.prod(a.shape[i] for i in ca)
    dot = jax.lax.dot_general_p.bind
    aa, ab = jnp.abs(a), jnp.abs(b)
    return gamma(k) * dot(aa, ab, **p) + dot(aa, e[1], **p) + dot(e[0], ab, **p) + dot(e[0], e[1], **p) + 2 * k * ETA


def _cummax(v, e, c, p):
    # |max(a + δ) − max(a)| ≤ max |δ|, prefix by prefix
    return jax.lax.cummax(e[0], axis=p["axis"], reverse=p["reverse"])


def _reduce_window_sum(v, e, c, p):
    """A window's sum: a sum of m = ∏ window entries (padding and base dilation add exact zeros)."""
    m = math.prod(p["window_dimensions"])
    rws = jax.lax.reduce_window_sum_p.bind
    return rws(e[0], **p) + gamma(max(m - 1, 0)) * rws(jnp.abs(v[0]), **p) + m * ETA


def _reduce_window_max(v, e, c, p):
    # the largest error in the window; a window of padding only is −inf exactly (error 0, not −inf)
    return jnp.maximum(jax.lax.reduce_window_max_p.bind(e[0], **p), 0.0)


def _windows_per_entry(p) -> int:
    """How many windows can hold one entry: ∏ ⌈window / stride⌉."""
    return math.prod(-(-w // s) for w, s in zip(p["window_dimensions"], p["window_strides"], strict=True))


def _select_and_scatter_add(v, e, c, p):
    """Max pooling's transpose: each entry sums the k ≤ K windows that select it (as float64 selects:
    decisions are exact here, as for argmax), so e = Σ e_s + γ_K Σ |s|."""
    source, operand = v
    k = _windows_per_entry(p)
    sas = jax.lax.select_and_scatter_add_p.bind
    return sas(e[0], operand, **p) + gamma(k) * sas(jnp.abs(source), operand, **p) + k * ETA


def _select_and_gather_add(v, e, c, p):
    """Max pooling's jvp: the tangent at the entry float64 selects, moved without arithmetic."""
    return jax.lax.select_and_gather_add_p.bind(e[0], v[1], **p)


def _conv(v, e, c, p):
    """As dot: each output sums K products, K = the rhs's size over its output-feature dimension."""
    a, b = v
    rhs_out = p["dimension_numbers"].rhs_spec[0]
    k = math.prod(b.shape) // max(b.shape[rhs_out], 1)
    conv = jax.lax.conv_general_dilated_p.bind
    aa, ab = jnp.abs(a), jnp.abs(b)
    through = conv(aa, e[1], **p) + conv(e[0], ab, **p) + conv(e[0], e[1], **p)
    return gamma(k) * conv(aa, ab, **p) + through + 2 * k * ETA


def _discrete(v, e, c, p):
    return None


#: Rules that can meet 0·∞ or ∞ − ∞ when a value or an error is infinite.
_CAN_BE_NAN = {
    _mul,
    _div,
    _exp,
    _expm1,
    _exp2,
    _log,
    _log1p,
    _logistic,
    _tanh,
    _sqrt,
    _integer_pow,
    _pow,
    _square,
    _dot_general,
    _rsqrt,
    _erf,
    _erfc,
    _reduce_window_sum,
    _select_and_scatter_add,
    _conv,
}


RULES: dict[str, Callable] = {
    "add": _add,
    "sub": _sub,
    "add_any": _add,
    "mul": _mul,
    "div": _div,
    "neg": _same,
    "abs": _same,
    "copy": _same,
    "copy_p": _same,
    "real": _same,
    "reduce_precision": _same,
    "optimization_barrier": _same,
    "max": _maxmin,
    "min": _maxmin,
    "exp": _exp,
    "expm1": _expm1,
    "exp2": _exp2,
    "log": _log,
    "log1p": _log1p,
    "logistic": _logistic,
    "tanh": _tanh,
    "sqrt": _sqrt,
    "integer_pow": _integer_pow,
    "pow": _pow,
    "square": _square,
    "reduce_sum": _reduce_sum,
    "reduce_max": _reduce_max,
    "reduce_min": _reduce_max,
    "cumsum": _cumsum,
    "dot_general": _dot_general,
    "scatter-add": _scatter_add,
    "scatter_add": _scatter_add,
    "rsqrt": _rsqrt,
    "erf": _erf,
    "erfc": _erfc,
    "cummax": _cummax,
    "cummin": _cummax,
    "reduce_window_sum": _reduce_window_sum,
    "reduce_window_max": _reduce_window_max,
    "reduce_window_min": _reduce_window_max,
    "select_and_scatter_add": _select_and_scatter_add,
    "select_and_gather_add": _select_and_gather_add,
    "conv_general_dilated": _conv,
}
for _name in (
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "sign",
    "floor",
    "ceil",
    "round",
    "is_finite",
    "and",
    "or",
    "not",
    "xor",
    "iota",
    "argmax",
    "argmin",
    "stop_gradient",
    "bitcast_convert_type",  # random bits read as a float (dropout's uniform draw): exact
):
    RULES[_name] = _discrete
# stop_gradient is absent from jaxprs (it becomes identity); errors still flow through it
RULES["stop_gradient"] = _same

#: Primitives that move values without arithmetic: errors move the same way.
STRUCTURAL = {
    "broadcast_in_dim",
    "reshape",
    "squeeze",
    "expand_dims",
    "transpose",
    "convert_element_type",
    "slice",
    "dynamic_slice",
    "concatenate",
    "pad",
    "rev",
    "gather",
    "dynamic_update_slice",
    "select_n",
    "sort",
    "clamp",
    "split",
    "stack",
    "unstack",
}
SUBJAXPR = {
    "pjit": "jaxpr",
    "jit": "jaxpr",
    "closed_call": "call_jaxpr",
    "core_call": "call_jaxpr",
    "custom_jvp_call": "call_jaxpr",
    "custom_vjp_call": "call_jaxpr",
    "custom_vjp_call_jaxpr": "fun_jaxpr",
    "remat": "jaxpr",
    "checkpoint": "jaxpr",
}


def _structural(prim, vals, errs, params):
    """Apply a data-moving primitive to the errors, keeping integer and boolean operands."""
    if prim.name == "convert_element_type" and errs[0] is None:
        return [None]  # from integers or booleans: exact
    if prim.name == "sort":  # the values are the keys: errors ride along as extra operands, in the same order
        floats = [i for i, e in enumerate(errs) if e is not None]
        out = prim.bind(*vals, *[errs[i] for i in floats], **params)
        moved = [None] * len(vals)
        for j, i in enumerate(floats):
            moved[i] = out[len(vals) + j]
        return moved
    if prim.name == "select_n":
        ins = [vals[0]] + [e for e in errs[1:]]
    elif prim.name == "clamp":
        return [errs[1]]
    else:
        ins = [e if e is not None else v for v, e in zip(vals, errs, strict=True)]
    out = prim.bind(*ins, **params)
    return list(out) if prim.multiple_results else [out]


def _eval(jaxpr, consts, args, errs):
    env: dict = {}

    def read(var):
        if isinstance(var, Literal):
            return var.val, _zero(var.val)
        return env[var]

    def write(var, val, err):
        if not isinstance(var, DropVar):
            env[var] = (val, err)

    for var, c in zip(jaxpr.constvars, consts, strict=True):
        write(var, c, _zero(c))
    for var, a, e in zip(jaxpr.invars, args, errs, strict=True):
        write(var, a, e)

    for eqn in jaxpr.eqns:
        ins = [read(v) for v in eqn.invars]
        vals = [a for a, _ in ins]
        es = [e for _, e in ins]
        name = eqn.primitive.name
        if name in SUBJAXPR and SUBJAXPR[name] in eqn.params:
            sub = eqn.params[SUBJAXPR[name]]
            inner, inner_consts = (sub.jaxpr, sub.consts) if hasattr(sub, "jaxpr") else (sub, ())
            n_in = len(inner.invars)
            outs, out_errs = _eval(inner, inner_consts, vals[-n_in:], es[-n_in:])
        else:
            out = eqn.primitive.bind(*vals, **eqn.params)
            outs = list(out) if eqn.primitive.multiple_results else [out]
            if not any(_is_float(o) for o in outs):
                # integer and boolean results (indices, masks, i % 3, i // 2) are exact; what their
                # float inputs' errors do to them is a question of kinks, not of rounding
                out_errs = [None] * len(outs)
            elif name in STRUCTURAL:
                out_errs = _structural(
                    eqn.primitive,
                    vals,
                    [e if _is_float(a) else None for a, e in zip(vals, es, strict=True)],
                    eqn.params,
                )
            elif name in RULES:
                out_errs = [RULES[name](vals, es, outs[0], eqn.params)]
                if RULES[name] in _CAN_BE_NAN:  # 0·∞ and the like: a NaN bound is no bound; ∞ is a sound one
                    out_errs = [None if e is None else jnp.where(jnp.isnan(e), jnp.inf, e) for e in out_errs]
            else:
                approximated.add(name)
                try:
                    out_errs = _linearized(eqn, vals, es, outs)
                except (NotImplementedError, TypeError, ValueError):  # no jvp either: no bound, no traceback
                    out_errs = [jnp.full(jnp.shape(o), jnp.inf) if _is_float(o) else None for o in outs]
        for var, val, err in zip(eqn.outvars, outs, out_errs, strict=True):
            write(var, val, err if (err is not None and _is_float(val)) else _zero(val))
    results = [read(v) for v in jaxpr.outvars]
    return [r for r, _ in results], [e for _, e in results]


def _linearized(eqn, vals, errs, outs):
    """A first-order estimate |J e| + c_f u |c| for a primitive without a rule."""
    floats = [i for i, a in enumerate(vals) if _is_float(a)]

    def f(*xs):
        full = list(vals)
        for i, x in zip(floats, xs, strict=True):
            full[i] = x
        out = eqn.primitive.bind(*full, **eqn.params)
        return list(out) if eqn.primitive.multiple_results else [out]

    if not floats:
        return [None] * len(outs)
    _, tangents = jax.jvp(f, [vals[i] for i in floats], [errs[i] for i in floats])
    # Where the first-order estimate is not finite (x**0.5 at x = 0: an infinite slope times a zero
    # error), evaluate the primitive at the ends of each input's error interval instead.
    ends = [f(*[vals[i] + s * errs[i] for i in floats]) for s in (1.0, -1.0)]
    out = []
    for j, (t, c) in enumerate(zip(tangents, outs, strict=True)):
        if not _is_float(c):
            out.append(None)
            continue
        spread = jnp.maximum(jnp.abs(ends[0][j] - c), jnp.abs(ends[1][j] - c))
        spread = jnp.where(jnp.isnan(spread), jnp.inf, spread)
        out.append(jnp.where(jnp.isfinite(t), jnp.abs(t), spread) + _lib(c))
    return out


def bounded(f: Callable) -> Callable:
    """``f`` made to return ``(outputs, bounds)``, each a pytree like ``f``'s output.

    Inputs are taken as exact. Call the result inside ``jax.jit`` to compile
    the value and its bound into one program.
    """

    def run(*args):
        flat, tree = jax.tree_util.tree_flatten(args)
        spec = [jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)) for a in flat]
        closed, out_shape = jax.make_jaxpr(lambda *xs: f(*jax.tree_util.tree_unflatten(tree, xs)), return_shape=True)(
            *spec
        )
        # The rules' jnp functions are jitted: under a trace each call would become a nested call, to
        # be traced, inlined and lowered (about half of tracing). Without jit their primitives go
        # straight into the program; they are the same primitives.
        with jax.disable_jit():
            outs, errs = _eval(closed.jaxpr, closed.consts, flat, [_zero(a) for a in flat])
        out_tree = jax.tree_util.tree_structure(out_shape)
        return jax.tree_util.tree_unflatten(out_tree, outs), jax.tree_util.tree_unflatten(out_tree, errs)

    return run

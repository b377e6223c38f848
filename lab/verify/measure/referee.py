"""The exact referee: the loss's derivatives as written, in arithmetic that does not round to float64.

A verdict of *wrong* must not rest on float64. The referee takes the very program JAX builds for
the derivative (the jaxpr of ``jax.grad(loss)``, or of ``jax.hessian``) and runs it again, primitive
by primitive, on mpmath numbers with 60 significant digits. The inputs enter exactly (a float64 is
a short binary fraction); every operation then rounds about 10⁴⁴ times more finely than float64, and
exp never overflows. So the referee gives the real-number value of the program as written, the
same value the rounding bounds of lab/verify/measure/rounding.py are bounds around.

Why the jaxpr and not a symbolic derivative: it is the derivative JAX computes, through
``jnp.where``, custom rules and all, so where referee and autodiff differ, only rounding can
be the cause. Why mpmath and not intervals: branches (max, where, argmax) need a yes or no, which
an interval straddling the branch point cannot give.

Sixty digits are not infinitely many: (1 + x) − 1 with x = 10⁻⁷⁰ loses x. So the program runs
twice, at ``dps`` and at twice as many digits; the difference of the two is the referee's own
error (an estimate, and a generous one, as it is the error of the coarser run). Where the two
differ by more than float64 can see, the pair runs again at four times the digits.

How values are held: float arrays as NumPy arrays of mpf objects (object dtype), integer and
boolean arrays as ordinary NumPy arrays. A primitive with no float operand runs in JAX itself on
those integers: integer arithmetic is exact, and so keeps XLA's own semantics (``rem``,
division that truncates, gathers). Primitives that only move values (gather, scatter-add, pad,
dynamic slices) are run in JAX on the *positions* of the values, and the positions then pick
the mpf values: the indexing is XLA's own, the values never pass through float64.

On a kink the referee is the real program too, and the real program is rarely on the kink: a
sample that float64 puts exactly on |r| = δ or on the hinge's margin 1 sits, in the real numbers,
a rounding error to one side, so the referee gives that side's derivative where JAX (at the tie)
may give the other, or the average. Its word on a sample at a kink (lab/verify/measure/kinks.py)
is one of the one-sided derivatives, not the one float64 computes; the rounding bounds, which
assume each comparison comes out as in float64, do not cover that either.

This room measures; it never judges. The audit at the end compares a compiled value and its
rounding bound with the referee.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import mpmath
import numpy as np

from lab.verify.runtime.jax_config import jax
from lab.verify.runtime.ops_cache import one_op_programs_kept

DropVar, Literal = jax.extend.core.DropVar, jax.extend.core.Literal
DPS = 60  # significant digits of the first run; the check runs at twice as many


class Unsupported(ValueError):
    """The program holds a primitive the referee has no rule for."""

    def __init__(self, primitive: str):
        super().__init__(f"no referee for primitive {primitive}")
        self.primitive = primitive


@dataclass(frozen=True)
class Exact:
    """The referee's values: ``value`` (float64, the nearest to ``mp``), ``err`` (how far the run at
    ``dps`` digits was from the run at 2·``dps``: a bound, in practice, on the error of ``mp``) and
    ``mp`` (the values at 2·``dps`` digits, arrays of mpf). Each is a dict of arrays for a
    gradient, one array for a loss or a Hessian."""

    value: Any
    err: Any
    mp: Any
    dps: int


@functools.cache
def context(digits: int) -> mpmath.MPContext:
    """An mpmath context at ``digits`` significant digits, of its own: mpmath's global precision is never
    touched. Kept, one per precision, because making one costs about 4 ms; nothing here changes its precision."""
    ctx = mpmath.MPContext()
    ctx.dps = digits
    return ctx


# -- the jaxprs, traced once per loss, kind and shapes --------------------------------------------


@functools.lru_cache(maxsize=256)
def _program(loss: Callable, kind: str, keys: tuple[str, ...], tree, avals: tuple):
    """The closed jaxpr of ``kind`` ("loss", "grad" or "hessian") of ``loss`` for inputs of these shapes."""
    from lab.verify.measure.autodiff import flatten, unflatten

    def program(params, X, y, hyper):
        f = lambda p: loss(p, X, y, **hyper)  # noqa: E731
        if kind == "loss":
            return f(params)
        if kind == "grad":
            return jax.grad(f)(params)
        return jax.hessian(lambda v: f(unflatten(v, params, list(keys))))(flatten(params, list(keys)))

    spec = [jax.ShapeDtypeStruct(shape, dtype) for shape, dtype in avals]
    return jax.make_jaxpr(program)(*jax.tree_util.tree_unflatten(tree, spec))


def _closed(loss, kind, params, X, y, hyper, keys) -> tuple:
    """The program of ``kind`` for these inputs, and the inputs flat, in its order."""
    args = ({k: np.asarray(params[k], np.float64) for k in keys}, np.asarray(X, np.float64), np.asarray(y, np.float64))
    args += ({k: np.asarray(v, np.float64) for k, v in (hyper or {}).items()},)
    flat, tree = jax.tree_util.tree_flatten(args)  # in JAX's order: a dict's keys sorted
    return _program(loss, kind, tuple(keys), tree, tuple((a.shape, a.dtype.str) for a in flat)), flat


def cost(loss: Callable, params: dict, X, y, hyper: dict | None = None, kind: str = "grad") -> float:
    """About how many operations on mpf numbers one run of the referee makes here, from the program's
    shapes alone: an element-wise result counts its entries, a matrix product its multiply-adds, a
    factorization or a triangular solve n times its result (n the matrix's order). A loop's body counts
    once per pass of a scan, and once for a while loop, whose passes depend on the data."""
    closed, _ = _closed(loss, kind, params, X, y, hyper, tuple(params))
    return _ops(closed.jaxpr)


def _ops(jaxpr) -> float:
    n = 0.0
    for eqn in jaxpr.eqns:
        name, p = eqn.primitive.name, eqn.params
        sub = next((p[k] for k in SUBPROGRAMS if k in p), None)
        if name == "scan":
            n += p["length"] * _ops(p["jaxpr"].jaxpr)
        elif name == "while":
            n += _ops(p["cond_jaxpr"].jaxpr) + _ops(p["body_jaxpr"].jaxpr)
        elif name == "cond":
            n += max(_ops(b.jaxpr) for b in p["branches"])
        elif sub is not None:
            n += _ops(getattr(sub, "jaxpr", sub))
        else:
            out = sum(float(np.prod(v.aval.shape)) for v in eqn.outvars if hasattr(v.aval, "shape"))
            if name == "dot_general":
                (contracted, _), _ = p["dimension_numbers"]
                out *= float(np.prod([eqn.invars[0].aval.shape[i] for i in contracted]))
            elif name in ("cholesky", "lu", "triangular_solve"):
                out *= eqn.invars[0].aval.shape[-1]
            n += out
    return n


def _evaluate(loss, kind, params, X, y, hyper, dps, keys, branches) -> tuple[list[tuple], int]:
    """(value, err, mp) of each output of the program, run at ``dps`` and at 2·``dps`` digits; where the
    two runs are not :func:`settled`, once more at :data:`MORE` times the digits. Returns the digits used."""
    if branches not in ("real", "float64"):
        raise ValueError(f"branches is 'real' or 'float64', not {branches!r}")
    closed, flat = _closed(loss, kind, params, X, y, hyper, keys)
    decisions = None
    with one_op_programs_kept():  # the primitives JAX runs one at a time here, compiled once per machine
        if branches == "float64":
            run = _Float64()
            run.eval(closed.jaxpr, [np.asarray(c) for c in closed.consts], flat)
            decisions = run.decisions
        for first in (dps, MORE * dps):
            runs = []
            for digits in (first, 2 * first):
                ctx = context(digits)
                interp = _Interpreter(ctx, None if decisions is None else list(decisions))
                consts, ins = [interp.mp(c) for c in closed.consts], [interp.mp(a) for a in flat]
                runs.append(interp.eval(closed.jaxpr, consts, ins))
            outs = [_compare(coarse, fine) for coarse, fine in zip(*runs, strict=True)]
            if all(np.all(settled(value, err)) for value, err, _ in outs):
                break
    return outs, first


#: The two runs are settled where they agree to this share of the value, well inside float64's
#: rounding (2⁻⁵³), so that the float64 value is the exact one rounded.
SETTLED = 2.0**-60
#: Where they are not, the program runs once more at this many times the digits: at 60 digits
#: 1 − exp(−e⁻²⁰⁰) is 0, and a complementary log-log gradient came out −1.16e113 for −2/3.
MORE = 4


def settled(value, err) -> np.ndarray:
    """Where the referee's value is known to float64's resolution: its error within :data:`SETTLED` of it."""
    err = np.asarray(err, dtype=float)
    with np.errstate(invalid="ignore"):
        return (err == 0) | (err <= SETTLED * np.abs(np.asarray(value, dtype=float)))


def _compare(coarse, fine):
    """(float64 value, error estimate, mpf values) of one output from its two runs."""
    to_float = np.frompyfunc(float, 1, 1)

    def floats(a):
        a = np.asarray(a, dtype=object)
        return np.asarray(to_float(a), np.float64).reshape(a.shape) if a.size else np.zeros(a.shape)

    with np.errstate(all="ignore"):  # overflow to ±inf and NaN are read as they are
        value, rough = floats(fine), floats(coarse)
        diff = floats(np.abs(fine - coarse))
    # NaN − NaN and inf − inf are NaN in mpmath: the runs agree when they give the same
    agree = (np.isnan(value) & np.isnan(rough)) | (np.isinf(value) & (value == rough))
    err = np.where(agree, 0.0, np.where(np.isnan(diff), np.inf, diff))
    return value, err, fine


def exact_loss(
    loss: Callable, params: dict, X, y, hyper: dict | None = None, dps: int = DPS, branches: str = "real"
) -> Exact:
    """The loss as written, at ``dps`` digits (checked at twice as many). Fields are 0-d arrays.

    ``branches="float64"`` takes every decision (comparison, sign, argmax, ...) as float64 takes it,
    evaluating the rest in the real numbers: the value the rounding bounds are bounds around, on a
    kink too. The default, ``"real"``, decides in the real numbers."""
    ((value, err, mp),), dps = _evaluate(loss, "loss", params, X, y, hyper, dps, tuple(params), branches)
    return Exact(value, err, mp, dps)


def exact_gradient(
    loss: Callable, params: dict, X, y, hyper: dict | None = None, dps: int = DPS, branches: str = "real"
) -> Exact:
    """The gradient of the loss as written (``jax.grad``'s program), at ``dps`` digits, by parameter.
    ``branches`` as for :func:`exact_loss`."""
    keys = tuple(params)
    outs, dps = _evaluate(loss, "grad", params, X, y, hyper, dps, keys, branches)
    by_key = dict(zip(sorted(keys), outs, strict=True))  # JAX returns a dict's entries in sorted key order
    return Exact(*({k: by_key[k][i] for k in keys} for i in range(3)), dps)


def exact_hessian(
    loss: Callable,
    params: dict,
    X,
    y,
    hyper: dict | None = None,
    dps: int = DPS,
    keys: list[str] | None = None,
    branches: str = "real",
) -> Exact:
    """The Hessian of the loss as written (``jax.hessian``'s program) over the parameters flattened in
    the order of ``keys`` (default: the order of ``params``), as the witness flattens them.
    ``branches`` as for :func:`exact_loss`."""
    ((value, err, mp),), dps = _evaluate(loss, "hessian", params, X, y, hyper, dps, tuple(keys or params), branches)
    return Exact(value, err, mp, dps)


def along(exact: Exact, directions: list[dict]) -> Exact:
    """The directional derivatives of an exact gradient along each direction (a dict like the
    parameters), as 1-d arrays: what forward mode (``jax.jvp``) computes, in the real numbers."""
    ctx = context(2 * exact.dps)
    mp = np.empty(len(directions), dtype=object)
    err = np.zeros(len(directions))
    for i, v in enumerate(directions):
        pairs = [(g, t) for k in exact.mp for g, t in zip(np.ravel(exact.mp[k]), np.ravel(v[k]), strict=True)]
        mp[i] = ctx.fsum(g * ctx.mpf(float(t)) for g, t in pairs)
        err[i] = sum(float(np.sum(np.abs(np.ravel(v[k])) * np.ravel(exact.err[k]))) for k in exact.mp)
    return Exact(np.asarray([float(x) for x in mp]), np.asarray(err), mp, exact.dps)


# -- the interpreter ------------------------------------------------------------------------------

#: Primitives that only move values: run in JAX on positions (see the module docstring).
MOVES = {
    "pad",
    "gather",
    "dynamic_slice",
    "dynamic_update_slice",
    "split",
    "stack",
    "unstack",
}
#: Primitives whose inner program is run in place: the parameter that holds it.
SUBPROGRAMS = ("jaxpr", "call_jaxpr", "fun_jaxpr")
#: Primitives that hold a program of their own and run it themselves (not calls).
OWN_LOOPS = ("scan", "while", "cond", "reduce_window")
CALLS = {"pjit", "jit", "closed_call", "core_call", "custom_jvp_call", "custom_vjp_call", "remat", "checkpoint"}


def _is_float(dtype) -> bool:
    return not _is_key(dtype) and np.issubdtype(np.dtype(dtype), np.floating)


def _is_key(dtype) -> bool:
    """A PRNG key's dtype (dropout's mask): no NumPy form; such values stay JAX arrays."""
    return jax.dtypes.issubdtype(dtype, jax.dtypes.extended)


#: Primitives that turn real numbers into a decision: a branch, an index, a sign. The rounding bounds
#: take them as exact (lab/verify/measure/rounding.py), that is, as coming out as in float64.
DECISIONS = {"eq", "ne", "lt", "le", "gt", "ge", "sign", "floor", "ceil", "round", "is_finite", "argmax", "argmin"}
#: Max pooling's jvp and transpose: they decide which entry of each window is its maximum.
SELECTIONS = {"select_and_scatter_add", "select_and_gather_add"}


def _decides(eqn, vals) -> bool:
    """Whether this equation decides something from float values."""
    name = eqn.primitive.name
    if name == "convert_element_type":
        return _is_float(eqn.invars[0].aval.dtype) and not _is_float(eqn.params["new_dtype"])
    return name in DECISIONS and any(_is_float(v.aval.dtype) for v in eqn.invars)


class _Interpreter:
    """Runs a jaxpr on mpf values in one mpmath context."""

    def __init__(self, ctx, tape: list | None = None):
        self.ctx = ctx
        self.tape = tape  # the decisions of a float64 run, to replay in order (see _Float64)
        self._mpf = np.frompyfunc(ctx.mpf, 1, 1)
        c = ctx
        nan, inf = c.nan, c.inf

        def real(z):
            # mpmath answers log(−1) and the like with a complex number: the real program has NaN there
            return z if not isinstance(z, c.mpc) else (c.mpf(z.real) if z.imag == 0 else nan)

        def div(a, b):
            try:
                return a / b
            except ZeroDivisionError:
                return nan if (a == 0 or c.isnan(a)) else c.sign(a) * inf

        def power(a, b):
            try:
                if a < 0 and not c.isint(b):
                    return nan
                return real(c.power(a, b))
            except ZeroDivisionError:
                return inf

        def log(a):
            return nan if a < 0 else c.log(a)

        def log1p(a):
            return nan if a < -1 else (-inf if a == -1 else c.log1p(a))

        def sqrt(a):
            return nan if a < 0 else c.sqrt(a)

        def rsqrt(a):
            return div(c.mpf(1), sqrt(a))

        def logistic(a):
            return div(c.mpf(1), 1 + c.exp(-a))

        def maxi(a, b):
            return nan if c.isnan(a) or c.isnan(b) else (a if a >= b else b)

        def mini(a, b):
            return nan if c.isnan(a) or c.isnan(b) else (a if a <= b else b)

        def lgamma(a):
            if c.isint(a) and a <= 0:
                return inf
            return c.log(abs(c.gamma(a)))

        def digamma(a):
            return nan if (c.isint(a) and a <= 0) else c.digamma(a)

        def sign(a):
            return nan if c.isnan(a) else c.mpf(c.sign(a))

        def atan2(a, b):
            return c.atan2(a, b)

        def rem(a, b):  # the sign of a, as C's fmod and XLA's rem
            return nan if b == 0 or c.isinf(a) or c.isnan(a) or c.isnan(b) else a - b * int(a / b)

        def polygamma(m, a):
            return nan if (c.isint(a) and a <= 0) else c.polygamma(int(m), a)

        def erf_inv(a):
            return nan if abs(a) > 1 else (c.sign(a) * inf if abs(a) == 1 else c.erfinv(a))

        def guard(f):
            def g(*xs):
                if any(c.isnan(x) for x in xs):
                    return nan
                return real(f(*xs))

            return g

        unary = {
            "neg": operator.neg,
            "abs": abs,
            "sign": sign,
            "exp": c.exp,
            "exp2": lambda a: c.power(2, a),
            "expm1": c.expm1,
            "log": log,
            "log1p": log1p,
            "logistic": logistic,
            "tanh": c.tanh,
            "sinh": c.sinh,
            "cosh": c.cosh,
            "sin": c.sin,
            "cos": c.cos,
            "tan": c.tan,
            "atan": c.atan,
            "asin": c.asin,
            "acos": c.acos,
            "asinh": c.asinh,
            "acosh": c.acosh,
            "atanh": c.atanh,
            "erf_inv": erf_inv,
            "stop_gradient": lambda a: a,
            "sqrt": sqrt,
            "rsqrt": rsqrt,
            "cbrt": c.cbrt,
            "square": lambda a: a * a,
            "erf": c.erf,
            "erfc": c.erfc,
            "lgamma": lgamma,
            "digamma": digamma,
            "floor": c.floor,
            "ceil": c.ceil,
        }
        binary = {
            "add": operator.add,
            "add_any": operator.add,
            "sub": operator.sub,
            "mul": operator.mul,
            "div": div,
            "pow": power,
            "max": maxi,
            "min": mini,
            "atan2": atan2,
            "rem": rem,
            "polygamma": polygamma,
            "nextafter": lambda a, b: a,  # one ulp of float64 is no step in the real numbers
        }
        self.unary = {k: np.frompyfunc(guard(f) if k not in ("neg", "abs") else f, 1, 1) for k, f in unary.items()}
        self.binary = {k: np.frompyfunc(f, 2, 1) for k, f in binary.items()}
        self.compare = {
            k: np.frompyfunc(f, 2, 1)
            for k, f in {
                "eq": operator.eq,
                "ne": operator.ne,
                "lt": operator.lt,
                "le": operator.le,
                "gt": operator.gt,
                "ge": operator.ge,
            }.items()
        }
        self.isnan = np.frompyfunc(c.isnan, 1, 1)
        self.isfinite = np.frompyfunc(lambda a: not (c.isnan(a) or c.isinf(a)), 1, 1)
        self.maxi, self.mini = np.frompyfunc(maxi, 2, 1), np.frompyfunc(mini, 2, 1)
        self.power = power

    # values

    def mp(self, a) -> np.ndarray:
        """A float array as mpf objects (exactly), other arrays as they are."""
        if _is_key(getattr(a, "dtype", np.float64)):
            return a
        a = np.asarray(a)
        if _is_float(a.dtype):
            with np.errstate(all="ignore"):  # NaN converts to mpf NaN, quietly
                return np.asarray(self._mpf(a.astype(np.float64)), dtype=object).reshape(a.shape)
        return a

    def _shape(self, value, aval):
        """``value`` as an array of the outvar's shape: object dtype for floats, mpf entries."""
        if _is_float(aval.dtype):
            out = np.asarray(value, dtype=object).reshape(aval.shape)
            if out.size and not isinstance(out.flat[0], self.ctx.mpf):
                out = np.asarray(self._mpf(out), dtype=object).reshape(aval.shape)
            return out
        if _is_key(aval.dtype):
            return value
        return np.asarray(value, dtype=aval.dtype).reshape(aval.shape)

    # programs

    def eval(self, jaxpr, consts, args) -> list:
        env: dict = {}

        def read(var):
            if isinstance(var, Literal):
                return self._shape(self.mp(np.asarray(var.val, dtype=var.aval.dtype)), var.aval)
            return env[var]

        for var, v in zip(jaxpr.constvars, consts, strict=True):
            env[var] = v
        for var, v in zip(jaxpr.invars, args, strict=True):
            env[var] = self._shape(v, var.aval)
        for eqn in jaxpr.eqns:
            vals = [read(v) for v in eqn.invars]
            outs = self.apply(eqn, vals)
            for var, val in zip(eqn.outvars, outs, strict=True):
                if not isinstance(var, DropVar):
                    env[var] = self._shape(val, var.aval)
        return [read(v) for v in jaxpr.outvars]

    def _call(self, sub, vals):
        if hasattr(sub, "jaxpr"):  # a closed jaxpr
            inner, consts = sub.jaxpr, [self.mp(c) for c in sub.consts]
        else:
            inner, consts = sub, []
        return self.eval(inner, consts, vals[len(vals) - len(inner.invars) :])

    def apply(self, eqn, vals) -> list:
        name, p = eqn.primitive.name, eqn.params
        if name in CALLS or (any(k in p for k in SUBPROGRAMS) and name not in OWN_LOOPS):
            sub = next((p[k] for k in SUBPROGRAMS if k in p), None)
            if sub is None:
                raise Unsupported(name)
            return self._call(sub, vals)
        if name in ("cond", "while", "scan"):
            return getattr(self, "_" + name)(eqn, vals)
        if self.tape is not None and _decides(eqn, vals):
            return [self.mp(o) for o in self.tape.pop(0)]  # the branch float64 took
        if not any(v.dtype == object for v in vals) and not (name == "iota" and _is_float(p["dtype"])):
            # integers and booleans only: JAX's own exact integer arithmetic
            out = eqn.primitive.bind(*vals, **p)
            outs = list(out) if eqn.primitive.multiple_results else [out]
            return [self.mp(o) for o in outs]
        rule = getattr(self, "_" + name.replace("-", "_"), None)
        if name in self.unary:
            return [self.unary[name](vals[0])]
        if name in self.binary:
            return [self.binary[name](vals[0], vals[1])]
        if name in self.compare:
            return [np.asarray(self.compare[name](vals[0], vals[1]), dtype=bool)]
        if name in MOVES:
            return self._moved(eqn, vals)
        if rule is None:
            raise Unsupported(name)
        out = rule(vals, **p)
        return out if eqn.primitive.multiple_results else [out]

    # values that only move: numpy directly, or JAX on positions

    def _moved(self, eqn, vals):
        """Run a data-moving primitive in JAX on the positions of the float values, then pick them."""
        pool, ins = [], []
        offset = 0
        for v in vals:
            if v.dtype == object:
                ins.append(np.arange(offset, offset + v.size, dtype=np.int64).reshape(v.shape))
                pool.extend(v.ravel())
                offset += v.size
            else:
                ins.append(v)
        params = dict(eqn.params)
        fill = self.ctx.nan
        if eqn.primitive.name == "gather":
            if params.get("fill_value") is not None:
                fill = self.ctx.mpf(params["fill_value"])
            params["fill_value"] = -1
        pool.append(fill)  # position −1: what a gather fills in out of bounds
        out = eqn.primitive.bind(*ins, **params)
        outs = list(out) if eqn.primitive.multiple_results else [out]
        table = np.empty(len(pool), dtype=object)
        table[:] = pool
        res = []
        for o, var in zip(outs, eqn.outvars, strict=True):
            o = np.asarray(o)
            res.append(table[o] if _is_float(var.aval.dtype) else o)
        return res

    def _broadcast_in_dim(self, vals, shape, broadcast_dimensions, **_):
        a = vals[0]
        expanded = [1] * len(shape)
        for i, d in enumerate(broadcast_dimensions):
            expanded[d] = a.shape[i]
        return np.broadcast_to(a.reshape(expanded), shape)

    def _reshape(self, vals, new_sizes, dimensions=None, **_):
        a = vals[0] if dimensions is None else np.transpose(vals[0], dimensions)
        return a.reshape(new_sizes)

    def _squeeze(self, vals, dimensions, **_):
        return np.squeeze(vals[0], axis=tuple(dimensions))

    def _expand_dims(self, vals, dimensions, **_):
        return np.expand_dims(vals[0], tuple(dimensions))

    def _transpose(self, vals, permutation, **_):
        return np.transpose(vals[0], permutation)

    def _slice(self, vals, start_indices, limit_indices, strides=None, **_):
        strides = strides or (1,) * len(start_indices)
        return vals[0][tuple(slice(s, e, k) for s, e, k in zip(start_indices, limit_indices, strides, strict=True))]

    def _rev(self, vals, dimensions, **_):
        return np.flip(vals[0], axis=tuple(dimensions)) if dimensions else vals[0]

    def _concatenate(self, vals, dimension, **_):
        return np.concatenate([self._float(v) for v in vals], axis=dimension)

    def _float(self, v):
        return v if v.dtype == object else self.mp(v.astype(np.float64))

    def _select_n(self, vals, **_):
        which, *cases = vals
        return np.choose(np.asarray(which, dtype=np.int64), [self._float(c) for c in cases])

    def _convert_element_type(self, vals, new_dtype, **_):
        a = vals[0]
        if _is_float(new_dtype):
            return a  # the real program does not round
        if np.dtype(new_dtype) == np.bool_:
            return np.asarray(a != 0, dtype=bool)
        info = np.iinfo(new_dtype)

        def trunc(x):  # toward zero, saturating, NaN to 0, as XLA converts
            if self.ctx.isnan(x):
                return 0
            return info.max if x >= info.max else info.min if x <= info.min else int(x)

        trunc = np.frompyfunc(trunc, 1, 1)
        return np.asarray(trunc(a), dtype=new_dtype)

    def _copy(self, vals, **_):
        return vals[0]

    _copy_p = _real = _reduce_precision = _copy

    def _optimization_barrier(self, vals, **_):
        return list(vals)

    def _iota(self, vals, dtype, shape, dimension, **_):
        idx = np.arange(shape[dimension]).reshape([-1 if i == dimension else 1 for i in range(len(shape))])
        return self.mp(np.broadcast_to(idx, shape).astype(dtype))

    def _clamp(self, vals, **_):
        lo, x, hi = (self._float(v) for v in vals)
        return self.mini(self.maxi(x, lo), hi)

    def _round(self, vals, rounding_method, **_):
        c = self.ctx
        even = int(rounding_method) == 1  # 0: half away from zero, 1: half to even
        near = np.frompyfunc(lambda a: c.nint(a) if even else c.sign(a) * c.floor(abs(a) + c.mpf(0.5)), 1, 1)
        return near(vals[0])

    def _is_finite(self, vals, **_):
        return np.asarray(self.isfinite(vals[0]), dtype=bool)

    def _integer_pow(self, vals, y, **_):
        return np.frompyfunc(lambda a: self.power(a, self.ctx.mpf(y)), 1, 1)(vals[0])

    def _scatter_add(self, vals, dimension_numbers, mode, update_jaxpr=None, **_):
        """scatter-add: where each update lands is a gather of positions (the transpose JAX uses)."""
        operand, indices, updates = vals
        dn = dimension_numbers
        sizes, pos = [], 0
        for i in range(operand.ndim):
            if i in dn.inserted_window_dims or i in dn.operand_batching_dims:
                sizes.append(1)
            else:
                sizes.append(updates.shape[dn.update_window_dims[pos]])
                pos += 1
        gather_dn = jax.lax.GatherDimensionNumbers(
            offset_dims=dn.update_window_dims,
            collapsed_slice_dims=dn.inserted_window_dims,
            start_index_map=dn.scatter_dims_to_operand_dims,
            operand_batching_dims=dn.operand_batching_dims,
            start_indices_batching_dims=dn.scatter_indices_batching_dims,
        )
        clip = mode == jax.lax.GatherScatterMode.CLIP
        where = jax.lax.gather(
            np.arange(operand.size, dtype=np.int64).reshape(operand.shape),
            indices,
            gather_dn,
            tuple(sizes),
            mode=jax.lax.GatherScatterMode.CLIP if clip else jax.lax.GatherScatterMode.FILL_OR_DROP,
            fill_value=-1,
        )
        where = np.asarray(where).ravel()
        out = operand.ravel().copy()
        upd = self._float(updates).ravel()
        keep = where >= 0  # out of bounds: dropped
        np.add.at(out, where[keep], upd[keep])
        return out.reshape(operand.shape)

    # reductions

    def _reduce_sum(self, vals, axes, **_):
        a = vals[0]
        if not axes:
            return a
        return np.add.reduce(a, axis=tuple(axes)) if a.size else np.full(_without(a.shape, axes), self.ctx.zero)

    def _reduce_prod(self, vals, axes, **_):
        a = vals[0]
        return np.multiply.reduce(a, axis=tuple(axes)) if a.size else np.full(_without(a.shape, axes), self.ctx.one)

    def _reduce_max(self, vals, axes, **_):
        return self._extreme(vals[0], axes, np.maximum, -self.ctx.inf)

    def _reduce_min(self, vals, axes, **_):
        return self._extreme(vals[0], axes, np.minimum, self.ctx.inf)

    def _extreme(self, a, axes, ufunc, empty):
        axes = tuple(axes)
        if not a.size:
            return np.full(_without(a.shape, axes), empty)
        out = ufunc.reduce(a, axis=axes)
        nan = np.asarray(self.isnan(a), dtype=bool).any(axis=axes)
        return np.where(nan, self.ctx.nan, out)

    def _argmax(self, vals, axes, index_dtype, **_):
        return self._arg(vals[0], axes[0], index_dtype, operator.gt)

    def _argmin(self, vals, axes, index_dtype, **_):
        return self._arg(vals[0], axes[0], index_dtype, operator.lt)

    def _arg(self, a, axis, dtype, better):
        a = np.moveaxis(a, axis, -1)
        out = np.zeros(a.shape[:-1], dtype=dtype)
        for idx in np.ndindex(a.shape[:-1]):
            row, best = a[idx], 0
            for j in range(1, len(row)):
                if self.ctx.isnan(row[best]):
                    break
                if self.ctx.isnan(row[j]) or better(row[j], row[best]):
                    best = j
            out[idx] = best
        return out

    def _cumulative(self, a, axis, reverse, ufunc):
        a = np.flip(a, axis) if reverse else a
        out = ufunc.accumulate(a, axis=axis) if a.size else a
        return np.flip(out, axis) if reverse else out

    def _cumsum(self, vals, axis, reverse, **_):
        return self._cumulative(vals[0], axis, reverse, np.add)

    def _cumprod(self, vals, axis, reverse, **_):
        return self._cumulative(vals[0], axis, reverse, np.multiply)

    def _cummax(self, vals, axis, reverse, **_):
        return self._cumulative(vals[0], axis, reverse, self.maxi)

    def _cummin(self, vals, axis, reverse, **_):
        return self._cumulative(vals[0], axis, reverse, self.mini)

    def _cumlogsumexp(self, vals, axis, reverse, **_):
        e = self.unary["exp"](vals[0])
        return self.unary["log"](self._cumulative(e, axis, reverse, np.add))

    def _dot_general(self, vals, dimension_numbers, **_):
        a, b = (self._float(v) for v in vals)
        (ca, cb), (ba, bb) = dimension_numbers
        fa = [i for i in range(a.ndim) if i not in ca and i not in ba]
        fb = [i for i in range(b.ndim) if i not in cb and i not in bb]
        batch = [a.shape[i] for i in ba]
        m, n = [a.shape[i] for i in fa], [b.shape[i] for i in fb]
        k = math.prod(a.shape[i] for i in ca)
        A = np.transpose(a, [*ba, *fa, *ca]).reshape(math.prod(batch), math.prod(m), k)
        B = np.transpose(b, [*bb, *cb, *fb]).reshape(math.prod(batch), k, math.prod(n))
        if k == 0:
            out = np.full((math.prod(batch), math.prod(m), math.prod(n)), self.ctx.zero, dtype=object)
        else:
            out = np.matmul(A, B)
        return out.reshape(tuple(batch + m + n))

    # windows: pooling, its transposes, convolution

    def _pool(self, a, fill):
        """``a`` flattened, with ``fill`` at position −1 (padding and the holes of a base dilation)."""
        pool = np.empty(a.size + 1, dtype=object)
        pool[:-1] = a.ravel()
        pool[-1] = fill
        return pool

    def _reduce_window_sum(self, vals, **p):
        win = _windows(vals[0].shape, **p)
        return np.add.reduce(self._pool(vals[0], self.ctx.zero)[win], axis=-1)

    def _reduce_window_max(self, vals, **p):
        win = _windows(vals[0].shape, **p)
        return self._extreme(self._pool(vals[0], -self.ctx.inf)[win], (win.ndim - 1,), np.maximum, -self.ctx.inf)

    def _reduce_window_min(self, vals, **p):
        win = _windows(vals[0].shape, **p)
        return self._extreme(self._pool(vals[0], self.ctx.inf)[win], (win.ndim - 1,), np.minimum, self.ctx.inf)

    def _reduce_window(self, vals, jaxpr, consts, **p):
        """A window reduced by a program of the user's: folded from the initial values, in window order.
        Its comparisons are decided in the real numbers: float64 runs it as one primitive, with no tape."""
        tape, self.tape = self.tape, None
        try:
            return self._fold_windows(vals, jaxpr, consts, **p)
        finally:
            self.tape = tape

    def _fold_windows(self, vals, jaxpr, consts, **p):
        n = len(vals) // 2
        win = _windows(vals[0].shape, **p)
        pools = [self._pool(a, init.item()) for a, init in zip(vals[:n], vals[n:], strict=True)]
        outs = [np.empty(win.shape[:-1], dtype=object) for _ in range(n)]
        consts = [self.mp(c) for c in consts]
        for idx in np.ndindex(win.shape[:-1]):
            acc = list(vals[n:])
            for k in win[idx]:
                acc = self.eval(jaxpr, consts, [*acc, *(np.asarray(pool[k], dtype=object) for pool in pools)])
            for o, a in zip(outs, acc, strict=True):
                o[idx] = np.asarray(a).item()
        return outs

    def _selection(self, operand, select_prim, window_dimensions, window_strides, padding, gather, **p):
        """The flat position each window selects (−1: padding, or none), as XLA selects: a later entry
        replaces the current one unless current ≥ it (≤ for a min). A gather starts from (±inf, no
        entry); a scatter from the window's first entry."""
        ge = select_prim.name == "ge"
        fill = -np.inf if ge else np.inf
        fill = self.ctx.mpf(fill) if operand.dtype == object else fill
        win = _windows(operand.shape, window_dimensions, window_strides, padding, **p)
        keys = self._pool(operand, fill)[win]
        pos = np.full(win.shape[:-1], -1) if gather else win[..., 0].copy()
        best = np.full(win.shape[:-1], fill, dtype=object) if gather else keys[..., 0]
        keep = operator.ge if ge else operator.le
        for k in range(0 if gather else 1, win.shape[-1]):
            new = ~np.vectorize(keep, otypes=[bool])(best, keys[..., k]) if best.size else np.zeros(best.shape, bool)
            pos = np.where(new, win[..., k], pos)
            best = np.where(new, keys[..., k], best)
        return pos

    def _selected(self, operand, p, gather):
        if self.tape is not None:
            return self.tape.pop(0)[0]  # the entries float64 selected
        return self._selection(operand, **p, gather=gather)

    def _select_and_gather_add(self, vals, **p):
        tangents, operand = (self._float(v) for v in vals)
        return self._pool(tangents, self.ctx.zero)[self._selected(operand, p, gather=True)]

    def _select_and_scatter_add(self, vals, **p):
        source, operand = (self._float(v) for v in vals)
        pos = self._selected(operand, p, gather=False)
        out = np.full(operand.size + 1, self.ctx.zero, dtype=object)
        np.add.at(out, np.asarray(pos).ravel(), source.ravel())
        return out[:-1].reshape(operand.shape)

    def _conv_general_dilated(
        self,
        vals,
        window_strides,
        padding,
        lhs_dilation,
        rhs_dilation,
        dimension_numbers,
        feature_group_count,
        batch_group_count,
        **_,
    ):
        """Each output is the sum of its window of the dilated, padded lhs times the kernel."""
        a, b = (self._float(v) for v in vals)
        dn = dimension_numbers
        lhs, rhs = np.transpose(a, dn.lhs_spec), np.transpose(b, dn.rhs_spec)  # (N, C, spatial), (O, I, kernel)
        zero = self.ctx.zero
        spatial = [(n - 1) * d + 1 if n else 0 for n, d in zip(lhs.shape[2:], lhs_dilation, strict=True)]
        dilated = np.full(lhs.shape[:2] + tuple(spatial), zero, dtype=object)
        dilated[(slice(None), slice(None), *(slice(None, None, d) for d in lhs_dilation))] = lhs
        sizes = [n + lo + hi for n, (lo, hi) in zip(dilated.shape[2:], padding, strict=True)]
        padded = np.full(lhs.shape[:2] + tuple(max(n, 0) for n in sizes), zero, dtype=object)
        dst, src = [slice(None)] * 2, [slice(None)] * 2
        for n, (lo, hi) in zip(dilated.shape[2:], padding, strict=True):
            dst.append(slice(max(lo, 0), max(lo, 0) + max(n - max(-lo, 0) - max(-hi, 0), 0)))
            src.append(slice(max(-lo, 0), max(n - max(-hi, 0), max(-lo, 0))))
        padded[tuple(dst)] = dilated[tuple(src)]
        kernel = rhs.shape[2:]
        out_sizes = [
            max((n - (k - 1) * d - 1) // s + 1, 0)
            for n, k, d, s in zip(padded.shape[2:], kernel, rhs_dilation, window_strides, strict=True)
        ]
        n_b, n_o = lhs.shape[0] // batch_group_count, rhs.shape[0]
        out = np.full((n_b, n_o, *out_sizes), zero, dtype=object)
        g_in, g_out = rhs.shape[1], n_o // (feature_group_count * batch_group_count)
        for k in np.ndindex(*kernel):
            window = tuple(
                slice(i * d, i * d + (m - 1) * s + 1, s) if m else slice(0, 0)
                for i, d, s, m in zip(k, rhs_dilation, window_strides, out_sizes, strict=True)
            )
            patch = padded[(slice(None), slice(None), *window)]
            w = rhs[(slice(None), slice(None), *k)]
            for g in range(feature_group_count * batch_group_count):
                f, bg = (g, 0) if feature_group_count > 1 else (0, g)
                x = patch[bg * n_b : (bg + 1) * n_b, f * g_in : (f + 1) * g_in]
                o = slice(g * g_out, (g + 1) * g_out)
                if x.size and g_in:
                    out[:, o] += np.moveaxis(np.tensordot(x, w[o], axes=([1], [1])), -1, 1)
        return np.transpose(out, np.argsort(dn.out_spec))

    def _sort(self, vals, dimension, num_keys, **_):
        """A stable sort on the first ``num_keys`` operands, NaN last, as XLA sorts."""
        moved = [np.moveaxis(v, dimension, -1) for v in vals]
        outs = [np.empty_like(m) for m in moved]
        isnan = self.ctx.isnan

        def key(x):
            if isinstance(x, self.ctx.mpf):
                return (1, 0) if isnan(x) else (0, x)
            return (0, x)

        for idx in np.ndindex(moved[0].shape[:-1]):
            rows = [m[idx] for m in moved]
            order = sorted(range(rows[0].shape[0]), key=lambda j: tuple(key(rows[k][j]) for k in range(num_keys)))
            for o, r in zip(outs, rows, strict=True):
                o[idx] = r[order]
        return [np.moveaxis(o, -1, dimension) for o in outs]

    def _top_k(self, vals, k, **_):
        """The k largest along the last axis, in decreasing order, NaN first, the first index first among ties."""
        a, isnan = vals[0], self.ctx.isnan
        values = np.empty(a.shape[:-1] + (k,), dtype=object)
        index = np.empty(a.shape[:-1] + (k,), dtype=np.int32)
        for idx in np.ndindex(a.shape[:-1]):
            row = a[idx]
            # NaN first, then decreasing; sorted is stable, so ties keep the index order
            order = sorted(range(len(row)), key=lambda j: (0, 0) if isnan(row[j]) else (1, -row[j]))
            values[idx], index[idx] = row[order[:k]], order[:k]
        return [values, index]

    # linear algebra, one matrix at a time over the leading axes

    def _cholesky(self, vals, **_):
        """The lower Cholesky factor, from the lower triangle; NaN where the matrix is not positive definite."""
        a, c = vals[0], self.ctx
        out = np.full(a.shape, c.zero, dtype=object)
        n = a.shape[-1]
        for idx in np.ndindex(a.shape[:-2]):
            A, L = a[idx], out[idx]
            for j in range(n):
                d = A[j, j] - c.fsum(L[j, k] ** 2 for k in range(j))
                if not d > 0:
                    L[...] = c.nan
                    break
                L[j, j] = c.sqrt(d)
                for i in range(j + 1, n):
                    L[i, j] = (A[i, j] - c.fsum(L[i, k] * L[j, k] for k in range(j))) / L[j, j]
        return out

    def _triangular_solve(self, vals, left_side, lower, transpose_a, unit_diagonal, **_):
        """X with op(A) X = B (left side) or X op(A) = B, reading only A's triangle."""
        a, b = (self._float(v) for v in vals)
        out = np.empty(b.shape, dtype=object)
        n = a.shape[-1]
        for idx in np.ndindex(a.shape[:-2]):
            A = a[idx]
            T = np.array(
                [[A[i, j] if (i >= j if lower else i <= j) else self.ctx.zero for j in range(n)] for i in range(n)],
                dtype=object,
            )
            if unit_diagonal:
                np.fill_diagonal(T, self.ctx.one)
            up = not lower
            if transpose_a:
                T, up = T.T, not up
            B = b[idx] if left_side else b[idx].T
            if not left_side:  # X T = B  is  Tᵀ Xᵀ = Bᵀ
                T, up = T.T, not up
            X = np.empty(B.shape, dtype=object)
            rows = range(n - 1, -1, -1) if up else range(n)
            for i in rows:
                known = range(i + 1, n) if up else range(i)
                for col in range(B.shape[1]):
                    rest = self.ctx.fsum(T[i, k] * X[k, col] for k in known)
                    X[i, col] = self.binary["div"](B[i, col] - rest, T[i, i])
            out[idx] = X if left_side else X.T
        return out

    def _lu(self, vals, **_):
        """Partial pivoting on the largest |entry| of each column: (LU packed, pivots, permutation)."""
        a = vals[0]
        m, n = a.shape[-2:]
        lu = np.array(a, dtype=object, copy=True)
        pivots = np.zeros(a.shape[:-2] + (min(m, n),), dtype=np.int32)
        perms = np.zeros(a.shape[:-2] + (m,), dtype=np.int32)
        for idx in np.ndindex(a.shape[:-2]):
            A, perm = lu[idx], list(range(m))
            for j in range(min(m, n)):
                p = max(range(j, m), key=lambda i: abs(A[i, j]))
                pivots[idx][j] = p
                if p != j:
                    A[[j, p]] = A[[p, j]]
                    perm[j], perm[p] = perm[p], perm[j]
                if A[j, j] != 0:
                    for i in range(j + 1, m):
                        A[i, j] = A[i, j] / A[j, j]
                        A[i, j + 1 :] = A[i, j + 1 :] - A[i, j] * A[j, j + 1 :]
            perms[idx] = perm
        return [lu, pivots, perms]

    def _custom_linear_solve(self, vals, const_lengths, jaxprs, **_):
        """The primal solve: the ``solve`` program on its constants and the right-hand side."""
        counts = list(const_lengths)
        start = sum(counts[:2])  # matvec's and vecmat's constants come first, then solve's
        consts = vals[start : start + counts[2]]
        b = vals[sum(counts) :]
        return self._call(jaxprs.solve, [*consts, *b])

    # control flow

    def _cond(self, eqn, vals):
        which, *ops = vals
        branches = eqn.params["branches"]
        i = int(np.clip(int(np.asarray(which)), 0, len(branches) - 1))
        return self._call(branches[i], ops)

    def _while(self, eqn, vals):
        p = eqn.params
        cc, bc = p["cond_nconsts"], p["body_nconsts"]
        cconsts, bconsts, carry = vals[:cc], vals[cc : cc + bc], vals[cc + bc :]
        while bool(np.asarray(self._call(p["cond_jaxpr"], [*cconsts, *carry])[0])):
            carry = self._call(p["body_jaxpr"], [*bconsts, *carry])
            carry = [self._shape(v, var.aval) for v, var in zip(carry, p["body_jaxpr"].jaxpr.outvars, strict=True)]
        return carry

    def _scan(self, eqn, vals):
        p = eqn.params
        nc, nk = p["num_consts"], p["num_carry"]
        consts, carry, xs = vals[:nc], vals[nc : nc + nk], vals[nc + nk :]
        body = p["jaxpr"]
        ys = []
        steps = range(p["length"])
        for i in reversed(steps) if p["reverse"] else steps:
            outs = self._call(body, [*consts, *carry, *(x[i] for x in xs)])
            outs = [self._shape(v, var.aval) for v, var in zip(outs, body.jaxpr.outvars, strict=True)]
            carry, y = outs[:nk], outs[nk:]
            ys.append(y)
        if p["reverse"]:
            ys.reverse()
        stacked = []
        for j, var in enumerate(eqn.outvars[nk:]):
            stacked.append(np.stack([y[j] for y in ys]) if ys else np.empty(var.aval.shape, dtype=object))
        return [*carry, *stacked]


class _Float64(_Interpreter):
    """The program run one primitive at a time in JAX, in float64, as the compiled witness runs it,
    keeping each decision (comparison, sign, argmax, ...) on a tape for the mpmath runs to replay."""

    def __init__(self):
        self.tape = None
        self.decisions: list = []

    def mp(self, a):
        return a if _is_key(getattr(a, "dtype", np.float64)) else np.asarray(a)

    def _shape(self, value, aval):
        return value if _is_key(aval.dtype) else np.asarray(value, dtype=aval.dtype).reshape(aval.shape)

    def apply(self, eqn, vals):
        name = eqn.primitive.name
        if (
            name in CALLS
            or name in ("cond", "while", "scan")
            or (any(k in eqn.params for k in SUBPROGRAMS) and name not in OWN_LOOPS)
        ):
            return super().apply(eqn, vals)
        if name in SELECTIONS:  # which entry each window selects: a decision, as argmax's
            self.decisions.append([self._selection(vals[1], **eqn.params, gather=name == "select_and_gather_add")])
        out = eqn.primitive.bind(*vals, **eqn.params)
        outs = [self.mp(o) for o in (out if eqn.primitive.multiple_results else [out])]
        if _decides(eqn, vals):
            self.decisions.append(outs)
        return outs


def _windows(shape, window_dimensions, window_strides, padding, base_dilation=None, window_dilation=None, **_):
    """For each window of an operand of ``shape``, the flat positions of its entries, in window order
    (row-major): an int array of shape (windows..., entries), −1 for padding and base-dilation holes."""
    nd = len(shape)
    base, wdil = base_dilation or (1,) * nd, window_dilation or (1,) * nd
    per_dim = []
    for i in range(nd):
        n, w, s, (lo, hi) = shape[i], window_dimensions[i], window_strides[i], padding[i]
        length = ((n - 1) * base[i] + 1 if n else 0) + lo + hi
        count = max((length - (w - 1) * wdil[i] - 1) // s + 1, 0)
        at = np.arange(count)[:, None] * s + np.arange(w)[None, :] * wdil[i] - lo  # in the dilated operand
        src = at // base[i]
        per_dim.append(np.where((at >= 0) & (at % base[i] == 0) & (src < n), src, -1))
    counts = [d.shape[0] for d in per_dim]
    flat = np.zeros(tuple(counts) + tuple(window_dimensions), dtype=np.int64)
    valid = np.ones(flat.shape, dtype=bool)
    step = 1
    for i in reversed(range(nd)):
        view = [1] * (2 * nd)
        view[i], view[nd + i] = counts[i], window_dimensions[i]
        idx = per_dim[i].reshape(view)
        flat = flat + idx * step
        valid = valid & (idx >= 0)
        step *= shape[i]
    return np.where(valid, flat, -1).reshape(tuple(counts) + (math.prod(window_dimensions),))


def _without(shape, axes):
    return tuple(s for i, s in enumerate(shape) if i not in axes)


# -- the audit of the rounding bounds -------------------------------------------------------------


class Audit(NamedTuple):
    """How many audited entries kept their rounding bound, of how many, and the largest error/bound."""

    held: int
    total: int
    worst_ratio: float


def _pick(tree, key):
    return tree if key is None else tree[key]


def _entries(values, bounds, exact: Exact):
    """(name, index, value, bound, exact mpf, referee error) for each entry with a finite bound."""
    keys = list(exact.mp) if isinstance(exact.mp, dict) else [None]
    for k in keys:
        v = np.asarray(_pick(values, k), np.float64)
        b = np.asarray(_pick(bounds, k), np.float64)
        e, r = np.asarray(_pick(exact.mp, k), dtype=object), np.asarray(_pick(exact.err, k), np.float64)
        for idx in np.ndindex(v.shape):
            if np.isfinite(b[idx]):
                yield k, idx, float(v[idx]), float(b[idx]), e[idx], float(r[idx])


def _error(value: float, exact, ctx) -> Any:
    """|value − exact| with the exact value in mpmath (inf when one is not finite and they differ)."""
    if ctx.isnan(exact) or math.isnan(value):
        return ctx.inf
    if ctx.isinf(exact) or math.isinf(value):
        return ctx.zero if exact == value else ctx.inf
    return abs(ctx.mpf(value) - exact)


def audit(values, bounds, exact: Exact) -> Audit:
    """Compare compiled values and their rounding bounds with the referee: an entry holds when
    |value − exact| ≤ bound + the referee's own error. Entries whose bound is infinite promise
    nothing, and entries where the referee's error exceeds the bound cannot be told: neither is counted."""
    ctx = context(2 * exact.dps)
    held = total = 0
    worst = 0.0
    for _, _, v, b, e, r in _entries(values, bounds, exact):
        if r > b:  # the referee is less sure of the value than the bound is: it cannot tell whether it holds
            continue
        err = _error(v, e, ctx)
        total += 1
        held += bool(err <= ctx.mpf(b) + ctx.mpf(r))
        ratio = float(err / b) if b > 0 else (0.0 if err == 0 else math.inf)
        worst = max(worst, ratio)
    return Audit(held, total, worst)


def breaches(values, bounds, exact: Exact) -> list[str]:
    """Each audited entry that breaks its bound, in words: where, the value, the exact value, the bound."""
    ctx = context(2 * exact.dps)
    out = []
    for k, idx, v, b, e, r in _entries(values, bounds, exact):
        err = _error(v, e, ctx)
        if r <= b and not err <= ctx.mpf(b) + ctx.mpf(r):
            where = f"{k}{list(idx)}" if k is not None else f"{list(idx)}"
            out.append(
                f"{where}: value {v!r}, exact {ctx.nstr(e, 20)}, error {ctx.nstr(err, 3)} > bound {b:.3g} "
                f"({float(err / b) if b else math.inf:.3g} times)"
            )
    return out

"""The three witnesses of a gradient, each with a bound on its own rounding error.

- reverse mode: ``jax.grad`` of the model's own ``loss``, in float64;
- forward mode: ``jax.jvp`` directional derivatives along random directions;
- finite differences: Ridders' extrapolation of central differences of the
  loss evaluated in NumPy, which never touches JAX, with an error estimate.

JAX compiles one program per model and shape. That program checks a batch of
cases at once (``jax.vmap``), carries the rounding bounds of
lab/verify/measure/rounding.py, and is kept, compiled, in the program store
(lab/verify/runtime/): a warm run loads it without tracing the loss or the
rounding interpreter.
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lab.model import Model
from lab.verify.case import Case
from lab.verify.measure import rounding
from lab.verify.measure.rounding import bounded
from lab.verify.runtime import memo, programs
from lab.verify.runtime.jax_config import check_no_fma, jax, jnp, versions
from lab.verify.runtime.source_key import code_key
from lab.verify.runtime.store import file_hash

#: The lab's own files that build the traced program: an edit to any of them is a new program.
_HERE = Path(__file__).parent
BUILDERS = [
    str(_HERE / "autodiff.py"),
    str(_HERE / "rounding.py"),
    str(_HERE.parent / "runtime" / "jax_config.py"),
    str(_HERE.parent / "runtime" / "programs.py"),
]
DIRECTIONS = 2  # random directions per case for the forward-mode and finite-difference witnesses

TRACE_ERRORS = (
    jax.errors.TracerArrayConversionError,
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerBoolConversionError,
    jax.errors.TracerIntegerConversionError,
)


#: The longest pause between two looks at a running program's results, in seconds: a program runs in
#: milliseconds to tenths of a second, and a longer pause is time lost after it ends (a look costs
#: microseconds).
POLL = 0.002


class TraceError(ValueError):
    """The loss cannot be traced by JAX (it calls NumPy instead of the array namespace)."""


#: Seconds a compiled program may run before the verifier gives up on it ($LAB_RUN_BUDGET). A batch
#: runs in well under a second for most models and in a minute for a GP at n = 64; a program that
#: has not returned by then is stuck (XLA cannot be interrupted).
RUN_BUDGET = float(os.environ.get("LAB_RUN_BUDGET", "300"))


class OutOfTime(BaseException):
    """A compiled program did not return within :data:`RUN_BUDGET`. A BaseException, so that Hypothesis
    does not take it for a failure to shrink (every rerun would wait as long again)."""


@dataclass
class Evidence:
    """What the JAX witnesses say about one case, each value with its error bound."""

    loss: float
    loss_err: float
    grad: dict[str, np.ndarray]
    grad_err: dict[str, np.ndarray]
    directions: list[dict[str, np.ndarray]]
    jvp: np.ndarray
    jvp_err: np.ndarray
    hessian: np.ndarray | None = None
    hessian_err: np.ndarray | None = None
    #: What :meth:`vectors` returns, read for the whole batch at once, with the two dicts it was read from
    read: tuple | None = field(default=None, repr=False, compare=False)

    def vectors(self) -> tuple[np.ndarray, np.ndarray, bool]:
        """``grad`` and ``grad_err`` as vectors (:func:`flatten` in ``grad``'s order), and whether every entry
        of ``grad`` is finite. An Evidence made with other dicts (a test moving autodiff's value) reads them
        again from its own."""
        if self.read is not None and self.read[0] is self.grad and self.read[1] is self.grad_err:
            return self.read[2:]
        keys = list(self.grad)
        G = flatten(self.grad, keys) if keys else np.zeros(0)
        E = flatten(self.grad_err, keys) if keys else np.zeros(0)
        return G, E, bool(np.all(np.isfinite(G)))


def flatten(params: dict, keys: list[str]):
    """The parameters as one vector, in the order of ``keys`` (the order ``init`` returns)."""
    parts = [params[k] for k in keys]
    # NumPy's arrays by their exact type first: a check against jax.Array (an abstract class) costs more
    numpy = all(type(p) is np.ndarray for p in parts) or not any(isinstance(p, jax.Array) for p in parts)
    xp = np if numpy else jnp
    return xp.concatenate([xp.reshape(p, (-1,)) for p in parts])


def unflatten(vec, template: dict[str, np.ndarray], keys: list[str] | None = None) -> dict:
    """The inverse of :func:`flatten`: shapes from ``template``, order from ``keys``."""
    out, i = {}, 0
    for k in keys or list(template):
        size = int(np.prod(np.shape(template[k])))
        out[k] = vec[i : i + size].reshape(np.shape(template[k]))
        i += size
    return out


def directions(template: dict[str, np.ndarray], shape: tuple[int, int], k: int = DIRECTIONS):
    """``k`` random unit directions in parameter space, the same for every run at this shape."""
    size = sum(np.size(v) for v in template.values())
    rng = np.random.default_rng([shape[0], shape[1], size, 7])
    out = []
    for _ in range(k):
        v = rng.standard_normal(size)
        out.append(unflatten(v / np.linalg.norm(v), template))
    return out


class Witness:
    """The JAX witnesses for one model, compiled once per shape."""

    def __init__(self, model: Model):
        check_no_fma()
        self.model = model
        self.has_hessian = callable(getattr(model.module, "hessian", None))
        #: The parameter order of ``init``; JAX sorts dict keys, so it is kept here.
        self.keys = list(model.init(model.n_features or 1))
        #: Check the cases of a batch one after another, not side by side (see _decide_sequential).
        self.sequential: bool | None = None
        #: Programs to get ready at the first batch whose evidence the store does not keep (see prefetch).
        self._later: list = []

    def _witnesses(self, params, X, y, hyper, V):
        """Loss, gradient, directional derivatives (and Hessian) of one case, unbounded."""
        loss = self.model.module.loss
        keys = self.keys
        f = lambda q: loss(q, X, y, **hyper)  # noqa: E731
        L, g = jax.value_and_grad(f)(params)
        if self.sequential:  # one direction at a time: every LAPACK call has a batch of one
            k = jax.tree_util.tree_leaves(V)[0].shape[0]
            along = [jax.tree_util.tree_map(lambda a, i=i: a[i], V) for i in range(k)]
            jvp = jnp.stack([jax.jvp(f, (params,), (v,))[1] for v in along])
        else:
            jvp = jax.vmap(lambda v: jax.jvp(f, (params,), (v,))[1])(V)
        out = dict(loss=L, grad=g, jvp=jvp)
        if self.has_hessian:
            out["hessian"] = jax.hessian(lambda v: f(unflatten(v, params, keys)))(flatten(params, keys))
        return out

    def _all(self, params, X, y, hyper, V):
        # The bound is taken over the batched program, so the interpreter traces once per shape
        # rather than once per case under vmap (three times faster to trace).
        if self.sequential:
            return jax.lax.map(lambda a: bounded(self._witnesses)(*a), (params, X, y, hyper, V))
        values, errors = bounded(jax.vmap(self._witnesses))(params, X, y, hyper, V)
        return values, errors

    def _decide_sequential(self, args) -> None:
        """Whether the program must check its cases one after another: when the loss calls LAPACK
        (a Cholesky factor, a solve). XLA:CPU runs independent custom calls at once on its thread
        pool, and jaxlib's LAPACK kernels split a large batch into tasks on that same pool and wait
        for them: with every thread of the pool waiting, none is left to run the tasks, and the
        program never returns (a GP's Cholesky and solve at n = 64, batch 128, on two cores). A
        batch of one is not split."""
        if self.sequential is not None:
            return
        one = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype), args)
        text = jax.jit(self._witnesses).trace(*one).lower().as_text()
        self.sequential = "custom_call" in text

    def source_key(self, tree, flat) -> str | None:
        """The store's key for this program read from source, without tracing; None when the loss
        may depend on more than its source (lab/verify/runtime/source_key.py)."""
        code = code_key(self.model.module.loss)
        if code is None:
            return None
        parts = [
            versions(),
            *(file_hash(f) for f in BUILDERS),
            code,
            f"hessian={self.has_hessian}",
            ",".join(self.keys),
            str(tree),
            *(f"{tuple(a.shape)}{np.dtype(a.dtype).str}" for a in flat),
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def lower(self, args):
        """Trace and lower the program: (lowered, its digest, the primitives met without a rounding rule,
        whether it makes custom calls: LAPACK's kernels are custom calls)."""
        before = set(rounding.approximated)
        rounding.approximated.clear()
        try:
            self._decide_sequential(args)
            lowered = jax.jit(self._all).trace(*args).lower()
            names = sorted(rounding.approximated)
        finally:
            rounding.approximated.update(before)
        flat, tree = jax.tree_util.tree_flatten(args)
        # the arguments' shapes too: JAX drops unused arguments from the lowered text, so a loss that
        # ignores X and y lowers to the same text for every n, and a program compiled for one n
        # would be loaded for another
        shapes = " ".join(f"{tuple(np.shape(a))}{np.dtype(a.dtype).str}" for a in flat)
        ir = lowered.as_text()
        text = f"{versions()}\n{programs.COMPILE_OPTIONS}\n{tree}\n{shapes}\n{ir}"
        return lowered, hashlib.sha256(text.encode()).hexdigest(), names, "custom_call" in ir

    def prefetch(self, batches: list[list[Case]], size: int, stored_only: bool = False) -> None:
        """Get the programs for the shapes of ``batches`` ready while the search draws and judges, from the
        first batch whose evidence the store does not keep: a warm run needs no program, and loading
        them would only take a core from the hand code (a warm transformer: 4.0 s against 2.9 s)."""
        args = [self._arrays(b, size) for b in batches]
        if programs.STORE.enabled:
            self._later.append((args, stored_only))
        else:
            programs.prefetch(self, args, stored_only)

    def _run(self, args, fresh: bool = False):
        """The program's outputs for ``args`` (still computing), the primitives it bounds without a rule,
        and whether the program came from the store; ``fresh``: compiled anew, replacing the stored one."""
        try:
            out, names, loaded = (programs.rebuild if fresh else programs.run)(self, args)
        except TRACE_ERRORS as e:
            raise TraceError(
                f"JAX cannot trace {self.model.name}.loss: {type(e).__name__}: {str(e).splitlines()[0]} "
                "(write the loss with array_namespace(X, y), not numpy)"
            ) from None
        # the primitives without a rounding rule, each time a program runs (a run of lab verify --watch
        # may find the program in memory, from a run before)
        rounding.approximated.update(names)
        return out, names, loaded

    def _arrays(self, batch: list[Case], size: int, V=None):
        """The program's arguments for ``batch`` padded to ``size`` cases, as NumPy arrays."""
        template = {k: batch[0].params[k] for k in self.keys}
        V = directions(template, batch[0].shape) if V is None else V
        padded = [batch[i % len(batch)] for i in range(max(size, len(batch)))]
        stack = np.stack
        params = {k: stack([c.params[k] for c in padded]) for k in template}
        hyper = {k: stack([c.hyper[k] for c in padded]) for k in batch[0].hyper}
        Vs = {k: stack([np.stack([v[k] for v in V])] * len(padded)) for k in template}
        return params, stack([c.X for c in padded]), stack([c.y for c in padded]), hyper, Vs

    def _wait(self, out, size: int, case: Case) -> None:
        """Wait for the program's results, at most :data:`RUN_BUDGET` seconds; then :class:`OutOfTime`,
        in one line naming the model, the shape and what was running."""
        leaves = jax.tree_util.tree_leaves(out)
        start = time.monotonic()
        pause = 0.001
        while not all(a.is_ready() for a in leaves):
            if time.monotonic() - start > RUN_BUDGET:
                what = "loss, gradient, directional derivatives" + (", Hessian" if self.has_hessian else "")
                raise OutOfTime(
                    f"stopped after {RUN_BUDGET:.0f} s: the witnesses' program of {self.model.name} ({what} "
                    "and their rounding bounds) "
                    f"for {size} cases of {case.size_words()} did not return (raise $LAB_RUN_BUDGET if it is only slow)"
                )
            time.sleep(pause)
            pause = min(2 * pause, POLL)

    def evaluate(self, batch: list[Case], size: int) -> list[Evidence]:
        """Evidence for each case of ``batch`` (all of one shape), padded to ``size`` cases."""
        return self.start(batch, size)()

    def start(self, batch: list[Case], size: int) -> Callable[[], list[Evidence]]:
        """Start the program on ``batch`` and return the call that waits for its evidence: XLA runs it on
        threads of its own, so the caller may compute the hand side meanwhile. Evidence that this
        program gave for these arrays before is read from the store instead (lab/verify/runtime/memo.py)."""
        V = directions({k: batch[0].params[k] for k in self.keys}, batch[0].shape)
        args = self._arrays(batch, size, V)
        name = self._memo_name(args, len(batch))
        kept = memo.get(name) if name else None
        if kept is not None:
            out, names = kept
            rounding.approximated.update(names)
            return functools.partial(self._read, out, batch, V)
        for later in self._later:
            programs.prefetch(self, *later)
        self._later.clear()
        # device_put, not jnp.asarray: that would compile a copy for every new shape
        args = jax.device_put(args)
        out, names, loaded = self._run(args)
        return functools.partial(self._evidence, out, names, loaded, args, batch, size, V, name)

    def _memo_name(self, args, cases: int) -> str | None:
        """The store's name for the evidence of this program on ``args``, the first ``cases`` of them kept
        (a batch padded with copies of itself): None when the program has no key."""
        flat, tree = jax.tree_util.tree_flatten(args)
        code = self.source_key(tree, flat)
        return None if code is None else memo.key("evidence", [code, f"cases {cases}"], flat)

    def _evidence(self, out, names, loaded: bool, args, batch: list[Case], size: int, V, name) -> list[Evidence]:
        try:
            self._wait(out, size, batch[0])
            values, errors = jax.tree_util.tree_map(np.asarray, out)
        except jax.errors.JaxRuntimeError:
            # XLA reports some failures of a program only when its outputs are read. One from the store
            # that fails so (a copy JAX's own cache handed back, and the store kept) is compiled anew
            if not loaded:
                raise
            out, names, _ = self._run(args, fresh=True)
            self._wait(out, size, batch[0])
            values, errors = jax.tree_util.tree_map(np.asarray, out)
        out = dict(values, **{f"{k}_err": v for k, v in errors.items()})
        if name:  # the batch's own cases, not the copies that pad it
            memo.put(name, (jax.tree_util.tree_map(lambda a: a[: len(batch)], out), names))
        return self._read(out, batch, V)

    def _read(self, out: dict, batch: list[Case], V) -> list[Evidence]:
        """One :class:`Evidence` per case of ``batch`` from the program's outputs, as NumPy arrays."""
        n, keys = len(batch), list(out["grad"])

        def rows(g: str) -> np.ndarray:  # (n, P): case i's vector in row i
            return np.concatenate([np.zeros((n, 0)), *(np.reshape(out[g][k][:n], (n, -1)) for k in keys)], axis=1)

        G, E = rows("grad"), rows("grad_err")
        finite = np.all(np.isfinite(G), axis=1)
        evidence = []
        for i in range(n):
            grad, grad_err = {k: v[i] for k, v in out["grad"].items()}, {k: v[i] for k, v in out["grad_err"].items()}
            evidence.append(
                Evidence(
                    loss=float(out["loss"][i]),
                    loss_err=float(out["loss_err"][i]),
                    grad=grad,
                    grad_err=grad_err,
                    directions=V,
                    jvp=out["jvp"][i],
                    jvp_err=out["jvp_err"][i],
                    hessian=out["hessian"][i] if self.has_hessian else None,
                    hessian_err=out["hessian_err"][i] if self.has_hessian else None,
                    read=(grad, grad_err, G[i], E[i], bool(finite[i])),
                )
            )
        return evidence

"""The witnesses' compiled programs: in memory, in the program store on disk, or compiled anew.

A program is asked for by a *source*: an object with ``source_key(tree, flat)`` (the store's key
read from code, or None) and ``lower(args)`` (trace and lower: the lowered program, its digest, the
primitives met without a rounding rule, and whether it makes custom calls). The program comes from
memory, from the store by source key (no tracing), from the store by the digest of its lowered text
(traced, not compiled), or is compiled and stored under both keys.
"""

from __future__ import annotations

import pickle

from lab.verify.runtime.jax_config import CACHE_DIR, jax
from lab.verify.runtime.ops_cache import jax_cache_open
from lab.verify.runtime.store import Store

#: Compiled programs kept in memory. Each holds executable pages; past about 400
#: of them LLVM runs out of memory maps. The program store makes a reload cheap.
MAX_LIVE_PROGRAMS = 64
#: XLA's options for the witness programs. LLVM's optimizations take 60% of a compile and buy little
#: here: a program runs in milliseconds, is compiled once per shape, and its rounding bounds hold for
#: any order of evaluation the optimizer could choose. XLA:CPU's newer (MLIR) fusion emitters took 1.6
#: to 3 times as long to compile the witness programs as its older elemental emitter (a transformer's:
#: 7.3 s against 4.4 s, jax 0.10.2), for programs that ran as fast and computed the same bits. It is
#: asked of the JAX it was measured on and later ones: an XLA that does not know an option refuses it.
COMPILE_OPTIONS: dict = {"xla_backend_optimization_level": 0}
if tuple(int(p) for p in jax.__version__.split(".")[:2]) >= (0, 10):
    COMPILE_OPTIONS["xla_cpu_use_fusion_emitters"] = False
#: The compiled programs on disk (lab/verify/runtime/store.py), beside JAX's cache folder; off with it. The
#: measurements kept there (names "m-...", lab/verify/runtime/memo.py) are the first to go when it is full:
#: one is remade by running a program, a program by tracing and compiling it (seconds to minutes).
STORE = Store(None if CACHE_DIR is None else CACHE_DIR / "programs", first=("m-",))

live: dict = {}  # key -> compiled program, oldest first
_approximated_by: dict = {}  # id(program) -> the primitives it bounds without a rule
pending: dict = {}  # key -> future of (program, from the store) being made ready (see prefetch)
_workers: list = []  # the threads that load and compile, started on first use


def use_store(root) -> None:
    """Keep programs in ``root`` from now on (None: keep none on disk); what is in memory is dropped."""
    STORE.root = root
    live.clear()
    pending.clear()


def _remember(key, program) -> None:
    if key in live:
        return
    if len(live) >= MAX_LIVE_PROGRAMS:
        jax.clear_caches()
        live.pop(next(iter(live)))
    live[key] = program


def approximated_by(program) -> list[str]:
    """The primitives ``program`` bounds without a rounding rule (noted when it was traced)."""
    return _approximated_by.get(id(program), [])


def _compile(lowered, digest: str, names: list[str], calls: bool):
    program = lowered.compile(COMPILE_OPTIONS)
    _approximated_by[id(program)] = names
    if jax_cache_open():  # it may be JAX's copy: stored, it would load and then fail to run ("not found")
        return program
    try:
        from jax.experimental.serialize_executable import serialize

        STORE.put(f"p-{digest}", pickle.dumps((serialize(program), names, calls)))
    except Exception:  # a program JAX cannot serialize (constants captured) stays in memory only
        pass
    return program


def _lapack_ready() -> None:
    """Load LAPACK's functions into jaxlib's kernels. JAX does it while lowering a program that calls
    them (a Cholesky factor, a solve); a program loaded from the store was never lowered in this
    process, and its first LAPACK call would jump through a null pointer (a segfault). It imports
    SciPy, 0.08 to 0.17 s, so a program is stored with whether it makes custom calls, and only one
    that does pays for it."""
    try:
        from jax._src.lax.linalg import initialize_lapack

        initialize_lapack()
    except Exception:  # another JAX: lowering a program initializes it as before
        pass


def _load(digest: str, names: list[str] | None = None):
    """The program stored under ``digest``, or None (missing, damaged, or from another JAX). ``names``,
    from a trace just made, replace the primitives stored with it as met without a rule: rules change
    what a trace notes and may leave its lowered text as it was (a branch that is never read)."""
    payload = STORE.get(f"p-{digest}")
    if payload is None:
        return None
    try:
        from jax.experimental.serialize_executable import deserialize_and_load

        (blob, in_tree, out_tree), stored, calls = pickle.loads(payload)
        if calls:
            _lapack_ready()
        program = deserialize_and_load(blob, in_tree, out_tree)
    except Exception:
        STORE.discard(f"p-{digest}")
        return None
    if names is not None and list(names) != list(stored):  # read by its source key next time: keep them
        STORE.put(f"p-{digest}", pickle.dumps(((blob, in_tree, out_tree), names, calls)))
    _approximated_by[id(program)] = stored if names is None else names  # what tracing notes, for the report
    return program


def _stored(key: str):
    ref = STORE.get(f"s-{key}")
    return _load(ref.decode(errors="replace")) if ref else None


def program(source, args, fresh: bool = False):
    """The compiled program for arguments shaped like ``args``, and whether it came from the store."""
    flat, tree = jax.tree_util.tree_flatten(args)
    key = None if fresh else source.source_key(tree, flat)
    if key is not None:
        if key in live:
            return live[key], False
        prog, loaded = pending.pop(key).result() if key in pending else (_stored(key), True)
        if prog is not None:
            _remember(key, prog)
            return prog, loaded
    lowered, digest, names, calls = source.lower(args)
    prog = None if fresh else (live.get(digest) or _load(digest, names))
    loaded = prog is not None
    if prog is None:
        prog = _compile(lowered, digest, names, calls)
    if key is not None:
        STORE.put(f"s-{key}", digest.encode())
        _remember(key, prog)
    _remember(digest, prog)
    return prog, loaded


def _build(key: str, lowered, digest: str, names: list[str], calls: bool):
    prog = _load(digest, names)
    loaded = prog is not None
    if prog is None:
        prog = _compile(lowered, digest, names, calls)
    STORE.put(f"s-{key}", digest.encode())
    return prog, loaded


def prefetch(source, arg_list, stored_only: bool = False) -> None:
    """Get the programs for ``arg_list`` ready in background threads. A stored program is loaded there
    (loading releases the GIL); a missing one is traced here, one after another, and compiled there,
    so tracing the next overlaps compiling this (unless ``stored_only``)."""
    for args in arg_list:
        flat, tree = jax.tree_util.tree_flatten(args)
        key = source.source_key(tree, flat)
        if key is None or key in live or key in pending:
            continue
        if not _workers:
            from concurrent.futures import ThreadPoolExecutor

            _workers.append(ThreadPoolExecutor(2, thread_name_prefix="lab-program"))
        if STORE.enabled and (STORE.root / f"s-{key}").exists():
            pending[key] = _workers[0].submit(lambda key=key: (_stored(key), True))
            continue
        if stored_only:
            continue
        try:
            lowered, digest, names, calls = source.lower(args)
        except Exception:  # the search meets the error itself, and reports it there
            return
        pending[key] = _workers[0].submit(_build, key, lowered, digest, names, calls)


def run(source, args):
    """Run the program for ``args``: (its outputs, still computing; the primitives it bounds without a rule;
    whether it came from the store). A stored program that loads but does not run is rebuilt from the loss,
    and replaced; one that fails only when its outputs are read is for the caller to :func:`rebuild`."""
    prog, loaded = program(source, args)
    try:
        return prog(*args), approximated_by(prog), loaded
    except jax.errors.JaxRuntimeError:
        if not loaded:
            raise
    return rebuild(source, args)


def rebuild(source, args):
    """:func:`run` with the program compiled anew from the loss, replacing the one in memory and in the store."""
    live.clear()
    prog, _ = program(source, args, fresh=True)
    return prog(*args), approximated_by(prog), False

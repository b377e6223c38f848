"""JAX's own persistent cache, for the programs of primitives run one at a time.

The referee replays a program in float64 one primitive at a time, and runs integer arithmetic and
data moves (gather, transpose, ...) in JAX. Each primitive at each shape is a program XLA compiles,
about 25 ms each, hundreds for a failing model, and again in every process. Inside
:func:`one_op_programs_kept` JAX keeps them in ``CACHE_DIR/ops`` and reads them back later.

Only there: the lab's own programs are kept by the program store (store.py), which needs the
executable XLA compiled, not one JAX read back from its cache, and none is compiled in that scope.
With ``LAB_JAX_CACHE=off`` nothing is kept.
"""

from __future__ import annotations

import contextlib

from lab.verify.runtime.jax_config import CACHE_DIR, jax

#: Where the one-operation programs are kept (None: not kept).
OPS_DIR = None if CACHE_DIR is None else CACHE_DIR / "ops"
#: JAX drops the least recently used programs beyond this size (a program is about 4 kB).
OPS_MAX_MB = 64

_open: list[bool] = [False]


def jax_cache_open() -> bool:
    """Whether JAX's own cache is on now: a program compiled now may be one it read back, which the
    program store cannot keep (its serialized form misses the functions XLA compiled into it)."""
    return _open[0]


@contextlib.contextmanager
def one_op_programs_kept():
    """While open, JAX keeps and reads back on disk the programs it compiles (nests; a no-op when off)."""
    if OPS_DIR is None or _open[0]:  # off, or open already further out
        yield
        return
    from jax.experimental.compilation_cache import compilation_cache

    settings = {
        "jax_compilation_cache_dir": str(OPS_DIR),
        "jax_persistent_cache_min_compile_time_secs": 0.0,  # a primitive compiles in milliseconds
        "jax_persistent_cache_min_entry_size_bytes": 0,
        "jax_compilation_cache_max_size": OPS_MAX_MB * 2**20,
    }
    before = {k: getattr(jax.config, k) for k in settings}
    for k, v in settings.items():
        jax.config.update(k, v)
    compilation_cache.reset_cache()  # JAX decides once whether its cache is on: ask again
    _open[0] = True
    try:
        yield
    finally:
        _open[0] = False
        for k, v in before.items():
            jax.config.update(k, v)
        compilation_cache.reset_cache()


__all__ = ["OPS_DIR", "OPS_MAX_MB", "jax_cache_open", "one_op_programs_kept"]

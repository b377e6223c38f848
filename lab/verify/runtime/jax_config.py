"""JAX as the witness: CPU only, float64, and where compiled programs are kept.

This is the one place the lab switches on x64. Every module that needs JAX
imports it from here, so the switch happens before any JAX array exists.
The model modules never import this: JAX checks their gradients, it does not
compute them.

The witnesses' compiled programs are kept on disk by the lab's program store
(lab/verify/runtime/store.py) in ``CACHE_DIR``: ``$LAB_JAX_CACHE``, else the user's cache
folder (``$XDG_CACHE_HOME`` or ``~/.cache``) ``/gradient-lab/jax``; ``LAB_JAX_CACHE=off``
keeps nothing. JAX's own persistent compilation cache is not switched on for them: a
program it hands back cannot be stored again, and the store keeps the traced program
too, which JAX's cache does not. It is switched on only for the programs of primitives
run one at a time, in ``CACHE_DIR/ops`` (runtime/ops_cache.py).

XLA's CPU compiler turns a·b + c into one fused multiply-add (FMA) wherever the
processor has that instruction, and it need not do so in every copy of a value it
recomputes. The witness then differs from the loss as written: a compiled
``jnp.max(X @ W + b)`` compared its maximum with a second copy of ``X @ W + b``
that was fused differently, found no entry equal to it, and returned an infinite
gradient; a residual y − z that is exactly 0 on a kink came out as 5.6e-17, with a
rounding bound that assumed two roundings. The processor's instruction set is
therefore capped at AVX, which has no FMA, before JAX starts: every compiled
program then rounds each operation as written, as NumPy and eager JAX do (sums
may still run in another order, which the rounding bounds allow).
"""

import hashlib
import os
import platform
import sys
from pathlib import Path

from lab.verify.runtime.store import cache_dir

os.environ.setdefault("JAX_PLATFORMS", "cpu")
#: The XLA flag that keeps fused multiply-adds out of compiled programs (see above).
NO_FMA = "--xla_cpu_max_isa=AVX"
_flags = os.environ.get("XLA_FLAGS", "")


def _backend_started() -> bool:
    """Whether JAX has made its CPU client already: XLA reads XLA_FLAGS then, and never again."""
    bridge = sys.modules.get("jax._src.xla_bridge")
    return bridge is not None and bridge.backends_are_initialized()


_started_first = _backend_started()
if "xla_cpu_max_isa" not in _flags:
    os.environ["XLA_FLAGS"] = f"{_flags} {NO_FMA}".strip()

import jax  # noqa: E402
import jax.extend.core  # noqa: E402,F401  (jaxpr types, read by lab.verify.measure.rounding)
import jax.numpy as jnp  # noqa: E402

jax.config.update("jax_enable_x64", True)


def fuses_multiply_add() -> bool:
    """Whether this process's compiled programs contract a·b + c into one rounding. True when JAX
    started before this module could cap the instruction set, or XLA_FLAGS caps it at a set with FMA."""
    import numpy as np

    a, b, c = np.random.default_rng(0).normal(size=(3, 256))
    return bool(np.any(np.asarray(jax.jit(lambda a, b, c: a * b + c)(a, b, c)) != a * b + c))


_probed: list[bool] = []  # the probe's answer, once per process


def check_no_fma() -> None:
    """Raise, every time it is asked, when compiled programs would fuse multiply-adds, with the
    one-line remedy. Only probes when the cap may not have taken hold: JAX already running, or a
    max ISA chosen by the user."""
    if not (_started_first or "xla_cpu_max_isa" in _flags):
        return
    if not _probed:
        _probed.append(fuses_multiply_add())
    if _probed[0]:
        raise RuntimeError(
            "JAX compiles a·b + c into fused multiply-adds in this process, so its witnesses would not "
            f"round as the loss is written: import lab before JAX starts, or set XLA_FLAGS={NO_FMA}"
        )


CACHE_DIR = cache_dir()


_versions: list[str] = []


def _read_versions() -> str:
    """JAX, jaxlib, Python, the lab's package version, and the machine the code is compiled for."""
    import array_api_compat
    import jaxlib
    import numpy

    try:
        from importlib.metadata import version

        lab_version = version("gradient-lab")
    except Exception:  # not installed: a checkout on sys.path
        lab_version = "unknown"
    backend = jax.devices()[0].client
    return "|".join(
        [
            f"jax {jax.__version__}",
            f"jaxlib {jaxlib.__version__}",
            f"python {sys.version_info[:3]}",
            f"numpy {numpy.__version__}",
            f"array-api-compat {array_api_compat.__version__}",
            f"lab {lab_version}",
            f"{backend.platform} {backend.platform_version}",
            platform.machine(),
            _cpu_flags(),
            f"x64 {jax.config.jax_enable_x64}",
            f"XLA_FLAGS {os.environ.get('XLA_FLAGS', '')}",
        ]
    )


def _cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return hashlib.sha256(line.encode()).hexdigest()[:16]
    return ""


def versions() -> str:
    """JAX, jaxlib, Python, the lab's package version, and the machine the code is compiled for (read once)."""
    if not _versions:
        _versions.append(_read_versions())
    return _versions[0]


__all__ = ["jax", "jnp", "CACHE_DIR", "cache_dir", "check_no_fma", "NO_FMA", "versions"]

"""JAX as the witness: CPU only, float64, and a persistent compilation cache.

This is the one place the lab switches on x64. Every module that needs JAX
imports it from here, so the switch happens before any JAX array exists.
The model modules never import this: JAX checks their gradients, it does not
compute them.
"""

import os
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.extend.core  # noqa: E402,F401  (jaxpr types, read by lab.verify.rounding)
import jax.numpy as jnp  # noqa: E402

jax.config.update("jax_enable_x64", True)

#: Compiled programs are kept on disk, so a second run skips XLA compilation.
CACHE_DIR = Path(
    os.environ.get("LAB_JAX_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gradient-lab" / "jax"
)
if os.environ.get("LAB_JAX_CACHE", "") != "off":
    jax.config.update("jax_compilation_cache_dir", str(CACHE_DIR))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

__all__ = ["jax", "jnp", "CACHE_DIR"]

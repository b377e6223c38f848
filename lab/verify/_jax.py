"""JAX as the witness: CPU only, float64, and where compiled programs are kept.

This is the one place the lab switches on x64. Every module that needs JAX
imports it from here, so the switch happens before any JAX array exists.
The model modules never import this: JAX checks their gradients, it does not
compute them.

The witnesses' compiled programs are kept on disk by the lab's program store
(lab/verify/store.py) in ``CACHE_DIR``: ``$LAB_JAX_CACHE``, else the user's cache
folder (``$XDG_CACHE_HOME`` or ``~/.cache``) ``/gradient-lab/jax``; ``LAB_JAX_CACHE=off``
keeps nothing. JAX's own persistent compilation cache is not switched on: a program
it hands back cannot be stored again, and the store keeps the traced program too,
which JAX's cache does not.
"""

import os
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.extend.core  # noqa: E402,F401  (jaxpr types, read by lab.verify.rounding)
import jax.numpy as jnp  # noqa: E402

jax.config.update("jax_enable_x64", True)


def cache_dir() -> Path | None:
    """The folder of the lab's compiled programs, or None when ``LAB_JAX_CACHE=off``."""
    env = os.environ.get("LAB_JAX_CACHE", "")
    if env == "off":
        return None
    return Path(env or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gradient-lab" / "jax")


CACHE_DIR = cache_dir()

__all__ = ["jax", "jnp", "CACHE_DIR", "cache_dir"]

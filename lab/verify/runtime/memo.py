"""Measurements kept in the program store, so that a warm run does not measure again what it measured.

A measurement is a function of code and numbers alone. The witnesses' evidence for a batch is what
their compiled program (named by its source key) returns for the batch's arrays. A finite difference
is what the loss (named by its code key) gives at the points it evaluates. Each is kept under a
SHA-256 of the code's key, the measuring code's own files, the versions (of Python, NumPy, JAX, the
lab, and the processor's features), and the numbers' bytes. So the usual edit, to the hand ``grad``,
leaves every measurement of the loss in place. An edit to the loss, to the lab's measuring code or to
a version makes new keys. Where the code has no key (lab/verify/runtime/source_key.py), nothing is
kept. When the store is full, kept measurements are the first to go, before any program
(lab/verify/runtime/programs.py).
"""

from __future__ import annotations

import hashlib
import pickle

import numpy as np

from lab.verify.runtime import programs
from lab.verify.runtime.jax_config import versions

#: The format of a kept measurement; a new one makes new keys.
FORMAT = "gradient-lab memo 1"


def key(kind: str, words: list[str], arrays: list) -> str:
    """The store's name for a measurement of ``kind`` made by the code named in ``words`` from ``arrays``."""
    h = hashlib.sha256("\n".join([FORMAT, versions(), kind, *words]).encode())
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}{a.dtype.str}".encode())
        h.update(a.tobytes())
    return f"m-{kind}-{h.hexdigest()}"


def get(name: str):
    """The measurement kept under ``name``, or None (never kept, aged out, damaged, or unreadable)."""
    payload = programs.STORE.get(name)
    if payload is None:
        return None
    try:
        return pickle.loads(payload)
    except Exception:  # written by another lab, or damaged past the checksum's reach
        programs.STORE.discard(name)
        return None


def put(name: str, value) -> None:
    """Keep ``value`` (NumPy arrays, floats, strings, in dicts, lists and tuples) under ``name``."""
    programs.STORE.put(name, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))

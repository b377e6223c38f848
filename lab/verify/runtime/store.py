"""The program store: the witnesses' compiled programs on disk, so a warm run neither traces nor compiles.

Tracing the witnesses with the rounding interpreter inside costs more than running them, so the
store keeps the compiled program itself (``jax.experimental.serialize_executable``) under two keys:

- ``s-KEY``, by source: a hash of everything the traced program is made of, read without tracing:
  the source files the loss reaches (its model file, and the lab's and the user's modules it calls),
  the lab's own witness code, the argument shapes, and the versions (below). A hit loads the program.
- ``p-HASH``, by program: a hash of the lowered StableHLO. An edit that leaves the loss's program as
  it was (the usual edit: ``grad``) misses the first key, traces and lowers, and finds the program here
  without compiling it.

Every key holds the version of JAX, jaxlib, Python, NumPy, array-api-compat and the lab, and the CPU's platform and
features, since an executable is machine code. Entries are written to a temporary file and renamed
into place, so two processes that share the store never read half an entry, and each entry carries
a SHA-256 of its payload, checked before it is loaded: a truncated or corrupt entry is deleted and
rebuilt, never trusted. The store keeps under ``LAB_CACHE_MAX_MB`` (default 512) by removing the
entries least recently used, under a file lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

MAGIC = b"gradient-lab program store 1\n"
MAX_MB = float(os.environ.get("LAB_CACHE_MAX_MB") or 512)


def cache_dir() -> Path | None:
    """The folder of the lab's caches, or None when ``LAB_JAX_CACHE=off``: ``$LAB_JAX_CACHE``, else
    ``$XDG_CACHE_HOME`` (or ``~/.cache``) ``/gradient-lab/jax``."""
    env = os.environ.get("LAB_JAX_CACHE", "")
    if env == "off":
        return None
    return Path(env or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gradient-lab" / "jax")


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class Store:
    """A folder of checksummed entries, each a file named by its key."""

    def __init__(self, root: Path | None, max_bytes: float = MAX_MB * 2**20, first: tuple[str, ...] = ()):
        self.root = root
        self.max_bytes = max_bytes
        #: Names starting so are removed before any other when the store is over its size (then by last use)
        self.first = first
        self.corrupt = 0  # entries found damaged (and removed) in this process
        self._written = 0  # bytes written since the last trim
        self._trimmed = False  # a trim scans every entry: at the first write of the process, then every max/20 bytes

    @property
    def enabled(self) -> bool:
        return self.root is not None

    def _path(self, name: str) -> Path:
        assert self.root is not None
        return self.root / name

    def get(self, name: str) -> bytes | None:
        """The payload stored under ``name``, or None when it is missing or damaged (then removed)."""
        if self.root is None:
            return None
        path = self._path(name)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        head = len(MAGIC) + 32
        if len(data) < head or not data.startswith(MAGIC) or _digest(data[head:]) != data[len(MAGIC) : head]:
            self.discard(name)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # least recently used goes first
        return data[head:]

    def discard(self, name: str) -> None:
        """Remove an entry that turned out damaged or unusable, so the next run rebuilds it."""
        self.corrupt += 1
        if self.root is not None:
            with contextlib.suppress(OSError):
                self._path(name).unlink()

    def put(self, name: str, payload: bytes) -> None:
        """Store ``payload`` under ``name``, atomically; a store that cannot be written is skipped."""
        if self.root is None:
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(MAGIC + _digest(payload) + payload)
            os.replace(tmp, self._path(name))
        except OSError:
            with contextlib.suppress(OSError, UnboundLocalError):
                os.unlink(tmp)
            return
        self._written += len(payload)
        if self._written > self.max_bytes / 20 or not self._trimmed:
            self.trim()

    def entries(self) -> list[os.DirEntry]:
        if self.root is None or not self.root.is_dir():
            return []
        return [e for e in os.scandir(self.root) if e.is_file() and not e.name.startswith(".")]

    def size(self) -> int:
        return sum(e.stat().st_size for e in self.entries())

    def trim(self, max_bytes: float | None = None) -> int:
        """Remove entries until the store fits, those named by ``first`` before the others, each group the
        least recently used first; the number removed."""
        limit = self.max_bytes if max_bytes is None else max_bytes
        self._written, self._trimmed = 0, True
        removed = 0
        with self.lock():
            old = [e for e in os.scandir(self.root) if e.name.startswith(".tmp-")]
            for e in old:  # a writer that died between write and rename
                with contextlib.suppress(OSError):
                    if time.time() - e.stat().st_mtime > 3600:
                        os.unlink(e.path)
            stats = [(not e.name.startswith(self.first), e.stat().st_mtime, e.stat().st_size, e.path)
                     for e in self.entries()]  # fmt: skip
            total = sum(s for _, _, s, _ in stats)
            for _, _, s, path in sorted(stats):
                if total <= limit:
                    break
                with contextlib.suppress(OSError):
                    os.unlink(path)
                    removed += 1
                total -= s
        return removed

    @contextlib.contextmanager
    def lock(self):
        from filelock import FileLock

        assert self.root is not None
        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.root / ".lock"), timeout=60):
            yield

    def clear(self) -> int:
        """Remove every entry; the number removed."""
        if self.root is None or not self.root.is_dir():
            return 0
        with self.lock():
            n = 0
            for e in self.entries():
                with contextlib.suppress(OSError):
                    os.unlink(e.path)
                    n += 1
        return n


# -- what a key is made of -----------------------------------------------------------------------------


def installed(path: str) -> bool:
    """A file of the Python installation or of an installed package (never edited in place)."""
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    return any(path.startswith(p + os.sep) for p in prefixes if p) or "site-packages" in path


_file_hashes: dict[tuple[str, int, int], str] = {}


def file_hash(path: str) -> str:
    """The SHA-256 of a file's bytes, remembered while its size and modification time stay."""
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    key = (path, st.st_mtime_ns, st.st_size)
    if key not in _file_hashes:
        try:
            _file_hashes[key] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except OSError:
            return "missing"
    return _file_hashes[key]

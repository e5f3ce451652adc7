"""Keeping Numba's on-disk cache of the interpreter consistent with its sources.

Numba re-compiles a cached function when the file that defines it changes, but not when a file it calls
into or takes constants from changes (its machine code has them inlined). The interpreter spans several
files (`kinds`, `table`, `arith`, `fabric_ops`, `simple_ops`, `interpreter`), so this module keeps a hash of all of
them next to the cache and drops the cached machine code of all of them when any changed.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = ("kinds.py", "table.py", "arith.py", "fabric_ops.py", "simple_ops.py", "interpreter.py")
STAMP = "wafersim-interpreter.sha256"


def sources_hash() -> str:
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update((HERE / name).read_bytes())
    return digest.hexdigest()


def drop_if_stale(dispatcher) -> None:
    """Remove the cached machine code of the interpreter's files from the cache directory of `dispatcher`
    (a `cache=True` function of this package) unless it was written from the current sources. Does
    nothing where the cache directory cannot be found or written (Numba then compiles in memory)."""
    try:
        directory = Path(dispatcher._cache._cache_path)  # (Numba's locator: __pycache__, NUMBA_CACHE_DIR, ...)
    except AttributeError:
        return
    stamp, current = directory / STAMP, sources_hash()
    try:
        if stamp.exists() and stamp.read_text() == current:
            return
        if directory.exists():
            stems = tuple(Path(name).stem + "." for name in SOURCES)
            for path in directory.iterdir():
                if path.name.startswith(stems) and path.suffix in (".nbi", ".nbc"):
                    path.unlink()
        directory.mkdir(parents=True, exist_ok=True)
        stamp.write_text(current)
    except OSError:
        return

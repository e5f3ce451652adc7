"""Keeping Numba's on-disk cache of the interpreter consistent with its sources.

Numba re-compiles a cached function when the file that defines it changes, but not when a file it calls
into or takes constants from changes (its machine code has them inlined). The interpreter spans several
files (`kinds`, `table`, `arith`, `fabric_ops`, `simple_ops`, `interpreter`), so this module keeps a hash of all of
them next to the cache and drops the cached machine code of all of them when any changed.

It also makes sure Numba has somewhere to keep that cache (`choose_cache_dir`): Numba refuses to define a
`cache=True` function at all ("cannot cache function ...: no locator available") where neither the
package's `__pycache__` folders nor the user's cache folder can be written -- a read-only install run by
a user without a writable home, as in many containers. And a damaged cache file (truncated by a full
disk or a crash) makes Numba raise a bare `pickle` error on every call that loads it: `damaged_cache` tells
such an error, `empty_damaged_caches` empties the caches so that the next call compiles again.
"""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
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


def _writable(directory: Path) -> bool:
    """Whether a file can be made in `directory` (created if missing), as Numba's cache locators test it."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            return True
    except OSError:
        return False


def choose_cache_dir() -> str | None:
    """Give Numba a cache folder of its own in the system's temporary folder (`NUMBA_CACHE_DIR`) where it
    has none: the package's `__pycache__` cannot be written, nor the user's cache folder, and the user set
    none. Returns the folder chosen, or None (nothing changed). Called before any `cache=True` function
    is defined (`wafersim.sim` imports it first); cheap, and it never imports Numba."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    if _writable(HERE.parent / "__pycache__"):
        return None
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "numba"
    if _writable(user_cache):
        return None
    chosen = Path(tempfile.gettempdir()) / f"wafersim-numba-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    os.environ["NUMBA_CACHE_DIR"] = str(chosen)
    numba_config = sys.modules.get("numba.core.config")
    if numba_config is not None:  # (Numba imported already: it read the variable at its import)
        numba_config.CACHE_DIR = str(chosen)
    return str(chosen)


def damaged_cache(error: BaseException):
    """The Numba cache (`numba.core.caching.Cache`) whose file `error` was raised reading, or None where it
    was not raised inside Numba's cache module (then it is not a damaged cache file)."""
    traceback, cache = error.__traceback__, None
    while traceback is not None:
        frame = traceback.tb_frame
        if frame.f_code.co_filename.replace("\\", "/").endswith("numba/core/caching.py"):
            owner = frame.f_locals.get("self")
            if cache is None and hasattr(owner, "_cache_file") and hasattr(owner, "flush"):
                cache = owner
            elif cache is None:
                cache = True
        traceback = traceback.tb_next
    return cache


def empty_damaged_cache(error: BaseException) -> bool:
    """Empty the cache index of the function whose cache file `error` was raised reading (Numba compiles it
    again on its next call and writes a fresh cache); False if `error` was not a damaged cache's."""
    cache = damaged_cache(error)
    if cache is None:
        return False
    if cache is not True:
        try:
            cache.flush()
        except OSError:
            pass
    return True

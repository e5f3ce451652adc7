"""Importing Numba without the optional packages it imports only for features the engine never uses.

`import numba` imports `coverage`, where installed, to extend a running coverage measurement to the lines it
compiles (`numba.misc.coverage_support`), SciPy, where installed, only to check that its version is at least
1.0 (`numba._ensure_critical_deps`), and PyYAML, where installed, to read a `.numba_config.yaml` in the working
directory (`numba.core.config`). The engine loads cached machine code and compiles little; none of them serves
its launches, and all are a fresh process's first launch's time: on the stop-53 VM (2-core AMD EPYC, process
CPU, medians of 12-15 fresh processes) Numba's import took 0.155 s with all three, 0.128 s without coverage,
0.121 s without coverage and SciPy; in another run 0.155 s without those two, 0.138 s without PyYAML too.

So the engine's import of Numba (`jit`, the one module that imports it) leaves out each of them that the process
has not imported already (PyYAML only where the working directory has no Numba config file): an import of it
from the importing thread, while Numba's modules load, finds no such module, which Numba takes as "not
installed". One already imported (a `coverage run`, pytest-cov, a user's SciPy) is Numba's as usual; other
threads, and every import after Numba's, find them all as usual. What a process gives up: coverage started later
in it (after Numba loaded) does not see lines of the functions Numba compiles; a Numba config file that appears
in the working directory only after Numba loaded is not read (Numba warns that PyYAML is missing).
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Iterator

#: Packages Numba imports when installed, for features the engine does not use (module docstring).
LEFT_OUT = ("coverage", "scipy", "yaml")
#: The file Numba reads its configuration from (in the working directory), with PyYAML (`numba.core.config`).
NUMBA_CONFIG_FILE = ".numba_config.yaml"


class _LeftOut:
    """A `sys.meta_path` finder that finds none of `names` for imports from one thread."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names
        self.thread = threading.get_ident()

    def find_spec(self, name, path=None, target=None):
        if name in self.names and threading.get_ident() == self.thread:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None  # (any other import: the next finder's)


@contextlib.contextmanager
def optional_packages_left_out() -> Iterator[None]:
    """Within: imports from this thread find none of `LEFT_OUT` that the process has not imported already (nor
    PyYAML where the working directory has a `NUMBA_CONFIG_FILE`: Numba reads it as it loads)."""
    names = frozenset(name for name in LEFT_OUT if name not in sys.modules
                      and not (name == "yaml" and os.path.exists(NUMBA_CONFIG_FILE)))
    finder = _LeftOut(names)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)

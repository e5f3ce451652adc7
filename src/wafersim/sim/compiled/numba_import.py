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
import gc
import os
import sys
import threading
from typing import Iterator

from ...compiler import collector_paused

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
    PyYAML where the working directory has a `NUMBA_CONFIG_FILE`: Numba reads it as it loads). Python's cyclic
    collector is paused within, and what the block made is then moved to the collector's oldest generation
    without a collection (`_kept_as_old`)."""
    names = frozenset(name for name in LEFT_OUT if name not in sys.modules
                      and not (name == "yaml" and os.path.exists(NUMBA_CONFIG_FILE)))
    finder = _LeftOut(names)
    sys.meta_path.insert(0, finder)
    collecting = gc.isenabled()
    try:
        with collector_paused():
            yield
            if collecting:  # (before the collector is back on: its count of young objects would start one)
                _kept_as_old()
    finally:
        sys.meta_path.remove(finder)


def _kept_as_old() -> None:
    """Move every object Python's cyclic collector tracks to its oldest generation, without a collection.

    Numba's import makes ~10^5 objects (types, templates, registries) that live as long as the process. With the
    collector on, the collections they trigger walked them again and again as they were made, then walked
    everything the process keeps (a full collection, 19-25 ms of CPU): 22-32 ms of the import's 118-139 ms
    (stop 56's 2-core VM, 5 fresh processes). Paused, the import took 95-107 ms, but its objects, young, were
    still walked twice afterwards, by the next young collection and the next middle one (11-12 ms each, in the
    all-reduce's first launch). Moved to the oldest generation (`gc.freeze` then `gc.unfreeze`: two list
    splices), they wait for the next full collection, which comes as it would have (Python counts toward it
    only what collections promote). What else was young in the process then (a cycle of garbage among it) is
    collected at that full collection too, not at a young one. Not done where objects are frozen already (a
    process that froze them before forking keeps them frozen)."""
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()

"""`numba_import`: the engine's import of Numba leaves out the optional packages Numba imports for features the
engine never uses (coverage, SciPy, PyYAML), from the importing thread only, and only where the process has not
imported them already (PyYAML only where no Numba config file is there to read), with Python's cyclic collector
paused, and what the import made then moved to the collector's oldest generation."""
from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
import threading

import pytest

from wafersim.sim.compiled import numba_import


@pytest.fixture
def probe_module(tmp_path, monkeypatch):
    """A module of its own, not imported yet, as the one package left out."""
    name = "wafersim_left_out_probe"
    (tmp_path / f"{name}.py").write_text("VALUE = 7\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(numba_import, "LEFT_OUT", (name,))
    yield name
    sys.modules.pop(name, None)


def test_the_importing_thread_finds_no_left_out_package_until_the_block_ends(probe_module):
    with numba_import.optional_packages_left_out():
        with pytest.raises(ModuleNotFoundError) as refused:
            importlib.import_module(probe_module)
        assert refused.value.name == probe_module and probe_module not in sys.modules
        elsewhere = []  # (another thread's import finds it: only the importing thread's are left out)
        thread = threading.Thread(target=lambda: elsewhere.append(importlib.import_module(probe_module).VALUE))
        thread.start()
        thread.join()
        assert elsewhere == [7]
    assert importlib.import_module(probe_module).VALUE == 7
    assert not any(isinstance(finder, numba_import._LeftOut) for finder in sys.meta_path)


def test_a_package_imported_already_stays_importable(probe_module):
    module = importlib.import_module(probe_module)
    del sys.modules[probe_module]  # (imported before the block, then dropped: the block was told it was imported)
    sys.modules[probe_module] = module
    with numba_import.optional_packages_left_out():
        assert importlib.import_module(probe_module) is module


def test_the_finder_leaves_out_nothing_after_an_error_inside(probe_module):
    with pytest.raises(RuntimeError), numba_import.optional_packages_left_out():
        raise RuntimeError("inside")
    assert importlib.import_module(probe_module).VALUE == 7


_FRESH = """
import json, sys
if sys.argv[1] == "coverage-first":
    import coverage
state = {"coverage_before": "coverage" in sys.modules, "scipy_before": "scipy" in sys.modules}
import wafersim.sim.compiled.jit
import numba.misc.coverage_support as support
from numba.core import config
state.update({"coverage": "coverage" in sys.modules, "scipy": "scipy" in sys.modules,
              "yaml": "yaml" in sys.modules, "numba_sees_coverage": support.coverage_available,
              "quiet": config.DISABLE_PERFORMANCE_WARNINGS})
import scipy, yaml  # (importable as usual once Numba is loaded)
state["after"] = [scipy.__name__, yaml.__name__]
print(json.dumps(state))
"""


def _fresh(mode: str, cwd=None) -> dict:
    done = subprocess.run([sys.executable, "-c", _FRESH, mode], capture_output=True, text=True, timeout=600,
                          cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


_OPTIONAL = ("coverage", "scipy", "yaml")


@pytest.mark.skipif(any(importlib.util.find_spec(name) is None for name in _OPTIONAL),
                    reason="needs coverage, SciPy and PyYAML installed, as Numba would import them")
def test_a_fresh_process_loads_numba_without_them_unless_coverage_runs_or_a_config_file_is_there(tmp_path):
    plain = _fresh("plain", cwd=tmp_path)
    if plain.pop("coverage_before") or plain.pop("scipy_before"):
        pytest.skip("this interpreter imports coverage or SciPy at start-up (a coverage run's subprocesses)")
    assert plain == {"coverage": False, "scipy": False, "yaml": False, "numba_sees_coverage": False, "quiet": 0,
                     "after": ["scipy", "yaml"]}
    # (coverage imported first, as `coverage run` and pytest-cov do: Numba's coverage support as usual)
    first = _fresh("coverage-first", cwd=tmp_path)
    assert first["coverage"] and first["numba_sees_coverage"] and first["after"] == ["scipy", "yaml"]
    assert first["scipy"] == first["scipy_before"]
    # (a Numba config file in the working directory: PyYAML imported, and the file's setting is Numba's)
    (tmp_path / numba_import.NUMBA_CONFIG_FILE).write_text("disable_performance_warnings: 1\n")
    configured = _fresh("plain", cwd=tmp_path)
    assert configured["yaml"] and configured["quiet"] == 1 and not configured["coverage"]


class _Node:
    """A tracked object that can be put in a reference cycle and weakly referenced."""

    def __init__(self) -> None:
        self.other: object = None


def test_the_collector_is_paused_within_and_restored_as_it_was_after_an_error_too():
    import gc

    assert gc.isenabled()
    with numba_import.optional_packages_left_out():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), numba_import.optional_packages_left_out():
        raise RuntimeError("inside")
    assert gc.isenabled()
    gc.disable()  # (turned off by the caller: left off)
    try:
        with numba_import.optional_packages_left_out():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_what_the_block_made_joins_the_oldest_generation_and_a_full_collection_still_frees_its_garbage():
    import gc
    import weakref

    gc.collect()
    with numba_import.optional_packages_left_out():
        kept = [_Node() for _ in range(5000)]  # (as Numba's types and registries: kept by the process)
        first, second = _Node(), _Node()  # a cycle that is garbage once the block ends
        first.other, second.other = second, first
        gone = weakref.ref(first)
        del first, second
    oldest = {id(obj) for obj in gc.get_objects(generation=2)}
    assert all(id(node) in oldest for node in kept)
    assert gc.get_count()[0] < 100  # (no young objects left to start a collection at once)
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert gone() is None


def test_objects_frozen_before_stay_frozen():
    import gc

    gc.freeze()  # (as a process does before forking)
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        with numba_import.optional_packages_left_out():
            made = [_Node() for _ in range(100)]
        assert gc.get_freeze_count() >= frozen
        assert made
    finally:
        gc.unfreeze()

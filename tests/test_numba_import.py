"""`numba_import`: the engine's import of Numba leaves out the optional packages Numba imports for features the
engine never uses (coverage, SciPy), from the importing thread only, and only where the process has not imported
them already."""
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
state.update({"coverage": "coverage" in sys.modules, "scipy": "scipy" in sys.modules,
              "numba_sees_coverage": support.coverage_available})
import scipy  # (importable as usual once Numba is loaded)
state["scipy_after"] = scipy.__name__
print(json.dumps(state))
"""


def _fresh(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", _FRESH, mode], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(importlib.util.find_spec("coverage") is None or importlib.util.find_spec("scipy") is None,
                    reason="needs coverage and SciPy installed, as Numba would import them")
def test_a_fresh_process_loads_numba_without_coverage_and_scipy_unless_coverage_runs():
    plain = _fresh("plain")
    if plain.pop("coverage_before") or plain.pop("scipy_before"):
        pytest.skip("this interpreter imports coverage or SciPy at start-up (a coverage run's subprocesses)")
    assert plain == {"coverage": False, "scipy": False, "numba_sees_coverage": False, "scipy_after": "scipy"}
    # (coverage imported first, as `coverage run` and pytest-cov do: Numba's coverage support as usual)
    first = _fresh("coverage-first")
    assert first["coverage"] and first["numba_sees_coverage"] and first["scipy_after"] == "scipy"
    assert first["scipy"] == first["scipy_before"]

"""`sim.compiled.numba_cache`: Numba gets a cache folder where it has none it can write
(it would refuse to define the engine's `cache=True` functions at all: "no locator available")."""
from __future__ import annotations

import os
import sys
import types
import tempfile
from pathlib import Path

import pytest

from wafersim.sim.compiled import numba_cache


def test_writable_is_false_under_a_file_and_true_for_a_folder(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert not numba_cache._writable(blocker / "cache")  # (mkdir fails: a file is in the way, even for root)
    assert numba_cache._writable(tmp_path / "made" / "here") and (tmp_path / "made" / "here").is_dir()


@pytest.fixture
def nowhere_to_cache(monkeypatch, tmp_path):
    """Neither the package's __pycache__ nor the user's cache folder can be written; no NUMBA_CACHE_DIR."""
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home-cache"))
    unwritable = {numba_cache.HERE.parent / "__pycache__", tmp_path / "home-cache" / "numba"}
    monkeypatch.setattr(numba_cache, "_writable", lambda directory: Path(directory) not in unwritable)
    import numba.core.config
    monkeypatch.setattr(numba.core.config, "CACHE_DIR", numba.core.config.CACHE_DIR)
    return unwritable


def test_a_temporary_cache_folder_is_chosen_where_numba_has_none(nowhere_to_cache):
    import numba.core.config
    chosen = numba_cache.choose_cache_dir()
    assert chosen is not None and Path(chosen).parent == Path(tempfile.gettempdir())
    assert os.environ["NUMBA_CACHE_DIR"] == chosen and numba.core.config.CACHE_DIR == chosen


def test_nothing_changes_where_numba_can_cache_or_the_user_chose(nowhere_to_cache, monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert numba_cache.choose_cache_dir() is None and os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "mine")
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    nowhere_to_cache.discard(tmp_path / "home-cache" / "numba")  # the user's cache folder is writable
    assert numba_cache.choose_cache_dir() is None and "NUMBA_CACHE_DIR" not in os.environ


_DAMAGED = '''
import sys
import numpy as np
import wafersim as ws
from wafersim.sim import wave
import cached_twice

if sys.argv[1] == "fill":
    print(cached_twice.twice(21))
    raise SystemExit
plain = wave.WaveSim.run
def run(self):  # a launch whose wave calls a cached function whose cache file is damaged
    cached_twice.twice(1)
    return plain(self)
wave.WaveSim.run = run

@ws.jit
def one(out):
    out[0] = 7

dev = ws.Device(ws.WaferSpec(width=2, height=2))
out = dev.device_array(1, np.int32)
try:
    one[1, 1](out)
except ws.EngineCacheError as error:
    print("EngineCacheError", isinstance(error, ws.WaferError), "launch again" in str(error))
one[1, 1](out)  # (the function compiles again: the launch runs)
print(out.copy_to_host()[0], cached_twice.twice(21))
'''


def _scripts(tmp_path, module: str, source: str, script: str):
    """`run(step)`: the lines `python script.py step` prints in `tmp_path`, where `module`.py holds `source`,
    each step a fresh process. The functions of `module` and `script` are cached in `tmp_path/__pycache__`, a
    cache folder of their own (Numba's default for a writable source folder); the engine's stay in the suite's
    cache (with NUMBA_CACHE_DIR in `tmp_path`, as before, a launch compiled the engine's functions again: ~15 s
    of CPU)."""
    import subprocess
    (tmp_path / f"{module}.py").write_text(source)
    (tmp_path / "script.py").write_text(script)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    env.pop("NUMBA_CACHE_DIR", None)  # (which would take every cached function of the process there)

    def run(step: str) -> list[str]:
        done = subprocess.run([sys.executable, "script.py", step], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().split("\n")

    return run


@pytest.mark.parametrize("njit_from", ["numba", "wafersim.sim.compiled.jit"])
def test_a_damaged_cache_file_is_an_engine_cache_error_and_the_next_launch_runs(tmp_path, njit_from):
    # (the engine's own `njit` loads machine code through `load_before_registries`: the same report and repair)
    run = _scripts(tmp_path, "cached_twice", f"from {njit_from} import njit\n\n\n@njit(cache=True)\ndef twice(x):\n"
                                             "    return 2 * x\n", _DAMAGED)
    assert run("fill")[0] == "42"
    data = list((tmp_path / "__pycache__").glob("cached_twice.twice*.nbc"))
    assert len(data) == 1
    data[0].write_bytes(data[0].read_bytes()[:20])  # (truncated, as by a full disk)
    assert run("launch")[:2] == ["EngineCacheError True True", "7 42"]


def test_engine_sources_lists_every_file_with_a_cached_numba_function():
    sim = numba_cache.SIM
    defining = sorted(str(path.relative_to(sim)) for path in sim.rglob("*.py")
                      if any(line.lstrip().startswith("@njit(cache=True") for line in path.read_text().splitlines()))
    assert defining == sorted(numba_cache.ENGINE_SOURCES)


class _FakeDispatcher:
    """What `drop_if_stale` reads of a Numba dispatcher: its cache's folder."""

    def __init__(self, folder):
        self._cache = type("Cache", (), {"_cache_path": str(folder)})()


def test_stale_engine_machine_code_is_dropped_and_current_code_kept(tmp_path, monkeypatch):
    """Machine code compiled from other sources of the engine (a checkout updated in place: `pump` has the
    steps of another file compiled in) is removed before a cached function of its folder is defined; files of
    other modules, and code written from the current sources, stay."""
    engine = ["stream_pump_kernels.pump-99.py311.1.nbc", "stream_pump_kernels.pump-99.py311.nbi",
              "fifo_kernels.lane_runs-17.py311.nbi"]
    other = ["mine.helper-3.py311.nbi", "stream_pump_kernels.notes.txt"]
    for name in engine + other:
        (tmp_path / name).write_text("x")
    monkeypatch.setattr(numba_cache, "_checked", set())
    monkeypatch.setattr(numba_cache, "sources_hash", lambda: "new sources")
    (tmp_path / numba_cache.STAMP).write_text("old sources")
    numba_cache.drop_if_stale(_FakeDispatcher(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(other + [numba_cache.STAMP])
    assert (tmp_path / numba_cache.STAMP).read_text() == "new sources"
    # the same sources in a later process: what was compiled since stays
    (tmp_path / engine[0]).write_text("compiled from the new sources")
    monkeypatch.setattr(numba_cache, "_checked", set())
    numba_cache.drop_if_stale(_FakeDispatcher(tmp_path))
    assert (tmp_path / engine[0]).exists()


def test_the_hash_covers_every_engine_source_and_the_constants_they_read(monkeypatch):
    reads = []
    real = numba_cache.Path.read_bytes

    def recorded(path):
        reads.append(str(path.relative_to(numba_cache.SIM)))
        return real(path)

    monkeypatch.setattr(numba_cache.Path, "read_bytes", recorded)
    numba_cache.sources_hash.__wrapped__()  # (not the process's cached hash: the files read now)
    assert sorted(reads) == sorted(numba_cache.ENGINE_SOURCES + numba_cache.CONSTANT_SOURCES)
    assert "compiled/kinds.py" in reads and "stream_pump_steps.py" in reads


_PRELOAD = '''
import sys
import numpy as np
from wafersim.sim.compiled import numba_cache
import cached_pair

if sys.argv[1] == "fill":  # one signature of `scaled` compiled (and cached); `never` not called
    print(cached_pair.scaled(np.arange(3, dtype=np.int64), 2).tolist())
    raise SystemExit
print(numba_cache.load_cached(cached_pair.scaled), numba_cache.load_cached(cached_pair.never))
print(len(cached_pair.scaled.overloads), len(cached_pair.never.overloads), sum(cached_pair.scaled.stats.cache_misses.values()))
print(cached_pair.scaled(np.arange(3, dtype=np.int64), 3).tolist(), len(cached_pair.scaled.overloads))
'''


def test_load_cached_loads_what_the_cache_holds_and_compiles_nothing(tmp_path):
    """`load_cached` (what `wafersim.init` uses): a later process gets the machine code a call cached, as
    its first call would (no compiling: no cache miss), and a function never called stays uncompiled."""
    run = _scripts(tmp_path, "cached_pair", "from numba import njit\n\n\n@njit(cache=True)\ndef scaled(x, k):\n"
                                            "    return x * k\n\n\n@njit(cache=True)\ndef never(x):\n"
                                            "    return x + 1\n", _PRELOAD)
    assert run("fill") == ["[0, 2, 4]"]
    assert run("load") == ["1 0", "1 0 0", "[0, 3, 6] 1"]  # (the call used the loaded code: still one)
    # An index entry whose data file is gone loads nothing and compiles nothing (Numba's `compile` would);
    # the call then compiles, as without `load_cached`.
    data = list((tmp_path / "__pycache__").glob("cached_pair.scaled*.nbc"))
    assert len(data) == 1
    data[0].unlink()
    assert run("load") == ["0 0", "0 0 0", "[0, 3, 6] 1"]


def test_load_cached_loads_nothing_from_an_unreadable_index():
    class Broken:
        _cache = None  # (no cache at all: `_cache_file` missing)

    assert numba_cache.load_cached(Broken()) == 0


def test_init_lists_only_engine_sources():
    # (that it loads every function a launch calls: tests/test_startup.py, a launch after init loads none)
    from wafersim.sim.compiled import startup

    assert set(startup.ENTRY_SOURCES) <= set(numba_cache.ENGINE_SOURCES)
    import importlib
    for source, names in startup.ENTRY_SOURCES.items():  # (a renamed function would be left unloaded silently)
        module = importlib.import_module("wafersim.sim." + source.removesuffix(".py").replace("/", "."))
        assert all(hasattr(getattr(module, name, None), "_cache") for name in names or ())


_HASHED = '''
import sys
import numba
from wafersim.sim.compiled.jit import njit


@njit(cache=True)
def plain(x):
    return x * 3


@njit(cache=True)
def hashed(text):  # (its machine code links to the hash secret that Numba's registries give LLVM)
    return hash(text)


print(plain(14), hashed("wafer") == hash("wafer"))
if sys.argv[1] == "load":  # (the registries only for the function that needs them)
    print(plain.stats.cache_hits[plain.signatures[0]], hashed.stats.cache_hits[hashed.signatures[0]],
          "numba.np.linalg" in sys.modules)
'''


def test_engine_functions_load_without_numbas_registries_unless_their_code_needs_them(tmp_path):
    """A cached function defined with the engine's `njit` loads without Numba's target registries (the later
    process's call uses the cached code); one whose machine code refers to a symbol the registries give LLVM
    gets them first, and computes the same (here the module giving the symbol, `numba.cpython.hashing`, came
    with the cached code's environment anyway: the check does not count on that)."""
    run = _scripts(tmp_path, "hashing", "", _HASHED)
    assert run("fill") == ["42 True"]
    assert run("load") == ["42 True", "1 1 True"]


def test_plain_engine_code_loads_without_registries_in_a_fresh_process(tmp_path):
    script = _HASHED.split("print(plain(14)")[0] + (
        "print(plain(14), plain.stats.cache_hits[plain.signatures[0]], 'numba.np.linalg' in sys.modules)\n")
    run = _scripts(tmp_path, "unused", "", script)
    assert run("fill") == ["42 0 True"]  # (compiled: Numba's compiler loads the registries)
    assert run("load") == ["42 1 False"]


def _payload(kind="object", code=b"\x7fELF plain", objectmode=False, lifted=(), reload_init=()):
    """What Numba's cache file holds for one signature (`CompileResult._reduce`), with dummies where unread."""
    return (("name", kind, (code, b"BC shared")), None, None, None, objectmode, lifted, "", reload_init, [])


@pytest.mark.parametrize("payload, needs", [
    (_payload(), False),
    (_payload(code=b"...\x00_numba_hashsecret_siphash_k0\x00..."), True),
    (_payload(kind="bitcode"), True),
    (_payload(objectmode=True), True),
    (_payload(lifted=("loop",)), True),
    (_payload(reload_init=(print,)), True),
    (("another", "layout"), True),
    (None, True),
])
def test_needs_registries_only_for_plain_machine_code_free_of_their_symbols(payload, needs):
    assert numba_cache.needs_registries(payload) is needs


def test_numba_gives_llvm_symbols_only_where_known():
    """`REGISTRY_SYMBOLS` lists the symbols Numba's registries add (`numba.cpython.hashing`'s); the other
    `add_symbol` calls are Numba's context and runtime (loaded without the registries) and its parallel
    backend (run by a cached function's `reload_init`, which `needs_registries` sends to the registries).
    A Numba adding symbols elsewhere fails here: see whether its registries load that file, and if so list
    its symbols."""
    import numba

    if not numba_cache.numba_verified():  # (another release: its code loads as Numba loads it, registries first)
        dispatcher = types.SimpleNamespace(_cache=types.SimpleNamespace(load_overload="numba's own"))
        numba_cache.load_before_registries(dispatcher, None)
        assert dispatcher._cache.load_overload == "numba's own"
        return
    root = Path(numba.__file__).parent
    adding = sorted(str(path.relative_to(root)) for path in root.rglob("*.py") if "tests" not in path.parts
                    and "add_symbol(" in path.read_text(encoding="utf-8", errors="replace"))
    assert adding == ["core/base.py", "core/externals.py", "core/runtime/nrt.py", "cpython/hashing.py",
                      "np/ufunc/parallel.py"]
    assert "_numba_hashsecret_" in (root / "cpython/hashing.py").read_text()
    assert all(symbol.decode() in (root / "cpython/hashing.py").read_text() for symbol in numba_cache.REGISTRY_SYMBOLS)


@pytest.mark.parametrize("version, verified", [("0.68.1", True), ("0.68.0rc1", True), ("0.69.0", False),
                                               ("1.0.0", False), ("dev", False)])
def test_only_checked_numba_releases_load_before_the_registries(monkeypatch, version, verified):
    import numba

    monkeypatch.setattr(numba, "__version__", version)
    monkeypatch.setattr(numba_cache, "VERIFIED_NUMBA", ((0, 68),))
    assert numba_cache.numba_verified() is verified
    dispatcher = types.SimpleNamespace(_cache=types.SimpleNamespace(load_overload="numba's own"))
    numba_cache.load_before_registries(dispatcher, None)  # (a dummy cache: patched only where verified, and then not
    assert dispatcher._cache.load_overload == "numba's own"  # a cache of the layout it needs: left alone too)


_LAZY = '''
import sys
import numpy as np
import numba
from cached_total import total

values = np.arange(1, 101, dtype=np.int64)
if sys.argv[1] == "fill":
    print(total(values))
else:  # a fresh process: the machine code loads from the cache, its module for linking not parsed
    print(total(values))
    library = next(iter(total.overloads.values())).library
    print("unparsed", "_wafersim_bitcode" in vars(library))

    @numba.njit
    def twice_total(a):  # (compiled now: links the cached function's module, parsed then)
        return 2 * total(a)

    print(twice_total(values), "unparsed", "_wafersim_bitcode" in vars(library))
'''


def test_cached_machine_code_loads_without_parsing_its_module_for_linking_until_a_caller_links_it(tmp_path):
    """An engine function loaded from the cache runs without its shared LLVM module parsed
    (`numba_cache.unserialize_lazily`); a function compiled later that calls it links it (parsed then), with the
    right result (the sum of 1..100: 5050)."""
    run = _scripts(tmp_path, "cached_total", "from wafersim.sim.compiled.jit import njit\n\n\n@njit(cache=True)\n"
                                             "def total(a):\n    s = 0\n    for x in a:\n        s += x\n    return s\n",
                   _LAZY)
    assert run("fill") == ["5050"]
    import numba  # noqa: F401  (`numba_verified` reads its version: another release loads as Numba does)

    verified = numba_cache.numba_verified()
    assert run("load") == (["5050", "unparsed True", "10100 unparsed False"] if verified
                           else ["5050", "unparsed False", "10100 unparsed False"])


_ARRAYS_SOURCE = '''
import numpy as np
from wafersim.sim.compiled.jit import njit


@njit(cache=True)
def squares_after(a, n):  # (np.empty and a slice: Numba's implementations from numba.np.arrayobj inlined)
    out = np.empty(n, dtype=np.int64)
    out[:] = a[len(a) - n:] ** 2
    return out
'''
_ARRAYS = '''
import sys
import numpy as np
import numba
from cached_arrays import squares_after

values = np.arange(10, dtype=np.int64)
print(squares_after(values, 3).tolist(), "numba.np.arrayobj" in sys.modules)
try:
    squares_after(values, -1)
except ValueError as error:
    print("ValueError", error)
if sys.argv[1] == "load":
    @numba.njit
    def with_a_new_array(a):  # (compiled now: Numba's compiler imports numba.np.arrayobj; links the cached code)
        return np.ones(2, dtype=np.int64).sum() + squares_after(a, 2).sum()

    print(with_a_new_array(values), "numba.np.arrayobj" in sys.modules)
'''


def test_cached_code_allocating_arrays_loads_without_importing_numbas_array_module(tmp_path):
    """A cached engine function whose machine code refers to environments of `numba.np.arrayobj` (its `np.empty`
    and slices) loads in a fresh process without importing that module (`environments_kept_unimported`) and
    computes as when compiled: the squares of 7, 8, 9, and Numba's own error for a negative size; a function
    compiled later that allocates an array (Numba then imports it) and calls the cached one gets
    2 + 64 + 81 = 147."""
    run = _scripts(tmp_path, "cached_arrays", _ARRAYS_SOURCE, _ARRAYS)
    error = "ValueError negative dimensions not allowed"
    assert run("fill") == ["[49, 64, 81] True", error]  # (compiled: Numba's compiler imported it)
    import numba  # noqa: F401  (`numba_verified` reads its version: another release loads as Numba does)

    assert run("load") == ["[49, 64, 81] " + str(not numba_cache.numba_verified()), error, "147 True"]


def test_an_environment_of_an_unimported_numba_module_gets_a_stand_in_for_its_globals(monkeypatch):
    """`rebuild_environment_unimported`: Numba's own rebuild for any module but Numba's, and for Numba's modules
    imported already; for one not imported, an environment with the cached constants and a dict naming the
    module, kept where Numba looks environments up (`lookup_environment`), and the module left unimported."""
    import numba.core.environment as environment

    calls = []
    rebuild = numba_cache.rebuild_environment_unimported(lambda *args: calls.append(args) or "numba's own")
    assert rebuild("user_module", [1], "env_a") == "numba's own"
    assert rebuild("numba.core.types", [2], "env_b") == "numba's own"  # (imported with Numba)
    assert calls == [("user_module", [1], "env_a"), ("numba.core.types", [2], "env_b")]
    monkeypatch.delitem(sys.modules, "numba.np.not_imported_here", raising=False)
    env = rebuild("numba.np.not_imported_here", [ValueError, 3.5], "wafersim_test_env")
    try:
        assert env.globals == {"__name__": "numba.np.not_imported_here"} and env.consts == [ValueError, 3.5]
        assert env.env_name == "wafersim_test_env" and environment.lookup_environment("wafersim_test_env") is env
        assert rebuild("numba.np.not_imported_here", [], "wafersim_test_env") is env and calls[2:] == []
        assert "numba.np.not_imported_here" not in sys.modules
    finally:
        environment.Environment._memo.pop("wafersim_test_env", None)


def test_numbas_nopython_code_reads_no_environments_globals():
    """An environment's globals are read by code compiled in object mode only (`numba.core.pylowering`), which is
    what lets `rebuild_environment_unimported` give an environment of Numba's nopython implementations a stand-in
    for them. A Numba reading them elsewhere fails here: see whether nopython code can reach that read."""
    import numba

    root = Path(numba.__file__).parent
    reading = sorted(str(path.relative_to(root)) for path in root.rglob("*.py") if "tests" not in path.parts
                     and "env_body.globals" in path.read_text(encoding="utf-8", errors="replace"))
    assert reading == ["core/pylowering.py"]


_EXTENSIONS = """
import json
import numpy as np
from numba import njit
from numba.core import entrypoints
from wafersim.sim import trace_kernels
first, second = trace_kernels.fletcher64(np.arange(5, dtype=np.uint64))
state = {"sums": [int(first), int(second)], "loaded": bool(trace_kernels.fletcher64.stats.cache_hits),
         "started_by_engine": entrypoints._already_initialized}
@njit
def plus_one(x):
    return x + 1
state["user"] = plus_one(2)
state["started_by_user"] = entrypoints._already_initialized
print(json.dumps(state))
"""


def test_an_engine_function_loaded_from_the_cache_leaves_numbas_extensions_to_the_first_function_numba_compiles():
    """`load_before_registries`: a fresh process's first call of an engine function loaded from Numba's cache does
    not start Numba's third-party extensions (`entrypoints.init_all`, a scan of every installed package); a user's
    function compiled afterwards does, as Numba's first call of any function would."""
    import importlib
    import json
    import subprocess

    warm = subprocess.run([sys.executable, "-c", _EXTENSIONS], capture_output=True, text=True, timeout=600)
    assert warm.returncode == 0, warm.stderr  # (this one may compile the engine function and fill the cache)
    done = subprocess.run([sys.executable, "-c", _EXTENSIONS], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout.strip().splitlines()[-1])
    assert state["sums"] == [0 + 1 + 2 + 3 + 4, 0 + 1 + 3 + 6 + 10] and state["user"] == 3
    importlib.import_module("numba")  # (`numba_verified` reads its version)
    if not (state["loaded"] and numba_cache.numba_verified()):
        pytest.skip("Numba compiled the engine function (no cache it can write) or loads it its own way")
    assert state["started_by_engine"] is False and state["started_by_user"] is True

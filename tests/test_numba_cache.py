"""`sim.compiled.numba_cache.choose_cache_dir`: Numba gets a cache folder where it has none it can write
(it would refuse to define the engine's `cache=True` functions at all: "no locator available")."""
from __future__ import annotations

import os
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


def test_a_damaged_cache_file_is_an_engine_cache_error_and_the_next_launch_runs(tmp_path):
    import subprocess
    import sys
    (tmp_path / "cached_twice.py").write_text("from numba import njit\n\n\n@njit(cache=True)\ndef twice(x):\n"
                                              "    return 2 * x\n")
    (tmp_path / "script.py").write_text(_DAMAGED)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))

    def run(step: str) -> list[str]:
        done = subprocess.run([sys.executable, "script.py", step], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout.split("\n")

    assert run("fill")[0] == "42"
    data = list((tmp_path / "numba-cache").rglob("cached_twice.twice*.nbc"))
    assert len(data) == 1
    data[0].write_bytes(data[0].read_bytes()[:20])  # (truncated, as by a full disk)
    assert run("launch")[:2] == ["EngineCacheError True True", "7 42"]

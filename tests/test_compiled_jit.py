"""sim/compiled/jit.py: the engine gets Numba from one module, which says on a terminal when Numba compiles (not
loads) the engine's machine code."""
from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from numba import njit
from numba.core import event

import wafersim
from wafersim.sim.compiled import jit

SOURCES = Path(wafersim.__file__).resolve().parent


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def probe(module: str):
    """A fresh (never compiled, not cached) Numba function that claims to be defined in `module`."""
    def add_one(x):
        return x + 1
    add_one.__module__ = module
    return njit(add_one)


def test_only_jit_imports_numba():
    importing = [str(path.relative_to(SOURCES)) for path in SOURCES.rglob("*.py")
                 if re.search(r"^\s*(from numba\b|import numba\b)", path.read_text(), re.M)]
    assert importing == ["sim/compiled/jit.py"]


@pytest.mark.parametrize("module, terminal, progress, shown", [
    ("wafersim.sim.probe", True, None, True),
    ("wafersim.sim.probe", False, None, False),         # not a terminal: quiet, as the launch progress bars
    ("wafersim.sim.probe", True, "0", False),           # WAFERSIM_PROGRESS=0: quiet
    ("someone_else.kernels", True, None, False),        # a user's own Numba function: not ours to announce
])
def test_the_notice_is_shown_once_when_an_engine_function_compiles(module, terminal, progress, shown, monkeypatch):
    stderr = Terminal() if terminal else io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)
    if progress is None:
        monkeypatch.delenv("WAFERSIM_PROGRESS", raising=False)
    else:
        monkeypatch.setenv("WAFERSIM_PROGRESS", progress)
    monkeypatch.setattr(jit.LISTENER, "shown", True)  # (the process's own listener: quiet here)
    notice = jit.CompileNotice()
    with event.install_listener("numba:compile", notice):
        assert probe(module)(1) == 2
        assert probe(module)(2) == 3  # (a second compilation: still one line)
    assert stderr.getvalue() == (jit.NOTICE + "\n" if shown else "")
    assert notice.compiled == (["probe.<locals>.add_one"] * 2 if module.startswith("wafersim.") else [])


_CACHED = """
import sys
from numba import njit
from wafersim.sim.compiled import jit


jit._engine_function = lambda data: True  # (announce this script's function as if the engine defined it)


@njit(cache=True)
def add_one(x):
    return x + 1


print(add_one(41), jit.LISTENER.compiled)
"""


def test_loading_from_numbas_cache_is_not_announced(tmp_path):
    """A second process loads the function from Numba's disk cache: no compilation, so no notice."""
    import subprocess
    import sys

    (tmp_path / "probe.py").write_text(_CACHED)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))

    def run() -> str:
        done = subprocess.run([sys.executable, "probe.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert run() == "42 ['add_one']"
    assert run() == "42 []"

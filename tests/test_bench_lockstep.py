"""bench/lockstep.py at tiny sizes: launches with the lockstep path on and off agree with each other and
with NumPy (the script raises otherwise), and the table has a row per workload; no wall-clock asserts."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_BENCH = Path(__file__).resolve().parent.parent / "bench"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", _BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (dataclasses look their module up there)
    spec.loader.exec_module(module)
    return module


def test_lockstep_on_and_off_agree_on_the_stencils(capsys):
    lockstep = load("lockstep")
    assert lockstep.main(["--only", "heat,life", "--repeat", "1", "--size", "tiny"]) == 0
    out = capsys.readouterr().out
    assert out.count("| heat |") == 1 and out.count("| life |") == 1

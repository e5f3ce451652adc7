"""Differential fuzzing of grid barriers (`ws.cg.this_grid().sync()`): random multi-phase kernels whose
every phase reads words other blocks wrote in the phase before, ordered only by the grid barrier.

Each kernel runs grids of 1 to 4 blocks (one wave) with PEs arriving at the barrier at cycles of their own
(loops of data-dependent trips, block barriers, branches), and is checked against plain NumPy int32
arithmetic, under `REFERENCE`, `Strategy(compiled=False)` and the default (results and cycle counts
equal), with `racecheck=True` (a grid barrier orders every access across it: no race may be reported).
`WAFERSIM_FUZZ_EXAMPLES` sets the number of random kernels per test (default 3).
"""
from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from test_compiler_fuzz_fabric import FUZZ, dev, gen_dir, indent, load  # noqa: F401  (fixtures)

import wafersim as ws
from wafersim.sim.strategy import REFERENCE, Strategy, forced

STRATEGIES = (REFERENCE, Strategy(compiled=False), Strategy())


@st.composite
def phase(draw) -> dict:
    """One phase: PE i reads word (i + shift) % n of the previous phase, optionally loops first (its own
    number of trips, so PEs reach the barrier at different cycles), and writes a * word + b + i."""
    return {"shift": draw(st.integers(0, 40)), "a": draw(st.integers(-3, 3)), "b": draw(st.integers(-50, 50)),
            "loop": draw(st.sampled_from(["none", "own", "block-barrier", "arm-barriers", "branch"])),
            "trips": draw(st.integers(1, 5))}


@st.composite
def kernels(draw) -> dict:
    return {"grid": draw(st.integers(1, 4)), "block": (draw(st.integers(1, 4)), draw(st.integers(1, 2))),
            "phases": draw(st.lists(phase(), min_size=1, max_size=3)), "seed": draw(st.integers(0, 2**16))}


def source(case: dict) -> str:
    body = ["x, y = ws.grid(2)", "width, height = ws.gridsize(2)", "i = x + y * width", "n = width * height"]
    for k, p in enumerate(case["phases"]):
        body.append(f"w = bufs[{k}, (i + {p['shift']}) % n]")
        if p["loop"] == "own":  # data-dependent trips: the PEs arrive at their own cycles
            body += ["t = 0", f"for _ in range((w & 3) + {p['trips']}):", "    t += 1", "w = w + t - t"]
        elif p["loop"] == "block-barrier":
            body.append("ws.syncthreads()")
        elif p["loop"] == "arm-barriers":  # blocks reach different block barriers (one each)
            body += [f"if ws.blockIdx.x % 2 == {p['trips'] % 2}:", "    ws.syncthreads()", "else:",
                     "    w = w + 0", "    ws.syncthreads()"]
        elif p["loop"] == "branch":
            body += ["if w % 2 == 0:", f"    w = w * 1 + {p['trips']} - {p['trips']}", "else:", "    w = w - 0"]
        body += [f"bufs[{k + 1}, i] = w * {p['a']} + {p['b']} + i", "ws.cg.this_grid().sync()"]
    return "\n".join(["import numpy as np", "import wafersim as ws", "", "", "@ws.jit", "def kern(bufs):",
                      indent(body, 1), ""])


def reference(case: dict, start: np.ndarray) -> np.ndarray:
    bufs = np.zeros((len(case["phases"]) + 1, len(start)), dtype=np.int64)
    bufs[0] = start
    n = len(start)
    for k, p in enumerate(case["phases"]):
        i = np.arange(n)
        word = bufs[k, (i + p["shift"]) % n]
        bufs[k + 1] = ((word * p["a"] + p["b"] + i + 2**31) % 2**32) - 2**31  # (int32 wrap-around)
    return bufs.astype(np.int32)


@FUZZ
@given(case=kernels())
def test_grid_barrier_phases_match_numpy_on_every_strategy(dev, gen_dir, case):
    bx, by = case["block"]
    n = case["grid"] * bx * by
    start = np.random.default_rng(case["seed"]).integers(-1000, 1000, n).astype(np.int32)
    want = reference(case, start)
    kern = load(gen_dir, source(case)).kern
    runs = []
    for strategy in STRATEGIES:
        bufs = np.zeros_like(want)
        bufs[0] = start
        d_bufs = dev.to_device(bufs)
        with forced(strategy):
            stats = kern[(case["grid"], 1), (bx, by)](d_bufs, racecheck=True)
        got = d_bufs.copy_to_host()
        assert np.array_equal(got, want), (source(case), got, want)
        runs.append((stats.cycles, stats.instructions, stats.op_counts["gbar"]))
    assert runs[0] == runs[1] == runs[2]
    assert runs[0][2] == n * len(case["phases"])

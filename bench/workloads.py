"""Workload benchmarks of issue 9: one launch of each kernel class, timed against NumPy in the same run.

    python bench/workloads.py [--quick] [--only NAME[,NAME]] [--repeat N] [--timeout S] [--one-process]
                              [--label TEXT] [--write bench/RESULTS.md]

Workloads (issue 9's table, plus the whole-wafer heat stencil and Game of Life): `gemm`, `allreduce`,
`scan-rows`, `scan-row`, `switch-1`, `switch-2`, `switch-4`, `switch-8` (`--only switch` selects all
four), `heat-tiled`, `saxpy`, `transpose`, `heat`, `life`; then kernels written as a user would write them
(bench/workloads_user.py): `escape`, `lcs`, `ragged`, `isort`, `pipeline`, `mixed16`, `msort`; and more communication and
divergence patterns (bench/workloads_patterns.py): `tree`, `bitonic`, `primes`, `stencil3d`, `particles`, `sparse`,
`redblack`; and csl-examples benchmarks ported by a user (bench/workloads_ported.py): `matvec`, `residual`,
`stencil25r`; and four more (bench/workloads_linalg.py): `gemv2d` (GEMV on the collectives), `pcr` (tridiagonal),
`bicgstab7` (BiCGSTAB on a 7-point stencil: halos and block all-reduces), `trsv` (a triangular solve pipelined
along rows).

Each workload runs in a fresh subprocess (a child of this script) with an empty kernel disk cache of its own
(`WAFERSIM_CACHE_DIR`, a temporary folder), so its first launch pays what a first launch in a process pays
(compilation, mapping fresh memory) and its peak RSS is its own. The child:

1. builds the inputs (a fixed seed) and launches once: the *first launch* (a library host function call,
   so host-device copies are included; they are small next to the launch);
2. runs the same math in NumPy (best of three) and checks the simulator's result against it, bit for bit
   where the kernel rounds like NumPy, else within a stated tolerance; a mismatch fails the run;
3. launches `--repeat` more times (*warm* launches; each result must equal the first).

Then (unless `--one-process`) a second fresh child launches once more with the same cache, now holding the
kernel: the *again* launch, what a user running the same script a second time sees (Numba's start-up is
still paid; compiling the kernel is not), and a third calls `ws.init()` (Numba's start-up and the loading of the
engine's machine code, CUDA's context creation in this model) before launching once: the *after init* launch,
what the launch itself costs once the process has started the engine; the init seconds are reported beside it.

On a virtual machine, the first touch of a page of guest memory since boot is the hypervisor's to back, and it
is slow: on the 2-core reference VM, touching 14 GiB once took 36 s (2.5 s/GiB), and a 700 MiB NumPy array
allocated and filled in a fresh process took 1.4-1.7 s on a freshly booted VM against 0.12 s once that memory
had been touched (`--touch-memory` measures and prints it). Whole-wafer first launches map a few GiB of fresh
memory, so on a freshly booted VM they measure the hypervisor. `--touch-memory GIB` touches that much memory
once, in this process, before the first workload (and frees it): what a machine that has been up a while
already did; the results' header says so.

It prints one JSON line per step, so a workload stopped by `--timeout` still reports what it finished.
Reported per workload: wall time of the first launch, of the again launch, of the after-init launch (and the init) and of
the best warm launch, simulated PE-instructions
(`LaunchStats.instructions`) and PE-instructions per wall second, the NumPy time and the ratios, simulated
cycles, and the child's peak RSS. Then one line per bar of issue 9, met or NOT met.
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable

import numpy as np

import wafersim as ws
from wafersim.kernels import gemm, heat, heat_tiled, life, reduce, reference, saxpy, scan
from wafersim.sim.stats import LaunchStats
from wafersim.tools.bench import peak_rss_mib
from wafersim.tools.results import machine, write_section

# The kernel benchmark's helpers live next to this script; a test importing this file by path needs the
# folder on sys.path too (running it as a script puts it there already).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernels import _numpy_life as numpy_life, timed  # noqa: E402
from workload_registry import WORKLOADS, Case, wafer, workload  # noqa: E402
from workloads_report import LAUNCHES, bars, fmt, judged, launch_wall, over_numpy, rate, table, times  # noqa: E402,F401 (also what other scripts import from here)

SIZES = ("full", "quick", "tiny")  # tiny: the test suite's sizes, a fraction of a second each
F = np.float32


# ----------------------------------------------------------------------------- kernels written here
@ws.jit
def switch_kernel(values, out, k, rounds):
    """PE x applies branch `threadIdx.x % k` of eight, `rounds` times: k groups of PEs that diverge.

    Every branch keeps values in [0, 1] and rounds each operation as NumPy does (no a * b + c, which the
    compiler may fuse), so `numpy_switch` matches bit for bit."""
    x, y = ws.grid(2)
    v = values[y, x]
    branch = ws.threadIdx.x % k
    for r in range(rounds):
        if branch == 0:
            v = (v + 0.25) * 0.5
        elif branch == 1:
            v = v * v * 0.875
        elif branch == 2:
            v = (1.0 - v) * 0.75
        elif branch == 3:
            v = 3.5 * v * (1.0 - v)
        elif branch == 4:
            v = min(v * 1.5, 1.0)
        elif branch == 5:
            v = v / (v + 1.0)
        elif branch == 6:
            v = math.sqrt(v)
        else:
            v = max(v - 0.25, 0.0) * 1.25
    out[y, x] = v


SWITCH_BRANCHES: tuple[Callable[[np.ndarray], np.ndarray], ...] = (  # the kernel's branches, in NumPy
    lambda v: (v + F(0.25)) * F(0.5),
    lambda v: v * v * F(0.875),
    lambda v: (F(1) - v) * F(0.75),
    lambda v: F(3.5) * v * (F(1) - v),
    lambda v: np.minimum(v * F(1.5), F(1)),
    lambda v: v / (v + F(1)),
    np.sqrt,
    lambda v: np.maximum(v - F(0.25), F(0)) * F(1.25),
)


def numpy_switch(values: np.ndarray, k: int, rounds: int) -> np.ndarray:
    """`switch_kernel` on one block as wide as `values`: column x takes branch x % k."""
    v = values.copy()
    for _ in range(rounds):
        for branch in range(k):
            v[:, branch::k] = SWITCH_BRANCHES[branch](v[:, branch::k])
    return v


def switch(values: np.ndarray, k: int, rounds: int, device: ws.Device | None) -> tuple[np.ndarray, LaunchStats]:
    """`switch_kernel` on one block covering `values` (height x width, one value per PE)."""
    height, width = values.shape
    device = device or ws.Device(ws.WaferSpec(width=width, height=height))
    d_values, d_out = device.to_device(values), device.device_array(values.shape, np.float32)
    stats = switch_kernel[(1, 1), (width, height)](d_values, d_out, int(k), int(rounds))
    return d_out.copy_to_host(), stats


@functools.lru_cache(maxsize=None)  # one dispatcher per shape: compiled once per process
def transpose_kernel(p: int, tile: int, chunk: int):
    """Transpose of a (p*T) x (p*T) matrix held as a T x T tile per PE of a p x p block (T = `tile`).

    PE (x, y) holds tile (y, x), transposes it locally and sends it to PE (y, x), in messages of `chunk`
    words (at most the FIFO depth). Tiles go along their row to the diagonal PE (x == y), which keeps
    them, then along its column to their destination: a PE sends its own tile first and then forwards
    the tiles from farther out, so a diagonal PE receives (and later sends) the nearest tile first, and a
    PE on the column keeps the first tile it receives. The row phase waits on nothing from the column
    phase (different links), so the exchange cannot deadlock. Launch on one p x p block with tile-blocked
    (p*p, T*T) float32 arrays (`gemm.to_tiles`): ``kernel[(1, 1), (p, p)](m, out, p)``."""
    T, TT = tile, tile * tile
    HELD = (p - 1) * TT  # a diagonal PE holds the other tiles of its row between the phases
    CH = chunk

    @ws.jit
    def transpose_tiles(m, out, p):
        px, py = ws.grid(2)
        me = py * p + px
        mine = ws.local.array(TT, np.float32)
        flipped = ws.local.array(TT, np.float32)
        held = ws.local.array(HELD, np.float32)
        buf = ws.local.array(CH, np.float32)
        mine[0:TT] = m[me, 0:TT]
        for i in range(T):
            for j in range(T):
                flipped[j * T + i] = mine[i * T + j]
        # Row phase: every tile travels along its row to the diagonal PE.
        if px > py:
            for c0 in range(0, TT, CH):
                ws.send(ws.WEST, flipped[c0:c0 + CH])
            for c0 in range((p - 1 - px) * TT // CH):
                ws.recv(ws.EAST, out=buf[0:CH])
                ws.send(ws.WEST, buf[0:CH])
        elif px < py:
            for c0 in range(0, TT, CH):
                ws.send(ws.EAST, flipped[c0:c0 + CH])
            for c0 in range(px * TT // CH):
                ws.recv(ws.WEST, out=buf[0:CH])
                ws.send(ws.EAST, buf[0:CH])
        else:
            east = (p - 1 - py) * TT  # words from the east side, then from the west side
            for c0 in range(0, east, CH):
                ws.recv(ws.EAST, out=held[c0:c0 + CH])
            for c0 in range(east, (p - 1) * TT, CH):
                ws.recv(ws.WEST, out=held[c0:c0 + CH])
        # Column phase: the diagonal PE sends them on, along its column.
        if py > px:
            for c0 in range(0, TT, CH):
                ws.recv(ws.NORTH, out=mine[c0:c0 + CH])
            for c0 in range((p - 1 - py) * TT // CH):
                ws.recv(ws.NORTH, out=buf[0:CH])
                ws.send(ws.SOUTH, buf[0:CH])
        elif py < px:
            for c0 in range(0, TT, CH):
                ws.recv(ws.SOUTH, out=mine[c0:c0 + CH])
            for c0 in range(py * TT // CH):
                ws.recv(ws.SOUTH, out=buf[0:CH])
                ws.send(ws.NORTH, buf[0:CH])
        else:
            east = (p - 1 - py) * TT
            for c0 in range(0, east, CH):
                ws.send(ws.SOUTH, held[c0:c0 + CH])
            for c0 in range(east, (p - 1) * TT, CH):
                ws.send(ws.NORTH, held[c0:c0 + CH])
            mine[0:TT] = flipped[0:TT]
        out[me, 0:TT] = mine[0:TT]

    return transpose_tiles


def transpose(m: np.ndarray, p: int) -> tuple[np.ndarray, LaunchStats]:
    """`m.T` for a square float32 matrix on a p x p wafer, a tile per PE, moved by vector messages."""
    tile = m.shape[0] // p
    device = ws.Device(ws.WaferSpec(width=p, height=p))
    chunk = math.gcd(tile * tile, device.spec.fifo_depth)  # chunks divide the tile: no remainder message
    kernel = transpose_kernel(p, tile, chunk)
    d_m = device.to_device(gemm.to_tiles(m, p))
    d_out = device.device_array((p * p, tile * tile), np.float32)
    stats = kernel[(1, 1), (p, p)](d_m, d_out, int(p))
    return gemm.from_tiles(d_out.copy_to_host(), p), stats


# ----------------------------------------------------------------------------- workloads
@workload("gemm")
def gemm_case(size: str, rng: np.random.Generator) -> Case:
    p, tile = {"full": (64, 16), "quick": (16, 16), "tiny": (2, 4)}[size]
    n = p * tile
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    # Sums of n products in another order than BLAS: equal to float32 rounding, not bit for bit.
    return Case(f"library GEMM (SUMMA), {p} x {p} PEs, {tile} x {tile} tiles", p * p,
                lambda: gemm.gemm(a, b, p), lambda: a @ b, rtol=1e-4)


@workload("allreduce")
def allreduce_case(size: str, rng: np.random.Generator) -> Case:
    width, height, device = wafer(size)
    values = rng.random((height, width), dtype=np.float32)
    # The kernel sums along rows then down a column; NumPy sums pairwise: equal to float32 rounding.
    return Case(f"block all-reduce (sum), one {width} x {height} block", width * height,
                lambda: reduce.block_allreduce(values, "sum", (width, height), device()),
                lambda: np.full_like(values, values.sum()), rtol=1e-4)


@workload("scan-rows")
def scan_rows_case(size: str, rng: np.random.Generator) -> Case:
    width, height, device = wafer(size)
    values = rng.random((height, width), dtype=np.float32)
    return Case(f"prefix sum along each of {height} rows of {width} PEs", width * height,
                lambda: scan.prefix_sum(values, device()), lambda: np.cumsum(values, axis=1))


@workload("scan-row")
def scan_row_case(size: str, rng: np.random.Generator) -> Case:
    width = {"full": 757, "quick": 757, "tiny": 16}[size]
    values = rng.random((1, width), dtype=np.float32)
    return Case(f"prefix sum along one row of {width} PEs", width,
                lambda: scan.prefix_sum(values), lambda: np.cumsum(values, axis=1))


SWITCH_ROUNDS = 16  # passes through the switch: enough work per PE (~1e8 PE-instructions on wse2)


def switch_case(k: int) -> Callable[[str, np.random.Generator], Case]:
    """The builder of the divergent workload with `k` branches taken."""
    def build(size: str, rng: np.random.Generator) -> Case:
        width, height, device = wafer(size)
        values = rng.random((height, width), dtype=np.float32)
        return Case(f"switch on threadIdx.x % {k}, {SWITCH_ROUNDS} rounds, {width} x {height} PEs", width * height,
                    lambda: switch(values, k, SWITCH_ROUNDS, device()),
                    lambda: numpy_switch(values, k, SWITCH_ROUNDS))
    return build


for _k in (1, 2, 4, 8):
    workload(f"switch-{_k}")(switch_case(_k))


@workload("heat-tiled")
def heat_tiled_case(size: str, rng: np.random.Generator) -> Case:
    width, height, device = wafer(size)
    tile, steps = (4, 3) if size == "tiny" else (8, 6)
    u = rng.random((height * tile, width * tile), dtype=np.float32)
    return Case(f"tiled heat, {tile} x {tile} tile per PE, {width} x {height} PEs, {steps} steps", width * height,
                lambda: heat_tiled.heat_tiled(u, 0.1, steps, tile, device()),
                lambda: reference.heat(u, 0.1, steps, order=reference.ORDER_API))


@workload("saxpy")
def saxpy_case(size: str, rng: np.random.Generator) -> Case:
    waves = {"full": 4096, "quick": 256, "tiny": 4}[size]
    pes_per_wave = saxpy.DEFAULT_SLOTS * 64  # the library's default: 4 block slots of 64 x 1 PEs
    x, y = (rng.random(waves * pes_per_wave, dtype=np.float32) for _ in range(2))
    # The kernel's fma rounds once, NumPy's a * x + y twice: equal to within an ulp.
    return Case(f"saxpy, {waves:,} waves of {pes_per_wave} PEs (n = {x.size:,})", pes_per_wave,
                lambda: saxpy.saxpy(2.0, x, y), lambda: F(2) * x + y, rtol=1e-6)


@workload("transpose")
def transpose_case(size: str, rng: np.random.Generator) -> Case:
    p, tile = {"full": (8, 16), "quick": (4, 16), "tiny": (3, 4)}[size]
    m = rng.random((p * tile, p * tile), dtype=np.float32)
    return Case(f"transpose, {p} x {p} PEs, {tile} x {tile} tiles, vector messages", p * p,
                lambda: transpose(m, p), lambda: np.ascontiguousarray(m.T))


@workload("heat")
def heat_case(size: str, rng: np.random.Generator) -> Case:
    width, height, device = wafer(size)
    steps = 5 if size == "tiny" else 100
    u = rng.random((height, width), dtype=np.float32)
    return Case(f"heat (kernels.heat), one cell per PE, {width} x {height} PEs, {steps} steps", width * height,
                lambda: heat.heat(u, 0.1, steps, device()),
                lambda: reference.heat(u, 0.1, steps, order=reference.ORDER_API))


@workload("life")
def life_case(size: str, rng: np.random.Generator) -> Case:
    width, height, device = wafer(size)
    steps = 5 if size == "tiny" else 100
    board = (rng.random((height, width)) < 0.3).astype(np.int32)
    return Case(f"Game of Life (kernels.life), {width} x {height} PEs, {steps} steps", width * height,
                lambda: life.life(board, steps, device()), lambda: numpy_life(board, steps))


import workloads_user  # noqa: E402,F401 (registers the user-style workloads after issue 9's)
import workloads_patterns  # noqa: E402,F401 (and more of them: communication and divergence patterns)
import workloads_ported  # noqa: E402,F401 (and csl-examples benchmarks ported by a user: dense vector loops)
import workloads_linalg  # noqa: E402,F401 (and four more: GEMV on the collectives, PCR, BiCGSTAB, triangular solve)


def check(name: str, case: Case, result: np.ndarray, expected: np.ndarray) -> None:
    """Raise AssertionError unless the simulator's `result` equals NumPy's (within `case.rtol`)."""
    if result.shape != expected.shape:
        raise AssertionError(f"{name}: result shape {result.shape}, NumPy's {expected.shape}")
    if case.rtol:
        wrong = ~np.isclose(result, expected, rtol=case.rtol, atol=0)
    else:
        wrong = result != expected
    if wrong.any():
        at = tuple(int(i) for i in np.argwhere(wrong)[0])
        raise AssertionError(f"{name}: {int(wrong.sum()):,} of {wrong.size:,} values differ from NumPy "
                             f"({'rtol ' + str(case.rtol) if case.rtol else 'bit for bit'}), first at {at}: "
                             f"{result[at]!r} != {expected[at]!r}")


# ----------------------------------------------------------------------------- one workload, in a child
def run_child(name: str, size: str, repeat: int, deadline: float | None = None, init: bool = False) -> int:
    """Run one workload in this (fresh) process, printing a JSON line after each step. A warm launch that
    would not finish by `deadline` (a `time.time()`; judged by the first launch) is not started. `init`:
    start the engine with `ws.init()` before anything else, and report its seconds."""
    def emit(record: dict) -> None:
        print(json.dumps(record), flush=True)

    try:
        if init:
            emit({"event": "init", "init_s": ws.init()})
        case = WORKLOADS[name](size, np.random.default_rng(0))
        emit({"event": "case", "label": case.label, "pes": case.pes})
        (result, stats), first = timed(case.simulate)
        expected, numpy_s = timed(case.numpy, repeat=3)
        check(name, case, result, expected)
        emit({"event": "first", "wall_s": first, "numpy_s": numpy_s, "instructions": int(stats.instructions),
              "cycles": int(stats.cycles), "peak_mib": peak_rss_mib()})
        for _ in range(repeat):
            if deadline and time.time() + first > deadline:
                emit({"event": "skipped"})
                break
            (again, _), wall = timed(case.simulate)
            if not np.array_equal(again, result):
                raise AssertionError(f"{name}: a warm launch gave a different result from the first")
            emit({"event": "warm", "wall_s": wall, "peak_mib": peak_rss_mib()})
    except Exception as error:  # reported to the parent, which marks the row and fails the run
        traceback.print_exc()
        emit({"event": "error", "message": f"{type(error).__name__}: {error}"})
        return 1
    return 0


# ----------------------------------------------------------------------------- the parent
def run_workload(name: str, size: str, repeat: int, timeout: float | None, cache_dir: str | None = None,
                 init: bool = False) -> dict:
    """Run one workload in a subprocess; return its table row (whatever it finished before `timeout`).
    `cache_dir`: the kernel disk cache the child uses (`WAFERSIM_CACHE_DIR`); None: the user's own. `init`:
    the child calls `ws.init()` first (the row's "init_s")."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--size", size,
               "--repeat", str(repeat)] + (["--deadline", repr(time.time() + timeout)] if timeout else [])
    command += ["--init"] if init else []
    env = dict(os.environ, **({"WAFERSIM_CACHE_DIR": cache_dir, "WAFERSIM_KERNEL_CACHE": "1"} if cache_dir else {}))
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        out, err = child.communicate(timeout=timeout)
        stopped = ""
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
        stopped = f"timed out after {timeout:g} s"
    row: dict = {"name": name, "warm_s": [], "ok": True}
    for line in out.splitlines():
        record = json.loads(line) if line.startswith("{") else {}
        event = record.pop("event", None)
        if event == "warm":
            row["warm_s"].append(record["wall_s"])
            row["peak_mib"] = record["peak_mib"]
        elif event == "error":
            row.update(status=f"NO: {record['message']}", ok=False)
        elif event == "skipped":
            row["skipped"] = True
        elif event in ("case", "first", "init"):
            row.update(record)
    if "status" in row:
        pass
    elif row.get("skipped"):
        row["status"] = (f"yes; {len(row['warm_s'])} of {repeat} warm launches (another would pass "
                         f"the {timeout:g} s timeout)")
    elif stopped:  # the first launch, when it finished, was checked
        row["status"] = (f"yes; {stopped} ({len(row['warm_s'])} of {repeat} warm launches)"
                         if "wall_s" in row else stopped)
    elif child.returncode:
        last = err.strip().splitlines()[-1] if err.strip() else "no message"
        row.update(status=f"NO: exit status {child.returncode}: {last}", ok=False)
    else:
        row["status"] = "yes"
    if not row["ok"]:
        sys.stderr.write(err)
    return row


def run_twice(name: str, size: str, repeat: int, timeout: float | None, second: bool) -> dict:
    """`run_workload` with an empty kernel cache of its own, so that the first launch compiles; with
    `second`, then a second fresh process's first launch (the cache now filled, as when a user runs a script
    again) as the row's "again_s", and a third's, after `ws.init()`, as "after_init_s" (with its "init_s")."""
    with tempfile.TemporaryDirectory(prefix="wafersim-kernels-") as cache_dir:
        row = run_workload(name, size, repeat, timeout, cache_dir)
        if second and row["ok"] and "wall_s" in row:
            again = run_workload(name, size, 0, timeout, cache_dir)
            if not again["ok"]:
                row.update(status=again["status"], ok=False)
            elif "wall_s" in again:
                row["again_s"] = again["wall_s"]
                started = run_workload(name, size, 0, timeout, cache_dir, init=True)
                if not started["ok"]:
                    row.update(status=started["status"], ok=False)
                elif "wall_s" in started:
                    row.update(after_init_s=started["wall_s"], init_s=started["init_s"])
    return row


def selected(only: str | None) -> list[str]:
    """Workload names for `--only` (a comma-separated list; `switch` means every switch-K)."""
    if not only:
        return list(WORKLOADS)
    groups = {"switch": [n for n in WORKLOADS if n.startswith("switch-")]}
    names = []
    for wanted in only.split(","):
        matches = groups.get(wanted, [wanted] if wanted in WORKLOADS else [])
        if not matches:
            raise SystemExit(f"unknown workload {wanted!r}; choose from {', '.join(WORKLOADS)}")
        names += matches
    return names


def command_line(argv: list[str], script: str = "bench/workloads.py") -> str:
    """The command that reproduces this run, as the results file should show it."""
    niceness = os.nice(0)
    return (f"nice -n {niceness} " if niceness else "") + f"python {script} " + shlex.join(argv)


def engine_source() -> str:
    """Which wafersim the children import: its checkout's commit, and whether its src/ has uncommitted
    changes (other people's work in progress would otherwise be measured unknowingly)."""
    package = Path(ws.__file__).resolve().parent
    try:
        def git(*words: str) -> str:
            return subprocess.run(["git", *words], cwd=package, capture_output=True, text=True,
                                  check=True).stdout.strip()
        commit, changes = git("rev-parse", "--short", "HEAD"), git("status", "--porcelain", "--", "..")
    except (OSError, subprocess.CalledProcessError):
        return "wafersim (not from a git checkout)"
    return f"wafersim at commit {commit}" + (", with uncommitted changes in src/" if changes else "")


_TOUCH = """import sys
import numpy as np
left = int(float(sys.argv[1]) * 2**30)
while left > 0:
    chunk = np.ones(min(left, 2**30), dtype=np.uint8)
    left -= chunk.size
    del chunk
"""


def touch_memory(gib: float) -> float:
    """Write every page of `gib` GiB of fresh memory once, a GiB at a time, in a process of its own (Linux
    carries a process's peak RSS into the children it starts: the workloads' peak RSS would read this one's);
    seconds taken (the VM's first touch, module docstring)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", _TOUCH, str(gib)], check=True)
    return time.perf_counter() - start


def section(rows: list[dict], args: argparse.Namespace, argv: list[str], bar_lines: list[str]) -> str:
    title = "## Workloads of issue 9" + (f": {args.label}" if args.label else "")
    touched = (f". {args.touch_memory:g} GiB of memory were touched once before the first workload (`--touch-memory`: "
               "a VM's first touch of its memory is slow, see bench/workloads.py)." if args.touch_memory > 0 else "")
    return (f"{title}\n\nCommand: `{command_line(argv)}`\n\nMachine: {machine()}{touched}\n\n"
            f"Engine: {engine_source()}\n\n"
            "Each workload ran in a fresh process with an empty kernel cache of its own: the first launch includes "
            "compiling the kernel; \"again\" is the first launch of a second fresh process, which finds the kernel "
            "in that cache (as when a user runs a script again; Numba's start-up is paid in both); \"after init\" is "
            "the first launch of a third fresh process that called `ws.init()` first (the engine's start-up, like "
            "CUDA's context creation; its seconds in the \"init\" column); NumPy is the best "
            "of three; peak RSS is the process's maximum resident set (inputs and the NumPy check included). Wall times "
            "are noisy (2 cores shared with other work while this ran); compare the same-run ratios to NumPy. "
            "Warm launches are the best of the `--repeat` launches after the first; a workload stopped by the "
            "timeout shows what it finished.\n\n"
            f"{table(rows, args.repeat)}\n\nBars of issue 9"
            f"{' (defined on the full sizes; these are quick sizes)' if args.quick else ''}:\n\n"
            + "\n".join(bar_lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated workload names (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes: the whole run takes under 2 minutes")
    parser.add_argument("--repeat", type=int, default=2, help="warm launches after the first (default 2)")
    parser.add_argument("--timeout", type=float, help="seconds per workload before it is stopped (default: none)")
    parser.add_argument("--one-process", action="store_true",
                        help="skip the second and third processes (the first launch with the kernel cache "
                        "filled, without and after ws.init())")
    parser.add_argument("--label", default="", help="added to the section's title, e.g. 'baseline'")
    parser.add_argument("--write", help="replace the workloads section of this Markdown file")
    parser.add_argument("--touch-memory", type=float, default=0.0, metavar="GIB",
                        help="touch this many GiB of memory once before the first workload (a VM's first touch)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # run one workload in this process
    parser.add_argument("--size", choices=SIZES, help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)  # when the parent's --timeout ends
    parser.add_argument("--init", action="store_true", help=argparse.SUPPRESS)  # the child calls ws.init() first
    args = parser.parse_args(argv)
    if args.child:
        return run_child(args.child, args.size, args.repeat, args.deadline, args.init)
    size = "quick" if args.quick else "full"
    if args.touch_memory > 0:
        seconds = touch_memory(args.touch_memory)
        print(f"touched {args.touch_memory:g} GiB of memory in {seconds:.1f} s ({seconds / args.touch_memory:.2f} s/GiB)")
    rows = []
    for name in selected(args.only):
        print(f"{name} ...", end=" ", flush=True)
        start = time.perf_counter()
        rows.append(run_twice(name, size, args.repeat, args.timeout, second=not args.one_process))
        print(f"{rows[-1]['status']} ({time.perf_counter() - start:.1f} s)", flush=True)
    bar_lines = bars(rows)
    print(f"machine: {machine()}\nengine: {engine_source()}\n{table(rows, args.repeat)}\n" + "\n".join(bar_lines))
    if args.write:
        write_section(args.write, "workloads", section(rows, args, argv, bar_lines))
        print(f"wrote {args.write}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

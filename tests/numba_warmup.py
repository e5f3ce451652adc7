"""Compiling the engine's Numba machine code once per test run, split between the xdist workers.

In a clean clone (CI) Numba's on-disk cache of the engine is empty, and each xdist worker compiled every
engine function its tests reached on its own: the stream pump (~20 s of CPU), the interpreter's `run_group`
(~20 s), the pump's send step (~5-9 s), `trace_routes` (~10 s), ... -- the same machine code twice on two
workers, ~50 s of CPU each time. So `conftest.pytest_sessionstart` has worker k of n run `main(k, n)` in a
child process before its first test: the heavy functions are split into `JOBS` of a small launch each, worker
k runs its share of them (`shares`: about equal CPU seconds each, since xdist starts no test before every
worker is done), and each job writes its machine code to the shared cache; the other workers' tests then load
it from there instead of compiling it again. (A child process: the worker's own state -- loaded
modules, the listener's list of compilations, the engine's caches -- stays as the tests expect it.)

Nothing here is a test: a job that fails (an API that moved) only leaves the compiling to the tests, as before.
The launches are the tests' own (tests/test_background.py, test_kernels_dense.py, test_clocks.py), so
that the signatures compiled are the ones the tests call. Run it by hand with `python tests/numba_warmup.py K N`
(add `-v` to see what each job compiled and its CPU seconds).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np


def _interpreter() -> None:
    """The interpreter (`run_group`, `settle`), the slot movers, the background receive step and the float16
    vector instructions."""
    from test_background import _run
    for mode in ("blocking", "wait-at-once"):
        _run(mode, 3)
    # The compiled float16 vector instructions (`half_vector`): a worker's first half-precision launch compiled
    # it (in stop 47's clean-clone run bench's mixed16 on worker 0, 12.9 s of CPU at load ~14), and the other
    # worker's (training in bfloat16, ...) again. An assembly kernel, run by the interpreter compiled above.
    from test_half_vector_kernels import test_operands_overlapping_the_destination_are_read_before_it_is_written
    test_operands_overlapping_the_destination_are_read_before_it_is_written("vhadd", 1)


def _pump() -> None:
    """The stream pump with its steps compiled in, its send step, the rank-1 update kernels (both signatures)
    and the routed transfers' kernels (`trace_routes`, the FIFO slots')."""
    from wafersim.kernels.gemm import gemm
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((32, 32)).astype(np.float32) for _ in range(2))
    gemm(a, b, 4)
    # A product on a wafer larger than its block: `rank1_updates_float32`'s second signature, which tests of
    # both workers compiled in stop 47's clean-clone run (tests/test_kernels_dense.py 8.4 s of CPU at load
    # ~14, the descriptor kernels' and weight streaming's tests). After the pump: its launch runs the pump.
    from test_kernels_dense import test_gemm_on_a_larger_device_and_bad_shapes
    test_gemm_on_a_larger_device_and_bad_shapes()


def _wide_clocks() -> None:
    """The interpreter (`run_group`, `run_block`) again for float64 clocks: a chain of waits whose clocks pass
    what float32 holds (tests/test_clocks.py's launch, whose test compiled it: 27 s of CPU in stop 45's run)."""
    from test_clocks import HUGE
    from test_engine import CHAIN, run
    import wafersim as ws
    run(CHAIN, (1, 1), (34, 1), spec=ws.WaferSpec(width=40, height=2, hop_latency=5, cost_cycles={"send": HUGE}))


#: The jobs with their CPU seconds in a fresh cache, from the quiet clean-clone `make test` of stop 46's last commit
#: (616c486: its cache files' times, the two workers' shares side by side on the 2 cores): the pump ~88 s -- it
#: also compiles the routed-transfer tracer `trace_routes`, the slot movers and `rank1_updates_float32` --, the
#: interpreter ~57 s, its float64 clocks ~22 s after it; plus stop 47's additions (the rank-1 updates' second
#: signature to the pump, ~6 s; `half_vector` to the interpreter, ~12 s; both measured at load ~14, 21 s
#: together, and halved). (On loaded machines CPU seconds of compiling ran longer: stop 46 measured 81, 68 and
#: 48 at load ~10.) A job of its own for `trace_routes` would compile `run_group` again: a routed launch starts
#: in the interpreter; likewise the second rank-1 signature (its launch runs the pump) and `half_vector`.
JOBS: tuple[tuple[Callable[[], None], float], ...] = ((_pump, 94.0), (_interpreter, 69.0), (_wide_clocks, 22.0))


def shares(workers: int) -> list[list[Callable[[], None]]]:
    """`JOBS` split between `workers` workers, heaviest first to the least loaded (two workers: the pump on
    worker 0, both interpreters on worker 1). xdist hands out the first tests only when every worker is done
    with its share, so the shares should take about as long."""
    loads, split = [0.0] * workers, [[] for _ in range(workers)]
    for job, seconds in sorted(JOBS, key=lambda job: -job[1]):
        least = loads.index(min(loads))
        loads[least] += seconds
        split[least].append(job)
    return split


def cache_is_cold() -> bool:
    """Whether Numba's cache lacks the machine code of the pump or of `run_group` (a clean clone, or sources
    changed since: `numba_cache.drop_if_stale` emptied it when the engine's modules were imported)."""
    from wafersim.sim.compiled import interpreter
    from wafersim.sim import stream_pump_kernels
    for function in (stream_pump_kernels.pump, interpreter.run_group):
        try:
            folder, stem = function._cache._cache_path, function._cache._cache_file._index_name
        except AttributeError:  # (another Numba: leave the compiling to the tests)
            return False
        if not os.path.exists(os.path.join(folder, stem)):
            return True
    return False


#: Wall seconds a worker waits for its share (see `warm_up_this_worker`).
WALL_LIMIT = 3600


def warm_up_this_worker() -> None:
    """In an xdist worker of two or more, with a cold cache: run this worker's share of `JOBS` in a child
    process and wait for it (its CPU is the compiling the tests would otherwise do). Else nothing."""
    worker, workers = os.environ.get("PYTEST_XDIST_WORKER", ""), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not worker.startswith("gw") or workers < 2 or not cache_is_cold():
        return
    index = int(worker[2:])
    if not shares(workers)[index]:
        return
    # A limit only against a hang: on a loaded machine (load ~13 on 2 cores, stop 46) a share took over 10
    # minutes of wall time, and the former 600 s limit killed both children before the pump and `run_group` were
    # written, so the tests compiled all of it again, on both workers.
    try:
        done = subprocess.run([sys.executable, __file__, str(index), str(workers)], capture_output=True, text=True,
                              timeout=WALL_LIMIT)
    except subprocess.TimeoutExpired:
        print(f"numba_warmup ({worker}): stopped after {WALL_LIMIT} s; the tests compile the rest", file=sys.__stderr__)
        return
    if done.returncode or done.stderr.strip():
        print(f"numba_warmup ({worker}): {done.stderr.strip() or f'exit status {done.returncode}'}",
              file=sys.__stderr__)


def main(worker: int, workers: int, verbose: bool = False) -> None:
    """Run the jobs of worker `worker` of `workers` (see the module's docstring)."""
    tests = str(Path(__file__).resolve().parent)
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import conftest  # noqa: F401  (the suite's settings: the compiled path from the first run, ...)
    from wafersim.sim.compiled import jit

    for job in shares(workers)[worker]:
        began, first = time.process_time(), len(jit.LISTENER.compiled)
        try:
            job()
        except Exception as error:  # noqa: BLE001 (see the docstring: the tests compile what is missing)
            print(f"numba_warmup: {job.__name__} failed ({type(error).__name__}: {error})", file=sys.stderr)
        if verbose:
            print(f"{job.__name__}: {time.process_time() - began:.1f} s CPU, compiled "
                  f"{jit.LISTENER.compiled[first:]}", file=sys.stderr)


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "-v"]
    main(int(arguments[0]), int(arguments[1]), verbose="-v" in sys.argv)

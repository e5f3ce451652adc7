"""`wafersim.init()`: starts the compiled path ahead of the first launch (Numba and the engine's machine code),
and changes nothing a launch computes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import wafersim as ws
from wafersim.errors import ArgumentError
from wafersim.kernels import scan


def test_init_returns_its_seconds_and_a_second_call_is_free(monkeypatch):
    from wafersim.sim import hostmem
    from wafersim.sim.engine import Launch

    first = ws.init()
    assert isinstance(first, float) and first >= 0
    assert "numba" in sys.modules
    # (already started: a second call launches nothing, touches no heap and imports nothing -- checked by what it
    # does, not by its seconds, which a loaded machine stretches)
    launched, touched, modules = [], [], set(sys.modules)
    monkeypatch.setattr(Launch, "run", lambda self, *args, **kwargs: launched.append(self))
    monkeypatch.setattr(hostmem, "populate_now", lambda *args: touched.append(args))
    second = ws.init()
    assert isinstance(second, float) and second >= 0
    assert launched == [] and touched == [] and set(sys.modules) == modules


@pytest.mark.parametrize("heap_mib", [-1, float("nan"), float("inf"), "64", True, None])
def test_init_refuses_a_heap_that_is_no_number_of_mib(heap_mib):
    # (inf was an OverflowError where the available memory is not known, which caps it elsewhere)
    with pytest.raises(ArgumentError, match="heap_mib must be a finite number of MiB >= 0"):
        ws.init(heap_mib=heap_mib)


def test_launches_after_init_give_the_same_results():
    values = np.random.default_rng(5).random((3, 40), dtype=np.float32)
    out, stats = scan.prefix_sum(values)
    ws.init()
    again, again_stats = scan.prefix_sum(values)
    np.testing.assert_array_equal(again, out)
    assert again_stats.cycles == stats.cycles and again_stats.instructions == stats.instructions


_LAUNCHES = """
import sys
import numpy as np
import wafersim as ws

if sys.argv[1] == "first":  # `ws.init()` in a fresh process, before any launch
    numba_at_import = "numba" in sys.modules  # (importing wafersim does not start Numba)
    seconds = ws.init()
    from wafersim.runtime import current
    from wafersim.sim import hostmem
    heap = "untuned"
    if hostmem.tune_allocator():  # (the heap it touched and freed for launches to reuse)
        wanted = min(current.INIT_HEAP_MIB << 20, hostmem.available_bytes() // 8)
        heap = wanted <= hostmem.reserve_heap(0) < wanted + (8 << 20) or (wanted, hostmem.reserve_heap(0))
    print(numba_at_import, "numba" in sys.modules and seconds > 0, heap)

from wafersim.kernels import gemm, scan


def loaded():  # machine code held of every cached engine function, by function
    return {(m, n): len(d.overloads) for m, mod in list(sys.modules.items()) if m.startswith("wafersim.sim")
            for n, d in list(vars(mod).items()) if hasattr(d, "overloads") and hasattr(d, "_cache")}


def launch():  # routed sends, the stream pump (GEMM), a scalar scan; results against NumPy
    rng = np.random.default_rng(0)
    a, b, values = rng.random((16, 16), dtype=np.float32), rng.random((16, 16), dtype=np.float32), \
        rng.integers(-99, 99, (3, 40), dtype=np.int32)
    np.testing.assert_allclose(gemm.gemm(a, b, 2)[0], a.astype(np.float64) @ b, rtol=1e-5)
    np.testing.assert_array_equal(scan.prefix_sum(values)[0], np.cumsum(values, axis=1, dtype=np.int32))


if sys.argv[1] == "init":
    ws.init()
    before = loaded()
    launch()
    after = loaded()
    print(sorted(f"{m}.{n}" for (m, n) in after if after[(m, n)] != before.get((m, n), 0)))
    # Numba's registries (its implementations, to compile with; SciPy's linear algebra among them) stay unloaded:
    # cached machine code needs none of them (`numba_cache.load_before_registries`)
    print("numba.np.linalg" in sys.modules, "scipy.linalg" in sys.modules)
else:
    launch()  # (fills Numba's cache with what the launches use, where it lacked it)
"""


@pytest.fixture(scope="module")
def fresh_processes(tmp_path_factory) -> dict[str, list[str]]:
    """What two fresh processes print, one after the other: "first" (`ws.init()` before any launch, then the
    launches, which fill Numba's cache where it lacked their machine code) and "init" (`ws.init()`, then the
    same launches). (The two tests below share them: each fresh process is seconds of CPU.)"""
    folder = tmp_path_factory.mktemp("startup")
    (folder / "launches.py").write_text(_LAUNCHES)

    def run(step: str) -> list[str]:
        done = subprocess.run([sys.executable, "launches.py", step], cwd=folder, capture_output=True, text=True,
                              timeout=600, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().split("\n")

    return {step: run(step) for step in ("first", "init")}


def test_init_in_a_fresh_process_loads_numba_before_any_launch(fresh_processes):
    # Importing wafersim does not start Numba; `ws.init()` does (and takes time), and where it tunes the
    # allocator it leaves the heap it touched and freed for launches to reuse.
    assert fresh_processes["first"] in (["False True True"], ["False True untuned"])


def test_a_launch_after_init_loads_no_engine_machine_code(fresh_processes):
    # `ws.init()` loads the cached machine code of every engine function a launch calls (`ENTRY_SOURCES`):
    # a launch after it loads none. Found by every cached dispatcher of wafersim.sim, not by that list
    # (it lacked stream_pump_steps, whose `send_step_in_pe_order` the routed sends call).
    assert fresh_processes["init"] == ["[]", "False False"]


#: A fresh process (no `ws.init()`) launches bench/workloads.py's issue-9 rows at their tiny sizes, each a first
#: launch of its kernel in the process (all but the one-row scan load Numba inside it), then again (warm), then
#: on the reference strategy (one NumPy call per instruction and group, no Numba); prints, per workload, the
#: three runs' result bytes, cycles and instructions, and whether Numba was loaded before and after the first.
_FIRST_LAUNCHES = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import wafersim as ws
import workloads
from wafersim.sim.strategy import REFERENCE, forced

for name in sys.argv[2:]:
    case = workloads.WORKLOADS[name]("tiny", np.random.default_rng(3))
    numba_before = "numba" in sys.modules
    runs = [case.simulate()]
    numba_after = "numba" in sys.modules
    runs.append(case.simulate())
    with forced(REFERENCE):
        runs.append(case.simulate())
    workloads.check(name, case, runs[0][0], case.numpy())  # (raises on a result NumPy disagrees with)
    print(json.dumps({"name": name, "numba": [numba_before, numba_after],
                      "runs": [[np.asarray(out).tobytes().hex(), int(stats.cycles), int(stats.instructions)]
                               for out, stats in runs]}))
"""
FIRST_LAUNCH_WORKLOADS = ("transpose", "switch-2", "allreduce", "scan-row")


def test_a_fresh_processs_first_launches_equal_warm_and_reference_launches(tmp_path):
    """A process's first launch, which loads Numba (and the engine's machine code) part way through when no
    `ws.init()` came first, computes what a warm launch and the reference strategy do: the same result bytes
    (checked against NumPy in the process), cycles and instructions. Numba's start-up changes when the compiled
    path is taken (`stepper._loading_pays`), never what a launch computes."""
    (tmp_path / "first.py").write_text(_FIRST_LAUNCHES)
    bench = Path(__file__).resolve().parent.parent / "bench"
    done = subprocess.run([sys.executable, "first.py", str(bench), *FIRST_LAUNCH_WORKLOADS], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["name"] for r in records] == list(FIRST_LAUNCH_WORKLOADS)
    assert records[0]["numba"] == [False, True]  # (the first launch of the process started Numba itself)
    for record in records:
        first, warm, reference = record["runs"]
        assert first == warm == reference, record["name"]
        assert first[1] > 0 and first[2] > 0

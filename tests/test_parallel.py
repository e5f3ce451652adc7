"""sim/parallel.py: sends and receives of large groups split over threads give the same bits as one call."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import wafersim as ws
from test_engine_strategies import assert_same_run, library_launches
from wafersim.kernels import heat, reference
from wafersim.sim import parallel, vector_batch
from wafersim.sim.lanes import Lanes
from wafersim.sim.strategy import FAST, REFERENCE, Strategy, forced


def run_threaded_and_not(launch, monkeypatch, count: int):
    """`launch()` on one thread and on `count` threads with every group split; both must agree."""
    with parallel.threads(1):
        one = launch()
    with monkeypatch.context() as patch, parallel.threads(count):
        patch.setattr(parallel, "PARALLEL_LANES", 2)  # (test wafers are small: split every group)
        patch.setattr(parallel, "ROW_TRANSFER_LANES", 2)
        many = launch()
    assert_same_run(one, many)
    return one


@pytest.mark.parametrize("name", sorted(library_launches()))
def test_library_kernels_are_identical_on_one_and_on_three_threads(name, monkeypatch):
    run_threaded_and_not(library_launches()[name], monkeypatch, 3)  # each kernel's tests compare with NumPy


def test_heat_on_two_threads_matches_numpy(monkeypatch):
    u = np.random.default_rng(3).random((12, 10), dtype=np.float32)
    out, _ = run_threaded_and_not(lambda: heat.heat(u, 0.1, 6), monkeypatch, 2)
    np.testing.assert_array_equal(out, reference.heat(u, 0.1, 6, order=reference.ORDER_API))


def test_threads_take_parts_of_a_large_group(monkeypatch):
    """The split is used: a large group's send runs as parts (not only the one-call fallback)."""
    calls = []
    original = parallel.run
    monkeypatch.setattr(parallel, "run", lambda work, parts: calls.append(len(parts)) or original(work, parts))
    monkeypatch.setattr(parallel, "PARALLEL_LANES", 2)
    with parallel.threads(2), forced(Strategy(compiled_fabric=False)):  # (else 64 PEs run their sends compiled)
        heat.heat(np.ones((8, 8), dtype=np.float32), 0.1, 2)
        assert not calls  # scalar row transfers are not split by default (`ROW_TRANSFER_LANES`)
        monkeypatch.setattr(parallel, "ROW_TRANSFER_LANES", 2)
        heat.heat(np.ones((8, 8), dtype=np.float32), 0.1, 2)
    assert calls and set(calls) == {2}


def lanes_of_every_form(rng: np.random.Generator, n: int) -> list[tuple[Lanes, np.ndarray]]:
    """(lanes, the region indices they stand for) in each splittable form, windowed or not."""
    mask = rng.random(n) < 0.5
    excl = np.sort(rng.choice(n, 5, replace=False))
    m, start = n - 7, 7  # a window over the last n - 7 PEs
    wmask = rng.random(m) < 0.3
    wexcl = np.sort(rng.choice(m, 4, replace=False))
    return [
        (Lanes(n), np.arange(n)),
        (Lanes(n, mask=mask), np.flatnonzero(mask)),
        (Lanes(n, excl=excl), np.setdiff1d(np.arange(n), excl)),
        (Lanes(m, window=slice(start, n)), np.arange(start, n)),
        (Lanes(m, mask=wmask, window=slice(start, n)), np.flatnonzero(wmask) + start),
        (Lanes(m, excl=wexcl, window=slice(start, n)), np.setdiff1d(np.arange(m), wexcl) + start),
    ]


@pytest.mark.parametrize("count", [2, 3, 7])
def test_parts_cover_each_lane_once_in_order(count, monkeypatch):
    monkeypatch.setattr(parallel, "PARALLEL_LANES", 1)
    rng = np.random.default_rng(count)
    with parallel.threads(count):
        for lanes, expected in lanes_of_every_form(rng, 60):
            parts = parallel.parts_of([lanes])
            assert 2 <= len(parts) <= count and all(part.count for (part,) in parts)  # (one a thread, none empty)
            covered = np.concatenate([part.indices() for (part,) in parts])
            np.testing.assert_array_equal(covered, expected)
            assert sum(part.count for (part,) in parts) == lanes.count
        assert parallel.parts_of([Lanes(60, idx=np.arange(5))]) is None  # index form: one call
    with parallel.threads(1):
        assert parallel.parts_of([Lanes(60)]) is None


@pytest.mark.parametrize("value", ["0", "-2", "x", "1_0", "+2", "\u0663", "2.5", "0x4"])  # (1_0, +2, \u0663: int()'s)
def test_wafersim_threads_must_be_a_positive_whole_number(monkeypatch, value):
    monkeypatch.setenv("WAFERSIM_THREADS", value)
    monkeypatch.setattr(parallel, "_configured", None)  # (read on first use)
    with pytest.raises(parallel.ArgumentError, match=re.escape(f"WAFERSIM_THREADS={value!r} is not a positive whole number")):
        parallel.thread_count()
    monkeypatch.setenv("WAFERSIM_THREADS", " 03 ")
    assert parallel.thread_count() == 3


@ws.jit
def _infinities(a, out):
    i = ws.threadIdx.y * 16 + ws.threadIdx.x
    v = ws.local.array(8, np.float32)
    w = ws.local.array(8, np.float32)
    v[0:8] = a[i, 0:8]
    w[0:8] = v[0:8] * 0.0
    w[0:8] = v[0:8] / w[0:8]  # 1/0 -> inf, 0/0 -> nan: IEEE, as documented, and no NumPy warning
    v[0:8] = v[0:8] * w[0:8] + w[0:8]
    out[i, 0:8] = v[0:8]


@pytest.mark.parametrize("strategy", [REFERENCE, FAST], ids=["reference", "fast"])
def test_parts_on_pool_threads_warn_no_more_than_one_call(strategy, monkeypatch):
    """NumPy's error state is per context: the parts run on the pool's threads must see the run's (found by a
    trial: `divide by zero` warnings from lanes.py and vector_batch.py once a large group was split)."""
    monkeypatch.setattr(parallel, "PARALLEL_LANES", 64)
    monkeypatch.setattr(vector_batch, "BATCH_LANES", 64)
    a = np.arange(256 * 8, dtype=np.float32).reshape(256, 8)
    dev = ws.Device(ws.WaferSpec(width=16, height=16))
    out = dev.device_array((256, 8))
    with warnings.catch_warnings(), parallel.threads(2), forced(strategy):
        warnings.simplefilter("error")
        _infinities[1, (16, 16)](dev.to_device(a), out)
    with np.errstate(all="ignore"):
        w = a / (a * np.float32(0.0))
        expected = a * w + w
    np.testing.assert_array_equal(out.copy_to_host(), expected)


@pytest.mark.parametrize("count, error", [(0, ws.ArgumentError), (-1, ws.ArgumentError), (2.5, ws.ArgumentTypeError),
                                          (True, ws.ArgumentTypeError), ("2", ws.ArgumentTypeError)])
def test_threads_refuses_a_count_that_is_not_a_whole_number_of_at_least_one(count, error):
    before = parallel.thread_count()
    with pytest.raises(error, match="threads\\(count\\): count must"):   # was: 0 taken as 1, 2.5 as 2
        with parallel.threads(count):
            pass
    assert parallel.thread_count() == before
    with parallel.threads(np.int64(2)):
        assert parallel.thread_count() == 2


def test_threads_applies_to_the_launches_of_the_host_thread_that_entered_it(monkeypatch):
    """Two host threads in `threads(1)` and `threads(3)` blocks at once: each one's launches are split into its
    own count of parts (none for 1), and leaving one block leaves the other's count (a module-wide stack gave
    both threads the last count entered and popped the other's entry)."""
    import threading

    monkeypatch.setattr(parallel, "PARALLEL_LANES", 2)
    monkeypatch.setattr(parallel, "ROW_TRANSFER_LANES", 2)
    calls, original = [], parallel.run
    monkeypatch.setattr(parallel, "run", lambda work, parts: calls.append((threading.current_thread().name,
                                                                          len(parts))) or original(work, parts))
    before = parallel.thread_count()
    u = np.random.default_rng(5).random((8, 8), dtype=np.float32)
    both_inside, first_left, results = threading.Barrier(2), threading.Event(), {}

    def body(count):
        name = threading.current_thread().name
        with parallel.threads(count), forced(Strategy(compiled_fabric=False)):  # (else the sends run compiled)
            both_inside.wait()
            out, _ = heat.heat(u, 0.1, 2)
            results[name] = [parallel.thread_count(), out]
            both_inside.wait()
            if count == 3:
                first_left.wait()  # the one-thread block has been left: this one keeps its 3
                results[name].append(parallel.thread_count())
        if count == 1:
            first_left.set()
        results[name + " after"] = parallel.thread_count()

    workers = [threading.Thread(target=body, args=(count,), name=f"host{count}") for count in (1, 3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    expected = reference.heat(u, 0.1, 2, order=reference.ORDER_API)
    for name in ("host1", "host3"):
        np.testing.assert_array_equal(results[name][1], expected)
    assert results["host1"][0] == 1 and results["host3"][0] == 3 and results["host3"][2] == 3
    assert results["host1 after"] == results["host3 after"] == before == parallel.thread_count()
    assert calls and {parts for name, parts in calls if name == "host3"} == {3}
    assert not [name for name, _ in calls if name == "host1"]


def test_a_later_larger_thread_count_runs_on_that_many_threads(monkeypatch):
    """The pool was sized by the first count used: after `threads(2)`, a `threads(4)` launch's 4 parts ran on
    2 threads without a word. Each part here waits until all of them have started (a barrier of as many
    parties as parts), so it completes only if every part has a thread of its own."""
    import threading

    monkeypatch.setattr(parallel, "_idle", [])
    started = parallel._started

    def distinct_threads(count: int) -> int:
        barrier, seen = threading.Barrier(count, timeout=20), set()

        def work(i):
            seen.add(threading.get_ident())
            barrier.wait()  # (BrokenBarrierError when a part is still queued behind another)

        with parallel.threads(count):
            parallel.run(work, [(i,) for i in range(count)])
        return len(seen)

    assert distinct_threads(2) == 2
    assert distinct_threads(4) == 4       # was: threading.BrokenBarrierError, 2 threads for 4 parts
    assert distinct_threads(3) == 3       # a smaller count later: the workers started serve it
    assert parallel._started - started == 3 and len(parallel._idle) == 3


def test_run_waits_for_every_part_and_raises_the_first_parts_error():
    """A part's error reaches the launching thread, the first part's before the others', and `run` returns only
    once every part has ended (a part's worker still writing after an error left would change the failed
    launch's state); the workers serve later runs."""
    import threading
    import time

    ended = []

    def work(i, fails):
        if i:
            time.sleep(0.05)  # (the other parts end after the first part's error)
        ended.append(i)
        if fails:
            raise ValueError(f"part {i}")

    with pytest.raises(ValueError, match="part 0"):
        parallel.run(work, [(0, True), (1, True), (2, False)])
    assert sorted(ended) == [0, 1, 2]
    ended.clear()
    with pytest.raises(ValueError, match="part 2"):
        parallel.run(work, [(0, False), (1, False), (2, True)])
    assert sorted(ended) == [0, 1, 2]
    seen = []
    parallel.run(lambda i: seen.append((i, threading.get_ident())), [(i,) for i in range(3)])
    assert sorted(i for i, _ in seen) == [0, 1, 2] and len({ident for _, ident in seen}) == 3


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork on this platform")
def test_a_forked_child_runs_parts_on_threads_of_its_own():
    """A child forked after a run has none of the parent's worker threads: handing its parts to them would wait
    for ever. The child starts its own, and its run ends with every part done."""
    import os
    import select
    import signal

    parallel.run(lambda i: None, [(0,), (1,)])  # (a worker idle in the parent)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report the parts' sum, then leave at once
        try:
            done = []
            parallel.run(lambda i: done.append(i), [(1,), (2,)])
            os.write(write, bytes([sum(done)]))
        finally:
            os._exit(0)
    os.close(write)
    ready, _, _ = select.select([read], [], [], 60)
    if not ready:  # (the child waits for threads it does not have)
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    assert ready and os.read(read, 1) == bytes([3])


@pytest.mark.skipif(not hasattr(__import__("signal"), "pthread_kill"), reason="no pthread_kill on this platform")
def test_an_interrupt_while_waiting_for_the_parts_leaves_only_once_every_part_has_ended():
    """Ctrl-C while the launching thread waits for the worker threads' parts: `run` raised the KeyboardInterrupt
    at once, with the parts still writing (a notebook that catches it and launches again would race them). The
    parts here interrupt the launching thread once it waits (the first part returns at once) and go on a while."""
    import signal
    import threading
    import time

    main, ended = threading.main_thread().ident, []

    def work(i):
        if i:
            time.sleep(0.2)  # (the launching thread is waiting by then)
            if i == 1:
                signal.pthread_kill(main, signal.SIGINT)
            time.sleep(0.3)
        ended.append(i)

    with parallel.threads(3):
        with pytest.raises(KeyboardInterrupt):
            parallel.run(work, [(0,), (1,), (2,)])
        assert sorted(ended) == [0, 1, 2]       # was [0]: the other parts still running
        ended.clear()
        parallel.run(work, [(0,), (3,), (4,)])  # (the workers not reused are replaced)
    assert sorted(ended) == [0, 3, 4]


def test_a_part_of_window_positions_without_lanes_is_left_out(monkeypatch):
    """A group split over more threads than it has lanes between its gaps: the parts with no lane are left out
    (the complement form of 2 PEs of a 3-PE window, in 3 parts, had an empty one), and a single part is no split."""
    with parallel.threads(3):
        parts = parallel.parts_of([Lanes(3, excl=np.array([2]))], 2)
        assert [part.indices().tolist() for (part,) in parts] == [[0], [1]]
        parts = parallel.parts_of([Lanes(9, mask=np.arange(9) % 8 == 0)], 2)  # (lanes 0 and 8: the middle is empty)
        assert [part.indices().tolist() for (part,) in parts] == [[0], [8]]
        assert parallel.parts_of([Lanes(9, mask=np.arange(9) < 2)], 2) is None  # (one part holds every lane)


_SENDS_EAST_THEN_RECEIVES = """
.args 1
    sreg r1, tid.x
    sreg r2, bid.x
    muli r3, r2, 3
    add r3, r3, r1          # the PE's launch index
    li r6, -1
    addi r7, r3, 100
    hasnb r20, east
    bz r20, sent
    send east, 0, r7
    send east, 0, r3
sent:
    hasnb r20, west
    bz r20, received
    recv r6, west, 0
    recv r8, west, 0
    add r6, r6, r8
received:
    arg r8, 0
    shli r9, r3, 2
    add r8, r8, r9
    gst r6, r8, 0
    halt
"""


def test_row_sends_of_a_group_with_an_excluded_pe_in_three_parts_match_python(monkeypatch):
    """Found by the engine fuzzer (all thresholds lowered, 3 threads): a lockstep send of the 2 PEs of a 3-PE
    block that have an east neighbour, in complement form (`lanes.SPARSE_FRACTION`) and cut into row-transfer
    parts (`parallel.ROW_TRANSFER_LANES`), gave one part no lane, whose slot-time reduction raised a bare
    ValueError under `Strategy(event_wakeup=False)`. Every strategy now gives each PE its west neighbour's two
    words' sum, 3 blocks in 3 waves."""
    from engine_thresholds import thresholds
    from test_engine_strategies import run_every_strategy
    from wafersim.isa.assembler import assemble
    from wafersim.sim import lanes

    program = assemble(_SENDS_EAST_THEN_RECEIVES, name="east")

    def launch():
        dev = ws.Device(ws.WaferSpec(width=5, height=1, fifo_depth=1))
        out = dev.to_device(np.zeros(9, np.int32))
        stats = dev.launch(program, (3, 1), (3, 1), [out])
        return out.copy_to_host(), stats

    with thresholds({(parallel, "ROW_TRANSFER_LANES"): 2, (lanes, "SPARSE_FRACTION"): 0.45}, threads=3):
        out, _ = run_every_strategy(launch)
    index = np.arange(9)
    expected = np.where(index % 3 == 0, -1, (index - 1 + 100) + (index - 1))
    np.testing.assert_array_equal(out, expected)

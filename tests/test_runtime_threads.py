"""One Device used from several host threads (runtime/device.py: `Device.lock`): launches, copies,
allocations and stream operations of one device are serialised, so one thread's failed launch never undoes
another's stores and the shared undo record is never corrupted."""
from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import wafersim as ws


@ws.jit
def scale_add(x, out, a):
    i = ws.grid(1)
    if i < x.size:
        for k in range(20):  # a few steps, so that threads switch while PEs run
            a = a * 1.0
        out[i] = a * x[i] + 1.0


@ws.jit
def store_then_fault(v):
    i = ws.grid(1)
    v[i] = 5.0
    for k in range(20):
        i = i + 0
    v[i + 1000] = 1.0  # out of bounds: a MemoryAccessError after the store above


@pytest.fixture
def fast_switching():
    """Switch host threads as often as Python allows, so that an unsafe interleaving shows up."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def run_threads(*targets) -> None:
    start = threading.Barrier(len(targets))

    def wrap(target):
        def run():
            start.wait()
            target()
        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_a_failed_launch_in_one_thread_does_not_undo_another_threads_launch(fast_switching):
    dev = ws.Device(ws.WaferSpec(width=16, height=16))
    scale_add[1, 16](dev.device_array(16), dev.device_array(16), 1.0)  # compile outside the threads
    with pytest.raises(ws.MemoryAccessError):
        store_then_fault[1, 16](dev.device_array(16))
    wrong, unexpected, failed = [], [], []
    rounds = 25

    def good():
        s = dev.stream()
        for j in range(rounds):
            x = np.arange(64, dtype=np.float32) + j
            d, o = dev.to_device(x, stream=s), dev.device_array(64)
            try:
                scale_add[4, 16, s](d, o, 2.0)
            except Exception as exc:  # noqa: BLE001 (recorded: none is expected)
                unexpected.append(repr(exc))
                continue
            got = o.copy_to_host(stream=s)
            if not np.array_equal(got, 2 * x + 1):  # exact in float32: small integers
                wrong.append(j)

    def failing():
        s = dev.stream()
        for _ in range(rounds):
            v = dev.device_array(16)
            try:
                store_then_fault[1, 16, s](v)
            except ws.MemoryAccessError:
                failed.append(v.copy_to_host(stream=s))
            except Exception as exc:  # noqa: BLE001
                unexpected.append(repr(exc))

    run_threads(good, failing)
    assert unexpected == [] and wrong == []
    assert len(failed) == rounds and all(not f.any() for f in failed)  # each failed launch undid its own store
    assert len(dev.launches) == 1 + rounds  # the successful ones


def test_threads_allocating_launching_and_freeing_on_one_device(fast_switching):
    dev = ws.Device(ws.WaferSpec(width=16, height=16))
    scale_add[1, 16](dev.device_array(16), dev.device_array(16), 1.0)
    bad, unexpected = [], []

    def worker(k):
        def run():
            s = dev.stream()
            try:
                for j in range(10):
                    x = np.arange(64, dtype=np.float32) + 100 * k + j
                    d, o = dev.to_device(x, stream=s), dev.device_array(64)
                    scale_add[4, 16, s](d, o, float(k + 1))
                    if not np.array_equal(o.copy_to_host(stream=s), (k + 1) * x + 1):
                        bad.append((k, j))
                    d.free()
                    o.free()
            except Exception as exc:  # noqa: BLE001
                unexpected.append(repr(exc))
        return run

    run_threads(*(worker(k) for k in range(3)))
    assert unexpected == [] and bad == []
    assert len(dev.launches) == 1 + 3 * 10
    assert len(dev.streams) == 4 and dev.memory.allocations()[0].size == 64  # only the warm-up's arrays remain
    # each stream's commands follow the warm-up launch on the default stream, one after another (the
    # default stream held no work meanwhile): a copy at once, a launch once its PEs are free as well
    warm_up = dev.default_stream.time
    for s in dev.streams[1:]:
        assert s.log[0][1] == warm_up and s.time == s.log[-1][2]
        assert all(b[1] == a[2] if b[0].startswith("memcpy") else b[1] >= a[2] for a, b in zip(s.log, s.log[1:]))
    # every launch runs on the same 4 x 16 PEs: across the streams, each starts once the one before it ended
    launches = sorted((start, end) for s in dev.streams[1:] for what, start, end in s.log if what.startswith("launch"))
    assert len(launches) == 3 * 10
    assert all(b[0] >= a[1] for a, b in zip(launches, launches[1:]))


def test_a_thread_holding_the_device_lock_keeps_other_threads_waiting():
    dev = ws.Device(ws.WaferSpec(width=16, height=16))
    done = threading.Event()

    def copy():
        dev.to_device(np.ones(4, np.float32))
        done.set()

    with dev.lock:  # a sequence of commands made atomic: the other thread's copy waits for it
        thread = threading.Thread(target=copy)
        thread.start()
        assert not done.wait(0.2)
        assert dev.memory.allocations() == []
    thread.join()
    assert done.is_set() and len(dev.memory.allocations()) == 1

"""Routed launches from several host threads at once (sim/routing.py's `TRACE_CACHE`, which every device of the
process shares): two threads each launching routed GEMMs on devices of their own, while the traces kept are few
enough that one thread's new traces push out those another is reading, get NumPy's product every time. A lookup
and its use were two steps: a trace found kept could be pushed out by the other thread before it was read, a
KeyError out of the launch (every case failed so before `routing.TRACE_CACHE_LOCK`)."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels import gemm
from wafersim.sim import routing


class SlowCache(OrderedDict):
    """A trace cache whose every lookup lets the other thread run a moment first, so that a lookup and the use
    that follows it are apart long enough for another thread's change to fall between them."""

    def _pause(self) -> None:
        time.sleep(0.0005)

    def __contains__(self, key) -> bool:
        found = super().__contains__(key)
        self._pause()
        return found

    def get(self, key, default=None):
        value = super().get(key, default)
        self._pause()
        return value

    def move_to_end(self, key, last: bool = True) -> None:
        self._pause()
        super().move_to_end(key, last)


@pytest.mark.parametrize("kept", [4, 5, 6, 7])
def test_two_threads_launching_routed_gemms_at_once_get_numpys_product(kept, monkeypatch):
    monkeypatch.setattr(routing, "TRACE_CACHE", SlowCache())
    monkeypatch.setattr(routing, "TRACE_CACHE_SIZE", kept)
    p, tile, launches = 4, 4, 20
    rng = np.random.default_rng(kept)
    a = rng.random((p * tile, p * tile), dtype=np.float32)
    b = rng.random((p * tile, p * tile), dtype=np.float32)
    want = a.astype(np.float64) @ b
    failures: list[BaseException] = []

    def launch_several(thread: int) -> None:
        try:
            for k in range(launches):
                # (two specs in turn, the threads out of step: each thread's traces push out the other's)
                device = ws.Device(ws.WaferSpec(width=p, height=p, fifo_depth=2 + (k + thread) % 2))
                out, _ = gemm.gemm(a, b, p, device=device)
                np.testing.assert_allclose(out, want, rtol=1e-4)
        except BaseException as error:  # (reported by the test's thread)
            failures.append(error)

    threads = [threading.Thread(target=launch_several, args=(thread,)) for thread in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    assert 0 < len(routing.TRACE_CACHE) <= kept

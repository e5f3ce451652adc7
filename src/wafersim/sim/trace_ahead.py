"""Traces made on a thread of their own while the launch runs on: `routing.RouteTables` begins here the traces of a
launch's broadcasts (a merging channel and who is expected to send on it, `routed_senders.broadcast_roots`), with a
lone sender's order (`Deliveries.one_source`), and its send takes them (`RouteTables._trace`). A whole-wafer
broadcast's trace and order take ~57 ms of CPU on a process's first launch, which another core can spend while the
launch's thread runs the kernel up to its send. A trace is the same whichever thread makes it: the thread traces a
copy of the masks, and its trace serves only the key it was made for (other senders, or a route changed since, are
traced when sent on); one the thread failed to make is made by the launch's thread.
"""
from __future__ import annotations

import threading
from typing import Callable, Generic, TypeVar

import numpy as np

T = TypeVar("T")


class Ahead(Generic[T]):
    """`work()` run on a thread of its own; `started` False where no thread could start."""

    def __init__(self, work: Callable[[], T]) -> None:
        self._result: T | None = None
        # (not a daemon: a process ending before its launch's send, a launch that failed, waits for the trace, some
        # tens of ms, rather than end while the thread is inside Numba's or LLVM's code)
        self._thread = threading.Thread(target=self._run, args=(work,), name="wafersim-trace-ahead")
        try:
            self._thread.start()
            self.started = True
        except RuntimeError:  # (no thread can start: the launch's thread does the work when it needs it)
            self.started = False

    def _run(self, work: Callable[[], T]) -> None:
        try:
            self._result = work()
        except BaseException:  # (the launch's thread does the work again, and raises what that raises)
            self._result = None

    def result(self) -> T | None:
        """What `work()` returned, once the thread has ended; None where it raised."""
        self._thread.join()
        return self._result


def begin(wanted: dict[int, tuple[tuple, np.ndarray, np.ndarray]], known, trace: Callable) -> dict[tuple, Ahead]:
    """The traces begun, by key, of `wanted` (per channel: (the trace's key, the channel's masks, the senders)) but
    those `known` already (`routing.TRACE_CACHE`); `trace(key, channel, masks, senders)` makes one (a `Deliveries`)."""
    begun: dict[tuple, Ahead] = {}
    for channel, (key, masks, senders) in sorted(wanted.items()):
        if key in known or key in begun:
            continue

        def work(key=key, channel=channel, snapshot=masks.copy(), senders=senders):
            result = trace(key, channel, snapshot, senders)
            if not result.messages and len(senders) == 1:
                result.one_source(0)
            return result
        ahead = Ahead(work)
        if ahead.started:
            begun[key] = ahead
    return begun

"""Both cores for the fabric: a large group's send or receive runs as a few parts in threads (and the
compiled interpreter's large divergent groups, `sim.compiled.stepper`, on the same threads).

NumPy releases the GIL inside its loops over large arrays, so the same sequence of NumPy calls over
disjoint slices of the PEs runs in parallel. A send or receive of a large lockstep group (every lane at
the same word number of its FIFO, so one time row and one value row) is cut into contiguous parts of its
window; each part touches only its own PEs' entries, and every PE gets the same float operations in the
same order as in one call, so results and cycle counts do not depend on the number of threads.

Threads: `WAFERSIM_THREADS` (default: the CPUs this process may use). `threads(n)` changes it for a
block of code, for the launches of the host thread that entered it (benchmarks measure 1 against 2); the
engine starts as many worker threads as the largest count asked for needs (`run`).
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import re
import sys
import threading
import time
from typing import Callable, Iterator, Sequence

import numpy as np

from ..arch.values import whole_argument
from ..errors import ArgumentError
from .lanes import Lanes

#: Groups smaller than this run in one call: below it, handing work to a thread costs more than it saves.
PARALLEL_LANES = 1 << 17
#: The same for a lockstep scalar send or receive (`exchange`: one row of a FIFO each): not split by default.
#: They only stream a few arrays through memory, and on the 2-core VM the benchmarks run on two threads were
#: slower for the stencils that are made of them (bench/threads.py, heat and Life: 0.88x / 0.89x, 0.93x /
#: 0.97x and 0.83x / 0.87x in three runs; 1.11x once, earlier). Set it to `PARALLEL_LANES` to split them.
ROW_TRANSFER_LANES = sys.maxsize


def _default_threads() -> int:
    configured = os.environ.get("WAFERSIM_THREADS")
    if configured:
        # Plain decimal digits only: int() would also take '1_0', '+2' and other digits than 0-9
        digits = configured.strip()
        count = int(digits) if re.fullmatch(r"[0-9]+", digits) else 0
        if count < 1:  # (0 or -2 once meant 1 without a word)
            raise ArgumentError(f"WAFERSIM_THREADS={configured!r} is not a positive whole number: set it to the "
                                f"number of threads the engine may use (such as WAFERSIM_THREADS=4; 1: no extra "
                                f"threads), or unset it for one per CPU", variable="WAFERSIM_THREADS",
                                value=configured)
        return count
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # (not Linux)
        return os.cpu_count() or 1


# The configured count (read on first use, so that a bad WAFERSIM_THREADS is reported by the launch that
# needs it rather than by `import wafersim`).
_configured: int | None = None
# The counts of the `threads(n)` blocks this host thread entered, innermost last: a context variable, as
# `strategy.forced`'s (a module-wide stack let one host thread's `threads(1)` run another thread's launches on
# one thread, and the first of two threads to leave its block popped the other's count). The engine's own
# threads run in a copy of the launching thread's context (`run`), and so does the debugger's launch thread.
_entered: contextvars.ContextVar[tuple[int, ...]] = contextvars.ContextVar("wafersim_threads", default=())
# The engine's idle worker threads (`_Worker`), each waiting for a part; a `run` takes as many as it has parts
# beyond its first (starting more where too few are idle) and puts them back when their parts are done, so host
# threads that launch at once each get threads of their own. `_started`: the workers started so far.
_idle: list["_Worker"] = []
_started = 0
_start_lock = threading.Lock()
if hasattr(os, "register_at_fork"):  # (a forked child has none of these threads: it starts its own)
    os.register_at_fork(after_in_child=_idle.clear)


def thread_count() -> int:
    """Threads a large send or receive of this host thread's launches is spread over."""
    global _configured
    entered = _entered.get()
    if entered:
        return entered[-1]
    if _configured is None:
        _configured = _default_threads()
    return _configured


@contextlib.contextmanager
def threads(count: int) -> Iterator[None]:
    """Use `count` threads inside the block (1: everything on the calling thread) for the launches this host
    thread makes; other host threads keep theirs. A count that is not a whole number >= 1 is refused
    (`ArgumentTypeError`, `ArgumentError`): 0 once meant 1 without a word."""
    count = whole_argument(count, "threads(count): count", lowest=1, count=repr(count))
    token = _entered.set(_entered.get() + (count,))
    try:
        yield
    finally:
        _entered.reset(token)


def parts_of(lanes: Sequence[Lanes], minimum: int | None = None) -> list[list[Lanes]] | None:
    """Aligned groups (a sender group and its receivers, or one group) cut into one part per thread:
    part i of each covers the same window positions; a part without lanes is left out. None when the group is
    smaller than `minimum` lanes (default `PARALLEL_LANES`), in index form, or in fewer than two parts."""
    first = lanes[0]
    count = thread_count()
    if count < 2 or first.count < (PARALLEL_LANES if minimum is None else minimum) or first.idx is not None:
        return None
    bounds = np.linspace(0, first.n, count + 1).astype(np.int64)
    parts = [[_window_part(group, int(lo), int(hi)) for group in lanes] for lo, hi in zip(bounds[:-1], bounds[1:])]
    # A part of window positions holding no lane of the group (a complement form's excluded PE, a mask's gap) has
    # nothing to do, and the movers' reductions over its lanes take no empty group (`np.maximum.reduce` of
    # nothing raised ValueError: the engine fuzzer, a 3-PE group split three ways)
    parts = [part for part in parts if part[0].count]
    return parts if len(parts) >= 2 else None


def _window_part(lanes: Lanes, lo: int, hi: int) -> Lanes:
    """The lanes of window positions [lo, hi) of a group in full, complement or mask form, as a group
    windowed on those PEs."""
    base = 0 if lanes.window is None else lanes.window.start
    window = slice(base + lo, base + hi)
    if lanes.mask is not None:
        return Lanes(hi - lo, mask=lanes.mask[lo:hi], window=window)
    if lanes.excl is not None:
        inside = lanes.excl[(lanes.excl >= lo) & (lanes.excl < hi)] - lo
        return Lanes(hi - lo, excl=inside if len(inside) else None, window=window)
    return Lanes(hi - lo, window=window)


class _Worker:
    """A thread of the engine's that runs the parts `run` hands it, one at a time: a lock released to start a
    part and one released when it is done, instead of a `ThreadPoolExecutor` future a part (its condition, its
    waiter lock and the queue's: some 25 us of the launching thread a SUMMA flush, measured median, 128 a launch)."""

    __slots__ = ("start", "done", "job", "error", "busy")

    def __init__(self) -> None:
        global _started
        self.start, self.done = threading.Lock(), threading.Lock()
        self.start.acquire()
        self.done.acquire()
        self.job: tuple | None = None
        self.error: BaseException | None = None
        self.busy = False  # (from `hand` until the part has ended: what an interrupted `wait` waits for)
        with _start_lock:
            _started += 1
        # (a daemon: an idle worker waits for its next part for as long as the process lives, and holds no state)
        threading.Thread(target=self._serve, name="wafersim", daemon=True).start()

    def _serve(self) -> None:
        while True:
            self.start.acquire()
            context, work, part = self.job
            self.job = None
            try:
                context.run(work, *part)
            except BaseException as error:  # (re-raised by `wait`, on the launching thread)
                self.error = error
            del context, work, part  # (the part's arrays are not held while the worker waits)
            self.busy = False
            self.done.release()

    def hand(self, work: Callable[..., None], part: Sequence) -> None:
        """Start work(*part) on this worker's thread, in a copy of the calling thread's context."""
        self.job = (contextvars.copy_context(), work, part)
        self.busy = True
        self.start.release()

    def wait(self) -> BaseException | None:
        """Wait for the part handed over, put the worker back among the idle ones, and return the part's error.
        Interrupted (a KeyboardInterrupt in the lock's wait), it still returns only once the part has ended, then
        re-raises: a part left writing would change the launch's arrays, the device's memory among them, under
        whatever the host does next. The worker is then not reused (whether its lock was taken is not known)."""
        try:
            self.done.acquire()
            error, self.error = self.error, None
            _idle.append(self)
            return error
        except BaseException:
            while self.busy:
                try:
                    time.sleep(1e-3)
                except BaseException:  # (another interrupt: the first is raised, once the part has ended)
                    pass
            raise


def run(work: Callable[..., None], parts: Sequence[Sequence]) -> None:
    """work(*part) for every part (a sequence of arguments): all but the first on the engine's worker threads (one
    each), the first on this one; every part has ended when this returns, also where one raised (the first
    part's error, else the first other's, is raised)."""
    # Each part runs in a copy of this thread's context: NumPy's error state (`np.errstate`, set for the whole
    # run in `WaveSim.run`) lives in a context variable, which a worker thread would otherwise not see.
    workers = []
    try:
        for part in parts[1:]:
            try:
                worker = _idle.pop()  # (atomic: host threads launching at once never share a worker)
            except IndexError:
                worker = _Worker()
            worker.hand(work, part)
            workers.append(worker)
        work(*parts[0])
    finally:
        errors, interrupt = [], None
        for worker in workers:  # (every one, before any error leaves: no part still writing)
            try:
                errors.append(worker.wait())
            except BaseException as error:  # (a KeyboardInterrupt: raised once the other parts have ended too)
                interrupt = interrupt or error
        if interrupt is not None:
            raise interrupt
    for error in errors:
        if error is not None:
            raise error

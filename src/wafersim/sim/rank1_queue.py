"""Consecutive float32 rank-1 updates (`vger`) of one group into one destination, run as one compiled pass.

A GEMM's inner loop is a row of `vger`s into the same C tile with only register instructions between them
(the library SUMMA: eight in a row). One compiled pass per `vger` (`descriptor_kernels.rank1_update_float32`)
reads and writes the whole T x T destination of every lane each time; `Strategy.fused_rank1` queues them
instead (`Rank1Queue`: operand addresses read as each issues, bounds checked, cycles and statistics counted
then) and runs the queue (`descriptor_kernels.rank1_updates_float32`) when anything else could see SRAM:
the next instruction is neither a register-only one nor a `vger` that joins the queue, or the group's run
ends (`WaveSim._run_numpy`, also before an error leaves it).

Exact: a `vger` joins the queue only where it has the queue's shape and, lane by lane, its destination, and
no queued update's operands overlap that destination. Then every operand word is the same whenever it is
read, and each destination word gets the rounded products added in issue order, each sum rounded: the
updates one after another, bit for bit. A large queue runs in parts of its lanes on the engine's threads
(`sim.parallel`): each lane's words are its own, so the parts are independent and the result the same.
"""
from __future__ import annotations

import numpy as np

from . import parallel
from .lanes import Lanes

#: Queued updates of fewer elements (lanes x updates x M x N) than this run on one thread: below it, handing
#: work to a thread costs more than it saves.
PARALLEL_ELEMENTS = 1 << 20


def _update_part(args: tuple) -> None:
    """`descriptor_kernels.rank1_updates_float32` over one part of the lanes (a thread's)."""
    from . import descriptor_kernels

    descriptor_kernels.rank1_updates_float32(*args)


class Rank1Queue:
    """Queued float32 `vger`s of one group's run (`lanes`, fixed while the run lasts) over `fsram`; `work`: a
    dict where the compiled pass's scratch array is kept."""

    __slots__ = ("lanes", "fsram", "work", "pes", "shape", "d", "a", "b")

    def __init__(self, lanes: Lanes, fsram: np.ndarray, work: dict[int, np.ndarray]) -> None:
        self.lanes, self.fsram = lanes, fsram
        self.work = work  # the wave's scratch arrays (one per thread), kept from run to run (`flush`)
        self.pes: np.ndarray | None = None  # the lanes' indices (int64), on the first update
        self.shape = (0, 0)  # (M, N) of the queued updates
        self.d: np.ndarray | None = None  # their destination per lane
        self.a: list[np.ndarray] = []  # x and y operand addresses per lane, one array per queued update
        self.b: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self.a)

    def indices(self) -> np.ndarray:
        """The lanes as sorted int64 region indices (computed once per run)."""
        if self.pes is None:
            self.pes = self.lanes.indices().astype(np.int64, copy=False)
        return self.pes

    def add(self, m: int, n: int, d: np.ndarray, a: np.ndarray, b: np.ndarray, disjoint: bool) -> bool:
        """Queue sram[d + i*n + j] += sram[a + i] * sram[b + j] (i < m, j < n; int64 addresses per lane, every
        span inside SRAM), running what is queued first where it cannot join. False (nothing queued, the
        queue run) where the update's own operands overlap its destination (not `disjoint`, as
        `descriptor_kernels.rank1_operands` finds): the caller runs it alone."""
        if not disjoint:
            self.flush()
            return False
        if self.a and (self.shape != (m, n) or not np.array_equal(self.d, d)):
            self.flush()
        if not self.a:
            self.shape, self.d = (m, n), d
        self.a.append(a)
        self.b.append(b)
        return True

    def flush(self) -> None:
        """Run the queue (see the module docstring) and empty it."""
        if not self.a:
            return
        from . import descriptor_kernels  # (imports Numba: only launches with a float32 vger load it)

        a, b = np.stack(self.a), np.stack(self.b)
        self.a, self.b = [], []
        m, n = self.shape
        pes, d = self.indices(), self.d
        count = min(parallel.thread_count(), len(pes)) if len(pes) * len(a) * m * n >= PARALLEL_ELEMENTS else 1
        # Parts of the lanes, one per thread (each lane's words are its own: the parts are independent).
        cuts = [len(pes) * part // count for part in range(count + 1)]  # (np.linspace: 20x the time)
        parts = []
        for part, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:])):
            span = int(pes[hi - 1]) + 1 - int(pes[lo])
            # (scratch only for the dense pass: scattered lanes, spanning more than twice their number, go
            # lane by lane, and a span across the wafer would ask for gigabytes)
            words = descriptor_kernels.work_words(len(a), m, n, span) if span <= 2 * (hi - lo) else 0
            work = self.work.get(part)
            if work is None or len(work) < words:
                work = self.work[part] = np.empty(words, dtype=np.float32)
            parts.append((self.fsram, pes[lo:hi], d[lo:hi], np.ascontiguousarray(a[:, lo:hi]),
                          np.ascontiguousarray(b[:, lo:hi]), m, n, work))
        if len(parts) == 1:
            descriptor_kernels.rank1_updates_float32(*parts[0])
        else:
            parallel.run(_update_part, [(part,) for part in parts])

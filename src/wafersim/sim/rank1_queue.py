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

Measured and not kept (SUMMA p=64 on the 2-core VM): a flush's parts left running while the scheduler goes on (every
SRAM access guarded against their words) waited as long as the parts do now, at the next flush or at the next
panel's receive into the buffer the updates read; the whole queue on a thread of its own, its operands gathered
first so that only the destination was left (a prototype's pass split in two), cost the scheduler's thread the
gather (0.86 ms a 4032-lane flush) instead of its half of the updates (0.83 ms of work in all): no gain. Nor did a
coarser guard (stop 39: the flush left to the pool's thread, settled only by what touches its rows, SUMMA's
first-half flush under the next B-panel pump): best warm 0.57 s either way. Merging the two flushes of a SUMMA step
would not help either (stop 46: a SUMMA step's two halves replayed, 2,016-2,048 lanes, one thread, thread CPU, min of
40 and of 60 rounds alternating, all bit-identical): 8 + 8 updates 1.43 / 1.35 ms, the same 16 in one pass 1.42 /
1.50 ms. The pass is bound by moving words: of an eight-update half (0.80 ms), set-up 0.09 ms, the operands' gather
0.26 ms (2 MB in, 2 MB out), the updates 0.42 ms; a merged pass saves one read and write of the destination but
gathers as much (the second half's operands are other rows) and its gathered block, twice as large, leaves the
second-level cache. Nor did an explicit eight-lane kernel (llvmlite IR: a 4 x 2 block of destination rows held in
vector registers over every update, multiply then add, no fused multiply-add): 8 + 8 updates 1.42 / 1.30 ms, 16 in
one pass 1.34-1.44 ms (blocks of 512 or 128 PEs), within the VM's noise; over 16-PE chunks (each operand and
destination cache line read once, no block gathered) 1.33 against 0.84 ms for eight updates.
Nor did other forms of the update pass (stop 42, a flush of eight 16 x 16 updates over 4096 lanes replayed on one
thread): it takes 1.22 ms with its operands in the third-level cache (1.58 ms after a 256 MiB sweep), its gather
0.40-0.46 ms of it, its arithmetic the rest (8.4e6 multiply-adds at ~11.5e9/s; a four-update loop over rows in the
first-level cache peaks at 16.5e9/s). Operands read straight from SRAM rows (no gather, each block's most common
address): 1.92-2.04 against 1.62-1.86 ms (rows 16 KiB apart share cache sets; the gathered rows are padded). One
destination row a pass: no faster. A flat operand array with rows a constant stride apart: 6.2-6.8 ms (left scalar
by LLVM). Sub-blocks of 256/128/64 PEs, their operand rows in the first-level cache: 1.14/1.35/2.0 against 0.92 ms
for the arithmetic alone (each pass's two dozen slices cost more than the cache saves).

The queued addresses live in one int64 array of the wave's (`slot`: update q's d, a and b rows at [q]), which
the compiled operand pass (`descriptor_kernels.rank1_operands`) writes directly and which it compares with the
queue's destination; a flush hands the queued rows to the update pass as they lie, so that a `vger` costs no
array of its own, no NumPy comparison and no copy into a stack of the queue (some 28 ms of SUMMA's 1544
queued `vger`s on 64 x 64 PEs).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from . import parallel
from .hostmem import line_aligned_zeros
from .lanes import Lanes

#: Queued updates of fewer elements (lanes x updates x M x N) than this run on one thread: below it, handing
#: work to a thread costs more than it saves.
PARALLEL_ELEMENTS = 1 << 20
#: Updates the address array first has room for (it doubles past that, and the wave keeps it for later runs).
FIRST_CAPACITY = 8
#: `Rank1Queue.work`'s key of the address array (the other keys, 0, 1, ...: each thread's scratch).
ADDRESSES = -1
_NONE = np.empty(0, dtype=np.int64)


def _update_part(args: tuple) -> None:
    """`descriptor_kernels.rank1_updates_float32` over one part of the lanes (a thread's)."""
    from . import descriptor_kernels

    descriptor_kernels.rank1_updates_float32(*args)


class Rank1Queue:
    """Queued float32 `vger`s of one group's run (`lanes`, fixed while the run lasts) over `fsram`; `work`: a
    dict where the compiled pass's scratch arrays and the queued addresses are kept from run to run."""

    __slots__ = ("lanes", "fsram", "work", "pes", "shape", "count", "rows", "charge", "cycles")

    def __init__(self, lanes: Lanes, fsram: np.ndarray, work: dict[int, np.ndarray],
                 charge: Callable[[Lanes, int], None] | None = None) -> None:
        self.lanes, self.fsram = lanes, fsram
        self.work = work  # the wave's scratch arrays (one per thread), kept from run to run (`flush`)
        # Element cycles of the updates charged but not yet added to the lanes' clocks (`defer`): added by
        # `charge(lanes, cycles)` at the next flush, one pass over the clocks for a row of updates.
        self.charge, self.cycles = charge, 0
        self.pes: np.ndarray | None = None  # the lanes' indices (int64), on the first update
        self.shape = (0, 0)  # (M, N) of the queued updates
        self.count = 0  # updates queued: rows[q] (q < count) are update q's d, a, b per lane
        self.rows: np.ndarray | None = None  # (capacity, 3, lanes) int64, a view of work[ADDRESSES]

    def __len__(self) -> int:
        return self.count

    def indices(self) -> np.ndarray:
        """The lanes as sorted int64 region indices (computed once per run)."""
        if self.pes is None:
            self.pes = self.lanes.indices().astype(np.int64, copy=False)
        return self.pes

    def slot(self) -> tuple[np.ndarray, np.ndarray]:
        """(where the next update's d, a, b rows go: a (3, lanes) int64 array; the queued destination per lane, or
        an empty array where nothing is queued). Write the rows, then `push` (or `add` them)."""
        self.reserve(1)
        return self.rows[self.count], (self.rows[0, 0] if self.count else _NONE)

    def reserve(self, updates: int) -> np.ndarray:
        """`rows`, with room for `updates` more updates (`register_blocks` writes theirs directly)."""
        lanes = len(self.indices())
        if self.rows is None or self.count + updates > len(self.rows):
            capacity = FIRST_CAPACITY if self.rows is None else 2 * len(self.rows)
            while capacity < self.count + updates:
                capacity *= 2
            need = capacity * 3 * lanes
            kept = self.work.get(ADDRESSES)
            if kept is None or len(kept) < need:
                kept = self.work[ADDRESSES] = np.empty(need, dtype=np.int64)
                if self.count:  # (update q's rows lie at the same place in an array of any capacity)
                    kept[:self.count * 3 * lanes] = self.rows[:self.count].ravel()
            self.rows = kept[:need].reshape((capacity, 3, lanes))
        return self.rows

    def push(self, m: int, n: int, disjoint: bool, same: bool) -> bool:
        """Queue the update whose rows `slot` gave (`same`: its destination is the queued one, lane by lane),
        running what is queued first where it cannot join. False (nothing queued, the queue run) where the
        update's own operands overlap its destination (not `disjoint`): the caller runs it alone, from the rows
        it wrote (left as they are)."""
        if not disjoint:
            self.flush()
            return False
        if self.count and (self.shape != (m, n) or not same):
            rows = self.rows
            last = self.count
            self.flush()
            rows[0] = rows[last]  # (this update starts the queue afresh)
        self.shape = (m, n)
        self.count += 1
        return True

    def add(self, m: int, n: int, d: np.ndarray, a: np.ndarray, b: np.ndarray, disjoint: bool) -> bool:
        """Queue sram[d + i*n + j] += sram[a + i] * sram[b + j] (i < m, j < n; int64 addresses per lane, every
        span inside SRAM), running what is queued first where it cannot join. False (nothing queued, the
        queue run) where the update's own operands overlap its destination (not `disjoint`, as
        `descriptor_kernels.rank1_operands` finds): the caller runs it alone."""
        rows, queued = self.slot()
        rows[0], rows[1], rows[2] = d, a, b
        return self.push(m, n, disjoint, bool(len(queued)) and np.array_equal(queued, d))

    def defer(self, cycles: int) -> bool:
        """Take an update's element cycles (a whole number) to add to the lanes' clocks at the next flush; False
        where this queue adds none (no `charge`: the caller adds them). Only register instructions and queued
        updates, which read no clock, run before that flush (the module docstring), and sums of whole numbers
        are exact (the wave's clocks stay below 2**24 as float32): the clocks end as one add per update leaves
        them."""
        if self.charge is None:
            return False
        self.cycles += cycles
        return True

    def flush(self) -> None:
        """Run the queue (see the module docstring) and empty it; add the deferred element cycles (`defer`)."""
        if self.cycles:
            cycles, self.cycles = self.cycles, 0
            self.charge(self.lanes, cycles)
        if not self.count:
            return
        from . import descriptor_kernels  # (imports Numba: only launches with a float32 vger load it)

        queued, self.count = self.count, 0
        a, b = self.rows[:queued, 1], self.rows[:queued, 2]  # (rows of the address array, as they lie)
        m, n = self.shape
        pes, d = self.indices(), self.rows[0, 0]
        count = min(parallel.thread_count(), len(pes)) if len(pes) * queued * m * n >= PARALLEL_ELEMENTS else 1
        # Parts of the lanes, one per thread (each lane's words are its own: the parts are independent).
        cuts = [len(pes) * part // count for part in range(count + 1)]  # (np.linspace: 20x the time)
        parts = []
        for part, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:])):
            span = int(pes[hi - 1]) + 1 - int(pes[lo])
            # (scratch only for the dense pass: scattered lanes, spanning more than twice their number, go
            # lane by lane, and a span across the wafer would ask for gigabytes)
            words = descriptor_kernels.work_words(queued, m, n, span) if span <= 2 * (hi - lo) else 0
            work = self.work.get(part)
            if work is None or len(work) < words:
                work = self.work[part] = line_aligned_zeros(words, np.float32)  # (rows on cache lines)
            parts.append((self.fsram, pes[lo:hi], d[lo:hi], a[:, lo:hi], b[:, lo:hi], m, n, work))
        if len(parts) == 1:
            descriptor_kernels.rank1_updates_float32(*parts[0])
        else:
            parallel.run(_update_part, [(part,) for part in parts])

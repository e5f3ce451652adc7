"""Executors of the operand-descriptor instructions: `vcopys` (strided copy) and `vger` (rank-1 update).

Both describe a whole strided or 2-D operand to one instruction, as the memory DSDs of the Cerebras SDK
do (a `mem1d_dsd` has an extent and a stride; a `mem4d_dsd` nests up to four of them; Cerebras SDK,
CSL language reference, "Data Structure Descriptors"). Operands are packed into one register of 16-bit halves:

- `vcopys d, a, b, c`: sram[d + k*sd] = sram[a + k*sa] for k < c, with sd = b >> 16 and sa the low half
  of b (both signed);
- `vger d, a, b, c`: sram[d + i*N + j] += sram[a + i] * sram[b + j] for i < M = c >> 16, j < N = c & 0xffff.

Each distinct tuple of operand registers over the lanes is one NumPy call (`_by_operands`), never a
Python loop over PEs. Costs: the issue plus ceil(elements / `vector_lanes`), as every dense vector op.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..errors import MemoryAccessError
from ..isa.encoding import Instr
from ..isa.opcodes import FLAG_FLOAT
from .lanes import Lanes
from .rank1_queue import Rank1Queue

DESCRIPTOR_OPS = frozenset({"vcopys", "vger"})
#: FLOPs per element of a float32 descriptor op (a rank-1 update element is a fused multiply-add).
FLOPS_PER_DESCRIPTOR_ELEMENT = {"vcopys": 0, "vger": 2}
_HALF = 16


def split_halves(word: int) -> tuple[int, int]:
    """(high, low) signed 16-bit halves of a 32-bit register value (vcopys' strides)."""
    word &= 0xFFFFFFFF
    high, low = word >> _HALF, word & 0xFFFF
    return high - (1 << _HALF) * (high >> 15), low - (1 << _HALF) * (low >> 15)


def split_dims(word: int) -> tuple[int, int]:
    """(M, N) unsigned 16-bit halves of a 32-bit register value (vger's shape)."""
    word &= 0xFFFFFFFF
    return word >> _HALF, word & 0xFFFF


class DescriptorMixin:
    """`vcopys` and `vger` executors of a wave simulation (`WaveSim`, through `ComputeMixin`)."""

    #: The float32 rank-1 updates of the running group being queued (`sim.rank1_queue`), or None.
    rank1_queue: Rank1Queue | None = None

    def _descriptor_executor(self, ins: Instr) -> Callable[[Lanes], None]:
        run = {"vcopys": self._strided_copy, "vger": self._rank1_update}[ins.op]

        def execute(L: Lanes) -> None:
            if (ins.op == "vger" and ins.flags & FLAG_FLOAT and self.strategy.compiled_descriptors
                    and self._rank1_update_compiled(L, ins)):
                return
            if self.rank1_queue is not None:  # (this one runs alone, after those queued)
                self.rank1_queue.flush()
            self._by_operands(L, ins, ["d", "a", "b", "c"], lambda sub, where: run(sub, ins, where))
        return execute

    def _check_span(self, L: Lanes, ins: Instr, operand: str, low: int, high: int) -> None:
        """SRAM words low..high (inclusive) of an operand inside the data segment (nothing when high < low)."""
        size = self.program.data_words
        if high >= low and (low < 0 or high >= size):
            bad = low if low < 0 else high
            raise self._lane_error(MemoryAccessError, f"{ins.op} operand {operand}: SRAM word {bad} outside the data "
                                   f"segment [0, {size})", L, self._all_lanes(L), address=bad, size=size)

    def _charge_elements(self, L: Lanes, elements: int, flops_per_element: int, queue: Rank1Queue | None = None
                         ) -> None:
        """Count an instruction's elements, FLOPs and element cycles (those of a queued `vger` added to the
        clocks when its `queue` runs, `Rank1Queue.defer`)."""
        self._add_element_cycles(L, math.ceil(elements / self.spec.vector_lanes), queue)
        self.totals.vector_elements += elements * L.count
        self.totals.flops += flops_per_element * elements * L.count

    def _strided_copy(self, L: Lanes, ins: Instr, where: dict[str, int]) -> None:
        n = where["c"]
        if n < 0:
            raise self._lane_error(MemoryAccessError, f"vcopys with a negative length {n}", L, self._all_lanes(L),
                                   length=n)
        dst_stride, src_stride = split_halves(where["b"])
        for operand, start, stride in (("a", where["a"], src_stride), ("d", where["d"], dst_stride)):
            if n:  # (spans first, from their ends: a length from a stray register must not be materialised)
                last = start + (n - 1) * stride
                self._check_span(L, ins, operand, min(start, last), max(start, last))
        first = 0
        if dst_stride == 0:  # every element goes to one word: the last one written stays (read first, as all)
            first = max(n - 1, 0)
        k = np.arange(first, n, dtype=np.int64)  # (now at most the data segment's words: spans are inside it)
        source, target = where["a"] + k * src_stride, where["d"] + k * dst_stride
        if L.is_dense and len(set(target.tolist())) == n and not set(target.tolist()) & set(source.tolist()):
            # Distinct target rows that are no source row: row by row, unmasked, with no gathered copies
            # (a tiled stencil's halo columns: a third of the passes over memory).
            for source_row, target_row in zip(source.tolist(), target.tolist()):
                L.put(self.sram[target_row], L.get(self.sram[source_row]))
        else:
            values = np.array(L.get(self.sram[source]))  # every element read before any is written
            rows = self.sram[target]
            L.put(rows, values)
            self.sram[target] = rows  # a repeated row (stride 0) keeps the last element, as NumPy assigns
        self._charge_elements(L, n, 0)

    def _rank1_update_compiled(self, L: Lanes, ins: Instr) -> bool:
        """A float32 `vger` over lanes that share a shape (M, N) but whose addresses may differ, in one
        compiled pass (`descriptor_kernels`). False (nothing done) where the lanes' shapes differ or a span
        leaves the data segment (the NumPy path then reports it)."""
        queue = self.rank1_queue
        if queue is not None and queue.lanes is not L:  # (another group's lanes: that one runs alone)
            queue.flush()
            queue = None
        if queue is not None:
            return self._rank1_update_queued(L, ins, queue)
        pes = L.indices()
        shapes = self.regs[ins.c][pes]
        if not len(pes) or (shapes != shapes[0]).any():
            return False
        m, n = split_dims(int(shapes[0]))
        if m == 0 or n == 0:
            return False
        d, a, b = (self.regs[field][pes].astype(np.int64) for field in (ins.d, ins.a, ins.b))
        size = self.program.data_words
        if not ((d >= 0) & (d + m * n <= size) & (a >= 0) & (a + m <= size) & (b >= 0) & (b + n <= size)).all():
            return False
        from . import descriptor_kernels  # (imports Numba: only launches with a float32 vger load it)

        descriptor_kernels.rank1_update_float32(self.fsram, pes.astype(np.int64, copy=False), d, a, b, m, n)
        self._charge_elements(L, m * n, FLOPS_PER_DESCRIPTOR_ELEMENT["vger"])
        return True

    def _rank1_update_queued(self, L: Lanes, ins: Instr, queue: Rank1Queue) -> bool:
        """`_rank1_update_compiled` with its operands read and checked in one compiled pass, the update queued
        (`sim.rank1_queue`), or run alone after those queued where its operands overlap its destination."""
        from . import descriptor_kernels  # (imports Numba: only launches with a float32 vger load it)

        pes = queue.indices()
        operands, queued = queue.slot()  # (read straight into the queue's address array)
        status, m, n, disjoint, same = descriptor_kernels.rank1_operands(
            self.regs, pes, ins.d, ins.a, ins.b, ins.c, self.program.data_words, operands, queued)
        if status != descriptor_kernels.OPERANDS_READ:
            return False
        if not queue.push(m, n, disjoint, same):
            descriptor_kernels.rank1_update_float32(self.fsram, pes, operands[0], operands[1], operands[2], m, n)
        self._charge_elements(L, m * n, FLOPS_PER_DESCRIPTOR_ELEMENT["vger"], queue)
        return True

    def _queued_updates(self, L: Lanes, queue: Rank1Queue, updates: int, m: int, n: int) -> None:
        """The books of `updates` M x N `vger`s a register block queued (`sim.register_blocks`): `queue` takes them,
        and their elements, FLOPs and cycles are charged one after another, as `_rank1_update_queued` charges each."""
        queue.shape = (m, n)
        queue.count += updates
        for _ in range(updates):
            self._charge_elements(L, m * n, FLOPS_PER_DESCRIPTOR_ELEMENT["vger"], queue)

    def _rank1_update(self, L: Lanes, ins: Instr, where: dict[str, int]) -> None:
        m, n = split_dims(where["c"])
        d, a, b = where["d"], where["a"], where["b"]
        for operand, base, length in (("d", d, m * n), ("a", a, m), ("b", b, n)):
            self._check_span(L, ins, operand, base, base + length - 1)
        is_float = bool(ins.flags & FLAG_FLOAT)
        S = self.fsram if is_float else self.sram
        x, y = L.get(S[a:a + m]), L.get(S[b:b + n])
        products = (x[:, None] * y[None, :]).reshape((m * n,) + x.shape[1:])  # rounded (float32) or wrapped
        L.put(S[d:d + m * n], L.get(S[d:d + m * n]) + products)
        self._charge_elements(L, m * n, FLOPS_PER_DESCRIPTOR_ELEMENT["vger"] if is_float else 0)

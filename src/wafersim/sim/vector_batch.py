"""Consecutive vector instructions of a large dense group, run together in cache-sized blocks of PEs.

A stencil's update is a few vector instructions in a row (heat_tiled: three vadds and two vfmas over
the same tile), with only register instructions and loads of constants between them. One NumPy call
per instruction streams each operand through memory once per instruction; at wafer scale each is
hundreds of MiB. `Strategy.fused_vectors` queues them instead (`VectorBatch`, addresses, lengths and
scalar operands resolved, bounds checked, cycles and statistics counted as each issues) and runs the
queue when anything else could see SRAM: for each block of PEs every queued instruction in order,
so the block's words stay in cache between them.

Exact: every PE's words are computed from its own words only, in the same instruction order and with
the same operations (a vfma's product rounded, then the sum), and each instruction's operands of a
block are read before its results are written, as NumPy does for overlapping arrays. Register
operands are read as the instruction issues (a scalar one as its common value, or a copy of its
row), so later register writes do not reach them. A complement group's excluded PEs get back, at
the end, the words of every row the queue wrote.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from . import parallel
from .lanes import Lanes

#: Groups smaller than this run their vector instructions one by one (queueing would not pay).
BATCH_LANES = 1 << 15
#: Bytes of the SRAM rows the queue touches over one block of PEs: they stay in the (last-level) cache. Much
#: smaller blocks cost more in NumPy's per-call and per-row overhead than they save (measured on heat_tiled:
#: 1 MiB 1.2 s, 4 MiB 0.4 s, 64 MiB 0.6 s for its 30 vector instructions on 754k PEs, one thread).
BLOCK_BYTES = 4 << 20
#: The fewest PEs in a block (tests use fewer, to cut small groups into several blocks).
MIN_BLOCK_PES = 256
#: Instructions that touch no SRAM: queued instructions stay queued across them (should one fail, the queue
#: still runs before the error leaves the group's run, `WaveSim._run_numpy`).
REGISTER_ONLY = frozenset({"add", "sub", "mul", "and", "or", "xor", "min", "max", "slt", "sle", "seq", "sne",
                           "addi", "muli", "andi", "ori", "xori", "slti", "seqi", "li", "mov", "hasnb", "sreg",
                           "arg", "nop", "fadd", "fsub", "fmul", "fmin", "fmax", "flt", "fle", "feq", "fne"})

#: Vector instructions that may be queued (those `ComputeMixin._vector_dense` runs; a vdiv only of floats).
BATCHED_VECTOR_OPS = frozenset({"vadd", "vsub", "vmul", "vmin", "vmax", "vdiv", "vfma", "vscale"})
#: Instructions a run may reach with instructions queued: loads check the word they read (`_load`).
BATCH_PASSES = REGISTER_ONLY | BATCHED_VECTOR_OPS | {"ld"}


def fma_block(out: np.ndarray, x: np.ndarray, y, product: np.ndarray) -> None:
    """out += x * y over one block of PEs as the machine's vfma: the product rounded first (into `product`,
    a block-sized array that stays in cache), then the sum rounded."""
    np.multiply(x, y, out=product)
    np.add(out, product, out=out)


class VectorBatch:
    """Queued vector instructions of one group (`lanes`, dense) over one SRAM (`sram`, int32 words)."""

    __slots__ = ("lanes", "sram", "ops", "written", "read", "fmas")

    def __init__(self, lanes: Lanes, sram: np.ndarray) -> None:
        self.lanes, self.sram = lanes, sram
        self.ops: list[Callable[[slice, np.ndarray | None], None]] = []
        self.written: list[tuple[int, int]] = []  # SRAM row ranges the queue writes
        self.read: list[tuple[int, int]] = []  # and reads (sizing the blocks)
        self.fmas = 0  # queued vfmas (they need an array for a block's products)

    def __len__(self) -> int:
        return len(self.ops)

    def writes(self, row: int) -> bool:
        """Whether a queued instruction writes SRAM row `row`."""
        return any(lo <= row < hi for lo, hi in self.written)

    def add(self, ufunc, dst: np.ndarray, rows: tuple[int, int], a: np.ndarray, other, fma: bool,
            sources: list[tuple[int, int]]) -> None:
        """Queue out = ufunc(a, other) into `dst` (SRAM rows `rows`), or dst = dst + a * other (`fma`);
        `other`: SRAM rows, a (PEs,) row or a scalar (already read: later writes do not reach it);
        `sources`: the SRAM rows of `a` and `other`."""
        self.written.append(rows)
        self.read.extend(sources)
        self.fmas += fma
        row_operand = isinstance(other, np.ndarray) and other.ndim == 2

        def run(cols: slice, product: np.ndarray | None) -> None:
            y = other[:, cols] if row_operand else (other[cols] if isinstance(other, np.ndarray) else other)
            out = dst[:, cols]
            if fma:
                fma_block(out, a[:, cols], y, product[:dst.shape[0], :out.shape[1]].view(dst.dtype))
            else:
                ufunc(a[:, cols], y, out=out)

        self.ops.append(run)

    def flush(self) -> None:
        """Run the queue (see the module docstring) and empty it."""
        if not self.ops:
            return
        ops, written, lanes, fmas = self.ops, self.written, self.lanes, self.fmas
        words = max(hi - lo for lo, hi in written)
        step = max(MIN_BLOCK_PES, BLOCK_BYTES // (4 * _union_length(written + self.read)))
        if len(ops) == 1 and not fmas:  # (nothing to keep in cache for: one call over the whole part)
            step = lanes.n
        self.ops, self.written, self.read, self.fmas = [], [], [], 0

        def run(part: Lanes) -> None:
            base = 0 if part.window is None else part.window.start
            kept = [part.keep_outside(part.window_view(self.sram[lo:hi])) for lo, hi in written]
            product = np.empty((words, min(step, part.n)), dtype=np.float32) if fmas else None
            for first in range(0, part.n, step):
                cols = slice(base + first, base + min(first + step, part.n))
                for op in ops:
                    op(cols, product)
            for (lo, hi), saved in zip(written, kept):
                part.restore_outside(part.window_view(self.sram[lo:hi]), saved)

        parts = parallel.parts_of([lanes])
        if parts is None:
            run(lanes)
        else:
            parallel.run(run, parts)


def _union_length(ranges: list[tuple[int, int]]) -> int:
    """Rows in the union of row ranges [lo, hi) (at least 1)."""
    total, end = 0, None
    for lo, hi in sorted(ranges):
        if end is None or lo >= end:
            total += hi - lo
            end = hi
        elif hi > end:
            total += hi - end
            end = hi
    return max(total, 1)

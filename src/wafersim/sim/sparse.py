"""Executors of the zero-skipping and sparse instructions: vfmaz, vspfma, vspchk, vpacknz (docs/sparsity.md).

The model: a PE spends cycles only on the nonzeros it works on. A zero-skipping instruction costs
ceil(nonzeros / `vector_lanes`) cycles plus `zero_skip_cycles` per zero it passes over (0 by default:
zeros are filtered as they are read); a sparse operand is a list of (value, index) word pairs, of which
only the nonzeros are stored, so its zeros cost nothing at all. Every lane (PE) has its own addresses,
lengths and data: each executor flattens the lanes' ranges into one ragged index set and runs one NumPy
operation over all of them, never a Python loop over PEs.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import MemoryAccessError
from ..isa.encoding import Instr
from ..isa.opcodes import FLAG_FLOAT, FLAG_SCALAR
from .lanes import Lanes

SPARSE_OPS = frozenset({"vfmaz", "vspfma", "vspchk", "vpacknz"})
_INDEX_BITS = 16  # a packed index word: row in the high 16 bits, column in the low 16 bits
_COLUMN_MASK = (1 << _INDEX_BITS) - 1


def ragged(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lane, k) for every k < counts[lane], lane by lane: the flat form of per-lane ranges."""
    lane = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return lane, np.arange(len(lane), dtype=np.int64) - starts[lane]


class SparseMixin:
    """Sparse executors of a wave simulation (`WaveSim`, through `ComputeMixin`)."""

    def _sparse_executor(self, ins: Instr) -> Callable[[Lanes], None]:
        run = {"vfmaz": self._fma_skip_zeros, "vspfma": self._sparse_fma, "vspchk": self._sparse_check,
               "vpacknz": self._pack_nonzeros}[ins.op]
        return lambda L: run(L.to_index_form(self.n), ins)

    # ------------------------------------------------------------------ helpers
    def _lane_registers(self, L: Lanes, ins: Instr, fields: str) -> list[np.ndarray]:
        return [self.regs[getattr(ins, f), L.idx].astype(np.int64) for f in fields]

    def _check_range(self, L: Lanes, ins: Instr, operand: str, base: np.ndarray, length: np.ndarray) -> None:
        """Every lane's [base, base + length) inside the data segment, and length >= 0."""
        size = self.program.data_words
        negative = length < 0
        if negative.any():
            i = self._first_true(L, negative)
            raise self._lane_error(MemoryAccessError, f"{ins.op} with a negative length {int(length[i])}", L,
                                   negative, length=int(length[i]))
        bad = (base < 0) | (base + length > size)
        if bad.any():
            i = self._first_true(L, bad)
            a, n = int(base[i]), int(length[i])
            raise self._lane_error(MemoryAccessError, f"{ins.op} operand {operand}: SRAM words [{a}, {a + n}) "
                                   f"outside the data segment [0, {size})", L, bad, address=a, length=n, size=size)

    def _check_addresses(self, L: Lanes, ins: Instr, what: str, lane: np.ndarray, k: np.ndarray,
                         address: np.ndarray) -> None:
        """Per-pair addresses (flat) inside the data segment; the error names the PE, the pair and the word."""
        size = self.program.data_words
        bad = (address < 0) | (address >= size)
        if bad.any():
            lanes_bad = np.zeros(L.count, dtype=bool)
            lanes_bad[lane[bad]] = True
            j = int(np.argmax(bad & (lane == self._first_true(L, lanes_bad))))  # (the PE the error describes)
            raise self._lane_error(MemoryAccessError, f"{ins.op}: pair {int(k[j])} {what} SRAM word "
                                   f"{int(address[j])}, outside the data segment [0, {size})", L, lanes_bad,
                                   address=int(address[j]), pair=int(k[j]), size=size)

    def _charge(self, L: Lanes, elements: np.ndarray, zeros: np.ndarray | None, is_float: bool,
                flops_per_element: int, words_per_element: float = 1.0) -> None:
        """Element cycles of a sparse instruction: ceil(words moved / vector_lanes), plus zero_skip_cycles per
        zero passed over. A dense element is one word; a (value, index) pair is `sparse_pair_words`."""
        cycles = np.ceil(elements * words_per_element / self.spec.vector_lanes)
        if zeros is not None and self.spec.zero_skip_cycles:
            cycles = cycles + zeros * self.spec.zero_skip_cycles
        self._add_element_cycles(L, cycles)
        total = int(elements.sum())
        self.totals.vector_elements += total
        if is_float:
            self.totals.flops += flops_per_element * total

    # ------------------------------------------------------------------ executors
    def _fma_skip_zeros(self, L: Lanes, ins: Instr) -> None:
        """vfmaz: vfma over the elements where operand a is nonzero (products and sums as vfma's)."""
        scalar_b = bool(ins.flags & FLAG_SCALAR)
        d, a, n = self._lane_registers(L, ins, "dac")
        for operand, base in (("d", d), ("a", a)) + ((("b", self.regs[ins.b, L.idx].astype(np.int64)),)
                                                       if not scalar_b else ()):
            self._check_range(L, ins, operand, base, n)
        is_float = bool(ins.flags & FLAG_FLOAT)
        S = self.fsram if is_float else self.sram
        lane, k = ragged(n)
        pes = L.idx[lane]
        av = S[a[lane] + k, pes]
        keep = av != 0  # float: -0.0 is zero too; nan is not
        lane, k, pes, av = lane[keep], k[keep], pes[keep], av[keep]
        if scalar_b:
            other = (self.fregs if is_float else self.regs)[ins.b, pes]
        else:
            other = S[self.regs[ins.b, pes].astype(np.int64) + k, pes]
        products = av * other  # every product read before any element is written (as if through a temporary)
        rows = d[lane] + k
        S[rows, pes] = S[rows, pes] + products
        nonzeros = np.bincount(lane, minlength=L.count)
        self._charge(L, nonzeros, n - nonzeros, is_float, 2)

    def _pairs(self, L: Lanes, ins: Instr) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(count per lane, lane, k, PE, index word) of every pair of an instruction with pairs at `a`."""
        a, count = self._lane_registers(L, ins, "ac")
        self._check_range(L, ins, "a", a, 2 * count)
        lane, k = ragged(count)
        pes = L.idx[lane]
        return count, lane, k, pes, self.sram[a[lane] + 2 * k + 1, pes]

    def _sparse_fma(self, L: Lanes, ins: Instr) -> None:
        """vspfma: y[row] += value * x[column] for each (value, index) pair, in pair order."""
        count, lane, k, pes, index = self._pairs(L, ins)
        is_float = bool(ins.flags & FLAG_FLOAT)
        S = self.fsram if is_float else self.sram
        a = self.regs[ins.a, L.idx].astype(np.int64)
        values = S[a[lane] + 2 * k, pes]
        d = self.regs[ins.d, L.idx].astype(np.int64)
        if ins.flags & FLAG_SCALAR:
            rows = d[lane] + index.astype(np.int64)
            other = (self.fregs if is_float else self.regs)[ins.b, pes]
        else:
            packed = index.view(np.uint32).astype(np.int64)
            rows = d[lane] + (packed >> _INDEX_BITS)
            columns = self.regs[ins.b, L.idx].astype(np.int64)[lane] + (packed & _COLUMN_MASK)
            self._check_addresses(L, ins, "reads x at", lane, k, columns)
            other = S[columns, pes]
        self._check_addresses(L, ins, "writes y at", lane, k, rows)
        # Pairs hitting the same word accumulate one after another, in pair order (deterministic).
        np.add.at(S, (rows, pes), values * other)
        self._charge(L, count, None, is_float, 2, self.spec.sparse_pair_words)

    def _sparse_check(self, L: Lanes, ins: Instr) -> None:
        """vspchk: every index of the pairs inside the limits in register b (the compiler's bounds check)."""
        count, lane, k, pes, index = self._pairs(L, ins)
        if ins.flags & FLAG_SCALAR:
            limit = self.regs[ins.b, L.idx].astype(np.int64)[lane]
            rows, row_limit = index.astype(np.int64), limit
            bad = (rows < 0) | (rows >= row_limit)
            columns = column_limit = None
        else:
            packed = index.view(np.uint32).astype(np.int64)
            rows, columns = packed >> _INDEX_BITS, packed & _COLUMN_MASK
            limit = self.regs[ins.b, L.idx].view(np.uint32).astype(np.int64)[lane]  # row limit up to 0xFFFF
            row_limit, column_limit = limit >> _INDEX_BITS, limit & _COLUMN_MASK
            bad = (rows >= row_limit) | (columns >= column_limit)
        if bad.any():
            lanes_bad = np.zeros(L.count, dtype=bool)
            lanes_bad[lane[bad]] = True
            j = int(np.argmax(bad & (lane == self._first_true(L, lanes_bad))))  # (the PE the error describes)
            if columns is not None and columns[j] >= column_limit[j]:
                text = f"column {int(columns[j])} is out of bounds for size {int(column_limit[j])}"
                index_value, size = int(columns[j]), int(column_limit[j])
            else:
                text = f"row {int(rows[j])} is out of bounds for size {int(row_limit[j])}"
                index_value, size = int(rows[j]), int(row_limit[j])
            raise self._lane_error(MemoryAccessError, f"sparse operand: pair {int(k[j])}: {text}", L, lanes_bad,
                                   index=index_value, size=size, pair=int(k[j]))
        self._charge(L, count, None, False, 0, self.spec.sparse_pair_words)

    def _pack_nonzeros(self, L: Lanes, ins: Instr) -> None:
        """vpacknz: (value, position) pairs of the nonzeros of sram[b:b+c] at sram[a:], count into d."""
        a, b, n = self._lane_registers(L, ins, "abc")
        self._check_range(L, ins, "b", b, n)
        is_float = bool(ins.flags & FLAG_FLOAT)
        lane, k = ragged(n)
        pes = L.idx[lane]
        words = self.sram[b[lane] + k, pes]
        keep = (words.view(np.float32) != 0) if is_float else (words != 0)
        lane, k, pes, words = lane[keep], k[keep], pes[keep], words[keep]
        count = np.bincount(lane, minlength=L.count)
        self._check_range(L, ins, "a", a, 2 * count)
        slot = np.arange(len(lane), dtype=np.int64) - (np.cumsum(count) - count)[lane]
        targets = a[lane] + 2 * slot
        self.sram[targets, pes] = words
        self.sram[targets + 1, pes] = k.astype(np.int32)
        if ins.d:
            self.regs[ins.d, L.idx] = count.astype(np.int32)
        self._charge(L, count, n - count, False, 0, self.spec.sparse_pair_words)


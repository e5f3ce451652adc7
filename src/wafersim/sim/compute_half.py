"""Executors of the 16-bit float instructions: `vhadd` ... `vhfma`, `vwfma`, `vcvth`, `vcvtf`, `h2f`, `f2h`.

A 16-bit value is stored one per 32-bit word, its bits in the low half (`isa.halfprec`). Every 16-bit
result is what NumPy (float16) or ml_dtypes (bfloat16) gives on arrays of that dtype, so each operation
rounds to nearest even in 16 bits; `vwfma` widens its 16-bit factors to float32 and accumulates in
float32. Vector elements cost ceil(n / `WaferSpec.vector_lanes_half`) cycles beyond the issue cost.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..isa import halfprec
from ..isa.encoding import Instr
from ..isa.opcodes import FLAG_BFLOAT, FLAG_SCALAR
from .lanes import Lanes

#: The 16-bit binary vector ops and the NumPy ufunc each applies in the 16-bit dtype.
_HALF_BINARY = {"vhadd": np.add, "vhsub": np.subtract, "vhmul": np.multiply, "vhmin": np.minimum,
                "vhmax": np.maximum}
_CONVERSIONS = frozenset({"vcvth", "vcvtf"})
_FLOPS_PER_ELEMENT = {"vhadd": 1, "vhsub": 1, "vhmul": 1, "vhmin": 1, "vhmax": 1, "vhfma": 2, "vwfma": 2}
SCALAR_HALF_OPS = frozenset({"h2f", "f2h"})
_NO_COLUMNS = np.empty(0, dtype=np.int64)  # (`half_vector`'s columns where a range gives them)


class HalfComputeMixin:
    """16-bit float executors of a wave simulation (`WaveSim`, through `ComputeMixin`)."""

    def _half_executor(self, ins: Instr) -> Callable[[Lanes], None]:
        R, F = self.regs, self.fregs
        kind = halfprec.kind_of_flags(ins.flags, FLAG_BFLOAT)
        if ins.op == "h2f":
            return lambda L: L.put(F[ins.d], halfprec.widen(L.get(R[ins.a]), kind))
        if ins.op == "f2h":
            return lambda L: L.put(R[ins.d], self._rounded_words(L.get(F[ins.a]), kind))
        # (a conversion has no b operand: its scalar flag, which the decoder lets through, means nothing, as the
        # NumPy path treats it; the compiled path read register b for it, an IndexError past the code's registers)
        scalar_b = bool(ins.flags & FLAG_SCALAR) and ins.op not in _CONVERSIONS
        names = ["d", "c", "a"] + ([] if scalar_b or ins.op in _CONVERSIONS else ["b"])
        return lambda L: self._by_operands(
            L, ins, names, lambda sub, where: self._half_vector(sub, ins, where, kind, scalar_b))

    @staticmethod
    def _rounded_words(values: np.ndarray, kind: str) -> np.ndarray:
        with np.errstate(over="ignore"):  # beyond the 16-bit range: +-inf, as NumPy's cast gives
            return halfprec.to_words(values, kind)

    def _half_vector(self, L: Lanes, ins: Instr, where: dict[str, int], kind: str, scalar_b: bool) -> None:
        n, op = where["c"], ins.op
        for operand in [f for f in ("d", "a", "b") if f in where]:
            if n < 0 or where[operand] < 0 or where[operand] + n > self.program.data_words:  # (raises, per lane)
                Li = L.to_index_form(self.n)
                self._check_range(Li, ins, operand, np.full(Li.count, where[operand]), np.full(Li.count, n))
        # Every lane has these operands (`_by_operands`): a group in any form works on its window's columns, as the
        # float32 vector ops do (`_vector_uniform`): a view, not a gather, for a converged group; the columns of
        # PEs outside a masked group are computed and not written.
        if kind == "f16" and self.strategy.compiled_half_vectors:
            self._half_vector_compiled(L, ins, where, scalar_b)
        else:
            self._half_vector_numpy(L, ins, where, kind, scalar_b)
        self._add_element_cycles(L, math.ceil(n / self.spec.vector_lanes_half))
        self.totals.vector_elements += n * L.count
        self.totals.flops += _FLOPS_PER_ELEMENT.get(op, 0) * n * L.count
        self.totals.half_flops += _FLOPS_PER_ELEMENT.get(op, 0) * n * L.count  # (at `vector_lanes_half`)

    def _half_vector_compiled(self, L: Lanes, ins: Instr, where: dict[str, int], scalar_b: bool) -> None:
        """`_half_vector`'s float16 work as one compiled pass (`half_vector_kernels`) over the lanes' words: a
        full or complement group over its window's columns (the few excluded PEs' words put back after), the
        others over their PEs' columns. No temporaries but copies of a source range that overlaps the
        destination's at another offset: NumPy reads every operand before it writes a result."""
        from . import half_vector_kernels as kernels  # (imports Numba: only launches with float16 vector ops)

        words, d, n = self.sram, where["d"], where["c"]
        sources, starts = [words, words], [where["a"], where.get("b", d)]
        for k, start in enumerate(starts):
            if start != d and abs(start - d) < n:
                sources[k], starts[k] = words[start:start + n].copy(), 0
        op, y_step = kernels.OPERATIONS[ins.op], 1
        if scalar_b:  # one register row, as float16 bits (rounded as NumPy casts), or for vwfma as it is
            y_step, starts[1] = 0, 0
            if op == kernels.WIDE_FMA:
                op, sources[1] = kernels.WIDE_FMA_SCALAR, self.regs[ins.b:ins.b + 1]
            else:
                sources[1] = self._rounded_words(self.fregs[ins.b], "f16")[None, :]
        arguments = (op, words, d, sources[0], starts[0], sources[1], starts[1], y_step, n)
        if L.is_dense:
            lo = 0 if L.window is None else L.window.start
            view = L.window_view(words[d:d + n])
            kept = L.keep_outside(view)
            kernels.half_vector(*arguments, lo, lo + L.n, _NO_COLUMNS)
            L.restore_outside(view, kept)
        else:
            kernels.half_vector(*arguments, 0, 0, L.indices().astype(np.int64, copy=False))

    def _half_vector_numpy(self, L: Lanes, ins: Instr, where: dict[str, int], kind: str, scalar_b: bool) -> None:
        """`_half_vector`'s work in NumPy's 16-bit dtypes (bfloat16's, and the reference strategy's)."""
        n, op = where["c"], ins.op
        d, a = where["d"], where["a"]
        words_a = L.get(self.sram[a:a + n])
        with np.errstate(over="ignore", invalid="ignore"):
            if op == "vcvtf":
                L.put(self.fsram[d:d + n], halfprec.widen(words_a, kind))
            elif op == "vcvth":
                L.put(self.sram[d:d + n], halfprec.to_words(words_a.view(np.float32), kind))
            elif op == "vwfma":  # float32 accumulation of widened factors (a scalar factor is float32 already)
                other = L.get(self.fregs[ins.b]) if scalar_b else halfprec.widen(L.get(self.sram[where["b"]:where["b"] + n]), kind)
                total = L.get(self.fsram[d:d + n]) + halfprec.widen(words_a, kind) * other
                L.put(self.fsram[d:d + n], total)
            else:
                x = halfprec.from_words(words_a, kind)
                if scalar_b:  # the float32 scalar rounded to 16 bits, as NumPy keeps the array's dtype
                    y = L.get(self.fregs[ins.b]).astype(halfprec.HALF_DTYPES[kind])
                else:
                    y = halfprec.from_words(L.get(self.sram[where["b"]:where["b"] + n]), kind)
                if op == "vhfma":
                    result = halfprec.from_words(L.get(self.sram[d:d + n]), kind) + x * y
                else:
                    result = _HALF_BINARY[op](x, y)
                L.put(self.sram[d:d + n], result.view(np.uint16).astype(np.int32))

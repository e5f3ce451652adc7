"""Off-wafer (global) memory access of a wave simulation: gld, gst, gldv, gstv."""
from __future__ import annotations

import numpy as np

from ..errors import MemoryAccessError
from ..isa.encoding import Instr
from .lanes import Lanes


class OffWaferMixin:
    """Global memory executors of `WaveSim`: data movement plus latency, edge hops and shared bandwidth."""

    def _global(self, ins: Instr, next_pc: int, cost: float, lanes: Lanes):
        L = lanes.to_index_form(self.n)
        op, spec = ins.op, self.spec
        if op in ("gld", "gst"):
            addr = (self.regs[ins.a, L.idx].astype(np.int64) & 0xFFFFFFFF) + ins.imm
            words = np.ones(L.count, dtype=np.int64)
        else:
            addr = self.regs[ins.a, L.idx].astype(np.int64) & 0xFFFFFFFF
            words = self.regs[ins.c, L.idx].astype(np.int64)
            sram_base = self.regs[ins.d if op == "gldv" else ins.b, L.idx].astype(np.int64)
            if (words < 0).any():
                raise self._lane_error(MemoryAccessError, f"{op} with a negative length", L, words < 0)
            self._sram_check(L, sram_base, words, op)
        bases, ok = self.launch.memory.locate(addr, 4 * words)
        ok |= words == 0
        if not ok.all():
            i = int(np.argmax(~ok))
            why = self.launch.memory.describe_address(int(addr[i]))
            raise self._lane_error(MemoryAccessError, f"{op} of {4 * int(words[i])} bytes: {why}", L, ~ok,
                                   address=int(addr[i]), nbytes=4 * int(words[i]))
        if op == "gld":
            self.regs[ins.d, L.idx] = self.launch.memory.gather_words(addr, bases) if ins.d else 0
        elif op == "gst":
            self.launch.memory.scatter_words(addr, bases, self.regs[ins.d, L.idx])
        else:
            for n in np.unique(words):  # one gather per distinct transfer length
                sel = words == n
                if not n:
                    continue
                cols = np.arange(n)
                word_addr = addr[sel, None] + 4 * cols
                sram_rows = sram_base[sel, None] + cols
                pes = np.broadcast_to(L.idx[sel, None], word_addr.shape)
                where = bases if isinstance(bases, int) else np.broadcast_to(bases[sel, None], word_addr.shape)
                if op == "gldv":
                    self.sram[sram_rows, pes] = self.launch.memory.gather_words(word_addr, where)
                else:
                    self.launch.memory.scatter_words(word_addr, where, self.sram[sram_rows, pes])
        # Timing: latency plus hops to the wafer edge, and the wafer's shared off-wafer bandwidth.
        nbytes = 4 * words
        issued = self.cycle[L.idx] + cost
        served = np.ceil((self.totals.global_bytes + np.cumsum(nbytes)) / spec.global_bytes_per_cycle)
        self.totals.global_bytes += int(nbytes.sum())
        hops = self.region.hops_to_edge[L.idx]
        finished = np.maximum(issued + spec.global_latency + hops + (words - 1).clip(0) * self.word_time, served)
        self._guard_time(float(finished.max(initial=0)))
        if self.tracer:
            loads = op in ("gld", "gldv")
            self.tracer.record(L, "global load" if loads else "global store", issued - cost,
                               finished if loads else issued)
        if op in ("gld", "gldv"):
            self.stall[L.idx] += finished - issued
            self.cycle[L.idx] = finished
        else:  # posted: the PE goes on; its halt waits for the store to land
            self.cycle[L.idx] = issued
            self.store_done[L.idx] = np.maximum(self.store_done[L.idx], finished)
        return [(next_pc, lanes, False)]

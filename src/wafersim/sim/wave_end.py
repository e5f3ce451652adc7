"""A wave's end: each PE's halt (its posted stores drained and background transfers ended before it counts as
finished) and the wave's counts added to the launch's totals (busy and stall cycles, instructions, words over
each link, routed channels' words), and the wave's arrays let go of or kept for a later wave. Split from
`sim.wave` by job; `WaveSim` mixes it in."""
from __future__ import annotations

import numpy as np

from ..isa.opcodes import RAMP
from .hostmem import SPARE
from .lanes import Lanes


class WaveEndMixin:
    """`WaveSim`'s halt, end-of-wave accounting and release of its arrays."""

    def _halt(self, lanes: Lanes) -> list:
        # Posted global stores drain, and background transfers end, before a PE counts as finished.
        if self.background:
            lanes = lanes.to_index_form(self.n)
        cyc = lanes.get(self.cycle)
        done = np.maximum(cyc, lanes.get(self.store_done))
        if self.background:
            done = np.maximum(done, self._background_done(lanes)).astype(done.dtype)
        lanes.add(self.stall, done - cyc)
        if self.tracer:
            self.tracer.record(lanes, "store drain", cyc, done)
        lanes.put(self.cycle, done)
        return []

    # ------------------------------------------------------------------ results
    def _accumulate(self) -> None:
        totals, region = self.totals, self.region
        h, w = region.height, region.width
        active = region.active
        elapsed = np.where(active, self.cycle - self.start, 0.0)
        stall = np.where(active, self.stall, 0.0)
        totals.busy[:h, :w] += (elapsed - stall).reshape(h, w)
        totals.stall[:h, :w] += stall.reshape(h, w)
        totals.instructions[:h, :w] += self.icount.reshape(h, w)
        for (incoming, _), fifo in self.fifos.items():  # words a PE sent = words its neighbour received
            totals.words_left += int(fifo.pushed.sum(dtype=np.int64)) - int(fifo.popped.sum(dtype=np.int64))  # (no temp)
            if incoming == RAMP:
                continue  # routed words: counted along their paths below
            sender_direction = (incoming + 2) % 4
            offset = region.offset(sender_direction)
            sent = np.zeros(self.n, dtype=np.int64)
            senders = region.has_neighbor(sender_direction)
            # sender i's neighbour i + offset lies in the region: the senders' window lines up with theirs
            window, theirs = slice(max(-offset, 0), self.n - max(offset, 0)), slice(max(offset, 0), self.n + min(offset, 0))
            np.copyto(sent[window], fifo.pushed[theirs], where=senders[window])
            totals.link_words[sender_direction, :h, :w] += sent.reshape(h, w)
        for channel in list(self.injected):
            self._count_routed_links(channel)
        for channel, words in self.routed_link_words.items():
            per_link = words.reshape(4, h, w)
            totals.link_words[:, :h, :w] += per_link
            routed = totals.routed_link_words.get(channel)
            if routed is None and per_link.shape == totals.link_shape:  # (this wave is done with it)
                totals.routed_link_words[channel] = per_link
                continue
            if routed is None:  # (np.zeros, not zeros_like: pages mapped in only where written)
                routed = totals.routed_link_words[channel] = np.zeros(totals.link_shape, dtype=np.int64)
            routed[:, :h, :w] += per_link
        self.cycle = np.where(active, self.cycle, 0.0)

    # ------------------------------------------------------------------ state after the run
    def _drop_run_state(self) -> None:
        """After the run: the executors and tables that hold the wave's arrays are dropped, and its link
        reservations kept for a later wave (`hostmem.SPARE`)."""
        # The executors are closures over this object: drop them so its arrays are freed now, by
        # reference counting, rather than at some later cyclic garbage collection (a second launch
        # would otherwise map fresh memory while this one's is still held).
        self.ops = {}
        self.register_blocks = None  # (it holds the executors too)
        self.fifos = {}
        self.fifo_waiters = self._whole_kept = self._owing_passed = None  # (they hold FIFOs and groups too)
        self.scratch = {}
        self.rank1_work = {}
        self._compiled_release()
        busy, self.link_busy = self.link_busy, None  # (a later wave's, refilled: `_new_link_busy`)
        SPARE.keep(busy)

    def release_state(self) -> None:
        """The launch is done with this wave's registers and SRAM (any snapshot taken): keep them for a
        later wave (`hostmem.SPARE`, which keeps only arrays nothing else refers to)."""
        regs, sram = self.regs, self.sram
        self.regs = self.fregs = self.sram = self.fsram = None
        SPARE.keep(regs)
        del regs
        SPARE.keep(sram)

    def _new_link_busy(self) -> np.ndarray:
        """`link_busy` for the wave's first routed word over a link: every link free (-inf). At wafer scale it
        is 46 MB, mapped fresh at every launch unless a finished wave's is reused (`hostmem.SPARE`)."""
        return SPARE.take((2, 4 * self.n), np.float64, -np.inf)

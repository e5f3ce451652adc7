"""The global stores of a wave simulation (`OffWaferMixin`): each to the store log or to memory, and each word kept
by the store issued latest, at one cycle the one of the highest PE (`store_stamps`), in whatever order the engine
runs them. A part of `WaveSim` (sim/wave.py) through `OffWaferMixin`."""
from __future__ import annotations

import numpy as np


def increasing(values: np.ndarray) -> bool:
    """Whether `values` (1-D) strictly increase."""
    return values.ndim == 1 and bool((values[1:] > values[:-1]).all())


class GlobalStoresMixin:
    """`_store_words` and the PEs' ordinals in the launch that stamp their stores."""

    def _store_words(self, addr: np.ndarray, bases, values: np.ndarray, issued: np.ndarray, pes: np.ndarray,
                     horizon: float) -> None:
        """Store words issued at `issued` by the PEs of ordinals `pes` (`_pe_ordinals`; both lane-aligned,
        broadcastable to `addr`). Those issued at or before `horizon` (no load can still issue before them) go
        to memory, the others to the store log; while the log holds stores, all go through it, so that a
        load's overlay is the latest store before it. Of stores to one word the one issued latest wins, at one
        cycle the one of the highest PE, whatever order the engine runs them in (`store_stamps`)."""
        order = self.launch.memory_order
        memory, log = self.launch.memory, order.log
        issued = np.broadcast_to(issued, addr.shape)
        pes = np.broadcast_to(pes, addr.shape)
        late = issued > horizon
        if log or late.any():
            if log:
                late = np.ones(addr.shape, dtype=bool)
            log.add(addr[late], bases if isinstance(bases, int) else bases[late], values[late], issued[late],
                    pes[late])
            log.commit(memory, horizon, order.stamps)
            if late.all():
                return
            keep = ~late
            addr, values, issued, pes = addr[keep], values[keep], issued[keep], pes[keep]
            bases = bases if isinstance(bases, int) else bases[keep]
        if addr.size > 1 and issued.min() != issued.max() and not increasing(addr):
            # time order first, so that the latest store wins (addresses that only increase are distinct:
            # no store can overwrite another, in any order); the lanes, in PE order, break ties
            by_time = np.argsort(issued, axis=None, kind="stable")
            bases = bases if isinstance(bases, int) else np.broadcast_to(bases, addr.shape).ravel()[by_time]
            addr, values, issued, pes = (addr.ravel()[by_time], values.ravel()[by_time], issued.ravel()[by_time],
                                         pes.ravel()[by_time])
        order.stamps.store(memory, addr, bases, values, issued, pes)

    def _pe_ordinals(self) -> np.ndarray:
        """Each PE's ordinal in the launch (`store_stamps`): its index in its wave after the PEs of the waves
        before it (a batch of waves, `sim.batching`, numbers its waves' PEs so already)."""
        ordinals = self.__dict__.get("_ordinals")
        if ordinals is None:
            placement = self.region.placement
            before = (self.region.first_block // placement.slots) * placement.wave(0).n
            ordinals = self._ordinals = self._pe_index() + before
        return ordinals

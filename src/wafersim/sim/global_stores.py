"""The global stores of a wave simulation (`OffWaferMixin`): each to the store log or to memory, and each word kept
by the store issued latest, at one cycle the one of the highest PE (`store_stamps`), in whatever order the engine
runs them. A part of `WaveSim` (sim/wave.py) through `OffWaferMixin`."""
from __future__ import annotations

import numpy as np

from .distinct import increasing


class GlobalStoresMixin:
    """`_store_words` and the PEs' keys in the launch that stamp their stores."""

    def _store_words(self, addr: np.ndarray, bases, values: np.ndarray, issued: np.ndarray, pes: np.ndarray,
                     horizon: float) -> None:
        """Store words issued at `issued` by the PEs of keys `pes` (`_store_keys`; both lane-aligned,
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
            if log or late.all():  # (all go through the log: no selection to copy)
                log.add(addr, bases, values, issued, pes)
                log.commit(memory, horizon, order.stamps)
                return
            log.add(addr[late], bases if isinstance(bases, int) else bases[late], values[late], issued[late],
                    pes[late])
            log.commit(memory, horizon, order.stamps)
            keep = ~late
            addr, values, issued, pes = addr[keep], values[keep], issued[keep], pes[keep]
            bases = bases if isinstance(bases, int) else bases[keep]
        if addr.size > 1 and issued.min() != issued.max() and not increasing(addr.ravel()):
            # Distinct addresses (no store can overwrite another of these, in any order) go in address order, so
            # that the stamps are read and written in order (stencil3d's bulk stores in time order: ~10 ms of
            # cache misses each); else time order, so that the latest store wins (the lanes, in PE order, break
            # ties). A bulk store's rows (lanes, words) are distinct where their starts lie a row's words apart.
            if addr.ndim == 2:
                by_row = np.argsort(addr[:, 0], kind="stable")
                starts = addr[by_row, 0]
                at = by_row if (starts[1:] - starts[:-1] >= 4 * addr.shape[1]).all() else None
            else:
                at = np.argsort(addr, kind="stable")
                at = at if increasing(addr[at]) else None
            by_time = at is None
            if by_time:  # (`at` orders the words, flattened; else the rows, or the 1-D words)
                at = np.argsort(issued, axis=None, kind="stable")
            addr, values, issued, pes, bases = (
                part if isinstance(part, int) else
                (np.broadcast_to(part, addr.shape).ravel() if by_time else np.broadcast_to(part, addr.shape))[at]
                for part in (addr, values, issued, pes, bases))
        order.stamps.store(memory, addr, bases, values, issued, pes)

    def _store_keys(self) -> np.ndarray:
        """Each PE's key in the stamps of its stores (`StoreStamps.keys`): its ordinal in the launch, its index
        in its wave after the PEs of the waves before it (a batch of waves, `sim.batching`, numbers its waves'
        PEs so already), plus one."""
        keys = self.__dict__.get("_keys")
        if keys is None:
            placement = self.region.placement
            before = (self.region.first_block // placement.slots) * placement.wave(0).n
            keys = self._keys = self.launch.memory_order.stamps.keys(self._pe_index() + before)
        return keys

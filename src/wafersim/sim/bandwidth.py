"""The wafer's shared off-wafer bandwidth, served in simulated-time order (docs/timing.md "Off-wafer (global)
memory").

Every global access of a launch moves its bytes over one shared link of `global_bytes_per_cycle`. The accesses
of a wave are served in the order of their *keys*, (issue cycle, PE index): the access whose bytes, with those
of every access of a smaller key (and of every earlier wave), add up to B completes no earlier than
ceil(B / bytes per cycle) cycles after the launch starts. The engine executes accesses in another order
(groups by program counter, the compiled interpreter's calls, ...), which differs between execution
strategies; a rule over keys gives the same cycles under every one. `BandwidthLedger` keeps the keys and
bytes of a wave's accesses and answers, for an access, the bytes served up to it:

- a *load* blocks its PE, so its completion must be known when it executes: the scheduler holds it
  (`OffWaferMixin._next_group`) until no PE can still issue an access of a smaller key, unless the bytes
  every such access could move cannot delay it past its unloaded completion; then its prefix is complete;
- a *store* is posted (only its PE's finishing cycle depends on it), so it is settled at the end of the
  wave, once every key is known (`settle_stores`).
"""
from __future__ import annotations

import math

import numpy as np

from .distinct import distinct

#: The scheduler settles what it can once a wave has recorded this many accesses (`OffWaferMixin`).
SETTLE_ENTRIES = 1 << 20


class BandwidthLedger:
    """The keys, bytes and (stores) unloaded completions of a wave's global accesses not yet settled."""

    def __init__(self, earlier_bytes: int, bytes_per_cycle: float, pes: int) -> None:
        self.earlier = earlier_bytes  # bytes served before any access recorded here: earlier waves', settled ones'
        self.bytes_per_cycle = bytes_per_cycle
        self.pes = pes  # PE indices run below this
        self.total = 0  # bytes recorded
        self.latest = -math.inf  # the largest issue cycle recorded
        # chunks of (issue cycle, PE, bytes, unloaded completion: a store's, NaN for a load), in the order executed
        self._chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.store_unloaded_min = math.inf  # the earliest unloaded completion of a recorded store
        self.entries = 0  # accesses recorded
        self.settle_first = self.settle_at = SETTLE_ENTRIES  # (`OffWaferMixin._settle_bandwidth_if_long`)
        self.delayed: list[np.ndarray] = []  # PEs whose stores settled past their unloaded completion

    def served(self, byte_counts: np.ndarray | int) -> np.ndarray:
        """The first cycle by which the shared bandwidth has served `byte_counts` bytes of the launch."""
        return np.ceil(np.asarray(byte_counts, dtype=np.float64) / self.bytes_per_cycle)

    def record(self, issue: np.ndarray, pe: np.ndarray, nbytes: np.ndarray | int,
               store_unloaded: np.ndarray | None = None) -> int:
        """Add accesses (lane-aligned: issue cycles, PE indices, bytes; a store's unloaded completions);
        returns their bytes."""
        count = len(issue)
        if count == 0:
            return 0
        # (one byte count for every lane, and a load's NaN, stay scalars until the entries are merged)
        nbytes = nbytes if isinstance(nbytes, int) else nbytes.astype(np.int64)
        unloaded = math.nan
        if store_unloaded is not None:
            unloaded = np.asarray(store_unloaded, dtype=np.float64)
            self.store_unloaded_min = min(self.store_unloaded_min, float(unloaded.min()))
        issue = np.asarray(issue, dtype=np.float64)
        self._chunks.append((issue, np.asarray(pe, dtype=np.int64), nbytes, unloaded))
        self.entries += count
        moved = nbytes * count if isinstance(nbytes, int) else int(nbytes.sum())
        self.total += moved
        self.latest = max(self.latest, float(issue.max()))
        return moved

    def _entries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(issue, PE, bytes, unloaded) of every recorded access, in the order executed."""
        if len(self._chunks) > 1 or not isinstance(self._chunks[0][3], np.ndarray) \
                or not isinstance(self._chunks[0][2], np.ndarray):
            chunks = [(issue, pe, np.broadcast_to(np.int64(nbytes), issue.shape),
                       np.broadcast_to(np.float64(unloaded), issue.shape)) for issue, pe, nbytes, unloaded in self._chunks]
            self._chunks = [tuple(np.concatenate(parts) for parts in zip(*chunks))]
        return self._chunks[0]

    def bytes_through(self, issue: np.ndarray, pe: np.ndarray, latest_before: float) -> np.ndarray:
        """For each key (issue, pe) of the batch recorded last: the bytes of every recorded access of a key
        <= it, those served before (`earlier`) included. `latest_before`: `latest` before the batch."""
        count = len(issue)
        if float(issue.min()) > latest_before:  # the batch comes after everything recorded: its own prefix
            batch_bytes = self._chunks[-1][2]
            if isinstance(batch_bytes, int):
                batch_bytes = np.full(count, batch_bytes, dtype=np.int64)
            batch_bytes = batch_bytes[-count:]
            if issue.min() == issue.max():  # (lanes are sorted by PE: already in key order)
                through = np.cumsum(batch_bytes)
            else:
                order = np.lexsort((pe, issue))
                through = np.empty(count, dtype=np.int64)
                through[order] = np.cumsum(batch_bytes[order])
            return through + (self.earlier + self.total - int(batch_bytes.sum()))
        return self._through(issue, pe)

    def _through(self, issue: np.ndarray, pe: np.ndarray) -> np.ndarray:
        """Bytes of `earlier` and of every recorded access of a key <= each (issue, pe)."""
        all_issue, all_pe, all_bytes, _ = self._entries()
        times = distinct(all_issue)  # (ranks of the issue cycles: one integer key per (issue, PE))
        keys = np.searchsorted(times, all_issue) * self.pes + all_pe
        order = np.argsort(keys, kind="stable")
        sorted_keys, running = keys[order], np.cumsum(all_bytes[order])
        query = np.searchsorted(times, np.asarray(issue, dtype=np.float64)) * self.pes + np.asarray(pe, dtype=np.int64)
        return running[np.searchsorted(sorted_keys, query, side="right") - 1] + self.earlier

    def _through_entries(self) -> np.ndarray:
        """`_through` of every recorded access's own key, in `_entries`' order: one sort of the keys (no
        ranks of the issue cycles, no searches; at a wave's end every PE's store is asked at once)."""
        issue, pe, nbytes, _ = self._entries()
        order = np.lexsort((pe, issue))
        key_issue, key_pe = issue[order], pe[order]
        running = np.cumsum(nbytes[order])
        # (accesses of one key count each other's bytes: each takes its last one's running sum)
        last = np.empty(len(order), dtype=bool)
        last[-1] = True
        np.not_equal(key_issue[1:], key_issue[:-1], out=last[:-1])
        last[:-1] |= key_pe[1:] != key_pe[:-1]
        key_number = np.cumsum(last) - last  # (each access's key's rank: the keys ended before it)
        through = np.empty(len(order), dtype=np.int64)
        through[order] = running[last][key_number]
        return through + self.earlier

    def settle(self, horizon: float) -> tuple[np.ndarray, np.ndarray] | None:
        """Settle the recorded accesses issued before `horizon` (no access can still be issued before it:
        their prefixes are complete) and forget them; returns (PE, completion) of those stores among them
        that the bandwidth delays past their unloaded completion, or None where there is none."""
        if not self._chunks:
            return None
        issue, pe, nbytes, unloaded = self._entries()
        due = issue < horizon
        if not due.any():
            return None
        late = None
        stores = due & ~np.isnan(unloaded)
        # (where even the last byte recorded is served by the earliest store's unloaded completion, none is late)
        if stores.any() and self.served(self.earlier + self.total) > self.store_unloaded_min:
            finish = np.maximum(unloaded[stores], self.served(self._through_entries()[stores]))
            delayed = finish > unloaded[stores]
            if delayed.any():
                late = pe[stores][delayed], finish[delayed]
        if due.all():
            self._chunks, self.entries = [], 0
            self.earlier += self.total
            self.total = 0
            self.store_unloaded_min = math.inf
            self.latest = -math.inf
            return late
        keep = ~due
        self.earlier += int(nbytes[due].sum())
        self.total -= int(nbytes[due].sum())
        self._chunks = [(issue[keep], pe[keep], nbytes[keep], unloaded[keep])]
        self.entries = len(self._chunks[0][0])
        self.latest = float(issue[keep].max())
        left = unloaded[keep]
        self.store_unloaded_min = float(np.nanmin(left)) if not np.isnan(left).all() else math.inf
        return late

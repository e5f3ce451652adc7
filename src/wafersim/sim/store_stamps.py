"""Which store wrote each word of global memory last: two stores to one word by different PEs leave the value
of the one issued later, at one cycle the one of the higher PE (docs/timing.md, "Order of accesses").

The engine runs PEs grouped by program counter, not in simulated time, so it may run a store after another
store to the same word that was issued later. Every store the engine writes to memory during a launch
(`OffWaferMixin._store_words`, its strided bulk copy `_affine_bulk`, the store log's commit) goes through
`StoreStamps`: each word written keeps the stamp (issue cycle, PE ordinal) of its store, and a store writes
only the words whose stamp is earlier than its own. A PE's ordinal is its index in its wave plus the PEs of
the waves before it (`pe_ordinals`), so the stamps order stores across waves and batches of waves too.

The stamps are kept for the launch only, per allocation stored to, made lazily (zero pages cost no memory
until written): 12 bytes per word (8 of cycle, 4 of PE) where the kernel stores, released when the launch
ends. A stamp of zeros (cycle 0, PE 0: ordinals are stored plus one) means "not stored to in this launch",
which every store is later than.
"""
from __future__ import annotations

import numpy as np

#: A launch with fewer PEs than this (over all its waves) keeps PE ordinals in int32, else int64.
INT32_ORDINALS = (1 << 31) - 1


class StoreStamps:
    """A launch's stamps (issue cycle, PE ordinal + 1) of the last store to each word, per allocation."""

    def __init__(self, pes: int) -> None:
        self.pe_dtype = np.int32 if pes < INT32_ORDINALS else np.int64
        self._stamps: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # base -> (cycles, ordinals + 1)
        # (per base: the latest cycle stamped so far; a store issued after it is later than every stamp there)
        self._latest: dict[int, float] = {}
        # (base, word indices, their cycles and ordinals before) of each change, while a batch of waves may be
        # undone (`record`); None otherwise
        self._undo: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] | None = None

    def _of(self, memory, base: int) -> tuple[np.ndarray, np.ndarray]:
        stamps = self._stamps.get(base)
        if stamps is None:
            words = len(memory.get(base).words())
            stamps = self._stamps[base] = (np.zeros(words, np.float64), np.zeros(words, self.pe_dtype))
            self._latest[base] = -np.inf
        return stamps

    def store(self, memory, addresses: np.ndarray, bases: np.ndarray | int, values: np.ndarray,
              cycles: np.ndarray, ordinals: np.ndarray) -> None:
        """Store the int32 `values` at valid byte `addresses` (in the allocations `bases`, as
        `GlobalMemory.locate` gives them) by stores issued at `cycles` by the PEs `ordinals` (all broadcastable
        to `addresses`), each where its stamp is later than the word's. Of equal addresses in one call, the
        caller puts the latest last (it wins, as in `GlobalMemory.scatter_words`)."""
        shape = np.shape(addresses)
        addresses = np.asarray(addresses).ravel()
        values = np.broadcast_to(values, shape).ravel()
        cycles = np.broadcast_to(cycles, shape).ravel()
        ordinals = np.broadcast_to(ordinals, shape).ravel()
        if isinstance(bases, (int, np.integer)):
            self._store(memory, int(bases), (addresses - bases) >> 2, values, cycles, ordinals)
            return
        bases = np.broadcast_to(bases, shape).ravel()
        for base in np.unique(bases):
            sel = bases == base
            self._store(memory, int(base), (addresses[sel] - base) >> 2, values[sel], cycles[sel], ordinals[sel])

    def _store(self, memory, base: int, index: np.ndarray, values: np.ndarray, cycles: np.ndarray,
               ordinals: np.ndarray) -> None:
        if not len(index):
            return
        stamp_cycles, stamp_pes = self._of(memory, base)
        keys = ordinals.astype(self.pe_dtype) + 1
        first = float(cycles.min())
        if first > self._latest[base] and self._undo is None:
            pass  # issued after every store stamped here: later than all of them (no gathers)
        else:
            old_cycles, old_pes = stamp_cycles[index], stamp_pes[index]
            later = (cycles > old_cycles) | ((cycles == old_cycles) & (keys >= old_pes))
            if not later.all():
                index, values, cycles, keys = index[later], values[later], cycles[later], keys[later]
                old_cycles, old_pes = old_cycles[later], old_pes[later]
            if self._undo is not None:
                self._undo.append((base, index, old_cycles, old_pes))
            if not len(index):
                return
        memory.store_indices(base, index, values)
        stamp_cycles[index] = cycles
        stamp_pes[index] = keys
        self._latest[base] = max(self._latest[base], float(cycles.max()))

    def rows(self, memory, base: int, first: int, rows: int, stride: int, words: int,
             cycles: np.ndarray, ordinals: np.ndarray) -> bool:
        """Stamp the `words` words at byte addresses first + r * stride (r < rows), of the allocation at `base`,
        as stored by the PEs `ordinals` (one a row, increasing) at `cycles` (one a row), where the store is later
        than every stamp there (a strided bulk store's words, `OffWaferMixin._affine_bulk`, which then copies
        them whole). False, with nothing stamped, where it is not (the caller then stores word by word)."""
        stamp_cycles, stamp_pes = self._of(memory, base)
        start, step = (first - base) >> 2, stride >> 2
        view = np.lib.stride_tricks.as_strided
        pes = view(stamp_pes[start:], shape=(rows, words), strides=(step * stamp_pes.itemsize, stamp_pes.itemsize))
        at = view(stamp_cycles[start:], shape=(rows, words),
                  strides=(step * stamp_cycles.itemsize, stamp_cycles.itemsize))
        cycles = np.asarray(cycles, dtype=np.float64)[:, None]
        keys = (np.asarray(ordinals).astype(self.pe_dtype) + 1)[:, None]
        if (float(cycles.min()) <= self._latest[base] or self._undo is not None) and pes.any():
            if not ((cycles > at) | ((cycles == at) & (keys >= pes))).all():
                return False
        if self._undo is not None:
            index = (start + step * np.arange(rows)[:, None] + np.arange(words)).ravel()
            self._undo.append((base, index, stamp_cycles[index], stamp_pes[index]))
        at[...] = cycles
        pes[...] = keys
        self._latest[base] = max(self._latest[base], float(cycles.max()))
        return True

    def record(self) -> None:
        """Keep what each change overwrites, until `forget` or `undo` (a batch of waves, `sim.batching`)."""
        self._undo = []

    def forget(self) -> None:
        """Stop keeping changes (the batch stands)."""
        self._undo = None

    def undo(self) -> None:
        """Put back the stamps as they were at `record` (the batch is undone, and memory with it)."""
        for base, index, old_cycles, old_pes in reversed(self._undo or []):
            stamp_cycles, stamp_pes = self._stamps[base]
            stamp_cycles[index], stamp_pes[index] = old_cycles, old_pes
        self._undo = None

    def saved(self) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """(base, word indices, cycles, ordinals + 1) of every stamped word: a checkpoint's (`runtime.resume`)."""
        out = []
        for base, (stamp_cycles, stamp_pes) in self._stamps.items():
            index = np.flatnonzero(stamp_pes)
            if len(index):
                out.append((base, index, stamp_cycles[index], stamp_pes[index]))
        return out

    def restore(self, memory, base: int, index: np.ndarray, cycles: np.ndarray, keys: np.ndarray) -> None:
        """Put back stamps `saved` returned (a launch resumed from a checkpoint)."""
        stamp_cycles, stamp_pes = self._of(memory, base)
        stamp_cycles[index], stamp_pes[index] = cycles, keys
        if len(index):
            self._latest[base] = max(self._latest[base], float(cycles.max()))

    def release(self) -> None:
        """Forget every stamp (the launch ended: its stores have all landed)."""
        self._stamps.clear()
        self._latest.clear()

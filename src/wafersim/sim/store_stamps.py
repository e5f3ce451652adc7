"""Which store wrote each word of global memory last: two stores to one word by different PEs leave the value
of the one issued later, at one cycle the one of the higher PE (docs/timing.md, "Order of accesses").

The engine runs PEs grouped by program counter, not in simulated time, so it may run a store after another
store to the same word that was issued later. Every store the engine writes to memory during a launch
(`OffWaferMixin._store_words`, its strided bulk copy `_affine_bulk`, the store log's commit) goes through
`StoreStamps`: each word written keeps the stamp (issue cycle, PE key) of its store, and a store writes only
the words whose stamp is earlier than its own. A PE's key is its ordinal in the launch plus one: its index in
its wave after the PEs of the waves before it (`GlobalStoresMixin._store_keys`), so the stamps order stores
across waves and batches of waves too.

The stamps are kept for the launch only, per allocation stored to, made lazily (zero pages cost no memory
until written): 12 bytes per word (8 of cycle, 4 of PE) where the kernel stores, released when the launch
ends. While every store to an allocation goes to words no store before it wrote, the stores are only recorded
(their words, cycles and keys, or their strided block) with a byte a word of which words they stored; the
stamps are made from those records when a store comes to a word stored before (and for a checkpoint). A batch
of waves that may be undone (`record`) keeps what each change overwrote: of a record, only that it was added.
Stores to consecutive words read and write the stamps as slices; a store issued after every stamp of its
allocation writes them without reading. A stamp of zeros (cycle 0, key 0) means "not stored to in this
launch", which every store is later than.
"""
from __future__ import annotations

import numpy as np

from .distinct import increasing

#: A launch with fewer PEs than this (over all its waves) keeps PE ordinals in int32, else int64.
INT32_ORDINALS = (1 << 31) - 1


#: The kinds of change a batch of waves' undo puts back (`StoreStamps.record`).
STAMPED, FIRST, MADE = range(3)


class StoreStamps:
    """A launch's stamps (issue cycle, PE key: ordinal + 1) of the last store to each word, per allocation."""

    def __init__(self, pes: int) -> None:
        self.pe_dtype = np.int32 if pes < INT32_ORDINALS else np.int64
        self._stamps: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # base -> (cycles, keys)
        # (per base: the latest cycle stamped so far; a store issued after it is later than every stamp there)
        self._latest: dict[int, float] = {}
        # (per base without stamps yet: the stores so far, each to words no other has stored to, kept as records
        # -- (word indices, cycles, keys) or a strided block (first word, words between rows, rows, words, cycles a
        # row, keys a row) -- with a byte a word of which words they stored; stamped only when a store comes to a
        # word stored before: heat-tiled's one store of its 48M-word output would fill 576 MB of stamps no store
        # reads, and stencil3d's stores, each word once, spent 5% of its time writing them)
        self._first: dict[int, list[tuple]] = {}
        self._stored: dict[int, np.ndarray] = {}
        # (while a batch of waves may be undone, `record`; None otherwise) each change, to put back in reverse:
        # (STAMPED, base, word indices or a slice, their cycles and keys before), (FIRST, base): a first store's
        # record added, (MADE, base, the records they were made from): stamps made
        self._undo: list[tuple] | None = None
        self._latest_before: dict[int, float] = {}  # (`_latest` at `record`)

    def keys(self, ordinals: np.ndarray) -> np.ndarray:
        """The PE keys that stamp stores by the PEs of `ordinals` (their ordinals plus one: 0 is no store)."""
        return ordinals.astype(self.pe_dtype) + 1

    def _of(self, memory, base: int) -> tuple[np.ndarray, np.ndarray]:
        """The stamps of the allocation at `base`, made (with those of its first stores) where it has none yet."""
        stamps = self._stamps.get(base)
        if stamps is None:
            words = len(memory.get(base).words())
            stamps = self._stamps[base] = (np.zeros(words, np.float64), np.zeros(words, self.pe_dtype))
            self._latest.setdefault(base, -np.inf)
            self._stored.pop(base, None)
            records = self._first.pop(base, [])
            if self._undo is not None:
                self._undo.append((MADE, base, records))
            for record in records:  # (the first stores' stamps, made now)
                if len(record) == 3:
                    index, cycles, keys = record
                    stamps[0][index], stamps[1][index] = cycles, keys
                else:
                    at, keys = self._block_views(stamps, *record[:4])
                    at[...], keys[...] = record[4][:, None], record[5][:, None]
        return stamps

    def _unstored(self, memory, base: int, index: np.ndarray | slice | None,
                  block: tuple[int, int, int, int] | None = None) -> bool:
        """Whether the allocation at `base` has no stamps yet and no store before wrote any of the words `index`
        (or of the strided `block`, `_block_views`): then the words are marked stored, and the caller records
        its store (`_add_first`). The byte a word of which words are stored is made when a second store comes
        (from the first's record: a single store, as heat-tiled's 48M words, needs none)."""
        if base in self._stamps:
            return False
        records = self._first.get(base)
        if not records:
            self._latest.setdefault(base, -np.inf)
            return True
        stored = self._stored.get(base)
        if stored is None:
            stored = self._stored[base] = np.zeros(len(memory.get(base).words()), np.uint8)
            for record in records:
                self._mark(stored, record, 1)
        words = stored[index] if block is None else self._block_views((stored,), *block)[0]
        if words.any():
            return False
        if block is None:
            stored[index] = 1
        else:
            words[...] = 1
        return True

    def _add_first(self, base: int, record: tuple, latest: float) -> None:
        """Keep the record of a store `_unstored` accepted, issued at cycles up to `latest`."""
        self._first.setdefault(base, []).append(record)
        self._latest[base] = max(self._latest[base], latest)
        if self._undo is not None:
            self._undo.append((FIRST, base))

    def _mark(self, stored: np.ndarray, record: tuple, value: int) -> None:
        """Set to `value` the bytes of `stored` (a byte a word) of the words a first store's `record` wrote."""
        if len(record) == 3:
            stored[record[0]] = value
        else:
            self._block_views((stored,), *record[:4])[0][...] = value

    @staticmethod
    def _block_views(stamps: tuple[np.ndarray, np.ndarray], start: int, step: int, rows: int,
                     words: int) -> list[np.ndarray]:
        """(cycles, keys) views of the stamps of `words` words at word start + r * step (r < rows)."""
        view = np.lib.stride_tricks.as_strided
        return [view(part[start:], shape=(rows, words), strides=(step * part.itemsize, part.itemsize))
                for part in stamps]

    def store(self, memory, addresses: np.ndarray, bases: np.ndarray | int, values: np.ndarray,
              cycles: np.ndarray, keys: np.ndarray) -> None:
        """Store the int32 `values` at valid byte `addresses` (in the allocations `bases`, as
        `GlobalMemory.locate` gives them) by stores issued at `cycles` by the PEs of `keys` (`keys`; all
        broadcastable to `addresses`), each where its stamp is later than the word's. Of equal addresses in one
        call, the caller puts the latest last (it wins, as in `GlobalMemory.scatter_words`)."""
        shape = np.shape(addresses)
        addresses = np.asarray(addresses).ravel()
        values = np.broadcast_to(values, shape).ravel()
        cycles = np.broadcast_to(cycles, shape).ravel()
        keys = np.broadcast_to(np.asarray(keys, dtype=self.pe_dtype), shape).ravel()
        if isinstance(bases, (int, np.integer)):
            self._store(memory, int(bases), (addresses - bases) >> 2, values, cycles, keys)
            return
        bases = np.broadcast_to(bases, shape).ravel()
        for base in np.unique(bases):
            sel = bases == base
            self._store(memory, int(base), (addresses[sel] - base) >> 2, values[sel], cycles[sel], keys[sel])

    def _store(self, memory, base: int, index: np.ndarray, values: np.ndarray, cycles: np.ndarray,
               keys: np.ndarray) -> None:
        if not len(index):
            return
        first = int(index[0])
        if int(index[-1]) - first + 1 == len(index) and (len(index) < 2 or increasing(index)):
            index = slice(first, first + len(index))  # (consecutive words: slices, not gathers and scatters)
        if self._unstored(memory, base, index):  # (no word stored before: kept as a record)
            memory.store_indices(base, index, values)
            self._add_first(base, (index, cycles.copy(), keys), float(cycles.max()))
            return
        stamp_cycles, stamp_keys = self._of(memory, base)
        if float(cycles.min()) <= self._latest[base] or self._undo is not None:
            old_cycles = stamp_cycles[index]
            later = cycles > old_cycles
            old_keys = None
            if not later.all():
                old_keys = stamp_keys[index]
                later |= (cycles == old_cycles) & (keys >= old_keys)
            if self._undo is not None:  # (the words' stamps as they were: gathered once; a slice's are views)
                old_keys = stamp_keys[index] if old_keys is None else old_keys
                views = isinstance(index, slice)
                self._undo.append((STAMPED, base, index, old_cycles.copy() if views else old_cycles,
                                   old_keys.copy() if views else old_keys))
            if not later.all():
                index = np.arange(index.start, index.stop)[later] if isinstance(index, slice) else index[later]
                values, cycles, keys = values[later], cycles[later], keys[later]
                if not len(index):
                    return
        # (else issued after every store stamped here: later than all of them, no gathers)
        memory.store_indices(base, index, values)
        stamp_cycles[index] = cycles
        stamp_keys[index] = keys
        self._latest[base] = max(self._latest[base], float(cycles.max()))

    def rows(self, memory, base: int, first: int, rows: int, stride: int, words: int,
             cycles: np.ndarray, keys: np.ndarray) -> bool:
        """Stamp the `words` words at byte addresses first + r * stride (r < rows), of the allocation at `base`,
        as stored by the PEs of `keys` (one a row) at `cycles` (one a row), where the store is later than every
        stamp there (a strided bulk store's words, `OffWaferMixin._affine_bulk`, which then copies them whole).
        False, with nothing stamped, where it is not (the caller then stores word by word)."""
        start, step = (first - base) >> 2, stride >> 2
        cycles = np.asarray(cycles, dtype=np.float64)
        keys = np.asarray(keys, dtype=self.pe_dtype)
        if self._unstored(memory, base, None, (start, step, rows, words)):  # (kept as a record)
            self._add_first(base, (start, step, rows, words, cycles.copy(), keys.copy()), float(cycles.max()))
            return True
        stamps = self._of(memory, base)
        at, pes = self._block_views(stamps, start, step, rows, words)
        cycles, keys = cycles[:, None], keys[:, None]
        if float(cycles.min()) <= self._latest[base] or self._undo is not None:
            later = cycles > at  # (unstamped words too: their cycle is 0, unless the store's is)
            if not later.all() and not (later | ((cycles == at) & (keys >= pes))).all():
                return False
        if self._undo is not None:
            index = (start + step * np.arange(rows)[:, None] + np.arange(words)).ravel()
            self._undo.append((STAMPED, base, index, stamps[0][index], stamps[1][index]))
        at[...] = cycles
        pes[...] = keys
        self._latest[base] = max(self._latest[base], float(cycles.max()))
        return True

    def record(self) -> None:
        """Keep what each change overwrites, until `forget` or `undo` (a batch of waves, `sim.batching`). A store
        to words no store before wrote stays a record (saxpy's batches: every word stored once), undone by
        dropping it; one to a word stored before is stamped, its words' stamps before kept."""
        self._undo = []
        self._latest_before = dict(self._latest)

    def forget(self) -> None:
        """Stop keeping changes (the batch stands)."""
        self._undo = None

    def undo(self) -> None:
        """Put back the records and stamps as they were at `record` (the batch is undone, and memory with it)."""
        for change in reversed(self._undo or []):
            kind, base = change[:2]
            if kind == STAMPED:
                stamp_cycles, stamp_pes = self._stamps[base]
                stamp_cycles[change[2]], stamp_pes[change[2]] = change[3], change[4]
            elif kind == MADE:  # (the stamps go; the records they were made from come back)
                del self._stamps[base]
                self._stored.pop(base, None)
                if change[2]:
                    self._first[base] = change[2]
            else:  # FIRST: the record goes, and its words are no longer stored (none was before it)
                records = self._first[base]
                record = records.pop()
                stored = self._stored.get(base)
                if not records:  # (`_unstored` keeps no bytes for a single record)
                    del self._first[base]
                    self._stored.pop(base, None)
                elif stored is not None:
                    self._mark(stored, record, 0)
        self._latest = self._latest_before
        self._undo = None

    def saved(self, memory) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """(base, word indices, cycles, keys) of every stamped word: a checkpoint's (`runtime.resume`)."""
        out = []
        for base in list(self._first):  # (the stamps of first stores, made now)
            self._of(memory, base)
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
        self._first.clear()
        self._stored.clear()

"""Lanes asleep at transfers (`WaveSim.asleep`, event wake-up): how they fall asleep and wake
(`AsleepMixin`), and the least cycle of those at each pc (`SleepBounds`), kept up to date meanwhile.

The off-wafer memory order asks for that least cycle (`OffWaferMixin._store_bound`, `_load_horizon`) at
nearly every step of the scheduler while a group waits at a global load, and a pipeline's sleeping lanes
are most of the wafer: a reduction over them at every step cost more than the whole simulation (a row
pipeline over the wse2 wafer: 49,000 of them, some 20 s). A sleeping lane's cycle does not change while it
sleeps, so the least one changes only as lanes come and go: it is kept per run of `CHUNK` PEs; lanes
that fall asleep lower their runs', and a run that loses lanes is reduced again, alone. Lanes that replace
a pc's otherwise (compared by identity: `Lanes` are never changed in place) are reduced again whole, at the
next question.

The lanes asleep at a pc are most of the wafer in mask form: a region-sized mask (0.75 MB over wse2) that a
copy per wake-up and per fall asleep of a few lanes cost ~50-100 us each (the row pipeline's ~1,000 calls of one
row: two such copies each). A mask this mixin made itself (by a copy: `AsleepMixin._own_masks`) is held by
no one else, so it is changed in place instead, under a new `Lanes` (a new identity for `SleepBounds` and
`woke_all`, which compare by identity and never read an old set's lanes).
"""
from __future__ import annotations

import numpy as np

from .fabric import compiled_movers
from .lanes import SPARSE_FRACTION, Lanes

#: PEs per run whose least sleeping cycle is kept.
CHUNK = 4096
#: `_chunk_least` reduces more runs than this (and a quarter of the region's or more) in one pass over the region.
WHOLE_CHUNKS = 16


def _chunk_least(lanes: Lanes, cycle: np.ndarray, chunks: np.ndarray, which: np.ndarray) -> None:
    """chunks[k] = the least cycle of the (unwindowed) `lanes` among PEs [k * CHUNK, (k + 1) * CHUNK), for
    each k of `which` (inf where there are none)."""
    n = len(cycle)
    if lanes.idx is None and len(which) > WHOLE_CHUNKS and 4 * len(which) > len(chunks):
        # (many runs of a mask or all-but form, a quarter of them or more: one pass over the region, not a masked
        # gather per run; the row pipeline's ~750,000 sleepers, 185 runs, ~24 -> ~6 us a run, 4.5 -> 1.1 ms)
        least = np.minimum.reduceat(np.where(lanes.as_mask(), cycle, np.inf), np.arange(0, n, CHUNK))
        chunks[which] = least[which]
        return
    for k in which.tolist():
        lo, hi = k * CHUNK, min(n, (k + 1) * CHUNK)
        if lanes.idx is not None:
            values = cycle[lanes.idx[np.searchsorted(lanes.idx, lo):np.searchsorted(lanes.idx, hi)]]
        elif lanes.mask is not None:
            values = cycle[lo:hi][lanes.mask[lo:hi]]
        else:
            inside = np.ones(hi - lo, dtype=bool)
            if lanes.excl is not None:
                inside[lanes.excl[np.searchsorted(lanes.excl, lo):np.searchsorted(lanes.excl, hi)] - lo] = False
            values = cycle[lo:hi][inside]
        chunks[k] = values.min() if len(values) else np.inf


def _chunk_runs(pes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the runs of `CHUNK` PEs that the sorted, non-empty `pes` fall in, where each run's PEs start in `pes`),
    read off the sorted order: no `np.unique` sort, and no `np.minimum.at` (a ufunc dispatch per element) for
    the caller. A call of the compiled interpreter that runs one row of a row pipeline (757 PEs: one or two runs)
    wakes and parks again that row's sleepers: `SleepBounds.changed` 70 -> 30 us each way (1,000 such calls)."""
    first, last = pes[0] // CHUNK, pes[-1] // CHUNK
    if first == last:
        return np.array([first]), np.zeros(1, dtype=np.int64)
    runs = pes // CHUNK
    starts = np.flatnonzero(runs[1:] != runs[:-1])
    starts += 1
    starts = np.concatenate((np.zeros(1, dtype=starts.dtype), starts))
    return runs[starts], starts


class SleepBounds:
    """Per pc: the sleeping lanes (the very object) and the least cycle of them per run of `CHUNK` PEs."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.kept: dict[int, tuple[Lanes, np.ndarray]] = {}

    def least(self, pc: int, lanes: Lanes, cycle: np.ndarray) -> float:
        """The least cycle of `lanes` (unwindowed), asleep at `pc`."""
        kept = self.kept.get(pc)
        if kept is None or kept[0] is not lanes:
            chunks = np.full(-(-self.n // CHUNK), np.inf)
            if lanes.idx is not None:  # (few lanes: only their runs)
                np.minimum.at(chunks, lanes.idx // CHUNK, cycle[lanes.idx])
            else:
                _chunk_least(lanes, cycle, chunks, np.arange(len(chunks)))
            kept = self.kept[pc] = (lanes, chunks)
        return float(kept[1].min())

    def changed(self, pc: int, before: Lanes | None, after: Lanes | None, pes: np.ndarray | None, added: bool,
                cycle: np.ndarray) -> None:
        """The lanes at `pc` went from `before` to `after` (None: none), by the PEs `pes` (sorted; None: many)
        falling asleep (`added`) or waking."""
        kept = self.kept.pop(pc, None)
        if kept is None or kept[0] is not before or after is None or pes is None:
            return  # (reduced again whole, if asked)
        chunks = kept[1]
        if len(pes):
            runs, starts = _chunk_runs(pes)
            if added:
                chunks[runs] = np.minimum(chunks[runs], np.minimum.reduceat(cycle[pes], starts))
            else:
                _chunk_least(after, cycle, chunks, runs)
        self.kept[pc] = (after, chunks)


class AsleepMixin:
    """How lanes of a `WaveSim` fall asleep at a transfer and wake (`asleep`, `sleep_bounds`)."""

    #: (id of a FIFO, whether pushed) -> (the FIFO, `_waiters`' pcs), filled as `_progress` asks
    fifo_waiters: dict[tuple[int, bool], tuple[object, frozenset[int]]] | None = None
    #: (`_owned_masks`, made on first use)
    _own_masks: dict[int, np.ndarray] | None = None

    def _waiters(self, fifo, pushed: bool) -> frozenset[int]:
        """The pcs whose transfer waits on `fifo` for a push (`pushed`) or a pop (`waits_on` or `waits_also`): the
        only ones whose sleepers `_progress` may wake (it tests each pc asleep: a stencil's receivers sleep at
        some 20 pcs, and each push or pop concerns one or two of them). Kept per FIFO: a wave makes its FIFOs once
        per key and never replaces them while it runs (the FIFO itself is kept, so its id is not reused)."""
        if self.fifo_waiters is None:
            self.fifo_waiters = {}
        kept = self.fifo_waiters.get((id(fifo), pushed))
        if kept is not None and kept[0] is fifo:
            return kept[1]
        pcs = frozenset(pc for waits in (self.waits_on, self.waits_also) for pc, (key, wants_push, _) in waits.items()
                        if wants_push == pushed and self.fifos.get(key) is fifo)
        self.fifo_waiters[(id(fifo), pushed)] = (fifo, pcs)
        return pcs

    def _sleep(self, pc: int, lanes: Lanes) -> None:
        """Lanes blocked at the transfer at `pc` go to sleep (those the interpreter finds able to progress
        already run again instead: `CompiledMixin._resident_sleepers`)."""
        lanes = self._resident_sleepers(pc, lanes)
        if lanes.count == 0:
            return
        before = self.asleep.get(pc)
        owned = self._owned_masks()
        if before is None:
            owned.pop(pc, None)  # (the caller's lanes: perhaps held elsewhere too)
            self.asleep[pc] = lanes
        elif lanes.idx is not None and before.mask is not None and owned.get(pc) is before.mask:
            before.mask[lanes.idx] = True  # (what `union_disjoint` gives, without its copy)
            self.asleep[pc] = Lanes(self.n, mask=before.mask, count=before.count + lanes.count)
        else:
            self.asleep[pc] = self._own(pc, before.union_disjoint(lanes), before, lanes)
        few = lanes.idx is not None and lanes.count < self.n * SPARSE_FRACTION
        self.sleep_bounds.changed(pc, before, self.asleep[pc], lanes.idx if few else None, True, self.cycle)

    def _wake(self, pc: int, picked: np.ndarray | None) -> Lanes:
        """Wake the lanes `picked` (sorted indices; None: every one) of those asleep at `pc`: returned, for
        the caller to run."""
        sleeping = self.asleep.pop(pc)
        owned = self._owned_masks()
        if picked is None:
            woken, rest = sleeping, None
            owned.pop(pc, None)  # (its mask goes with the woken lanes)
        else:
            woken = Lanes.from_indices(self.n, picked)
            count = sleeping.count - len(picked)
            if count == 0:  # (every one: `without` would build the region's complement, on a whole wafer ~750,000
                rest = None  # exclusions by `np.insert`, ~10 ms, only to find it empty)
            elif sleeping.mask is not None and owned.get(pc) is sleeping.mask and count >= self.n * SPARSE_FRACTION:
                sleeping.mask[picked] = False  # (what `without` gives, without its copy)
                rest = Lanes(self.n, mask=sleeping.mask, count=count)
            else:
                rest = self._own(pc, sleeping.without(picked), sleeping)
            if rest is not None and rest.count:
                self.asleep[pc] = rest
            else:
                rest = None
                owned.pop(pc, None)
        self.sleep_bounds.changed(pc, sleeping, rest, picked, False, self.cycle)
        return woken

    def _owned_masks(self) -> dict[int, np.ndarray]:
        """pc -> the mask of the lanes asleep there where this mixin made it (a copy nothing else holds): changed
        in place by later wake-ups and lanes falling asleep there. An entry counts only while it is still the
        mask of `asleep[pc]` (compared by identity)."""
        if self._own_masks is None:
            self._own_masks = {}
        return self._own_masks

    def _own(self, pc: int, lanes: Lanes, *sources: Lanes) -> Lanes:
        """`lanes`, a set operation's result on `sources`, now asleep at `pc`: its mask is this mixin's own where
        the operation made it afresh (not one of the sources')."""
        owned = self._owned_masks()
        if lanes.mask is not None and lanes.window is None and all(lanes.mask is not s.mask for s in sources):
            owned[pc] = lanes.mask
        else:
            owned.pop(pc, None)
        return lanes

    def _asleep_least(self, pc: int) -> float:
        """The least cycle of the lanes asleep at `pc`."""
        sleeping = self.asleep[pc]
        if sleeping.window is not None:  # (not kept: sleeping lanes are unwindowed)
            return sleeping.min(sleeping.get(self.cycle))
        return self.sleep_bounds.least(pc, sleeping, self.cycle)

    #: sets of routed senders asleep whose receivers a route's table keeps (`_senders_with_room`)
    SENDER_SETS_KEPT = 1024

    def _senders_with_room(self, pc: int, sleeping: Lanes, fifo) -> np.ndarray | None:
        """The lanes asleep at the routed send at `pc` (`sleeping`) whose words' receivers all have room in
        `fifo` now (sorted PE indices; None where that is all of them): a multicast's step waits for its fullest
        receiver, so only these lanes' retries move words (`RoutedExchangeMixin._routed_stream_step`: min(words
        left, room) each), and the others would go back to sleep at once, having changed nothing. None also
        wakes them all, as without `Strategy.routed_wake_room`, for a scalar send, a merging channel (its
        senders go in turn), a route without `routed_steps`' compiled books, or senders the channel's paths no
        longer take (a `route` ran since): their retry says what is wrong."""
        ins = self.ops[pc][0]
        if ins.op != "sendv" or ins.ch in self.routes.merge or not self.strategy.routed_steps:
            return None
        pes = sleeping.indices()
        table = self.routes.deliveries(ins.ch, pes)
        # (a table never changes, and a stencil's senders fall asleep in a few recurring sets: their receivers
        # are kept with it, a few us a wake-up instead of some 20)
        kept = table.__dict__.setdefault("_senders_receivers", {})
        key = pes.tobytes()
        receivers = kept.get(key, False)
        if receivers is False:
            rows = table.rows(pes)
            receivers = None
            if not ((rows < 0).any() or (table.broken[rows] >= 0).any()):
                from .routed_expansion import expand_rows  # (only routed launches come here)

                entry, lane = expand_rows(table.start, rows)
                receivers = (table.dest[entry], lane)
            if len(kept) >= self.SENDER_SETS_KEPT:
                kept.clear()
            kept[key] = receivers
        if receivers is None:
            return None
        room = compiled_movers().routed_room(fifo.pushed, fifo.popped, *receivers, fifo.depth, len(pes))
        ready = room > 0
        return None if ready.all() else pes[ready]

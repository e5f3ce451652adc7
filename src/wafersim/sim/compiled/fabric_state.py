"""`FabricState`: a wave's neighbour FIFOs as the stacked arrays the compiled interpreter works on
(`fabric_ops`), and its parking and work-list arrays.

The wave's `Fifo` objects stay the NumPy engine's view of the same memory: their time and value rings,
counters and per-slot tags are re-pointed at rows of the stacks, so both engines see every word at once
and nothing is copied per call. Whatever replaces one of those arrays on the NumPy side (a value ring
deepened by `Fifo.make_room`, times widened to float64, a checkpoint restored) is noticed by identity
at the next call and the stacks are rebuilt from the FIFOs.
"""
from __future__ import annotations

import threading

import numpy as np

from ...isa.opcodes import RAMP
from ..fabric import Fifo, SlotRows, page_staggered_zeros
from ..hostmem import sparse_zeros
from .fabric_ops import (HELD, META_COLUMNS, MOVED, PER_SLOT, POPPED, PUSHED, SENDER_OFFSET, UNIFORM, WANTS_ROOM,
                         register_sleepers)
from .routed_words import ARRIVALS, DEST_HI, DEST_LO, INDEX_ROWS, KEY, LINK_HI, LINK_LO


#: Stacks of finished waves, kept for the next wave that stacks FIFOs of the same shapes: a wafer-sized
#: stack is tens of MB (beyond glibc's heap threshold, so freshly mapped and faulted in page by page at
#: every launch otherwise). `FabricState.release` hands a wave's stacks here once nothing else uses them.
#: Not `hostmem.SPARE` (`SparePool`), which keeps single arrays, filled whole when taken: the five stacks of a
#: wave are kept and taken together, as `pushed` says which slots of `time` and `tags` were written (only those
#: are zeroed); stacks of any size are kept, and a take of other shapes (a ring deepened mid-launch restacks)
#: drops nothing; and their bytes are bounded apart (`SPARE_BYTES`), not against the waves' registers and SRAM.
_SPARE: list[tuple] = []
_SPARE_LOCK = threading.Lock()
SPARE_BYTES = 512 << 20  # at most this much kept


def _take_spare(shapes: tuple, time_dtype) -> tuple | None:
    """Stacks of these shapes from `_SPARE` (removed from it), zeroed where their last wave wrote, or None."""
    with _SPARE_LOCK:
        for k, stacks in enumerate(_SPARE):
            if tuple(a.shape for a in stacks) == shapes and stacks[0].dtype == time_dtype:
                del _SPARE[k]
                break
        else:
            return None
    time, value, pushed, _, tags = stacks
    # Word k of a FIFO used slot k % depth (its arrival, then its pop time, and its tag) and value slot
    # k % rings: only the slots below the most words any PE received were written.
    for f in range(time.shape[0]):
        received = int(pushed[f].max(initial=0))
        time[f, :min(time.shape[1], received)] = 0
        tags[f, :min(time.shape[1], received)] = 0
        value[f, :min(value.shape[1], received)] = 0
    return stacks


class FabricState:
    """The FIFOs `keys` ((incoming direction, channel), as `WaveSim.fifos`) of `wave`, stacked."""

    def __init__(self, wave, keys: list[tuple[int, int]]) -> None:
        self.wave, self.keys = wave, keys
        n, region = wave.n, wave.region
        # FIFO * 2 + (0: waits for a push, 1: for a pop), with `RESIDENT` for a PE asleep in the scheduler (`register`);
        # or -1
        self.parked = np.full(n, -1, dtype=np.int64)
        self.resume = np.zeros(n, dtype=np.int64)  # where a parked or woken PE continues
        self.ready = np.empty(n, dtype=np.int64)  # the work list: woken PEs
        self.ready_top = np.zeros(1, dtype=np.int64)
        self.joined = np.empty((2, n), dtype=np.int64)  # resident sleepers a call woke: (PE, pc it slept at)
        self.joined_top = np.zeros(1, dtype=np.int64)
        self.vector_words = np.zeros(1, dtype=np.int64)  # words moved by vector transfers (`transfers`), a count
        self.part_buffers: list | None = None  # the lists of a call's row parts on threads (`fabric_parts`)
        self.meta = np.zeros((len(keys), META_COLUMNS), dtype=np.int64)
        for f, (incoming, _) in enumerate(keys):  # words of a FIFO come from the neighbour in its direction
            # (a routed word's FIFO, (RAMP, channel): from no PE of a call, `routed_words`; n is none)
            self.meta[f, SENDER_OFFSET] = n if incoming == RAMP else region.offset(incoming)
        # Routed words (`routed_words`): per routed FIFO a row of its channel's last arrivals (the wave's
        # `last_arrival` arrays are re-pointed at them, as the FIFOs at the stacks), and the sends' log.
        self.routed_channels = [channel for incoming, channel in keys if incoming == RAMP]
        count = len(self.routed_channels)
        self.last_time, self.last_by = np.full((count, n), -np.inf), np.zeros((count, n), dtype=np.int64)
        self.sent, self.sent_top = np.zeros((2, n), dtype=np.int64), np.zeros(1, dtype=np.int64)
        self.routed_key: tuple | None = None  # (the wave's checked senders' version, its link_busy) of `routed_args`
        self.routed_args: tuple | None = None
        self.offsets = np.array([region.offset(direction) for direction in range(4)], dtype=np.int64)
        latencies = [region.link_latency(direction) for direction in range(4)]
        if all(np.isscalar(latency) for latency in latencies):
            self.latency = np.array(latencies, dtype=np.float64).reshape(4, 1)
        else:  # links bent around dead PEs: per sending PE
            self.latency = np.stack([np.broadcast_to(np.asarray(latency, dtype=np.float64), (n,))
                                     for latency in latencies])
        self.stacks: tuple | None = None  # (time, value, pushed, popped, tags)
        self.views: list[tuple] = []  # per FIFO: the views of the stacks it was given

    def arrays(self) -> tuple:
        """The `fabric` tuple of `interpreter.run_group`, with the FIFOs' current state."""
        wave = self.wave
        fifos = [wave._fifo(*key) for key in self.keys]
        if not self._stacked(fifos):
            self._stack(fifos)
        for f, fifo in enumerate(fifos):
            self.meta[f, UNIFORM] = -1 if fifo.tags.uniform is None else fifo.tags.uniform
            self.meta[f, PER_SLOT] = fifo.tags.slots is not None
            if fifo.tags.slots is not None:  # (the words it holds: a push that finds none turns it uniform)
                self.meta[f, HELD] = int(fifo.pushed.sum(dtype=np.int64)) - int(fifo.popped.sum(dtype=np.int64))
        time, value, pushed, popped, tags = self.stacks
        return (time, value, pushed, popped, tags, self.meta, self.offsets, self.latency, wave.word_time,
                wave.progress, wave.stall, self.parked, self.ready, self.ready_top, self.joined, self.joined_top,
                self.vector_words)

    def routed(self) -> tuple:
        """`routed_words.routed_send`'s `routed` tuple: the senders whose paths the NumPy path has checked on the
        current routes (`RoutedExchangeMixin.checked_senders`), their receivers and links, the wave's `link_busy`,
        the channels' last arrivals, the sends' log."""
        wave = self.wave
        for row, channel in enumerate(self.routed_channels):  # (the wave's arrays: these rows, as FIFOs' stacks)
            kept = wave.last_arrival.get(channel)
            if kept is None or kept[0].base is not self.last_time or kept[1].base is not self.last_by:
                self.last_time[row], self.last_by[row] = kept if kept is not None else (-np.inf, 0)
                wave.last_arrival[channel] = (self.last_time[row], self.last_by[row])
        key = (wave.checked_version, id(wave.link_busy))
        if self.routed_args is None or self.routed_key != key:
            self.routed_key, self.routed_args = key, self._routed_senders(wave)
        return self.routed_args

    def _routed_senders(self, wave) -> tuple:
        """`routed`, built afresh: the checked senders sorted by (FIFO, PE), their runs concatenated."""
        n, keys, senders = wave.n, [], []
        for row, channel in enumerate(self.routed_channels):
            f = self.keys.index((RAMP, channel))
            for pe, runs in (wave.checked_senders or {}).get(channel, {}).items():
                keys.append(f * n + pe)
                senders.append((row, runs))
        order = np.argsort(np.array(keys, dtype=np.int64), kind="stable")
        index = np.zeros((INDEX_ROWS, len(keys)), dtype=np.int64)
        dest, latency, links, offsets = [], [], [], []
        receivers = link_count = 0
        for k, which in enumerate(order.tolist()):
            row, (to, lag, link_dir, link_pe, link_offset) = senders[which]
            index[KEY, k], index[ARRIVALS, k] = keys[which], row
            index[DEST_LO, k], index[LINK_LO, k] = receivers, link_count
            receivers += len(to)
            link_count += len(link_dir)
            index[DEST_HI, k], index[LINK_HI, k] = receivers, link_count
            dest.append(to)
            latency.append(lag)
            links.append(np.stack([link_dir.astype(np.int64), link_pe.astype(np.int64)]))
            offsets.append(link_offset)
        joined = (np.concatenate(dest).astype(np.int64) if dest else np.zeros(0, dtype=np.int64),
                  np.concatenate(latency).astype(np.float64) if latency else np.zeros(0),
                  np.ascontiguousarray(np.concatenate(links, axis=1)) if links else np.zeros((2, 0), dtype=np.int64),
                  np.concatenate(offsets).astype(np.float64) if offsets else np.zeros(0))
        link_busy = wave.link_busy if wave.link_busy is not None else np.zeros((2, 1))
        return (index, *joined, link_busy, self.last_time, self.last_by, self.sent, self.sent_top)

    def settle_sends(self) -> frozenset[int]:
        """After a call: count the words its routed sends handed to their routers (`_injected`); returns the PEs
        that sent them (each stopped right after its send, `routed_words.stop_after`)."""
        top = int(self.sent_top[0])
        if not top:
            return frozenset()
        senders = set()
        for row, pe in self.sent[:, :top].T.tolist():
            self.wave._injected(self.routed_channels[row])[pe] += 1
            senders.add(pe)
        self.sent_top[0] = 0
        return frozenset(senders)

    def register(self, pc: int, pes: np.ndarray, fields: np.ndarray, times: np.ndarray,
                 counts: np.ndarray) -> np.ndarray:
        """Make the PEs `pes`, going to sleep in the scheduler at the transfer at `pc`, resident sleepers
        (`fabric_ops.register_sleepers`); returns a mask of those whose FIFO has changed since they blocked
        (not registered: they can progress now)."""
        can = np.zeros(len(pes), dtype=np.bool_)
        register_sleepers(pes, pc, fields, self.arrays(), self.resume, self.wave.cycle, times, counts, can)
        return can

    def unpark(self, pes: np.ndarray) -> None:
        """The scheduler woke these resident sleepers itself (a push or pop on the NumPy path)."""
        self.parked[pes] = -1

    def take_joined(self) -> tuple[np.ndarray, np.ndarray]:
        """(PEs, the pcs they slept at) of the resident sleepers the last call woke; emptied."""
        top = int(self.joined_top[0])
        self.joined_top[0] = 0
        return self.joined[0, :top].copy(), self.joined[1, :top].copy()


    def finish(self) -> list[tuple[Fifo, bool]]:
        """After a call: hand the tags back to the FIFOs; returns (FIFO, pushed) for every kind of change
        (push, pop) the call made to a FIFO, for the scheduler's wake-up."""
        changed = []
        for f, key in enumerate(self.keys):
            fifo = self.wave.fifos[key]
            fifo.tags.uniform = None if self.meta[f, UNIFORM] == -1 else int(self.meta[f, UNIFORM])
            if self.meta[f, PER_SLOT] and fifo.tags.slots is None:
                fifo.tags.slots = self.views[f][4]  # (the interpreter filled these rows: tags per slot from now)
            elif not self.meta[f, PER_SLOT] and fifo.tags.slots is not None:
                fifo.tags.slots = None  # (drained, then one tag pushed: `fabric_ops.drained_to_uniform`)
            moved = self.meta[f, MOVED]
            if moved & PUSHED:
                changed.append((fifo, True))
            if moved & POPPED:
                changed.append((fifo, False))
            self.meta[f, MOVED] = 0
            if self.meta[f, WANTS_ROOM]:
                # A push found the value ring too shallow: deepen it now, while its words are still queued
                # (the NumPy engine's run of that push may find them popped first, by a receive it runs before,
                # and leave the ring as it is: then every such push came back to it, one PE at a time). The
                # next call restacks (`_stacked`); where the words sit in the ring changes no result. To the
                # FIFO's depth at once, as deep as its time ring: each deepening cuts a call short and restacks
                # every FIFO (doubling, ragged messages restacked four times: a tenth of its launch), and
                # the slots no word reaches are never touched (`_stack`: fresh zeros, mapped lazily).
                fifo.make_room(max(int(self.meta[f, WANTS_ROOM]), fifo.depth))
                self.meta[f, WANTS_ROOM] = 0
        return changed

    def _stacked(self, fifos: list[Fifo]) -> bool:
        if self.stacks is None or self.stacks[0].dtype != self.wave.time_dtype:
            return False
        for fifo, (time, value, pushed, popped, tags) in zip(fifos, self.views):
            if (fifo.time.block is not time or fifo.value.block is not value or fifo.pushed is not pushed
                    or fifo.popped is not popped or not (fifo.tags.slots is None or fifo.tags.slots is tags)):
                return False
        return True

    def _stack(self, fifos: list[Fifo]) -> None:
        """Copy the FIFOs into fresh stacks and re-point them there."""
        wave, n, count = self.wave, self.wave.n, len(fifos)
        depth = wave.spec.fifo_depth
        # Value rings as deep as the deepest so far (`Fifo`: a stencil keeps one row): a push that would
        # overflow one is refused, the NumPy engine deepens that ring, and the next call restacks.
        rings = max(fifo.value_depth for fifo in fifos)
        shapes = ((count, depth, n), (count, rings, n), (count, n), (count, n), (count, depth, n))
        spare = _take_spare(shapes, wave.time_dtype)
        if spare is not None:  # (pushed, popped: every entry is written below)
            time, value, pushed, popped, tags = spare
        else:
            # (time and tags: `fifo_depth` slots per PE, of which most launches write few: mapped fresh, only
            # the slots written are paid for, in time and memory; the heap stays for the arrays used whole)
            # (each stack a few cache lines further into its page than the one before: `page_staggered_zeros`)
            time = sparse_zeros(shapes[0], wave.time_dtype, small=page_staggered_zeros)
            value = page_staggered_zeros(shapes[1], np.int32)
            pushed, popped = page_staggered_zeros(shapes[2], np.int32), page_staggered_zeros(shapes[3], np.int32)
            tags = sparse_zeros(shapes[4], np.uint8, small=page_staggered_zeros)
        self.views = []
        for f, fifo in enumerate(fifos):
            for slot, row in enumerate(fifo.time.rows):
                if row is not None:
                    time[f, slot] = row
            for ahead in range(fifo.value_depth):  # queued word k moves to value slot k % rings
                word = fifo.popped + ahead
                pes = np.flatnonzero(word < fifo.pushed)
                if len(pes):
                    value[f, word[pes] % rings, pes] = fifo.value.gather(fifo.value_slots(word[pes]), pes)
            pushed[f], popped[f] = fifo.pushed, fifo.popped
            fifo.time, fifo.value = SlotRows.over(time[f]), SlotRows.over(value[f])
            fifo.pushed, fifo.popped = pushed[f], popped[f]
            tag_rows = tags[f]
            if fifo.tags.slots is not None:
                tag_rows[:] = fifo.tags.slots
                fifo.tags.slots = tag_rows
            self.views.append((fifo.time.block, fifo.value.block, fifo.pushed, fifo.popped, tag_rows))
        self.stacks = (time, value, pushed, popped, tags)

    def release(self) -> None:
        """The wave is over (its FIFOs dropped): keep the stacks for a later wave (`_SPARE`)."""
        stacks, self.stacks, self.views = self.stacks, None, []
        if stacks is None:
            return
        size = sum(a.nbytes for a in stacks)
        with _SPARE_LOCK:
            while _SPARE and size + sum(a.nbytes for kept in _SPARE for a in kept) > SPARE_BYTES:
                _SPARE.pop(0)  # the oldest first
            if size <= SPARE_BYTES:
                _SPARE.append(stacks)

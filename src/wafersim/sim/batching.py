"""Batches of waves: several full waves of a launch simulated at once, exactly as if one by one.

A grid with many more blocks than slots runs in waves (`engine.Launch.run`); each wave is a `WaveSim`,
whose fixed costs (its arrays, its executors, one NumPy call per instruction) dominate when a wave is
small, as in saxpy's thousands of waves of a few hundred PEs. `WaveBatcher` stacks `K` consecutive full
waves into one region (`BatchRegion`, wave k below wave k - 1) and runs them as one `BatchedWaveSim`.
The engine's rules make that exact when three things hold, all checked:

1. *Start times.* Each block starts when its slot's previous block ends. The batch predicts those
   times (each slot's blocks last as long as its last block did: `WaveBatcher.observe`), runs every
   block from its predicted start, and afterwards checks each prediction against the end of the block
   before it: every PE then ran at exactly the cycles it runs at one wave at a time, so the fabric,
   barriers, the cycle limit and the store log's times are all the same.
2. *No PE touches a word another PE of the batch stores to* (`owners_are_private`, from the addresses of
   every global access). Blocks of one batch run interleaved, so a load of a later wave could otherwise see
   a store of an earlier wave's block that, one wave at a time, it would not (or the other way round); with
   the check, which PE's accesses run first never changes a value, and a load need not wait for other
   PEs' stores (`holds_loads` off).
3. *Off-wafer bandwidth is never the limit.* One wave at a time, an access completes at the later of its
   latency and the cycle by which the shared bandwidth serves every byte executed before it, which
   depends on the order accesses ran in. The batch leaves the bandwidth out and checks afterwards that,
   for every wave, each access's completion without it already lies at or after the cycle that serves
   every byte of the launch up to the end of that wave: then the bandwidth term is inactive in both.

Counters are summed into a batch-sized `_Totals` and folded into the launch's wave by wave, in the same
order of floating-point additions as one wave at a time. Global memory stores are journalled
(`GlobalMemory.undo_on_error`), the store log saved and the stores' stamps recorded (`StoreStamps.record`),
so that a batch failing a check -- or raising any `WaferError` -- is undone and its waves run one by one
(which raises the error, with its wave's state, where there is one). A launch with a tracer, race checker, kept state, debugger or checkpoint
(another `wave_class`), prints, routed channels, barriers and a progress callback (which counts barrier
releases), or a wafer with defects never batches.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING

import numpy as np

from ..errors import WaferError
from ..isa.opcodes import RAMP
from .layout import WaveRegion
from .strategy import active as active_strategy
from .wave import WaveSim

if TYPE_CHECKING:
    from .engine import Launch, _Totals

#: A batch holds at most this many PEs (waves of more than half of it never batch).
BATCH_PES = 1 << 16
#: The first batch (and the first after a failed one) holds this many waves; each success doubles it.
FIRST_BATCH = 4
#: After this many failed batches a launch runs its remaining waves one by one.
MAX_FAILURES = 3


@dataclasses.dataclass(frozen=True)
class BatchRegion(WaveRegion):
    """`waves` full waves stacked vertically: wave k's PE (x, y) is the region's PE (x, y + k * wave height).
    Block and slot numbers run wave after wave; `pe.y` and the hops to the wafer edge are those of the PE's
    own place on the wafer."""

    waves: int = 1

    @property
    def wave_height(self) -> int:
        return self.placement.slots_y * self.placement.block[1]

    def special(self, name: str) -> np.ndarray:
        if name == "pe.y" and name not in self._cache:
            self._cache[name] = self.xy[1] % self.wave_height
        return super().special(name)

    @functools.cached_property
    def hops_to_edge(self) -> np.ndarray:
        return np.tile(self.placement.wave(0).hops_to_edge, self.waves)  # (every full wave has wave 0's shape)


class BatchedWaveSim(WaveSim):
    """A `WaveSim` of a `BatchRegion`: records what `WaveBatcher` checks afterwards (global accesses, and per
    wave the earliest unloaded completion of an access and the bytes moved) and leaves the bandwidth out."""

    holds_loads = False

    def __init__(self, launch: "Launch", region: BatchRegion, start: np.ndarray, totals: "_Totals") -> None:
        super().__init__(launch, region, start, totals)
        self.accesses = []
        self.wave_n = region.n // region.waves
        self.one_wave = launch.placement.wave(0)  # (the shape of every full wave)
        self.unloaded_min = np.full(region.waves, np.inf)
        self.wave_bytes = np.zeros(region.waves, dtype=np.int64)

    def _global_finish(self, unloaded: np.ndarray, nbytes: np.ndarray | int, at, *_) -> np.ndarray:
        nbytes = np.broadcast_to(np.int64(nbytes), unloaded.shape) if isinstance(nbytes, int) else nbytes
        self.totals.global_bytes += int(nbytes.sum())
        if isinstance(at, slice):  # every PE: a (wave, PE) view
            waves = np.arange(self.region.waves)
            least = unloaded.reshape(len(waves), -1).min(axis=1)
            moved = nbytes.reshape(len(waves), -1).sum(axis=1)
        else:  # sorted lanes: runs of one wave each
            wave = at // self.wave_n
            first = np.flatnonzero(np.concatenate([[True], wave[1:] != wave[:-1]]))
            waves, least, moved = wave[first], np.minimum.reduceat(unloaded, first), np.add.reduceat(nbytes, first)
        self.unloaded_min[waves] = np.minimum(self.unloaded_min[waves], least)
        self.wave_bytes[waves] += moved
        return np.asarray(unloaded, dtype=np.float64)  # (the dtype the bandwidth's maximum gives one at a time)

    def _later_blocks_start(self) -> float:
        # The blocks after the batch start where the batch's last wave ends, in their slot.
        return float(self.one_wave.per_block_max(self.cycle[self.n - self.wave_n:]).min())

    def owners_are_private(self) -> bool:
        """Whether every word some PE stored to was accessed by that PE only (in this batch)."""
        records = []
        for idx, addr, words, store in self.accesses:
            pes = np.arange(self.n) if idx is None else idx
            if not (words == 1).all():  # vector transfers: one entry per word
                keep = words > 0
                pes, addr, words = pes[keep], addr[keep], words[keep]
                first = np.repeat(np.cumsum(words) - words, words)
                addr = np.repeat(addr, words) + 4 * (np.arange(int(words.sum())) - first)
                pes = np.repeat(pes, words)
            records.append((pes, addr, store))
        if not any(store for _, _, store in records):
            return True
        # The usual case: each access's words increase with the lanes, and every store's words lie apart
        # from those of every other access.
        spans = [(int(a.min()), int(a.max())) if len(a) else None for _, a, _ in records]
        if all(len(a) < 2 or (np.diff(a) > 0).all() for _, a, _ in records):
            if all(not store or span is None or all(
                    j == i or other is None or other[1] < span[0] or span[1] < other[0]
                    for j, other in enumerate(spans)) for i, ((_, _, store), span) in enumerate(zip(records, spans))):
                return True
        # In general: group the entries by word; a word stored to must have one PE in its group.
        pes = np.concatenate([p for p, _, _ in records]).astype(np.int64)
        addr = np.concatenate([a for _, a, _ in records])
        stores = np.concatenate([np.full(len(a), s) for _, a, s in records])
        order = np.argsort(addr, kind="stable")
        addr, pes, stores = addr[order], pes[order], stores[order]
        starts = np.flatnonzero(np.concatenate([[True], addr[1:] != addr[:-1]]))
        stored = np.maximum.reduceat(stores.astype(np.int8), starts) > 0
        shared = np.minimum.reduceat(pes, starts) != np.maximum.reduceat(pes, starts)
        return not (stored & shared).any()


class _Rejected(Exception):
    """A batch failed a check: undo it."""


class WaveBatcher:
    """Runs a launch's full waves in batches where it is exact (see the module's docstring)."""

    def __init__(self, launch: "Launch", totals: "_Totals") -> None:
        self.launch, self.totals = launch, totals
        placement = launch.placement
        self.slots = placement.slots
        self.full_waves = placement.n_blocks // placement.slots
        self.wave_n = placement.wave(0).n
        self.most = max(BATCH_PES // self.wave_n, 1)
        self.size = FIRST_BATCH
        self.failures = 0
        self.refusals: dict[str, int] = {}  # why batches were undone: start times, bandwidth, shared words, error
        self.durations: np.ndarray | None = None  # per slot: how long its last block ran

    @classmethod
    def for_launch(cls, launch: "Launch", totals: "_Totals") -> "WaveBatcher | None":
        """A batcher for `launch`, or None where batches cannot be exact or cannot help."""
        placement = launch.placement
        if (not active_strategy().batched_waves or launch.wave_class is not WaveSim or launch.tracer is not None
                or launch.racecheck is not None or launch.keep_state or launch.routes or placement.repair is not None
                or placement.n_blocks // placement.slots < 3 or 2 * placement.wave(0).n > BATCH_PES):
            return None
        # A progress callback hears of every barrier release: one wave at a time, each wave's own; a batch
        # releases several waves' blocks at once.
        refused = {"print", "route", "routr"} | ({"bar"} if launch.progress is not None else set())
        for instr in launch.decoded.values():
            if instr.op in refused or ("dir" in instr.opcode.operands and instr.dir == RAMP and instr.op != "hasnb"):
                return None
        return cls(launch, totals)

    def observe(self, wave: int, start: np.ndarray, ends: np.ndarray) -> None:
        """Wave `wave` ran on its own from per-slot `start` to per-slot `ends`: its durations predict the next."""
        if wave < self.full_waves:
            self.durations = np.asarray(ends[: self.slots], dtype=np.float64) - start[: self.slots]

    def run(self, wave: int, slot_free: np.ndarray) -> int:
        """Run a batch of waves from `wave` (updating `slot_free`); returns how many ran (0: none, run one)."""
        count = min(self.size, self.most, self.full_waves - wave)
        if self.durations is None or self.failures >= MAX_FAILURES or count < 2:
            return 0
        launch, totals = self.launch, self.totals
        starts = slot_free[None, :] + np.arange(count)[:, None] * self.durations[None, :]  # (wave, slot)
        region = BatchRegion(launch.placement, wave * self.slots, count * self.slots, waves=count)
        batch = type(totals)(launch.spec, launch.program, (region.height, region.width))
        batch.global_bytes = totals.global_bytes
        log, stamps = launch.memory_order.log, launch.memory_order.stamps
        saved_log, saved_barriers = log.saved(), launch.barriers
        stamps.record()
        try:
            with launch.memory.undo_on_error():
                sim = BatchedWaveSim(launch, region, region.per_pe_of_blocks(starts.reshape(-1)), batch)
                ends = region.per_block_max(sim.run()).astype(np.float64).reshape(count, self.slots)
                served = np.ceil((totals.global_bytes + np.cumsum(sim.wave_bytes)) / launch.spec.global_bytes_per_cycle)
                if not np.array_equal(ends[:-1], starts[1:]):
                    raise _Rejected("start times")
                if not (sim.unloaded_min >= served).all():
                    raise _Rejected("bandwidth")
                if not sim.owners_are_private():
                    raise _Rejected("shared words")
        except (_Rejected, WaferError) as why:
            log.restore(saved_log)
            stamps.undo()
            launch.barriers = saved_barriers
            reason = why.args[0] if isinstance(why, _Rejected) else "error"
            self.refusals[reason] = self.refusals.get(reason, 0) + 1
            self.failures += 1
            self.size = FIRST_BATCH
            self.durations = None  # learn them again from the next wave run on its own
            return 0
        stamps.forget()
        self._fold(batch, count, region, sim.whole_times)
        slot_free[: self.slots] = ends[-1]
        self.durations = ends[-1] - starts[-1]
        self.size = min(2 * self.size, self.most)
        return count

    def _fold(self, batch: "_Totals", count: int, region: BatchRegion, whole: bool) -> None:
        """Add a batch's counters to the launch's as one wave at a time adds them: integers (and, with
        `whole` times, cycle counts: whole numbers, summed exactly in any order) at once, other cycle
        counts wave by wave, in order."""
        totals = self.totals
        h, w = region.wave_height, region.width
        for mine, theirs in ((totals.busy, batch.busy), (totals.stall, batch.stall)):
            if whole:
                mine[:h, :w] += theirs.reshape(count, h, w).sum(axis=0)
            else:
                for k in range(count):
                    mine[:h, :w] += theirs[k * h:(k + 1) * h]
        totals.instructions[:h, :w] += batch.instructions.reshape(count, h, w).sum(axis=0)
        if batch.moved_words:
            totals.link_words[:, :h, :w] += batch.link_words.reshape(4, count, h, w).sum(axis=1)
        for channel, words in batch.routed_link_words.items():
            routed = totals.routed_link_words.setdefault(channel, np.zeros(totals.link_shape, dtype=np.int64))
            routed[:, :h, :w] += words.reshape(4, count, h, w).sum(axis=1)
        totals.pc_counts += batch.pc_counts
        totals.vector_elements += batch.vector_elements
        totals.flops += batch.flops
        totals.half_flops += batch.half_flops
        totals.words_left += batch.words_left
        totals.global_bytes = batch.global_bytes

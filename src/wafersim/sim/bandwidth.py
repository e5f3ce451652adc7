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
  wave, once every key is known (`settle`).
"""
from __future__ import annotations

import math

import numpy as np

from .compiled import numba_loaded

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
        self.earliest = math.inf  # the smallest issue cycle recorded (`settle`: none due before it)
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
        moved = _moved(nbytes, count)
        self.total += moved
        self.latest = max(self.latest, float(issue.max()))
        self.earliest = min(self.earliest, float(issue.min()))
        return moved

    def _entries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(issue, PE, bytes, unloaded) of every recorded access, in the order executed."""
        if len(self._chunks) > 1 or not isinstance(self._chunks[0][3], np.ndarray) \
                or not isinstance(self._chunks[0][2], np.ndarray):
            self._chunks = [_merged(self._chunks)]
        return self._chunks[0]

    def bytes_through(self, issue: np.ndarray, pe: np.ndarray, latest_before: float) -> np.ndarray:
        """For each key (issue, pe) of the batch recorded last: the bytes of every recorded access of a key
        <= it, those served before (`earlier`) included. `latest_before`: `latest` before the batch."""
        if float(issue.min()) > latest_before:  # the batch comes after everything recorded: its own prefix
            batch_bytes = self._chunks[-1][2]
            return prefix_bytes(issue, pe, batch_bytes, self.pes) + (self.earlier + self.total
                                                                     - _moved(batch_bytes, len(issue)))
        return self._through_entries()[-len(issue):]

    def _through_entries(self) -> np.ndarray:
        """For every recorded access, in `_entries`' order: the bytes of `earlier` and of every recorded
        access of a key <= its own."""
        issue, pe, nbytes, _ = self._entries()
        return prefix_bytes(issue, pe, nbytes, self.pes) + self.earlier

    def _late(self, chunks: list[tuple], earlier: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(PE, completion) of the stores among `chunks` (every access of a key up to theirs, `earlier`: the
        bytes served before any of them) that the bandwidth delays past their unloaded completion, or None.
        The chunks are taken in runs whose issue cycles do not overlap, in cycle order: a run without stores
        only adds its bytes, and each run's keys are ordered alone (at a wave's end the loads of its start,
        all of one cycle, are not sorted with the stores of its end)."""
        spans = sorted((float(chunk[0].min()), float(chunk[0].max()), k) for k, chunk in enumerate(chunks))
        runs: list[list[int]] = []
        reach = -math.inf
        for lo, hi, k in spans:
            if lo > reach:
                runs.append([])
            runs[-1].append(k)
            reach = max(reach, hi)
        late_pes, late_finish = [], []
        for run in runs:
            part = [chunks[k] for k in run]
            late = self._late_run(_merged(part) if len(part) > 1 else part[0], earlier) \
                if any(isinstance(chunk[3], np.ndarray) for chunk in part) else None
            if late is not None:
                late_pes.append(late[0])
                late_finish.append(late[1])
            earlier += sum(_moved(chunks[k][2], len(chunks[k][0])) for k in run)
        if len(late_pes) < 2:
            return (late_pes[0], late_finish[0]) if late_pes else None
        return np.concatenate(late_pes), np.concatenate(late_finish)

    def _late_run(self, chunk: tuple, earlier: int) -> tuple[np.ndarray, np.ndarray] | None:
        """`_late` of the accesses of one chunk, with every access of a key up to theirs."""
        issue, pe, nbytes, unloaded = chunk
        stores = ~np.isnan(unloaded)
        if not stores.any():
            return None
        through = prefix_bytes(issue, pe, nbytes, self.pes) + earlier
        if not stores.all():
            pe, unloaded, through = pe[stores], unloaded[stores], through[stores]
        served = self.served(through)
        delayed = served > unloaded
        if delayed.all():  # (a wafer's stores at its end, after its loads: often every one)
            return pe, served
        return (pe[delayed], served[delayed]) if delayed.any() else None

    def settle(self, horizon: float) -> tuple[np.ndarray, np.ndarray] | None:
        """Settle the recorded accesses issued before `horizon` (no access can still be issued before it:
        their prefixes are complete) and forget them; returns (PE, completion) of those stores among them
        that the bandwidth delays past their unloaded completion, or None where there is none."""
        if not self._chunks:
            return None
        # (where even the last byte recorded is served by the earliest store's unloaded completion, none is late)
        may_be_late = self.served(self.earlier + self.total) > self.store_unloaded_min
        if self.latest < horizon:  # all of them (a wave's end): the chunks as recorded
            late = self._late(self._chunks, self.earlier) if may_be_late else None
            self._chunks, self.entries = [], 0
            self.earlier += self.total
            self.total = 0
            self.store_unloaded_min = math.inf
            self.latest, self.earliest = -math.inf, math.inf
            return late
        if horizon <= self.earliest:  # (none due: `trsv`'s held loads settle before their own most times)
            return None
        issue, pe, nbytes, unloaded = self._entries()
        due = issue < horizon
        if not due.any():
            return None
        # (every access of a key up to a due one's is due)
        due_bytes = nbytes[due]
        late = self._late([(issue[due], pe[due], due_bytes, unloaded[due])], self.earlier) if may_be_late else None
        keep = ~due
        moved = int(due_bytes.sum())
        self.earlier += moved
        self.total -= moved
        # (each column selected once, the kept chunk's bounds from its own arrays; `latest` stays, as the latest
        # access is at or past the horizon, so kept; the least unloaded completion of its stores is the least that
        # is not a load's NaN: `fmin`, one pass, not `nanmin`'s copies)
        kept = (issue[keep], pe[keep], nbytes[keep], unloaded[keep])
        self._chunks = [kept]
        self.entries = len(kept[0])
        self.earliest = float(kept[0].min())
        least = float(np.fmin.reduce(kept[3]))
        self.store_unloaded_min = math.inf if math.isnan(least) else least
        return late


def prefix_bytes(issue: np.ndarray, pe: np.ndarray, nbytes: np.ndarray | int, pes: int) -> np.ndarray:
    """For each access (lane-aligned issue cycles and PE indices below `pes`; bytes, or one count for all):
    the bytes of the accesses among these of a key (issue, PE) <= its own (accesses of one key count each
    other's). Whole issue cycles, not too far apart, take no sort where the accesses of each cycle come by PE
    (`bandwidth_kernels`: a group's lanes); else they make one integer key, cycle * pes + PE, often in order
    already, whose stable sort is fast on the sorted runs accesses arrive in.

    The compiled pass runs only where the process has loaded Numba already (for any path): a whole-wafer store at
    a wave's end takes NumPy 4-5 ms where it arrives in key order (Game of Life's 754k stores), while loading
    Numba for it cost a process's first launch its import and start-up (~0.25 s of CPU), and made a process
    that loads it for nothing else run its later launches with the engine's compiled register runs and fused
    receives, slower there (stop 51, in one process, min of 3 warm launches' CPU: Life 0.83 against 0.75 s,
    stencil3d 0.48 against 0.42 s, switch-1 0.076 against 0.065 s; tiled heat the same)."""
    count = len(issue)
    lo, hi = float(issue.min()), float(issue.max())
    if lo != hi and hi - lo < 4 * count and numba_loaded():  # (a table of one entry a cycle, no larger
        # than the accesses)
        from .bandwidth_kernels import cycle_prefix_bytes  # (imports Numba: `import wafersim` does not)
        through = np.empty(count, dtype=np.int64)
        sizes = np.array([nbytes], dtype=np.int64) if isinstance(nbytes, int) else nbytes
        if cycle_prefix_bytes(np.ascontiguousarray(issue), lo, int(hi - lo) + 1, np.ascontiguousarray(pe),
                              np.ascontiguousarray(sizes), through):
            return through
    key = pe if lo == hi else _integer_key(issue, lo, hi, pe, pes)
    if key is not None:
        ends = key[1:] != key[:-1]  # (where a key ends)
        if (key[1:] >= key[:-1]).all():  # (in key order already)
            order = None
        else:
            order = np.argsort(key, kind="stable")
            sorted_key = key[order]
            np.not_equal(sorted_key[1:], sorted_key[:-1], out=ends)
    else:  # (issue cycles with fractions: the keys' two parts)
        order = np.lexsort((pe, issue))
        key_issue, key_pe = issue[order], pe[order]
        ends = key_issue[1:] != key_issue[:-1]
        ends |= key_pe[1:] != key_pe[:-1]
    if isinstance(nbytes, int):
        running = nbytes * np.arange(1, count + 1, dtype=np.int64)
    else:
        running = np.cumsum(nbytes if order is None else nbytes[order])
    if not ends.all():  # (each access of a key takes its key's last running sum)
        last = np.empty(count, dtype=bool)
        last[:-1], last[-1] = ends, True
        key_number = np.cumsum(last) - last  # (each access's key's rank: the keys ended before it)
        running = running[last][key_number]
    if order is None:
        return running
    through = np.empty(count, dtype=np.int64)
    through[order] = running
    return through


def _integer_key(issue: np.ndarray, lo: float, hi: float, pe: np.ndarray, pes: int) -> np.ndarray | None:
    """cycle * pes + PE for each access (cycles counted from `lo`, the least; `hi` the largest), or None where
    an issue cycle has a fraction or the keys would not fit in 63 bits."""
    offset = issue - lo
    cycles = offset.astype(np.int64)
    if not np.array_equal(cycles, offset) or (int(hi - lo) + 1) * pes >= 2 ** 62:
        return None
    return cycles * pes + pe


def _moved(nbytes: np.ndarray | int, count: int) -> int:
    """The bytes of a chunk of `count` accesses (`nbytes`: each one's, or one count for all)."""
    return nbytes * count if isinstance(nbytes, int) else int(nbytes.sum())


def _merged(chunks: list[tuple]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One chunk (issue, PE, bytes, unloaded) of the accesses of `chunks`, in their order (a byte count for
    all, or a load's NaN, spread over the accesses)."""
    parts = [(issue, pe, _spread(nbytes, issue.shape, np.int64), _spread(unloaded, issue.shape, np.float64))
             for issue, pe, nbytes, unloaded in chunks]
    return tuple(np.concatenate(columns) for columns in zip(*parts))


def _spread(value, shape: tuple, dtype) -> np.ndarray:
    """`value` (a chunk's column, or one value for every access) as an array of `shape` (`np.full`, not
    `np.broadcast_to`: a few microseconds less a column, four columns a chunk, ~100 merges a `trsv` launch)."""
    if isinstance(value, np.ndarray) and value.shape == shape:
        return value
    return np.full(shape, value, dtype=dtype)

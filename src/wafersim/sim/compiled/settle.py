"""The bookkeeping around one call of the compiled interpreter (`stepper.CompiledMixin._run_compiled`),
compiled: a call may take in most of a wafer (every PE sleeping at a pipeline's transfer), and NumPy's
gathers, scatters and a sort over its members then cost more than the interpreter's own work.

`begin` fills the call's per-PE start times and owed counts; `settle` writes its times and counts back
and keys every member by where it stopped (`stop * 2 + parked`), coding the keys for `places`, which
turns them into the scheduler's lane sets, in the order of their keys (as a stable sort of the keys did).
"""
from __future__ import annotations

import threading

import numpy as np
from .jit import njit

from ..lanes import SPARSE_FRACTION, Lanes

#: At most this many distinct keys are coded (more: the lane sets come from a sort of the members' keys).
MAX_KEYS = 32
_SPARE: dict[int, tuple] = {}  # region size -> (times, counts, stops) of a finished wave, for the next
_SPARE_LOCK = threading.Lock()


@njit(cache=True, nogil=True)
def begin(idx, sleepers, cycle, cost, count, times, counts):
    """times[i] = cycle[i] + cost and counts[i] = count for the group's lanes `idx`; sleeping lanes owe
    nothing (`sleepers`: times[i] = cycle[i], counts[i] = 0)."""
    for i in idx:
        times[i] = np.float64(cycle[i]) + cost
        counts[i] = count
    for i in sleepers:
        times[i] = cycle[i]
        counts[i] = 0


@njit(cache=True, nogil=True)
def settle(idx, sleepers, times, counts, stops, parked, resume, cycle, icount, codes, keys):
    """After a call: cycle[i] = times[i], icount[i] += counts[i], and stops[i] becomes member i's key
    (stop * 2 + 1 where it is parked, at resume[i], which unparks it; `parked` may be empty: none is).
    Where `codes` is region-sized, codes[i] = the index of i's key in keys[:k] (distinct keys in order of
    first sight); returns k, or -1 when there are more than len(keys) (codes then unusable)."""
    k = 0
    last = -1  # the code of the previous member's key (neighbours mostly share one)
    for part in range(2):
        members = idx if part == 0 else sleepers
        for i in members:
            cycle[i] = times[i]
            icount[i] += counts[i]
            key = stops[i] * 2
            if parked.shape[0] and parked[i] >= 0:
                key = resume[i] * 2 + 1
                parked[i] = -1
            stops[i] = key
            if codes.shape[0] == 0 or k < 0:
                continue
            if last < 0 or keys[last] != key:
                last = 0
                while last < k and keys[last] != key:
                    last += 1
                if last == k:
                    if k == keys.shape[0]:
                        k, last = -1, -1
                        continue
                    keys[k] = key
                    k += 1
            codes[i] = last
    return k


def scratch(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Region-sized (times, counts, stops) for a wave's calls: a finished wave's (`release`) when one of
    this size is spare (only the lanes' entries are ever read, after being written: no clearing), else
    fresh ones (whose untouched pages are never mapped in)."""
    with _SPARE_LOCK:
        kept = _SPARE.pop(n, None)
    if kept is not None:
        return kept
    return np.empty(n), np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)


def release(arrays: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """A wave is over: keep its `scratch` arrays for the next wave of the same size (one set per size)."""
    with _SPARE_LOCK:
        if len(_SPARE) >= 4:
            _SPARE.clear()
        _SPARE[len(arrays[0])] = arrays


def places(lanes: Lanes, idx: np.ndarray, sleepers: np.ndarray, stops: np.ndarray, codes: np.ndarray,
           keys: np.ndarray, k: int) -> list[tuple[int, Lanes, bool]]:
    """(pc, lanes, parked) per distinct key of the members idx (`lanes`) + sleepers (keys in `stops`, as
    `settle` left them), by key: from the codes (one pass over the region per key) when `settle` coded
    them (`k` > 0), else by a stable sort of the members' keys. When the group's lanes all stopped at one
    pc, unparked, and there were no sleepers, `lanes` itself."""
    n = lanes.n
    if k == 1 and not len(sleepers) and not keys[0] & 1:
        return [(int(keys[0]) >> 1, lanes, False)]
    if k > 0:
        found = []
        for code in np.argsort(keys[:k], kind="stable"):
            key = int(keys[code])
            found.append((key >> 1, Lanes.from_mask(codes == code), bool(key & 1)))
        return found
    members = idx if not len(sleepers) else np.concatenate([idx, sleepers])
    member_keys = stops[members]
    if not len(sleepers) and not member_keys[0] & 1 and (member_keys == member_keys[0]).all():
        return [(int(member_keys[0]) >> 1, lanes, False)]
    order = np.argsort(member_keys, kind="stable")
    sorted_keys = member_keys[order]
    bounds = [0, *(np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1).tolist(), len(order)]
    # (slices of `order`, not `np.split`: its Python costs more than the rest for a call of one row, ~750 PEs)
    return [(int(sorted_keys[lo]) >> 1, Lanes.from_indices(n, np.sort(members[order[lo:hi]])),
             bool(sorted_keys[lo] & 1)) for lo, hi in zip(bounds[:-1], bounds[1:])]


def codes_for(n: int, members: int) -> np.ndarray:
    """A region-sized code array (-1: not a member) when `members` PEs are enough that a pass over the
    region per key costs less than sorting them; else an empty one (`settle` codes nothing)."""
    if members >= n * SPARSE_FRACTION:
        return np.full(n, -1, dtype=np.int8)
    return np.zeros(0, dtype=np.int8)


@njit(cache=True, nogil=True)
def latest(idx, sleepers, times):
    """The latest of a call's times (its lanes `idx` and woken `sleepers`): one pass, no gathered copy (the
    engine's float32 guard, `CompiledMixin._bound_compiled_times`: a NumPy gather of 750k sleepers cost 1%
    of the allreduce workload)."""
    most = 0.0
    for i in idx:
        most = max(most, times[i])
    for i in sleepers:
        most = max(most, times[i])
    return most

"""A compiled form of `routing.trace` for routes that work (`Strategy.compiled_trace`).

`routing.trace` follows all sources one level of hops at a time in NumPy: a broadcast over a wafer-wide
block is some 1,750 levels of a few small NumPy calls each, about 0.4 s, paid by the first launch of a
process (later launches find the trace in `routing.TRACE_CACHE`). This loop follows each source on its own,
level by level, and writes its receivers and links in the order the NumPy trace leaves them after its
stable sort by source: within a source, level by level, a level's receivers in frontier order and its links
by output port, then frontier order, the next frontier the entries of each output port in turn. (A NumPy
level holds the entries of all sources, but filtering and concatenating by port keep each source's
entries in their relative order, so its rows are the same.) Latencies add in the same order, in float64.

It never reports a broken route: whatever the NumPy trace would find wrong -- a source without a route
from its ramp, a word leaving the block or arriving where no rule takes it, a (PE, input port) reached
twice without merging (sources meeting, a cycle), a receiver reached twice, a path longer than the block
allows, a merging channel's paths multiplying -- makes it return `ok = False`, and `routing.trace` then
runs the NumPy trace, which names the PEs. (Each of those checks is at least as strict here: a failure of
the NumPy trace always fails here too, so a trace returned here is one the NumPy trace returns unbroken.)
"""
from __future__ import annotations

import numpy as np
from .compiled.jit import njit

N_PORTS = 5
RAMP = 4
OPPOSITE = (2, 3, 0, 1)


@njit(cache=True, nogil=True)
def _grow_int(array: np.ndarray, used: int) -> np.ndarray:
    bigger = np.empty(max(16, 2 * len(array)), dtype=array.dtype)
    bigger[:used] = array[:used]
    return bigger


@njit(cache=True, nogil=True)
def _grow_rows(frontiers: np.ndarray) -> np.ndarray:
    """`frontiers` (2, k) with twice the room, both rows kept."""
    bigger = np.empty((2, 2 * frontiers.shape[1]), dtype=frontiers.dtype)
    bigger[:, :frontiers.shape[1]] = frontiers
    return bigger


@njit(cache=True, nogil=True)
def trace_routes(masks: np.ndarray, sources: np.ndarray, has_neighbor: np.ndarray, offsets: np.ndarray,
                 hop: np.ndarray, ramp_latency: float, merge: bool, block_slots: int):
    """(ok, start, dest, latency, link_start, link_pe, link_dir, link_offset) of `sources` (sorted,
    distinct flat PE indices) on a channel's `masks` (N_PORTS, n); `has_neighbor` (4, n) bools,
    `offsets` (4,) flat offsets of the neighbours, `hop` (4, 1) or (4, n) link cycles, `block_slots` =
    N_PORTS * bx * by. ok False: the NumPy trace must run (it finds something wrong).

    Two walks: the first counts, the second writes into arrays of the exact sizes (memory the process
    has not touched yet costs more than the walk: growing and trimming arrays of a million entries would
    take several times as long)."""
    n_sources = len(sources)
    start = np.zeros(n_sources + 1, dtype=np.int64)
    link_start = np.zeros(n_sources + 1, dtype=np.int64)
    none_i, none_f, none_d = np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0, np.int8)
    ok, n_dest, n_link = _walk(masks, sources, has_neighbor, offsets, hop, ramp_latency, merge, block_slots,
                               False, start, none_i, none_f, link_start, none_i, none_d, none_f)
    if not ok:
        return False, start, none_i, none_f, link_start, none_i, none_d, none_f
    dest, latency = np.empty(n_dest, np.int64), np.empty(n_dest, np.float64)
    link_pe, link_dir, link_offset = np.empty(n_link, np.int64), np.empty(n_link, np.int8), np.empty(n_link, np.float64)
    _walk(masks, sources, has_neighbor, offsets, hop, ramp_latency, merge, block_slots, True, start, dest,
          latency, link_start, link_pe, link_dir, link_offset)
    return True, start, dest, latency, link_start, link_pe, link_dir, link_offset


@njit(cache=True, nogil=True)
def _walk(masks, sources, has_neighbor, offsets, hop, ramp_latency, merge, block_slots, write, start, dest,
          latency, link_start, link_pe, link_dir, link_offset):
    """One walk of `trace_routes`: (ok, receivers, links); fills `start`, `link_start`, and with `write`
    the entries."""
    n = masks.shape[1]
    n_sources = len(sources)
    per_pe_hop = hop.shape[1] > 1
    n_dest = 0
    n_link = 0
    # Without merging every (input port, PE) and every receiver may be reached once over all sources;
    # with it once per source (cleared after each source through its own entries).
    slot_seen = np.zeros(0 if merge else N_PORTS * n, dtype=np.uint8)
    received = np.zeros(n, dtype=np.uint8)
    reached = np.empty(16, dtype=np.int64)  # (merging: this source's receivers, to clear)
    # The frontier and the next one are rows `now` and 1 - `now` of one array each (PE, input port, latency),
    # grown before a level, never inside its loops: arrays rebound inside the loops (swapped every level,
    # grown on demand) made the whole walk 3.6x slower (0.18 vs 0.05 s for a 64 x 64 GEMM's bus).
    front_pe = np.empty((2, 16), dtype=np.int64)  # (small: the tests grow it)
    front_port = np.empty((2, 16), dtype=np.int64)
    front_lat = np.empty((2, 16), dtype=np.float64)
    ok = True
    for s in range(n_sources):
        source = sources[s]
        start[s] = n_dest
        link_start[s] = n_link
        if masks[RAMP, source] == 0:
            ok = False
            break
        n_reached = 0
        size = 1
        now = 0
        front_pe[now, 0] = source
        front_port[now, 0] = RAMP
        front_lat[now, 0] = 0.0
        levels_left = block_slots + 1
        while size > 0 and ok:
            levels_left -= 1
            if levels_left < 0 or (merge and size > block_slots):
                ok = False
                break
            if not merge:
                for i in range(size):
                    slot = front_port[now, i] * n + front_pe[now, i]
                    if slot_seen[slot]:
                        ok = False
                        break
                    slot_seen[slot] = 1
                if not ok:
                    break
            while front_pe.shape[1] < (N_PORTS - 1) * size:  # (room for a link out of every entry on each port)
                front_pe, front_port = _grow_rows(front_pe), _grow_rows(front_port)
                front_lat = _grow_rows(front_lat)
            while merge and len(reached) < n_reached + size:  # (an entry reaches its PE's ramp once at most)
                reached = _grow_int(reached, n_reached)
            next_size = 0
            for p in range(N_PORTS):
                for i in range(size):
                    at = front_pe[now, i]
                    if not (masks[front_port[now, i], at] >> p) & 1:
                        continue
                    if p == RAMP:
                        if received[at]:
                            ok = False
                            break
                        received[at] = 1
                        if merge:
                            reached[n_reached] = at
                            n_reached += 1
                        if write:
                            dest[n_dest] = at
                            latency[n_dest] = front_lat[now, i] + 2 * ramp_latency
                        n_dest += 1
                        continue
                    if not has_neighbor[p, at]:
                        ok = False
                        break
                    if write:
                        link_pe[n_link] = at
                        link_dir[n_link] = p
                        link_offset[n_link] = front_lat[now, i] + ramp_latency
                    n_link += 1
                    nb = at + offsets[p]
                    entry = OPPOSITE[p]
                    if masks[entry, nb] == 0:
                        ok = False
                        break
                    front_pe[1 - now, next_size] = nb
                    front_port[1 - now, next_size] = entry
                    front_lat[1 - now, next_size] = front_lat[now, i] + (hop[p, at] if per_pe_hop else hop[p, 0])
                    next_size += 1
                if not ok:
                    break
            now = 1 - now
            size = next_size
        if not ok:
            break
        for k in range(n_reached):  # (merging: each source may reach a receiver once, others may too)
            received[reached[k]] = 0
    start[n_sources] = n_dest
    link_start[n_sources] = n_link
    return ok, n_dest, n_link


@njit(cache=True, nogil=True)
def fletcher64(words: np.ndarray) -> tuple[np.uint64, np.uint64]:
    """A Fletcher checksum of 64-bit words (wrapping sums): a route file's check (`trace_store`) that a
    changed, lost or reordered word shows, at the speed of memory (sha256 of a 50 MB trace: 0.1 s)."""
    first = np.uint64(0)
    second = np.uint64(0)
    for word in words:
        first += word
        second += first
    return first, second
